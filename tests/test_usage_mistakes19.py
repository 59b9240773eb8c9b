"""Usage mistakes a new user made (breaker19 #7, #8): each is one `Error:` line, exit 2, nothing
written, and through the Python API the refusal names the Python argument."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import error_line

import arena
from arena.errors import BadInput
from arena.store import Store

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
FIX = Path(__file__).resolve().parent / "fixtures"


def test_a_blank_pool_name_is_refused(cli, tmp_path):
    db = tmp_path / "new.db"
    assert error_line(cli("pool", "import", DEMO, "--name", "", "--db", db)) == "Error: --name: expected a pool name, got ''"
    assert error_line(cli("pool", "import", DEMO, "--name", "  ", "--db", db)) == "Error: --name: expected a pool name, got '  '"
    assert not db.exists()
    with pytest.raises(BadInput, match=r"^name: expected a pool name, got ''$"):
        arena.import_pool("", DEMO, db=db)


def test_a_blank_pool_or_run_name_of_a_verdicts_import_is_refused(cli, tmp_path):
    db = tmp_path / "new.db"
    src = next((FIX / "verdicts").iterdir())
    assert error_line(cli("verdicts", "import", src, "--format", "jsonl", "--pool", "", "--db", db)) == "Error: --pool: expected a pool name, got ''"
    assert error_line(cli("verdicts", "import", src, "--format", "jsonl", "--name", "", "--db", db)) == "Error: --name: expected a run name, got ''"
    assert not db.exists()


def _run(tmp_path: Path) -> tuple[Path, str]:
    spec = tmp_path / "s.toml"
    spec.write_text(f'name = "s"\npool = "{DEMO}"\njudge = "surrogate"\nprompts = 8\nbootstrap = 20\n'
                    'models = ["gpt4_0613", "Yi-34B-Chat", "zephyr-7b-beta"]\n[scheduler]\nkind = "round-robin"\n')
    db = tmp_path / "r.db"
    return db, arena.run_tournament(spec, db=db, write_reports=False).run_id


def test_a_report_anchored_on_a_model_the_run_lacks_is_refused(cli, tmp_path):
    db, run = _run(tmp_path)
    out = tmp_path / "rep"
    for bad in ("nosuchmodel", ""):
        err = error_line(cli("report", run, "--anchor", bad, "--out", out, "--db", db))
        assert err == f"Error: --anchor: expected a model of the run (Yi-34B-Chat, gpt4_0613, zephyr-7b-beta), got {bad!r}"
    assert not out.exists()
    r = cli("report", run, "--anchor", "Yi-34B-Chat", "--out", out, "--db", db, "--format", "json")
    assert r.code == 0, r.err
    from arena.reports import build_report

    with pytest.raises(BadInput, match=r"^anchor: expected a model of the run"):
        build_report(Store(db, readonly=True), run, anchor="typo")


def test_a_run_anchored_on_a_model_it_lacks_is_refused_before_any_call(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(f'name = "s"\npool = "{DEMO}"\njudge = "surrogate"\nprompts = 8\n'
                    'models = ["gpt4_0613", "Yi-34B-Chat"]\n[scheduler]\nkind = "round-robin"\n')
    with pytest.raises(BadInput, match=r"^anchor: expected a model of the run \(Yi-34B-Chat, gpt4_0613\), got 'zephyr'$"):
        arena.run_tournament(spec, db=tmp_path / "x.db", anchor="zephyr", write_reports=False)
    assert not (tmp_path / "x.db").exists()


@pytest.fixture
def pool_db(tmp_path):
    db = tmp_path / "g.db"
    arena.import_pool("mq", DEMO, db=db)
    return db


def test_pool_generate_refuses_a_url_that_is_not_http_before_any_call(cli, pool_db, monkeypatch):
    monkeypatch.setenv("LB_KEY", "k")
    err = error_line(cli("pool", "generate", "--model", "openai/gen-x", "--pool", "mq", "--api-base", "ftp://x", "--api-key-env", "LB_KEY", "--db", pool_db))
    assert err == "Error: --api-base: expected an http(s) URL such as http://gpu-node-1:8000/v1, got 'ftp://x'"
    assert "gen-x" not in Store(pool_db, readonly=True).models("mq")


def test_pool_generate_refuses_an_openai_model_without_a_key(cli, pool_db, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    err = error_line(cli("pool", "generate", "--model", "openai/gen-x", "--pool", "mq", "--api-base", "http://127.0.0.1:9/v1", "--db", pool_db))
    assert err.startswith("Error: --api-key-env: model openai/gen-x reads its API key from OPENAI_API_KEY, which is not set;")
    assert "name the variable that holds the key with --api-key-env" in err
    from arena.generate import generate_answers

    with pytest.raises(BadInput, match=r"^api_key_env: model openai/gen-x reads its API key from OPENAI_API_KEY"):
        generate_answers(Store(pool_db), "mq", "openai/gen-x", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(BadInput, match=r"^name: expected a model name, got ''$"):
        generate_answers(Store(pool_db), "mq", "openai/gen-x", name="", api_base="http://127.0.0.1:9/v1")
