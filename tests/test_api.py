"""arena as a library: `arena.run_tournament` gives the CLI's leaderboard; typed run records;
a judge that raises inside a match is that match's error (exit 3), not a run left "running"."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import arena
from arena.records import RunStatus, Usage

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"


def _spec(tmp_path: Path, **extra) -> Path:
    lines = [
        'name = "api"',
        f'pool = "{DEMO}"',
        'judge = "surrogate"',
        "seed = 5",
        "prompts = 12",
        "bootstrap = 50",
        'models = ["gpt4_0613", "Yi-34B-Chat", "vicuna-7b-v1.5", "zephyr-7b-beta"]',
        *(f"{k} = {json.dumps(v)}" for k, v in extra.items()),
        "[scheduler]",
        'kind = "round-robin"',
    ]
    path = tmp_path / "api.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_run_tournament_gives_the_same_leaderboard_as_the_cli(tmp_path, cli):
    spec = _spec(tmp_path)
    r = cli("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "cli.db", "--out", tmp_path / "cli")
    assert r.code == 0, r.out + r.err
    from_cli = json.loads((tmp_path / "cli" / "run.json").read_text())["leaderboard"]

    events = []
    result = arena.run_tournament(spec, db=tmp_path / "api.db", on_event=events.append, report_dir=tmp_path / "api")
    assert result.status == RunStatus.DONE and not result.resumed
    assert [e.kind for e in events][:2] == ["planned", "started"] and events[-1].kind == "finished"
    assert result.stats.matches_done == 12 * 6
    assert [row["model"] for row in result.leaderboard] == [row["model"] for row in from_cli]
    for a, b in zip(result.leaderboard, from_cli, strict=True):
        assert a["rating"] == pytest.approx(b["rating"], abs=1e-6)
        assert (a["ci_low"], a["ci_high"], a["battles"]) == pytest.approx((b["ci_low"], b["ci_high"], b["battles"]), abs=1e-6)
    assert isinstance(result.usage, Usage) and result.usage.calls == 0  # the surrogate makes no paid call

    run = arena.load_run(result.run_id, db=tmp_path / "api.db")
    assert run.status is RunStatus.DONE and run.spec.scheduler.kind == "round-robin" and run.spec.seed == 5
    assert run.summary.matches_done == 72 and run.summary.calls == 0 and run.judge["kind"] == "surrogate"
    assert run.matches == {"done": 72} and sum(run.verdicts.values()) == 72
    assert run.report(bootstrap=0)["leaderboard"][0]["model"] == result.leaderboard[0]["model"]

    again = arena.run_tournament(spec, db=tmp_path / "api.db", write_reports=False)
    assert again.resumed and again.stats.matches_resumed == 72 and again.report_paths == []


def test_plan_and_fit_ratings_from_python(tmp_path):
    plan = arena.plan(_spec(tmp_path))
    assert plan.matches == 72 and plan.judge_calls == 0
    battles = [arena.Battle(f"p{i}", "a", "b", "a" if i % 4 else "b") for i in range(40)]
    board = arena.fit_ratings(battles, bootstrap=20)
    assert board.to_records()[0]["model"] == "a"


def test_a_run_above_the_confirmation_threshold_is_refused_without_yes(tmp_path):
    spec = _spec(tmp_path, confirm_above_usd=0.0)
    # the surrogate costs nothing: nothing to confirm, whatever the threshold
    assert arena.run_tournament(spec, db=tmp_path / "a.db", write_reports=False).status == RunStatus.DONE


def test_usage_adds_up_and_an_unknown_price_stays_unknown():
    a = Usage(calls=2, cached_calls=1, input_tokens=10, output_tokens=3, cost_usd=0.5)
    b = Usage(calls=1, input_tokens=5, output_tokens=1, cost_usd=0.25)
    assert a + b == Usage(3, 1, 15, 4, 0.75)
    assert sum([a, b]) == a + b
    assert (a + Usage(cost_usd=None)).cost_usd is None


class _Raising:
    """Wraps a judge; its `judge()` raises on every third prompt."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def judge(self, ctx):
        if int(ctx.prompt_id.split("-")[-1]) % 3 == 0:  # demo prompt ids are ae-001, ae-002, ...
            raise RuntimeError("judge exploded")
        return await self.inner.judge(ctx)


def test_a_judge_that_raises_is_that_matchs_error_and_the_run_exits_3(tmp_path, cli, monkeypatch):
    import arena.judges

    real = arena.judges.load_judge
    monkeypatch.setattr(arena.judges, "load_judge", lambda *a, **k: _Raising(real(*a, **k)))
    spec = _spec(tmp_path)
    r = cli("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "x.db", "--out", tmp_path / "x")
    assert r.code == 3, r.out + r.err
    assert "Traceback" not in r.out + r.err and "Finished with errors" in r.err
    run = arena.load_run("api", db=tmp_path / "x.db")
    assert run.status is RunStatus.ERRORS
    assert 0 < run.verdicts["unresolved"] < 72 and run.matches["error"] == run.verdicts["unresolved"]
    games = json.loads((tmp_path / "x" / "run.json").read_text())["judge_stats"]
    assert games["unresolved_matches"] == run.verdicts["unresolved"]

    # the judge healed: resuming judges only the failed matches and finishes done
    monkeypatch.setattr(arena.judges, "load_judge", real)
    r = cli("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "x.db", "--out", tmp_path / "x")
    assert r.code == 0, r.out + r.err
    assert arena.load_run("api", db=tmp_path / "x.db").status is RunStatus.DONE


def test_a_stale_running_status_is_corrected_on_resume(tmp_path):
    from arena.judges import load_judge, load_preset
    from arena.runner import prepare_run
    from arena.store import Store

    spec = arena.load_spec(_spec(tmp_path))
    db = tmp_path / "s.db"
    result = arena.run_tournament(spec, db=db, write_reports=False)
    store = Store(db)
    store.set_run_status(result.run_id, "running")  # what a killed process leaves behind
    assert arena.load_run(result.run_id, db=store).status is RunStatus.RUNNING
    prepared = prepare_run(
        store, spec, load_preset("surrogate")[0], judge_fingerprint=load_judge("surrogate").fingerprint(), create=False
    )
    assert prepared.resumed and prepared.run_id == result.run_id
    assert arena.load_run(result.run_id, db=store).status is RunStatus.INTERRUPTED  # nobody is running it
    store.close()
    again = arena.run_tournament(spec, db=db, write_reports=False)
    assert again.run_id == result.run_id and again.status is RunStatus.DONE
    assert arena.load_run(result.run_id, db=db).status is RunStatus.DONE


def test_report_extras_come_from_the_judge_kinds_hook():
    from arena.judges import report_extras
    from arena.records import Game

    games = [
        Game("m1", "panel", "AB", "A>B", detail={"members": [{"name": "x", "agrees": True}, {"name": "y", "agrees": False}]}),
        Game("m2", "panel", "AB", "B>A", detail={"members": [{"name": "x", "agrees": True}, {"name": "y", "agrees": True}]}),
    ]
    extras = report_extras("panel", games)
    assert extras == {"member_agreement": {"x": {"agree": 2, "n": 2, "rate": 1.0}, "y": {"agree": 1, "n": 2, "rate": 0.5}}}
    assert report_extras("llm", games) == {} and report_extras("no-such-kind", games) == {}


def test_the_store_gives_the_ratings_battle_records(tmp_path):
    from arena.ratings import battles_from_verdicts
    from arena.store import Store

    result = arena.run_tournament(_spec(tmp_path), db=tmp_path / "b.db", write_reports=False)
    store = Store(tmp_path / "b.db")
    battles = store.battles(result.run_id, strong_weight=4.0)
    assert len(battles) == 72 and all(isinstance(b, arena.Battle) for b in battles)
    assert {b.weight for b in battles} <= {1.0, 4.0}
    assert battles == battles_from_verdicts([dataclasses.asdict(v) for v in store.verdicts(result.run_id)], strong_weight=4.0)  # same as from rows
    store.close()


def test_a_store_passed_in_stays_open_and_its_runs_are_listed(tmp_path):
    from arena.store import Store

    store = Store(":memory:")  # nothing on disk: a report must read this very Store
    result = arena.run_tournament(_spec(tmp_path), db=store, write_reports=False)
    run = arena.load_run("api", db=store)
    assert run.run_id == result.run_id and run.chosen_by == "latest run of spec 'api'" and run.games == 72
    assert run.report(bootstrap=0)["leaderboard"][0]["model"] == result.leaderboard[0]["model"]
    assert store.game_count(result.run_id) == 72  # still open after load_run and report()
    (listed,) = arena.list_runs(db=store)
    assert (listed.run_id, listed.status, listed.summary.matches_done) == (result.run_id, RunStatus.DONE, 72)
    assert arena.list_runs(db=tmp_path / "none.db") == [] and not (tmp_path / "none.db").exists()
    store.close()
