"""Plackett-Luce from sparse sample-level measurements: rank-breaking, the MLE against choix,
recovery of known strengths with 95% of the cells missing, identifiability, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from arena.errors import RatingError
from arena.ratings import SampleMeasurements, choices_from_samples, fit_pl, fit_plackett_luce
from arena.ratings._plackett_luce import simulate_measurements


def _data(rows: list[tuple[str, str, float]]) -> SampleMeasurements:
    samples = list(dict.fromkeys(r[0] for r in rows))
    models = list(dict.fromkeys(r[1] for r in rows))
    return SampleMeasurements(
        models, samples, np.array([samples.index(r[0]) for r in rows]), np.array([models.index(r[1]) for r in rows]), np.array([r[2] for r in rows], float)
    )


def _events(ch, models):
    return sorted((models[w], sorted(models[m] for m in ch.entry_model[ch.entry_event == e])) for e, w in enumerate(ch.winner))


def test_rank_breaking_of_a_ranking_a_pass_fail_and_a_tie():
    d = _data([("s1", "a", 3), ("s1", "b", 2), ("s1", "c", 1), ("s2", "a", 0), ("s2", "b", 1), ("s2", "c", 1), ("s3", "a", 5), ("s3", "b", 5)])
    ch = choices_from_samples(d)
    # s1 is a strict ranking: a from {a,b,c}, b from {b,c}; s2 pass/fail: b and c each from {itself, a}
    assert _events(ch, d.models) == [("a", ["a", "b", "c"]), ("b", ["a", "b"]), ("b", ["b", "c"]), ("c", ["a", "c"])]
    assert ch.dropped_samples == 1  # s3: all tied


def test_a_sample_measuring_a_model_twice_is_refused():
    with pytest.raises(RatingError, match="measures model 'a' twice"):
        choices_from_samples(_data([("s", "a", 1), ("s", "b", 0), ("s", "a", 2)]))


def test_mle_matches_choix_ilsr_top1():
    import choix

    theta, data = simulate_measurements(20, 600, 0.3, np.random.default_rng(1))
    ch = choices_from_samples(data)
    ours = fit_pl(ch, prior=0.0)
    tops = [(int(w), [int(m) for m in ch.entry_model[ch.entry_event == e] if m != w]) for e, w in enumerate(ch.winner)]
    ref = choix.ilsr_top1(20, tops, tol=1e-10)
    assert np.max(np.abs(ours - (ref - ref.mean()))) < 1e-4


def test_recovers_known_strengths_with_95_percent_missing():
    theta, data = simulate_measurements(100, 4000, 0.05, np.random.default_rng(0))
    observed = len(data.score) / (100 * 4000)
    assert observed < 0.06  # at least 94% of the model x sample cells missing (samples kept need two models)
    res = fit_plackett_luce(data, bootstrap=0)
    fitted = {r.model: r.rating for r in res.rows}
    rho = spearmanr([fitted[m] for m in data.models], theta).statistic
    assert rho >= 0.95, rho
    assert not res.warnings and len(res.components) == 1


def test_bootstrap_intervals_cover_and_are_clustered_by_sample():
    theta, data = simulate_measurements(12, 400, 0.4, np.random.default_rng(2))
    res = fit_plackett_luce(data, bootstrap=100, seed=3)
    assert all(r.ci_low <= r.rating <= r.ci_high for r in res.rows)
    assert all(r.ci_high - r.ci_low > 1 for r in res.rows)
    again = fit_plackett_luce(data, bootstrap=100, seed=3)
    assert again.to_records() == res.to_records()
    # the true order is inside the intervals for most models (scale-free check: ranks)
    top_true = data.models[int(np.argmax(theta))]
    assert res.rows[0].model == top_true or res.rows[1].model == top_true


def test_identifiability_diagnostics():
    d = _data([("s1", "a", 1), ("s1", "b", 0), ("s2", "c", 1), ("s2", "d", 0), ("s3", "a", 1), ("s3", "b", 0)])
    res = fit_plackett_luce(d, bootstrap=0)
    assert res.components == [["a", "b"], ["c", "d"]]
    assert any("not connected" in w for w in res.warnings)
    assert any("never ranked above" in w and "b" in w for w in res.warnings)
    assert all(np.isfinite(r.rating) for r in res.rows)


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_fit_sample_file(cli, tmp_path):
    theta, data = simulate_measurements(8, 300, 0.5, np.random.default_rng(4))
    rows = [{"sample_id": data.samples[s], "model": data.models[m], "score": float(x)} for s, m, x in zip(data.sample, data.model, data.score)]
    f = _write_jsonl(tmp_path / "samples.jsonl", rows)
    r = cli("ratings", "fit", f, "-f", "json", "-b", "50")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["method"] == "plackett-luce" and len(out["leaderboard"]) == 8
    assert out["leaderboard"][0]["model"] == data.models[int(np.argmax(theta))]
    rk = _write_jsonl(tmp_path / "rankings.jsonl", [{"sample_id": "p1", "ranking": ["x", "y", "z"]}, {"sample_id": "p2", "ranking": ["y", "z"]}])
    r = cli("ratings", "fit", rk, "-b", "0")
    assert r.code == 0 and "Plackett-Luce" in r.out


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([{"sample_id": "p", "ranking": ["x", "y", "x"]}], ":1: ranking names model 'x' twice"),
        ([{"sample_id": "p", "ranking": ["x"]}], ":1: a ranking needs at least two models"),
        ([{"sample_id": "p", "model": "x", "score": 1}, {"sample_id": "q", "model": "x", "score": 1}, {"sample_id": "q", "model": "y", "score": 0}], ":1: sample 'p' measures only one model"),
        ([{"sample_id": "p", "model": "x", "score": "high"}], ":1: score must be a number or pass/fail"),
        ([{"sample_id": "p", "model": "x"}], ":1: missing score"),
        ([{"sample_id": "p", "model": "x", "score": 1}, {"sample_id": ["q"], "model": "x", "score": 1}], ":2: field 'sample_id' must be a string or an integer, got list"),
        ([{"sample_id": "p", "model": "x", "score": 1}, {"sample_id": "p", "model": "x", "correct": True}], ":2: sample 'p' measures model 'x' twice (also at "),
    ],
)
def test_cli_fit_sample_bad_input(cli, tmp_path, rows, expected):
    f = _write_jsonl(tmp_path / "bad.jsonl", rows)
    r = cli("ratings", "fit", f)
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and lines[0].startswith(f"Error: {f}") and expected in lines[0], r.err


def test_ratings_are_on_the_elo_scale_of_the_true_strengths():
    # scores with Gumbel noise are exact Plackett-Luce draws: the fitted Elo ratings must match
    # 1000 + 400/ln(10) (theta - mean) with slope 1, and the intervals must cover most of them
    theta, data = simulate_measurements(30, 2000, 0.2, np.random.default_rng(1), binary_share=0.0)
    res = fit_plackett_luce(data, bootstrap=100, seed=0, prior=0.0)
    true = dict(zip(data.models, 1000 + 400 / np.log(10) * (theta - theta.mean())))
    fitted = np.array([r.rating for r in res.rows])
    truth = np.array([true[r.model] for r in res.rows])
    slope = np.polyfit(truth, fitted, 1)[0]
    assert 0.9 < slope < 1.1, slope
    covered = sum(r.ci_low <= true[r.model] <= r.ci_high for r in res.rows)
    assert covered >= 24, covered  # about 95% of 30
