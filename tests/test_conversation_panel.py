"""Panels and cascades on conversations judged turn by turn (`turn = "each"` in their members'
presets): the panel votes per turn, a cascade's per-turn leaderboards come from the stage that
decided, and members or stages that judge different turns are refused before any call.
Real HTTP to the loopback judge; the MT-Bench extract of tests/fixtures/mt_bench."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from test_conversation_judge import conversation_ctx, mt_bench_records
from test_conversation_run import QUALITY, _mt_pool

import arena
from arena.errors import SpecError
from arena.judges import build_judge
from arena.records import Prompt


def _member(loopback, **keys) -> dict:
    return {"kind": "llm", "model": "openai/loopback-judge", "api_base": loopback.api_base, "api_key_env": "ARENA_TEST_KEY",
            "max_retries": 0, **keys}


def test_a_panel_of_turn_by_turn_members_votes_per_turn(loopback, tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    member = _member(loopback, turn="each")
    panel = build_judge({"kind": "panel", "members": [{"name": "one", **member}, {"name": "two", **member}]}, name="p", base_dir=tmp_path)
    prompts, _ = mt_bench_records()
    panel.check_prompts(prompts, "where")
    assert panel.turn_choice() == "each"
    r = asyncio.run(panel.judge(conversation_ctx()))  # A far better at turn 1, B far better at turn 2
    assert loopback.requests == 8  # 2 members x 2 turns x 2 orders
    got = [(g.judge, g.detail["turn"], g.order, g.label) for g in r.games]
    assert got == [("p@turn1", 1, "AB", "A>>B"), ("p@turn1", 1, "BA", "A>>B"), ("p@turn2", 2, "AB", "B>>A"), ("p@turn2", 2, "BA", "B>>A")]
    assert all(len(g.detail["members"]) == 2 and g.calls == 2 for g in r.games)  # each member's one game of that turn and order
    assert r.verdict.outcome == "tie"  # one turn each
    asyncio.run(panel.aclose())


def test_members_or_stages_judging_different_turns_are_refused_on_conversations(loopback, tmp_path):
    prompts, _ = mt_bench_records()
    panel = build_judge({"kind": "panel", "members": [{"name": "each", **_member(loopback, turn="each")}, {"name": "last", **_member(loopback)}]},
                        name="p", base_dir=tmp_path)
    with pytest.raises(SpecError) as e:
        panel.check_prompts(prompts, "judges/p.toml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("judges/p.toml: the members judge different turns of a conversation")
    assert """('each': turn = "each", 'last': turn = "last")""" in msg
    panel.check_prompts([Prompt("x", "one turn")], "where")  # single-turn prompts: the turn does not matter
    for name, keys in (("a", {"turn": "each"}), ("b", {"turn": 2})):
        (tmp_path / f"{name}.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in _member(loopback, **keys).items()))
    cascade = build_judge({"kind": "cascade", "stages": ["a.toml", "b.toml"]}, name="c", base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"^judges/c.toml: the stages judge different turns .*'a': turn = \"each\", 'b': turn = 2\)"):
        cascade.check_prompts(prompts, "judges/c.toml")
    assert loopback.requests == 0


def _flipped(req):
    """The cheap stage: the loopback judge's rule with every verdict reversed."""
    from loopback import judge_rule

    if not req.model.endswith("cheap"):
        return None
    text = judge_rule(req)
    swap = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
    return None if text is None else re.sub(r"\[\[(.+?)\]\]", lambda m: f"[[{swap[m.group(1)]}]]", text)


def test_a_cascade_rates_each_turn_from_the_stage_that_decided(loopback, tmp_path, monkeypatch):
    """A cheap stage that always disagrees with the final one: the pilot shows it, every match
    escalates, and the per-turn leaderboards are the final stage's (the hidden quality per turn),
    not a mix of both stages' games (which would tie everything)."""
    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    loopback.hook = _flipped
    db = tmp_path / "run.db"
    _mt_pool(db)
    for name in ("cheap", "final"):
        keys = {**_member(loopback, turn="each"), "model": f"openai/{name}", "max_tokens": 64}
        (tmp_path / f"{name}.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items()))
    (tmp_path / "casc.toml").write_text('kind = "cascade"\nstages = ["cheap.toml", "final.toml"]\npilot = 6\n')
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "mtc"\npool = "mtb"\njudge = "{tmp_path / "casc.toml"}"\nseed = 3\nbootstrap = 0\n[scheduler]\nkind = "round-robin"\n')
    result = arena.run_tournament(spec, db=db, yes=True, report_dir=tmp_path / "rep")
    assert result.status == "done"
    report = json.loads((tmp_path / "rep" / "run.json").read_text())
    boards = report["categories"]
    top = {t: boards[t]["leaderboard"][0]["model"] for t in ("turn 1", "turn 2")}
    best = {t: max(QUALITY, key=lambda m: QUALITY[m][t - 1]) for t in (1, 2)}
    assert top == {"turn 1": best[1], "turn 2": best[2]}
    assert report["judge_stats"]["cascade"]["decided_per_stage"] == {"cheap": 0, "final": 13}  # every match escalated
    assert all(r["battles"] == 10 for r in boards["turn 1"]["leaderboard"])  # 5 questions x 2 opponents, forfeits included
