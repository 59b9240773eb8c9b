"""A run reads its pool's answers from the store (arena/answers.py): same identity, same contexts,
no pool held in memory."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

from arena.answers import MemoryAnswers, StoredAnswers, is_usable
from arena.judges._parse import strip_invisible
from arena.pools import PoolData, pool_fingerprint
from arena.records import Match, Output, PoolView, Prompt
from arena.runner import Runner, prepare_run, select
from arena.tournaments import answered_from_outputs, make_scheduler, spec_from_dict

DEMO = Path(__file__).parent.parent / "data" / "demo"


def _pool(store):
    prompts = [Prompt(f"p{i}", f"question {i}", "cat" if i % 2 else None) for i in range(6)]
    outputs = [
        Output("p0", "a", "alpha zero"), Output("p0", "b", "\u200b\ufeff  \u200d"), Output("p0", "c", "gamma é zero"),
        Output("p1", "a", "  \u200bvisible after a zero-width space"), Output("p1", "b", ""), Output("p1", "c", "x" * 3000),
        Output("p2", "a", "a2"), Output("p2", "c", "c2"),
        Output("p3", "b", "b3"),
        Output("p4", "a", "a4"), Output("p4", "b", "b4"), Output("p4", "c", "c4"),
        Output("p5", "a", "a5"), Output("p5", "b", "b5"), Output("p5", "c", "\u05d0 right-to-left"),
    ]
    store.write_pool("mixed", prompts, outputs, source="test")
    return prompts, outputs


def test_is_usable_agrees_with_the_full_invisible_scan():
    cases = ["", "   ", "\u200b", "\u200b \ufeff\n", "\u200bx", " x", "x", "\u00ad\u00ad", "\u2060word", "\t\u202e", "é", "\U000e0020a"]
    for text in cases:
        assert is_usable(text) == bool(strip_invisible(text).strip()), repr(text)
    assert not is_usable(None)


def test_stored_answers_match_the_records_they_replace(store):
    prompts, outputs = _pool(store)
    chosen = [p for p in prompts if p.prompt_id != "p5"]
    stored = StoredAnswers(store, "mixed", chosen, ["a", "c"])
    kept = [o for o in outputs if o.prompt_id != "p5" and o.model in ("a", "c")]
    memory = MemoryAnswers(kept)
    # the identity of a run is unchanged: same digest as pool_fingerprint over the records
    assert stored.fingerprint == pool_fingerprint(PoolData(chosen, kept))
    assert stored.answered == memory.answered == {pid: frozenset(w) for pid, w in answered_from_outputs(kept).items()}
    assert stored.answered["p0"] == {"a", "c"} and stored.answered["p1"] == {"a", "c"} and "p3" not in stored.answered
    assert stored.models == memory.models == ["a", "c"]
    assert stored.count == len(kept)
    # equal sets of answerers are one object
    assert stored.answered["p0"] is stored.answered["p4"]
    for pid in ("p0", "p1", "p2", "p3", "p4"):
        assert stored.pair(pid, "a", "c") == memory.pair(pid, "a", "c")
        assert stored.pair(pid, "c", "a") == memory.pair(pid, "c", "a")
    assert stored.pair("p3", "a", "c") == ("", "")
    assert stored.text("p5", "a") == ""  # outside the selection
    assert stored.text("p1", "b") == ""  # a model left out reads as missing
    assert sorted(stored.sizes()) == sorted(memory.sizes())
    assert dict(((p, m), n) for p, m, n in stored.sizes())[("p0", "c")] == len("gamma é zero".encode())


def test_prepare_run_keeps_no_answer_text_and_contexts_read_the_store(store):
    spec = spec_from_dict({"name": "t", "pool": str(DEMO), "scheduler": {"kind": "round-robin"}, "judge": "scripted", "seed": 1})
    prepared = prepare_run(store, spec, {"kind": "scripted"})
    assert isinstance(prepared.answers, StoredAnswers)
    assert not any(isinstance(v, str) and len(v) > 200 for v in vars_of(prepared.answers))
    prompts, outputs, models = select(spec, store.prompts(prepared.pool), store.outputs(prepared.pool))
    memory = PoolView(prompts, outputs)
    stored = PoolView(prepared.prompts, prepared.answers)
    sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
    for m in sched.start()[:300]:
        assert stored.context(m) == memory.context(m)
    assert prepared.answered == {pid: frozenset(w) for pid, w in answered_from_outputs(outputs).items()}


def vars_of(obj) -> list:
    return [getattr(obj, k) for k in obj.__slots__]


def test_a_run_holds_far_less_than_its_answers(store):
    """A pool of 100 prompts x 4 models with 16 KB answers (6.4 MB of text): at its peak a whole
    surrogate run allocates less than half of that (Python's allocations, imports included; the
    answers as records would be more than all of it), because answers stay in the store."""
    from arena.judges import load_judge

    models = [f"m{k}" for k in range(4)]
    prompts = [Prompt(f"q{i:04d}", f"prompt {i}") for i in range(100)]
    outputs = (Output(p.prompt_id, m, f"{m} on {p.prompt_id}: " + ("word " * (3200 + 7 * k))) for p in prompts for k, m in enumerate(models))
    store.write_pool("big", prompts, outputs, source="test")
    spec = spec_from_dict({"name": "mem", "pool": "big", "scheduler": {"kind": "single-elimination"}, "judge": "surrogate", "seed": 0,
                           "concurrency": 8})
    judge = load_judge("surrogate", store=store)
    judge.model.cache_size = 100  # the scores' memo is bounded; keep it small here
    # a warm-up run on a tiny pool first: what the run imports (numpy.random, pydantic row models...)
    # is code, not answers, and grows with every feature; the bound is about the answers
    store.write_pool("tiny", prompts[:2], [Output(p.prompt_id, m, "short") for p in prompts[:2] for m in models], source="test")
    tiny = prepare_run(store, spec_from_dict({"name": "warm", "pool": "tiny", "scheduler": {"kind": "single-elimination"}, "judge": "surrogate", "seed": 0}), judge.preset)
    asyncio.run(Runner(store, tiny, judge, make_scheduler(spec.scheduler, tiny.prompts, tiny.answered, tiny.models, spec.seed)).run())
    tracemalloc.start()
    try:
        prepared = prepare_run(store, spec, judge.preset)
        sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
        stats = asyncio.run(Runner(store, prepared, judge, sched).run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.matches_done == 100 * 3
    text_bytes = 100 * sum(len(f"m{k} on q0000: ") + 5 * (3200 + 7 * k) for k in range(4))
    assert peak < text_bytes / 2, (peak, text_bytes)


def test_memory_answers_and_pool_view_accept_records():
    view = PoolView([Prompt("p", "q")], [Output("p", "a", "x"), Output("p", "b", "y")])
    ctx = view.context(Match("m", "p", "b", "a", 0))
    assert (ctx.answer_a, ctx.answer_b) == ("y", "x")
    assert view.context(Match("m", "p", "a", "z", 0)).answer_b == ""


def test_hash_output_feeds_the_bytes_json_dumps_writes():
    # a run's identity is the sha256 of these bytes: the fast encoder must write json.dumps' own
    import json

    from arena.answers import hash_output

    class Bytes(list):
        def update(self, b: bytes) -> None:
            self.append(b)

    texts = ["plain", 'quote " and \\ backslash', "tab\tnew\nline\r\x00\x1f", "é ü 漢字", "emoji \U0001f600 astral", "\u2028\u2029", "", None]
    for text in texts:
        for turns in ((), ("one", 'two "2"', "\U0001f600")):
            got, want = Bytes(), json.dumps(["model/é", "p\"1", text, *([list(turns)] if turns else [])]).encode()
            hash_output(got, "model/é", 'p"1', text, turns)
            assert got == [want], (text, turns)
    odd = Bytes()
    hash_output(odd, "m", "p", 3)  # not a string: json.dumps itself
    assert odd == [b'["m", "p", 3]']
