"""Battle files for `arena ratings fit/elo`: CSV, TSV, JSON lines or JSON (Chatbot Arena's format too).

Read through `arena.io` (so errors are `path:line:` / `path:item N:` on one line) and checked
per record by the `BattleRow` model. The I/O edge of the ratings package, which stays pure.
"""

from __future__ import annotations

import json
import math
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


def read_battle_file(path: str | Path, *, style: bool = False):
    """Battles (and style features when asked) from a CSV, TSV, JSONL or JSON battle file.

    A JSON file is a list of battle objects or an object with a `battles` list. Returns
    `(BattleArrays, StyleFeatures | None)`: one entry per battle, models and prompts indexed in
    order of first appearance; a battle without a prompt id is its own prompt cluster.
    Raises `NotFound` (no file) or `BattleFileError` (one line, `path:line:` or `path:item N:`).
    Style counts follow Chatbot Arena's style control (Li et al., 2024, "Does style matter?").
    """
    from arena.ratings import STYLE_NAMES, BattleArrays, style_from_counts

    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path}: no such battle file")
    models: dict[str, int] = {}
    prompts: dict[str, int] = {}
    a, b, s, w, p = [], [], [], [], []
    ca, cb = [], []
    n = 0
    try:
        for rec in iter_records(path, list_key="battles", what="battle"):
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
    except BattleFileError:
        raise
    except RecordError as e:
        raise BattleFileError(str(e)) from None
    if n == 0:
        raise BattleFileError(f"{path}: no battles found")
    arrays = BattleArrays(list(models), a, b, s, w, p, list(prompts))
    feats = style_from_counts(ca, cb, STYLE_NAMES) if style else None
    return arrays, feats
