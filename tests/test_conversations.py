"""Conversations as data (issue 17): records, store columns, MT-Bench / Arena-Hard / native / jsonl
import with turns and references per turn, bad input, exports written back in the peers' formats
(MT-Bench byte-for-byte on a real extract, tests/fixtures/mt_bench), coverage and `pool show`."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from conftest import dump_db

from arena.conversations import conversation, make_prompt, user_messages
from arena.errors import PoolError
from arena.pools import coverage, import_pool, load_pool_files
from arena.records import Message, Output, Prompt
from arena.store import Store

MT = Path(__file__).parent / "fixtures" / "mt_bench"


def test_records_count_answered_turns():
    single = Prompt("p", "hi")
    assert single.n_turns == 1 and not single.is_conversation and single.user_turns == ("hi",)
    two = Prompt("q", "a", messages=user_messages(["a", "b"]))
    assert two.n_turns == 2 and two.is_conversation and two.user_turns == ("a", "b")
    fixed = Prompt("r", "a", messages=(Message("system", "s"), Message("user", "a"), Message("assistant", "fixed"), Message("user", "b")))
    assert fixed.n_turns == 1 and fixed.is_conversation  # a fixed earlier turn is a conversation of one answered turn
    assert Output("q", "m", "x", ("x", "y")).all_turns == ("x", "y") and Output("p", "m", "x").all_turns == ("x",)


def test_the_request_for_turn_two_holds_turn_one_and_the_models_own_answer():
    p = make_prompt("q", (Message("system", "be brief"), *user_messages(["first?", "second?"])), "f:1")
    assert conversation(p) == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first?"}]
    assert conversation(p, ("A1",)) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first?"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "second?"},
    ]
    with pytest.raises(ValueError):
        conversation(p, ("A1", "A2"))


def test_mt_bench_import_keeps_turns_and_references_per_turn(store):
    data = import_pool(store, "mt", [MT], "mt_bench")
    assert data.format == "mt_bench" and data.models == ["claude-v1", "gpt-3.5-turbo", "llama-13b"]
    prompts = {p.prompt_id: p for p in store.prompts("mt")}
    assert list(prompts) == ["81", "101", "111", "127", "133"]
    assert all(p.n_turns == 2 for p in prompts.values())
    q101 = [json.loads(line) for line in (MT / "question.jsonl").read_text().splitlines()][1]
    assert prompts["101"].user_turns == tuple(q101["turns"]) and prompts["101"].text == q101["turns"][0]
    ref = json.loads((MT / "reference_answer_gpt-4.jsonl").read_text().splitlines()[0])
    assert ref["question_id"] == 101 and prompts["101"].references == tuple(ref["choices"][0]["turns"])
    assert prompts["101"].reference == ref["choices"][0]["turns"][0]
    assert prompts["81"].references == () and prompts["81"].reference is None  # writing: no reference
    # 133 has no GPT-4 reference; its question's own `reference` list is used ('' = none for turn 1)
    assert prompts["133"].references[0] is None and prompts["133"].references[1].startswith("The answer to should only")
    outs = {(o.model, o.prompt_id): o for o in store.outputs("mt")}
    claude = json.loads((MT / "model_answer" / "claude-v1.jsonl").read_text().splitlines()[0])
    o = outs[("claude-v1", "81")]
    assert o.turns == tuple(claude["choices"][0]["turns"]) and o.text == o.turns[0]
    cov = {c.model: c for c in coverage(store.prompts("mt"), store.outputs("mt"))}
    assert cov["llama-13b"].answers == 5 and cov["llama-13b"].empty == ["127"]  # its real first answer to 127 is empty


def test_mt_bench_export_gives_back_the_same_bytes(tmp_path, store):
    import_pool(store, "mt", [MT], "mt_bench")
    from arena.verdicts.export import export_pool_peer

    export_pool_peer(store, "mt", "mt_bench", tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "question.jsonl").read_bytes() == (MT / "question.jsonl").read_bytes()
    assert (out / "reference_answer" / "gpt-4.jsonl").read_bytes() == (MT / "reference_answer_gpt-4.jsonl").read_bytes()
    for f in (MT / "model_answer").iterdir():
        model = f.name.removesuffix(".gz").removesuffix(".jsonl")
        original = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        assert (out / "model_answer" / f"{model}.jsonl").read_bytes() == original, model
    # and the export imports again as the same pool
    again = Store(":memory:")
    import_pool(again, "mt", [out], None)  # detected as mt_bench
    assert again.prompts("mt") == store.prompts("mt") and again.outputs("mt") == store.outputs("mt")


@pytest.mark.parametrize("fmt", ["jsonl", "native", "arena_hard"])
def test_conversations_round_trip_through_our_formats_and_arena_hard(tmp_path, store, cli, fmt):
    db = tmp_path / "a.db"
    assert cli("pool", "import", MT, "--name", "mt", "--db", db).code == 0
    out = tmp_path / ("x.jsonl" if fmt == "jsonl" else "x")
    r = cli("pool", "export", "mt", "--format", fmt, "--out", out, "--db", db)
    assert r.code == 0, r.err
    assert cli("pool", "import", out, "--name", "back", "--format", fmt, "--db", db).code == 0
    s = Store(db)
    strip = (lambda p: Prompt(p.prompt_id, p.text, p.category, messages=p.messages)) if fmt == "arena_hard" else (lambda p: p)
    assert [strip(p) for p in s.prompts("back")] == [strip(p) for p in s.prompts("mt")]  # Arena-Hard has no references
    assert s.outputs("back") == s.outputs("mt")


def test_alpaca_eval_export_refuses_conversations(tmp_path, cli):
    db = tmp_path / "a.db"
    cli("pool", "import", MT, "--name", "mt", "--db", db)
    r = cli("pool", "export", "mt", "--format", "alpaca_eval", "--out", tmp_path / "ae", "--db", db)
    assert r.code == 2 and r.err.count("\n") == 1 and "alpaca_eval has no turns" in r.err and not (tmp_path / "ae").exists()


def _arena_hard(tmp_path, questions, answers) -> Path:
    (tmp_path / "ah" / "model_answer").mkdir(parents=True)
    (tmp_path / "ah" / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (tmp_path / "ah" / "model_answer" / "m.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return tmp_path / "ah"


def test_arena_hard_messages_with_several_user_turns(tmp_path, store):
    q = {"uid": "u1", "category": "c", "turns": [{"content": "Hi?"}, {"content": "And then?"}]}
    a = {"uid": "u1", "model": "m", "messages": [
        {"role": "user", "content": "Hi?"}, {"role": "assistant", "content": {"answer": "Hello."}},
        {"role": "user", "content": "And  then?"}, {"role": "assistant", "content": {"answer": "Then this."}}]}
    import_pool(store, "ah", [_arena_hard(tmp_path, [q], [a])], "arena_hard")
    (p,) = store.prompts("ah")
    assert p.user_turns == ("Hi?", "And then?") and p.n_turns == 2
    assert store.outputs("ah") == [Output("u1", "m", "Hello.", ("Hello.", "Then this."))]


def test_native_messages_with_a_system_message_and_a_fixed_assistant_turn(tmp_path, store):
    (tmp_path / "n" / "outputs").mkdir(parents=True)
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "fixed"},
            {"role": "user", "content": "u2"}, {"role": "assistant", "content": None}, {"role": "user", "content": "u3"}]
    (tmp_path / "n" / "prompts.jsonl").write_text(json.dumps({"prompt_id": "c", "messages": msgs, "references": ["r2", None]}) + "\n")
    (tmp_path / "n" / "outputs" / "m.jsonl").write_text(json.dumps({"prompt_id": "c", "turns": ["x"]}) + "\n")
    with pytest.raises(PoolError, match=r"m.jsonl:1: expected 2 answer turns .* got 1"):
        load_pool_files([tmp_path / "n"], "native")
    (tmp_path / "n" / "outputs" / "m.jsonl").write_text(json.dumps({"prompt_id": "c", "turns": ["x", "y"]}) + "\n")
    import_pool(store, "n", [tmp_path / "n"], "native")
    (p,) = store.prompts("n")
    assert p.n_turns == 2 and p.text == "u1" and p.references == ("r2", None) and p.reference == "r2"
    # u1 has its fixed answer; u2 and u3 are answered by the model, turn 2 after its own answer to u2
    assert [m["content"] for m in conversation(p)] == ["S", "u1", "fixed", "u2"]
    assert [m["content"] for m in conversation(p, ("x",))] == ["S", "u1", "fixed", "u2", "x", "u3"]
    assert store.outputs("n") == [Output("c", "m", "x", ("x", "y"))]


BAD = {
    "turn count": ("model_answer/claude-v1.jsonl", 1, lambda r: r["choices"][0].__setitem__("turns", r["choices"][0]["turns"][:1]),
                   "expected 2 answer turns"),
    "empty user turn": ("question.jsonl", 2, lambda r: r["turns"].__setitem__(1, "  "), "user turn 2: expected a non-empty user turn"),
    "reference for a missing turn": ("reference_answer_gpt-4.jsonl", 2, lambda r: r["choices"][0]["turns"].append("extra"),
                                     "expected at most 2 reference turns"),
    "reference for an unknown question": ("reference_answer_gpt-4.jsonl", 1, lambda r: r.__setitem__("question_id", 998),
                                          "reference for question_id '998', which is not in"),
    "question reference for a missing turn": ("question.jsonl", 3, lambda r: r["reference"].append("x"),
                                              "expected at most 2 references (one per answered user turn), got 3"),
    "unknown question": ("model_answer/gpt-3.5-turbo.jsonl", 3, lambda r: r.__setitem__("question_id", 999), "not in the pool's prompts"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_mt_bench_input_is_one_line_exit_2_store_untouched(tmp_path, cli, case):
    rel, line, edit, expected = BAD[case]
    folder = tmp_path / "mt"
    shutil.copytree(MT, folder)
    lines = (folder / rel).read_text().splitlines(keepends=True)
    rec = json.loads(lines[line - 1])
    edit(rec)
    lines[line - 1] = json.dumps(rec) + "\n"
    (folder / rel).write_text("".join(lines))
    db = tmp_path / "a.db"
    assert cli("pool", "import", MT, "--name", "good", "--db", db).code == 0
    before = dump_db(db)
    r = cli("pool", "import", folder, "--name", "bad", "--db", db)
    assert r.code == 2 and r.err.count("\n") == 1 and r.err.startswith(f"Error: {folder / rel}:{line}: "), r.err
    assert expected in r.err
    assert dump_db(db) == before


@pytest.mark.parametrize(
    "messages, expected",
    [
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"},
          {"role": "user", "content": "d"}], "message 3: expected a user turn (roles must alternate"),
        ([{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}], "message 1: expected a user turn"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "expected the conversation to end with a user turn"),
        ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, {"role": "user", "content": "c"}], "message 2: expected a user or assistant turn"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": None}, {"role": "user", "content": ""}],
         "user turn 2: expected a non-empty user turn"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": None}, {"role": "user", "content": "\u200b\u2060 "}],
         "user turn 2: expected a non-empty user turn (it is empty or shows only invisible characters)"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "message 2: expected an assistant turn (roles must alternate"),
        ([{"role": "human", "content": "a"}], "message 1: expected role 'system', 'user' or 'assistant', got 'human'"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "human", "content": "c"}],
         "message 3: expected role 'system', 'user' or 'assistant', got 'human'"),
        ([{"role": "user", "content": None}], "message 1: content null is only for an assistant turn"),
        ([], "expected at least one user turn"),
    ],
)
def test_roles_that_do_not_alternate_are_refused(tmp_path, cli, messages, expected):
    (tmp_path / "n" / "outputs").mkdir(parents=True)
    (tmp_path / "n" / "prompts.jsonl").write_text(json.dumps({"prompt_id": "ok", "text": "fine"}) + "\n" + json.dumps({"prompt_id": "c", "messages": messages}) + "\n")
    r = cli("pool", "import", tmp_path / "n", "--name", "n", "--db", tmp_path / "a.db")
    assert r.code == 2 and r.err.count("\n") == 1 and "prompts.jsonl:2: " in r.err and expected in r.err, r.err
    assert not (tmp_path / "a.db").exists() or "n" not in [p["pool"] for p in Store(tmp_path / "a.db").list_pools()]


def test_arena_hard_messages_that_do_not_alternate_are_refused(tmp_path, cli):
    q = {"question_id": "u1", "turns": [{"content": "Hi?"}, {"content": "And then?"}]}
    a = {"question_id": "u1", "model": "m", "messages": [
        {"role": "user", "content": "Hi?"}, {"role": "user", "content": "And then?"}, {"role": "assistant", "content": "x"}]}
    folder = _arena_hard(tmp_path, [q], [a])
    r = cli("pool", "import", folder, "--name", "ah", "--format", "arena_hard", "--db", tmp_path / "a.db")
    assert r.code == 2 and r.err.count("\n") == 1 and "m.jsonl:1: messages: expected roles alternating" in r.err


def test_coverage_counts_a_conversation_answered_only_on_every_turn(store):
    p = make_prompt("c", user_messages(["a", "b"]), "x")
    store.write_pool("p", [p, Prompt("s", "single")], [Output("c", "m", "one", ("one",)), Output("s", "m", "ok"),
                                                         Output("c", "n", "1", ("1", "2")), Output("s", "n", "ok")])
    cov = {c.model: c for c in coverage(store.prompts("p"), store.outputs("p"))}
    assert (cov["m"].answers, cov["m"].missing) == (1, ["c"]) and (cov["n"].answers, cov["n"].missing) == (2, [])


def test_pool_show_tells_turns_per_prompt(tmp_path, cli):
    db = tmp_path / "a.db"
    cli("pool", "import", MT, "--name", "mt", "--db", db)
    r = cli("pool", "show", "mt", "--format", "json", "--db", db)
    obj = json.loads(r.out)
    assert obj["turns"] == {"2": 5} and obj["prompt_list"][0]["turns"] == 2
    assert {c["model"]: c["empty"] for c in obj["coverage"]}["llama-13b"] == ["127"]
    r = cli("pool", "show", "mt", "--db", db)
    assert "Turns per prompt: 2 (5); a conversation counts as answered only when every turn is" in r.out


def test_single_turn_pools_are_stored_as_before(store):
    store.write_pool("s", [Prompt("p", "t", "c", "r")], [Output("p", "m", "a")])
    row = store.db.execute("SELECT messages, turn_references, extra FROM prompts").fetchone()
    assert tuple(row) == (None, None, None)
    assert store.db.execute("SELECT turns FROM outputs").fetchone()[0] is None
    assert store.prompts("s") == [Prompt("p", "t", "c", "r")] and store.outputs("s") == [Output("p", "m", "a")]


def test_a_tournament_on_conversations_with_a_judge_that_cannot_read_them_is_refused_before_any_call(tmp_path, cli):
    judge = tmp_path / "offline.toml"
    judge.write_text('kind = "surrogate"\n')  # judges that can (llm): tests/test_conversation_judge.py, test_conversation_run.py
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "conv"\npool = "{MT}"\njudge = "{judge}"\nseed = 1\n[scheduler]\nkind = "round-robin"\n')
    Store(tmp_path / "a.db").close()  # an existing database: a refused run on a new one leaves no file (test_hardening_store)
    r = cli("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "a.db", "--out", tmp_path / "out")
    assert r.code == 2 and r.err.count("\n") == 1 and "prompt '81' is a conversation (2 turns)" in r.err, r.err
    assert "cannot judge conversations" in r.err
    pe, oe = Store(tmp_path / "a.db").pool_extras("mt_bench")  # a pool read from a spec's path keeps the peer fields
    assert pe["81"]["question"]["question_id"] == 81 and oe[("claude-v1", "81")]["answer_id"]


def test_an_mt_bench_model_is_its_answer_files_name_as_fastchat_reads_it(tmp_path, store):
    folder = tmp_path / "mt"
    shutil.copytree(MT, folder)
    (folder / "model_answer" / "claude-v1.jsonl").rename(folder / "model_answer" / "claude-renamed.jsonl")
    data = import_pool(store, "mt", [folder], "mt_bench")
    assert "claude-renamed" in data.models and "claude-v1" not in data.models  # model_id inside says claude-v1
    from arena.verdicts.export import export_pool_peer

    export_pool_peer(store, "mt", "mt_bench", tmp_path / "out")
    assert (tmp_path / "out" / "model_answer" / "claude-renamed.jsonl").read_bytes() == (MT / "model_answer" / "claude-v1.jsonl").read_bytes()


def test_verdict_export_writes_each_sides_turns_for_a_conversation(tmp_path, store):
    from arena.errors import BadInput
    from arena.records import Game, Match, Verdict
    from arena.verdicts.export import export_verdicts

    import_pool(store, "mt", [MT], "mt_bench")
    store.create_run("r1", "conv", {"pool": "mt", "spec": {"baseline": "claude-v1"}}, "h", 1)
    store.add_matches("r1", [Match("m1", "101", "claude-v1", "llama-13b")])
    store.record_verdict("r1", Verdict("m1", "a", 1, None, "A>B"), [Game("m1", "j", "AB", "A>B", raw="[[A]]")])
    (path,) = export_verdicts(store, "r1", "jsonl", tmp_path / "v.jsonl")
    (rec,) = [json.loads(line) for line in path.read_text().splitlines()]
    outs = {o.model: o for o in store.outputs("mt") if o.prompt_id == "101"}
    assert rec["messages"] == [{"role": "user", "content": t} for t in store.prompts("mt")[1].user_turns]
    assert rec["turns_a"] == list(outs["claude-v1"].turns) and rec["turns_b"] == list(outs["llama-13b"].turns)
    assert rec["answer_a"] == outs["claude-v1"].turns[0]
    with pytest.raises(BadInput, match="^format='alpaca_eval': has no turns; prompt '101'"):
        export_verdicts(store, "r1", "alpaca_eval", tmp_path / "ae")


def test_exports_that_cannot_hold_a_system_message_refuse_it(tmp_path, store):
    from arena.errors import BadInput
    from arena.verdicts.export import export_pool_peer

    p = make_prompt("c", (Message("system", "S"), *user_messages(["a", "b"])), "x")
    store.write_pool("s", [p], [Output("c", "m", "1", ("1", "2"))])
    for fmt in ("mt_bench", "arena_hard"):
        with pytest.raises(BadInput, match=f"{fmt} holds user turns only; prompt 'c' has a system message"):
            export_pool_peer(store, "s", fmt, tmp_path / fmt)
        assert not (tmp_path / fmt).exists()


def test_native_text_must_be_the_first_turn(tmp_path, store):
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "prompts.jsonl").write_text(json.dumps({"prompt_id": "c", "text": "other", "turns": ["a", "b"]}) + "\n")
    with pytest.raises(PoolError, match=r"prompts.jsonl:1: field 'text': expected the conversation's first user turn"):
        import_pool(store, "n", [tmp_path / "n"], "native")


def test_a_fixed_assistant_turn_goes_where_a_format_holds_it_and_is_refused_elsewhere(tmp_path, db_path, cli):
    """A native pool whose conversation gives a fixed earlier assistant turn (`messages`): exports that
    can hold it write it in place (native, jsonl, battles as Chatbot Arena's `conversation_a/b`,
    verdicts jsonl); MT-Bench, Arena-Hard, AlpacaEval and a CSV battle file cannot: one line, exit 2,
    nothing written."""
    from arena.records import Game, Match, Verdict

    src = tmp_path / "n"
    (src / "outputs").mkdir(parents=True)
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "FIXED"},
            {"role": "user", "content": "Q2"}]
    (src / "prompts.jsonl").write_text(json.dumps({"prompt_id": "c", "text": "Q1", "messages": msgs}) + "\n")
    for m in ("x", "y"):
        (src / "outputs" / f"{m}.jsonl").write_text(json.dumps({"prompt_id": "c", "turns": [f"{m} answers Q2"]}) + "\n")
    assert cli("pool", "import", src, "--format", "native", "--name", "fx").code == 0
    for fmt in ("mt_bench", "arena_hard", "alpaca_eval"):
        r = cli("pool", "export", "fx", "--format", fmt, "--out", tmp_path / fmt)
        assert r.code == 2 and r.err.startswith("Error: --format: ") and r.err.count("\n") == 1, r.err
        assert "prompt 'c'" in r.err or "('c'" in r.err
        assert not (tmp_path / fmt).exists()
    assert cli("pool", "export", "fx", "--format", "native", "--out", tmp_path / "back").code == 0
    assert json.loads((tmp_path / "back" / "prompts.jsonl").read_text())["messages"] == msgs
    s = Store(db_path)
    s.create_run("r1", "fx", {"pool": "fx", "spec": {"name": "fx"}}, "h", 1)
    s.add_matches("r1", [Match("m1", "c", "x", "y")])
    s.record_verdict("r1", Verdict("m1", "a", 1, None, "A>B"), [Game("m1", "j", "AB", "A>B", raw="[[A>B]]")])
    s.close()
    r = cli("verdicts", "export", "r1", "--format", "battles", "--out", tmp_path / "b.jsonl")
    assert r.code == 0, r.err
    (row,) = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert "prompt" not in row and row["conversation_a"] == [*msgs, {"role": "assistant", "content": "x answers Q2"}]
    assert row["conversation_b"][2] == {"role": "assistant", "content": "FIXED"} and row["conversation_b"][-1]["content"] == "y answers Q2"
    assert cli("verdicts", "import", tmp_path / "b.jsonl", "--format", "chatbot_arena", "--name", "again").code == 0  # read back
    for fmt, out, says in (("battles", "b.csv", "a CSV battle file has no column for a conversation"), ("alpaca_eval", "ae", "alpaca_eval: has no turns")):
        r = cli("verdicts", "export", "r1", "--format", fmt, "--out", tmp_path / out, "--baseline", "x")
        assert r.code == 2 and r.err.count("\n") == 1 and says in r.err, r.err
        assert not (tmp_path / out).exists()
    assert cli("verdicts", "export", "r1", "--format", "jsonl", "--out", tmp_path / "v.jsonl").code == 0
    assert json.loads((tmp_path / "v.jsonl").read_text())["messages"] == msgs
