"""Rank aggregation across tasks (Kemeny-Young, Borda, mean of normalised scores): textbook
cases, exactness of the three Kemeny solvers, a real sparse table (AlpacaEval's benchmarks.csv),
the CLI and its one-line errors, and a run report's cross-category summary."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from arena.errors import RatingError
from arena.ratings import aggregate_rankings, borda_scores, kemeny_order, pairwise_preferences, table_from_rankings, table_from_scores
from arena.ratings._aggregate import _kemeny_milp, kemeny_objective
from arena.tables import TableError, read_score_table

FIX = Path(__file__).resolve().parent / "fixtures" / "ratings"
BENCH = FIX / "benchmarks_alpaca_eval.csv"


def _voters(groups: list[tuple[int, list[str]]]) -> dict[str, list[str]]:
    out = {}
    for g, (count, order) in enumerate(groups):
        for k in range(count):
            out[f"g{g}v{k}"] = order
    return out


def test_condorcet_winner_beats_the_borda_winner():
    # 3 voters A>B>C, 2 voters B>C>A: A is the Condorcet winner (beats B 3-2, C 3-2), but Borda
    # gives B 7 points to A's 6. Kemeny is Condorcet-consistent; Borda is not.
    res = aggregate_rankings(table_from_rankings(_voters([(3, ["A", "B", "C"]), (2, ["B", "C", "A"])])), bootstrap=0)
    ranks = {r.model: r.ranks for r in res.rows}
    assert [r.model for r in res.rows] == ["A", "B", "C"]
    assert ranks["B"]["borda"] == 1 and ranks["A"]["borda"] == 2
    assert res.kemeny_exact
    assert [(a, b) for a, b, _ in res.disagreements] == [("A", "B")]
    assert res.disagreements[0][2] == {"kemeny": "a", "borda": "b", "mean_normalised": "b"}
    # agreements: A>B 3, A>C 3, B>C 5 of 15 pairwise preferences
    assert res.kemeny_agreement == pytest.approx(11 / 15)


def test_tennessee_capital():
    # The textbook example (Wikipedia, "Kemeny-Young method"): 42% Memphis first, 26% Nashville,
    # 15% Chattanooga, 17% Knoxville. Kemeny: Nashville > Chattanooga > Knoxville > Memphis;
    # Borda points 194 / 173 / 126 / 107 put Memphis third.
    M, N, C, K = "Memphis", "Nashville", "Chattanooga", "Knoxville"
    table = table_from_rankings(_voters([(42, [M, N, C, K]), (26, [N, C, K, M]), (15, [C, K, N, M]), (17, [K, C, N, M])]))
    res = aggregate_rankings(table, bootstrap=0)
    assert [r.model for r in res.rows] == [N, C, K, M]
    borda = {r.model: r.values["borda"] for r in res.rows}
    assert sorted(borda, key=borda.get, reverse=True) == [N, C, M, K]
    assert borda[N] * 3 * 100 == pytest.approx(194)  # normalised Borda x (k - 1) x voters = points


def test_condorcet_cycle_has_three_optimal_rotations():
    res = aggregate_rankings(table_from_rankings({"x": ["A", "B", "C"], "y": ["B", "C", "A"], "z": ["C", "A", "B"]}), bootstrap=0)
    order = [r.model for r in res.rows]
    assert order in (["A", "B", "C"], ["B", "C", "A"], ["C", "A", "B"])
    assert res.kemeny_agreement == pytest.approx(5 / 9)  # 2 + 2 + 1 of the 9 pairwise preferences
    assert all(r.values["borda"] == pytest.approx(0.5) for r in res.rows)


def test_kemeny_solvers_agree_with_brute_force():
    rng = np.random.default_rng(7)
    for n in range(2, 8):
        for _ in range(5):
            p = rng.integers(0, 6, (n, n)).astype(float)
            np.fill_diagonal(p, 0)
            best = max(kemeny_objective(o, p) for o in itertools.permutations(range(n)))
            dp, exact = kemeny_order(p)
            assert exact and kemeny_objective(dp, p) == best
            assert kemeny_objective(_kemeny_milp(p, 10.0), p) == best
            ls, exact_ls = kemeny_order(p, exact_max=0, rng=np.random.default_rng(0))
            assert not exact_ls and kemeny_objective(ls, p) <= best


def test_milp_matches_the_dp_beyond_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(3):
        p = rng.integers(0, 5, (11, 11)).astype(float)
        np.fill_diagonal(p, 0)
        dp, _ = kemeny_order(p)
        ilp, exact = kemeny_order(p, exact_max=0, milp_max=11)
        assert exact and kemeny_objective(ilp, p) == kemeny_objective(dp, p)


def test_borda_and_preferences_with_missing_cells():
    s = np.array([[3.0, np.nan], [2.0, 10.0], [1.0, 20.0], [np.nan, 5.0]])
    b = borda_scores(s)
    # column 0 ranks 0 > 1 > 2; column 1 ranks 2 > 1 > 3
    assert b.tolist() == pytest.approx([1.0, (0.5 + 0.5) / 2, (0.0 + 1.0) / 2, 0.0])
    p = pairwise_preferences(s)
    assert p[0, 1] == 1 and p[1, 0] == 0 and p[1, 2] == 1 and p[2, 1] == 1 and p[0, 3] == 0 and p[3, 0] == 0


def test_a_ranking_naming_a_model_twice_is_refused():
    with pytest.raises(RatingError, match="names model 'A' twice"):
        table_from_rankings({"t": ["A", "B", "A"]})


def test_too_little_to_aggregate():
    with pytest.raises(RatingError, match="at least 2 models"):
        aggregate_rankings(table_from_scores({"t": {"A": 1.0}, "u": {"B": 2.0}}))


def test_benchmarks_table_sparse_and_heterogeneous():
    t = read_score_table(BENCH, exclude=["Output Length"])
    assert len(t.models) == 26 and len(t.tasks) == 22  # the trailing empty row is skipped
    assert np.isnan(t.scores).mean() > 0.5  # most cells are missing
    res = aggregate_rankings(t, bootstrap=60, seed=1)
    assert res.kemeny_exact  # 26 systems: solved by the integer programme
    top = [r.model for r in res.rows[:6]]
    assert "gpt4_0125_preview" in top and "claude-3-opus-20240229" in top
    assert res.rows[-1].model == "vicuna-7b-v1.5"
    for r in res.rows:
        assert all(0 <= r.p_same[m] <= 1 for m in r.p_same)
        assert all(r.rank_lo[m] <= r.rank_hi[m] for m in r.rank_lo)
    assert res.disagreements  # averaging z-scores and social choice do not agree everywhere
    again = aggregate_rankings(t, bootstrap=60, seed=1)
    assert again.to_dict() == res.to_dict()


def test_lower_better_column_is_negated():
    t = read_score_table(BENCH, columns=["MT-bench (multi-turn)"], lower_better=["MT-bench (multi-turn)"])
    res = aggregate_rankings(t, bootstrap=0)
    assert res.rows[0].model == "vicuna-7b-v1.5"  # worst MT-bench score first when smaller is better


def test_cli_aggregate_table_and_json(cli, tmp_path):
    r = cli("ratings", "aggregate", BENCH, "-x", "Output Length", "-b", "20", "-f", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["kemeny_exact"] and len(data["rows"]) == 26 and data["bootstrap"] == 20
    rk = tmp_path / "rankings.json"
    rk.write_text(json.dumps({"t1": ["a", "b", "c"], "t2": ["a", "c", "b"], "t3": {"a": 1, "b": 3, "c": 2}}))
    r = cli("ratings", "aggregate", rk, "-b", "10")
    assert r.code == 0, r.err
    assert "Kemeny" in r.out and "a" in r.out


@pytest.mark.parametrize(
    "content, suffix, expected",
    [
        ("model,score\na,1\nb,high\n", ".csv", ":3: column 'score' must be numeric, got 'high'"),
        ("model,score\na,1\na,2\n", ".csv", ":3: model 'a' appears twice (first on line 2)"),
        ('{"t": ["a", "b", "a"]}', ".json", "key 't': ranking names model 'a' twice"),
        ('{"t": ["a", "b"], "u": 3}', ".json", "key 'u': expected a list of models best first"),
        ("model\na\n", ".csv", ":1: expected at least one score column beside 'model'"),
    ],
)
def test_cli_aggregate_bad_input_is_one_line(cli, tmp_path, content, suffix, expected):
    f = tmp_path / f"t{suffix}"
    f.write_text(content)
    r = cli("ratings", "aggregate", f)
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {f}") and expected in lines[0], r.err


def test_cli_aggregate_unknown_column(cli):
    r = cli("ratings", "aggregate", BENCH, "--column", "nope")
    assert r.code == 2 and "no column 'nope'" in r.err and "Traceback" not in r.err


def test_read_score_table_refuses_missing_file(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        read_score_table(tmp_path / "absent.csv")
    bad = tmp_path / "x.csv"
    bad.write_text("model,s\na,inf\n")
    with pytest.raises(TableError, match="finite"):
        read_score_table(bad)
