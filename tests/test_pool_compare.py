"""`arena pool compare` and `arena.ratings.pool_quality`: benchmark-quality metrics with intervals,
on runs written to a real SQLite file, and the report's per-cluster leaderboards."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from arena.errors import RatingError
from arena.ratings import pool_quality
from arena.records import Battle, Game, Match, Output, Prompt, Verdict

STRENGTH = {"m0": 0.0, "m1": 0.6, "m2": 1.2, "m3": 1.8, "m4": 2.4, "m5": 3.0}


def outcomes(p_follow: float, n_prompts: int, seed: int):
    """(prompt, a, b, winner) for all pairs on each prompt: the stronger wins with probability p_follow."""
    rng = np.random.default_rng(seed)
    for k in range(n_prompts):
        for a, b in combinations(STRENGTH, 2):
            stronger = a if STRENGTH[a] > STRENGTH[b] else b
            weaker = b if stronger == a else a
            yield f"q{k:03d}", a, b, stronger if rng.random() < p_follow else weaker


def battles(p_follow, n_prompts=40, seed=0):
    return [Battle(p, a, b, "a" if w == a else "b") for p, a, b, w in outcomes(p_follow, n_prompts, seed)]


def test_informative_pool_scores_better_than_noisy():
    ref = dict(STRENGTH)
    good = pool_quality(battles(0.9), judge_calls=1200, reference=ref, n_outer=20, n_boot=100)
    noisy = pool_quality(battles(0.6), judge_calls=1200, reference=ref, n_outer=20, n_boot=100)
    g, n = good.metrics, noisy.metrics
    assert g["separability"].value > n["separability"].value
    assert g["brier"].value < n["brier"].value
    assert g["agreement_with_confidence"].value > n["agreement_with_confidence"].value
    assert g["spearman"].value == pytest.approx(1.0)
    for q in (good, noisy):
        assert q.prompts == 40 and q.battles == 600 and q.judge_calls == 1200
        for name, e in q.metrics.items():
            assert e.low <= e.value <= e.high, name
    # the interval reflects the sampling of prompts: 40 prompts give a non-degenerate one for the noisy pool
    assert n["separability"].high > n["separability"].low
    # width at a common budget: the same run with 4x the calls has twice the scaled width
    same = pool_quality(battles(0.9), judge_calls=4800, reference=ref, n_outer=3, n_boot=100)
    assert same.metrics["ci_width_at_1000_calls"].value == pytest.approx(2 * g["ci_width_at_1000_calls"].value)


def test_no_reference_leaves_agreement_empty_and_bad_input_raises():
    q = pool_quality(battles(0.9, 10), judge_calls=300, n_outer=3, n_boot=50)
    assert q.metrics["separability"].value is not None
    assert q.metrics["brier"].value is None and q.metrics["agreement_with_confidence"].value is None
    with pytest.raises(RatingError, match="no battles"):
        pool_quality([], judge_calls=0)
    with pytest.raises(RatingError, match="shares 0 models"):
        pool_quality(battles(0.9, 5), judge_calls=10, reference={"other": 1.0, "x": 2.0}, n_outer=2)


def write_run(store, run_id, pool, p_follow, seed, reference=None):
    prompts = sorted({p for p, *_ in outcomes(p_follow, 30, seed)})
    if not store.pool_exists(pool):
        store.write_pool(pool, [Prompt(p, f"prompt {p}") for p in prompts], [Output(p, m, "x") for p in prompts for m in STRENGTH])
    spec = {"spec": {"pool": pool, **({"reference": str(reference)} if reference else {})}, "judge": {"kind": "llm"}, "pool": pool}
    store.create_run(run_id, run_id, spec, run_id, 0)
    for k, (p, a, b, w) in enumerate(outcomes(p_follow, 30, seed)):
        mid = f"{run_id}-{k}"
        store.add_matches(run_id, [Match(mid, p, a, b)])
        label = "A>B" if w == a else "B>A"
        games = [Game(mid, "j", o, label, calls=1) for o in ("AB", "BA")]
        store.record_verdict(run_id, Verdict(mid, "a" if w == a else "b", 1, True, label), games)
    store.set_run_status(run_id, "done")


@pytest.fixture
def two_runs(db_path, tmp_path):
    from arena.store import Store

    ref = tmp_path / "ref.csv"
    ref.write_text("model,score\n" + "".join(f"{m},{s}\n" for m, s in STRENGTH.items()))
    store = Store(db_path)
    write_run(store, "run-hard", "hard", 0.9, 1, reference=ref)
    write_run(store, "run-easy", "easy", 0.6, 2, reference=ref)
    store.close()
    return ref


def test_pool_compare_cli(cli, two_runs):
    r = cli("pool", "compare", "hard", "easy", "--runs", "run-hard", "run-easy", "--replicates", "10", "--bootstrap", "50", "--format", "json")
    assert r.code == 0, r.err
    res = json.loads(r.out)
    assert res["models"] == sorted(STRENGTH) and res["reference"].endswith("(score)")
    a, b = (q["metrics"] for q in res["quality"])
    assert a["separability"]["value"] > b["separability"]["value"]
    assert a["brier"]["value"] < b["brier"]["value"]
    assert res["quality"][0]["judge_calls"] == 2 * 15 * 30
    r = cli("pool", "compare", "hard", "easy", "--runs", "run-hard", "run-easy", "--replicates", "5", "--bootstrap", "20")
    assert r.code == 0 and "separability" in r.out and "Brier" in r.out and "[" in r.out


@pytest.mark.parametrize(
    "args, message",
    [
        (["easy", "hard", "--runs", "run-hard", "run-easy"], "Error: --runs: RUN_A run-hard was judged on pool 'hard', not 'easy'"),
        (["hard", "nope", "--runs", "run-hard", "run-easy"], "Error: pool 'nope' is not in"),
        (["hard", "easy", "--runs", "run-hard", "missing"], "Error: run 'missing' is not in"),
        (["hard", "easy", "--runs", "run-hard"], "Error:"),  # a usage mistake: one line too
    ],
)
def test_pool_compare_bad_input(cli, two_runs, args, message):
    r = cli("pool", "compare", *args)
    assert r.code == 2
    assert r.err.strip().startswith(message) and len(r.err.strip().splitlines()) == 1, r.err


def test_report_groups_by_cluster(db_path, two_runs):
    from arena.reports import build_report, render
    from arena.store import Store

    store = Store(db_path)
    prompts = store.prompts("hard")
    store.write_clusters("hard", "tfidf+kmeans", [(p.prompt_id, i % 2, "alpha, beta" if i % 2 else "<b>gamma</b>") for i, p in enumerate(prompts)])
    report = build_report(store, "run-hard", bootstrap=50)
    assert set(report["clusters"]) == {"0: <b>gamma</b>", "1: alpha, beta"}
    assert sum(c["battles"] for c in report["clusters"].values()) == report["battles"]
    html = render(report, "html")
    assert "By topic cluster" in html and "&lt;b&gt;gamma&lt;/b&gt;" in html and "<b>gamma</b>" not in html
    assert "clusters" not in build_report(store, "run-easy", bootstrap=20) or not build_report(store, "run-easy", bootstrap=20)["clusters"]
    store.close()
