"""The subcommands of `bb-ops` that need the whole bot (everything but `redact` and
`migrations analyze`, which start fast on their own)."""

from __future__ import annotations

import json
import os
import sys

from bot.core.errors import BBOpsError, ConfigError
from bot.core.settings import Settings
from bot.infra.logs import setup_logging
from bot.redaction import redact


def run(args) -> int:
    setup_logging()
    try:
        return HANDLERS[args.command](args)
    except BBOpsError as exc:
        print(f"bb-ops: {redact(str(exc))}", file=sys.stderr)
        return 1


def _settings() -> Settings:
    return Settings.from_env()


def cmd_config(args) -> int:
    from bot.core.config import load_config

    settings = _settings()
    path = args.config or settings.config_path
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"config check: {exc}", file=sys.stderr)
        return 1
    unsafe = config.safety_problems()
    missing = config.environment_problems(os.environ)
    for problem in unsafe:
        print(f"unsafe: {problem}", file=sys.stderr)
    for problem in missing:
        print(f"{'error' if args.strict else 'warning'}: {problem}", file=sys.stderr)
    if unsafe or (args.strict and missing):
        print(f"config check: {path} refused ({len(unsafe)} unsafe setting(s)"
              + (f", {len(missing)} missing" if args.strict and missing else "") + ")", file=sys.stderr)
        return 1
    names = ", ".join(config.environments)
    print(f"config check: {path} OK ({len(config.environments)} environments: {names})")
    return 0


def cmd_db(args) -> int:
    from bot.infra.db.engine import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print(f"bot database is at the newest schema ({settings.database_url.split('://')[0]})")
    return 0


def _store():
    from bot.infra.db.engine import make_engine, require_head
    from bot.infra.store import Store

    settings = _settings()
    engine = make_engine(settings.database_url)
    require_head(engine, settings.database_url)
    return Store(engine)


def cmd_audit(args) -> int:
    from bot.infra.audit import to_export

    store = _store()
    if args.audit_command == "export":
        for ev in store.iter_audit():
            sys.stdout.write(redact(json.dumps(to_export(ev), sort_keys=True, default=str)) + "\n")
        return 0
    broken = store.verify_audit()
    if broken is None:
        print("audit verify: the hash chain holds")
        return 0
    print(f"audit verify: chain broken at event id {broken.event_id}: {broken.reason}", file=sys.stderr)
    return 1


def _print_messages(messages: list[dict], as_json: bool) -> None:
    from bot.devkit.driver import render_messages
    from bot.redaction import redact_obj

    messages = redact_obj(messages)
    if as_json:
        sys.stdout.write(json.dumps(messages, ensure_ascii=False, indent=1) + "\n")
    else:
        print(render_messages(messages))


def cmd_say(args) -> int:
    from bot.devkit.driver import Driver

    text = args.text.strip()
    if text.startswith("/bb"):
        text = text[3:].strip()
    elif text.startswith("/"):
        print("bb-ops say: only /bb commands exist (e.g. \"/bb readyz prod\")", file=sys.stderr)
        return 2
    with Driver(_settings()) as driver:
        messages = driver.command(args.user, args.channel, text, wait_s=args.timeout)
    _print_messages(messages, args.json)
    return 0


def cmd_click(args) -> int:
    from bot.devkit.driver import Driver

    with Driver(_settings()) as driver:
        messages = driver.click(args.user, args.run_id, args.action, wait_s=args.timeout)
    _print_messages(messages, args.json)
    return 0


def cmd_serve(args) -> int:
    from bot.serve.http import serve

    settings = _settings()
    return serve(settings, host=args.host or settings.host, port=args.port or settings.port)


def cmd_socket(args) -> int:
    from bot.serve.http import socket_mode
    from workers.jobs import execute_run

    return socket_mode(_settings(), job=execute_run)


def _load_jobs() -> None:
    """The job function and every step module, imported before RQ forks its work horses."""
    import workers.jobs  # noqa: F401
    from workers import steps

    steps.preload()


def cmd_worker(args) -> int:
    from bot.serve.worker import run_worker

    return run_worker(_settings(), burst=args.burst, name=args.name, preload=_load_jobs)


def cmd_shell(args) -> int:
    from bot.devkit.shell import run_shell

    return run_shell(_settings(), user=args.user, channel=args.channel, demo=args.demo)


def cmd_demo(args) -> int:
    from bot.devkit.demo import run_demo

    return run_demo()


HANDLERS = {
    "config": cmd_config, "db": cmd_db, "audit": cmd_audit, "say": cmd_say, "click": cmd_click,
    "serve": cmd_serve, "socket": cmd_socket, "worker": cmd_worker, "shell": cmd_shell, "demo": cmd_demo,
}
