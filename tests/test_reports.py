"""Reports from a real run in a real store: every format, escaping of model text, and a real browser render."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import subprocess

import pytest
from test_runner import DEMO, ScriptedJudge

from arena.reports import build_report, write_reports
from arena.runner import Runner, prepare_run
from arena.tournaments import make_scheduler, spec_from_dict

EVIL = "<script>alert('owned')</script><img src=x onerror=alert(2)>"


@pytest.fixture
def evil_pool(tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(DEMO, folder)
    path = folder / "outputs" / "vicuna-7b-v1.5.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(x) for x in lines]
    for r in rows:
        r["output"] = EVIL + r["output"]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def finished_run(store, evil_pool):
    spec = spec_from_dict(
        {
            "name": "rep",
            "pool": str(evil_pool),
            "scheduler": {"kind": "round-robin", "pairs_per_prompt": 6},
            "judge": "scripted",
            "seed": 1,
            "bootstrap": 200,
            "reference": str(DEMO / "reference_rankings.csv"),
        }
    )
    prepared = prepare_run(store, spec, {"kind": "scripted", "description": "scripted test judge"})
    sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
    asyncio.run(Runner(store, prepared, ScriptedJudge(), sched).run())
    return prepared.run_id


def test_report_formats(store, finished_run, tmp_path):
    report = build_report(store, finished_run, bootstrap=200)
    paths = write_reports(report, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["leaderboard.csv", "leaderboard.md", "report.html", "run.json"]
    data = json.loads((tmp_path / "out" / "run.json").read_text())
    board = data["leaderboard"]
    assert [r["model"] for r in board][0] == "claude-3-opus-20240229"  # the scripted judge's favourite
    assert all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in board)
    assert data["reference"]["spearman"] > 0.9  # the scripted quality order is the reference's order, nearly
    assert data["judge_stats"]["position_consistency"] == 1.0
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "| rank (UB) | model | rating | 95% CI |" in md and "claude-3-opus-20240229" in md
    csv_lines = (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()
    assert csv_lines[0].startswith("rank_ub,model,rating,ci_low,ci_high") and ",category," in csv_lines[0]
    rows = list(csv.DictReader(csv_lines))
    overall = [r for r in rows if r["category"] == ""]
    assert len(overall) == 8  # the overall rows have an empty category; each category's rows follow
    assert set(data["categories"]) == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    per_cat = {r["category"] for r in rows} - {""}
    assert per_cat == set(data["categories"])
    # category names are untrusted text: Markdown-escaped like every name (`_` in `open_qa` as `\_`)
    assert all(f"## Category: {c.replace('_', chr(92) + '_')} (" in md for c in data["categories"])


def test_model_output_is_escaped_in_html(store, finished_run, tmp_path):
    report = build_report(store, finished_run, bootstrap=50, sample=200)
    assert any(EVIL in (m["answer_a"] + m["answer_b"]) for m in report["sample"])
    write_reports(report, tmp_path, ["html"])
    html = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in html
    assert html.count("<svg") >= 3  # CI plot and two heatmaps, inline


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="headless chromium is not installed (.ci/run installs Debian's chromium)")
def test_report_renders_in_headless_chromium_without_console_errors(store, finished_run, tmp_path):
    write_reports(build_report(store, finished_run, bootstrap=50, sample=200), tmp_path, ["html"])
    page = (tmp_path / "report.html").as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    r = subprocess.run([_chromium(), *flags, "--virtual-time-budget=3000", "--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert dom.count("<svg") >= 3 and 'id="leaderboard"' in dom
    assert "&lt;script&gt;alert('owned')&lt;/script&gt;" in dom  # shown as text, not run
    console_errors = [line for line in r.stderr.splitlines() if "CONSOLE" in line and ("ERROR" in line.upper() or "Uncaught" in line)]
    assert console_errors == []
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), *flags, "--window-size=1200,2400", f"--screenshot={shot}", page], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_report_never_holds_the_pool_or_every_game(store, finished_run, monkeypatch):
    """A report of a big run reads its games and verdicts as streams and only the sampled matches'
    answers: the whole pool (`Store.outputs`) and lists of every game or verdict are never built.
    The sample is every step-th match with a verdict, as before, with its games and both answers."""
    expected_ids = [v.match_id for v in store.verdicts(finished_run) if v.outcome in ("a", "b", "tie", "unresolved")]
    games = {g.match_id: len([x for x in store.games(finished_run) if x.match_id == g.match_id]) for g in store.games(finished_run)}
    texts = {(o.prompt_id, o.model): o.text for o in store.outputs("evil")}
    for name in ("outputs", "games", "verdicts"):
        def refuse(*a, _name=name, **k):
            raise AssertionError(f"Store.{_name} read everything")
        monkeypatch.setattr(store, name, refuse)
    report = build_report(store, finished_run, bootstrap=50, sample=7)
    step = max(1, len(expected_ids) // 7)
    assert [s["match_id"] for s in report["sample"]] == expected_ids[::step][:7]
    for s in report["sample"]:
        assert len(s["games"]) == games[s["match_id"]] > 0
        assert (s["answer_a"], s["answer_b"]) == (texts[(s["prompt_id"], s["model_a"])], texts[(s["prompt_id"], s["model_b"])])
    assert report["judge_stats"]["games"] == sum(games.values()) and report["leaderboard"]


@pytest.mark.parametrize("n", [0, 30])
def test_the_specs_bootstrap_count_is_used_zero_included(store, finished_run, n):
    """`bootstrap = 0` in a spec means no bootstrap (Laplace intervals), not the default 1,000."""
    store.db.execute("UPDATE runs SET spec = json_set(spec, '$.spec.bootstrap', ?) WHERE run_id = ?", [n, finished_run])
    report = build_report(store, finished_run)
    assert report["_board"].boot.shape[0] == n
    assert all(r["ci_low"] < r["rating"] < r["ci_high"] for r in report["leaderboard"] if r["model"] != report.get("baseline"))
