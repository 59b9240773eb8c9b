"""How much of a difference is noise: prompts needed to separate adjacent pairs (checked against
a real larger sample), checkpoint monotonicity, and both in a run's report via the spec."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from test_runner import DEMO, ScriptedJudge

from arena.errors import RatingError
from arena.ratings import BattleArrays, checkpoint_monotonicity, fit_ratings, prompts_to_separate
from arena.reports import build_report
from arena.reports.text import leaderboard_markdown


def _battles(strength: list[float], n_prompts: int, rng: np.random.Generator) -> BattleArrays:
    """Round-robin on every prompt; Bradley-Terry outcomes from `strength` (log-odds)."""
    n = len(strength)
    a, b, s, p = [], [], [], []
    for q in range(n_prompts):
        for i in range(n):
            for j in range(i + 1, n):
                pw = 1 / (1 + np.exp(strength[j] - strength[i]))
                a.append(i)
                b.append(j)
                s.append(float(rng.random() < pw))
                p.append(q)
    return BattleArrays([f"m{i}" for i in range(n)], a, b, s, np.ones(len(a)), p, [f"p{q}" for q in range(n_prompts)])


def test_prompts_needed_scale_and_come_true():
    strength = [0.0, 0.25, 0.5]
    small = fit_ratings(_battles(strength, 40, np.random.default_rng(0)), bootstrap=300, seed=0)
    sep = prompts_to_separate(small, 40)
    assert [(x["model_a"], x["model_b"]) for x in sep] == [(r.model, s.model) for r, s in zip(small.rows, small.rows[1:])]
    top = sep[0]
    assert top["prompts_needed"] is not None and top["prompts_needed"] > 0
    assert top["separated"] == (top["prompts_needed"] <= 40)
    # the sd shrinks as 1/sqrt(n): four times the prompts, about half the sd
    big = fit_ratings(_battles(strength, 160, np.random.default_rng(1)), bootstrap=300, seed=0)
    ratio = prompts_to_separate(small, 40)[0]["sd"] / prompts_to_separate(big, 160)[0]["sd"]
    assert 1.5 < ratio < 2.7, ratio
    # with far more prompts than needed for the strongest gap, that pair is separated
    huge = fit_ratings(_battles([0.0, 1.0], 400, np.random.default_rng(2)), bootstrap=200, seed=0)
    assert prompts_to_separate(huge, 400)[0]["separated"]


def test_checkpoint_monotonicity():
    board = fit_ratings(_battles([0.0, 0.6, 1.2, 1.2], 60, np.random.default_rng(3)), bootstrap=200, seed=0)
    good = checkpoint_monotonicity(board, ["m0", "m1", "m2"])
    assert good["monotone"] and good["p_monotone"] > 0.8 and good["spearman"] == 1.0
    assert all(s["p_improves"] > 0.9 for s in good["steps"])
    near = checkpoint_monotonicity(board, ["m0", "m3", "m2"])  # m3 and m2 are equally strong: an uncertain last step
    assert 0.05 < near["steps"][1]["p_improves"] < 0.95
    with pytest.raises(RatingError, match="'zz' is not among the rated models"):
        checkpoint_monotonicity(board, ["m0", "zz"])
    with pytest.raises(RatingError, match="at least 2"):
        checkpoint_monotonicity(board, ["m0"])


def test_report_shows_separation_and_checkpoints(store):
    from arena.runner import Runner, prepare_run
    from arena.tournaments import make_scheduler, spec_from_dict

    series = ["vicuna-7b-v1.5", "llama-2-70b-chat-hf", "claude-3-opus-20240229"]
    spec = spec_from_dict({"name": "ck", "pool": str(DEMO), "scheduler": {"kind": "round-robin", "pairs_per_prompt": 6}, "judge": "scripted", "seed": 1, "bootstrap": 100, "checkpoints": series})
    prepared = prepare_run(store, spec, {"kind": "scripted", "description": "scripted test judge"})
    sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
    asyncio.run(Runner(store, prepared, ScriptedJudge(), sched).run())
    report = build_report(store, prepared.run_id, bootstrap=100)
    assert len(report["separation"]) == len(report["leaderboard"]) - 1
    assert report["checkpoints"]["series"] == series
    md = leaderboard_markdown(report)
    assert "## Checkpoints" in md and "prompts needed" in md
