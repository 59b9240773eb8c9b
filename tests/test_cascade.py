"""Judge cascades: threshold calibration (fixed-sequence testing, Clopper-Pearson) and the
`cascade` judge kind run as a tournament on recorded GPT-4-Turbo verdicts behind the surrogate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.cascade import NEVER, calibrate_threshold, clopper_pearson_lower, pilot_indices, route

FIX = Path(__file__).resolve().parent / "fixtures" / "peers"
BASE = "gpt4_1106_preview"


def test_clopper_pearson_lower_bound_matches_the_closed_form_when_all_agree():
    # k = n: the lower bound solves p^n = delta
    assert clopper_pearson_lower(10, 10, 0.1) == pytest.approx(0.1 ** (1 / 10), rel=1e-9)
    assert clopper_pearson_lower(0, 10, 0.1) == 0.0


def test_threshold_is_the_lowest_certified_confidence_and_stops_at_the_first_failure():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 4000)
    # agreement 0.99 above 0.8, 0.6 below: the certified threshold must sit near 0.8, not lower
    agree = np.where(conf >= 0.8, rng.random(4000) < 0.99, rng.random(4000) < 0.6)
    cal = calibrate_threshold(conf, agree, target=0.95, delta=0.1)
    assert cal.certified and 0.7 <= cal.threshold <= 0.82
    assert cal.lower >= 0.95 and cal.kept == int((conf >= cal.threshold).sum())
    # the measured agreement above the threshold is at least the target
    assert agree[conf >= cal.threshold].mean() >= 0.95


def test_a_pilot_too_small_certifies_nothing_and_escalates_everything():
    cal = calibrate_threshold(np.full(5, 0.99), np.ones(5, bool), target=0.95, delta=0.1)
    assert not cal.certified and cal.threshold == NEVER
    assert route(np.array([[0.99], [1.0]]), [cal.threshold]).tolist() == [1, 1]


def test_pilot_is_seeded_and_refuses_more_than_the_plan():
    assert pilot_indices(100, 10, 3).tolist() == pilot_indices(100, 10, 3).tolist()
    with pytest.raises(ValueError):
        pilot_indices(5, 6, 0)


def _spec(cli, tmp_path, **cascade) -> Path:
    r = cli("verdicts", "import", FIX / "alpaca_eval", "--format", "alpaca_eval", "--name", "ae")
    assert r.code == 0, r.err
    (tmp_path / "rec.toml").write_text(f'kind = "recorded"\nformat = "alpaca_eval"\nfiles = ["{FIX / "alpaca_eval"}"]\n')
    keys = {"stages": '["surrogate", "rec.toml"]', "agreement": "0.6", "delta": "0.2", "pilot": "30", **cascade}
    (tmp_path / "cas.toml").write_text('kind = "cascade"\n' + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "cas"\npool = "ae"\njudge = "{tmp_path / "cas.toml"}"\nbootstrap = 20\nbaseline = "{BASE}"\n'
                    f'concurrency = 4\n[scheduler]\nkind = "anchored"\nbaseline = "{BASE}"\n')
    return spec


def test_cascade_tournament_decides_by_stage_and_reports_it(cli, db_path, tmp_path):
    from arena.store import Store

    spec = _spec(cli, tmp_path)
    r = cli("tournament", "run", spec, "--plain", "--yes", "--out", tmp_path / "rep")
    assert r.code == 0, r.out + r.err
    store = Store(db_path)
    run = next(x for x in store.list_runs() if x["name"] == "cas")
    games = store.games(run["run_id"])
    verdicts = store.verdicts(run["run_id"])
    assert len(verdicts) == 72
    by_match: dict[str, list[dict]] = {}
    for g in games:
        by_match.setdefault(g.match_id, []).append(g.detail["cascade"])
    pilot = [m for m, cs in by_match.items() if cs[0]["pilot"]]
    assert len(pilot) == 30
    for m in pilot:  # every stage judged a pilot match, the final one decided
        assert {c["stage"] for c in by_match[m]} == {0, 1}
        assert {c["stage"] for c in by_match[m] if c["decides"]} == {1}
    rest = [cs for m, cs in by_match.items() if m not in pilot]
    decided_by_surrogate = [cs for cs in rest if cs[0]["decides"] and cs[0]["stage"] == 0]
    escalated = [cs for cs in rest if any(c["stage"] == 1 for c in cs)]
    assert len(decided_by_surrogate) + len(escalated) == 42
    data = json.loads((tmp_path / "rep" / "run.json").read_text())
    cas = data["judge_stats"]["cascade"]
    assert cas["matches"] == 72 and cas["pilot_matches"] == 30
    assert cas["decided_per_stage"] == {"surrogate": len(decided_by_surrogate), "rec": 30 + len(escalated)}
    assert cas["final_stage_verdicts"] + cas["final_stage_saved"] == 72
    assert cas["pilot_agreement"]["surrogate"]["n"] == 30
    assert cas["calls_per_stage"] == {"surrogate": 0, "rec": 0} and cas["final_stage_calls_saved"] == 0  # both stages are offline
    thr = cas["calibration"]["stages"][0]["threshold"]
    if decided_by_surrogate:  # each surrogate-decided match reached the calibrated threshold
        assert thr is not None and min(cs[0]["confidence"] for cs in decided_by_surrogate) >= thr
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "Cascade" in md and "guarantee" in md.lower()


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("stages", '["surrogate"]', "stages"),
    ("agreement", "1.2", "agreement"),
    ("agreement", "0.5", "agreement"),
    ("stages", '["rec.toml", "cas2.toml"]', "stages"),
])
def test_bad_cascade_presets_are_one_line_naming_the_key(cli, db_path, tmp_path, key, value, needle):
    spec = _spec(cli, tmp_path, **{key: value})
    (tmp_path / "cas2.toml").write_text('kind = "surrogate"\n')
    if key == "stages" and "rec.toml" in value:  # a non-final stage of a kind with no confidence: a cascade
        (tmp_path / "cas.toml").write_text('kind = "cascade"\nstages = ["inner.toml", "rec.toml"]\n')
        (tmp_path / "inner.toml").write_text('kind = "cascade"\nstages = ["surrogate", "rec.toml"]\n')
    r = cli("tournament", "run", spec, "--plain", "--yes")
    assert r.code == 2, r.out + r.err
    assert needle in r.err and "Traceback" not in r.err


def test_a_resumed_cascade_rebuilds_the_same_calibration_from_its_stored_pilot(cli, db_path, tmp_path):
    from arena.judges import load_judge
    from arena.store import Store

    spec = _spec(cli, tmp_path)
    r = cli("tournament", "run", spec, "--plain", "--yes", "--out", tmp_path / "rep")
    assert r.code == 0, r.out + r.err
    store = Store(db_path)
    run = next(x for x in store.list_runs() if x["name"] == "cas")
    stored = json.loads((tmp_path / "rep" / "run.json").read_text())["judge_stats"]["cascade"]["calibration"]
    judge = load_judge(tmp_path / "cas.toml")
    judge.restore(store.games(run["run_id"]))
    assert judge.pilot_done == 30 and judge.calibration is not None
    assert judge.calibration.to_dict() == stored
    # a plan prices the cascade: the pilot pays every stage, the worst case escalates everything
    r = cli("tournament", "plan", spec)
    assert r.code == 0, r.err
    assert "pilot 30 matches" in r.out and "72 at most" in r.out


def test_a_pilot_larger_than_the_plan_is_refused_naming_the_key(cli, db_path, tmp_path):
    spec = _spec(cli, tmp_path, pilot="100")
    for cmd in ("plan", "run"):
        r = cli("tournament", cmd, spec, *(("--plain", "--yes") if cmd == "run" else ()))
        assert r.code == 2, r.out + r.err
        assert "'pilot'" in r.err and "larger than the plan" in r.err


def test_bundled_cascade_example_is_shipped_with_its_data():
    root = Path(__file__).resolve().parent.parent / "tournaments"
    assert (root / "cascade.toml").exists()
    assert sorted(p.name for p in (root / "cascade_data" / "recorded").iterdir()) == [
        "alpaca-7b.jsonl.gz", "claude-2.jsonl.gz", "gpt-3.5-turbo-0301.jsonl.gz", "vicuna-7b.jsonl.gz"]


def test_simulate_with_a_cheap_stage_counts_only_expensive_calls():
    from arena.tournaments.simulate import CascadeSyntheticJudge, SimulationError, SyntheticJudge, simulate

    judge = CascadeSyntheticJudge(SyntheticJudge(0.8, 0.1, 2), accuracy=0.9, confident=0.5)
    assert judge.calls_per_match() == 1.0  # half the matches never reach the two-call judge
    rng = np.random.default_rng(0)
    out = judge.decide(np.full(20000, 1200.0), np.full(20000, 1000.0), rng)
    share_a = (out == "a").mean() + 0.5 * (out == "tie").mean()
    assert share_a == pytest.approx(float(judge.expected_score(np.array([1200.0]), np.array([1000.0]))[0]), abs=0.01)
    kw = dict(n_models=6, n_prompts=300, trials=2, schedulers=["anchored"], budgets=[300])
    plain, cascade = simulate(**kw), simulate(**kw, cheap_accuracy=0.9, cheap_confident=0.5)
    assert cascade.params["cheap_accuracy"] == 0.9
    # budgets count the expensive judge's calls: the cascade spends the same budget on twice the matches
    assert plain.rows[0].calls == pytest.approx(300) and cascade.rows[0].calls == pytest.approx(300)
    with pytest.raises(SimulationError):
        simulate(**kw, cheap_accuracy=0.9, cheap_confident=1.0)
