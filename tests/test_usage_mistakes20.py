"""Mistakes a new user made (breaker20): each is refused with one `Error:` line naming the file
and key or the option, exit 2, before any judge call and with nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import error_line

import arena
from arena.errors import SpecError
from arena.store import Store

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
MODELS = '["gpt4_0613", "Yi-34B-Chat", "zephyr-7b-beta"]'


def _spec(tmp_path: Path, extra: str = "", name: str = "s.toml") -> Path:
    spec = tmp_path / name
    spec.write_text(f'name = "s"\npool = "{DEMO}"\njudge = "surrogate"\nprompts = 8\nbootstrap = 20\n{extra}'
                    f'models = {MODELS}\n[scheduler]\nkind = "round-robin"\n')
    return spec


def test_a_spec_baseline_naming_no_model_of_the_run_is_refused_by_plan_and_run(cli, tmp_path):
    spec = _spec(tmp_path, 'baseline = "nosuch"\n')
    db = tmp_path / "x.db"
    want = f"Error: {spec}: key 'baseline': 'nosuch' is not one of the tournament's models (gpt4_0613, Yi-34B-Chat, zephyr-7b-beta)"
    assert error_line(cli("tournament", "plan", spec, "--db", db)) == want
    assert error_line(cli("tournament", "run", spec, "--db", db, "--yes", "--out", tmp_path / "rep")) == want
    assert not db.exists() and not (tmp_path / "rep").exists()
    events = []
    with pytest.raises(SpecError, match=r"key 'baseline': 'nosuch'"):
        arena.run_tournament(spec, db=db, write_reports=False, on_event=events.append)
    assert events == [] and not db.exists()


def test_a_resumed_run_with_a_spec_baseline_it_lacks_is_refused_before_any_call(cli, tmp_path):
    db = tmp_path / "r.db"
    first = arena.run_tournament(_spec(tmp_path), db=db, write_reports=False)
    before = Store(db, readonly=True).verdict_counts(first.run_id)
    spec = _spec(tmp_path, 'baseline = "nosuch"\n')  # same identity: the baseline is a rating option
    events = []
    with pytest.raises(SpecError, match="^" + re.escape(f"{tmp_path}/s.toml") + r": key 'baseline': 'nosuch' is not one of the tournament's models"):
        arena.run_tournament(spec, db=db, write_reports=False, on_event=events.append)
    assert events == []  # refused before the plan event: nothing replayed, nothing paid
    err = error_line(cli("tournament", "run", spec, "--db", db, "--yes", "--out", tmp_path / "rep"))
    assert "key 'baseline'" in err and "--anchor" not in err
    assert Store(db, readonly=True).verdict_counts(first.run_id) == before and len(Store(db, readonly=True).list_runs()) == 1
    ok = arena.run_tournament(_spec(tmp_path, 'baseline = "Yi-34B-Chat"\n'), db=db, write_reports=False)
    assert ok.resumed and ok.run_id == first.run_id


def test_a_resumed_run_reports_with_the_spec_s_current_bootstrap(tmp_path):
    db = tmp_path / "r.db"
    first = arena.run_tournament(_spec(tmp_path), db=db, write_reports=False)  # bootstrap = 20
    spec = tmp_path / "s.toml"
    spec.write_text(spec.read_text().replace("bootstrap = 20", "bootstrap = 0"))  # not part of the identity
    again = arena.run_tournament(spec, db=db, write_reports=False)
    assert again.resumed and again.run_id == first.run_id
    from arena.reports import build_report

    want = build_report(Store(db, readonly=True), first.run_id, bootstrap=0)["leaderboard"]
    bounds = [(r["ci_low"], r["ci_high"]) for r in again.leaderboard]
    assert bounds == [(r["ci_low"], r["ci_high"]) for r in want]
    assert bounds != [(r["ci_low"], r["ci_high"]) for r in first.leaderboard]


def _snapshot(db: Path) -> bytes:
    return db.read_bytes()


@pytest.fixture
def run_db(tmp_path):
    db = tmp_path / "r.db"
    run = arena.run_tournament(_spec(tmp_path), db=db, write_reports=False)
    return db, run.run_id


def test_pool_generate_refuses_a_blank_model_or_pool_before_any_call(cli, run_db, monkeypatch):
    db, _ = run_db
    monkeypatch.setenv("LB_KEY", "k")
    before = _snapshot(db)
    args = ("--api-base", "http://127.0.0.1:9/v1", "--api-key-env", "LB_KEY", "--db", db)
    for blank in ("", "  "):
        err = error_line(cli("pool", "generate", "--model", blank, "--pool", "demo", *args))
        assert err == f"Error: --model: expected a model as litellm names it (openai/gpt-4o-mini, hosted_vllm/...), got {blank!r}"
        assert error_line(cli("pool", "generate", "--model", "openai/x", "--pool", blank, *args)) == f"Error: --pool: expected a pool name, got {blank!r}"
    assert _snapshot(db) == before
    from arena.errors import BadInput
    from arena.generate import generate_answers

    with pytest.raises(BadInput, match=r"^model: expected a model as litellm names it"):
        generate_answers(Store(db), "demo", "", api_base="http://127.0.0.1:9/v1", api_key_env="LB_KEY")


def test_blank_run_and_out_arguments_are_refused(cli, run_db, tmp_path, monkeypatch):
    db, run = run_db
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for blank in ("", " "):
        want = f"Error: RUN: expected a run id or spec name, got {blank!r}"
        assert error_line(cli("report", blank, "--db", db)) == want
        assert error_line(cli("tournament", "show", blank, "--db", db)) == want
        assert error_line(cli("verdicts", "export", blank, "--format", "jsonl", "--out", tmp_path / "v.jsonl", "--db", db)) == want
        assert error_line(cli("report", run, "--out", blank, "--db", db)) == f"Error: --out: expected a report folder, got {blank!r}"
        assert error_line(cli("verdicts", "export", run, "--format", "jsonl", "--out", blank, "--db", db)) == \
            f"Error: --out: expected a file or folder, got {blank!r}"
        assert error_line(cli("tournament", "run", _spec(tmp_path), "--db", db, "--out", blank)).startswith("Error: --out: expected a report folder")
        assert error_line(cli("run", "merge", blank, db)) == f"Error: OUT: expected a store file to write the merged run into, got {blank!r}"
        assert error_line(cli("run", "merge", tmp_path / "m.db", blank)) == f"Error: SHARDS: expected a shard's store file, got {blank!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no report files in the working folder, no store
    from arena.errors import BadInput

    with pytest.raises(BadInput, match=r"^run: expected a run id or spec name, got ''$"):
        arena.load_run("", db=db)


@pytest.mark.parametrize("pool", ["", "   "])
def test_a_blank_spec_pool_is_refused_naming_the_key(cli, tmp_path, pool):
    spec = tmp_path / "b.toml"
    spec.write_text(f'name = "b"\npool = "{pool}"\njudge = "surrogate"\n')
    want = f"Error: {spec}: key 'pool': expected a pool name or a path to pool files, got {pool!r}"
    assert error_line(cli("tournament", "plan", spec, "--db", tmp_path / "x.db")) == want
    assert error_line(cli("tournament", "run", spec, "--db", tmp_path / "x.db", "--yes")) == want
    assert not (tmp_path / "x.db").exists()
