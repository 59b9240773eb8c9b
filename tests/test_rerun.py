"""Re-running what failed, through the CLI in-process, real HTTP to the loopback judge server:
unparsed replies are asked again (never replayed from the call cache), permanent failures are
recorded as permanent, and the cache key holds the deployment and every sampling parameter."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from loopback import Reply

from arena.backends import CompletionRequest
from arena.store import request_key

MODELS = {"alpha": 9, "bravo": 5, "charlie": 2}


def _spec(loop_judge) -> Path:
    """A round-robin over MODELS on 3 prompts (9 matches, 18 games) judged on the loopback server."""
    judge = loop_judge.preset(timeout=3)
    return loop_judge.spec(judge, loop_judge.pool(MODELS, 3), name="rerun", seed=1, bootstrap=50)


def test_unparsed_replies_are_asked_again_on_a_rerun(cli, db_path, tmp_path, loopback, loop_judge):
    spec = _spec(loop_judge)
    loopback.hook = lambda req: "I find both answers interesting and cannot decide."
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r1")
    assert r.code == 3, r.out + r.err
    games = 3 * 3 * 2  # 3 pairs x 3 prompts x 2 orders
    assert loopback.requests == 2 * games  # each game asked once more
    assert f"{2 * games} paid, 0 cached" in r.out and f"{games} unparsed" in r.out
    assert "run again to retry them" in r.out + r.err
    # the judge now answers: a re-run really asks (paid calls, nothing replayed from the cache)
    loopback.hook = None
    loopback.reset_counts()
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r2")
    assert r.code == 0, r.out + r.err
    assert loopback.requests == games
    assert f"{games} paid, 0 cached" in r.out and "0 unparsed" in r.out
    # the run's totals cover both invocations, with the latest one's share beside them
    assert f"Run totals over 2 invocations: {3 * games} paid calls" in r.out
    (row,) = json.loads(cli("tournament", "list", "--format", "json").out)
    assert (row["calls"], row["latest_calls"], row["invocations"]) == (3 * games, games, 2)
    shown = json.loads(cli("tournament", "show", "rerun", "--format", "json").out)
    assert shown["totals"]["calls"] == 3 * games and shown["invocations"] == 2
    md = (tmp_path / "r2" / "leaderboard.md").read_text()
    assert f"Run totals over 2 invocations: {3 * games} paid calls" in md and f"latest invocation: {games} paid calls" in md


def test_permanent_failures_are_recorded_and_not_offered_a_retry(cli, db_path, tmp_path, loopback, loop_judge):
    spec = _spec(loop_judge)
    loopback.hook = lambda req: Reply(status=401)
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r1")
    assert r.code == 3, r.out + r.err
    assert loopback.requests == 18  # no retry of a 401
    assert "Failed permanently: 18 games: AuthenticationError" in r.out
    assert "run again to retry them" not in r.out + r.err and "no retryable failure remains" in r.out + r.err
    con = sqlite3.connect(db_path)
    details = [json.loads(d) for (d,) in con.execute("SELECT detail FROM games WHERE label = 'error'")]
    assert len(details) == 18 and all(d["permanent"] is True for d in details)
    summary = json.loads(con.execute("SELECT summary FROM runs").fetchone()[0])
    assert summary["permanent_errors"] == 18


def test_mixed_failures_still_offer_a_retry(cli, db_path, tmp_path, loopback, loop_judge):
    spec = _spec(loop_judge)
    loopback.hook = lambda req: Reply(status=404) if req.index % 2 else Reply(status=500)
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r1")
    assert r.code == 3
    assert "Failed permanently:" in r.out and "run again to retry them" in r.out + r.err


def test_cache_key_holds_the_deployment_and_every_parameter():
    msgs = [{"role": "user", "content": "x"}]
    base = request_key("m", msgs, {"temperature": 0})
    assert request_key("m", msgs, {"temperature": 0}, "http://a/v1") != request_key("m", msgs, {"temperature": 0}, "http://b/v1")
    assert request_key("m", msgs, {"temperature": 0}, "http://a/v1") != base
    assert request_key("m", msgs, {"temperature": 0, "top_p": 0.9}) != base
    assert request_key("m2", msgs, {"temperature": 0}) != base
    assert CompletionRequest("m", msgs, {"temperature": 0}, api_base="http://a/v1", api_key_env="K1").key() == CompletionRequest(
        "m", msgs, {"temperature": 0}, api_base="http://a/v1", api_key_env="K2"
    ).key()  # the key's variable is not part of the reply


def test_two_servers_behind_one_model_name_do_not_share_cached_verdicts(cli, db_path, tmp_path, loopback, loop_judge):
    from loopback import LoopbackServer

    spec = _spec(loop_judge)
    assert cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r1").code == 0
    with LoopbackServer() as other:
        spec2 = _spec(loop_judge.at(tmp_path / "b", other))
        r = cli("tournament", "run", spec2, "--yes", "--plain", "--new", "--out", tmp_path / "r2")
        assert r.code == 0, r.out + r.err
        assert other.requests == 18 and "18 paid, 0 cached" in r.out


def test_llm_judge_reasks_a_contradictory_reply_once_and_uses_the_preset_format(loopback, store):
    from arena.judges.llm import build
    from arena.records import MatchContext

    seen: list[str] = []

    def hook(req):
        seen.append(req.messages[-1]["content"])
        if len(req.messages) == 2:
            return "Assistant A is better here [[A]], though [[B]] is close."
        return "Then: [[A]]"

    loopback.hook = hook
    judge = build(
        {"kind": "llm", "model": "openai/j", "api_base": loopback.api_base, "api_key_env": "ARENA_TEST_KEY", "template": "pairwise_mt_bench",
         "verdict_format": "mt_bench", "orders": "random", "max_retries": 0},
        name="mt", base_dir=Path(__file__).resolve().parent.parent / "judges", store=store,
    )
    ctx = MatchContext("m0", "p0", "Q?", "x", "y", "ans x", "ans y")
    res = asyncio.run(judge.judge(ctx))
    (g,) = res.games
    assert g.parse_status == "retried" and g.calls == 2 and g.detail["parse_problem"].startswith("contradictory")
    assert "several different verdicts" in seen[-1] and "[[C]]" in seen[-1]
    assert g.label == ("A>B" if g.order == "AB" else "B>A")


def test_totals_add_up_over_invocations():
    from arena.runner import add_totals

    first = {"calls": 10, "cached_calls": 0, "input_tokens": 100, "output_tokens": 50, "cost_usd": 0.5, "errors": 1, "unparsed": 0, "games": 10}
    totals, n = add_totals(None, first)
    assert n == 1 and totals["calls"] == 10 and totals["cost_usd"] == 0.5
    second = dict(first, calls=4, cost_usd=0.25)
    totals, n = add_totals({**first, "totals": totals, "invocations": 1}, second)
    assert n == 2 and totals["calls"] == 14 and totals["cost_usd"] == 0.75 and totals["errors"] == 2
    totals, n = add_totals(first, dict(second, cost_usd=None))  # an older summary without totals; unknown price
    assert n == 2 and totals["calls"] == 14 and totals["cost_usd"] is None
