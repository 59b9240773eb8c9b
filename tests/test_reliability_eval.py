"""`arena judge eval`: a judge run over labelled pairs in both orders through the store.

A scripted judge (defined here against the Judge ABC) checks the mechanics: both orders, asking
a one-order judge again with the answers swapped, store writes, resuming, errors, cost. The proof
runs the real LLM judge over HTTP against the loopback server scripted to be right with a known
probability and to favour the first slot with another.
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
from pathlib import Path

import pytest

from arena.judges import Judge, JudgeResult, combine_games
from arena.records import Game, MatchContext, swap_label
from arena.store import Store

GOOD = "[good]"


def _u(*parts: str) -> float:
    """A uniform draw in [0, 1) fixed by the text: reproducible whatever the concurrency."""
    h = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


class ScriptedJudge(Judge):
    """Right with probability `accuracy`; picks the first slot with probability `first_slot_bias`."""

    kind = "scripted"
    calls = 0
    failed: set[str] = set()  # prompts that already failed once (fail_once)

    def __init__(self, name: str, preset: dict) -> None:
        super().__init__(name, preset.get("description", "scripted test judge"))
        self.accuracy = float(preset.get("accuracy", 1.0))
        self.bias = float(preset.get("first_slot_bias", 0.0))
        self.orders = ["AB", "BA"] if preset.get("orders", "both") == "both" else ["AB"]
        self.fail = set(preset.get("fail", []))
        self.fail_once = set(preset.get("fail_once", []))

    def calls_per_match(self) -> int:
        return len(self.orders)

    def presented(self, first: str, second: str, key: str) -> str:
        """The label as presented (first slot = A)."""
        ScriptedJudge.calls += 1
        if _u(key, "bias") < self.bias:
            return "A>B"
        first_good = GOOD in first
        right = _u(key, "right") < self.accuracy
        return "A>B" if first_good == right else "B>A"

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        games = []
        for order in self.orders:
            first, second = (ctx.answer_a, ctx.answer_b) if order == "AB" else (ctx.answer_b, ctx.answer_a)
            if ctx.prompt in self.fail or (ctx.prompt in self.fail_once and ctx.prompt not in ScriptedJudge.failed):
                if order == self.orders[-1] and ctx.prompt in self.fail_once:
                    ScriptedJudge.failed.add(ctx.prompt)
                ScriptedJudge.calls += 1
                games.append(Game(ctx.match_id, self.name, order, "error", error="scripted failure", cost_usd=None))
                continue
            label = self.presented(first, second, first + "|" + second)
            if order == "BA":
                label = swap_label(label)
            games.append(Game(ctx.match_id, self.name, order, label, input_tokens=100, output_tokens=10, cost_usd=0.001))
        return JudgeResult(games, combine_games(ctx.match_id, games))


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    """Register kind `scripted_test` and return a function writing a preset for it."""
    module = types.ModuleType("arena.judges.scripted_test")
    module.build = lambda preset, *, name, base_dir, **options: ScriptedJudge(name, preset)
    monkeypatch.setitem(sys.modules, "arena.judges.scripted_test", module)
    ScriptedJudge.calls = 0
    ScriptedJudge.failed = set()

    def preset(name: str = "scripted", **keys) -> Path:
        lines = ['kind = "scripted_test"'] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
        path = tmp_path / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    return preset


def write_pairs(path: Path, n: int, seed: int = 0, categories: tuple[str, ...] = ("math", "prose")) -> Path:
    """Native jsonl pairs; the better answer carries the hidden marker, on a or b at random."""
    rows = []
    for i in range(n):
        good_on_a = _u(str(seed), str(i), "side") < 0.5
        good = f"Answer {i}: a careful solution {GOOD} <!-- quality=9 -->"
        bad = f"Answer {i}: a sloppy one <!-- quality=1 -->"
        rows.append(
            {
                "id": f"q{i}",
                "prompt": f"Question {i}: solve the problem.",
                "a": good if good_on_a else bad,
                "b": bad if good_on_a else good,
                "label": "a" if good_on_a else "b",
                "category": categories[i % len(categories)],
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def eval_json(cli, *args) -> dict:
    r = cli("judge", "eval", *args, "--format", "json", "--replicates", "300")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_eval_plays_both_orders_stores_games_and_writes_result(cli, scripted, tmp_path):
    preset = scripted(accuracy=1.0)
    pairs = write_pairs(tmp_path / "pairs.jsonl", 40)
    db, out = tmp_path / "a.db", tmp_path / "res.json"
    res = eval_json(cli, "--judge", preset, "--pairs", pairs, "--db", db, "--out", out)
    assert json.loads(out.read_text())["metrics"] == res["metrics"]
    m = res["metrics"]
    assert m["accuracy"]["value"] == 1.0 and m["consistency"]["value"] == 1.0 and m["first_slot"]["value"] == 0.5
    assert res["counts"]["games"] == 80 and res["counts"]["pairs_with_both_games"] == 40
    assert res["judge"]["name"] == "scripted" and res["judge"]["kind"] == "scripted"
    assert res["usage"]["calls_per_pair"] == 2 and res["usage"]["cost_per_1000_pairs_usd"] == pytest.approx(2.0)
    assert set(res["categories"]) == {"math", "prose"}
    assert ScriptedJudge.calls == 80
    store = Store(db)
    (run,) = store.list_runs()
    assert run["name"] == f"judge-eval:scripted:{pairs}" and run["status"] == "done"
    assert len(store.games(run["run_id"])) == 80 and len(store.verdicts(run["run_id"])) == 40
    store.close()


def test_rerun_resumes_from_the_store_without_calls(cli, scripted, tmp_path):
    preset = scripted(accuracy=0.7, first_slot_bias=0.2)
    pairs = write_pairs(tmp_path / "pairs.jsonl", 30)
    db = tmp_path / "a.db"
    first = eval_json(cli, "--judge", preset, "--pairs", pairs, "--db", db, "--limit", "20", "-o", tmp_path / "1.json")
    assert ScriptedJudge.calls == 40 and first["run"]["judged"] == 20
    ScriptedJudge.calls = 0
    second = eval_json(cli, "--judge", preset, "--pairs", pairs, "--db", db, "-o", tmp_path / "2.json")
    assert ScriptedJudge.calls == 20  # only the 10 pairs the first run did not reach
    assert second["run"]["judged"] == 10 and second["run"]["resumed"] == 20
    assert second["run"]["run_id"] == first["run"]["run_id"]
    ScriptedJudge.calls = 0
    third = eval_json(cli, "--judge", preset, "--pairs", pairs, "--db", db, "-o", tmp_path / "3.json")
    assert ScriptedJudge.calls == 0 and third["metrics"] == second["metrics"]


def test_one_order_judge_is_asked_again_swapped(cli, scripted, tmp_path):
    preset = scripted("oneway", orders="one", accuracy=1.0, first_slot_bias=0.5)
    pairs = write_pairs(tmp_path / "pairs.jsonl", 30)
    res = eval_json(cli, "--judge", preset, "--pairs", pairs, "--db", tmp_path / "a.db", "-o", tmp_path / "r.json")
    assert res["counts"]["pairs_with_both_games"] == 30
    assert ScriptedJudge.calls == 60
    # a judge biased to the first slot is caught: it is inconsistent and wins the first slot too often
    assert res["metrics"]["first_slot"]["value"] > 0.6
    assert res["metrics"]["consistency"]["value"] < 0.8


def test_failed_games_are_errors_and_are_retried_on_resume(cli, scripted, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", 10)
    db = tmp_path / "a.db"
    broken = scripted("flaky", fail=["Question 3: solve the problem.", "Question 7: solve the problem."])
    r = cli("judge", "eval", "--judge", broken, "--pairs", pairs, "--db", db, "-o", tmp_path / "r.json", "-f", "json")
    assert r.code == 3  # the run finished, but some games failed
    assert r.err == "Error: 4 of 20 games failed after retries (counted in the error rate); run the same command again to retry them\n"
    res = json.loads(r.out)
    assert res["counts"]["games_by_pick"]["error"] == 4
    assert res["metrics"]["error_rate"]["value"] == pytest.approx(4 / 20)
    assert res["usage"]["cost_per_pair_usd"] is None  # the failed games' cost is unknown
    store = Store(db)
    assert store.list_runs()[0]["status"] == "errors"
    store.close()
    fixed = scripted("flaky")  # same name, same file: the preset changed, so a new run
    ScriptedJudge.calls = 0
    res2 = eval_json(cli, "--judge", fixed, "--pairs", pairs, "--db", db, "-o", tmp_path / "r2.json")
    assert res2["counts"]["games_by_pick"]["error"] == 0 and ScriptedJudge.calls == 20


def test_resume_retries_only_the_failed_pairs(cli, scripted, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", 10)
    db = tmp_path / "a.db"
    flaky = scripted("flaky", fail_once=["Question 2: solve the problem.", "Question 5: solve the problem."])
    r = cli("judge", "eval", "--judge", flaky, "--pairs", pairs, "--db", db, "-o", tmp_path / "r.json", "-f", "json")
    assert r.code == 3 and json.loads(r.out)["counts"]["games_by_pick"]["error"] == 4
    ScriptedJudge.calls = 0
    res = eval_json(cli, "--judge", flaky, "--pairs", pairs, "--db", db, "-o", tmp_path / "r2.json")
    assert ScriptedJudge.calls == 4  # two pairs, both orders; the other eight are read back
    assert res["run"]["judged"] == 2 and res["run"]["resumed"] == 8
    assert res["counts"]["games_by_pick"]["error"] == 0 and res["metrics"]["accuracy"]["value"] == 1.0


def test_eval_table_and_compare(cli, scripted, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", 30)
    good, poor = scripted("good", accuracy=0.95), scripted("poor", accuracy=0.6, first_slot_bias=0.3)
    r = cli("judge", "eval", "-j", good, "-p", pairs, "--db", tmp_path / "a.db", "-o", tmp_path / "good.json", "--replicates", "100")
    assert r.code == 0, r.err
    assert "JudgeBench score" in r.out and "Definitions:" in r.out and "good.json" in r.out
    eval_json(cli, "-j", poor, "-p", pairs, "--db", tmp_path / "a.db", "-o", tmp_path / "poor.json")
    rows = json.loads(cli("judge", "compare", tmp_path / "poor.json", tmp_path / "good.json", "-f", "json").out)
    assert [x["judge"] for x in rows] == ["good", "poor"]
    assert rows[0]["cost_per_1000_pairs_usd"] == pytest.approx(2.0) and rows[0]["time_s"] is not None


def test_unknown_preset_and_bad_kind(cli, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", 3)
    r = cli("judge", "eval", "-j", "no-such-judge", "-p", pairs, "--db", tmp_path / "a.db")
    assert r.code == 2 and r.err.startswith("Error: no-such-judge: no such file") and r.err.count("\n") == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "nonsense"\n')
    r = cli("judge", "eval", "-j", bad, "-p", pairs, "--db", tmp_path / "a.db")
    assert r.code == 2 and "key 'kind': unknown judge kind 'nonsense'" in r.err and r.err.count("\n") == 1


# -- the proof: the real LLM judge over HTTP against a scripted loopback server ---------------------

ACCURACY, FIRST_SLOT_BIAS = 0.8, 0.25
N_PAIRS = 240


def scripted_hook(req):
    """With probability FIRST_SLOT_BIAS the first slot wins; otherwise the better answer wins
    with probability ACCURACY. Draws are fixed by the two answers as presented."""
    from loopback import quality

    blocks = req.fenced()
    first = next((v for k, v in blocks.items() if k.endswith("A's Answer")), None)
    second = next((v for k, v in blocks.items() if k.endswith("B's Answer")), None)
    if first is None or second is None:
        return None
    key = first + "|" + second
    if _u(key, "bias") < FIRST_SLOT_BIAS:
        label = "A>B"
    else:
        first_better = quality(first) > quality(second)
        right = _u(key, "right") < ACCURACY
        label = "A>B" if first_better == right else "B>A"
    return f"Both answers were read with care.\n\nMy final verdict is: [[{label}]]"


def expected_values(p: float, q: float) -> dict[str, float]:
    """Scripted values: each pair is played once with the better answer first and once second."""
    x = q + (1 - q) * p  # P(right) with the better answer in the first slot
    y = (1 - q) * p  # P(right) with the better answer in the second slot
    return {
        "accuracy": (x + y) / 2,
        "first_slot": q + (1 - q) / 2,
        "consistency": x * y + (1 - x) * (1 - y),
    }


def test_loopback_judge_measures_the_scripted_accuracy_consistency_and_bias(cli, loopback, tmp_path):
    loopback.hook = scripted_hook
    preset = tmp_path / "loop.toml"
    preset.write_text(
        "\n".join(
            [
                'kind = "llm"',
                'model = "openai/loopback-judge"',
                f'api_base = "{loopback.api_base}"',
                'api_key_env = "ARENA_TEST_KEY"',
                'template = "pairwise"',
                "max_tokens = 64",
                "concurrency = 32",
                "timeout = 10",
                "max_retries = 2",
            ]
        )
        + "\n"
    )
    pairs = write_pairs(tmp_path / "pairs.jsonl", N_PAIRS, seed=1)
    db = tmp_path / "loop.db"
    plan = json.loads(cli("judge", "eval", "--judge", preset, "--pairs", pairs, "--dry-run", "-f", "json").out)
    assert plan["calls"] == 2 * N_PAIRS and plan["input_tokens"] > 0 and loopback.requests == 0
    res = eval_json(cli, "--judge", preset, "--pairs", pairs, "--db", db, "-o", tmp_path / "loop.json", "-c", "32")
    assert loopback.requests == 2 * N_PAIRS
    assert res["counts"]["games"] == 2 * N_PAIRS and res["counts"]["games_by_pick"]["unparsed"] == 0
    m = res["metrics"]
    for key, value in expected_values(ACCURACY, FIRST_SLOT_BIAS).items():
        assert m[key]["lo"] <= value <= m[key]["hi"], (key, value, m[key])
    # the intervals are informative: a judge with no position bias would be outside the first-slot interval
    assert m["first_slot"]["lo"] > 0.5
    assert res["usage"]["calls_per_pair"] == 2 and res["usage"]["input_tokens_per_pair"] > 0
    # a re-run is answered from the store: no request reaches the server
    loopback.reset_counts()
    again = eval_json(cli, "--judge", preset, "--pairs", pairs, "--db", db, "-o", tmp_path / "loop2.json")
    assert loopback.requests == 0 and again["metrics"] == m


def test_dry_run_plans_without_calling(cli, scripted, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", 12)
    r = cli("judge", "eval", "-j", scripted(), "-p", pairs, "--dry-run", "-f", "json", "--db", tmp_path / "a.db")
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["pairs"] == 12 and plan["calls_per_pair"] == 2 and plan["calls"] == 24
    assert ScriptedJudge.calls == 0 and not (tmp_path / "a.db").exists()


def test_surrogate_judge_on_llmbar_natural(cli, tmp_path):
    """The shipped offline surrogate through `judge eval`: it plays one order, so it is asked again
    swapped; being antisymmetric, it is position-consistent by construction."""
    fixture = Path(__file__).resolve().parent / "fixtures" / "reliability" / "llmbar_natural.json"
    res = eval_json(cli, "--judge", "surrogate", "--pairs", fixture, "--db", tmp_path / "s.db", "-o", tmp_path / "s.json")
    assert res["judge"]["description"] == "surrogate (imitates GPT-4-Turbo; offline)"
    assert res["counts"]["games"] == 200 and res["counts"]["pairs_with_both_games"] == 100
    m = res["metrics"]
    assert m["consistency"]["value"] == 1.0 and m["first_slot"]["value"] == pytest.approx(0.5)
    assert 0.0 <= m["judgebench_score"]["value"] <= 1.0 and m["error_rate"]["value"] == 0.0
    assert res["usage"]["calls_per_pair"] == 0 and res["usage"]["cost_per_1000_pairs_usd"] == 0.0
    row = json.loads(cli("judge", "compare", tmp_path / "s.json", "-f", "json").out)[0]
    assert row["judge"] == "surrogate" and row["cost_per_1000_pairs_usd"] == 0.0


def test_records_count_calls_served_from_the_cache_inside_a_game():
    from arena.records import Game
    from arena.reliability.run import records_from_games

    games = [
        Game("p1", "net", "AB", "A>B", calls=5, cost_usd=0.5, cached_calls=3, cached_cost_usd=0.3),
        Game("p1", "net", "BA", "A>B", calls=5, cost_usd=0.5, cached=True),
    ]
    ab, ba = records_from_games("p1", "net", games)
    assert (ab.calls, ab.cached_calls) == (5, 3) and (ba.calls, ba.cached_calls) == (5, 5)
