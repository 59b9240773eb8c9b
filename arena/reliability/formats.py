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

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from arena.errors import BadInput, NotFound

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


class PairsFileError(BadInput):
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


def _records(path: Path) -> list[tuple[str, dict]]:
    """(where, record) for each object of a JSON array or a JSON-lines file."""
    if not path.exists():
        raise NotFound(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PairsFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    stripped = text.lstrip()
    if not stripped:
        raise PairsFileError(f"{path}: the file is empty (expected a JSON array or JSON lines of pairs)")
    out: list[tuple[str, dict]] = []
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise PairsFileError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise PairsFileError(f"{path}: item {i}: expected a JSON object, got {type(rec).__name__}")
            out.append((f"item {i}", rec))
        return out
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise PairsFileError(f"{path}: line {n}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise PairsFileError(f"{path}: line {n}: expected a JSON object, got {type(rec).__name__}")
        out.append((f"line {n}", rec))
    if not out:
        raise PairsFileError(f"{path}: no records found")
    return out


_PAIR_KEYS: dict[str, tuple[str, ...]] = {
    "judgebench": ("question", "response_A", "response_B", "label"),
    "llmbar": ("input", "output_1", "output_2", "label"),
    "pandalm": ("instruction", "response1", "response2", "annotator1", "annotator2", "annotator3"),
    "jsonl": ("prompt", "a", "b", "label"),
}


def detect_pairs_format(path: Path, records: list[tuple[str, dict]] | None = None) -> str:
    """The pair format of a file, from the keys of its first record."""
    records = records if records is not None else _records(path)
    where, first = records[0]
    for fmt, keys in _PAIR_KEYS.items():
        if keys[1] in first and keys[2] in first:
            return fmt
    raise PairsFileError(
        f"{path}: {where}: cannot tell the pairs format from its keys {sorted(first)[:8]} "
        f"(expected judgebench: response_A/response_B, llmbar: output_1/output_2, pandalm: response1/response2, "
        f"jsonl: prompt/a/b; or pass --input-format)"
    )


def _need(path: Path, where: str, rec: dict, key: str, types: tuple[type, ...] = (str,)):
    if key not in rec:
        raise PairsFileError(f"{path}: {where}: key '{key}' is missing")
    v = rec[key]
    if not isinstance(v, types) or isinstance(v, bool):
        names = " or ".join(t.__name__ for t in types)
        raise PairsFileError(f"{path}: {where}: key '{key}': expected {names}, got {type(v).__name__}")
    return v


def _answer(path: Path, where: str, rec: dict, key: str) -> str:
    """An answer's text; a JSON number or boolean (PandaLM has answers that are `true`) becomes its text."""
    if key not in rec:
        raise PairsFileError(f"{path}: {where}: key '{key}' is missing")
    v = rec[key]
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int | float):
        return str(v)
    raise PairsFileError(f"{path}: {where}: key '{key}': expected text, got {type(v).__name__}")


def _gold_judgebench(path: Path, where: str, rec: dict) -> Gold:
    label = _need(path, where, rec, "label")
    table = {"A>B": "a", "A>>B": "a", "B>A": "b", "B>>A": "b", "A=B": "tie"}
    if label not in table:
        raise PairsFileError(f"{path}: {where}: key 'label': expected \"A>B\" or \"B>A\", got {label!r}")
    return table[label]  # type: ignore[return-value]


def _gold_llmbar(path: Path, where: str, rec: dict) -> Gold:
    label = rec.get("label")
    if label in (1, "1"):
        return "a"
    if label in (2, "2"):
        return "b"
    if "label" not in rec:
        raise PairsFileError(f"{path}: {where}: key 'label' is missing")
    raise PairsFileError(f"{path}: {where}: key 'label': expected 1 or 2, got {label!r}")


def pandalm_majority(votes: list[int]) -> Gold:
    """The annotators' majority of PandaLM labels (0 tie, 1, 2); no majority is a tie."""
    value, count = Counter(votes).most_common(1)[0]
    if count * 2 <= len(votes):
        return "tie"
    return {0: "tie", 1: "a", 2: "b"}[value]  # type: ignore[return-value]


def _gold_pandalm(path: Path, where: str, rec: dict) -> Gold:
    votes = []
    for k in ("annotator1", "annotator2", "annotator3"):
        v = rec.get(k)
        if k not in rec:
            raise PairsFileError(f"{path}: {where}: key '{k}' is missing")
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if v not in (0, 1, 2) or isinstance(v, bool):
            raise PairsFileError(f"{path}: {where}: key '{k}': expected 0 (tie), 1 or 2, got {v!r}")
        votes.append(v)
    return pandalm_majority(votes)


def _pair(path: Path, fmt: str, i: int, where: str, rec: dict) -> Pair:
    if fmt == "judgebench":
        pid = rec.get("pair_id", i)
        return Pair(
            str(pid),
            _need(path, where, rec, "question"),
            _answer(path, where, rec, "response_A"),
            _answer(path, where, rec, "response_B"),
            _gold_judgebench(path, where, rec),
            rec.get("source") if isinstance(rec.get("source"), str) else None,
        )
    if fmt == "llmbar":
        return Pair(
            str(i),
            _need(path, where, rec, "input"),
            _answer(path, where, rec, "output_1"),
            _answer(path, where, rec, "output_2"),
            _gold_llmbar(path, where, rec),
            rec.get("category") if isinstance(rec.get("category"), str) else None,
        )
    if fmt == "pandalm":
        instruction = _need(path, where, rec, "instruction")
        extra = rec.get("input") or ""
        if not isinstance(extra, str):
            raise PairsFileError(f"{path}: {where}: key 'input': expected str, got {type(extra).__name__}")
        prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        pid = _need(path, where, rec, "idx", (int, str))
        return Pair(
            str(pid),
            prompt,
            _answer(path, where, rec, "response1"),
            _answer(path, where, rec, "response2"),
            _gold_pandalm(path, where, rec),
            rec.get("motivation_app") if isinstance(rec.get("motivation_app"), str) else None,
        )
    # native jsonl
    label = _need(path, where, rec, "label")
    if label not in ("a", "b", "tie"):
        raise PairsFileError(f"{path}: {where}: key 'label': expected a, b or tie, got {label!r}")
    cat = rec.get("category")
    if cat is not None and not isinstance(cat, str):
        raise PairsFileError(f"{path}: {where}: key 'category': expected str, got {type(cat).__name__}")
    pid = rec.get("id", rec.get("pair_id", i))
    return Pair(
        str(pid),
        _need(path, where, rec, "prompt"),
        _answer(path, where, rec, "a"),
        _answer(path, where, rec, "b"),
        label,
        cat,
    )


def read_pairs(path: str | Path, fmt: str | None = None, *, limit: int | None = None) -> PairSet:
    """Read labelled pairs; the format is detected from the first record when not given."""
    path = Path(path)
    if fmt is not None and fmt not in PAIR_FORMATS:
        raise PairsFileError(f"{path}: unknown input format {fmt!r} (expected one of: {', '.join(PAIR_FORMATS)})")
    records = _records(path)
    fmt = fmt or detect_pairs_format(path, records)
    pairs: list[Pair] = []
    seen: dict[str, str] = {}
    for i, (where, rec) in enumerate(records):
        if limit is not None and len(pairs) >= limit:
            break
        p = _pair(path, fmt, i, where, rec)
        if p.pair_id in seen:
            raise PairsFileError(f"{path}: {where}: pair id {p.pair_id!r} repeats the one at {seen[p.pair_id]}")
        seen[p.pair_id] = where
        pairs.append(p)
    return PairSet(path, fmt, pairs, limit is not None and len(records) > len(pairs))


# -- recorded verdicts --------------------------------------------------------------------------

VerdictFormat = Literal["judgebench", "llmbar", "pandalm", "jsonl"]


def detect_verdicts_format(path: Path, records: list[tuple[str, dict]]) -> str:
    where, first = records[0]
    if "results" in first:
        return "llmbar"
    if "judgments" in first:
        return "judgebench"
    if "idx" in first and any(k.endswith("_result") for k in first):
        return "pandalm"
    if "pair_id" in first and "order" in first:
        return "jsonl"
    raise PairsFileError(
        f"{path}: {where}: cannot tell the verdicts format from its keys {sorted(first)[:8]} (expected llmbar: results, "
        "judgebench: judgments, pandalm: idx and <judge>_result, jsonl: pair_id/order/label)"
    )


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


def _iter_verdicts(path: Path, fmt: str, records: list[tuple[str, dict]], pairs: PairSet) -> Iterator[GameRecord]:
    if fmt == "llmbar":
        if pairs.format != "llmbar":
            raise PairsFileError(f"{path}: llmbar verdicts join by position with llmbar pairs, not {pairs.format} pairs")
        if len(records) < len(pairs.pairs):
            raise PairsFileError(f"{path}: {len(records)} verdict records for {len(pairs.pairs)} pairs in {pairs.path}")
        for (where, rec), pair in zip(records, pairs.pairs):
            if "input" in rec and rec["input"] != pair.prompt:
                raise PairsFileError(f"{path}: {where}: key 'input' differs from pair {pair.pair_id} of {pairs.path}")
            results = rec.get("results")
            if not isinstance(results, list) or not results or not isinstance(results[0], dict):
                raise PairsFileError(f"{path}: {where}: key 'results': expected a list of one object per evaluation")
            for key, order in (("swap = False", "AB"), ("swap = True", "BA")):
                game = results[0].get(key)
                if game is None:
                    continue
                if not isinstance(game, dict) or "winner" not in game:
                    raise PairsFileError(f"{path}: {where}: key 'results[0][\"{key}\"].winner' is missing")
                yield GameRecord(pair.pair_id, order, _winner_pick(game["winner"]))  # type: ignore[arg-type]
        return
    if fmt == "pandalm":
        for where, rec in records:
            keys = [k for k in rec if k.endswith("_result")]
            if "idx" not in rec or len(keys) != 1:
                raise PairsFileError(f"{path}: {where}: expected key 'idx' and exactly one '<judge>_result' key")
            yield GameRecord(str(rec["idx"]), "AB", pandalm_pick(rec[keys[0]]))
        return
    if fmt == "judgebench":
        for where, rec in records:
            judgments = rec.get("judgments")
            if "pair_id" not in rec:
                raise PairsFileError(f"{path}: {where}: key 'pair_id' is missing")
            if not isinstance(judgments, list) or not 1 <= len(judgments) <= 2:
                raise PairsFileError(f"{path}: {where}: key 'judgments': expected a list of one or two games")
            for k, (j, order) in enumerate(zip(judgments, ("AB", "BA"))):
                if j is not None and not isinstance(j, dict):
                    raise PairsFileError(f"{path}: {where}: key 'judgments[{k}]': expected an object or null")
                pick = judgebench_pick(None if j is None else j.get("decision"))
                if order == "BA":
                    pick = _FLIP.get(pick, pick)
                yield GameRecord(str(rec["pair_id"]), order, pick)  # type: ignore[arg-type]
        return
    for where, rec in records:
        for key in ("pair_id", "order", "label"):
            if key not in rec:
                raise PairsFileError(f"{path}: {where}: key '{key}' is missing")
        if rec["order"] not in ("AB", "BA"):
            raise PairsFileError(f"{path}: {where}: key 'order': expected AB or BA, got {rec['order']!r}")
        label = rec["label"]
        pick = LABEL_PICK.get(label) if isinstance(label, str) else None
        if pick is None and label in ("a", "b", "tie"):
            pick = label
        if pick is None:
            raise PairsFileError(
                f"{path}: {where}: key 'label': expected a five-way label (A>>B .. B>>A), a, b, tie, unparsed or error; got {label!r}"
            )
        yield GameRecord(str(rec["pair_id"]), rec["order"], pick)


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

