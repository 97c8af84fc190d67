"""RUNBOOK §1: prechecks — required target config present and safe (the three fail-fast rules,
MIGRATIONS_STRICT), healthz, readyz and migration diagnostics."""

from __future__ import annotations

from bot.core.errors import BBOpsError
from bot.core.results import Outcome, StepResult
from bot.slack.render import step_line
from workers import probes
from workers.diagnostics import MigrationState, diagnose

REQUIRED = ("DATABASE_URL", "JWT_SECRET", "BUDGETBUDDY_CORS_ORIGINS", "REFRESH_COOKIE_NAME",
            "REFRESH_COOKIE_PATH", "REFRESH_COOKIE_SAMESITE", "REFRESH_COOKIE_SECURE")
TRUE = ("1", "true", "yes", "on")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE


def config_findings(values: dict[str, str | None]) -> list[tuple[bool | None, str]]:
    """(ok, line) for each rule; ok None is a warning. Pure: never shows a value."""
    out: list[tuple[bool | None, str]] = []
    missing = [k for k in REQUIRED if not (values.get(k) or "").strip()]
    if not (values.get("ENV") or values.get("APP_ENV")):
        missing.insert(2, "ENV / APP_ENV")
    out.append((not missing, "required settings present" if not missing else "missing: " + ", ".join(missing)))
    app_env = (values.get("ENV") or values.get("APP_ENV") or "").strip().lower()
    production = app_env in ("production", "prod")
    if production and _true(values.get("DEBUG")):
        out.append((False, "ENV=production with DEBUG=true: the app refuses to start (set DEBUG=false)"))
    else:
        out.append((True, "DEBUG is off in production" if production else "DEBUG rule: not production"))
    origins = values.get("BUDGETBUDDY_CORS_ORIGINS") or ""
    if production and "*" in origins:
        out.append((False, "BUDGETBUDDY_CORS_ORIGINS contains * in production: list the real origins"))
    else:
        out.append((True, "CORS origins have no wildcard" if production else "CORS rule: not production"))
    samesite = (values.get("REFRESH_COOKIE_SAMESITE") or "").strip().lower()
    if samesite == "none" and not _true(values.get("REFRESH_COOKIE_SECURE")):
        out.append((False, "REFRESH_COOKIE_SAMESITE=none requires REFRESH_COOKIE_SECURE=true"))
    else:
        out.append((True, f"refresh cookie SameSite={samesite or '?'} / Secure={values.get('REFRESH_COOKIE_SECURE') or '?'}"))
    if not _true(values.get("MIGRATIONS_STRICT")):
        out.append((None,
                    "MIGRATIONS_STRICT is not true" + (" (recommended true in production)" if production else "")))
    else:
        out.append((True, "MIGRATIONS_STRICT=true"))
    return out


def run(ctx) -> StepResult:
    env = ctx.env.name
    lines: list[str] = []
    failed: list[str] = []
    with ctx.step("precheck:config") as record:
        try:
            values = ctx.app_env()
        except BBOpsError as exc:
            values = None
            lines.append(step_line(False, "config", str(exc)))
            failed.append("config")
        if values is not None:
            if not ctx.env.app_env.file:
                lines.append(step_line(None, "config", "no app_env.file configured: config rules not checked"))
            for ok, line in config_findings(values):
                lines.append(step_line(ok, "config", line))
                if ok is False:
                    failed.append("config")
        record.ok = "config" not in failed
    for name, probe in (("healthz", probes.healthz), ("readyz", probes.readyz)):
        with ctx.step(f"precheck:{name}") as record:
            check = probe(ctx.target)
            record.ok, record.detail = check.ok, check.detail
        lines.append(check.line())
        if not check.ok:
            failed.append(name)
    if ctx.env.backend is not None:
        with ctx.step("precheck:migrations") as record:
            diagnosis = diagnose(ctx.alembic)
            acceptable = diagnosis.state in (MigrationState.ALIGNED, MigrationState.BEHIND)
            record.ok, record.detail = acceptable, diagnosis.summary()
        lines.append(step_line(True if diagnosis.ready else (None if acceptable else False), "migrations",
                               diagnosis.summary()))
        if not acceptable:
            failed.append("migrations")
    else:
        lines.append(step_line(None, "migrations", "no backend configured: diagnostics skipped"))
    if failed:
        names = ", ".join(dict.fromkeys(failed))
        return StepResult(Outcome.FAILED, f"precheck of {env} failed: {names}", lines,
                          [f"/bb readyz {env}", f"/bb migrations {env}"])
    return StepResult(Outcome.OK, f"precheck of {env} passed", lines, [f"/bb migrate {env}", f"/bb smoke {env}"])
