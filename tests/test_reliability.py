"""Judge reliability: readers, metric definitions, `arena judge score` against published numbers,
`arena judge compare`, and one-line errors for bad input. No judge is called here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from arena.reliability import build_result, observations, read_pairs, read_verdicts
from arena.reliability.formats import GameRecord, Pair, pandalm_majority, pandalm_pick
from arena.reliability.metrics import METRIC_BY_KEY, evaluate, game_points, pair_verdict

FIX = Path(__file__).resolve().parent / "fixtures" / "reliability"
LLMBAR = FIX / "llmbar_natural.json"
LLMBAR_GPT4 = FIX / "llmbar_natural_gpt4_vanilla.json"
PANDA = FIX / "pandalm_testset_subset.json"
PANDA_GPT35 = FIX / "pandalm_gpt35_subset.json"
PANDA_7B = FIX / "pandalm_pandalm7b_subset.json"


def score_json(cli, *args: str) -> dict:
    r = cli("judge", "score", *args, "--format", "json", "--replicates", "200")
    assert r.code == 0, r.err
    return json.loads(r.out)


# -- published numbers ------------------------------------------------------------------------------


def test_llmbar_natural_gpt4_vanilla_reproduces_published_numbers(cli):
    """GPT-4 on LLMBar Natural (Vanilla): 95.5% accuracy over both games, 95% positional agreement."""
    res = score_json(cli, "--verdicts", LLMBAR_GPT4, "--pairs", LLMBAR)
    m = res["metrics"]
    assert res["pairs"]["format"] == "llmbar" and res["pairs"]["n"] == 100
    assert m["accuracy"]["value"] == pytest.approx(0.955) and m["accuracy"]["n"] == 200
    assert m["consistency"]["value"] == pytest.approx(0.95)
    # the rest of LLMBar's published statistics file
    assert m["accuracy_ab"]["value"] == pytest.approx(0.95)  # correct_False 95 / 100
    assert m["accuracy_ba"]["value"] == pytest.approx(0.96)  # correct_True 96 / 100
    assert m["both_correct"]["value"] == pytest.approx(0.93)  # correct_both 93 / 100
    assert m["order_kappa"]["value"] == pytest.approx(0.897708674304419, abs=1e-9)  # kappa_agreement
    # intervals bracket the value
    for key in ("accuracy", "consistency", "judgebench_score"):
        assert m[key]["lo"] <= m[key]["value"] <= m[key]["hi"]


def test_llmbar_table_shows_published_figures(cli):
    r = cli("judge", "score", "--verdicts", LLMBAR_GPT4, "--pairs", LLMBAR, "--replicates", "100")
    assert r.code == 0, r.err
    assert "accuracy, both games" in r.out and "95.5%" in r.out
    assert "position consistency" in r.out and "95.0%" in r.out
    assert "Definitions:" in r.out and "JudgeBench score: each of a pair's games" in r.out


def _independent_pandalm_agreement(verdict_file: Path, key: str) -> tuple[int, int, int]:
    """Plain-Python recount: (agreeing pairs, pairs, unparsed) against the annotators' majority."""
    pairs = {r["idx"]: r for r in json.loads(PANDA.read_text())}
    verdicts = {r["idx"]: r[key] for r in json.loads(verdict_file.read_text())}
    agree = unparsed = 0
    for idx, r in pairs.items():
        votes = Counter([r["annotator1"], r["annotator2"], r["annotator3"]]).most_common(1)[0][0]
        v = {"1": 1, "2": 2, "0": 0, "Tie": 0}.get(str(verdicts[idx]))
        unparsed += v is None
        agree += v == votes
    return agree, len(pairs), unparsed


@pytest.mark.parametrize(
    "verdicts,key,expected_unparsed",
    [(PANDA_GPT35, "gpt_result", 25), (PANDA_7B, "pandalm_result", 0)],
)
def test_pandalm_agreement_with_human_majority(cli, verdicts, key, expected_unparsed):
    """The computation behind 69.8% (GPT-3.5) and 66.8% (PandaLM-7B) on the full 999 pairs, on the extract."""
    res = score_json(cli, "--verdicts", verdicts, "--pairs", PANDA)
    agree, n, unparsed = _independent_pandalm_agreement(verdicts, key)
    assert unparsed == expected_unparsed  # the extract holds every "garbage" verdict
    m = res["metrics"]
    assert res["pairs"]["format"] == "pandalm" and res["pairs"]["n"] == n == 150
    assert m["agreement"]["value"] == pytest.approx(agree / n)
    assert m["judgebench_score"]["value"] == pytest.approx(agree / n)  # one game a pair: the same thing
    assert res["counts"]["games_by_pick"]["unparsed"] == expected_unparsed
    assert m["unparsed_rate"]["value"] == pytest.approx(expected_unparsed / n)
    assert m["consistency"]["value"] is None  # one order only: undefined, not 0
    assert res["counts"]["gold"]["tie"] > 0


def test_pandalm_categories_are_apps():
    pairs = read_pairs(PANDA)
    res = build_result(pairs, read_verdicts(PANDA_7B, pairs), judge={"name": "p"}, source="score", replicates=50)
    assert sum(c["n"] for c in res["categories"].values()) == 150
    assert "Grammarly" in res["categories"]


# -- readers ------------------------------------------------------------------------------------------


def test_pandalm_majority_and_picks():
    assert pandalm_majority([2, 2, 1]) == "b"
    assert pandalm_majority([0, 0, 1]) == "tie"
    assert pandalm_majority([1, 1, 1]) == "a"
    assert pandalm_majority([0, 1, 2]) == "tie"  # no majority
    assert [pandalm_pick(v) for v in ("1", 2, "Tie", 0, "garbage", None, True)] == ["a", "b", "tie", "tie", "unparsed", "unparsed", "unparsed"]


def test_pandalm_boolean_answers_are_text(tmp_path):
    rec = {"idx": 5, "instruction": "Is it?", "input": "", "response1": True, "response2": "No", "annotator1": 1, "annotator2": 1, "annotator3": 0}
    p = tmp_path / "p.json"
    p.write_text(json.dumps([rec]))
    (pair,) = read_pairs(p).pairs
    assert pair.a == "True" and pair.prompt == "Is it?" and pair.gold == "a" and pair.pair_id == "5"


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_judgebench_pairs_and_outputs(tmp_path):
    rows = [
        {"pair_id": "x1", "question": "q1", "response_A": "a1", "response_B": "b1", "label": "A>B", "source": "math"},
        {"pair_id": "x2", "question": "q2", "response_A": "a2", "response_B": "b2", "label": "B>A", "source": "code"},
        {"pair_id": "x3", "question": "q3", "response_A": "a3", "response_B": "b3", "label": "A>B", "source": "code"},
    ]
    pairs = read_pairs(_write_jsonl(tmp_path / "jb.jsonl", rows))
    assert pairs.format == "judgebench" and [p.gold for p in pairs.pairs] == ["a", "b", "a"]
    # JudgeBench outputs: the second decision is in the swapped order and must be flipped back
    outs = [
        {**rows[0], "judgments": [{"decision": "A>B"}, {"decision": "B>A"}]},  # +1 +1: correct
        {**rows[1], "judgments": [{"decision": "A>B"}, {"decision": "B>A"}]},  # -1 -1: wrong
        {**rows[2], "judgments": [{"decision": "A>B"}, None]},  # +1 + 0 (failed): correct
    ]
    games = read_verdicts(_write_jsonl(tmp_path / "out.jsonl", outs), pairs)
    assert [(g.pair_id, g.order, g.pick) for g in games] == [
        ("x1", "AB", "a"), ("x1", "BA", "a"), ("x2", "AB", "a"), ("x2", "BA", "a"), ("x3", "AB", "a"), ("x3", "BA", "error"),
    ]
    est = evaluate(observations(pairs.pairs, games), replicates=50)
    assert est["judgebench_score"].value == pytest.approx(2 / 3)
    assert est["error_rate"].value == pytest.approx(1 / 6)


def test_native_jsonl_pairs_and_verdicts(tmp_path):
    pairs = read_pairs(
        _write_jsonl(
            tmp_path / "p.jsonl",
            [
                {"id": "a", "prompt": "p", "a": "x", "b": "yy", "label": "a", "category": "c1"},
                {"id": "b", "prompt": "p", "a": "x", "b": "yy", "label": "tie"},
            ],
        )
    )
    assert pairs.format == "jsonl"
    games = read_verdicts(
        _write_jsonl(
            tmp_path / "v.jsonl",
            [
                {"pair_id": "a", "order": "AB", "label": "A>>B"},
                {"pair_id": "a", "order": "BA", "label": "B>A"},
                {"pair_id": "b", "order": "AB", "label": "tie"},
                {"pair_id": "b", "order": "BA", "label": "unparsed"},
            ],
        ),
        pairs,
    )
    assert [g.pick for g in games] == ["a", "b", "tie", "unparsed"]


def test_limit_reads_first_pairs_and_skips_their_verdicts():
    pairs = read_pairs(PANDA, limit=10)
    assert len(pairs.pairs) == 10 and pairs.limited
    assert len(read_verdicts(PANDA_GPT35, pairs)) == 10


# -- metric definitions on a hand-made case ------------------------------------------------------------


def _obs(golds: str, games: list[tuple[str, str]], lengths: list[tuple[int, int]] | None = None):
    pairs = []
    recs = []
    for i, (g, (p1, p2)) in enumerate(zip(golds, games)):
        la, lb = lengths[i] if lengths else (1, 1)
        pairs.append(Pair(str(i), "q", "x" * la, "y" * lb, {"a": "a", "b": "b", "t": "tie"}[g], "c" if i % 2 else "d"))
        names = {"a": "a", "b": "b", "t": "tie", "u": "unparsed", "e": "error"}
        if p1 != "-":
            recs.append(GameRecord(str(i), "AB", names[p1]))
        if p2 != "-":
            recs.append(GameRecord(str(i), "BA", names[p2]))
    return observations(pairs, recs)


def test_metric_definitions_by_hand():
    # gold:  a    a    b    b    t    a
    # games: aa   ab   ta   uu   ta   e-
    o = _obs("aabbta", [("a", "a"), ("a", "b"), ("t", "a"), ("u", "u"), ("t", "a"), ("e", "-")])
    np.testing.assert_array_equal(game_points(o), [[1, 1], [1, -1], [0, -1], [0, 0], [1, -1], [0, 0]])
    np.testing.assert_array_equal(pair_verdict(o), [1, 0, 1, 2, 1, 2])
    est = evaluate(o, replicates=100, seed=1)
    assert est["judgebench_score"].value == pytest.approx(1 / 6)  # only pair 0 sums > 0
    assert est["accuracy"].value == pytest.approx(4 / 11)  # 11 games played, 4 agree
    assert est["accuracy_ab"].value == pytest.approx(3 / 6)
    assert est["accuracy_ba"].value == pytest.approx(1 / 5)
    assert est["both_correct"].value == pytest.approx(1 / 5)
    assert est["agreement"].value == pytest.approx(1 / 6)
    # consistency over pairs with both games parsed: 0, 1, 2, 4 -> only pair 0 agrees
    assert est["consistency"].value == pytest.approx(1 / 4) and est["consistency"].n == 4
    # decisive games: (a,a) (a,b) (_,a) (_,a): first slot = AB picks a or BA picks b -> a, a, b = 3 of 6
    assert est["first_slot"].value == pytest.approx(3 / 6)
    assert est["tie_rate"].value == pytest.approx(2 / 11)
    assert est["unparsed_rate"].value == pytest.approx(2 / 11)
    assert est["error_rate"].value == pytest.approx(1 / 11)
    # kappa by hand: verdict classes (a, b, tie, unresolved) vs gold (a, b, tie)
    v = ["a", "tie", "a", "u", "a", "u"]
    g = ["a", "a", "b", "b", "tie", "a"]
    po = sum(x == y for x, y in zip(v, g)) / 6
    pe = sum((v.count(c) / 6) * (g.count(c) / 6) for c in ("a", "b", "tie"))
    assert est["kappa"].value == pytest.approx((po - pe) / (1 - pe))
    for e in est.values():
        if np.isfinite(e.value):
            assert e.lo <= e.value + 1e-12 and e.value <= e.hi + 1e-12


def test_length_bias_and_bootstrap_is_seeded():
    # a is longer in every pair; gold picks a in 2 of 4; the judge always picks a
    o = _obs("aabb", [("a", "a")] * 4, lengths=[(10, 2)] * 4)
    est = evaluate(o, replicates=200, seed=3)
    assert est["picks_longer"].value == 1.0 and est["gold_longer"].value == 0.5
    assert est["length_bias"].value == pytest.approx(0.5)
    again = evaluate(o, replicates=200, seed=3)
    other = evaluate(o, replicates=200, seed=4)
    assert again["accuracy"].lo == est["accuracy"].lo and again["accuracy"].hi == est["accuracy"].hi
    assert other["length_bias"].value == est["length_bias"].value  # the seed moves only the intervals
    assert METRIC_BY_KEY["length_bias"].kind == "diff"


def test_perfect_judge_has_kappa_one_and_tight_interval():
    o = _obs("abab" * 5, [("a", "a"), ("b", "b")] * 10)
    est = evaluate(o, replicates=200)
    assert est["kappa"].value == pytest.approx(1.0)
    assert est["judgebench_score"].value == 1.0 and est["judgebench_score"].lo == 1.0
    assert est["first_slot"].value == 0.5


# -- compare -------------------------------------------------------------------------------------------


def test_compare_builds_a_leaderboard(cli, tmp_path):
    a, b = tmp_path / "gpt4.json", tmp_path / "gpt35.json"
    assert cli("judge", "score", "--verdicts", LLMBAR_GPT4, "--pairs", LLMBAR, "-o", a, "--replicates", "100", "-f", "json").code == 0
    assert cli("judge", "score", "--verdicts", PANDA_GPT35, "--pairs", PANDA, "-o", b, "--replicates", "100", "-n", "gpt35", "-f", "json").code == 0
    # different datasets are not ranked in one table unless asked
    r = cli("judge", "compare", b, a, "--format", "json")
    assert r.code == 2 and r.err.startswith("Error: the results are on 2 different datasets (")
    assert "llmbar_natural.json (100 pairs" in r.err and "--allow-mixed" in r.err and r.err.count("\n") == 1
    r = cli("judge", "compare", b, a, "--format", "json", "--allow-mixed")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert rows[0]["dataset"].startswith("llmbar_natural.json (100 pairs, ")
    assert [x["judge"] for x in rows] == ["llmbar_natural_gpt4_vanilla", "gpt35"]
    assert rows[0]["score"] > rows[1]["score"] and rows[0]["good_enough"] and not rows[1]["good_enough"]
    assert rows[0]["consistency"] == pytest.approx(0.95)
    t = cli("judge", "compare", b, a, "--allow-mixed")
    assert t.code == 0 and "Judge leaderboard" in t.out and "gpt35" in t.out and "llmbar_natural.json" in t.out
    same = cli("judge", "compare", a, a, "--format", "json")
    assert same.code == 0 and len(json.loads(same.out)) == 2


# -- bad input: one line, the file and the line or key, exit 2 -----------------------------------------


def test_bad_label_names_file_line_and_key(cli, tmp_path):
    p = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "q", "a": "x", "b": "y", "label": "a"}, {"prompt": "q", "a": "x", "b": "y", "label": "maybe"}])
    r = cli("judge", "score", "--verdicts", p, "--pairs", p)
    assert r.code == 2
    assert r.err == f"Error: {p}:2: field 'label': expected 'a', 'b' or 'tie', got 'maybe'\n"


def test_bad_json_and_unknown_format(cli, tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"prompt": "q", "a": "x", "b": "y", "label": "a"}\n{"prompt": \n')
    r = cli("judge", "score", "--verdicts", p, "--pairs", p)
    assert r.code == 2 and r.err.startswith(f"Error: {p}:2: invalid JSON") and r.err.count("\n") == 1
    q = _write_jsonl(tmp_path / "q.jsonl", [{"question": "q", "x": 1}])
    r = cli("judge", "score", "--verdicts", q, "--pairs", q)
    assert r.code == 2 and r.err.startswith(f"Error: {q}:1: cannot tell the pairs format") and r.err.count("\n") == 1


def test_missing_key_and_verdicts_for_unknown_pair(cli, tmp_path):
    bad = tmp_path / "llm.json"
    bad.write_text(json.dumps([{"input": "q", "output_1": "x", "output_2": "y"}]))
    r = cli("judge", "score", "--verdicts", bad, "--pairs", bad)
    assert r.code == 2 and r.err == f"Error: {bad}:item 1: missing field 'label'\n"
    v = tmp_path / "v.json"
    v.write_text(json.dumps([{"idx": 99999, "gpt_result": "1"}]))
    r = cli("judge", "score", "--verdicts", v, "--pairs", PANDA)
    assert r.code == 2 and r.err == f"Error: {v}: pair id '99999' is not in {PANDA}\n"


def test_missing_file_and_bad_result_file(cli, tmp_path):
    r = cli("judge", "score", "--verdicts", tmp_path / "nope.json", "--pairs", LLMBAR)
    assert r.code == 2 and "nope.json: no such file" in r.err
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"hello": 1}))
    r = cli("judge", "compare", junk)
    assert r.code == 2
    assert r.err == f"Error: {junk}: key 'schema': expected 'arena.judge-reliability/1' (a file `arena judge eval` wrote), got None\n"


def test_every_judge_command_has_help(cli):
    for cmd in ("eval", "score", "compare", "list"):
        r = cli("judge", cmd, "--help")
        assert r.code == 0 and "Usage" in r.out and "--format" in r.out, cmd


def test_list_shows_presets_with_kind_model_description(cli):
    r = cli("judge", "list", "--format", "json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert rows, "shipped presets are listed"
    for row in rows:
        assert set(row) >= {"name", "kind", "model", "description"}
        if row["kind"] == "surrogate":
            assert row["description"].startswith("surrogate (imitates ") and row["description"].endswith("; offline)")
