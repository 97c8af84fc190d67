"""`bb-ops`: the one console script. Subcommands import what they need lazily, so the ones that
sit in pipelines (`redact`, `migrations analyze`) start fast.

Exit status: 0 done (for `say`/`click`: the bot answered, a refusal or failed probe included),
1 bb-ops itself failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = "Contracts: ../shared/DESIGN.md (slash commands, CLI, environment variables, config)."


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bb-ops", description="bb-ops: the BudgetBuddy deploy bot.", epilog=EPILOG)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("serve", help="the Bolt app over HTTP (POST /slack/events, /healthz, /readyz, /metrics)",
                       description="Serve the Slack app over HTTP on HOST:PORT (default 0.0.0.0:3000).")
    s.add_argument("--host", help="bind address (default: $HOST or 0.0.0.0)")
    s.add_argument("--port", type=int, help="port (default: $PORT or 3000)")

    sub.add_parser("socket", help="the same Bolt app over Socket Mode (needs SLACK_APP_TOKEN)",
                   description="Run the Slack app over Socket Mode: for local use without a public URL.")

    w = sub.add_parser("worker", help="an RQ worker on the bot's queues (needs REDIS_URL)",
                       description="Run an RQ worker for the bb-ops queues; reconnects when Redis restarts.")
    w.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    w.add_argument("--name", help="worker name (default: host:pid)")

    sh = sub.add_parser("shell", help="type /bb commands, see the channel as text, act as any user, click buttons",
                        description="An interactive Slack stand-in: type `/bb ...`, `as U0BOB`, "
                                    "`channel C0DEPLOYS`, `click RUN approve|reject|cancel`, `quit`.")
    sh.add_argument("--as", dest="user", default="U0ALICE", help="Slack user id to act as (default U0ALICE)")
    sh.add_argument("--channel", default=None, help="channel id (default: the first configured one)")
    sh.add_argument("--demo", action="store_true", help="start the reference BudgetBuddy target and use its config")

    sy = sub.add_parser("say", help="send one /bb command end to end and print what the bot posted",
                        description="Send one slash command, signed, to the real Bolt app; print what the bot "
                                    "posted or updated. Exit 0 whenever the bot answered.")
    sy.add_argument("--as", dest="user", required=True, help="Slack user id, e.g. U0ALICE")
    sy.add_argument("--channel", required=True, help="channel id, e.g. C0DEPLOYS")
    sy.add_argument("--json", action="store_true", help="print the messages as a JSON list")
    sy.add_argument("--timeout", type=float, default=600, help="seconds to wait for the run to settle (Redis mode)")
    sy.add_argument("text", help='the command, e.g. "/bb readyz prod"')

    c = sub.add_parser("click", help="press a button on a run's approval card as Slack would",
                       description="Send a signed block_actions request for a run's card; print what the bot posted.")
    c.add_argument("--as", dest="user", required=True, help="Slack user id of the clicker")
    c.add_argument("--run", dest="run_id", type=int, required=True, help="the run id (the button's value)")
    c.add_argument("--json", action="store_true", help="print the messages as a JSON list")
    c.add_argument("--timeout", type=float, default=600, help="seconds to wait for the run to settle (Redis mode)")
    c.add_argument("action", choices=["approve", "reject", "cancel"])

    r = sub.add_parser("redact", help="stdin -> stdout with every secret masked",
                       description="Stream stdin to stdout line by line with every secret masked. Values of "
                                   "secret-looking keys in each --env-file are masked in any common encoding.")
    r.add_argument("--env-file", action="append", default=[], metavar="FILE", help="dotenv file (repeatable)")

    m = sub.add_parser("migrations", help="migration tools (analyze)", description="Migration tools.")
    msub = m.add_subparsers(dest="migrations_command", metavar="SUBCOMMAND")
    msub.required = True
    ma = msub.add_parser("analyze", help="reversibility verdict per revision of an Alembic versions folder",
                         description="Read an Alembic versions folder with ast (never importing it) and give "
                                     "each revision a verdict: reversible, lossy, irreversible or opaque.")
    ma.add_argument("directory", help="the versions folder")
    ma.add_argument("--json", action="store_true", help="print a JSON list")

    cf = sub.add_parser("config", help="config tools (check)", description="Config tools.")
    cfsub = cf.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    cfsub.required = True
    cc = cfsub.add_parser("check", help="validate config and environment; refuse unsafe settings",
                          description="Validate BBOPS_CONFIG (or --config): schema, safety, files and variables.")
    cc.add_argument("--config", help="config file (default: $BBOPS_CONFIG or config/environments.yaml)")
    cc.add_argument("--strict", action="store_true", help="also fail on missing files and variables")

    d = sub.add_parser("db", help="the bot's own database (upgrade)", description="The bot database.")
    dsub = d.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    dsub.required = True
    dsub.add_parser("upgrade", help="apply the bot database migrations (Procfile release)",
                    description="Bring BBOPS_DATABASE_URL to the newest schema.")

    a = sub.add_parser("audit", help="the audit trail (export, verify)", description="The audit trail.")
    asub = a.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    asub.required = True
    ae = asub.add_parser("export", help="print every audit event", description="Print the audit trail.")
    ae.add_argument("--format", choices=["jsonl"], default="jsonl")
    asub.add_parser("verify", help="check the hash chain; name the first bad event",
                    description="Exit 0 when the chain holds, else 1 naming the first edited/deleted/reordered event.")

    sub.add_parser("demo", help="the embedded demo: reference target + local Slack, /bb readyz prod …",
                   description="Start the reference BudgetBuddy target and a local Slack stand-in, run "
                               "/bb readyz prod, /bb smoke prod and /bb migrations prod, print the channel.")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cmd = args.command
    try:
        if cmd == "redact":
            from bot.redaction import run_cli

            return run_cli(args.env_file, sys.stdin, sys.stdout)
        if cmd == "migrations":
            from bot.analysis import run_cli

            return run_cli(args.directory, args.json, sys.stdout)
        from bot.cli import commands as commands_cli

        return commands_cli.run(args)
    except KeyboardInterrupt:
        return 130

