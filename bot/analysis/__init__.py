"""Static reversibility analysis of Alembic revision scripts.

``bb-ops migrations analyze DIR --json`` (and ``python -m bot.analysis DIR
--json``) reads every revision script of an Alembic versions folder with :mod:`ast` --
the scripts are never imported or run, so the target's code, its dependencies and its
``env.py`` are never loaded -- and says for each revision whether stepping back over it
with ``alembic downgrade`` is safe.

Verdicts (DESIGN.md, "migrations analyze"):

``reversible``
    The downgrade brings back the schema and every row and value that existed before
    the upgrade. The only data it throws away is data written into things the upgrade
    created (a new table, a new column); the reasons say so.
``lossy``
    The downgrade runs and restores the schema, but data does not survive the round
    trip: the upgrade dropped a column or table, narrowed or converted a type, or the
    downgrade narrows a type again, re-imposes NOT NULL or re-creates a unique / check /
    foreign-key / primary-key constraint or unique index that rows written since the
    upgrade may violate (the downgrade then fails, or works only once those rows are
    changed or removed).  ``rollback --accept-data-loss`` may downgrade over these.
``opaque``
    Raw SQL (``op.execute``, ``sa.text`` as a statement, ``op.get_bind()`` / connection
    use), loops over data, conditionals, PostgreSQL enum types, unknown ``op.*`` calls or
    other code whose effect cannot be judged statically.
``irreversible``
    No working downgrade: ``downgrade()`` is missing, empty (``pass`` / docstring only)
    while the upgrade changes something, raises, or leaves an upgrade op undone (for
    example an ``add_column`` with no ``drop_column``), or does something the upgrade
    did not do (which changes the schema that existed before the upgrade).

A revision's verdict is the worst of its findings, in the order
``reversible < lossy < opaque < irreversible``: lossy is the only non-reversible verdict
where a downgrade is known to work, opaque means "could be anything, including lossy",
and irreversible means the downgrade is known not to work (or not to restore the
schema), which no acknowledgement can fix.  Rollback plans treat everything but
``reversible`` as "restore from snapshot".  When in doubt the analyzer never says
``reversible``.

The rules, op by op, are in :mod:`bot.analysis.judge`. The package reads a script in steps:
:mod:`~bot.analysis.expressions` and :mod:`~bot.analysis.columns` read values and types,
:mod:`~bot.analysis.scanner` collects the :mod:`~bot.analysis.ops` of ``upgrade()`` and
``downgrade()``, :mod:`~bot.analysis.judge` pairs them, :mod:`~bot.analysis.script` gives one
revision its verdict, :mod:`~bot.analysis.folder` and :mod:`~bot.analysis.graph` handle a
versions folder and its revision graph, :mod:`~bot.analysis.cli` the command line.

Only the standard library is imported at module level: this runs in pipelines and
must start fast (``python -X importtime -m bot.analysis``).
"""

from bot.analysis.cli import run_cli
from bot.analysis.folder import analyze_dir
from bot.analysis.graph import steps_between
from bot.analysis.model import RevisionAnalysis, Verdict
from bot.analysis.script import analyze_source
from bot.core.errors import AnalysisError

__all__ = [
    "AnalysisError",
    "RevisionAnalysis",
    "Verdict",
    "analyze_dir",
    "analyze_source",
    "run_cli",
    "steps_between",
]
