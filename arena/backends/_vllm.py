"""The in-process vllm backend (`vllm/<model or path>`), from the optional extra `arena[vllm]`.

vllm is imported when the first request arrives. Requests queue up; whenever the engine is
free, every queued prompt goes into one `LLM.generate` call (run in a worker thread so the
event loop keeps queueing), with each conversation rendered by the model's chat template. A
local GPU judge is therefore batched like vllm wants, not throttled by HTTP.

The policy (cache, retries, timeouts) is the shared one; the concurrency limit defaults high
because it only bounds the batch size.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass

from arena.backends._base import Backend, CallError, CompletionRequest, Policy, RawResult
from arena.errors import BackendError

INSTALL_HINT = "pip install 'arena[vllm]'"
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "presence_penalty", "frequency_penalty")


def load_vllm():
    """Import vllm or raise BackendError naming the extra to install."""
    try:
        return importlib.import_module("vllm")
    except ImportError as e:
        raise BackendError(
            f"the vllm backend needs the optional extra: {INSTALL_HINT} (a CUDA machine); import failed: {e}"
        ) from None


@dataclass
class _Pending:
    req: CompletionRequest
    future: asyncio.Future


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, model: str, *, engine_options: dict | None = None, policy: Policy | None = None, **kw) -> None:
        policy = policy or Policy(concurrency=256)
        super().__init__(policy=policy, **kw)
        self.model_path = model.removeprefix("vllm/")
        self.engine_options = dict(engine_options or {})
        self._llm = None
        self._vllm = None
        self._queue: list[_Pending] = []
        self._worker: asyncio.Task | None = None
        self.batches: list[int] = []  # size of each LLM.generate call, for tests and stats

    def _engine(self):
        if self._llm is None:
            self._vllm = load_vllm()
            self._llm = self._vllm.LLM(model=self.model_path, **self.engine_options)
        return self._llm

    async def prepare(self) -> None:
        await asyncio.to_thread(self._engine)  # model load: minutes, outside any call's timeout

    async def _call(self, req: CompletionRequest, timeout: float) -> RawResult:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append(_Pending(req, fut))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._queue:
            await self._settle()
            batch, self._queue = self._queue, []
            batch = [p for p in batch if not p.future.done()]  # timed out or cancelled meanwhile
            if not batch:
                continue
            try:
                results = await asyncio.to_thread(self._generate, [p.req for p in batch])
            except BackendError as e:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(CallError(str(e), retryable=False))
                continue
            except Exception as e:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(CallError(f"vllm: {type(e).__name__}: {e}"))
                continue
            for p, r in zip(batch, results):
                if not p.future.done():
                    p.future.set_result(r)

    async def _settle(self) -> None:
        """Yield to the event loop until no more requests arrive: every ready task joins the batch."""
        n = -1
        while n != len(self._queue):
            n = len(self._queue)
            for _ in range(3):
                await asyncio.sleep(0)

    def _generate(self, reqs: list[CompletionRequest]) -> list[RawResult]:
        """One `LLM.generate` over the whole batch (runs in a worker thread)."""
        llm = self._engine()
        tokenizer = llm.get_tokenizer()
        prompts = [tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True) for r in reqs]
        params = [self._sampling(r) for r in reqs]
        self.batches.append(len(reqs))
        outputs = llm.generate(prompts, params, use_tqdm=False)
        results = []
        for out in outputs:
            first = out.outputs[0]
            results.append(
                RawResult(
                    text=first.text,
                    input_tokens=len(out.prompt_token_ids or ()),
                    output_tokens=len(first.token_ids or ()),
                    cost_usd=0.0,  # local compute is not priced
                )
            )
        return results

    def _sampling(self, req: CompletionRequest):
        kwargs = {k: req.params[k] for k in SAMPLING_KEYS if req.params.get(k) is not None}
        return self._vllm.SamplingParams(**kwargs)
