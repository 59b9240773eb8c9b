"""Style covariates of a run's battles, for style control in `arena report` and tournament runs."""

from __future__ import annotations

import json

from arena.errors import BadInput
from arena.records import Battle, RunRecord


def run_style_features(store, run: RunRecord, battles: list[Battle], match_ids: list[str]):
    """`StyleFeatures` aligned with `battles` (from `run_battles_with_ids`): the counts of each
    battle's two answers from the run's pool, or Chatbot Arena's `conv_metadata` recorded with an
    imported battle. A forfeit's missing answer counts as an empty one (no length, no markdown).
    Raises `BadInput` naming the first battle that has neither."""
    from arena.ratings import STYLE_NAMES, conv_metadata_counts, style_counts, style_from_counts

    rid = run.run_id
    pool = run.spec.get("pool")
    counts: dict[tuple[str, str], object] = {}  # the style counts of each answer a battle needs; texts are read one by one
    if pool and store.pool_exists(pool):
        needed = {(b.prompt_id, m) for b in battles for m in (b.model_a, b.model_b)}
        for pid, model, text, _turns in store.iter_outputs(pool):
            if (pid, model) in needed and text is not None:
                counts[(pid, model)] = style_counts(text)
    meta: dict[str, object] = {}
    for mid, detail in store.game_details(rid, "conv_metadata"):
        try:
            meta[mid] = json.loads(detail)["meta"]["conv_metadata"]
        except (ValueError, KeyError, TypeError):
            continue
    forfeits = {v.match_id for v in store.verdicts(rid) if str(v.outcome).startswith("forfeit")}
    ca, cb = [], []
    for b, mid in zip(battles, match_ids):
        ta, tb = counts.get((b.prompt_id, b.model_a)), counts.get((b.prompt_id, b.model_b))
        if mid in forfeits:
            ta, tb = ta or style_counts(""), tb or style_counts("")
        if ta is not None and tb is not None:
            ca.append(ta)
            cb.append(tb)
            continue
        if mid in meta:
            try:
                xa, xb = conv_metadata_counts(meta[mid])
            except (KeyError, TypeError, ValueError) as e:
                raise BadInput(f"run {rid}: match {mid}: bad conv_metadata for style control ({e})") from None
            ca.append(xa)
            cb.append(xb)
            continue
        raise BadInput(
            f"run {rid}: match {mid}: style control needs both answers ({b.model_a}, {b.model_b} on {b.prompt_id}) "
            "in the run's pool, or Chatbot Arena's conv_metadata"
        )
    return style_from_counts(ca, cb, STYLE_NAMES)
