"""``bb-ops migrations analyze DIR [--json]`` and ``python -m bot.analysis``."""

from __future__ import annotations

import sys

from bot.analysis.folder import analyze_dir
from bot.analysis.model import RevisionAnalysis, Verdict
from bot.core.errors import AnalysisError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from collections.abc import Sequence
    from typing import Any, TextIO


def _format_ref(value: str | tuple[str, ...] | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return "(" + ", ".join(value) + ")"


def format_table(analyses: Sequence[RevisionAnalysis]) -> str:
    """Human-readable table: one row per revision, reasons indented below it."""
    rows = [(a.revision, _format_ref(a.down_revision), a.verdict.value) for a in analyses]
    w_rev = max([len("REVISION")] + [len(r[0]) for r in rows])
    w_down = max([len("DOWN_REVISION")] + [len(r[1]) for r in rows])
    lines = [f"{'REVISION':<{w_rev}}  {'DOWN_REVISION':<{w_down}}  VERDICT"]
    for a, (rev, down, verdict) in zip(analyses, rows):
        lines.append(f"{rev:<{w_rev}}  {down:<{w_down}}  {verdict}")
        for reason in a.reasons:
            lines.append(f"    - {reason}")
    counts: dict[str, int] = {}
    for a in analyses:
        counts[a.verdict.value] = counts.get(a.verdict.value, 0) + 1
    summary = ", ".join(f"{counts[v.value]} {v.value}" for v in Verdict if v.value in counts)
    lines.append(f"{len(analyses)} revision{'s' if len(analyses) != 1 else ''}" + (f": {summary}" if summary else ""))
    return "\n".join(lines) + "\n"


def run_cli(directory: str, as_json: bool, out: TextIO | None = None, *, recursive: bool = False,
            err: TextIO | None = None) -> int:
    """``migrations analyze``: 0 on success, 2 (message on stderr) when the folder cannot
    be analysed."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        analyses = analyze_dir(directory, recursive=recursive)
    except AnalysisError as exc:
        print(f"migrations analyze: error: {exc}", file=err)
        return 2
    if as_json:
        import json  # only here: `--help` and the table start without it

        json.dump([a.to_json() for a in analyses], out, indent=2)
        out.write("\n")
    else:
        out.write(format_table(analyses))
    return 0


def add_arguments(parser: Any) -> None:
    """Arguments of ``migrations analyze`` (shared with bot.cli)."""
    parser.add_argument("directory", metavar="DIR", help="an Alembic versions folder (…/migrations/versions)")
    parser.add_argument("--json", action="store_true", dest="as_json",
                        help='print a JSON list of {"revision", "down_revision", "verdict", "reasons"}')
    parser.add_argument("--recursive", action="store_true",
                        help="also read subfolders (Alembic's recursive_version_locations)")


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bot.analysis",
        description="Judge whether each Alembic revision can be downgraded safely, by reading the scripts "
                    "with ast (never importing them). Verdicts: reversible, lossy, opaque, irreversible.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_cli(args.directory, args.as_json, sys.stdout, recursive=args.recursive)

