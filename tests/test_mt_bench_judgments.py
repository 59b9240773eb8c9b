"""`arena verdicts export --format mt_bench`: FastChat's own pairwise judgment records
(`model_judgment/<judge>_pair.jsonl`), one per match, judge and judged turn, both orders.

Round trips: a real extract of FastChat-format judgments (tests/fixtures/peers/mt_bench_pair_jp.jsonl.gz,
ja-vicuna-qa-benchmark) imported and exported gives the same bytes back; FastChat's canonical rows
(judge [model, prompt], user prompts, turns 1 and 2, tstamp) give the same records back; a tournament
judged by the loopback judge turn by turn, exported and imported again, has the same verdicts per
turn in both orders."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from test_conversation_judge import _pair_rows

import arena
from arena.records import Game, Match, Prompt, Verdict

FIX = Path(__file__).resolve().parent / "fixtures" / "peers"
JP = FIX / "mt_bench_pair_jp.jsonl.gz"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_real_fastchat_file_comes_back_byte_for_byte(store, tmp_path):
    from arena.verdicts import export_verdicts, import_verdicts

    s = import_verdicts(store, JP, "mt_bench", name="jp")
    paths = export_verdicts(store, s.run_id, "mt_bench", tmp_path / "out")
    assert paths == [tmp_path / "out" / "model_judgment" / "gpt-4_pair.jsonl"]  # FastChat's layout, named by judge_model
    assert paths[0].read_bytes() == gzip.decompress(JP.read_bytes())
    from arena.errors import BadInput

    with pytest.raises(BadInput, match=r"x\.csv: FastChat's judgments are JSON lines"):
        export_verdicts(store, s.run_id, "mt_bench", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_fastchat_rows_of_both_turns_come_back_the_same(store, tmp_path):
    from arena.verdicts import export_verdicts, import_verdicts

    rows = _pair_rows({1: "gpt-3.5-turbo", 2: "llama-13b"})
    rows[0] |= {"g1_winner": "error", "g1_judgment": "no verdict here", "g2_winner": "model_2"}  # a reply without [[A]]/[[B]]/[[C]]
    rows[1] |= {"g1_winner": "model_1", "g2_winner": "model_2", "g1_user_prompt": "prompt one", "g2_user_prompt": "prompt two"}
    src = tmp_path / "gpt-4_pair.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = import_verdicts(store, src, "mt_bench", name="mtb")
    out = tmp_path / "back.jsonl"
    assert export_verdicts(store, s.run_id, "mt_bench", out) == [out]
    back = _lines(out)
    assert back == rows and [list(r) for r in back] == [list(r) for r in rows]  # values, turns and key order
    assert {r["turn"] for r in back} == {1, 2} and back[1]["g2_user_prompt"] == "prompt two"


def test_winner_follows_the_record_orientation():
    from arena.verdicts.mt_bench import question_id, winner

    assert [winner(lab, True) for lab in ("A>>B", "A>B", "A=B", "B>A", "B>>A", "unparsed", "error")] == [
        "model_1", "model_1", "tie", "model_2", "model_2", "error", "error"]
    assert winner("A>B", False) == "model_2" and winner("B>>A", False) == "model_1"
    assert question_id("81:turn2", 2) == 81 and question_id("81", 1) == 81 and question_id("0a1f", 1) == "0a1f"
    assert question_id("007", None) == "007"  # not FastChat's integer spelling: kept as a string


def _mt_run(tmp_path: Path, loopback, **judge_keys) -> tuple[Path, str]:
    from test_conversation_run import _mt_pool

    db = tmp_path / "run.db"
    _mt_pool(db)
    judge = tmp_path / "loop.toml"
    keys = {"turn": "each", **judge_keys}
    judge.write_text(
        f'kind = "llm"\nmodel = "openai/loop-judge"\napi_base = "{loopback.api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
        "max_tokens = 64\nmax_retries = 0\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    )
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "mtb"\npool = "mtb"\njudge = "{judge}"\nseed = 3\nbootstrap = 0\n[scheduler]\nkind = "round-robin"\n')
    result = arena.run_tournament(spec, db=db, yes=True, write_reports=False)
    assert result.status == "done"
    return db, result.run_id


def test_a_tournament_judged_turn_by_turn_exports_and_imports_back(tmp_path, loopback, monkeypatch, cli):
    from arena.store import Store
    from arena.verdicts import import_verdicts, run_turn_battles

    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    db, run_id = _mt_run(tmp_path, loopback)
    r = cli("verdicts", "export", run_id, "--format", "mt_bench", "--out", tmp_path / "out", "--db", db)
    assert r.code == 0, r.err
    path = tmp_path / "out" / "model_judgment" / "loop_pair.jsonl"
    recs = _lines(path)
    # 13 matches (2 of the 15 forfeit: llama-13b's empty turn) x 2 turns, each record both orders
    assert len(recs) == 26 and {r["turn"] for r in recs} == {1, 2}
    assert all(list(r) == ["question_id", "model_1", "model_2", "g1_winner", "g2_winner", "judge", "g1_user_prompt",
                           "g1_judgment", "g2_user_prompt", "g2_judgment", "turn", "tstamp"] for r in recs)
    assert {tuple(r["judge"]) for r in recs} == {("loop", "pairwise_conversation")}
    assert all(isinstance(r["question_id"], int) and r["g1_judgment"].rstrip().endswith("]]") for r in recs)
    assert all(isinstance(r["tstamp"], float) for r in recs)
    store = Store(db)
    games = {(g.match_id, g.detail["turn"], g.order): g for g in store.games(run_id)}
    matches = {m.match_id: m for m in store.matches(run_id)}
    for rec in recs:  # each winner is its game's label, seen from model_1 (the match's A)
        m = next(m for m in matches.values() if (int(m.prompt_id), m.model_a, m.model_b) == (rec["question_id"], rec["model_1"], rec["model_2"]))
        for key, order in (("g1", "AB"), ("g2", "BA")):
            g = games[(m.match_id, rec["turn"], order)]
            side = {"model_1": "A", "model_2": "B", "tie": "="}[rec[f"{key}_winner"]]
            assert side == ("A" if g.label.startswith("A>") else "B" if g.label.startswith("B>") else "=")
            assert rec[f"{key}_judgment"] == g.raw
    # and back: the same verdict per turn and pair, from both orders
    again = import_verdicts(store, path, "mt_bench", name="again")
    assert again.matches == 13 and again.games == 52  # one match per conversation, as the run's

    def per_turn(rid: str) -> dict:
        return {(t, b.prompt_id.split(":")[0], b.model_a, b.model_b): b.outcome  # MT-Bench has no strong verdicts
                for t, bs in run_turn_battles(store, rid).items() for b in bs}

    first = per_turn(run_id)
    forfeits = {(m.prompt_id, m.model_a, m.model_b) for m, v in store.decided(run_id) if v.outcome.startswith("forfeit")}
    assert len(forfeits) == 2
    assert {k: v for k, v in first.items() if k[1:] not in forfeits} == per_turn(again.run_id)
    assert {(g.detail["turn"], g.order) for g in store.games(again.run_id)} == {(1, "AB"), (1, "BA"), (2, "AB"), (2, "BA")}
    store.close()


def test_one_order_per_match_and_a_whole_conversation_judgment(tmp_path, store):
    """A match played in one order writes g2 null (the swapped order as game 1, models named to
    match); a game on a whole conversation (turn = "all") has no MT-Bench turn: one line, exit 2."""
    from arena.errors import BadInput
    from arena.records import Message
    from arena.verdicts import export_verdicts, import_verdicts

    conv = Prompt("q1", "hi", messages=(Message("user", "hi"), Message("user", "more")))
    store.write_pool("p", [Prompt("7", "single"), conv], [], source="test", format="native")
    for rid in ("r1", "r2"):
        store.create_run(rid, rid, {"spec": {"name": rid}, "judge": {"kind": "llm", "model": "x", "template": "pairwise"}, "pool": "p"}, rid, 0)
        store.add_matches(rid, [Match("m1", "7", "x", "y"), Match("m2", "q1", "x", "y")], status="done")
    one_order = (Verdict("m1", "b", 1, None, "B>A"), [Game("m1", "j", "BA", "B>A", "[[B>A]]")])  # the match's B won, seen from A
    store.record_verdicts("r1", [one_order, (Verdict("m2", "a", 1, None, "A>B"), [Game("m2", "j@turn2", "AB", "A>B", "r", detail={"turn": 2})])])
    store.record_verdicts("r2", [one_order, (Verdict("m2", "a", 1, None, "A>B"), [Game("m2", "j", "AB", "A>B", "r")])])
    with pytest.raises(BadInput, match="^format='mt_bench': match m2 on prompt 'q1' was judged as a whole conversation"):
        export_verdicts(store, "r2", "mt_bench", tmp_path / "y.jsonl")
    assert not (tmp_path / "y.jsonl").exists()
    recs = _lines(export_verdicts(store, "r1", "mt_bench", tmp_path / "x.jsonl")[0])
    assert recs[0] | {"tstamp": None} == {"question_id": 7, "model_1": "y", "model_2": "x", "g1_winner": "model_1", "g2_winner": None,
                                          "judge": ["j", "pairwise"], "g1_user_prompt": None, "g1_judgment": "[[B>A]]",
                                          "g2_user_prompt": None, "g2_judgment": None, "turn": 1, "tstamp": None}
    assert recs[1]["judge"] == ["j", "pairwise_conversation"] and recs[1]["turn"] == 2 and recs[1]["g1_winner"] == "model_1"
    back = import_verdicts(store, tmp_path / "x.jsonl", "mt_bench", name="back")
    got = {(m.prompt_id, m.model_a, m.model_b): v.outcome for m, v in store.decided(back.run_id)}
    assert got == {("7", "y", "x"): "a", ("q1", "x", "y"): "a"}  # y won m1, x won m2, as in the run


def test_a_run_imported_without_the_peers_fields_names_the_judge_pair_again(store, tmp_path):
    """An MT-Bench import made before arena kept the peer's fields: the judge name it joined
    ("gpt-4/pair-v2") is split back into FastChat's [model, prompt] pair."""
    from arena.verdicts import export_verdicts, import_verdicts

    src = tmp_path / "gpt-4_pair.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in _pair_rows({1: "claude-v1", 2: "claude-v1"})[:6]))
    s = import_verdicts(store, src, "mt_bench", name="old")
    store.db.execute("UPDATE games SET detail = json_remove(detail, '$.peer', '$.user_prompt')")
    recs = _lines(export_verdicts(store, s.run_id, "mt_bench", tmp_path / "o.jsonl")[0])
    assert [r["judge"] for r in recs] == [["gpt-4", "pair-v2"]] * 3 + [["gpt-4", "pair-v2-multi-turn"]] * 3
    assert [r["g1_user_prompt"] for r in recs] == [None] * 6 and [r["turn"] for r in recs] == [1, 1, 1, 2, 2, 2]
