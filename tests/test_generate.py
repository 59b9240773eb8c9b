"""Answer generation into a pool, through the same backend, cache and cost accounting."""

from __future__ import annotations

import asyncio

import typer
from loopback import Reply

from arena.cli._common import run_cli
from arena.cli._generate import generate
from arena.generate import agenerate, generate_answers
from arena.records import Output, Prompt

KEY_ENV = "ARENA_TEST_KEY"


def make_pool(store, n=5):
    prompts = [Prompt(f"p{i}", f"Prompt number {i}") for i in range(n)]
    store.write_pool("demo", prompts, [Output(p.prompt_id, "old-model", "old") for p in prompts], source="x.jsonl", format="jsonl")
    return prompts


def test_generate_fills_the_pool_and_resumes(loopback, store):
    make_pool(store)
    res = generate_answers(store, "demo", "openai/gpt-4o-mini", api_base=loopback.api_base, api_key_env=KEY_ENV, max_tokens=100, limit=3)
    assert res.written == 3 and not res.errors and loopback.requests == 3
    assert res.cost_usd and res.cost_usd > 0 and res.input_tokens > 0
    outs = {o.prompt_id: o.text for o in store.outputs("demo", ["openai/gpt-4o-mini"])}
    assert len(outs) == 3 and all(t.startswith("Loopback answer to: Prompt number") for t in outs.values())
    assert loopback.bodies[0]["max_tokens"] == 100 and loopback.bodies[0]["messages"][0]["role"] == "user"
    # the rest on a second run; nothing answered twice
    res2 = generate_answers(store, "demo", "openai/gpt-4o-mini", api_base=loopback.api_base, api_key_env=KEY_ENV, max_tokens=100)
    assert res2.written == 2 and res2.skipped == 3 and loopback.requests == 5
    assert store.models("demo") == ["old-model", "openai/gpt-4o-mini"]
    assert store.list_pools()[0]["format"] == "jsonl"  # the pool's own metadata is kept
    # --overwrite asks again, but the call cache answers for free
    res3 = generate_answers(store, "demo", "openai/gpt-4o-mini", api_base=loopback.api_base, api_key_env=KEY_ENV, max_tokens=100, overwrite=True)
    assert res3.written == 5 and res3.cached == 5 and res3.cost_usd == 0 and res3.cost_saved_usd > 0 and loopback.requests == 5


def test_failed_answers_are_reported_not_written(loopback, store):
    make_pool(store, 4)
    loopback.hook = lambda r: Reply(status=400) if "number 2" in r.text else None
    res = generate_answers(store, "demo", "hosted_vllm/m", name="m", api_base=loopback.api_base, max_retries=1)
    assert res.written == 3 and [e["prompt_id"] for e in res.errors] == ["p2"]
    assert "BadRequest" in res.errors[0]["error"] and res.cost_usd is None  # unpriced model
    assert {o.prompt_id for o in store.outputs("demo", ["m"])} == {"p0", "p1", "p3"}


def test_generate_with_faults_ends_cleanly(loopback, store):
    make_pool(store, 20)
    loopback.set_faults(0.3)
    loopback.hang_s = 2.0
    res = asyncio.run(agenerate(store, "demo", "hosted_vllm/m", api_base=loopback.api_base, timeout=1.0, max_retries=3, concurrency=10))  # a hang (2 s) times out; a loaded machine's answer does not
    assert res.written + len(res.errors) == 20
    assert res.attempts <= 20 * 4 and res.attempts == loopback.requests


def test_cli_command(loopback, store, tmp_path, capsys):
    from arena.store import Store

    db = tmp_path / "a.db"
    s = Store(db)
    make_pool(s, 3)
    s.close()
    app = typer.Typer()
    app.command("generate")(generate)
    app.command("noop")(lambda: None)  # keep typer in multi-command mode, as in `arena pool`
    code = run_cli(app, ["generate", "--model", "hosted_vllm/m", "--pool", "demo", "--api-base", loopback.api_base, "--db", str(db), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0 and '"written": 3' in out
    code = run_cli(app, ["generate", "--model", "hosted_vllm/m", "--pool", "nope", "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("Error: pool 'nope' is not in")
    loopback.hook = lambda r: Reply(status=400)
    code = run_cli(app, ["generate", "--model", "hosted_vllm/other", "--pool", "demo", "--api-base", loopback.api_base, "--db", str(db)])
    assert code == 3 and "3 of 3 answers failed" in capsys.readouterr().err
    code = run_cli(app, ["generate", "--help"])
    assert code == 0 and "--max-tokens" in capsys.readouterr().out


def _conversations(store):
    from arena.conversations import make_prompt, user_messages

    prompts = [make_prompt(f"c{i}", user_messages([f"First question {i}?", f"Now the second {i}."]), "t") for i in range(2)]
    store.write_pool("talk", prompts, [], source="t", format="native")
    return prompts


def test_conversations_are_answered_turn_by_turn_after_the_models_own_answers(loopback, store):
    _conversations(store)
    res = generate_answers(store, "talk", "hosted_vllm/m", name="m", api_base=loopback.api_base)
    assert (res.written, res.turns, res.errors, loopback.requests) == (2, 4, [], 4)
    (o0, o1) = store.outputs("talk", ["m"])
    assert o0.turns == ("Loopback answer to: First question 0?", "Loopback answer to: Now the second 0.") and o0.text == o0.turns[0]
    second = next(b for b in loopback.bodies if b["messages"][-1]["content"] == "Now the second 1.")
    assert second["messages"] == [
        {"role": "user", "content": "First question 1?"},
        {"role": "assistant", "content": "Loopback answer to: First question 1?"},
        {"role": "user", "content": "Now the second 1."},
    ]


def test_a_conversation_stopped_after_turn_one_resumes_at_turn_two_without_paying_turn_one(loopback, store):
    _conversations(store)
    loopback.hook = lambda r: Reply(status=400) if r.messages[-1]["content"] == "Now the second 1." else None
    res = generate_answers(store, "talk", "hosted_vllm/m", name="m", api_base=loopback.api_base, max_retries=1)
    assert res.written == 1 and [e["prompt_id"] for e in res.errors] == ["c1"] and "(turn 2 of 2)" in res.errors[0]["error"]
    assert [o.prompt_id for o in store.outputs("talk", ["m"])] == ["c0"]  # a half-answered conversation is not stored
    before = loopback.requests
    loopback.hook = None
    res2 = generate_answers(store, "talk", "hosted_vllm/m", name="m", api_base=loopback.api_base)
    assert (res2.skipped, res2.written, res2.turns, res2.cached_turns) == (1, 1, 2, 1)
    assert loopback.requests == before + 1  # only turn 2 of c1 was asked again: turn 1 came from the call cache
    assert store.outputs("talk", ["m"])[1].turns[1] == "Loopback answer to: Now the second 1."


def test_cli_shows_progress_per_turn(loopback, tmp_path, capsys):
    from arena.store import Store

    db = tmp_path / "a.db"
    s = Store(db)
    _conversations(s)
    s.close()
    app = typer.Typer()
    app.command("generate")(generate)
    app.command("noop")(lambda: None)
    code = run_cli(app, ["generate", "--model", "hosted_vllm/m", "--pool", "talk", "--api-base", loopback.api_base, "--db", str(db), "--plain", "-c", "1"])
    err = capsys.readouterr().err
    assert code == 0 and "Generating 4 answer turns" in err and "4/4 turns (0 cached, 0 failed)" in err, err
