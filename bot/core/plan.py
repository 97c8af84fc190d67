"""The plan of a mutating run: what a person approves and what the worker then does, frozen.

A plan is made by the worker (``workers/steps/<verb>.py``, ``plan(ctx)``), shown on the approval
card, stored in the run's ``plan`` column as its canonical dict (:meth:`Plan.to_dict`) and hashed
(:meth:`Plan.digest`, on the card and in the run's ``plan_hash``). Before it acts, the worker
makes the plan again and compares the hashes: anything that differs stops the run.

Fields are attributes, so a misspelt one is an ``AttributeError``, not a silent ``None`` that
changes the hash. The dict form keeps the keys the plans have always had: an optional field that
is not set is left out (``revisions`` and ``code`` are absent from a restore, which runs no
migration script), so stored plans and their hashes stay valid. :meth:`Plan.from_dict` refuses
unknown and missing keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping


def _checked(data: Any, what: str, required: frozenset[str], optional: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - required - optional)
    missing = sorted(required - set(data))
    if unknown or missing:
        raise ValueError(f"{what}: " + "; ".join(
            ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
            + ([f"missing key(s) {', '.join(missing)}"] if missing else [])))
    return data


@dataclass(frozen=True)
class PlannedRevision:
    """One migration script the plan runs, with the analysis verdict (``reversible``, ``lossy``,
    ``irreversible``, ``opaque``) and its reasons."""

    revision: str
    verdict: str
    reasons: tuple[str, ...] = ()
    direction: str = "upgrade"            # or "downgrade"

    KEYS = frozenset({"revision", "verdict", "reasons", "direction"})

    def to_dict(self) -> dict:
        return {"revision": self.revision, "verdict": self.verdict, "reasons": list(self.reasons),
                "direction": self.direction}

    @classmethod
    def from_dict(cls, data: Any) -> "PlannedRevision":
        data = _checked(data, "planned revision", cls.KEYS, frozenset())
        return cls(data["revision"], data["verdict"], tuple(data["reasons"]), data["direction"])


@dataclass(frozen=True)
class RestoreSource:
    """The snapshot a restore (or a rollback by restore) brings back, pinned by its digest."""

    name: str
    revision: str | None
    sha256: str | None

    KEYS = frozenset({"name", "revision", "sha256"})

    def to_dict(self) -> dict:
        return {"name": self.name, "revision": self.revision, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Any) -> "RestoreSource":
        data = _checked(data, "restore source", cls.KEYS, frozenset())
        return cls(data["name"], data["revision"], data["sha256"])


@dataclass(frozen=True)
class Plan:
    verb: str                             # migrate, deploy, rollback, restore
    env: str
    current: str | None                   # the revision now (None: an empty database, or no migration planned)
    target: str | None                    # the revision after the change ("base" for a rollback to base)
    snapshot: str | None = None           # the snapshot taken (migrate) or restored (restore), as shown
    revisions: tuple[PlannedRevision, ...] | None = None   # None: the plan runs no migration script
    code: str | None = None               # digest of the migration scripts (None with ``revisions``)
    version: str | None = None            # the release put out first (deploy, rollback)
    method: str | None = None             # rollback/restore: "downgrade" or "restore"
    restore: RestoreSource | None = None
    redeploy: str | None = None           # restore: the release put out again after the swap
    accept_data_loss: bool = False        # rollback: the requester accepted lossy steps
    notes: tuple[str, ...] = ()

    REQUIRED = frozenset({"verb", "env", "current", "target", "snapshot"})
    OPTIONAL = frozenset({"revisions", "code", "version", "method", "restore", "redeploy", "accept_data_loss",
                          "notes"})

    def to_dict(self) -> dict:
        """The canonical form: stored in the run's ``plan`` column and hashed."""
        out: dict[str, Any] = {"verb": self.verb, "env": self.env, "current": self.current, "target": self.target}
        if self.revisions is not None:
            out["revisions"] = [r.to_dict() for r in self.revisions]
        if self.code is not None:
            out["code"] = self.code
        out["snapshot"] = self.snapshot
        if self.version is not None:
            out["version"] = self.version
        if self.accept_data_loss:
            out["accept_data_loss"] = True
        if self.method is not None:
            out["method"] = self.method
        if self.restore is not None:
            out["restore"] = self.restore.to_dict()
        if self.redeploy is not None:
            out["redeploy"] = self.redeploy
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "Plan":
        data = _checked(data, "plan", cls.REQUIRED, cls.OPTIONAL)
        revisions = data.get("revisions")
        restore = data.get("restore")
        return cls(
            verb=data["verb"], env=data["env"], current=data["current"], target=data["target"],
            snapshot=data["snapshot"],
            revisions=None if revisions is None else tuple(PlannedRevision.from_dict(r) for r in revisions),
            code=data.get("code"), version=data.get("version"), method=data.get("method"),
            restore=None if restore is None else RestoreSource.from_dict(restore),
            redeploy=data.get("redeploy"), accept_data_loss=bool(data.get("accept_data_loss", False)),
            notes=tuple(data.get("notes", ())),
        )

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """SHA-256 over the canonical JSON: the plan hash on the card and in the run."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()
