"""A long run's scheduler forgets what it will never look at again: a settled single-elimination
round and a fixed schedule's decided matches keep an int each, not their Match and Verdict, with the
same matches released in the same order and the same champions as a scheduler that keeps them all."""

from __future__ import annotations

import pytest

from arena.records import Prompt, Verdict
from arena.tournaments import make_scheduler
from arena.tournaments._base import keyed_float
from arena.tournaments.spec import SchedulerSpec

MODELS = [f"m{k}" for k in range(5)]
PROMPTS = [Prompt(f"q{i}", f"question {i}") for i in range(30)]
# q3: m4 missing (a forfeit), q5: only two answerers
ANSWERED = {p.prompt_id: set(MODELS) - ({"m4"} if p.prompt_id == "q3" else set()) for p in PROMPTS}
ANSWERED["q5"] = {"m0", "m1"}


def _verdict(m) -> Verdict:
    x = keyed_float(7, "outcome", m.match_id)
    return Verdict(m.match_id, "a" if x < 0.45 else "b" if x < 0.9 else "tie", 1, None, "A>B" if x < 0.45 else "B>A" if x < 0.9 else "A=B")


def _drive(sched, forget: bool, monkeypatch):
    if not forget:
        monkeypatch.setattr(sched, "_forget", lambda ids: list(ids))
    released, todo = [], sched.start()
    while todo:
        released += [m.match_id for m in todo]
        half = len(todo) // 2 or 1  # part of a wave at a time, as the runner feeds verdicts
        new = sched.update([(m, _verdict(m)) for m in todo[:half]])
        new += sched.update([(m, _verdict(m)) for m in todo[half:]])
        todo = new
    return released


@pytest.mark.parametrize("kind,params", [("single-elimination", {}), ("round-robin", {}), ("anchored", {}), ("round-robin", {"pairs_per_prompt": 3})])
def test_forgotten_matches_change_nothing_but_memory(kind, params, monkeypatch):
    spec = SchedulerSpec(kind=kind, **params)
    keep = make_scheduler(spec, PROMPTS, ANSWERED, MODELS, 3)
    lean = make_scheduler(spec, PROMPTS, ANSWERED, MODELS, 3)
    assert _drive(lean, True, monkeypatch) == _drive(keep, False, monkeypatch)
    assert lean.finished and keep.finished and lean.pending == keep.pending == 0
    assert len(keep._released) > 40 and lean._released == {} and lean._decided == {}
    assert getattr(lean, "champions", None) == getattr(keep, "champions", None)
    assert getattr(lean, "tiebreaks", None) == getattr(keep, "tiebreaks", None)
    some = next(iter(keep._released.values()))
    assert lean.update([(some, _verdict(some))]) == []  # a repeated verdict for a forgotten match is ignored
