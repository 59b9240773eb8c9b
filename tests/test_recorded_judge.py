"""The `recorded` judge kind: a tournament replayed on verdicts recorded elsewhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIX = Path(__file__).resolve().parent / "fixtures" / "peers"
BASE = "gpt4_1106_preview"


def _setup(cli, tmp_path, scheduler: str) -> Path:
    r = cli("verdicts", "import", FIX / "alpaca_eval", "--format", "alpaca_eval", "--name", "ae")
    assert r.code == 0, r.err
    (tmp_path / "rec.toml").write_text(f'kind = "recorded"\nformat = "alpaca_eval"\nfiles = ["{FIX / "alpaca_eval"}"]\n')
    spec = tmp_path / "t.toml"
    spec.write_text(
        f'name = "replay"\npool = "ae"\njudge = "{tmp_path / "rec.toml"}"\nbootstrap = 50\nbaseline = "{BASE}"\n'
        f'[scheduler]\nkind = "{scheduler}"\n' + (f'baseline = "{BASE}"\n' if scheduler == "anchored" else "")
    )
    return spec


def test_anchored_tournament_replays_the_recorded_verdicts(cli, db_path, tmp_path):
    from arena.store import Store

    spec = _setup(cli, tmp_path, "anchored")
    r = cli("tournament", "run", spec, "--plain", "--yes", "--out", tmp_path / "rep")
    assert r.code == 0, r.out + r.err
    assert f"vs {BASE}" in r.out  # the CLI table has the win rate against the baseline
    store = Store(db_path)
    imported = next(x for x in store.list_runs() if x["name"] == "ae")
    replay = next(x for x in store.list_runs() if x["name"] == "replay")
    key = lambda v: (v.prompt_id, frozenset((v.model_a, v.model_b)))  # noqa: E731
    want = {key(v): (v.model_a, v.outcome, v.label) for v in store.verdicts(imported["run_id"])}
    got = store.verdicts(replay["run_id"])
    assert len(got) == len(want) == 72
    for v in got:
        a, outcome, label = want[key(v)]
        if v.model_a == a:
            assert (v.outcome, v.label) == (outcome, label)
        else:  # the scheduler put the pair the other way round: the verdict is turned with it
            flip = {"a": "b", "b": "a", "tie": "tie"}
            assert v.outcome == flip[outcome]
    games = store.games(replay["run_id"])
    assert all(g.calls == 0 and g.cost_usd == 0 for g in games)
    assert all(g.detail["recorded_judge"] == "weighted_alpaca_eval_gpt4_turbo" for g in games)
    data = json.loads((tmp_path / "rep" / "run.json").read_text())
    assert data["baseline"] == BASE and all("win_rate_vs_baseline" in row for row in data["leaderboard"])


def test_a_pair_never_recorded_is_a_permanent_not_recorded_error(cli, db_path, tmp_path):
    from arena.store import Store

    spec = _setup(cli, tmp_path, "round-robin")
    r = cli("tournament", "run", spec, "--plain", "--yes", "--out", tmp_path / "rep")
    assert r.code == 3  # some matches could not be decided
    store = Store(db_path)
    run = next(x for x in store.list_runs() if x["name"] == "replay")
    errors = [g for g in store.games(run["run_id"]) if g.label == "error"]
    decided = [v for v in store.verdicts(run["run_id"]) if v.outcome in ("a", "b", "tie")]
    assert errors and decided
    assert all(g.error.startswith("not recorded:") and g.detail["permanent"] for g in errors)
    # exactly the pairs without the baseline are the ones not recorded
    matches = {m["match_id"]: m for m in store.matches(run["run_id"])}
    assert all(BASE not in (matches[g.match_id]["model_a"], matches[g.match_id]["model_b"]) for g in errors)
    assert all(BASE in (v.model_a, v.model_b) for v in decided)


def test_shipped_example_preset_builds_and_bad_presets_fail_clearly(tmp_path):
    import pytest

    from arena.errors import SpecError
    from arena.judges import load_judge

    judge = load_judge("recorded")
    assert judge.calls_per_match() == 0 and judge.index
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "recorded"\nformat = "alpaca_eval"\nfiles = ["nope.json"]\n')
    with pytest.raises(SpecError, match="nope.json: no such file"):
        load_judge(bad)
    bad.write_text('kind = "recorded"\nformat = "parquet"\nfiles = ["x"]\n')
    with pytest.raises(SpecError, match="format"):
        load_judge(bad)
    # an edited recorded file changes the judge's fingerprint (a run's identity)
    shutil.copytree(FIX / "alpaca_eval", tmp_path / "rec")
    good = tmp_path / "good.toml"
    good.write_text('kind = "recorded"\nformat = "alpaca_eval"\nfiles = ["rec"]\n')
    before = load_judge(good).fingerprint()
    (tmp_path / "rec" / "vicuna-7b.jsonl.gz").write_bytes((FIX / "alpaca_eval" / "claude-2.jsonl.gz").read_bytes())
    assert load_judge(good).fingerprint() != before


def test_style_control_and_davidson_ties_are_tournament_run_options(cli, db_path, tmp_path):
    from arena.resources import bundled_dir

    demo = bundled_dir("data") / "demo"
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "opts"\npool = "{demo}"\njudge = "surrogate"\nprompts = 40\nbootstrap = 50\n'
                    '[scheduler]\nkind = "round-robin"\n')
    r = cli("tournament", "run", spec, "--plain", "--yes", "--ties", "davidson", "--anchor", "gpt4_0613", "--out", tmp_path / "d")
    assert r.code == 0, r.out + r.err
    assert "vs gpt4_0613" in r.out
    d = json.loads((tmp_path / "d" / "run.json").read_text())
    assert d["ties"] == "davidson" and d["tie_param"] > 0 and d["baseline"] == "gpt4_0613"
    assert "ties by Davidson's model" in (tmp_path / "d" / "leaderboard.md").read_text()
    # the same run (rating options are not part of its identity), now with style control
    r = cli("tournament", "run", spec, "--plain", "--yes", "--style", "--out", tmp_path / "s")
    assert r.code == 0, r.out + r.err
    s = json.loads((tmp_path / "s" / "run.json").read_text())
    assert s["run"]["run_id"] == d["run"]["run_id"]
    assert s["style"] is True and set(s["style_coefs"]) == {"length", "headers", "lists", "bold"}
    assert s["style_coefs"]["length"]["coef"] > 0  # the surrogate imitates GPT-4-Turbo's taste for long answers
    assert "style control" in (tmp_path / "s" / "leaderboard.md").read_text()
    r = cli("tournament", "run", spec, "--plain", "--yes", "--ties", "thirds")
    assert r.code == 2 and "--ties" in r.err
