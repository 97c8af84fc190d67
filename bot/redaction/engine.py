"""The compiled engine: one combined regular expression over every known value and pattern.

All variants of all secrets feed **one combined regular expression**, rebuilt lazily after
secrets are added: each variant is anchored at a rare character (8 characters of it go into a
trie), together with a rare-character anchor for every pattern. One scan of the text with it
finds the only lines that can hold a secret (in typical logs a few percent); every other line
is thereby verified and passes untouched. Flagged lines are masked together (a hit is
confirmed exactly with ``str.startswith``; patterns run only when their literal gate occurs)
and scanned again for verification: a leftover known value or strong token shape marks the
line to be withheld.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from bot.redaction.encodings import Variant
from bot.redaction.masks import mask
from bot.redaction.patterns import (
    CI_PATTERNS,
    CS_PATTERNS,
    N_STRONG,
    PATTERN_ANCHORS,
    line_end,
)

# Approximate character frequencies (per mille) in application logs: a variant is anchored on
# its rarest character so the combined regex is tried at few positions.
_FREQ = {
    " ": 120, "e": 60, "t": 45, "a": 45, "o": 40, "i": 40, "n": 40, "s": 40, "r": 38, "l": 25,
    "d": 25, "c": 22, "u": 20, "h": 20, "m": 18, "p": 18, "g": 12, "f": 12, "b": 10, "y": 9,
    "w": 9, "v": 6, "k": 6, "x": 3, "q": 2, "j": 1.5, "z": 1.5,
    "0": 30, "1": 28, "2": 25, "3": 15, "4": 14, "5": 14, "6": 11, "7": 10, "8": 10, "9": 10,
    '"': 25, ":": 25, ".": 25, "/": 18, "-": 18, ",": 15, "_": 10, "=": 8, "(": 4, ")": 4,
    "'": 5, "[": 3, "]": 3, "{": 2, "}": 2, "@": 2, "%": 2, "&": 1.5, "?": 1.5, ";": 1.5,
    "+": 1, ">": 1, "<": 0.8, "*": 0.8, "#": 0.5, "!": 0.5, "$": 0.3, "\\": 0.5, "|": 0.3,
    "~": 0.1, "^": 0.1, "`": 0.2, "\t": 1, "\r": 1,
    "E": 8, "T": 8, "I": 7, "N": 6, "O": 6, "S": 6, "R": 5, "A": 6, "P": 5, "L": 4, "C": 4,
    "D": 4, "F": 4, "M": 3, "G": 3, "H": 3, "U": 3, "B": 2, "W": 1.5, "K": 1.2, "V": 1,
    "Y": 1, "X": 0.8, "Q": 0.4, "J": 0.5, "Z": 0.5,
}
_KEY_LEN = 4          # characters after the anchor position used to look up candidate variants
_ANCHOR_LEN = 8       # characters of each variant matched by the combined regex


def _anchor_index(v: str, charset: set[str]) -> int:
    """Where to anchor variant ``v``: at a character the combined regex already starts with if
    possible (no extra positions to try), else at its rarest character."""
    best, best_score = 0, None
    for i in range(len(v) - _KEY_LEN + 1):
        f = _FREQ.get(v[i], 0.2)
        score = (0 if v[i] in charset else f, f, _FREQ.get(v[i + 1], 0.2))
        if best_score is None or score < best_score:
            best, best_score = i, score
    return best


def _trie_alternatives(words: Iterable[str]) -> list[str]:
    """Regex alternatives, each starting with a literal, that together match any of ``words``
    (existence only: a word that is a prefix of another makes the longer one unnecessary).
    Returned unjoined so the caller can merge them into one flat alternation."""
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            if "" in node:
                break
            node = node.setdefault(ch, {})
        else:
            node.clear()
            node[""] = None

    def emit(node: dict) -> list[str]:
        if "" in node:
            return [""]
        out = []
        for ch, sub in sorted(node.items()):
            alts = emit(sub)
            out.append(re.escape(ch) + (alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"))
        return out

    return emit(root)


class Engine:
    """An immutable snapshot of the known values, compiled with every pattern anchor."""

    def __init__(self, entries: list[tuple[str, list[Variant]]]):
        cands: dict[str, list] = {}
        firsts: dict[str, set[str]] = {}
        seen: set[str] = set()
        charset = {c for c, _ in PATTERN_ANCHORS}
        for kind, variants in entries:
            for text, ext in variants:
                if text in seen or len(text) < _KEY_LEN:
                    continue
                seen.add(text)
                i = _anchor_index(text, charset)
                charset.add(text[i])
                cands.setdefault(text[i:i + _KEY_LEN], []).append((i, text, kind, ext))
                lit = text[i:i + _ANCHOR_LEN]
                firsts.setdefault(lit[0], set()).add(lit[1:])
        self.cands = cands
        self.variants = seen
        pats: dict[str, list[str]] = {}
        for c, rest in PATTERN_ANCHORS:
            pats.setdefault(c, []).append(rest)
        alts = []
        for c in sorted(set(firsts) | set(pats)):
            rests = _trie_alternatives(firsts[c]) if c in firsts else []
            if "" in rests:
                alts.append(re.escape(c))
                continue
            rests.extend(r for r in pats.get(c, ()) if "(?P<" not in r)
            rests.extend(r for r in pats.get(c, ()) if "(?P<" in r)       # checked anchors last
            alts.append(re.escape(c) + (rests[0] if len(rests) == 1 else "(?:" + "|".join(rests) + ")"))
        self.scan = re.compile("|".join(alts))

    # -- stage A: which lines need a closer look ------------------------------------------
    def suspicious(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every line that holds an anchor: the only lines that can hold a
        known value or a pattern. Every other line is verified clean by this one scan."""
        search = self.scan.search
        spans: list[tuple[int, int]] = []
        pos, n = 0, len(text)
        ls = le = dd = -1                      # current line [ls, le) and its first "--"
        while pos <= n:
            m = search(text, pos)
            if m is None:
                break
            p = m.start()
            if p >= le:
                ls = text.rfind("\n", 0, p) + 1
                le = line_end(text, p)
                dd = -2
            if m.lastgroup is not None:        # a --flag anchor: only after "--" on the line
                if dd == -2:
                    dd = text.find("--", ls, le)
                if dd < 0 or dd > p:
                    pos = p + 1
                    continue
            spans.append((ls, le))
            pos = le + 1
        return spans

    # -- stage B ------------------------------------------------------------------------
    def value_hits(self, s: str) -> list[tuple[int, int, str]]:
        hits = []
        search, cands, pos = self.scan.search, self.cands, 0
        while True:
            m = search(s, pos)
            if m is None:
                return hits
            p = m.start()
            for off, text, kind, ext in cands.get(s[p:p + _KEY_LEN], ()):
                a = p - off
                if a >= 0 and s.startswith(text, a):
                    b = a + len(text)
                    if ext is not None:
                        a, b = _widen_b64(s, a, b, ext)
                    hits.append((a, b, kind))
            pos = p + 1

    def find(self, s: str) -> list[tuple[int, int, str, int]]:
        """Every span to mask in ``s`` (lines joined by newlines): (start, end, kind, priority)."""
        found = [(a, b, k, 2) for a, b, k in self.value_hits(s)]
        for gates, rx, handler, overlap in CS_PATTERNS:
            if gates and not any(g in s for g in gates):
                continue
            found.extend((a, b, k, 1) for a, b, k in _matches(rx, s, s, handler, overlap))
        low = s.lower()
        same = len(low) == len(s)
        for gates, rx_low, src, handler, overlap in CI_PATTERNS:
            if gates and not any(g in low for g in gates):
                continue
            if same:
                hits = _matches(rx_low, low, s, handler, overlap)
            else:   # lower() changed some offsets (rare non-ASCII): match case-insensitively
                hits = _matches(re.compile(src, re.I), s, s, handler, overlap)
            found.extend((a, b, k, 1) for a, b, k in hits)
        return found

    def verify(self, out: str) -> set[int]:
        """Offsets of spans in ``out`` that still hold a known value or a strong token shape."""
        bad = [a for a, _, _ in self.value_hits(out)]
        for gates, rx, _, _ in CS_PATTERNS[:N_STRONG]:
            if any(g in out for g in gates):
                bad.extend(m.start() for m in rx.finditer(out))
        return set(bad)

    def process(self, lines: list[str]) -> tuple[list[str], set[int]]:
        """Mask ``lines``; return the new lines and the indices of lines that must be withheld."""
        s = "\n".join(lines)
        spans = self.find(s)
        out = _apply(s, spans)
        new = out.split("\n")
        if len(new) != len(lines):
            raise RuntimeError("masking changed the line structure")
        bad_offsets = self.verify(out)
        bad: set[int] = set()
        if bad_offsets:
            starts, acc = [], 0
            for line in new:
                starts.append(acc)
                acc += len(line) + 1
            bad = {bisect.bisect_right(starts, off) - 1 for off in bad_offsets}
        return new, bad


def _matches(rx, hay: str, s: str, handler, overlap: bool) -> list:
    out = []
    pos = 0
    search = rx.search
    while True:
        m = search(hay, pos)
        if m is None:
            return out
        out.extend(handler(m, s))
        pos = m.start() + 1 if overlap or m.end() == m.start() else m.end()


def _widen_b64(s: str, a: int, b: int, ext) -> tuple[int, int]:
    left, right, alphabet = ext
    if left and a > 0 and s[a - 1] in alphabet:
        a -= 1
    if right and b < len(s) and s[b] in alphabet:
        b += 1
    k = 0
    while k < 2 and b < len(s) and s[b] == "=":
        b += 1
        k += 1
    return a, b


def _apply(s: str, spans: list[tuple[int, int, str, int]]) -> str:
    if not spans:
        return s
    spans = sorted(spans, key=lambda x: (x[0], -x[1]))
    merged: list[list] = []
    for a, b, kind, prio in spans:
        if b <= a:
            continue
        if merged and a < merged[-1][1]:
            cur = merged[-1]
            if (prio, b - a) > (cur[3], cur[4]):
                cur[2], cur[3], cur[4] = kind, prio, b - a
            cur[1] = max(cur[1], b)
        else:
            merged.append([a, b, kind, prio, b - a])
    parts, prev = [], 0
    for a, b, kind, _, _ in merged:
        if "\n" in s[a:b]:
            raise RuntimeError("a masked span crosses a line")
        parts.append(s[prev:a])
        parts.append(mask(kind))
        prev = b
    parts.append(s[prev:])
    return "".join(parts)

