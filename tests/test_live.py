"""A real judge call to a real API: runs only where OPENAI_API_KEY is set (never in CI)."""

from __future__ import annotations

import asyncio
import os

import pytest

from arena.judges import load_judge
from arena.records import MatchContext

pytestmark = [pytest.mark.live, pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="needs OPENAI_API_KEY (a live API test)")]


def test_gpt_4o_mini_prefers_the_correct_answer(store):
    judge = load_judge("gpt-4o-mini", store=store)
    ctx = MatchContext("live-1", "p1", "What is 17 * 3?", "good", "bad", "17 * 3 = 51.", "17 * 3 = 41.")
    result = asyncio.run(judge.judge(ctx))
    asyncio.run(judge.aclose())
    assert result.verdict.outcome == "a"
    assert all(g.cost_usd and g.cost_usd > 0 for g in result.games)
    assert os.environ["OPENAI_API_KEY"] not in "".join(g.raw for g in result.games)
