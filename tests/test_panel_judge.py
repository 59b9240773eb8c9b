"""The panel judge against the loopback server: members are real LLM judges whose model names
the hook answers differently, so each member's vote is scripted."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from arena.errors import SpecError
from arena.judges import load_judge
from arena.judges.panel import aggregate, member_agreement, reliability_weight
from arena.records import MatchContext, swap_label

KEY_ENV = "ARENA_TEST_KEY"


def member_hook(views: dict[str, str], fallback=None):
    """Loopback hook: the model named `m` (without provider) says `views[m]` from alpha's side
    (the label is swapped when beta is shown first); `"fail"` answers 500."""
    from loopback import Reply

    def hook(req):
        view = views.get(req.model)
        if view is None:
            return fallback(req) if fallback else None
        if view == "fail":
            return Reply(status=500)
        if view == "denied":  # a permanent failure: another attempt cannot fix it
            return Reply(status=401)
        blocks = req.fenced()
        first = blocks.get("Assistant A's Answer", "")
        label = view if "alpha" in first else swap_label(view)
        return Reply(text=f"Compared.\nMy final verdict is: [[{label}]]", input_tokens=100, output_tokens=10)

    return hook


def llm_preset(folder: Path, name: str, loopback, model: str | None = None, **keys) -> Path:
    lines = [
        'kind = "llm"',
        f'model = "openai/{model or name}"',
        f'api_base = "{loopback.api_base}"',
        f'api_key_env = "{KEY_ENV}"',
        "max_tokens = 64",
        "timeout = 5",
        "max_retries = 1",
    ] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def panel_preset(folder: Path, members: list, name: str = "jury", **keys) -> Path:
    lines = ['kind = "panel"'] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    for m in members:
        lines.append("[[members]]")
        if isinstance(m, str):
            m = {"preset": m}
        lines += [f"{k} = {json.dumps(v)}" for k, v in m.items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def result_file(path: Path, accuracy: float | None) -> Path:
    """A minimal reliability result file (the keys `read_result` checks, and the metric read)."""
    metric = {"value": accuracy, "lo": None, "hi": None, "n": 100}
    path.write_text(
        json.dumps(
            {
                "schema": "arena.judge-reliability/1",
                "judge": {"name": path.stem},
                "metrics": {"judgebench_score": metric, "accuracy": metric},
                "pairs": {"n": 100},
                "usage": {},
                "time": {},
            }
        )
    )
    return path


def ctx(i: int = 0) -> MatchContext:
    return MatchContext(f"m{i}", f"p{i}", f"Question {i}?", "alpha", "beta", f"Answer of alpha {i}. <!-- quality=8 -->", f"Answer of beta {i}. <!-- quality=3 -->")


def judge_once(path, c=None, **options):
    async def go():
        judge = load_judge(path, backoff_base=0.002, backoff_max=0.01, **options)
        try:
            return judge, await judge.judge(c or ctx())
        finally:
            await judge.aclose()

    return asyncio.run(go())


@pytest.fixture
def three(tmp_path, loopback):
    """Members m1 (says A>>B), m2 (A>B), m3 (B>A), each a preset file beside the panel."""
    for n in ("m1", "m2", "m3"):
        llm_preset(tmp_path, n, loopback)
    loopback.hook = member_hook({"m1": "A>>B", "m2": "A>B", "m3": "B>A"})
    return tmp_path


# -- pure parts ----------------------------------------------------------------------------------------


def test_aggregate_rules():
    assert aggregate(["A>>B", "A>B", "B>A"], mode="majority") == ("A>B", pytest.approx(1 / 3))
    assert aggregate(["A>>B", "A>>B", "B>A"], mode="majority")[0] == "A>>B"  # both winners said strong
    assert aggregate(["A>B", "B>A", "A=B"], mode="majority")[0] == "A=B"  # level
    assert aggregate(["A=B", "A=B", "B>A"], mode="majority")[0] == "A=B"  # more ties than either side
    assert aggregate(["A>>B", "A>B", "B>A"], mode="mean") == ("A>B", pytest.approx(2 / 3))
    assert aggregate(["A>B", "B>A"], mode="mean") == ("A=B", 0.0)
    assert aggregate(["A>B", "B>>A"], [3.0, 1.0], mode="weighted") == ("A=B", pytest.approx(0.25))  # (3 - 2) / 4 <= tie margin
    assert aggregate(["A>B", "B>>A"], [5.0, 1.0], mode="weighted") == ("A>B", pytest.approx(0.5))  # (5 - 2) / 6
    assert aggregate(["A>B", "B>A"], [0.0, 0.0], mode="weighted")[0] == "A=B"
    with pytest.raises(ValueError):
        aggregate([], mode="mean")


def test_reliability_weights_are_log_odds():
    assert reliability_weight(0.5) == 0.0 and reliability_weight(0.3) == 0.0
    assert reliability_weight(0.75) == pytest.approx(math.log(3))
    assert reliability_weight(1.0) == pytest.approx(math.log(99))
    assert reliability_weight(0.8, "value") == 0.8
    with pytest.raises(ValueError):
        reliability_weight(None)


# -- against the loopback server -------------------------------------------------------------------------


def test_majority_panel_with_member_agreement(three, loopback):
    path = panel_preset(three, ["m1", "m2", "m3.toml"])  # names relative to the panel, with or without .toml
    judge, r = judge_once(path)
    assert judge.calls_per_match() == 6 and loopback.requests == 6
    assert [g.judge for g in r.games] == ["jury", "jury"] and [g.order for g in r.games] == ["AB", "BA"]
    assert [g.label for g in r.games] == ["A>B", "A>B"]
    assert (r.verdict.outcome, r.verdict.label, r.verdict.consistent) == ("a", "A>B", True)
    members = {m["name"]: m for m in r.games[1].detail["members"]}
    assert {n: m["label"] for n, m in members.items()} == {"m1": "A>>B", "m2": "A>B", "m3": "B>A"}
    assert {n: m["agrees"] for n, m in members.items()} == {"m1": True, "m2": True, "m3": False}
    assert r.games[0].detail["statistic"] == pytest.approx(1 / 3)
    assert member_agreement(r.games) == {
        "m1": {"agree": 2, "n": 2, "rate": 1.0},
        "m2": {"agree": 2, "n": 2, "rate": 1.0},
        "m3": {"agree": 0, "n": 2, "rate": 0.0},
    }
    assert r.extra["members"]["m3"]["agrees"] is False and r.extra["members"]["m1"]["agrees"] is True
    # calls, tokens and attempts add up over the members' games
    assert sum(g.calls for g in r.games) == 6 and sum(g.attempts for g in r.games) == 6
    assert sum(g.input_tokens for g in r.games) == 600 and sum(g.output_tokens for g in r.games) == 60
    assert all(g.cost_usd is None for g in r.games)  # unpriced member models: unknown, never $0


def test_mean_and_weighted_by_measured_reliability(three, loopback):
    _, r = judge_once(panel_preset(three, ["m1", "m2", "m3"], name="mean", aggregation="mean"))
    assert r.games[0].detail["statistic"] == pytest.approx((2 + 1 - 1) / 3) and r.verdict.label == "A>B"
    # m3 is measured far more reliable: its vote outweighs the other two
    result_file(three / "r1.json", 0.6)
    result_file(three / "r2.json", 0.55)
    result_file(three / "r3.json", 0.95)
    members = [{"preset": f"m{i}", "reliability": f"r{i}.json"} for i in (1, 2, 3)]
    judge, r = judge_once(panel_preset(three, members, name="weighted", aggregation="weighted"))
    w = [math.log(0.6 / 0.4), math.log(0.55 / 0.45), math.log(0.95 / 0.05)]
    expected = (2 * w[0] + 1 * w[1] - 1 * w[2]) / sum(w)
    assert [m.weight for m in judge.members] == pytest.approx(w)
    assert r.games[0].detail["statistic"] == pytest.approx(expected)
    assert r.verdict.label == "B>A" and [m["weight"] for m in r.games[0].detail["members"]] == pytest.approx(w)
    assert [m.weight_source for m in judge.members] == [str(three / f"r{i}.json") for i in (1, 2, 3)]


def test_a_failing_member_is_excluded_and_quorum_decides(three, loopback):
    llm_preset(three, "broken", loopback)
    loopback.hook = member_hook({"m1": "A>>B", "m2": "A>B", "m3": "B>A", "broken": "fail"})
    _, r = judge_once(panel_preset(three, ["m1", "m3", "broken"], aggregation="mean"))
    assert r.verdict.outcome == "a"  # (2 - 1) / 2 = 0.5 > 0.25
    entry = next(m for m in r.games[0].detail["members"] if m["name"] == "broken")
    assert entry["label"] == "error" and "500" in entry["error"] and entry["agrees"] is None
    assert sum(g.attempts for g in r.games) == loopback.requests == 4 + 2 * 2  # broken: 2 attempts (max_retries = 1) in each order
    # two of three failing: below the quorum, unresolved with the reasons, never a tie
    llm_preset(three, "broken2", loopback)
    loopback.hook = member_hook({"m1": "A>>B", "broken": "fail", "broken2": "fail"})
    _, r = judge_once(panel_preset(three, ["m1", "broken", "broken2"], name="weak"))
    assert [g.label for g in r.games] == ["error", "error"]
    assert "2 of 3 members gave no verdict" in r.games[0].error and "broken2" in r.games[0].error
    assert r.verdict.outcome == "unresolved" and r.verdict.label == "error"
    assert not r.games[0].detail.get("permanent")  # a 500 may pass on the next run: retried then


def test_a_panel_fails_permanently_only_when_no_retry_can_reach_the_quorum(three, loopback):
    for n in ("denied1", "denied2", "flaky"):
        llm_preset(three, n, loopback)
    loopback.hook = member_hook({"m1": "A>>B", "denied1": "denied", "denied2": "denied", "flaky": "fail"})
    _, r = judge_once(panel_preset(three, ["m1", "denied1", "denied2"], name="locked"))
    assert [g.label for g in r.games] == ["error", "error"]
    assert all(g.detail.get("permanent") for g in r.games)
    assert all(m["permanent"] for m in r.games[0].detail["members"] if m["name"].startswith("denied"))
    # one member's failure is retryable: the panel's is too (its next run may reach the quorum)
    _, r = judge_once(panel_preset(three, ["m1", "denied1", "flaky"], name="mixed"))
    assert [g.label for g in r.games] == ["error", "error"]
    assert not any(g.detail.get("permanent") for g in r.games)


def test_inline_nested_network_and_one_order_members(tmp_path, loopback):
    """Any kind can sit on a panel: an inline llm member, a network, a random-order llm (one game,
    voting its verdict in the other order) and a nested panel."""
    from test_network_judge import NetworkScript

    script = NetworkScript()
    loopback.hook = member_hook({"inline": "A>B", "rnd": "A>B", "inner": "B>A"}, fallback=script)
    (tmp_path / "sub").mkdir()
    net = tmp_path / "sub" / "net.toml"
    net.write_text(f'kind = "network"\nmodel = "openai/net"\napi_base = "{loopback.api_base}"\napi_key_env = "{KEY_ENV}"\nwidth = 2\ndepth = 1\nmax_retries = 0\n')
    llm_preset(tmp_path, "rnd", loopback, orders="random")
    llm_preset(tmp_path, "inner", loopback)
    panel_preset(tmp_path, ["inner"], name="innerpanel")
    inline = {"name": "inline", "kind": "llm", "model": "openai/inline", "api_base": loopback.api_base, "api_key_env": KEY_ENV, "max_tokens": 64}
    path = panel_preset(tmp_path, [inline, "sub/net.toml", "rnd", "innerpanel"])
    judge, r = judge_once(path)
    assert [m.name for m in judge.members] == ["inline", "net", "rnd", "innerpanel"]
    assert judge.calls_per_match() == 2 + (1 + 2 * 2) + 1 + 2
    assert loopback.requests == judge.calls_per_match() == sum(g.calls for g in r.games)
    votes = {m["name"]: (m["label"], m["source"]) for m in r.games[0].detail["members"]}
    votes_ba = {m["name"]: (m["label"], m["source"]) for m in r.games[1].detail["members"]}
    assert votes["inline"] == ("A>B", "game") and votes["innerpanel"] == ("B>A", "game")
    assert votes["net"][0] == "A>>B"  # quality 8 vs 3: a 5-point mean difference
    assert {votes["rnd"][1], votes_ba["rnd"][1]} == {"game", "verdict"} and votes["rnd"][0] == votes_ba["rnd"][0] == "A>B"
    assert r.verdict.outcome == "a"


def test_cost_totals_add_up_over_members(tmp_path, loopback, store):
    llm_preset(tmp_path, "p1", loopback, model="gpt-4o-mini")
    llm_preset(tmp_path, "p2", loopback, model="gpt-4o-mini", template="pairwise_reference")
    loopback.hook = member_hook({"gpt-4o-mini": "A>B"})
    path = panel_preset(tmp_path, ["p1", "p2"], name="priced")
    judge, r = judge_once(path, store=store)
    import litellm

    p_in, p_out = litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=100, completion_tokens=10)
    assert loopback.requests == 4
    assert sum(g.cost_usd for g in r.games) == pytest.approx(4 * (p_in + p_out), rel=1e-9)
    for g in r.games:
        assert g.cost_usd == pytest.approx(math.fsum(m["cost_usd"] for m in g.detail["members"]), rel=1e-12)
    # the call cache: a re-run pays nothing and says what it saved
    loopback.reset_counts()
    _, r2 = judge_once(path, store=store)
    assert loopback.requests == 0 and all(g.cached for g in r2.games)
    assert sum(g.cached_cost_usd for g in r2.games) == pytest.approx(sum(g.cost_usd for g in r.games))


def test_shipped_panel_and_spec_errors(tmp_path, loopback):
    judge = load_judge("panel")
    assert judge.kind == "panel" and [m.name for m in judge.members] == ["gpt-4o-mini", "claude-haiku-4.5", "gemini-2.5-flash"]
    assert judge.calls_per_match() == 6
    llm_preset(tmp_path, "m1", loopback)
    cases = [
        ({"aggregation": "vote"}, ["m1"], r"key 'aggregation'"),
        ({}, ["nope"], r"key 'members\[0\]': nope: no such file"),
        ({}, ["m1", "m1"], r"two members are named 'm1'"),
        ({"aggregation": "weighted"}, ["m1"], r"key 'members\[0\]': aggregation = \"weighted\" needs `reliability`"),
        ({}, [{"preset": "m1", "reliability": "missing.json"}], r"key 'members\[0\].reliability': .*missing.json: no such file"),
        ({}, [{"preset": "m1", "colour": "red"}], r"key 'members\[0\].colour': not a member setting"),
        ({}, [{"name": "x"}], r"give either `preset`"),
        ({}, [{"kind": "nosuchkind"}], r"unknown judge kind 'nosuchkind'"),
        ({}, ["bad"], r"key 'members\[0\]'"),
    ]
    (tmp_path / "bad.toml").write_text("kind = [")
    for keys, members, message in cases:
        with pytest.raises(SpecError, match=message):
            load_judge(panel_preset(tmp_path, members, name="p", **keys))
    (tmp_path / "empty.toml").write_text('kind = "panel"\n')
    with pytest.raises(SpecError, match=r"empty.toml: key 'members' is missing"):
        load_judge(tmp_path / "empty.toml")
    result_file(tmp_path / "nometric.json", None)
    with pytest.raises(SpecError, match=r"has no value for metric 'accuracy'"):
        load_judge(panel_preset(tmp_path, [{"preset": "m1", "reliability": "nometric.json"}], name="p", aggregation="weighted"))
    # a panel that contains itself
    panel_preset(tmp_path, ["loop2"], name="loop1")
    panel_preset(tmp_path, ["loop1"], name="loop2")
    with pytest.raises(SpecError, match=r"contains itself"):
        load_judge(tmp_path / "loop1.toml")
