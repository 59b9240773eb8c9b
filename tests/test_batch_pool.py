"""The Batch API outside tournaments and on the dashboard (issue 18's leftovers), against the
loopback server with the files and batches API (tests/loopback_batch.py): the live display shows a
pending batch's id and status; `arena pool generate --batch` answers a pool through one batch per
turn; `arena pool curate` with a `mode = "batch"` annotator preset annotates through one batch,
priced at the batch rate; both refuse a model without an OpenAI-format batch API before any call."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from loopback_batch import BatchLoopbackServer
from test_batch import JUDGE_MODEL, _spec

import arena
from arena.dashboard import PlainDisplay, RichDisplay
from arena.store import Store


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    srv = BatchLoopbackServer().start()
    yield srv
    srv.stop()


def test_the_live_display_shows_a_pending_batch_id_and_status(tmp_path, server):
    from rich.console import Console

    server.held = True  # the batch stays in_progress until the display has shown it
    spec = _spec(tmp_path, server.api_base)
    plain_out = io.StringIO()
    plain = PlainDisplay(stream=plain_out, every=0.0)
    rich = RichDisplay(console=Console(file=io.StringIO(), width=160))
    shown: list[str] = []

    def sink(event):
        plain(event)
        rich(event)
        # the first ticks show arena's own job ref (uploading); then the provider's batch id and status
        if event.kind == "tick" and server.held and any(ref in server.batches for ref, _, _ in event.stats.batches):
            rec = Console(record=True, width=160, file=io.StringIO())
            rec.print(rich.render())
            shown.append(rec.export_text())
            server.held = False

    result = arena.run_tournament(spec, db=tmp_path / "b.db", yes=True, write_reports=False, handle_sigint=False, on_event=sink)
    rich.close()
    assert result.status == "done" and server.batch_creations == 1
    (batch_id,) = server.batches
    pending = [ln for ln in plain_out.getvalue().splitlines() if f"pending: batch {batch_id} " in ln]
    assert pending and f"pending: batch {batch_id} in_progress (72 calls)" in pending[0]
    (panel,) = shown
    (row,) = [ln for ln in panel.splitlines() if batch_id in ln]
    assert row.split()[1:5] == ["batch", batch_id, "in_progress", "72"], row
    assert "pending:" not in plain_out.getvalue().splitlines()[-1]  # the finished line has no pending batch


def test_pool_generate_batch_answers_through_one_batch_per_turn_at_the_batch_price(tmp_path, server):
    from arena.conversations import make_prompt, user_messages
    from arena.generate import generate_answers
    from arena.records import Output, Prompt

    store = Store(tmp_path / "g.db")
    prompts = [Prompt(f"q{i}", f"Question {i}?") for i in range(3)] + [make_prompt("c0", user_messages(["First?", "Second?"]), None)]
    store.write_pool("mini", prompts, [Output("q0", "other", "x")], source="test")
    turns: list[tuple[str, int]] = []
    res = generate_answers(store, "mini", JUDGE_MODEL, name="gen", api_base=server.api_base, api_key_env="ARENA_TEST_KEY",
                           max_tokens=32, batch=True, poll_s=0.05, on_turn=lambda pid, turn, c: turns.append((pid, turn)))
    assert (res.written, res.turns, len(res.errors)) == (4, 5, 0)
    # every prompt's first turn in one batch, the conversation's second turn in the next
    assert server.batch_creations == 2 and [server.contents[b["input_file_id"]].count(b"\n") for b in server.batches.values()] == [4, 1]
    assert sorted(turns) == [("c0", 1), ("c0", 2), ("q0", 1), ("q1", 1), ("q2", 1)]
    got = {o.prompt_id: o for o in store.outputs("mini", ["gen"])}
    assert got["q1"].text.startswith("Loopback answer to: Question 1?") and len(got["c0"].turns) == 2
    assert got["c0"].turns[1].startswith("Loopback answer to: Second?")
    assert res.cost_usd == pytest.approx(res.input_tokens * 7.5e-08 + res.output_tokens * 3e-07)  # litellm's batch price
    assert {j.state for j in store.batch_jobs()} == {"ingested"}
    again = generate_answers(store, "mini", JUDGE_MODEL, name="gen", api_base=server.api_base, api_key_env="ARENA_TEST_KEY", batch=True, poll_s=0.05)
    assert again.skipped == 4 and again.written == 0 and server.batch_creations == 2


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_OFFLINE_MODE="true", ARENA_TEST_KEY="sk-loopback-test",
               ARENA_DB=str(tmp_path / "c.db"))
    warn = list(args[:2]) if args[:1] == ("-W",) else []
    args = args[len(warn):]
    return subprocess.run([sys.executable, *warn, "-m", "arena", *args], env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)


def test_pool_generate_batch_from_the_cli_leaves_no_coroutine_unawaited(tmp_path, server):
    """breaker18 #6: litellm's aretrieve_batch started a download of a completed batch's output in
    its logging worker and never awaited it (`RuntimeWarning: coroutine 'OpenAIFilesAPI.afile_content'
    was never awaited` at exit); the files/batches calls now go through the openai SDK."""
    from arena.records import Prompt

    store = Store(tmp_path / "c.db")
    store.write_pool("mini", [Prompt(f"q{i}", f"Question {i}?") for i in range(3)], [], source="test")
    store.close()
    p = _cli(tmp_path, "-W", "error::RuntimeWarning", "pool", "generate", "--model", JUDGE_MODEL, "--pool", "mini", "--batch",
             "--poll", "0.05", "--api-base", server.api_base, "--api-key-env", "ARENA_TEST_KEY", "--plain", "--max-tokens", "8")
    assert p.returncode == 0, p.stderr
    assert "RuntimeWarning" not in p.stderr and "never awaited" not in p.stderr, p.stderr
    # the output file was read once, by arena: nothing else downloaded it
    assert server.batch_creations == 1 and server.retrievals >= 1 and server.content_reads == 1
    assert len(Store(tmp_path / "c.db").outputs("mini", [JUDGE_MODEL])) == 3


def test_batch_for_a_model_without_an_openai_batch_api_is_refused_before_any_call(tmp_path, server):
    from arena.records import Output, Prompt

    store = Store(tmp_path / "c.db")
    store.write_pool("mini", [Prompt("q0", "Question?")], [Output("q0", "a", "x")], source="test")
    store.close()
    before = (tmp_path / "c.db").read_bytes()
    p = _cli(tmp_path, "pool", "generate", "--model", "anthropic/claude-3-5-haiku-20241022", "--pool", "mini", "--batch",
             "--api-base", server.api_base)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    (line,) = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert line == ("Error: --batch: the Batch API is supported for openai/... and hosted_vllm/... models (OpenAI's "
                    "files and batches API), not 'anthropic/claude-3-5-haiku-20241022'")
    preset = tmp_path / "annot.toml"
    preset.write_text('kind = "llm"\nmodel = "anthropic/claude-3-5-haiku-20241022"\nmode = "batch"\n')
    p = _cli(tmp_path, "pool", "curate", "mini", "--annotator", str(preset), "--size", "1", "--out", "cur", "--yes")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    (line,) = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert line.startswith(f"Error: {preset}") and "mode" in line and "openai/... and hosted_vllm/..." in line, line
    assert server.requests == server.uploads == 0 and (tmp_path / "c.db").read_bytes() == before


def test_pool_curate_with_a_batch_annotator_is_one_batch_priced_at_the_batch_rate(tmp_path, server, capsys):
    from test_curate import annotator_hook, make_pool

    from arena.cli import main

    server.hook = annotator_hook
    db = tmp_path / "cur.db"
    store = Store(db)
    make_pool(store)
    store.close()
    preset = tmp_path / "annot.toml"
    preset.write_text(f'kind = "llm"\nmodel = "{JUDGE_MODEL}"\napi_base = "{server.api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
                      'timeout = 5\nmax_retries = 1\nmode = "batch"\nbatch_poll_s = 0.05\n')
    code = main(["pool", "curate", "base", "--annotator", str(preset), "--size", "6", "--out", "hard", "--yes", "--db", str(db), "--format", "json"])
    out, err = capsys.readouterr()
    assert code in (0, None), err
    plan_line = next(ln for ln in err.splitlines() if ln.startswith("Plan: annotate 24 of 24"))
    assert "at the Batch API rate, $0.075 / $0.3 per 1M tokens in / out (litellm's batch price)" in plan_line
    # every prompt's question in one batch; the two replies out of form re-asked in a second one
    assert server.batch_creations == 2 and [server.contents[b["input_file_id"]].count(b"\n") for b in server.batches.values()] == [24, 2]
    result = json.loads(out)
    assert len(result["kept"]) == 6 and result["calls_paid"] == 26
    store = Store(db)
    u = store.db.conn.execute("SELECT SUM(input_tokens), SUM(output_tokens), SUM(cost_usd) FROM prompt_annotations").fetchone()
    assert u[2] == pytest.approx(u[0] * 7.5e-08 + u[1] * 3e-07)
