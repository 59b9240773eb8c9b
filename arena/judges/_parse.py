"""Reading a pairwise judge's final label out of its text.

Only the judge's own final label counts: the last well-formed label wins, so a label quoted
earlier (from an answer, or an example) is overridden by the one the judge ends with.

Accepted, from strictest to loosest:
- bracketed labels anywhere: `[[A>>B]]`, `[[A>B]]`, `[[A=B]]`, `[[B>A]]`, `[[B>>A]]`, and the
  variants `[[A]]` (A>B), `[[B]]` (B>A), `[[tie]]` / `[[C]]` / `[[B=A]]` (A=B), `[[A<B]]`,
  `[[A<<B]]`, with full-width forms (`［［A＞B］］`, `【【A>B】】`) normalised first;
- when no bracketed label is present, a bare label at the very end (`... verdict: A>B.`).
"""

from __future__ import annotations

import re
import unicodedata

from arena.records import DECISIVE_LABELS

_CANON = {
    "A>>B": "A>>B",
    "A>B": "A>B",
    "A=B": "A=B",
    "B=A": "A=B",
    "B>A": "B>A",
    "B>>A": "B>>A",
    "A<B": "B>A",
    "A<<B": "B>>A",
    "B<A": "A>B",
    "B<<A": "A>>B",
    "A": "A>B",
    "B": "B>A",
    "C": "A=B",
    "TIE": "A=B",
    "A=B=TIE": "A=B",
}
_BRACKETED = re.compile(r"\[\[\s*([AB](?:\s*(?:>>|<<|>|<|=)\s*[AB])?|C|TIE)\s*\]\]", re.IGNORECASE)
_BARE_END = re.compile(r"(?:^|[^A-Za-z0-9>=<])([AB]\s*(?:>>|<<|>|<|=)\s*[AB])[\s.!*_`'\")\]]*$")
_EXTRA = str.maketrans({"【": "[", "】": "]", "〚": "[[", "〛": "]]", "《": "<<", "》": ">>", "≫": ">>", "≪": "<<"})

RETRY_PROMPT = (
    "Your answer did not end with a verdict label. Finish now with exactly one label, and nothing after it: "
    "[[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]]."
)


def normalise(text: str) -> str:
    """Full-width and look-alike brackets and signs to ASCII."""
    return unicodedata.normalize("NFKC", text).translate(_EXTRA)


def _canon(raw: str) -> str | None:
    key = re.sub(r"\s+", "", raw).upper()
    return _CANON.get(key)


def parse_label(text: str | None) -> str | None:
    """The judge's final five-way label (from the presented A's point of view), or None."""
    if not text:
        return None
    t = normalise(text)
    found = None
    for m in _BRACKETED.finditer(t):
        label = _canon(m.group(1))
        if label is not None:
            found = label
    if found is not None:
        return found
    m = _BARE_END.search(t.rstrip())
    if m:
        return _canon(m.group(1))
    return None


__all__ = ["DECISIVE_LABELS", "RETRY_PROMPT", "normalise", "parse_label"]
