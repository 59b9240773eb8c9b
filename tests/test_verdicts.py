"""`arena verdicts import / export`: the peers' recorded judgments as runs, and back out.

Fixtures (tests/fixtures/peers, see its README): extracts of AlpacaEval's GPT-4-Turbo annotations,
FastChat-format pairwise judgments in Japanese (ja-vicuna-qa-benchmark), Arena-Hard-Auto's raw
battles and bootstrap rounds (r4dm/arena-hard-local, whole), and small hand-made files in the
Arena-Hard judgment, MT-Bench human and JudgeBench output formats.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

FIX = Path(__file__).resolve().parent / "fixtures" / "peers"
AH_JUDGE = FIX / "model_judgment" / "gpt-4-1106-preview"
AH_BATTLES = FIX / "battles_llama3-70b-judge.jsonl.gz"
BASE = "Phi-3-medium-128k-instruct"

IMPORTS = [
    ("arena_hard", AH_JUDGE, ["--baseline", "gpt-4-0314"], 24, 8),
    ("alpaca_eval", FIX / "alpaca_eval", [], 72, 0),
    ("mt_bench", FIX / "mt_bench_pair_jp.jsonl.gz", [], 12, 0),
    ("mt_bench", FIX / "mt_bench_human.jsonl", [], 7, 1),
    ("chatbot_arena", FIX.parent / "ratings" / "arena_battles.json", [], 400, 0),
    ("judgebench", FIX / "judgebench_outputs.jsonl", [], 6, 0),
]


def _runs(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as c:
        try:
            return c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.parametrize("fmt,path,extra,matches,skipped", IMPORTS)
def test_import_each_format_then_report(cli, db_path, tmp_path, fmt, path, extra, matches, skipped):
    r = cli("verdicts", "import", path, "--format", fmt, "--name", "imp", "--output", "json", *extra)
    assert r.code == 0, r.err
    s = json.loads(r.out)
    assert s["matches"] == matches and s["skipped_self"] == skipped
    r = cli("report", "imp", "--format", "json", "--format", "md", "--out", tmp_path / "rep", "--bootstrap", "30")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "rep" / "run.json").read_text())
    assert data["judge"]["preset"]["kind"] == "recorded"
    assert sum(row["battles"] for row in data["leaderboard"]) >= matches  # every battle counted from both sides
    assert data["judge_stats"]["games"] == s["games"]
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "Baseline:" in md and "strong verdict (A>>B) counts as 3 wins" in md


def test_arena_hard_labels_follow_the_peers_positions(store):
    """Game 1 shows the baseline as A; game 2 swaps, so its label is read in swapped positions."""
    from arena.verdicts import import_verdicts

    s = import_verdicts(store, AH_JUDGE, "arena_hard", baseline="gpt-4-0314", name="ah")
    rows = [json.loads(line) for line in (AH_JUDGE / "claude-3-opus.jsonl").read_text().splitlines()]
    games = {(g.match_id, g.order): g for g in store.games(s.run_id)}
    matches = {m["prompt_id"]: m for m in store.matches(s.run_id) if m["model_b"] == "claude-3-opus"}
    swap = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
    for row in rows:
        m = matches[row["question_id"]]
        assert m["model_a"] == "gpt-4-0314"  # the baseline is the match's A
        assert games[(m["match_id"], "AB")].label == row["games"][0]["score"]
        assert games[(m["match_id"], "BA")].label == swap[row["games"][1]["score"]]
        assert games[(m["match_id"], "AB")].raw == row["games"][0]["judgment"]
    # a game whose reply had no verdict is kept as unparsed, not turned into a tie
    assert sum(g.label == "unparsed" for g in games.values()) == 1
    # non-ASCII and '/' in a model name survive
    assert "org/Modèle 7B" in s.models


def test_alpaca_eval_preference_kept_and_banded(store):
    from arena.verdicts import import_verdicts
    from arena.verdicts.formats import preference_label

    s = import_verdicts(store, FIX / "alpaca_eval", "alpaca_eval", name="ae")
    assert s.baseline == "gpt4_1106_preview"
    prefs = [g.detail["preference"] for g in store.games(s.run_id)]
    labels = [g.label for g in store.games(s.run_id)]
    assert labels == [preference_label(p) for p in prefs]
    assert preference_label(1.0) == "A>>B" and preference_label(1.5) == "A=B" and preference_label(1.95) == "B>>A"
    assert preference_label(1.7) == "B>A" and preference_label(1.3) == "A>B" and preference_label(1.59) == "A=B"
    # the texts became a pool: prompts and both answers
    pool = store.get_run(s.run_id)["spec"]["pool"]
    assert len(store.prompts(pool)) == 24 and len(store.models(pool)) == 4


def test_mt_bench_pair_winners_are_model_names(store):
    from arena.verdicts import import_verdicts

    s = import_verdicts(store, FIX / "mt_bench_pair_jp.jsonl.gz", "mt_bench", name="jp")
    games = store.games(s.run_id)
    assert {g.order for g in games} == {"AB", "BA"}
    # every recorded winner of this extract is model_1 (the match's A), in both games
    assert {g.label for g in games} == {"A>B"}
    assert all("[[" in g.raw for g in games)  # the judge's Japanese replies are kept


def test_judgebench_second_game_swapped_and_gold_kept(store):
    from arena.verdicts import import_verdicts

    s = import_verdicts(store, FIX / "judgebench_outputs.jsonl", "judgebench", name="jb")
    verdicts = {v.prompt_id: v for v in store.verdicts(s.run_id)}
    assert verdicts["jb-0"].outcome == "a" and verdicts["jb-0"].consistent == 1
    assert verdicts["jb-1"].outcome == "b"
    assert verdicts["jb-4"].outcome == "tie" and verdicts["jb-4"].consistent == 0  # the two games disagree
    assert verdicts["jb-5"].consistent is None  # game 2 failed: recorded as error, verdict from game 1 only
    assert verdicts["jb-5"].outcome == "unresolved"


@pytest.mark.parametrize(
    "fmt,path",
    [("alpaca_eval", FIX / "judgebench_outputs.jsonl"), ("arena_hard", FIX / "mt_bench_human.jsonl"),
     ("judgebench", FIX / "alpaca_eval" / "claude-2.jsonl.gz"), ("jsonl", AH_BATTLES)],
)
def test_wrong_format_says_what_it_looks_like(cli, db_path, fmt, path):
    r = cli("verdicts", "import", path, "--format", fmt, "--baseline", "x")
    assert r.code == 2 and r.err.startswith("Error: ") and len(r.err.strip().splitlines()) == 1
    assert "it looks like" in r.err and f"{path}:" in r.err or f"{path}: item" in r.err
    assert _runs(db_path) == 0


@pytest.mark.parametrize(
    "line,field",
    [
        ({"question_id": "q1", "model_a": "a", "model_b": "b", "winner": "model_c"}, "winner"),
        ({"question_id": "q1", "model_a": "a", "model_b": "b", "winner": "tie", "weight": -1}, "weight"),
        ({"question_id": "q1", "model_a": "", "model_b": "b", "winner": "tie"}, "model_a"),
        ({"question_id": "q1", "model_a": 3, "model_b": "b", "winner": "tie"}, "model_a"),
    ],
)
def test_bad_row_one_line_file_line_field_store_untouched(cli, db_path, tmp_path, line, field):
    f = tmp_path / "battles.jsonl"
    good = {"question_id": "q0", "model_a": "a", "model_b": "b", "winner": "model_a"}
    f.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    r = cli("verdicts", "import", f, "--format", "chatbot_arena")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert f"{f}:2: field '{field}'" in r.err
    assert _runs(db_path) == 0


def test_arena_hard_needs_a_baseline(cli, db_path):
    r = cli("verdicts", "import", AH_JUDGE, "--format", "arena_hard")
    assert r.code == 2 and "--baseline" in r.err and _runs(db_path) == 0


# -- round trips ---------------------------------------------------------------------------------


def _board(store, run_id, **kw):
    from arena.reports import build_report

    rep = build_report(store, run_id, bootstrap=0, **kw)
    return {r["model"]: (round(r["rating"], 6), r["battles"]) for r in rep["leaderboard"]}


@pytest.mark.parametrize(
    "src_fmt,src,base,exp_fmt,file_name",
    [
        ("arena_hard", AH_JUDGE, "gpt-4-0314", "arena_hard", "out"),
        ("arena_hard", AH_JUDGE, "gpt-4-0314", "battles", "b.jsonl"),
        ("alpaca_eval", FIX / "alpaca_eval", None, "alpaca_eval", "out"),
        ("alpaca_eval", FIX / "alpaca_eval", None, "battles", "b.csv"),
        ("mt_bench", FIX / "mt_bench_pair_jp.jsonl.gz", None, "jsonl", "g.jsonl"),
        ("chatbot_arena", FIX.parent / "ratings" / "arena_battles.json", None, "battles", "b.json"),
        ("judgebench", FIX / "judgebench_outputs.jsonl", None, "jsonl", "g.jsonl"),
    ],
)
def test_round_trip_export_import_same_leaderboard(store, tmp_path, src_fmt, src, base, exp_fmt, file_name):
    from arena.verdicts import export_verdicts, import_verdicts

    a = import_verdicts(store, src, src_fmt, baseline=base, name="first")
    out = tmp_path / file_name
    export_verdicts(store, a.run_id, exp_fmt, out)
    back_fmt = {"battles": "chatbot_arena"}.get(exp_fmt, exp_fmt)
    b = import_verdicts(store, out, back_fmt, name="second", pool=a.pool if exp_fmt != "alpaca_eval" else None,
                        baseline=a.baseline if back_fmt in ("arena_hard", "chatbot_arena") else None)
    assert sorted(b.models) == sorted(a.models) and b.baseline == a.baseline
    assert _board(store, b.run_id) == _board(store, a.run_id)


def test_export_file_names_are_safe_and_names_survive(store, tmp_path):
    from arena.verdicts import export_verdicts, import_verdicts

    a = import_verdicts(store, AH_JUDGE, "arena_hard", baseline="gpt-4-0314", name="ah")
    paths = export_verdicts(store, a.run_id, "arena_hard", tmp_path / "out")
    assert all(p.parent.parent == tmp_path / "out" for p in paths)  # '/' in a model name made no folder
    models = {json.loads(p.read_text().splitlines()[0])["model"] for p in paths}
    assert "org/Modèle 7B" in models


def test_pool_export_peer_formats_read_back(cli, db_path, tmp_path):
    from arena.store import Store
    from arena.verdicts import import_verdicts

    store = Store(db_path)
    s = import_verdicts(store, FIX / "alpaca_eval", "alpaca_eval", name="ae")
    store.close()
    for fmt in ("arena_hard", "alpaca_eval"):
        r = cli("pool", "export", s.pool, "--format", fmt, "--out", tmp_path / fmt)
        assert r.code == 0, r.err
        r = cli("pool", "import", tmp_path / fmt, "--format", fmt, "--name", f"back-{fmt}")
        assert r.code == 0, r.err
    store = Store(db_path)
    for fmt in ("arena_hard", "alpaca_eval"):
        assert store.models(f"back-{fmt}") == store.models(s.pool)
        assert sorted(o.text for o in store.outputs(f"back-{fmt}")) == sorted(o.text for o in store.outputs(s.pool))


# -- headline numbers -----------------------------------------------------------------------------


def test_win_rate_vs_baseline_is_the_bt_prediction_with_interval():
    from arena.ratings import fit_ratings
    from arena.records import Battle

    rng = np.random.default_rng(0)
    battles = [Battle(f"p{i}", "base", m, "b" if rng.random() < p else "a") for i in range(300) for m, p in (("x", 0.7), ("y", 0.3))]
    lb = fit_ratings(battles, anchor="base", bootstrap=200, seed=1)
    for r in lb.rows:
        assert r.vs_baseline == pytest.approx(1 / (1 + 10 ** ((1000 - r.rating) / 400)))
        assert r.vs_baseline_low <= r.vs_baseline <= r.vs_baseline_high
    assert lb.row("x").vs_baseline == pytest.approx(0.7, abs=0.05) and lb.row("y").vs_baseline == pytest.approx(0.3, abs=0.05)
    assert lb.row("base").vs_baseline == 0.5
    assert fit_ratings(battles, bootstrap=0).rows[0].vs_baseline is None  # no baseline, no column


def test_reproduces_arena_hard_auto_bootstrap():
    """The peer's raw battles file (strong wins as 3 rows, self-battles present) imported as a run;
    resampling battles as Arena-Hard-Auto v0.1 does: medians within 3 Elo of the peer's 100 rounds,
    95% interval widths within 15%, and the win rate against the baseline within 0.5 point."""
    from arena.ratings import fit_ratings
    from arena.store import Store
    from arena.verdicts import import_verdicts, run_battles

    store = Store(":memory:")
    s = import_verdicts(store, AH_BATTLES, "chatbot_arena", baseline=BASE)
    assert s.skipped_self == 1134 and s.matches == 21016 - 1134
    battles = run_battles(store, s.run_id)
    rounds = [json.loads(line) for line in (FIX / "bootstrapping_results_llama3-70b-judge.jsonl").read_text().splitlines()]
    models = list(rounds[0])
    peer = np.array([[r[m] for m in models] for r in rounds])
    assert peer.shape == (100, 9)
    lb = fit_ratings(battles, anchor=BASE, by="battle", bootstrap=1000, prior=0, seed=42, models=models)
    med = np.median(lb.boot, axis=0)
    peer_med = np.median(peer, axis=0)
    assert np.abs(med - peer_med).max() < 3.0
    # the peer's interval is the 2.5/97.5 percentiles of 100 rounds: compare the same estimator
    # (100 rounds), averaged over 30 seeds. One 100-round width is itself noisy (its relative
    # standard deviation measured here: 8-10%), so the peer's own widths carry that error: 7 of
    # the 8 models land within 15%, suzume-...-orpo-borda-half at -16% (about 2 standard deviations
    # of the peer's 100-round width; the ratio of standard deviations says the same, 0.85).
    widths = []
    for seed in range(30):
        b = fit_ratings(battles, anchor=BASE, by="battle", bootstrap=100, prior=0, seed=seed, models=models).boot
        widths.append(np.percentile(b, 97.5, axis=0) - np.percentile(b, 2.5, axis=0))
    ours = np.mean(widths, axis=0)
    theirs = np.percentile(peer, 97.5, axis=0) - np.percentile(peer, 2.5, axis=0)
    k = models.index(BASE)
    ratio = np.delete(ours / np.where(theirs > 0, theirs, 1), k)
    assert np.mean(np.abs(ratio - 1)) <= 0.15 and np.sum(np.abs(ratio - 1) > 0.15) <= 1, ratio
    assert np.all(np.abs(ratio - 1) <= 0.20), ratio
    # win rate vs the baseline: the peer maps the rating through 1 / (1 + 10^((1000 - r) / 400))
    for i, m in enumerate(models):
        peer_wr = 100 / (1 + 10 ** ((1000 - peer_med[i]) / 400))
        assert abs(100 * lb.row(m).vs_baseline - peer_wr) < 0.5


def test_strong_weight_option_for_imports_and_ratings_fit(cli, db_path, tmp_path):
    r = cli("verdicts", "import", AH_JUDGE, "--format", "arena_hard", "--baseline", "gpt-4-0314", "--name", "w1", "--strong-weight", "1")
    assert r.code == 0, r.err
    r = cli("verdicts", "import", AH_JUDGE, "--format", "arena_hard", "--baseline", "gpt-4-0314", "--name", "w3")
    assert r.code == 0, r.err
    cli("report", "w1", "-f", "json", "-f", "md", "-o", tmp_path / "w1", "--bootstrap", "0")
    cli("report", "w3", "-f", "json", "-f", "md", "-o", tmp_path / "w3", "--bootstrap", "0")
    j1 = json.loads((tmp_path / "w1" / "run.json").read_text())
    j3 = json.loads((tmp_path / "w3" / "run.json").read_text())
    assert j1["strong_weight"] == 1 and j3["strong_weight"] == 3
    # W/L/T count battles either way; the win rate weighs strong wins
    assert {r["model"]: r["wins"] for r in j1["leaderboard"]} == {r["model"]: r["wins"] for r in j3["leaderboard"]}
    assert {r["model"]: r["win_rate"] for r in j1["leaderboard"]} != {r["model"]: r["win_rate"] for r in j3["leaderboard"]}
    assert "counts as 1 wins" in (tmp_path / "w1" / "leaderboard.md").read_text()
    # ratings fit: a `label` column with A>>B read as --strong-weight wins
    f = tmp_path / "labels.jsonl"
    f.write_text("".join(json.dumps({"question_id": f"q{i}", "model_a": "a", "model_b": "b", "label": lab}) + "\n"
                         for i, lab in enumerate(["A>>B", "B>A", "A>B", "B>A"])))
    one = json.loads(cli("ratings", "fit", f, "-f", "json", "-b", "0", "--strong-weight", "1").out)
    three = json.loads(cli("ratings", "fit", f, "-f", "json", "-b", "0", "--strong-weight", "3").out)
    wins = lambda rows: {r["model"]: r["wins"] for r in rows}  # noqa: E731
    rate = lambda rows: {r["model"]: round(r["win_rate"], 4) for r in rows}  # noqa: E731
    assert wins(one) == wins(three) == {"a": 2, "b": 2}  # W/L/T count battles
    assert rate(one) == {"a": 0.5, "b": 0.5} and rate(three) == {"a": round(4 / 6, 4), "b": round(2 / 6, 4)}  # 3 + 1 of 6 weighted


def test_weight_column_counts_in_the_run(store, tmp_path):
    from arena.verdicts import import_verdicts, run_battles

    f = tmp_path / "w.csv"
    f.write_text("question_id,model_a,model_b,winner,weight\nq1,a,b,model_a,2.5\nq2,a,b,model_b,\n")
    s = import_verdicts(store, f, "chatbot_arena")
    assert sorted(b.weight for b in run_battles(store, s.run_id)) == [1.0, 2.5]


def test_report_style_and_davidson_options(cli, db_path, tmp_path):
    r = cli("verdicts", "import", FIX.parent / "ratings" / "arena_battles.json", "--format", "chatbot_arena", "--name", "cb")
    assert r.code == 0, r.err
    r = cli("report", "cb", "--style", "-f", "json", "-f", "csv", "-o", tmp_path / "s", "--bootstrap", "20")
    assert r.code == 0, r.err
    js = json.loads((tmp_path / "s" / "run.json").read_text())
    assert js["style"] is True and set(js["style_coefs"]) == {"length", "headers", "lists", "bold"}
    r = cli("report", "cb", "--ties", "davidson", "-f", "json", "-o", tmp_path / "d", "--bootstrap", "20")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "d" / "run.json").read_text())["tie_param"] > 0
    r = cli("report", "cb", "--ties", "thirds", "-f", "json", "-o", tmp_path / "x")
    assert r.code == 2 and "--ties" in r.err


def test_report_compare_works_on_imported_runs(cli, db_path):
    for name, sw in (("c1", "1"), ("c3", "3")):
        r = cli("verdicts", "import", AH_JUDGE, "--format", "arena_hard", "--baseline", "gpt-4-0314", "--name", name, "--strong-weight", sw)
        assert r.code == 0, r.err
    r = cli("report", "compare", "c1", "c3", "--format", "json", "--bootstrap", "20")
    assert r.code == 0, r.err
    res = json.loads(r.out)
    assert {m["model"] for m in res["models"]} == {"gpt-4-0314", "claude-3-opus", "org/Modèle 7B", "llama-3-8b"}


def test_unknown_baseline_and_html_column(cli, db_path, tmp_path):
    r = cli("verdicts", "import", FIX.parent / "ratings" / "arena_battles.json", "--format", "chatbot_arena", "--baseline", "gpt-5")
    assert r.code == 2 and r.err.startswith("Error: --baseline: 'gpt-5'") and _runs(db_path) == 0
    r = cli("verdicts", "import", AH_JUDGE, "--format", "arena_hard", "--baseline", "gpt-4-0314", "--name", "h")
    assert r.code == 0, r.err
    r = cli("report", "h", "-f", "html", "-o", tmp_path / "h", "--bootstrap", "20")
    assert r.code == 0, r.err
    html = (tmp_path / "h" / "report.html").read_text()
    assert "win rate vs gpt-4-0314 (95% CI)" in html and "Baseline: gpt-4-0314" in html
    assert "org/Modèle 7B" in html


def test_chatbot_arena_csv_with_string_fields(store, tmp_path):
    from arena.verdicts import import_verdicts, run_battles_with_ids
    from arena.verdicts.style import run_style_features

    meta = json.dumps({"sum_assistant_a_tokens": 300, "sum_assistant_b_tokens": 100, "header_count_a": {"h1": 1},
                       "header_count_b": {"h1": 0}, "list_count_a": {"ordered": 2}, "list_count_b": {"ordered": 0},
                       "bold_count_a": {"**": 1}, "bold_count_b": {"**": 0}})
    f = tmp_path / "battles.csv"
    import csv

    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question_id", "model_a", "model_b", "winner", "turn", "anony", "language", "tstamp", "conv_metadata"])
        w.writerow(["q1", "gpt-4o", "llama 3/8b", "model_a", "1", "True", "English", "1717171717.5", meta])
        w.writerow(["q2", "llama 3/8b", "gpt-4o", "tie (bothbad)", "2", "False", "Deutsch", "1717171718", meta])
        w.writerow(["q3", "gpt-4o", "gpt-4o", "tie", "1", "True", "English", "1717171719", meta])
    s = import_verdicts(store, f, "chatbot_arena")
    assert s.matches == 2 and s.skipped_self == 1 and s.models == ["gpt-4o", "llama 3/8b"]
    battles, ids = run_battles_with_ids(store, s.run_id)
    feats = run_style_features(store, store.get_run(s.run_id), battles, ids)
    assert feats.diffs.shape == (2, 4) and feats.diffs[0, 0] == pytest.approx((300 - 100) / 401)
    assert [m["prompt_id"] for m in store.matches(s.run_id)] == ["q1", "q2:turn2"]


def test_battles_export_per_game_or_per_verdict(cli, db_path, tmp_path):
    r = cli("verdicts", "import", FIX / "mt_bench_pair_jp.jsonl.gz", "--format", "mt_bench", "--name", "jp")
    assert r.code == 0, r.err
    for per, n in (("verdict", 12), ("game", 24)):
        r = cli("verdicts", "export", "jp", "--format", "battles", "--per", per, "--out", tmp_path / f"{per}.jsonl")
        assert r.code == 0, r.err
        rows = [json.loads(line) for line in (tmp_path / f"{per}.jsonl").read_text().splitlines()]
        assert len(rows) == n and all(row["winner"] == "model_a" and row["judge"] == "gpt-4" and row["prompt"] for row in rows)
    r = cli("verdicts", "export", "jp", "--format", "battles", "--per", "turn", "--out", tmp_path / "x.jsonl")
    assert r.code == 2 and "--per" in r.err


def _first_record(fmt: str, path: Path) -> dict:
    from arena.verdicts.formats import files_of, iter_records

    return next(iter_records(files_of(path)[0]))[1]


@pytest.mark.parametrize("fmt,path,extra,matches,skipped", IMPORTS)
def test_mutated_rows_import_or_fail_with_one_line(tmp_path, fmt, path, extra, matches, skipped):
    """Every key of a real row dropped, or replaced by a value of the wrong type: the import either
    works or raises one `BadInput` line naming the file and line; never another exception."""
    from arena.errors import BadInput
    from arena.store import Store
    from arena.verdicts import import_verdicts

    rec = _first_record(fmt, path)
    baseline = extra[1] if extra else None
    mutations = [{k: v for k, v in rec.items() if k != key} for key in rec]
    for key in rec:
        for bad in (None, 3, -1.5, True, [], {}, "", "\ud800", 10**30, [None]):
            mutations.append({**rec, key: bad})
    for i, m in enumerate(mutations):
        f = tmp_path / f"m{i}.jsonl"
        f.write_text(json.dumps(m, ensure_ascii=True) + "\n")
        store = Store(":memory:")
        try:
            import_verdicts(store, f, fmt, baseline=baseline)
        except BadInput as e:
            msg = str(e)
            assert "\n" not in msg and str(f) in msg, (m, msg)
            assert store.list_runs() == []
        finally:
            store.close()


def test_python_api_import_and_export(tmp_path):
    import arena

    db = tmp_path / "a.db"
    s = arena.import_verdicts(FIX / "mt_bench_human.jsonl", "mt_bench", name="human", db=db)
    assert s.matches == 7 and s.skipped_self == 1
    paths = arena.export_verdicts("human", "jsonl", tmp_path / "g.jsonl", db=db)
    assert len(paths[0].read_text().splitlines()) == 7
    rep = arena.load_run("human", db=db).report(bootstrap=0)
    assert rep["judge"]["preset"]["kind"] == "recorded" and rep["battles"] == 7
