"""AlpacaEval 2.0's length-controlled win rate of a stored run against its baseline."""

from __future__ import annotations

import json

import numpy as np

from arena.errors import BadInput, naming_options


def run_length_controlled(store, run_id: str, baseline: str | None = None) -> dict:
    """Raw and length-controlled win rates (percent, with standard errors) of every model of a
    run against its baseline, as AlpacaEval 2.0 computes them (`arena.ratings._lc`).

    A judgment's preference for the model is the recorded AlpacaEval `preference` when the match
    has one (imports), else the verdict (win 1, tie 0.5, loss 0). Lengths are the answers' lengths
    in characters from the run's pool. The instruction difficulty is estimated jointly from the
    run's models. Raises `BadInput` without a baseline or without the answers' texts.
    """
    from arena.ratings import length_controlled_winrates
    from arena.verdicts.export import run_baseline

    run = store.get_run(run_id)
    rid = run.run_id
    spec = run.spec.get("spec", {})
    base = run_baseline(spec, baseline)
    if base is None:
        raise naming_options(BadInput, f"run {rid}: the length-controlled win rate needs a baseline (pass <anchor>)", anchor=('anchor="NAME"', "--anchor NAME"))
    pool = run.spec.get("pool")
    if not pool or not store.pool_exists(pool):
        raise BadInput(f"run {rid}: the length-controlled win rate needs the answers' texts (the run has no pool)")
    lengths = {(pid, model): n for pid, model, n in store.output_lengths(pool)}  # characters, the texts left in the store
    prefs: dict[str, float] = {}
    for mid, detail in store.game_details(rid, '"preference"'):
        p = json.loads(detail).get("preference")
        if isinstance(p, (int, float)) and 1 <= p <= 2:
            prefs[mid] = float(p)
    models: dict[str, int] = {}
    instrs: dict[str, int] = {}
    mi, ii, qs, lm, lb = [], [], [], [], []
    for v in store.verdicts(rid):
        a, b = v.model_a, v.model_b
        if base not in (a, b) or a == b:
            continue
        model = b if a == base else a
        if v.match_id in prefs:
            q_b = prefs[v.match_id] - 1.0  # preference for model B
        elif v.outcome in ("a", "b", "tie"):
            q_b = {"a": 0.0, "b": 1.0, "tie": 0.5}[v.outcome]
        else:
            continue
        la, lbase = lengths.get((v.prompt_id, model)), lengths.get((v.prompt_id, base))
        if la is None or lbase is None:
            continue
        mi.append(models.setdefault(model, len(models)))
        ii.append(instrs.setdefault(v.prompt_id, len(instrs)))
        qs.append(q_b if a == base else 1.0 - q_b)
        lm.append(la)
        lb.append(lbase)
    if not qs:
        raise BadInput(f"run {rid}: no judgment against the baseline {base!r} with both answers' texts")
    res = length_controlled_winrates(list(models), np.array(mi), np.array(ii), np.array(qs), np.array(lm), np.array(lb))
    rows = sorted(
        ({"model": r.model, "lc_win_rate": r.lc_win_rate / 100, "lc_standard_error": r.lc_standard_error / 100, "win_rate": r.win_rate / 100,
          "standard_error": r.standard_error / 100, "n": r.n, "coefs": r.coefs} for r in res),  # fractions, as every rate of run.json
        key=lambda r: -r["lc_win_rate"],
    )
    return {
        "baseline": base,
        "models": rows,
        "method": "AlpacaEval 2.0 length_controlled_v1 GLM; instruction difficulty estimated jointly from the run's "
        f"{len(models)} models; no length-gamed baseline regularisation (its annotations are not public in the repository)",
    }
