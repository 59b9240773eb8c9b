"""The in-process vllm backend's batching and chat-template glue, against a stand-in module
with vllm's `LLM.generate` / `SamplingParams` signatures (the real engine needs CUDA)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import types
from pathlib import Path

import pytest

from arena.backends import CompletionRequest, make_backend
from arena.records import MatchContext


def fake_vllm(calls: list, *, fail: bool = False) -> types.ModuleType:
    mod = types.ModuleType("vllm")

    class SamplingParams:
        def __init__(self, n=1, temperature=1.0, top_p=1.0, top_k=-1, seed=None, stop=None, max_tokens=16,
                     presence_penalty=0.0, frequency_penalty=0.0, **kw):
            self.temperature, self.max_tokens, self.seed = temperature, max_tokens, seed

    class Tokenizer:
        def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False, **kw):
            assert tokenize is False and add_generation_prompt is True
            body = "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages)
            return body + "<|assistant|>"

    class CompletionOutput:
        def __init__(self, text):
            self.text, self.token_ids = text, list(range(len(text.split())))

    class RequestOutput:
        def __init__(self, prompt, text):
            self.prompt, self.prompt_token_ids, self.outputs = prompt, list(range(len(prompt) // 4)), [CompletionOutput(text)]

    class LLM:
        def __init__(self, model, **engine_options):
            self.model, self.engine_options = model, engine_options

        def get_tokenizer(self):
            return Tokenizer()

        def generate(self, prompts, sampling_params=None, use_tqdm=True, **kw):
            if fail:
                raise RuntimeError("CUDA out of memory")
            assert isinstance(prompts, list) and isinstance(sampling_params, list) and len(prompts) == len(sampling_params)
            calls.append((self.model, prompts, sampling_params))
            outs = []
            for p in prompts:
                # a judge rule: prefer the answer that says "good"
                a_good = "A's Answer" in p and "good" in p.split("A's Answer", 2)[1]
                outs.append(RequestOutput(p, "[[A>B]]" if a_good else f"echo {p[-40:]} [[B>A]]"))
            return outs

    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    return mod


def test_queued_prompts_go_to_one_generate_call_with_the_chat_template(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(calls))
    b = make_backend("vllm/org/tiny-model")
    reqs = [CompletionRequest("vllm/org/tiny-model", [{"role": "system", "content": "be fair"}, {"role": "user", "content": f"q{i}"}],
                              {"temperature": 0, "max_tokens": 64}) for i in range(10)]
    out = asyncio.run(b.complete_many(reqs))
    assert all(c.ok and c.attempts == 1 for c in out)
    assert len(calls) == 1 and b.batches == [10]
    model, prompts, params = calls[0]
    assert model == "org/tiny-model"
    assert prompts[3] == "<|system|>be fair<|end|><|user|>q3<|end|><|assistant|>"
    assert all(p.temperature == 0 and p.max_tokens == 64 for p in params)
    assert out[0].input_tokens > 0 and out[0].output_tokens > 0 and out[0].cost_usd == 0.0


def test_llm_judge_over_vllm_batches_both_orders(monkeypatch, store):
    calls: list = []
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(calls))
    from arena.judges.llm import build

    judge = build({"kind": "llm", "model": "vllm/org/tiny-model", "max_tokens": 64}, name="v", base_dir=Path("."), store=store)
    contexts = [MatchContext(f"m{i}", f"p{i}", "q", "x", "y", "good" if i % 2 else "bad", "meh") for i in range(8)]

    async def go():
        return await asyncio.gather(*(judge.judge(c) for c in contexts))

    results = asyncio.run(go())
    assert sum(len(c[1]) for c in calls) == 16 and len(calls) <= 2  # 16 games, batched
    for i, r in enumerate(results):
        assert [g.order for g in r.games] == ["AB", "BA"]
        # "good" in A: the AB game says A>B; in BA the good answer sits in slot B, the fake says B>A -> A>B
        if i % 2:
            assert r.verdict.outcome == "a"


def test_engine_failure_becomes_a_recorded_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm([], fail=True))
    b = make_backend("vllm/m", backoff_base=0.001, max_retries=1)
    c = asyncio.run(b.complete(CompletionRequest("vllm/m", [{"role": "user", "content": "x"}], {})))
    assert not c.ok and "CUDA out of memory" in c.error and c.attempts == 2


def test_missing_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    b = make_backend("vllm/m")
    c = asyncio.run(b.complete(CompletionRequest("vllm/m", [{"role": "user", "content": "x"}], {})))
    assert not c.ok and "pip install 'arena[vllm]'" in c.error and c.attempts == 0


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (optional extra arena[vllm], CUDA only)")
def test_real_vllm_engine_smoke():
    import os

    model = os.environ.get("ARENA_VLLM_TEST_MODEL")
    if not model:
        pytest.skip("set ARENA_VLLM_TEST_MODEL to a small local chat model to run the real engine")
    b = make_backend(f"vllm/{model}", engine_options={"gpu_memory_utilization": 0.3})
    out = asyncio.run(b.complete_many([CompletionRequest(f"vllm/{model}", [{"role": "user", "content": "Say OK."}], {"max_tokens": 8})] * 4))
    assert all(c.ok and c.text for c in out) and b.batches == [4]
