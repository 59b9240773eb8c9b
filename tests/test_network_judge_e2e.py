"""A network judge end to end against the loopback server: a tournament through arena.runner (and
`arena tournament plan`), and a judge-reliability run through arena.reliability."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_engine
from test_network_judge import NetworkScript

from arena.judges import load_judge
from arena.tournaments import spec_from_dict

MODELS = {"alpha": 9, "bravo": 6, "charlie": 2}


def write_network(loop_judge, **keys) -> Path:
    """A network judge preset `net.toml` on the loopback server (width 2, depth 2 unless `keys` say)."""
    settings = {"width": 2, "depth": 2, "max_tokens": 64, "timeout": 5, "max_retries": 1, **keys}
    return loop_judge.preset("net.toml", kind="network", model="openai/net-judge", **settings)


def test_tournament_with_a_network_judge(tmp_path, loopback, loop_judge, store, cli):
    loopback.hook = NetworkScript()
    pool = loop_judge.pool(MODELS, 2)
    judge_path = write_network(loop_judge)
    spec_path = loop_judge.spec(judge_path, pool, name="net-e2e", seed=1, concurrency=4)

    # the plan knows the cost: 1 + 2 x 2 x 2 = 9 calls a match, 3 pairs x 2 prompts
    r = cli("tournament", "plan", spec_path, "--format", "json")
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["calls_per_match"] == 9 and plan["judge_calls"] == 6 * 9
    assert loopback.requests == 0

    spec = spec_from_dict({"name": "net-e2e", "pool": str(pool), "judge": str(judge_path), "scheduler": {"kind": "round-robin"}, "seed": 1, "concurrency": 4})
    prepared, _, stats = run_engine(store, spec, judge_path)
    assert prepared.status == "done" and stats.matches_done == 6
    assert stats.calls == loopback.requests == 6 * 9
    verdicts = store.verdicts(prepared.run_id)
    assert len(verdicts) == 6
    for v in verdicts:
        better = v.model_a if MODELS[v.model_a] > MODELS[v.model_b] else v.model_b
        assert (v.model_a if v.outcome == "a" else v.model_b) == better
    games = store.games(prepared.run_id)
    assert len(games) == 12 and {g.order for g in games} == {"AB", "BA"}
    assert sum(g.calls for g in games) == 54 and sum(g.input_tokens for g in games) == stats.input_tokens
    detail = games[0].detail
    assert len(detail["evaluations"]) == 4 and detail["network"]["width"] == 2

    # running it again resumes: nothing is judged, nothing is called
    loopback.reset_counts()
    prepared2, _, stats2 = run_engine(store, spec, judge_path)
    assert prepared2.run_id == prepared.run_id and stats2.matches_resumed == 6 and loopback.requests == 0


def write_pairs(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        good_on_a = i % 3 != 0
        good = f"Answer {i}: careful. <!-- quality=9 -->"
        bad = f"Answer {i}: sloppy. <!-- quality=2 -->"
        rows.append({"id": f"q{i}", "prompt": f"Question {i}?", "a": good if good_on_a else bad, "b": bad if good_on_a else good, "label": "a" if good_on_a else "b"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_reliability_run_with_a_network_judge(tmp_path, loopback, loop_judge, store):
    from arena.reliability import build_result, evaluate_judge, read_pairs
    from arena.reliability.run import plan_eval

    loopback.hook = NetworkScript()
    judge_path = write_network(loop_judge, width=3, depth=1)
    pairs = read_pairs(write_pairs(tmp_path / "pairs.jsonl", 6))
    plan = plan_eval(load_judge(judge_path), pairs)
    assert plan["calls_per_pair"] == 1 + 2 * 3 * 1 and plan["calls"] == 6 * 7
    run = evaluate_judge(str(judge_path), pairs, store=store, backoff_base=0.002)
    assert loopback.requests == 6 * 7
    assert len(run.games) == 12 and all(g.calls > 0 for g in run.games)
    assert sum(g.calls for g in run.games) == loopback.requests
    result = build_result(pairs, run.games, judge={"name": run.judge_name, "kind": run.judge_kind}, source="eval", replicates=100)
    assert run.judge_kind == "network"
    assert result["metrics"]["accuracy"]["value"] == 1.0 and result["metrics"]["consistency"]["value"] == 1.0
    assert result["usage"]["calls_per_pair"] == 7
