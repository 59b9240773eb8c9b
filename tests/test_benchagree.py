"""Agreement with several references at once (BenchBench): per-column and aggregate correlations
with subset intervals, the z-score, the documented warnings, no `nan` for tied ratings, and
`arena report RUN --reference FILE` on a real run in a real SQLite store."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from test_runner import DEMO, ScriptedJudge

from arena.errors import RatingError
from arena.ratings import ScoreTable, table_from_scores
from arena.ratings._benchagree import MIN_OVERLAP, WARN_OVERLAP, reference_agreement
from arena.reports.text import leaderboard_markdown

MODELS = [f"m{i}" for i in range(10)]


def _refs(noise: list[float], seed: int = 0) -> ScoreTable:
    rng = np.random.default_rng(seed)
    truth = np.arange(10, 0, -1, dtype=float)
    return table_from_scores({f"bench{k}": dict(zip(MODELS, truth * 3 + 100 * k + rng.normal(0, sd, 10))) for k, sd in enumerate(noise)})


def test_perfect_run_scores_above_the_references_agreement():
    ratings = dict(zip(MODELS, np.arange(10, 0, -1) * 10.0))
    out = reference_agreement(ratings, _refs([3.0, 4.0, 5.0, 6.0]), bootstrap=200)
    assert len(out["references"]) == 4
    assert out["aggregate"]["spearman"] >= np.mean([e["spearman"] for e in out["references"]])  # averaging removes noise
    assert out["z_score"] is not None and out["z_score"] > 0
    for e in out["references"]:
        lo, hi = e["spearman_ci"]
        assert -1 <= lo <= hi <= 1 and e["subset_size"] == 7
    assert not out["warnings"]


def test_reversed_run_has_a_negative_z_score():
    ratings = dict(zip(MODELS, np.arange(1, 11) * 10.0))
    out = reference_agreement(ratings, _refs([3.0, 4.0, 5.0]), bootstrap=0)
    assert out["aggregate"]["spearman"] < -0.5 and out["z_score"] < -3


def test_warnings_for_few_models_and_a_narrow_range():
    refs = table_from_scores({"wide": {m: float(i) for i, m in enumerate(MODELS)}})
    few = {m: float(i) for i, m in enumerate(MODELS[:4])}
    out = reference_agreement(few, refs, bootstrap=0)
    text = " ".join(out["warnings"])
    assert f"only 4 models in common (fewer than {WARN_OVERLAP})" in text
    assert "span 33% of its range" not in text  # 3 of 9 = 33% is above the 25% threshold
    narrow = {m: float(i) for i, m in enumerate(MODELS[:3])}
    out = reference_agreement(narrow, refs, bootstrap=0)
    assert any("span 22% of its range" in w for w in out["warnings"])
    assert out["z_note"].startswith("needs at least 3 reference columns")


def test_fewer_than_three_shared_models_is_an_error():
    refs = table_from_scores({"a": {"x": 1.0, "y": 2.0, "z": 3.0}})
    with pytest.raises(RatingError, match=f"share at most 2 model\\(s\\) with the run \\(at least {MIN_OVERLAP} needed\\)"):
        reference_agreement({"x": 1.0, "y": 2.0, "q": 0.0}, refs)


def test_all_tied_ratings_give_no_nan():
    out = reference_agreement({m: 1000.0 for m in MODELS}, _refs([1.0, 2.0, 3.0]), bootstrap=50)
    assert all(e["spearman"] is None and e["kendall"] is None for e in out["references"])
    assert out["z_score"] is None and "tied" in out["z_note"]
    assert "nan" not in json.dumps(out).lower()


@pytest.fixture
def file_run(db_path):
    from arena.runner import Runner, prepare_run
    from arena.store import Store
    from arena.tournaments import make_scheduler, spec_from_dict

    store = Store(db_path)
    spec = spec_from_dict({"name": "agree", "pool": str(DEMO), "scheduler": {"kind": "round-robin", "pairs_per_prompt": 6}, "judge": "scripted", "seed": 1, "bootstrap": 100})
    prepared = prepare_run(store, spec, {"kind": "scripted", "description": "scripted test judge"})
    sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
    asyncio.run(Runner(store, prepared, ScriptedJudge(), sched).run())
    yield store, prepared.run_id
    store.close()


def test_report_against_every_reference_column(cli, file_run, tmp_path):
    store, run_id = file_run
    r = cli("report", run_id, "--reference", DEMO / "reference_rankings.csv", "--format", "json", "--format", "md", "--format", "html", "--out", tmp_path)
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "run.json").read_text())
    agr = data["agreement"]
    assert [e["column"] for e in agr["references"]] == ["chatbot_arena_elo_2024_02_02", "alpacaeval2_lc_winrate", "alpacaeval2_winrate"]
    assert agr["aggregate"]["n_models"] == 8 and agr["z_score"] is not None
    assert data["reference"]["column"] == "chatbot_arena_elo_2024_02_02"  # the confidence-aware metrics of the first
    md = (tmp_path / "leaderboard.md").read_text()
    assert "## Agreement with the references" in md and "z-score" in md and "aggregate of 3 reference(s)" in md
    # cross-category summary of the run's per-category leaderboards
    cc = data["cross_category"]
    assert set(cc["tasks"]) == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    assert len(cc["rows"]) == 8 and "## Across categories" in md
    html = (tmp_path / "report.html").read_text()
    assert 'id="agreement"' in html and 'id="cross-category"' in html and 'id="separation"' in html and ">nan<" not in html
    r = cli("report", run_id, "--reference", DEMO / "reference_rankings.csv", "--reference-column", "alpacaeval2_winrate", "-f", "json", "--out", tmp_path)
    assert r.code == 0 and [e["column"] for e in json.loads((tmp_path / "run.json").read_text())["agreement"]["references"]] == ["alpacaeval2_winrate"]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("model,score\nvicuna-7b-v1.5,1\nzephyr-7b-beta,2\nother,3\n", "share at most 2 model(s) with the run (at least 3 needed)"),
        ("model,score\nvicuna-7b-v1.5,good\n", ":2: column 'score' must be numeric"),
    ],
)
def test_report_bad_reference_is_one_line(cli, file_run, tmp_path, content, expected):
    _, run_id = file_run
    ref = tmp_path / "ref.csv"
    ref.write_text(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli("report", run_id, "--reference", ref, "--out", tmp_path / "out")
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and str(ref) in lines[0] and expected in lines[0], r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_tied_ratings_print_undefined_not_nan(store):
    report = {
        "run": {"name": "t", "run_id": "r", "status": "finished", "seed": 0}, "pool": "p", "judge": {"description": "j"},
        "leaderboard": [], "judge_stats": {"games": 0, "calls": 0, "cached_calls": 0, "errors": 0, "unparsed": 0, "unresolved_matches": 0, "forfeits": 0, "cost_usd": 0.0},
        "reference": {"path": "ref.csv", "column": "elo", "spearman": None, "kendall": None},
        "agreement": {"path": "ref.csv", **reference_agreement({m: 1.0 for m in MODELS}, _refs([1.0, 2.0, 3.0]), bootstrap=0)},
    }
    md = leaderboard_markdown(report)
    assert "nan" not in md and "undefined (all tied)" in md


def test_ratings_aggregate_over_a_runs_categories_and_a_table(cli, file_run, tmp_path):
    _, run_id = file_run
    r = cli("ratings", "aggregate", "--run", run_id, "-b", "10", "-f", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert sorted(data["tasks"]) == [f"{run_id}:{c}" for c in ("helpful_base", "koala", "oasst", "selfinstruct", "vicuna")]
    assert len(data["rows"]) == 8 and data["rows"][0]["model"] == "claude-3-opus-20240229"  # the scripted judge's favourite
    # the run's overall leaderboard beside the reference table's three columns
    r = cli("ratings", "aggregate", DEMO / "reference_rankings.csv", "--run", run_id, "--level", "overall", "-b", "10", "-f", "json")
    assert r.code == 0, r.err
    tasks = json.loads(r.out)["tasks"]
    assert run_id in tasks and "reference_rankings:alpacaeval2_winrate" in tasks and len(tasks) == 4
    r = cli("ratings", "aggregate", "--run", "no-such-run")
    assert r.code == 2 and r.err.startswith("Error:") and len(r.err.strip().splitlines()) == 1
