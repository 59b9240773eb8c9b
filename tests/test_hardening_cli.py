"""The CLI's argument parsing fed random and mutated input (hypothesis), spec ranges and spec-relative
paths (issue 21): the only outcomes are success, or one `Error:` line and exit 2 with the store unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.errors import SpecError
from arena.tournaments.spec import load_spec, spec_from_dict

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"


@pytest.mark.parametrize(
    ("key", "value"),
    [("seed", -1), ("seed", 2**64), ("concurrency", 0), ("concurrency", 10**9), ("bootstrap", -5), ("bootstrap", 10**9),
     ("max_calls", 0), ("max_cost_usd", -1.0), ("max_cost_usd", float("nan")), ("strong_weight", float("inf")),
     ("confirm_above_usd", float("nan")), ("strong_weight", 0.5)],
)
def test_out_of_range_spec_values_are_refused_at_validation(key, value):
    with pytest.raises(SpecError) as e:
        spec_from_dict({"name": "t", "pool": "p", key: value}, "t.toml")
    assert str(e.value).startswith(f"t.toml: key '{key}': ") and "\n" not in str(e.value)


def test_seed_minus_one_is_one_line_exit_2_at_plan(cli, tmp_path):
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "t"\npool = "{DEMO}"\nseed = -1\n')
    r = cli("tournament", "plan", spec)
    assert r.code == 2 and r.err.strip() == f"Error: {spec}: key 'seed': input should be greater than or equal to 0 (got -1)"


def test_spec_relative_paths_resolve_against_the_spec_folder_in_plan_and_run(cli, db_path, tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    shutil.copytree(DEMO, project / "specs" / "pool")
    (project / "specs" / "my-judge.toml").write_text('kind = "surrogate"\ndescription = "the spec folder judge"\n')
    shutil.copy(DEMO / "reference_rankings.csv", project / "specs" / "ref.csv")
    spec = project / "specs" / "t.toml"
    spec.write_text('name = "rel"\npool = "pool"\njudge = "my-judge.toml"\nreference = "ref.csv"\nprompts = 6\nbootstrap = 10\n[scheduler]\nkind = "round-robin"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither cwd nor the shipped data has these files
    (elsewhere / "pool").mkdir()  # a decoy beside the working folder: the spec's folder wins
    loaded = load_spec(spec)
    assert loaded.judge_ref() == str(project / "specs" / "my-judge.toml")
    assert loaded.reference == str((project / "specs" / "ref.csv").resolve())
    plan = cli("tournament", "plan", spec, "--format", "json")
    assert plan.code == 0, plan.err
    run = cli("tournament", "run", spec, "--yes", "--plain")
    assert run.code == 0, run.err
    p = json.loads(plan.out)
    runjson = json.loads(next((elsewhere / "reports").glob("*/run.json")).read_text())
    from arena.store import Store

    s = Store(db_path)
    run_id = s.list_runs()[0].run_id
    assert p["judge"] == "my-judge" and runjson["judge"]["description"] == "the spec folder judge"  # both read it
    assert p["prompts"] == 6 and p["matches"] == len(s.matches(run_id))  # and the same pool
    assert runjson["reference"]["path"] == str((project / "specs" / "ref.csv").resolve())


# -- hypothesis: random and mutated argument lists -------------------------------------------------------

WORDS = [
    "pool", "tournament", "report", "ratings", "judge", "simulate", "list", "show", "export", "import", "plan", "fit",
    "run", "eval", "score", "compare", "generate", "--format", "-f", "json", "table", "csv", "native", "jsonl", "--name", "-n",
    "--limit", "--out", "-o", "--db", "--seed", "--bootstrap", "-b", "--anchor", "--anchor-rating", "--by", "--judge",
    "--pairs", "--new", "--yes", "--wait", "--replace", "--style", "nan", "inf", "-1", "0", "1e309", "99999999999999999999",
    "demo", "x", "", " ", "--", "-", "é", "../../x", "/abs/path", "openai/gpt-4o-mini", "bad$\\frac{$model", "\x00", "--help",
]
SAFE_FIRST = ["pool", "tournament", "report", "ratings", "judge", "--bogus", "bogus", "-x"]


def _argv():
    word = st.one_of(st.sampled_from(WORDS), st.text(max_size=12))
    return st.tuples(st.sampled_from(SAFE_FIRST), st.lists(word, max_size=7)).map(lambda t: [t[0], *t[1]])


def _state(path: Path) -> str | None:
    """A digest of the store's content (the WAL may be checkpointed or removed without a change)."""
    import sqlite3

    if not path.exists():
        return None
    con = sqlite3.connect(path)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def _is_slow(argv: list[str]) -> bool:
    # a real tournament run or judge eval is tested elsewhere; here only parsing and validation
    return ("run" in argv and "tournament" in argv and "--help" not in argv and "-h" not in argv) or "generate" in argv or "eval" in argv


@pytest.fixture(scope="module")
def arena_db(tmp_path_factory):
    from arena.cli import main

    folder = tmp_path_factory.mktemp("cli-prop")
    db = folder / "arena.db"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["pool", "import", str(DEMO), "--name", "demo", "--db", str(db)]) == 0
    return folder, db


@given(argv=_argv())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_argument_list_succeeds_or_is_one_error_line_exit_2_and_leaves_the_store_alone(arena_db, argv, monkeypatch):
    from arena.cli import main

    folder, db = arena_db
    if _is_slow(argv):
        return
    monkeypatch.chdir(folder)
    monkeypatch.setenv("ARENA_DB", str(db))
    before = _state(db)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    assert code in (0, 2), (argv, code, text)
    if code == 2:
        errors = [line for line in text.splitlines() if line.startswith("Error:")]
        no_args_help = not errors and "Usage: arena" in out.getvalue() + text  # `arena pool` alone: the group's help
        assert len(errors) == 1 or no_args_help, (argv, text)
        assert _state(db) == before, argv
    for stray in folder.iterdir():  # nothing written outside the store's folder files and reports
        assert stray.name.startswith(("arena.db", "reports", "cli-prop")) or stray.is_file(), stray
