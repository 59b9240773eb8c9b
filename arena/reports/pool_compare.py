"""`arena pool compare`: the benchmark-quality metrics of two pools, each judged in one run, side by side."""

from __future__ import annotations

from pathlib import Path

from arena.errors import BadInput, RatingError


def run_battles(store, run_id: str):
    """(run row, its pool, its spec, its battles, judge calls spent) of a stored run."""
    run = store.get_run(run_id)
    spec = (run["spec"] or {}).get("spec", {})
    judge_preset = (run["spec"] or {}).get("judge", {})
    pool = (run["spec"] or {}).get("pool", spec.get("pool"))
    strong = float(spec.get("strong_weight") or judge_preset.get("strong_weight") or 3.0)
    battles = store.battles(run["run_id"], strong_weight=strong)
    usage = store.usage(run["run_id"])
    calls = (usage.calls + usage.cached_calls) or store.game_count(run["run_id"])
    return run, pool, spec, battles, calls


def compare_pools(
    store,
    pool_a: str,
    pool_b: str,
    run_a: str,
    run_b: str,
    *,
    reference: str | Path | None = None,
    n_outer: int = 50,
    n_boot: int = 200,
    seed: int = 0,
) -> dict:
    """The benchmark quality (`arena.ratings.pool_quality`) of `run_a` on `pool_a` and `run_b` on
    `pool_b`, over the models both runs rated. `reference`: a CSV ranking (`model` and a score
    column); without one, each run's spec `reference` when both name the same file.
    Returns {"pools": [...], "runs": [...], "models": [...], "reference": ..., "quality": [a, b]}
    with each quality a dict metric -> {value, low, high}.
    Raises BadInput when a run was not judged on the pool named for it, or the runs share fewer
    than 2 models; NotFound for an unknown pool or run."""
    from dataclasses import asdict

    from arena.ratings import pool_quality
    from arena.reports._data import read_reference

    for p in (pool_a, pool_b):
        store.require_pool(p)
    sides = []
    for pool, rid, opt in ((pool_a, run_a, "RUN_A"), (pool_b, run_b, "RUN_B")):
        run, run_pool, spec, battles, calls = run_battles(store, rid)
        if run_pool is not None and run_pool != pool:
            raise BadInput(f"--runs: {opt} {run['run_id']} was judged on pool {run_pool!r}, not {pool!r}")
        if not battles:
            raise BadInput(f"--runs: {opt} {run['run_id']} has no decided battles yet")
        sides.append((run, spec, battles, calls))
    models_a = {m for b in sides[0][2] for m in (b.model_a, b.model_b)}
    models_b = {m for b in sides[1][2] for m in (b.model_a, b.model_b)}
    common = sorted(models_a & models_b)
    if len(common) < 2:
        raise BadInput(f"--runs: the two runs share {len(common)} models (need at least 2 rated in both)")
    ref_path = reference
    if ref_path is None:
        refs = {s[1].get("reference") for s in sides}
        ref_path = refs.pop() if len(refs) == 1 else None
    ref = ref_name = None
    if ref_path:
        ref, column = read_reference(ref_path)
        ref_name = f"{ref_path} ({column})"
        if sum(1 for m in common if m in ref) < 2:
            raise BadInput(f"--reference: {ref_path}: fewer than 2 of the compared models are in it")
    quality = []
    for run, _spec, battles, calls in sides:
        kept = [b for b in battles if b.model_a in common and b.model_b in common]
        try:
            q = pool_quality(kept, judge_calls=calls, reference=ref, reference_name=ref_name, models=common, n_outer=n_outer, n_boot=n_boot, seed=seed)
        except RatingError as e:
            raise BadInput(f"--runs: {run['run_id']}: {e}") from None
        d = asdict(q)
        d["run"] = run["run_id"]
        quality.append(d)
    return {
        "pools": [pool_a, pool_b],
        "runs": [s[0]["run_id"] for s in sides],
        "models": common,
        "reference": ref_name,
        "dropped_models": sorted((models_a | models_b) - set(common)),
        "quality": quality,
    }
