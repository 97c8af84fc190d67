"""The text that stands in for what was hidden: ``[REDACTED:kind]`` masks and the notices for
lines or messages withheld because they could not be verified."""

from __future__ import annotations

MASK_FMT = "[REDACTED:{kind}]"
WITHHELD_LINE_FMT = "[{n} line{s} withheld: could not be verified]"
WITHHELD_MESSAGE = "[message withheld: redaction failed]"


def mask(kind: str) -> str:
    return MASK_FMT.format(kind=kind)


def withheld(n: int) -> str:
    return WITHHELD_LINE_FMT.format(n=n, s="" if n == 1 else "s")
