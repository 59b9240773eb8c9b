"""Pool formats, validation errors (exact texts, exit code 2, store untouched), coverage, export round-trip."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arena.errors import PoolError
from arena.pools import coverage, import_pool, load_pool_files

FIX = Path(__file__).parent / "fixtures" / "pools"
DEMO = Path(__file__).parent.parent / "data" / "demo"


def test_demo_pool_loads_with_the_missing_llama_answer():
    data = load_pool_files([DEMO])
    assert data.format == "native"
    assert len(data.prompts) == 101
    assert data.models == sorted(p.stem for p in (DEMO / "outputs").glob("*.jsonl"))
    cov = {c.model: c for c in coverage(data.prompts, data.outputs)}
    assert len(cov["llama-2-70b-chat-hf"].missing) == 1
    assert all(not c.missing for m, c in cov.items() if m != "llama-2-70b-chat-hf")
    assert {p.category for p in data.prompts} == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}


def test_alpaca_eval_format_matches_prompts_by_instruction(store):
    data = import_pool(store, "ae", [FIX / "alpaca_eval"], "alpaca_eval")
    assert data.models == ["gpt4_0613", "llama-2-70b-chat-hf"]
    prompts = store.prompts("ae")
    assert len(prompts) == 6
    cov = {c.model: c for c in coverage(prompts, store.outputs("ae"))}
    assert cov["gpt4_0613"].answers == 6 and cov["llama-2-70b-chat-hf"].answers == 5
    assert len(cov["llama-2-70b-chat-hf"].missing) == 1
    assert prompts[0].category == "helpful_base"


def test_alpaca_eval_models_can_be_added_one_file_at_a_time(store):
    import_pool(store, "ae", [FIX / "alpaca_eval" / "gpt4_0613.json"])
    import_pool(store, "ae", [FIX / "alpaca_eval" / "llama-2-70b-chat-hf.json"])
    assert store.models("ae") == ["gpt4_0613", "llama-2-70b-chat-hf"]
    assert len(store.prompts("ae")) == 6


def test_arena_hard_both_answer_shapes(store):
    data = import_pool(store, "ah", [FIX / "arena_hard"], "arena_hard")
    assert data.models == ["gpt4_0613", "llama-2-70b-chat-hf"]
    outs = {(o.model, o.prompt_id): o.text for o in store.outputs("ah")}
    assert len(outs) == 8
    assert all(t.strip() for t in outs.values())  # choices[0].turns and messages[].content.answer both read
    assert store.prompts("ah")[0].prompt_id == "q0"


def test_varco_format(store):
    data = import_pool(store, "va", [FIX / "varco"])
    assert data.format == "varco"
    assert len(store.prompts("va")) == 4 and len(store.outputs("va")) == 8


def test_export_jsonl_round_trips(store, tmp_path):
    from arena.pools import export_jsonl

    import_pool(store, "demo", [DEMO])
    out = tmp_path / "demo.jsonl"
    out.write_text("\n".join(export_jsonl(store.prompts("demo"), store.outputs("demo"))) + "\n", encoding="utf-8")
    import_pool(store, "again", [out], "jsonl")
    assert store.prompts("again") == store.prompts("demo")
    assert sorted(store.outputs("again"), key=repr) == sorted(store.outputs("demo"), key=repr)


def _native(tmp_path: Path, prompts: str, outputs: dict[str, str | bytes]) -> Path:
    folder = tmp_path / "pool"
    (folder / "outputs").mkdir(parents=True)
    (folder / "prompts.jsonl").write_text(prompts, encoding="utf-8")
    for model, text in outputs.items():
        p = folder / "outputs" / f"{model}.jsonl"
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return folder


GOOD_PROMPTS = '{"prompt_id": "p1", "text": "Say hi"}\n{"prompt_id": "p2", "text": "Say bye", "category": "x"}\n'


@pytest.mark.parametrize(
    ("prompts", "outputs", "message"),
    [
        (
            '{"prompt_id": "p1", "text": "Say hi"}\n{"prompt_id": "p2", "text": \n',
            {},
            "prompts.jsonl:2: invalid JSON (Expecting value at column 29)",
        ),
        ('{"prompt_id": "p1"}\n', {}, "prompts.jsonl:1: missing field 'text'"),
        (
            '{"prompt_id": "p1", "text": "a"}\n{"prompt_id": "p1", "text": "b"}\n',
            {},
            "prompts.jsonl:2: duplicate prompt_id 'p1' (first at {pool}/prompts.jsonl:1)",
        ),
        (GOOD_PROMPTS, {"m": '{"prompt_id": "p9", "output": "x"}\n'}, "m.jsonl:1: prompt_id 'p9' is not in the pool's prompts"),
        (
            GOOD_PROMPTS,
            {"m": '{"prompt_id": "p1", "output": "x"}\n{"prompt_id": "p1", "output": "y"}\n'},
            "m.jsonl:2: model 'm' answers prompt 'p1' twice (first at {pool}/outputs/m.jsonl:1)",
        ),
        (GOOD_PROMPTS, {"m": b'{"prompt_id": "p1", "output": "caf\xe9"}\n'}, "m.jsonl: not UTF-8 text (invalid byte at offset 34); save it as UTF-8"),
        (GOOD_PROMPTS, {"m": ""}, "m.jsonl: empty file, expected JSON lines"),
        (GOOD_PROMPTS, {"m": '{"prompt_id": "p1", "output": 3}\n'}, "m.jsonl:1: field 'output' must be a string, got int"),
    ],
)
def test_bad_native_input_is_one_line_exit_2_and_leaves_store_untouched(tmp_path, cli, db_path, prompts, outputs, message):
    # a pool already in the store must be exactly as it was afterwards
    assert cli("pool", "import", str(DEMO), "--name", "demo").code == 0
    before = _dump(db_path)
    folder = _native(tmp_path, prompts, outputs)
    r = cli("pool", "import", str(folder), "--name", "demo2")
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert lines[0].endswith(message.format(pool=folder)), lines[0]
    assert _dump(db_path) == before


def test_same_model_twice_is_an_error(tmp_path, store):
    a = tmp_path / "a"
    shutil.copytree(FIX / "alpaca_eval", a)
    shutil.copy(a / "gpt4_0613.json", a / "gpt4_copy.json")
    with pytest.raises(PoolError, match=r"gpt4_copy.json: model 'gpt4_0613' appears twice \(also in .*gpt4_0613.json\)"):
        import_pool(store, "x", [a])
    assert not store.pool_exists("x")


def test_model_already_in_pool_is_an_error(store):
    import_pool(store, "ae", [FIX / "alpaca_eval"])
    with pytest.raises(PoolError, match="model 'gpt4_0613' is already in the pool"):
        import_pool(store, "ae", [FIX / "alpaca_eval" / "gpt4_0613.json"])


def test_missing_path(cli, db_path, tmp_path):
    r = cli("pool", "import", str(tmp_path / "nope"), "--name", "x")
    assert r.code == 2
    assert r.err.strip() == f"Error: {tmp_path / 'nope'}: no such file or directory"
    assert not db_path.exists() or "x" not in _dump(db_path)


def test_empty_and_missing_answers_are_counted_not_errors(tmp_path, store):
    folder = _native(tmp_path, GOOD_PROMPTS, {"m": '{"prompt_id": "p1", "output": "  "}\n', "n": '{"prompt_id": "p1", "output": "hi"}\n{"prompt_id": "p2", "output": "bye"}\n'})
    import_pool(store, "x", [folder])
    cov = {c.model: c for c in coverage(store.prompts("x"), store.outputs("x"))}
    assert cov["m"].empty == ["p1"] and cov["m"].missing == ["p2"]
    assert cov["n"].empty == [] and cov["n"].missing == []


def test_pool_show_list_export_cli(cli, db_path, tmp_path):
    assert cli("pool", "import", str(DEMO), "--name", "demo").code == 0
    r = cli("pool", "show", "demo", "--format", "json")
    assert r.code == 0
    shown = json.loads(r.out)
    assert shown["prompts"] == 101 and len(shown["models"]) == 8
    llama = next(c for c in shown["coverage"] if c["model"] == "llama-2-70b-chat-hf")
    assert len(llama["missing"]) == 1
    r = cli("pool", "show", "demo")
    assert "Coverage" in r.out and "llama-2-70b-chat-hf" in r.out
    r = cli("pool", "list", "--format", "json")
    assert [p["pool"] for p in json.loads(r.out)] == ["demo"]
    out = tmp_path / "demo.jsonl"
    assert cli("pool", "export", "demo", "--format", "jsonl", "--out", str(out)).code == 0
    assert cli("pool", "import", str(out), "--name", "copy").code == 0
    assert json.loads(cli("pool", "show", "copy", "--format", "json").out)["coverage"] == shown["coverage"]
    r = cli("pool", "show", "nope")
    assert r.code == 2 and "pool 'nope' is not in" in r.err


def test_arena_help_imports_no_heavy_library():
    code = "import sys, arena.cli; print(' '.join(m for m in ('litellm', 'vllm', 'torch', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    r = subprocess.run([sys.executable, "-m", "arena", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "pool" in r.stdout
    # its wall-clock bound (under 3 s) moved to bench/wallclock.py (against a bare Python start-up)


def _dump(path: Path) -> dict:
    import sqlite3

    con = sqlite3.connect(path)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    return {t: sorted(map(repr, con.execute(f"SELECT * FROM [{t}]").fetchall())) for t in tables}
