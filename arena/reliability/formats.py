"""Readers for labelled pairs and for verdicts recorded elsewhere, with format detection.

Pair formats (one record per pair; a JSON array or JSON lines):

- `judgebench`: `pair_id`, `question`, `response_A`, `response_B`, `label` ("A>B" or "B>A"), `source` (category).
- `llmbar`: `input`, `output_1`, `output_2`, `label` (1 or 2). Pair ids are the record positions.
- `pandalm`: `idx`, `instruction`, `input`, `response1`, `response2`, `annotator1..3` (0 tie, 1, 2);
  gold is the annotators' majority (no majority: a tie); `motivation_app` is the category.
- `jsonl` (native): `prompt`, `a`, `b`, `label` in {a, b, tie}, optional `category` and `id`.

Verdict formats (games recorded by some judge, from the original A's point of view):

- `llmbar`: the pairs again, each with `results[0]["swap = False" | "swap = True"]["winner"]` ("1" or
  "2", already mapped back to the original order); joined with the pairs by position.
- `pandalm`: `idx` and one `<judge>_result` key (0 or "Tie" a tie, 1, 2; anything else unparsed); one game.
- `judgebench`: `pair_id` and `judgments`: [game in the original order, game with the answers swapped]
  each `{"decision": "A>B" | "B>A" | "A=B" | ...}` or null; the second decision is in swapped order.
- `jsonl` (native): `pair_id`, `order` ("AB" or "BA"), `label` (five-way label from the original A's
  point of view, or a, b, tie, unparsed, error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from annotated_types import Len
from pydantic import AliasChoices, BeforeValidator, Field

from arena.errors import RecordError
from arena.io import Id, OptText, Record, Row, Text, read_records

Gold = Literal["a", "b", "tie"]
Pick = Literal["a", "b", "tie", "unparsed", "error"]
PairFormat = Literal["judgebench", "llmbar", "pandalm", "jsonl"]
PAIR_FORMATS: tuple[str, ...] = get_args(PairFormat)

# Five-way labels (from A's point of view) and their plain picks.
LABEL_PICK: dict[str, Pick] = {
    "A>>B": "a",
    "A>B": "a",
    "A=B": "tie",
    "B>A": "b",
    "B>>A": "b",
    "unparsed": "unparsed",
    "error": "error",
}


class PairsFileError(RecordError):
    """A pairs or verdicts file is not in the format expected."""


@dataclass(frozen=True, slots=True)
class Pair:
    """One labelled pair: a prompt, two answers, and the gold preference."""

    pair_id: str
    prompt: str
    a: str
    b: str
    gold: Gold
    category: str | None = None


@dataclass(frozen=True, slots=True)
class PairSet:
    path: Path
    format: str
    pairs: list[Pair]
    limited: bool = False  # read with a limit: the file holds more pairs


@dataclass(slots=True)
class GameRecord:
    """One judge game on one pair. `order` "AB" shows answer a first; `pick` is from the original order."""

    pair_id: str
    order: Literal["AB", "BA"]
    pick: Pick
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    cached_calls: int = 0
    detail: dict = field(default_factory=dict)


# -- reading records ------------------------------------------------------------------------


def _records(path: Path) -> list[Record]:
    """Each object of a JSON array or a JSON-lines file (`arena.io`: `path:line` / `path:item N`)."""
    return read_records(path, "auto", what="pair")


def _answer_text(v: object) -> object:
    """An answer's text; a JSON number or boolean (PandaLM has answers that are `true`) becomes its text."""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int | float):
        return str(v)
    return v


Answer = Annotated[str, BeforeValidator(_answer_text)]


def _digit(v: object) -> object:
    return int(v) if isinstance(v, str) and v.strip().isdigit() else v


Vote = Annotated[Literal[0, 1, 2], BeforeValidator(_digit)]


class JudgeBenchPair(Row):
    pair_id: Id | None = None
    question: Text
    response_A: Answer
    response_B: Answer
    label: Literal["A>B", "A>>B", "B>A", "B>>A", "A=B"]
    source: OptText = None

    def pair(self, i: int) -> Pair:
        gold = {"A>B": "a", "A>>B": "a", "B>A": "b", "B>>A": "b", "A=B": "tie"}[self.label]
        pid = self.pair_id if self.pair_id is not None else str(i)
        return Pair(pid, self.question, self.response_A, self.response_B, gold, self.source)  # type: ignore[arg-type]


class LLMBarPair(Row):
    input: Text
    output_1: Answer
    output_2: Answer
    label: Annotated[Literal[1, 2], BeforeValidator(_digit)]
    category: OptText = None

    def pair(self, i: int) -> Pair:
        return Pair(str(i), self.input, self.output_1, self.output_2, "a" if self.label == 1 else "b", self.category)


class PandaLMPair(Row):
    idx: Id
    instruction: Text
    input: OptText = None
    response1: Answer
    response2: Answer
    annotator1: Vote
    annotator2: Vote
    annotator3: Vote
    motivation_app: OptText = None

    def pair(self, i: int) -> Pair:
        extra = self.input or ""
        prompt = f"{self.instruction}\n\n{extra}" if extra.strip() else self.instruction
        gold = pandalm_majority([self.annotator1, self.annotator2, self.annotator3])
        return Pair(self.idx, prompt, self.response1, self.response2, gold, self.motivation_app)


class NativePair(Row):
    id: Id | None = Field(None, validation_alias=AliasChoices("id", "pair_id"))
    prompt: Text
    a: Answer
    b: Answer
    label: Literal["a", "b", "tie"]
    category: OptText = None

    def pair(self, i: int) -> Pair:
        return Pair(self.id if self.id is not None else str(i), self.prompt, self.a, self.b, self.label, self.category)


PAIR_ROWS: dict[str, type[Row]] = {
    "judgebench": JudgeBenchPair,
    "llmbar": LLMBarPair,
    "pandalm": PandaLMPair,
    "jsonl": NativePair,
}

_PAIR_KEYS: dict[str, tuple[str, ...]] = {
    "judgebench": ("question", "response_A", "response_B", "label"),
    "llmbar": ("input", "output_1", "output_2", "label"),
    "pandalm": ("instruction", "response1", "response2", "annotator1", "annotator2", "annotator3"),
    "jsonl": ("prompt", "a", "b", "label"),
}


def detect_pairs_format(path: Path, records: list[Record] | None = None) -> str:
    """The pair format of a file, from the keys of its first record."""
    records = records if records is not None else _records(path)
    first = records[0]
    for fmt, keys in _PAIR_KEYS.items():
        if keys[1] in first.data and keys[2] in first.data:
            return fmt
    raise PairsFileError(
        f"{first.where}: cannot tell the pairs format from its keys {sorted(first.data)[:8]} "
        f"(expected judgebench: response_A/response_B, llmbar: output_1/output_2, pandalm: response1/response2, "
        f"jsonl: prompt/a/b; or pass --input-format)"
    )


def pandalm_majority(votes: list[int]) -> Gold:
    """The annotators' majority of PandaLM labels (0 tie, 1, 2); no majority is a tie."""
    value, count = Counter(votes).most_common(1)[0]
    if count * 2 <= len(votes):
        return "tie"
    return {0: "tie", 1: "a", 2: "b"}[value]  # type: ignore[return-value]


def read_pairs(path: str | Path, fmt: str | None = None, *, limit: int | None = None) -> PairSet:
    """Read labelled pairs; the format is detected from the first record when not given."""
    path = Path(path)
    if fmt is not None and fmt not in PAIR_FORMATS:
        raise PairsFileError(f"{path}: unknown input format {fmt!r} (expected one of: {', '.join(PAIR_FORMATS)})")
    records = _records(path)
    fmt = fmt or detect_pairs_format(path, records)
    row_model = PAIR_ROWS[fmt]
    pairs: list[Pair] = []
    seen: dict[str, str] = {}
    for i, rec in enumerate(records):
        if limit is not None and len(pairs) >= limit:
            break
        p = row_model.parse(rec).pair(i)  # type: ignore[attr-defined]
        if p.pair_id in seen:
            raise PairsFileError(f"{rec.where}: pair id {p.pair_id!r} repeats the one at {seen[p.pair_id]}")
        seen[p.pair_id] = rec.where
        pairs.append(p)
    return PairSet(path, fmt, pairs, limit is not None and len(records) > len(pairs))


# -- recorded verdicts --------------------------------------------------------------------------

VerdictFormat = Literal["judgebench", "llmbar", "pandalm", "jsonl"]


def detect_verdicts_format(path: Path, records: list[Record]) -> str:
    first = records[0].data
    if "results" in first:
        return "llmbar"
    if "judgments" in first:
        return "judgebench"
    if "idx" in first and any(k.endswith("_result") for k in first):
        return "pandalm"
    if "pair_id" in first and "order" in first:
        return "jsonl"
    raise PairsFileError(
        f"{records[0].where}: cannot tell the verdicts format from its keys {sorted(first)[:8]} (expected llmbar: results, "
        "judgebench: judgments, pandalm: idx and <judge>_result, jsonl: pair_id/order/label)"
    )


class LLMBarVerdict(Row):
    input: Text | None = None
    results: Annotated[list[dict[str, Any]], Len(min_length=1)]


class JudgeBenchGame(Row):
    decision: Any = None


class JudgeBenchVerdict(Row):
    pair_id: Id
    judgments: Annotated[list[JudgeBenchGame | None], Len(min_length=1, max_length=2)]


class NativeVerdict(Row):
    pair_id: Id
    order: Literal["AB", "BA"]
    label: Text


def _winner_pick(value) -> Pick:
    """An LLMBar winner ("1", "2", 1, 2; a tie as 0 or "tie") in the original order."""
    if value in (1, "1"):
        return "a"
    if value in (2, "2"):
        return "b"
    if value in (0, "0") or (isinstance(value, str) and value.strip().lower() in ("tie", "0.5")):
        return "tie"
    return "unparsed"


def pandalm_pick(value) -> Pick:
    """A PandaLM verdict: 1, 2, 0 or "Tie" (a tie); anything else (such as "garbage") is unparsed."""
    if isinstance(value, bool):
        return "unparsed"
    if isinstance(value, str):
        value = value.strip()
        if value.lower() == "tie":
            return "tie"
    if value in (1, "1"):
        return "a"
    if value in (2, "2"):
        return "b"
    if value in (0, "0"):
        return "tie"
    return "unparsed"


def judgebench_pick(decision) -> Pick:
    """A JudgeBench decision in the order it was played ("A>B", "B>A", "A=B"; None: the call failed)."""
    if decision is None:
        return "error"
    if not isinstance(decision, str):
        return "unparsed"
    d = decision.strip()
    return LABEL_PICK.get(d, "unparsed")


_FLIP: dict[str, Pick] = {"a": "b", "b": "a"}


def _llmbar_verdicts(path: Path, records: list[Record], pairs: PairSet) -> Iterator[GameRecord]:
    if pairs.format != "llmbar":
        raise PairsFileError(f"{path}: llmbar verdicts join by position with llmbar pairs, not {pairs.format} pairs")
    if len(records) < len(pairs.pairs):
        raise PairsFileError(f"{path}: {len(records)} verdict records for {len(pairs.pairs)} pairs in {pairs.path}")
    for rec, pair in zip(records, pairs.pairs):
        v = LLMBarVerdict.parse(rec)
        if v.input is not None and v.input != pair.prompt:
            raise PairsFileError(f"{rec.where}: field 'input' differs from pair {pair.pair_id} of {pairs.path}")
        for key, order in (("swap = False", "AB"), ("swap = True", "BA")):
            game = v.results[0].get(key)
            if game is None:
                continue
            if not isinstance(game, dict) or "winner" not in game:
                raise PairsFileError(f"{rec.where}: missing field 'results[0][\"{key}\"].winner'")
            yield GameRecord(pair.pair_id, order, _winner_pick(game["winner"]))  # type: ignore[arg-type]


def _pandalm_verdicts(path: Path, records: list[Record], pairs: PairSet) -> Iterator[GameRecord]:
    for rec in records:
        keys = [k for k in rec.data if k.endswith("_result")]
        if "idx" not in rec.data or len(keys) != 1:
            raise PairsFileError(f"{rec.where}: expected field 'idx' and exactly one '<judge>_result' field")
        yield GameRecord(PandaLMVerdictId.parse(rec).idx, "AB", pandalm_pick(rec.data[keys[0]]))


def _judgebench_verdicts(path: Path, records: list[Record], pairs: PairSet) -> Iterator[GameRecord]:
    for rec in records:
        jb = JudgeBenchVerdict.parse(rec)
        for j, order in zip(jb.judgments, ("AB", "BA")):
            pick = judgebench_pick(None if j is None else j.decision)
            if order == "BA":
                pick = _FLIP.get(pick, pick)
            yield GameRecord(jb.pair_id, order, pick)  # type: ignore[arg-type]


def _native_verdicts(path: Path, records: list[Record], pairs: PairSet) -> Iterator[GameRecord]:
    for rec in records:
        nv = NativeVerdict.parse(rec)
        pick = LABEL_PICK.get(nv.label)
        if pick is None and nv.label in ("a", "b", "tie"):
            pick = nv.label  # type: ignore[assignment]
        if pick is None:
            raise PairsFileError(
                f"{rec.where}: field 'label': expected a five-way label (A>>B .. B>>A), a, b, tie, unparsed or error;"
                f" got {nv.label!r}"
            )
        yield GameRecord(nv.pair_id, nv.order, pick)


_VERDICT_READERS = {
    "llmbar": _llmbar_verdicts,
    "pandalm": _pandalm_verdicts,
    "judgebench": _judgebench_verdicts,
    "jsonl": _native_verdicts,
}


def _iter_verdicts(path: Path, fmt: str, records: list[Record], pairs: PairSet) -> Iterator[GameRecord]:
    return _VERDICT_READERS[fmt](path, records, pairs)


class PandaLMVerdictId(Row):
    idx: Id


def read_verdicts(path: str | Path, pairs: PairSet, fmt: str | None = None) -> list[GameRecord]:
    """Games recorded elsewhere, joined with `pairs`. Every pair id must be known; a pair may lack games."""
    path = Path(path)
    records = _records(path)
    if fmt is not None and fmt not in PAIR_FORMATS:
        raise PairsFileError(f"{path}: unknown verdicts format {fmt!r} (expected one of: {', '.join(PAIR_FORMATS)})")
    fmt = fmt or detect_verdicts_format(path, records)
    known = {p.pair_id for p in pairs.pairs}
    games: list[GameRecord] = []
    seen: set[tuple[str, str]] = set()
    for g in _iter_verdicts(path, fmt, records, pairs):
        if g.pair_id not in known:
            if pairs.limited:
                continue  # pairs were read with --limit: skip verdicts of the rest
            raise PairsFileError(f"{path}: pair id {g.pair_id!r} is not in {pairs.path}")
        if (g.pair_id, g.order) in seen:
            raise PairsFileError(f"{path}: pair id {g.pair_id!r} has two games in order {g.order}")
        seen.add((g.pair_id, g.order))
        games.append(g)
    return games

