"""RUNBOOK §3: the 5-minute smoke test — healthz, readyz, login with the vendor media type,
/me with the bearer token. Each step is timed; a failure names its step and stops the test."""

import os
import time

from bot.core.results import Outcome, StepResult
from bot.slack.render import step_line
from workers import probes


def run(ctx) -> StepResult:
    env = ctx.env
    if env.smoke is None:
        return StepResult(Outcome.REFUSED, f"{env.name} has no smoke user configured",
                          [f"set environments.{env.name}.smoke.username_env / password_env in the config"],
                          [f"/bb readyz {env.name}"])
    username = os.environ.get(env.smoke.username_env, "")
    password = os.environ.get(env.smoke.password_env, "")
    if not username or not password:
        missing = [v for v, val in ((env.smoke.username_env, username), (env.smoke.password_env, password)) if not val]
        return StepResult(Outcome.REFUSED, f"smoke credentials for {env.name} are not set",
                          [f"environment variable {v} is empty in the worker" for v in missing],
                          [f"/bb readyz {env.name}"])
    deadline = time.monotonic() + env.timeouts.smoke_s
    lines: list[str] = []
    token = ""
    steps = [
        ("healthz", lambda: probes.healthz(ctx.target)),
        ("readyz", lambda: probes.readyz(ctx.target)),
        ("login", lambda: probes.login(ctx.target, username, password)),
        ("/me", lambda: probes.me(ctx.target, token)),
    ]
    total_ms = 0.0
    for name, probe in steps:
        if time.monotonic() > deadline:
            lines.append(step_line(False, name, f"not run: the smoke test exceeded {env.timeouts.smoke_s:g} s"))
            return StepResult(Outcome.FAILED, f"smoke test of {env.name} timed out before {name}", lines,
                              [f"/bb readyz {env.name}"])
        with ctx.step(f"smoke:{name}") as record:
            check = probe()
            record.ok, record.detail = check.ok, check.detail
        lines.append(check.line())
        total_ms += check.elapsed_ms or 0
        if not check.ok:
            return StepResult(Outcome.FAILED, f"smoke test of {env.name} failed at {name}: {check.detail}",
                              lines, [f"/bb readyz {env.name}", f"/bb precheck {env.name}"])
        token = check.data.get("token", token)
    return StepResult(Outcome.OK, f"smoke test of {env.name} passed (4/4 steps, {total_ms:.0f} ms)", lines,
                      [f"/bb migrations {env.name}"])
