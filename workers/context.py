"""What a runbook step gets: the run, its environment, the target's HTTP client and Alembic,
and ways to record steps (audit), show progress and speak in the run's thread."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

from bot.core.config import Environment
from bot.core.envfile import read_env_file
from bot.infra.runtime import Runtime
from bot.infra.store import RunView
from bot.slack.render import step_line
from workers.lifecycle import update_parent
from workers.target.alembic import TargetAlembic
from workers.target.http import TargetClient


@dataclass
class StepRecord:
    """What one audited step says about itself: ``ok`` (None: not known) and a short ``detail``."""

    ok: bool | None = None
    detail: str = ""


@dataclass
class StepContext:
    rt: Runtime
    run: RunView
    env: Environment | None
    thread_ts: str | None = None

    @cached_property
    def target(self) -> TargetClient:
        assert self.env is not None
        return TargetClient(self.env.name, self.env.base_url, self.env.timeouts.http_s)

    @cached_property
    def alembic(self) -> TargetAlembic:
        assert self.env is not None
        return TargetAlembic(self.env)

    def app_env(self) -> dict[str, str | None]:
        assert self.env is not None
        return read_env_file(self.env.app_env.file) if self.env.app_env.file else {}

    def close(self) -> None:
        if "target" in self.__dict__:
            self.target.close()

    def say(self, text: str) -> None:
        """A line in the run's thread (redacted by the poster)."""
        if self.thread_ts:
            self.rt.poster.post(self.run.channel, text, thread_ts=self.thread_ts)

    def output_to_thread(self, title: str, output: str) -> None:
        """Command output (redacted by the poster) in the thread; long output as a file."""
        lines = output.strip().splitlines()
        if not lines:
            return
        if len(lines) > 30 or len(output) > 2500:
            self.rt.poster.post(self.run.channel, f"{title}: {len(lines)} lines, attached", thread_ts=self.thread_ts,
                                attachment=(f"{title.replace(' ', '-')}.log", output))
        else:
            self.say(f"{title}:\n```{output.strip()}```")

    def progress(self, n: int, total: int, what: str) -> None:
        """The parent message says which step of how many runs now."""
        run = self.rt.store.get_run(self.run.id)
        by = f" (approved by <@{run.approved_by}>)" if run.approved_by else ""
        update_parent(self.rt, run, f"step {n}/{total}: {what}…{by}")

    def audit(self, event: str, **detail) -> None:
        self.rt.store.audit(event, run_id=self.run.id, env=self.run.env, detail=detail)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        """Audit a step's start and finish; the body sets the record's ``ok`` and ``detail``."""
        record = StepRecord()
        self.audit("step_started", step=name)
        try:
            yield record
        except BaseException as exc:
            record.ok, record.detail = False, f"{type(exc).__name__}"
            raise
        finally:
            self.audit("step_finished", step=name, ok=record.ok, detail=str(record.detail)[:500])


@dataclass
class NumberedSteps:
    """The steps of a change, numbered: the parent message says which one runs (``begin``);
    ``lines`` collects each one's result for the report."""

    ctx: StepContext
    names: list[str]
    lines: list[str] = field(default_factory=list)

    def begin(self, name: str, what: str | None = None) -> None:
        self.ctx.progress(self.names.index(name) + 1, len(self.names), what or name)

    def ok(self, name: str, detail: str) -> None:
        self.lines.append(step_line(True, name, detail))

    def failed(self, name: str, detail: str) -> None:
        self.lines.append(step_line(False, name, detail))
