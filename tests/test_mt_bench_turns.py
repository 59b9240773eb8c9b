"""Imported MT-Bench judgments of turn N belong to their question (breaker17 finding 4), and the
`recorded` judge with `turn = "each"` gives per-turn leaderboards like an import of the same file
(finding 13d): one match per (question, pair), its games `judge@turnN` with `detail.turn`.
`fixtures/store/v5_mt_turns.db` was written before (turn-2 judgments on fake prompts `81:turn2`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from test_conversation_judge import _pair_rows

from arena.store import Store

MT = Path(__file__).resolve().parent / "fixtures" / "mt_bench"
OLD = Path(__file__).resolve().parent / "fixtures" / "store" / "v5_mt_turns.db"
WIN = {1: "gpt-3.5-turbo", 2: "llama-13b"}  # who wins every game of each turn
QUESTIONS = {"81", "101", "111"}  # writing, reasoning, math: llama-13b answers both turns of each


def _import(cli, tmp_path) -> Path:
    r = cli("pool", "import", MT, "--format", "mt_bench", "--name", "mt")
    assert r.code == 0, r.err
    rows = [r for r in _pair_rows(WIN) if str(r["question_id"]) in QUESTIONS]
    (tmp_path / "gpt-4_pair.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli("verdicts", "import", tmp_path / "gpt-4_pair.jsonl", "--format", "mt_bench", "--name", "mtb", "--pool", "mt")
    assert r.code == 0, r.err
    return tmp_path / "gpt-4_pair.jsonl"


def _turn_battles(store: Store, run_id: str) -> dict[int, list[tuple]]:
    from arena.verdicts import run_turn_battles

    return {t: sorted((b.prompt_id, *sorted((b.model_a, b.model_b)), b.model_a if b.outcome == "a" else b.model_b if b.outcome == "b" else "tie")
                      for b in bs) for t, bs in run_turn_battles(store, run_id).items()}


def test_a_turn_2_judgment_is_a_game_of_its_questions_match(cli, db_path, tmp_path):
    from arena.reports import build_report
    from arena.verdicts import run_battles

    _import(cli, tmp_path)
    store = Store(db_path)
    run = next(x for x in store.list_runs() if x.name == "mtb")
    matches = store.matches(run.run_id)
    assert len(matches) == 9 and {m.prompt_id for m in matches} == QUESTIONS  # 3 questions x 3 pairs, no `81:turn2`
    games = store.games(run.run_id)
    assert len(games) == 36
    assert {(g.judge, g.detail["turn"]) for g in games} == {("gpt-4/pair-v2@turn1", 1), ("gpt-4/pair-v2-multi-turn@turn2", 2)}
    # the match verdict adds the turns up (combine_turns): gpt-3.5 wins turn 1, llama-13b turn 2, so their match ties
    by_pair = {frozenset((v.model_a, v.model_b)): v.outcome for v in store.verdicts(run.run_id) if v.prompt_id == "81"}
    assert by_pair[frozenset(("gpt-3.5-turbo", "llama-13b"))] == "tie"
    assert {b.prompt_id for b in run_battles(store, run.run_id)} == QUESTIONS  # the bootstrap's clusters: the questions
    report = build_report(store, run.run_id, bootstrap=20)
    assert {c: v["battles"] for c, v in report["categories"].items()} == {"writing": 3, "reasoning": 3, "math": 3}
    assert set(report["turns"]) == {"turn 1", "turn 2"} and all(v["battles"] == 9 for v in report["turns"].values())
    assert report["turns"]["turn 1"]["leaderboard"][0]["model"] == "gpt-3.5-turbo"
    assert report["turns"]["turn 2"]["leaderboard"][0]["model"] == "llama-13b"
    for s in report["sample"]:  # the match browser: the question, both answers, both turns, each game's turn
        assert s["prompt"] and s["answer_a"] and s["answer_b"] and len(s["turns"]) == 2
        assert sorted(g["turn"] for g in s["games"]) == [1, 1, 2, 2]


def test_an_own_recorded_run_and_the_import_give_the_same_turn_boards(cli, db_path, tmp_path):
    src = _import(cli, tmp_path)
    (tmp_path / "rec.toml").write_text(f'kind = "recorded"\nformat = "mt_bench"\nfiles = ["{src}"]\nturn = "each"\n')
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "replay"\npool = "mt"\njudge = "{tmp_path / "rec.toml"}"\nbootstrap = 20\n'
                    '[prompts]\ncategories = ["writing", "reasoning", "math"]\n[scheduler]\nkind = "round-robin"\n')
    r = cli("tournament", "run", spec, "--plain", "--yes", "--out", tmp_path / "rep")
    assert r.code == 0, r.out + r.err
    store = Store(db_path)
    runs = {x.name: x.run_id for x in store.list_runs()}
    own, imported = _turn_battles(store, runs["replay"]), _turn_battles(store, runs["mtb"])
    assert sorted(own) == [1, 2] and own == imported
    games = store.games(runs["replay"])
    assert {g.judge for g in games} == {"rec@turn1", "rec@turn2"} and len(games) == 36
    # battles export: a match judged turn by turn is labelled with its judge, not `rec@turn2`
    r = cli("verdicts", "export", "replay", "--format", "battles", "--out", tmp_path / "b.jsonl")
    assert r.code == 0, r.err
    battles = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert len(battles) == 9 and {b["judge"] for b in battles} == {"rec"}
    data = json.loads((tmp_path / "rep" / "run.json").read_text())
    assert data["turns"]["turn 2"]["leaderboard"][0]["model"] == "llama-13b"


def test_a_store_with_turn_2_judgments_on_fake_prompts_still_reads(tmp_path):
    from arena.reports import build_report
    from arena.verdicts import export_verdicts

    db = tmp_path / "old.db"
    shutil.copy(OLD, db)
    store = Store(db)
    run = next(x for x in store.list_runs() if x.name == "mtb")
    assert "81:turn2" in {m.prompt_id for m in store.matches(run.run_id)}
    report = build_report(store, run.run_id, bootstrap=20)
    assert {c: v["battles"] for c, v in report["categories"].items()} == {"writing": 6, "reasoning": 6, "math": 6}  # both turns
    assert report["turns"]["turn 1"]["leaderboard"][0]["model"] == "gpt-3.5-turbo"
    assert report["turns"]["turn 2"]["leaderboard"][0]["model"] == "llama-13b"
    for s in report["sample"]:  # the match browser finds the question of an old `81:turn2` match
        assert s["prompt_id"] in QUESTIONS and s["prompt"] and len(s["turns"]) == 2
    turns = _turn_battles(store, run.run_id)
    assert {p for p, *_ in turns[2]} == QUESTIONS  # per-turn battles name the question, as a new import's
    recs = [json.loads(x) for x in export_verdicts(store, run.run_id, "mt_bench", tmp_path / "o.jsonl")[0].read_text().splitlines()]
    assert len(recs) == 18 and {(r["question_id"], r["turn"]) for r in recs} == {(q, t) for q in (81, 101, 111) for t in (1, 2)}


def test_a_category_named_turn_1_is_kept_apart_from_the_turn_1_board(cli, db_path, tmp_path):
    import csv

    pool = tmp_path / "pool"
    shutil.copytree(MT, pool)
    rows = [json.loads(x) for x in (pool / "question.jsonl").read_text().splitlines()]
    for r in rows:  # question 81 in a category named like a turn board
        r["category"] = "turn 1" if r["question_id"] == 81 else "other"
    (pool / "question.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli("pool", "import", pool, "--format", "mt_bench", "--name", "mt")
    assert r.code == 0, r.err
    src = [x for x in _pair_rows(WIN) if str(x["question_id"]) in QUESTIONS]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(x) + "\n" for x in src))
    assert cli("verdicts", "import", tmp_path / "p.jsonl", "--format", "mt_bench", "--name", "mtb", "--pool", "mt").code == 0
    r = cli("report", "mtb", "--out", tmp_path / "rep", "--bootstrap", "20")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "rep" / "run.json").read_text())
    assert {c: v["battles"] for c, v in data["categories"].items()} == {"turn 1": 3, "other": 6}  # the category, not the turn
    assert {t: v["battles"] for t, v in data["turns"].items()} == {"turn 1": 9, "turn 2": 9}
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "## Category: turn 1 (3 battles)" in md and "## Conversation turn 1 (9 battles)" in md
    table = list(csv.DictReader((tmp_path / "rep" / "leaderboard.csv").read_text().splitlines()))
    assert {(x["category"], x["turn"]) for x in table} == {("", ""), ("turn 1", ""), ("other", ""), ("", "1"), ("", "2")}
    assert "By conversation turn" in (tmp_path / "rep" / "report.html").read_text()


def test_plan_counts_each_prompts_own_turns_on_a_mixed_pool(loopback, tmp_path, monkeypatch):
    from test_conversation_judge import mt_bench_records

    import arena
    from arena.records import Output, Prompt

    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    convs, outs = mt_bench_records()
    keep = {"81", "101"}  # two 2-turn conversations and two single-turn prompts, 3 models answer all
    prompts = [p for p in convs if p.prompt_id in keep] + [Prompt(f"s{i}", f"Single question {i}?") for i in (1, 2)]
    models = sorted({o.model for o in outs})
    outputs = [o for o in outs if o.prompt_id in keep] + [Output(f"s{i}", m, f"{m} answers {i}.") for i in (1, 2) for m in models]
    db = tmp_path / "run.db"
    store = Store(db)
    store.write_pool("mix", prompts, outputs, source="test", format="jsonl")
    store.close()
    (tmp_path / "j.toml").write_text(f'kind = "llm"\nmodel = "openai/loop-judge"\napi_base = "{loopback.api_base}"\n'
                                     'api_key_env = "ARENA_TEST_KEY"\nmax_tokens = 64\nturn = "each"\n')
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "mix"\npool = "mix"\njudge = "{tmp_path / "j.toml"}"\nbootstrap = 0\n[scheduler]\nkind = "round-robin"\n')
    plan = arena.plan(spec, db=db)
    # 3 pairs x (2 conversations x 2 turns + 2 prompts x 1) x 2 orders = 36, not 12 matches x 4
    assert plan.matches == 12 and plan.calls_per_match == 4 and plan.judge_calls == 36
    assert arena.run_tournament(spec, db=db, yes=True, write_reports=False).status == "done"
    assert loopback.requests == plan.judge_calls


def test_a_recorded_judge_that_answers_no_planned_match_is_refused_in_one_line(cli, db_path, tmp_path):
    assert cli("pool", "import", MT, "--format", "mt_bench", "--name", "mt").code == 0
    rows = [dict(r, question_id=r["question_id"] + 1000) for r in _pair_rows(WIN)]  # questions the pool does not have
    (tmp_path / "other.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "rec.toml").write_text(f'kind = "recorded"\nformat = "mt_bench"\nfiles = ["{tmp_path / "other.jsonl"}"]\n')
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "replay"\npool = "mt"\njudge = "{tmp_path / "rec.toml"}"\n[scheduler]\nkind = "round-robin"\n')
    r = cli("tournament", "run", spec, "--plain", "--yes")
    assert r.code == 2
    err = r.err.strip()
    assert "\n" not in err and err.startswith("Error: ") and "answer none of the planned matches" in err and "'1081'" in err
    assert "Failed permanently" not in r.out + r.err
    store = Store(db_path)
    assert [x.name for x in store.list_runs()] == []  # nothing written


def test_a_turn_by_turn_run_goes_through_jsonl_and_back(cli, db_path, tmp_path):
    _import(cli, tmp_path)
    r = cli("verdicts", "export", "mtb", "--format", "jsonl", "--out", tmp_path / "g.jsonl")
    assert r.code == 0, r.err
    r = cli("verdicts", "import", tmp_path / "g.jsonl", "--format", "jsonl", "--name", "back")
    assert r.code == 0, r.err  # a match's games of two turns share their orders: one per judge@turnN and order
    store = Store(db_path)
    runs = {x.name: x.run_id for x in store.list_runs()}
    assert _turn_battles(store, runs["back"]) == _turn_battles(store, runs["mtb"])
    assert {g.judge for g in store.games(runs["back"])} == {g.judge for g in store.games(runs["mtb"])}
    key = lambda v: (v.prompt_id, v.model_a, v.model_b, v.outcome, v.label)  # noqa: E731
    assert sorted(map(key, store.verdicts(runs["back"]))) == sorted(map(key, store.verdicts(runs["mtb"])))
