"""The leaderboard never silently lies: forfeits, coverage, thin data, judge bias, strict JSON,
battle counts, RUN resolution and stop reasons. Each example of issue 14 with its right value."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest

from arena.errors import BadInput, NotFound
from arena.ratings import battles_from_verdicts, fit_ratings
from arena.records import Battle
from arena.reports._data import judge_bias_warnings, wilson
from arena.strict_json import dumps, to_strict


def _strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


# -- thin data ------------------------------------------------------------------------------------


def test_one_battle_has_an_interval_and_is_marked_insufficient():
    lb = fit_ratings([Battle("p", "x", "y", "a")], bootstrap=200)
    for r in lb.rows:
        assert r.ci_high - r.ci_low > 100  # was 1131.4 -0/+0
        assert r.ci_low < r.rating < r.ci_high
        assert r.insufficient_data and r.battles == 1
    assert [x["insufficient_data"] for x in lb.to_records()] == [True, True]


def test_five_prompts_all_won_do_not_give_certain_ranks():
    lb = fit_ratings([Battle(f"p{i}", "x", "y", "a") for i in range(5)], bootstrap=200)
    assert lb.row("x").rating > lb.row("y").rating
    assert all(r.ci_high - r.ci_low > 50 for r in lb.rows)
    assert lb.row("x").ci_low < lb.row("y").ci_high  # the intervals overlap: rank (UB) 1 for both
    assert [r.rank_ub for r in lb.rows] == [1, 1]


def test_one_prompt_category_is_not_certain_and_only_the_anchor_is_zero_width():
    battles = [Battle("only", a, b, "a") for a, b in (("x", "y"), ("y", "z"), ("x", "z"))]
    lb = fit_ratings(battles, bootstrap=100, anchor="y")
    widths = {r.model: r.ci_high - r.ci_low for r in lb.rows}
    assert widths["y"] == 0 and widths["x"] > 0 and widths["z"] > 0


def test_no_bootstrap_still_gives_intervals():
    lb = fit_ratings([Battle(f"p{i}", "x", "y", "a" if i % 3 else "b") for i in range(30)], bootstrap=0)
    assert all(r.ci_high > r.ci_low for r in lb.rows)


def test_wins_losses_ties_count_battles_and_the_weighted_score_is_its_own_field():
    battles = [Battle("p1", "x", "y", "a", weight=3.0), Battle("p2", "x", "y", "b"), Battle("p3", "x", "y", "tie")]
    lb = fit_ratings(battles, bootstrap=10)
    x = lb.row("x")
    assert (x.wins, x.losses, x.ties, x.battles) == (1, 1, 1, 3)
    assert x.score == pytest.approx(3.5)  # 3 for the strong win, half of the tie
    assert x.win_rate == pytest.approx(3.5 / 5)
    rec = next(r for r in lb.to_records() if r["model"] == "x")
    assert rec["wins"] + rec["losses"] + rec["ties"] == rec["battles"]


# -- forfeits -----------------------------------------------------------------------------------------


def _rows():
    """`sparse` answered 2 of 8 prompts and won both; the other 6 are forfeits against each of 2 opponents."""
    rows = []
    for i in range(8):
        if i < 2:
            rows += [{"match_id": f"s{i}{o}", "prompt_id": f"p{i}", "model_a": "sparse", "model_b": o, "outcome": "a", "strength": 1} for o in ("m1", "m2")]
        else:
            rows += [{"match_id": f"f{i}{o}", "prompt_id": f"p{i}", "model_a": o, "model_b": "sparse", "outcome": "forfeit_a", "strength": 0} for o in ("m1", "m2")]
        rows.append({"match_id": f"m{i}", "prompt_id": f"p{i}", "model_a": "m1", "model_b": "m2", "outcome": "a" if i % 2 else "b", "strength": 1})
    return rows


def test_a_forfeit_is_a_loss_by_default_and_can_be_skipped():
    lb = fit_ratings(battles_from_verdicts(_rows()), bootstrap=50)
    sparse = lb.row("sparse")
    assert lb.rows[0].model != "sparse" and sparse.rank == 3
    assert (sparse.wins, sparse.losses) == (4, 12)
    skipped = fit_ratings(battles_from_verdicts(_rows(), forfeit="skip"), bootstrap=50)
    assert skipped.rows[0].model == "sparse" and skipped.row("sparse").win_rate == 1.0  # what the issue saw
    with pytest.raises(Exception, match="forfeit must be"):
        battles_from_verdicts(_rows(), forfeit="draw")


def test_answers_with_only_invisible_characters_are_missing():
    from arena.records import Output
    from arena.tournaments import answered_from_outputs

    outs = [Output("p", "a", "fine"), Output("p", "b", "\u200b \ufeff\u2060\n"), Output("p", "c", "  ")]
    assert answered_from_outputs(outs) == {"p": {"a"}}


# -- judge bias -----------------------------------------------------------------------------------------


def test_judge_bias_warnings():
    assert wilson(0, 0) == (None, None)
    lo, hi = wilson(60, 100)
    assert lo == pytest.approx(0.502, abs=1e-3) and hi == pytest.approx(0.691, abs=1e-3)
    js = {"position_consistency": 0.55, "first_slot_win_rate": 0.6, "first_slot_ci_low": lo, "first_slot_ci_high": hi}
    w = judge_bias_warnings(js)
    assert len(w) == 2 and w[0].startswith("judge bias: position consistency 55.0% is below 60%")
    assert "first-slot win rate 60.0%" in w[1] and "favours the answer shown first" in w[1]
    lo, hi = wilson(52, 100)
    assert judge_bias_warnings({"position_consistency": 0.9, "first_slot_win_rate": 0.52, "first_slot_ci_low": lo, "first_slot_ci_high": hi}) == []


# -- strict JSON ------------------------------------------------------------------------------------------


def test_strict_json_has_no_nan_or_infinity():
    obj = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.float64("nan"), "d": np.array([1.0, np.nan])}
    text = dumps(obj)
    assert _strict_loads(text) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [1.0, None]}
    assert to_strict((1, float("nan"))) == [1, None]


def test_json_outputs_are_strict(cli, capsys, tmp_path):
    from arena.cli._common import print_json

    capsys.readouterr()
    print_json({"x": math.nan})
    assert _strict_loads(capsys.readouterr().out) == {"x": None}


# -- a whole run: coverage, forfeits, bias, reports ------------------------------------------------------


def _pool(folder: Path) -> None:
    (folder / "outputs").mkdir(parents=True)
    quality = {"alpha": 7, "bravo": 5, "charlie": 3, "sparse": 9}
    with open(folder / "prompts.jsonl", "w") as f:
        for i in range(8):
            f.write(json.dumps({"prompt_id": f"q{i}", "text": f"Question {i}: explain topic {i}.", "category": "c"}) + "\n")
    for model, q in quality.items():
        with open(folder / "outputs" / f"{model}.jsonl", "w") as f:
            for i in range(8):
                text = f"Answer of {model} to {i}. <!-- quality={q} -->"
                if model == "sparse" and i >= 2:
                    text = "\u200b\ufeff " if i % 2 else ""  # empty, or only invisible characters
                f.write(json.dumps({"prompt_id": f"q{i}", "output": text}) + "\n")


def test_a_run_reports_coverage_forfeits_and_judge_bias(cli, db_path, tmp_path, loopback):
    from loopback import scripted_judge

    _pool(tmp_path / "pool")
    judge = tmp_path / "loop.toml"
    judge.write_text(f'kind = "llm"\nmodel = "openai/loop"\napi_base = "{loopback.api_base}"\napi_key_env = "ARENA_TEST_KEY"\nmax_tokens = 64\n')
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "cov"\npool = "{tmp_path / "pool"}"\njudge = "{judge}"\nbootstrap = 50\n[scheduler]\nkind = "round-robin"\n')
    loopback.hook = scripted_judge(p_first=0.7)  # a judge that mostly picks the first slot
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r")
    assert r.code == 0, r.out + r.err
    assert "Warning: low coverage: sparse answered 25% of the prompts (below 90%)" in r.out
    assert "Judge: position consistency" in r.out and "first-slot win rate" in r.out
    assert "judge bias: first-slot win rate" in r.out
    run = _strict_loads((tmp_path / "r" / "run.json").read_text())
    assert run["coverage"] == {"alpha": 1.0, "bravo": 1.0, "charlie": 1.0, "sparse": 0.25}
    assert run["forfeit"] == "loss" and run["judge_bias"] and any(w.startswith("judge bias") for w in run["warnings"])
    rows = {x["model"]: x for x in run["leaderboard"]}
    assert run["leaderboard"][0]["model"] != "sparse"
    assert rows["sparse"]["losses"] >= 18 and rows["sparse"]["coverage"] == 0.25
    assert all(x["wins"] + x["losses"] + x["ties"] == x["battles"] for x in rows.values())
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    assert "| 25% |" in md and "W / L / T" in md and "Position consistency" in md and "judge bias" in md
    csv_head = (tmp_path / "r" / "leaderboard.csv").read_text().splitlines()[0]
    assert "coverage" in csv_head and "insufficient_data" in csv_head and "score" in csv_head
    html = (tmp_path / "r" / "report.html").read_text()
    assert "low coverage: sparse" in html and "W / L / T" in html


def test_insufficient_data_is_marked_in_every_output(cli, db_path, tmp_path, loopback):
    (tmp_path / "pool" / "outputs").mkdir(parents=True)
    (tmp_path / "pool" / "prompts.jsonl").write_text(json.dumps({"prompt_id": "q0", "text": "Only question."}) + "\n")
    for m, q in (("x", 8), ("y", 2)):
        (tmp_path / "pool" / "outputs" / f"{m}.jsonl").write_text(json.dumps({"prompt_id": "q0", "output": f"Answer {m} <!-- quality={q} -->"}) + "\n")
    judge = tmp_path / "loop.toml"
    judge.write_text(f'kind = "llm"\nmodel = "openai/loop"\napi_base = "{loopback.api_base}"\napi_key_env = "ARENA_TEST_KEY"\nmax_tokens = 64\n')
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "one"\npool = "{tmp_path / "pool"}"\njudge = "{judge}"\nbootstrap = 50\n[scheduler]\nkind = "round-robin"\n')
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r")
    assert r.code == 0, r.out + r.err
    assert "1 (insufficient data)" in r.out and "-0 / +0" not in r.out
    run = _strict_loads((tmp_path / "r" / "run.json").read_text())
    assert all(x["insufficient_data"] and x["ci_high"] > x["ci_low"] for x in run["leaderboard"])
    assert "1 (insufficient data)" in (tmp_path / "r" / "leaderboard.md").read_text()
    assert "(insufficient data)" in (tmp_path / "r" / "report.html").read_text()
    assert (tmp_path / "r" / "leaderboard.csv").read_text().splitlines()[1].endswith(",True")


# -- RUN resolution ------------------------------------------------------------------------------------------


def test_run_argument_resolution(store):
    for rid, name, t in (("surr-adaptive3-20261128-1", "surr-adaptive3", 1.0), ("surr-adaptive3-20261129-2", "surr-adaptive3", 2.0),
                         ("demo-20261128-abc", "demo", 1.0), ("demo-20261129-abd", "demo", 2.0)):
        store.db.execute("INSERT INTO runs (run_id, name, status, started) VALUES (?, ?, 'done', ?)", [rid, name, t])
    assert store.resolve_run("demo-20261128-abc") == (store.get_run("demo-20261128-abc"), "exact id")
    row, how = store.resolve_run("demo")
    assert row.run_id == "demo-20261129-abd" and how == "latest run of spec 'demo'"
    row, how = store.resolve_run("demo-20261128")
    assert row.run_id == "demo-20261128-abc" and how == "unique id prefix"
    with pytest.raises(NotFound, match="specs with runs that start so: surr-adaptive3"):
        store.resolve_run("surr-adaptive")  # never another spec's run
    with pytest.raises(BadInput, match="matches 2 runs"):
        store.resolve_run("demo-2026112")
    with pytest.raises(NotFound):
        store.resolve_run("de%")


def test_the_cli_says_which_run_it_chose(cli, db_path):
    from arena.store import Store

    s = Store(db_path)
    s.db.execute("INSERT INTO runs (run_id, name, status, started) VALUES ('demo-20261128-abc', 'demo', 'done', 1.0)")
    s.close()
    r = cli("tournament", "show", "demo", "--format", "json")
    assert r.code == 0 and r.err.strip() == "Run: demo-20261128-abc (latest run of spec 'demo')"
    assert json.loads(r.out)["run_id"] == "demo-20261128-abc"


# -- stop reasons --------------------------------------------------------------------------------------------


def test_adaptive_runs_say_why_they_stopped(store):
    from test_runner import ScriptedJudge, _setup

    from arena.runner import Runner

    spec, prepared, sched = _setup(store, "adaptive", max_matches=400)
    stats = asyncio.run(Runner(store, prepared, ScriptedJudge(), sched).run())
    summary = store.get_run(prepared.run_id).summary
    assert summary.stop_reason == stats.stop_reason and summary.stop_reason
    assert summary.extra["target_reached"] in (True, False)
    assert summary.stop_reason.startswith("target reached") == summary.extra["target_reached"]


def test_totals_are_committed_with_the_verdicts(store):
    """A run killed outright keeps the totals of what it recorded: the summary is written in the
    same transaction as each batch of verdicts, so it always counts exactly the stored games."""
    from test_runner import ScriptedJudge, _setup

    from arena.runner import Runner

    seen: list[int] = []

    class Peeking(ScriptedJudge):
        async def judge(self, ctx):
            summary = store.get_run(prepared.run_id).summary
            stored = store.db.execute("SELECT COUNT(*) FROM games WHERE run_id = ?", [prepared.run_id]).fetchone()[0]
            seen.append((((summary.totals if summary is not None else None) or {}).get("games", 0), stored))
            return await super().judge(ctx)

    spec, prepared, sched = _setup(store, "round-robin")
    runner = Runner(store, prepared, Peeking(), sched)
    asyncio.run(runner.run())
    assert seen[0] == (0, 0) and max(seen)[0] > 0  # later matches saw the games of earlier ones in the stored totals
    assert all(totals == stored for totals, stored in seen)  # at every moment, the totals count exactly the stored games
