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


class BattleFileError(RecordError):
    """A battle file is malformed (names the file and line)."""


class BattleRow(Row):
    """One battle: Chatbot Arena's `model_a, model_b, winner` (model_a | model_b | tie | tie (bothbad)),
    or `outcome` (a | b | tie); optional `question_id` (or `prompt_id`) and `weight` (>= 0).

    CSV values are all strings, so numbers are parsed from text (lax mode); model names must be
    non-empty strings in every format (a JSON number or NaN is refused, never turned into "nan").
    """

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)

    model_a: Name
    model_b: Name
    outcome: Literal["a", "b", "tie"]
    weight: float = 1.0
    prompt_id: Id | None = None

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
        else:
            raise ValueError("missing winner (model_a|model_b|tie|tie (bothbad)) or outcome (a|b|tie)")
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


def read_battle_file(path: str | Path, *, style: bool = False):
    """Battles (and style features when asked) from a CSV, TSV, JSONL or JSON battle file.

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
    for rec in _records(path):
        row = BattleRow.parse(rec)
        pid = f"#line{n}" if row.prompt_id is None else row.prompt_id
        if style:
            xa, xb = _style_counts(rec)
            ca.append(xa)
            cb.append(xb)
        a.append(models.setdefault(row.model_a, len(models)))
        b.append(models.setdefault(row.model_b, len(models)))
        s.append({"a": 1.0, "b": 0.0, "tie": 0.5}[row.outcome])
        w.append(row.weight)
        p.append(prompts.setdefault(pid, len(prompts)))
        n += 1
    if n == 0:
        raise BattleFileError(f"{path}: no battles found")
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


def _score(where: str, key: str, v: Any) -> float:
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
    except (TypeError, ValueError):
        raise BattleFileError(f"{where}: {key} must be a number or pass/fail, got {v!r}") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise BattleFileError(f"{where}: {key} must be a finite number, got {v!r}")
    return x


def read_samples(path: str | Path):
    """Sample-level measurements from a CSV, JSONL or JSON file: records `{sample_id, model, score}`
    (or `correct`/`pass` true/false; `prompt_id`/`question_id` name the sample too), or
    `{sample_id, ranking: [models best first]}` (in CSV, `ranking` as `a>b>c`)."""
    import numpy as np

    from arena.ratings import SampleMeasurements

    models: dict[str, int] = {}
    samples: dict[str, int] = {}
    first: dict[str, str] = {}
    seen: dict[tuple[int, int], str] = {}
    si, mi, sc = [], [], []
    for n, r in enumerate(_records(path)):
        where, rec = r.where, r.data
        sid = next((rec[k] for k in _SAMPLE_ID if rec.get(k) not in (None, "")), None)
        if "ranking" in rec:
            ranking = rec["ranking"]
            if isinstance(ranking, str):
                ranking = [m.strip() for m in ranking.split(">")]
            if not isinstance(ranking, list) or not all(isinstance(m, str) and m.strip() for m in ranking):
                raise BattleFileError(f"{where}: ranking must be a list of model names, best first")
            if len(set(ranking)) != len(ranking):
                dup = next(m for m in ranking if ranking.count(m) > 1)
                raise BattleFileError(f"{where}: ranking names model {dup!r} twice")
            if len(ranking) < 2:
                raise BattleFileError(f"{where}: a ranking needs at least two models, got {len(ranking)}")
            s = samples.setdefault(f"#item{n}" if sid is None else str(sid), len(samples))
            for pos, m in enumerate(ranking):
                k = models.setdefault(m, len(models))
                if (s, k) in seen:
                    raise BattleFileError(f"{where}: sample {sid!r} measures model {m!r} twice (also at {seen[s, k]})")
                seen[s, k] = where
                si.append(s)
                mi.append(k)
                sc.append(-float(pos))
            continue
        m = rec.get("model")
        if not isinstance(m, str) or not m.strip():
            raise BattleFileError(f"{where}: expected a model name and a score, or a ranking")
        if sid is None:
            raise BattleFileError(f"{where}: missing sample_id (or prompt_id / question_id): the sample this score belongs to")
        key = next((k for k in _SCORE_KEYS if k in rec), None)
        if key is None:
            raise BattleFileError(f"{where}: missing score (a number) or correct/pass (true/false)")
        s = samples.setdefault(str(sid), len(samples))
        k = models.setdefault(m, len(models))
        if (s, k) in seen:
            raise BattleFileError(f"{where}: sample {sid!r} measures model {m!r} twice (also at {seen[s, k]})")
        seen[s, k] = where
        first.setdefault(str(sid), where)
        si.append(s)
        mi.append(k)
        sc.append(_score(where, key, rec[key]))
    if not si:
        raise BattleFileError(f"{path}: no measurements found")
    per = np.bincount(np.asarray(si), minlength=len(samples))
    lone = np.flatnonzero(per < 2)
    if len(lone):
        name = list(samples)[lone[0]]
        raise BattleFileError(f"{first.get(name, path)}: sample {name!r} measures only one model (a sample must compare at least two; {len(lone)} such samples)")
    return SampleMeasurements(list(models), list(samples), np.asarray(si), np.asarray(mi), np.asarray(sc, float))
