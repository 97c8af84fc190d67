"""What a runbook step gets: the run, its environment, the target's HTTP client and Alembic,
and a way to record steps (audit) and speak in the run's thread."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cached_property

from bot.core.config import Environment
from bot.core.envfile import read_env_file
from bot.infra.runtime import Runtime
from bot.infra.store import RunView
from workers.target.alembic import TargetAlembic
from workers.target.http import TargetClient


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

    def audit(self, event: str, **detail) -> None:
        self.rt.store.audit(event, run_id=self.run.id, env=self.run.env, detail=detail)

    @contextlib.contextmanager
    def step(self, name: str):
        """Audit a step's start and finish; the body sets ``box["ok"]`` and ``box["detail"]``."""
        box = {"ok": None, "detail": ""}
        self.audit("step_started", step=name)
        try:
            yield box
        except BaseException as exc:
            box["ok"], box["detail"] = False, f"{type(exc).__name__}"
            raise
        finally:
            self.audit("step_finished", step=name, ok=box["ok"], detail=str(box["detail"])[:500])
