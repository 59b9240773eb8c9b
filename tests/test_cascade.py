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


def test_a_win_rate_error_bound_raises_the_threshold_until_few_matches_change():
    from arena.cascade import clopper_pearson_upper

    rng = np.random.default_rng(1)
    conf = rng.uniform(0.5, 1.0, 4000)
    # 97% agreement everywhere above 0.6: per-match agreement alone keeps nearly everything, and
    # changes ~2.4% of all verdicts; bounding that share at 1% must keep far fewer
    agree = np.where(conf >= 0.6, rng.random(4000) < np.where(conf >= 0.9, 0.998, 0.97), rng.random(4000) < 0.5)
    plain = calibrate_threshold(conf, agree, target=0.95, delta=0.1)
    bound = calibrate_threshold(conf, agree, target=0.95, delta=0.1, win_rate_error=0.01)
    assert plain.certified and bound.certified and bound.threshold > plain.threshold
    kept = conf >= bound.threshold
    assert bound.changed == int((kept & ~agree).sum()) and bound.changed_upper <= 0.01
    assert bound.changed_upper == pytest.approx(clopper_pearson_upper(bound.changed, 4000, 0.1))
    assert (kept & ~agree).mean() <= 0.01 < (~agree & (conf >= plain.threshold)).mean()
    with pytest.raises(ValueError):
        calibrate_threshold(conf, agree, target=0.95, delta=0.1, win_rate_error=1.5)


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


def test_the_pilot_is_a_seeded_sample_of_the_plan_started_first(cli, tmp_path):
    from arena.judges import load_judge
    from arena.records import Match

    _spec(cli, tmp_path)
    plan = [Match(f"m{i:03d}", f"p{i}", BASE, "x") for i in range(72)]
    judge = load_judge(tmp_path / "cas.toml")
    order = judge.arrange(plan, 7)
    pilot = {plan[i].match_id for i in pilot_indices(72, 30, 7)}
    assert judge.pilot_ids == pilot and {m.match_id for m in order[:30]} == pilot
    assert sorted(m.match_id for m in order) == [m.match_id for m in plan]  # a reordering, nothing lost
    assert pilot != {m.match_id for m in plan[:30]}  # not the first matches released
    assert load_judge(tmp_path / "cas.toml").arrange(plan, 7) == order  # same seed, same pilot
    assert {m.match_id for m in load_judge(tmp_path / "cas.toml").arrange(plan, 8)[:30]} != pilot
    # a later release adds nothing once the pilot is full; a first release smaller than the pilot is taken whole
    assert judge.arrange([Match("late", "q", BASE, "x")], 7)[0].match_id == "late" and "late" not in judge.pilot_ids
    small = load_judge(tmp_path / "cas.toml")
    small.arrange(plan[:10], 7)
    small.arrange(plan[10:], 7)
    assert len(small.pilot_ids) == 30 and set(m.match_id for m in plan[:10]) <= small.pilot_ids


def test_the_length_consistent_surrogate_confidence_needs_both_views_to_agree(tmp_path):
    from arena.errors import SpecError
    from arena.judges import load_judge
    from arena.judges.cascade import confidence
    from arena.records import MatchContext

    (tmp_path / "two.toml").write_text('kind = "surrogate"\nconfidence = "length_consistent"\n')
    (tmp_path / "one.toml").write_text('kind = "surrogate"\n')
    two, one = load_judge(tmp_path / "two.toml"), load_judge(tmp_path / "one.toml")
    prompt = "List three primary colours."
    short, long_ = "Red, blue, yellow.", "Red, blue and yellow are the three primary colours of paint. " * 12
    ctx = MatchContext("m", "p", prompt, "x", "y", short, long_)
    r2, r1 = two.judge_sync(ctx), one.judge_sync(ctx)
    p, q = r2.extra["p_a"], r2.extra["p_a_no_length"]
    assert p == pytest.approx(r1.extra["p_a"]) and "p_a_no_length" not in r1.extra and r2.games[0].detail["p_a_no_length"] == round(q, 6)
    assert p != pytest.approx(q)  # the length terms move this match
    c = confidence(two, r2)
    assert c == (0.5 if (p - 0.5) * (q - 0.5) <= 0 else pytest.approx(min(max(p, 1 - p), max(q, 1 - q))))
    assert c <= confidence(one, r1) == pytest.approx(max(p, 1 - p))
    (tmp_path / "bad.toml").write_text('kind = "surrogate"\nconfidence = "margin"\n')
    with pytest.raises(SpecError, match="'confidence'"):
        load_judge(tmp_path / "bad.toml")


def test_stratified_escalation_flags_the_model_the_cheap_stage_misjudges_not_the_baseline():
    from arena.cascade import flag_strata

    models = [(BASE, "bad")] * 12 + [(BASE, "good")] * 40 + [(BASE, "fine")] * 40
    agree = np.array([i % 3 == 0 for i in range(12)] + [True] * 40 + [i != 5 for i in range(40)])  # bad: 8 of 12 wrong
    conf = np.full(len(models), 0.9)
    assert flag_strata(conf, agree, models, threshold=0.8, target=0.95, delta=0.1) == ("bad",)
    # below the threshold nothing is kept, so nothing is shown misjudged
    assert flag_strata(conf, agree, models, threshold=0.95, target=0.95, delta=0.1) == ()


def test_a_flagged_model_escalates_every_match_in_a_run(cli, tmp_path):
    import asyncio

    from arena.cascade import Calibration, StageCalibration
    from arena.judges import load_judge
    from arena.records import MatchContext

    _spec(cli, tmp_path)
    judge = load_judge(tmp_path / "cas.toml")
    judge.calibration = Calibration(0.6, 0.2, 30, [StageCalibration("surrogate", 0.5, 30, 30, 30, 0.9, (0.9, 1.0), True, escalated=("bad",))])
    judge.pilot_ids = set()
    judge._calibrated.set()

    def ctx(b):
        return MatchContext(f"m-{b}", "p", "Say hi.", BASE, b, "Hi!", "Hello there, how can I help?")

    stage = [asyncio.run(judge.judge(ctx(b))).extra["cascade"]["stage"] for b in ("bad", "good")]
    assert stage[0] == 1  # escalated: the recorded stage answers (here: "not recorded", still the final stage)
    assert stage[1] == 0  # threshold 0.5: the surrogate decides
