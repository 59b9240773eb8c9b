"""A deterministic judge (every prompt gives the same verdict): the bootstrap replicates all agree,
the ratings' intervals are the Laplace floor's, and every interval derived from them stays honest:
the win rate against the baseline, a `report compare` delta, and "separated now" (breaker17 13e)."""

from __future__ import annotations

import numpy as np
import pytest

MODELS = ["m0", "m1", "m2", "m3"]  # best first


def _strict_order(path, n_prompts: int) -> None:
    rows = ["question_id,model_a,model_b,winner"]
    for q in range(n_prompts):
        for i in range(len(MODELS)):
            for j in range(i + 1, len(MODELS)):
                rows.append(f"q{q},{MODELS[j]},{MODELS[i]},model_b")  # the better model wins, every time
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture
def two_runs(store, tmp_path):
    from arena.verdicts import import_verdicts

    ids = []
    for name, n in (("r12", 12), ("r30", 30)):
        _strict_order(tmp_path / f"{name}.csv", n)
        ids.append(import_verdicts(store, tmp_path / f"{name}.csv", "chatbot_arena", name=name, baseline="m3").run_id)
    return ids


def test_win_rate_against_the_baseline_is_never_zero_width_when_the_rating_is_not(store, two_runs):
    from arena.ratings import fit_ratings
    from arena.verdicts import run_battles

    board = fit_ratings(run_battles(store, two_runs[0]), anchor="m3", bootstrap=50, seed=0)
    boot_w = board.boot.max(axis=0) - board.boot.min(axis=0)
    assert np.allclose(boot_w, 0)  # the replicates all agree: the bootstrap alone gives zero width
    for r in board.rows:
        if r.model == "m3":
            assert r.ci_low == r.ci_high == 1000 and r.vs_baseline_low == r.vs_baseline_high == 0.5
            continue
        assert r.ci_high - r.ci_low > 50  # the Laplace floor
        assert r.vs_baseline_low < r.vs_baseline < r.vs_baseline_high or r.vs_baseline_high - r.vs_baseline_low > 1e-3
        # the rating's own bounds through the win probability against the baseline (Arena-Hard's mapping)
        assert r.vs_baseline_low == pytest.approx(1 / (1 + 10 ** ((1000 - r.ci_low) / 400)))
        assert r.vs_baseline_high == pytest.approx(1 / (1 + 10 ** ((1000 - r.ci_high) / 400)))


def test_compare_delta_interval_is_at_least_the_ratings_intervals_combined(store, two_runs):
    from arena.reports.compare import compare_runs

    res = compare_runs(store, *two_runs, bootstrap=50)
    assert len(res["models"]) == 4
    for row in res["models"]:
        d, lo, hi = row["delta"], row["delta_ci_low"], row["delta_ci_high"]
        assert lo <= d <= hi
        assert hi - lo > 100, row  # not `+x (+x .. +x)`


def test_separated_now_agrees_with_the_rank_intervals(store, two_runs):
    from arena.ratings import fit_ratings, prompts_to_separate
    from arena.verdicts import run_battles

    for rid in two_runs:
        board = fit_ratings(run_battles(store, rid), bootstrap=50, seed=0)
        sep = prompts_to_separate(board, 12)
        rows = {r.model: r for r in board.rows}
        assert sep and all(s["sd"] == pytest.approx(0, abs=1e-6) for s in sep)  # a degenerate bootstrap
        for s in sep:
            a, b = rows[s["model_a"]], rows[s["model_b"]]
            assert s["separated"] == (a.ci_low > b.ci_high)
            if not s["separated"]:  # the rank interval of the lower one reaches the upper one's rank
                assert b.rank_ub <= a.rank or b.rank_ub <= b.rank
            assert s["separated"] == (s["prompts_needed"] <= 12)
