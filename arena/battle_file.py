"""Battle files for `arena ratings fit/elo`: CSV, TSV, JSON lines or JSON (Chatbot Arena's format too).

Read through `arena.io` (so errors are `path:line:` / `path:item N:` on one line) and checked
per record by the `BattleRow` model. Sample-level measurements (`read_samples`: a model's score
per sample, or a ranking per sample) for Plackett-Luce come through the same reader. The I/O edge of the ratings package, which stays pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, model_validator

from arena.errors import NotFound, RecordError
from arena.io import Id, Name, Record, Row, iter_records

_WINNER = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "tie"}
_OUTCOME = {"a": "a", "b": "b", "tie": "tie"}
_STYLE_KEYS = ("length", "headers", "lists", "bold")
_LABEL = {"A>>B": ("a", True), "A>B": ("a", False), "A=B": ("tie", False), "B>A": ("b", False), "B>>A": ("b", True)}


class BattleFileError(RecordError):
    """A battle file is malformed (names the file and line)."""


class BattleRow(Row):
    """One battle: Chatbot Arena's `model_a, model_b, winner` (model_a | model_b | tie | tie (bothbad)),
    or `outcome` (a | b | tie), or a five-way `label` (A>>B | A>B | A=B | B>A | B>>A; `strong` for
    A>>B and B>>A, Arena-Hard's verdicts); optional `question_id` (or `prompt_id`) and `weight` (>= 0).

    CSV values are all strings, so numbers are parsed from text (lax mode); model names must be
    non-empty strings in every format (a JSON number or NaN is refused, never turned into "nan").
    """

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)

    model_a: Name
    model_b: Name
    outcome: Literal["a", "b", "tie"]
    weight: float = 1.0
    prompt_id: Id | None = None
    strong: bool = False

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, d: Any) -> Any:
        if not isinstance(d, dict):
            return d
        d = dict(d)
        if d.get("model_a") in (None, "") or d.get("model_b") in (None, ""):
            raise ValueError("missing model_a or model_b")
        winner = d.get("winner")
        if winner not in (None, ""):
            out = _WINNER.get(str(winner).strip()) if isinstance(winner, str) else None
            if out is None:
                raise ValueError(f"winner must be model_a, model_b, tie or 'tie (bothbad)', got {winner!r}")
        elif "outcome" in d:
            out = _OUTCOME.get(d["outcome"].strip().lower()) if isinstance(d["outcome"], str) else None
            if out is None:
                raise ValueError(f"outcome must be a, b or tie, got {d['outcome']!r}")
        elif "label" in d:
            got = _LABEL.get(d["label"].strip()) if isinstance(d["label"], str) else None
            if got is None:
                raise ValueError(f"label must be one of A>>B, A>B, A=B, B>A, B>>A, got {d['label']!r}")
            out, d["strong"] = got
        else:
            raise ValueError("missing winner (model_a|model_b|tie|tie (bothbad)), outcome (a|b|tie) or label (A>>B..B>>A)")
        d["outcome"] = out
        weight = d.get("weight")
        if weight in (None, ""):
            weight = 1.0
        try:
            weight = float(weight)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"weight must be a number, got {weight!r}") from None
        if not (weight >= 0 and math.isfinite(weight)):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        d["weight"] = weight
        pid = d.get("question_id", d.get("prompt_id"))
        d["prompt_id"] = None if pid in (None, "") else pid
        return d

    @model_validator(mode="after")
    def _two_models(self) -> BattleRow:
        if self.model_a == self.model_b:
            raise ValueError(f"model_a and model_b are both {self.model_a!r}")
        return self


def _count(v: Any) -> float:
    if isinstance(v, dict):
        return float(sum(float(x) for x in v.values()))
    return float(v)


def _style_counts(rec: Record) -> tuple[list[float], list[float]]:
    where, data = rec.where, rec.data
    meta = data.get("conv_metadata")
    try:
        if isinstance(meta, str) and meta.strip().startswith("{"):
            meta = json.loads(meta)
        if isinstance(meta, dict):
            keys = ("sum_assistant_{}_tokens", "header_count_{}", "list_count_{}", "bold_count_{}")
            return ([_count(meta[k.format("a")]) for k in keys], [_count(meta[k.format("b")]) for k in keys])
        if "answer_a" in data and "answer_b" in data:
            from arena.ratings import style_counts

            return list(style_counts(str(data["answer_a"]))), list(style_counts(str(data["answer_b"])))
        if all(f"{k}_a" in data and f"{k}_b" in data for k in _STYLE_KEYS):
            return [float(data[f"{k}_a"]) for k in _STYLE_KEYS], [float(data[f"{k}_b"]) for k in _STYLE_KEYS]
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as e:
        raise BattleFileError(f"{where}: bad style metadata ({e})") from None
    raise BattleFileError(
        f"{where}: --style needs per-battle style data: conv_metadata (Chatbot Arena), answer_a/answer_b texts,"
        " or length_a/length_b, headers_a/_b, lists_a/_b, bold_a/_b counts"
    )


def _records(path: str | Path) -> Iterator[Record]:
    """The records of a battle or sample file; reader errors are `BattleFileError`s (same text)."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path}: no such battle file")
    try:
        yield from iter_records(path, list_key="battles", what="battle")
    except BattleFileError:
        raise
    except RecordError as e:
        raise BattleFileError(str(e)) from None


def read_battle_file(path: str | Path, *, style: bool = False, strong_weight: float = 3.0, skipped: dict | None = None):
    """Battles (and style features when asked) from a CSV, TSV, JSONL or JSON battle file.

    A strong `label` (A>>B, B>>A) counts `strong_weight` wins (Arena-Hard's rule), times the row's
    `weight`. A row pitting a model against itself (Arena-Hard writes the baseline against itself)
    is not a battle: it is skipped and counted in `skipped["self"]` when a dict is given.

    A JSON file is a list of battle objects or an object with a `battles` list. Returns
    `(BattleArrays, StyleFeatures | None)`: one entry per battle, models and prompts indexed in
    order of first appearance; a battle without a prompt id is its own prompt cluster.
    Raises `NotFound` (no file) or `RecordError` (`BattleFileError` and kin; one line, `path:line:`
    or `path:item N:`). Style counts follow Chatbot Arena's style control (Li et al., 2024, "Does style matter?").
    """
    from arena.ratings import STYLE_NAMES, BattleArrays, style_from_counts

    path = Path(path)
    models: dict[str, int] = {}
    prompts: dict[str, int] = {}
    a, b, s, w, p = [], [], [], [], []
    ca, cb = [], []
    n = 0
    n_self = 0
    for rec in _records(path):
        ma, mb = rec.data.get("model_a"), rec.data.get("model_b")
        if isinstance(ma, str) and ma.strip() and ma == mb:
            n_self += 1
            continue
        row = BattleRow.parse(rec)
        pid = f"#line{n}" if row.prompt_id is None else row.prompt_id
        if style:
            xa, xb = _style_counts(rec)
            ca.append(xa)
            cb.append(xb)
        a.append(models.setdefault(row.model_a, len(models)))
        b.append(models.setdefault(row.model_b, len(models)))
        s.append({"a": 1.0, "b": 0.0, "tie": 0.5}[row.outcome])
        w.append(row.weight * (strong_weight if row.strong else 1.0))
        p.append(prompts.setdefault(pid, len(prompts)))
        n += 1
    if skipped is not None:
        skipped["self"] = n_self
    if n == 0:
        raise BattleFileError(f"{path}: no battles found" + (f" ({n_self} rows pit a model against itself)" if n_self else ""))
    arrays = BattleArrays(list(models), a, b, s, w, p, list(prompts))
    feats = style_from_counts(ca, cb, STYLE_NAMES) if style else None
    return arrays, feats


# -- sample-level measurements (Plackett-Luce) -----------------------------------------------------

_SAMPLE_ID = ("sample_id", "prompt_id", "question_id")
_SCORE_KEYS = ("score", "correct", "pass", "passed")


def is_sample_file(path: str | Path) -> bool:
    """Whether a record file holds sample-level measurements (`model` + score, or `ranking`) rather than battles."""
    for r in _records(path):
        return "model_a" not in r.data and ("ranking" in r.data or "model" in r.data)
    return False


def _score(key: str, v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        t = v.strip().lower()
        if t in ("true", "pass", "passed", "yes"):
            return 1.0
        if t in ("false", "fail", "failed", "no"):
            return 0.0
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{key} must be a number or pass/fail, got {v!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{key} must be a finite number, got {v!r}")
    return x


class SampleRow(Row):
    """One sample-level measurement: `{sample_id, model, score}` (or `correct` / `pass` / `passed`:
    true/false, pass/fail; `prompt_id` / `question_id` name the sample too), or `{sample_id,
    ranking}` with `ranking` a list of models best first (in CSV, text `a>b>c`). An integer `turn`
    other than 1 makes the sample `<id>:turn<N>`: FastChat's single-answer grading
    (`model_judgment/gpt-4_single.jsonl`: question_id, model, score 1-10, turn) scores each turn.

    CSV values are all strings, so numbers are parsed from text (lax mode); `sample_id` is None
    only for a ranking (each such ranking is then its own sample)."""

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)
    what = "sample"

    sample_id: Id | None = None
    model: Name | None = None
    score: float | None = None
    ranking: tuple[Name, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, d: Any) -> Any:
        if not isinstance(d, dict):
            return d
        out: dict[str, Any] = {"sample_id": next((d[k] for k in _SAMPLE_ID if d.get(k) not in (None, "")), None)}
        turn = d.get("turn")
        if out["sample_id"] is not None and isinstance(turn, int) and not isinstance(turn, bool) and turn != 1:
            out["sample_id"] = f"{out['sample_id']}:turn{turn}"  # FastChat's single grading scores each turn: a sample per (question, turn)
        if "ranking" in d:
            ranking = d["ranking"]
            if isinstance(ranking, str):
                ranking = [m.strip() for m in ranking.split(">")]
            if not isinstance(ranking, list) or not all(isinstance(m, str) and m.strip() for m in ranking):
                raise ValueError("ranking must be a list of model names, best first")
            if len(set(ranking)) != len(ranking):
                dup = next(m for m in ranking if ranking.count(m) > 1)
                raise ValueError(f"ranking names model {dup!r} twice")
            if len(ranking) < 2:
                raise ValueError(f"a ranking needs at least two models, got {len(ranking)}")
            return {**out, "ranking": tuple(ranking)}
        m = d.get("model")
        if not isinstance(m, str) or not m.strip():
            raise ValueError("expected a model name and a score, or a ranking")
        if out["sample_id"] is None:
            raise ValueError("missing sample_id (or prompt_id / question_id): the sample this score belongs to")
        key = next((k for k in _SCORE_KEYS if k in d), None)
        if key is None:
            raise ValueError("missing score (a number) or correct/pass (true/false)")
        return {**out, "model": m, "score": _score(key, d[key])}


def read_samples(path: str | Path):
    """Sample-level measurements for Plackett-Luce from a CSV, TSV, JSONL or JSON file, one
    `SampleRow` per record (a model's score on a sample, or a ranking of models on a sample).

    Returns `SampleMeasurements`: models and samples indexed in order of first appearance, one
    entry per (sample, model) with its score (a ranking's position p scores -p). Raises `NotFound`
    (no file) or `RecordError` on one line (`path:line:` / `path:item N:`): a bad record, a sample
    measuring a model twice or only one model, or no measurement at all. Method: Plackett-Luce
    over per-sample orderings (Plackett 1975; Luce 1959), as `arena.ratings.fit_plackett_luce` fits it."""
    import numpy as np

    from arena.ratings import SampleMeasurements

    models: dict[str, int] = {}
    samples: dict[str, int] = {}
    first: dict[str, str] = {}
    seen: dict[tuple[int, int], str] = {}
    si, mi, sc = [], [], []

    def add(where: str, sid: str, s: int, model: str, score: float) -> None:
        k = models.setdefault(model, len(models))
        if (s, k) in seen:
            raise BattleFileError(f"{where}: sample {sid!r} measures model {model!r} twice (also at {seen[s, k]})")
        seen[s, k] = where
        si.append(s)
        mi.append(k)
        sc.append(score)

    for n, rec in enumerate(_records(path)):
        if rec.data.get("score") == -1 and "judgment" in rec.data and "judge" in rec.data:
            continue  # FastChat's single grading writes -1 when the judge's reply had no rating; its show_result.py drops them
        row = SampleRow.parse(rec)
        if row.ranking is not None:
            s = samples.setdefault(f"#item{n}" if row.sample_id is None else row.sample_id, len(samples))
            for pos, m in enumerate(row.ranking):
                add(rec.where, row.sample_id, s, m, -float(pos))
            continue
        s = samples.setdefault(row.sample_id, len(samples))
        first.setdefault(row.sample_id, rec.where)
        add(rec.where, row.sample_id, s, row.model, row.score)
    if not si:
        raise BattleFileError(f"{path}: no measurements found")
    per = np.bincount(np.asarray(si), minlength=len(samples))
    lone = np.flatnonzero(per < 2)
    if len(lone):
        name = list(samples)[lone[0]]
        raise BattleFileError(f"{first.get(name, path)}: sample {name!r} measures only one model (a sample must compare at least two; {len(lone)} such samples)")
    return SampleMeasurements(list(models), list(samples), np.asarray(si), np.asarray(mi), np.asarray(sc, float))
