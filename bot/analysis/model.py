"""The results of the analysis: a revision's :class:`Verdict` and its :class:`RevisionAnalysis`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any


class Verdict(str, Enum):
    REVERSIBLE = "reversible"
    LOSSY = "lossy"
    IRREVERSIBLE = "irreversible"
    OPAQUE = "opaque"

    @property
    def severity(self) -> int:
        """reversible 0 < lossy 1 < opaque 2 < irreversible 3."""
        return _SEVERITY[self]

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


_SEVERITY = {
    Verdict.REVERSIBLE: 0,
    Verdict.LOSSY: 1,
    Verdict.OPAQUE: 2,
    Verdict.IRREVERSIBLE: 3,
}


@dataclass(frozen=True)
class RevisionAnalysis:
    revision: str
    down_revision: str | tuple[str, ...] | None
    verdict: Verdict
    reasons: list[str]
    path: str = ""
    depends_on: str | tuple[str, ...] | None = None
    branch_labels: str | tuple[str, ...] | None = None
    message: str | None = None  # first line of the script's docstring, if any

    @property
    def down_revisions(self) -> tuple[str, ...]:
        return as_tuple(self.down_revision)

    @property
    def dependencies(self) -> tuple[str, ...]:
        return as_tuple(self.depends_on)

    @property
    def is_merge(self) -> bool:
        return len(self.down_revisions) > 1

    def to_json(self) -> dict:
        down = self.down_revision
        if isinstance(down, tuple):
            down = list(down)
        return {
            "revision": self.revision,
            "down_revision": down,
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
        }


def as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)
