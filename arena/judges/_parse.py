"""Reading a pairwise judge's final verdict out of its reply.

A preset names the verdict format its template asks for (`verdict_format`); a reply in no
accepted form of that format is unparsed, never guessed:

- `labels` (default; Arena-Hard-Auto's template): `[[A>>B]]`, `[[A>B]]`, `[[A=B]]`, `[[B>A]]`,
  `[[B>>A]]`, with the same relations written the other way (`[[A<B]]`, `[[B=A]]`, `[[B<<A]]`);
  a bare label (`My final verdict is A>B.`) counts when it is marked final and no later bracketed
  label follows.
- `mt_bench` (FastChat's MT-Bench pairwise template): `[[A]]`, `[[B]]`, `[[C]]` (C = tie; `[[tie]]`
  too).
- `scores` (FastChat's older pairwise review and the WideDeep paper, Zhang et al. 2023): a score
  from 1 to 10 for each assistant, `Score of Assistant 1: 8` / `Assistant 2: 5`, `Score A: 7`, or a
  line of just two numbers (`8 5`). The label is the sign of the difference, strong from
  `SCORE_STRONG_MARGIN` points.
- `json`: an object with a `winner` key (`"A"`, `"B"`, `"tie"`; also `"model_a"`, `"1"`, a five-way
  label).

Before matching, the reply is normalised (`normalise`): Unicode NFKC, zero-width, format and
bidirectional control characters removed, look-alike brackets and signs mapped to ASCII.

The verdict is the judge's final one (`parse_verdict`). A label quoted earlier (the template's
label list restated, an example, a hypothetical, a self-assessment) never wins over it:

1. the final verdict is what follows the last marker ("final verdict", "final:", "最終", ...;
   then, when there is none, "verdict", "judgment", "conclusion", ...) that has a label after it;
2. every label in that final verdict (or, without a marker, in the whole reply) must agree,
   unless the last one ends the reply, the only label on its line (a restated label list ends up
   after a marker such as "as your final verdict").
Two or more different labels in the final verdict, or several different labels with none marked
final, are `contradictory` (Arena-Hard-Auto's rule: a reply with several different labels is no
verdict); the judge is then asked once more for a single final label (`reask_prompt`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from arena.records import DECISIVE_LABELS


class VerdictFormat(StrEnum):
    """The verdict format a judge template asks for (a preset's `verdict_format`)."""

    LABELS = "labels"
    MT_BENCH = "mt_bench"
    SCORES = "scores"
    JSON = "json"


SCORE_STRONG_MARGIN = 3.0
"""`scores` format: a difference of at least this many points (of 10) is a strong win (A>>B)."""

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
}
_MT_CANON = {"A": "A>B", "B": "B>A", "C": "A=B", "TIE": "A=B"}
_MD = r"[\s*_`]*"  # markdown emphasis or code marks allowed around a label inside its brackets
_REL = r"[AB]\s*(?:>>|<<|>|<|=)\s*[AB]"
_BRACKETED = re.compile(r"\[\[" + _MD + r"(" + _REL + r")" + _MD + r"\]\]", re.IGNORECASE)
_BRACKETED_MT = re.compile(r"\[\[" + _MD + r"(A|B|C|TIE)" + _MD + r"\]\]", re.IGNORECASE)
_BARE = re.compile(r"(?<![A-Za-z0-9>=<\[])(" + _REL + r")(?![A-Za-z0-9>=<\]])")
_JUNK_AFTER = re.compile(r"[\s.!*_`'\")\]。!」』]*")
_EXTRA = str.maketrans({"【": "[", "】": "]", "〚": "[[", "〛": "]]", "《": "<<", "》": ">>", "≫": ">>", "≪": "<<"})
# Markers of the judge's final verdict: tier 1 says "final", tier 2 only "verdict" and the like.
_FINAL = re.compile(
    r"\bfinal\b|\bin\s+conclusion\b|\bultimately\b|\bendg[üu]ltig|\bendurteil|\bfinale?\b|最終|最终|итог|окончательн|최종",
    re.IGNORECASE,
)
_VERDICT = re.compile(
    r"\bverdict|\bjudge?ment\b|\bdecision\b|\bconclusion\b|\boverall\b|\bveredicto|\bverdetto|\burteil|\bentscheidung|\bjugement"
    r"|вердикт|判定|判断|結論|结论|裁决|评判|評価|판정|결론",
    re.IGNORECASE,
)
# Unicode category Cf (zero-width spaces and joiners, word joiner, BOM, soft hyphen, bidirectional
# controls, tags) and a few invisible fillers; tests check it against unicodedata for every code point.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def strip_invisible(text: str) -> str:
    """`text` without zero-width, format and bidirectional control characters (category Cf)."""
    return _INVISIBLE.sub("", text)


def normalise(text: str) -> str:
    """NFKC, invisible and format characters removed, look-alike brackets and signs to ASCII."""
    return strip_invisible(unicodedata.normalize("NFKC", text)).translate(_EXTRA)


@dataclass(frozen=True, slots=True)
class ParsedVerdict:
    """A reply's final label (from the presented A's point of view) or why there is none.

    `problem` is None when `label` is set, else `"no verdict"` (nothing in the accepted format) or
    `"contradictory: A>B, B>A"` (different labels, none of them the final verdict)."""

    label: str | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Token:
    start: int
    end: int
    label: str
    bracketed: bool


def _canon(raw: str) -> str | None:
    return _CANON.get(re.sub(r"\s+", "", raw).upper())


def _tokens(t: str, fmt: VerdictFormat) -> list[_Token]:
    if fmt is VerdictFormat.MT_BENCH:
        return [_Token(m.start(), m.end(), _MT_CANON[m.group(1).upper()], True) for m in _BRACKETED_MT.finditer(t)]
    out = [_Token(m.start(), m.end(), lab, True) for m in _BRACKETED.finditer(t) if (lab := _canon(m.group(1)))]
    spans = [(x.start, x.end) for x in out]
    for m in _BARE.finditer(t):
        if any(s <= m.start() < e for s, e in spans):
            continue
        if (lab := _canon(m.group(1))) is not None:
            out.append(_Token(m.start(), m.end(), lab, False))
    return sorted(out, key=lambda x: x.start)


def _decide(tokens: list[_Token]) -> ParsedVerdict:
    labels = list(dict.fromkeys(x.label for x in tokens))
    if len(labels) == 1:
        return ParsedVerdict(labels[0])
    return ParsedVerdict(None, "contradictory: " + ", ".join(labels))


def _ends_reply_alone(t: str, tokens: list[_Token]) -> bool:
    """The last token ends the reply (nothing but punctuation or markdown after it) and is the
    only label on its line."""
    last = tokens[-1]
    if _JUNK_AFTER.fullmatch(t[last.end :]) is None:
        return False
    line_start = t.rfind("\n", 0, last.start) + 1
    return all(x.end <= line_start for x in tokens[:-1])


def _decide_or_last_line(t: str, tokens: list[_Token]) -> ParsedVerdict:
    """One label, or different labels of which the last ends the reply alone on its line
    (a marker such as "as your final verdict" in a restated label list put them all after it)."""
    out = _decide(tokens)
    if out.label is None and tokens[-1].bracketed and _ends_reply_alone(t, tokens):
        return ParsedVerdict(tokens[-1].label)
    return out


def _final_labels(t: str, fmt: VerdictFormat) -> ParsedVerdict:
    tokens = _tokens(t, fmt)
    if not tokens:
        return ParsedVerdict(None, "no verdict")
    for marker in (_FINAL, _VERDICT):
        ends = [m.end() for m in marker.finditer(t)]
        for end in reversed(ends):
            seg = [x for x in tokens if x.start >= end]
            if seg:
                return _decide_or_last_line(t, [x for x in seg if x.bracketed] or seg)
    bracketed = [x for x in tokens if x.bracketed]
    if bracketed:
        return _decide_or_last_line(t, bracketed)
    last = tokens[-1]
    if _JUNK_AFTER.fullmatch(t[last.end :]) is not None:  # a bare label ending the reply
        return ParsedVerdict(last.label)
    return ParsedVerdict(None, "no verdict")


# -- scores -----------------------------------------------------------------------------------
_NUM = r"(\d+(?:\.\d+)?)"
_OUT_OF = r"(?:\s*/\s*10(?:\.0)?)?"
_WHO = r"(?P<who>[AB12])(?![A-Za-z0-9])"
_SCORE_PATTERNS = [
    # Score A: 7 | Score for A: 7/10 | **Score A**: 7 | Score of Assistant 1: 8 | Score of the Assistant 2 = 5
    re.compile(
        r"score\s*(?:for|of)?\s*(?:the\s+)?(?:assistant|answer|response|output)?\s*" + _WHO + r"[\s*_]*(?:score)?[\s*_]*[:=\-–]\s*[*_]*\s*" + _NUM + _OUT_OF,
        re.IGNORECASE,
    ),
    # Assistant A: 7/10 | Answer A score: 7 | Assistant 2: 5
    re.compile(r"(?:assistant|answer|response|output)\s*" + _WHO + r"[\s*_']*(?:s\s+)?(?:score)?[\s*_]*[:=\-–]\s*[*_]*\s*" + _NUM + _OUT_OF, re.IGNORECASE),
    # "score_a": 7 | "score_1": 7
    re.compile(r"[\"']?score_(?P<who>[ab12])[\"']?\s*[:=]\s*" + _NUM, re.IGNORECASE),
]
_TWO_NUMBERS = re.compile(r"^[\s*_`]*" + _NUM + _OUT_OF + r"\s*(?:[,;]\s*|\s+)" + _NUM + _OUT_OF + r"[\s*_`.]*$", re.MULTILINE)


def parse_scores(text: str | None) -> tuple[float, float] | None:
    """The judge's final (score of the first answer, score of the second), each 1 to 10, or None.

    Accepted: `Score A: 7`, `Score for A: 7/10`, `**Score A**: 7`, `Score of Assistant 1: 8`,
    `Assistant A: 7/10`, `Assistant 2: 5`, `"score_a": 7`, and a line of just two numbers (`8 5`,
    `8, 5`; FastChat's pairwise review). The last complete pair wins: a score quoted earlier (from an
    answer) is overridden by the lines the judge ends with. A score outside 1..10 is no score.
    """
    if not text:
        return None
    t = normalise(text)
    best: dict[str, tuple[int, float]] = {}
    for pat in _SCORE_PATTERNS:
        for m in pat.finditer(t):
            who = {"1": "A", "2": "B"}.get(m["who"], m["who"].upper())
            pos = m.start()
            if who not in best or pos > best[who][0]:
                best[who] = (pos, float(m.group(2)))
    pairs: list[tuple[int, float, float]] = []
    if "A" in best and "B" in best:
        pairs.append((max(best["A"][0], best["B"][0]), best["A"][1], best["B"][1]))
    pairs += [(m.start(), float(m.group(1)), float(m.group(2))) for m in _TWO_NUMBERS.finditer(t)]
    if not pairs:
        return None
    _, a, b = max(pairs)
    if not (1 <= a <= 10 and 1 <= b <= 10):
        return None
    return a, b


def label_from_scores(a: float, b: float, strong_margin: float = SCORE_STRONG_MARGIN) -> str:
    """Five-way label from two scores: equal is A=B, a gap of `strong_margin` or more is strong."""
    d = a - b
    if d == 0:
        return "A=B"
    strong = abs(d) >= strong_margin
    if d > 0:
        return "A>>B" if strong else "A>B"
    return "B>>A" if strong else "B>A"


# -- json ---------------------------------------------------------------------------------------
_WINNER = re.compile(r"[\"']winner[\"']\s*:\s*(\"[^\"\n]*\"|'[^'\n]*'|\d+|null)", re.IGNORECASE)


def _winner_label(value) -> str | None:
    if value is None:
        return None
    v = re.sub(r"\s+", "", str(value)).upper().strip("\"'")
    if (lab := _canon(v)) is not None:
        return lab
    v = re.sub(r"^(?:ASSISTANT|MODEL|OUTPUT|RESPONSE|ANSWER)[_\-]?", "", v)
    if v in ("A", "1"):
        return "A>B"
    if v in ("B", "2"):
        return "B>A"
    if v in ("TIE", "C", "DRAW", "EQUAL", "BOTH", "A=B", "0"):
        return "A=B"
    return None


def _json_winner(t: str) -> ParsedVerdict:
    found = list(_WINNER.finditer(t))
    if not found:
        return ParsedVerdict(None, "no verdict")
    raw = found[-1].group(1)
    try:
        value = json.loads(raw) if not raw.startswith("'") else raw.strip("'")
    except ValueError:
        value = None
    label = _winner_label(value)
    return ParsedVerdict(label) if label else ParsedVerdict(None, f"no verdict (winner {raw})")


# -- entry points -------------------------------------------------------------------------------
def parse_verdict(text: str | None, fmt: VerdictFormat | str = VerdictFormat.LABELS) -> ParsedVerdict:
    """The judge's final verdict in format `fmt`, as a five-way label from the presented A's point of
    view (the first answer shown), or the reason there is none. Pure; never raises on any text.

    Rules (module docstring): normalised first, the final verdict wins, different labels in it are
    `contradictory`, a reply in no accepted form of `fmt` is `no verdict`. After Arena-Hard-Auto's
    `get_score` (contradictory labels are no verdict) and FastChat's `llm_judge` parsers.
    """
    if not text:
        return ParsedVerdict(None, "no verdict")
    fmt = VerdictFormat(fmt)
    t = normalise(text)
    if fmt is VerdictFormat.SCORES:
        scores = parse_scores(t)
        return ParsedVerdict(label_from_scores(*scores)) if scores else ParsedVerdict(None, "no verdict")
    if fmt is VerdictFormat.JSON:
        return _json_winner(t)
    return _final_labels(t, fmt)


def parse_label(text: str | None, fmt: VerdictFormat | str = VerdictFormat.LABELS) -> str | None:
    """The judge's final five-way label (from the presented A's point of view), or None."""
    return parse_verdict(text, fmt).label


_REASK = {
    VerdictFormat.LABELS: "exactly one label, and nothing after it: [[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]].",
    VerdictFormat.MT_BENCH: 'exactly one label, and nothing after it: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, "[[C]]" for a tie.',
    VerdictFormat.SCORES: "exactly these two lines and nothing after them:\nScore of Assistant 1: <1 to 10>\nScore of Assistant 2: <1 to 10>",
    VerdictFormat.JSON: 'exactly one JSON object and nothing after it: {"winner": "A"}, {"winner": "B"} or {"winner": "tie"}.',
}


def reask_prompt(fmt: VerdictFormat | str = VerdictFormat.LABELS, problem: str | None = None) -> str:
    """The follow-up message asking a judge whose reply had no single final verdict for one."""
    why = "gave several different verdicts" if problem and problem.startswith("contradictory") else "did not end with a verdict"
    return f"Your answer {why}. Finish now with your single final verdict: {_REASK[VerdictFormat(fmt)]}"


RETRY_PROMPT = reask_prompt()

__all__ = [
    "DECISIVE_LABELS",
    "RETRY_PROMPT",
    "SCORE_STRONG_MARGIN",
    "ParsedVerdict",
    "VerdictFormat",
    "label_from_scores",
    "normalise",
    "parse_label",
    "parse_scores",
    "parse_verdict",
    "reask_prompt",
    "strip_invisible",
]
