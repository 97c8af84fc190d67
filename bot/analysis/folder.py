"""A versions folder: every revision script Alembic would load, analysed and put in order."""

from __future__ import annotations

import os
import re

from bot.analysis.graph import topological_order
from bot.analysis.model import RevisionAnalysis
from bot.analysis.script import analyze_file
from bot.core.errors import AnalysisError

# the file names Alembic loads: *.py, not __init__.py, not Emacs lock files
_SOURCE_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")


def _script_files(directory: str, recursive: bool) -> list[str]:
    files: list[str] = []
    if recursive:
        for root, dirs, names in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            files.extend(os.path.join(root, n) for n in sorted(names) if _SOURCE_FILE.match(n))
    else:
        files = [os.path.join(directory, n) for n in sorted(os.listdir(directory))
                 if _SOURCE_FILE.match(n) and os.path.isfile(os.path.join(directory, n))]
    return files


def analyze_dir(path: str | os.PathLike[str], *, recursive: bool = False) -> list[RevisionAnalysis]:
    """Analyse every revision script in an Alembic versions folder, base first.

    Raises AnalysisError when the folder is missing or unreadable, when two scripts
    claim the same revision id, or when the revision graph has a cycle. A script that
    does not parse is reported as ``opaque`` with the syntax error as its reason.
    """
    directory = os.fspath(path)
    if not os.path.exists(directory):
        raise AnalysisError(f"migrations directory not found: {directory}")
    if not os.path.isdir(directory):
        raise AnalysisError(f"not a directory: {directory}")
    try:
        files = _script_files(directory, recursive)
    except OSError as exc:
        raise AnalysisError(f"cannot read migrations directory {directory}: {exc.strerror or exc}") from exc
    analyses = [analyze_file(f) for f in files]
    return topological_order(analyses)

