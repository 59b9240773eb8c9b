"""Answer generation: fill a pool with a model's answers through the same backends, call cache,
limits and cost accounting as judging, so a new model can join an existing arena (as
Arena-Hard's answer generation does).

Answers are written to the store in small batches as they complete, so a stopped run keeps
what it finished; prompts that already have an answer from this model are skipped unless
`overwrite`, and the call cache answers repeated requests without paying again.

Conversations are answered turn by turn, as MT-Bench's `gen_model_answer.py` does: the request for
turn k holds the user turns 1..k and the model's own answers to turns 1..k-1 (fixed assistant
turns of the pool in place). Each turn is its own call, so the call cache keeps every finished
turn: a conversation stopped after turn 1 resumes at turn 2 without paying turn 1 again. A
conversation is stored only once every turn is answered (coverage counts nothing less).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from arena.backends import Backend, Completion, CompletionRequest, Policy, make_backend
from arena.conversations import answered, conversation
from arena.credentials import check_api_base, missing_env
from arena.errors import BadInput, naming_options
from arena.records import Output, Prompt

DEFAULT_MAX_TOKENS = 2048


@dataclass
class GenerateResult:
    """What one generation run did. `cost_usd` is None when some call's price is unknown."""

    pool: str
    model: str  # the name answers are stored under
    prompts: int  # prompts in the pool
    skipped: int  # already answered by this model
    written: int
    cached: int  # of the written, how many came from the call cache (every turn)
    turns: int = 0  # answer turns generated (cached ones included); a single-turn prompt is one
    cached_turns: int = 0
    errors: list[dict] = field(default_factory=list)  # {prompt_id, error}
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # paid now
    cost_saved_usd: float = 0.0  # price of cached answers
    attempts: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def answer_request(prompt: Prompt, model: str, *, max_tokens: int, temperature: float, system: str | None,
                   api_base: str | None, api_key_env: str | None, timeout: float,
                   answers: tuple[str, ...] = ()) -> CompletionRequest:
    """The chat request for the next answer turn of `prompt` after the model's earlier `answers`
    (`arena.conversations.conversation`); `system` is used unless the prompt has its own."""
    messages = conversation(prompt, answers)
    if system and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    return CompletionRequest(
        model=model,
        messages=messages,
        params={"temperature": temperature, "max_tokens": max_tokens},
        api_base=api_base,
        api_key_env=api_key_env,
        timeout=timeout,
    )


async def agenerate(
    store,
    pool: str,
    model: str,
    *,
    name: str | None = None,
    max_tokens: int | None = None,
    temperature: float = 0.0,
    system: str | None = None,
    api_base: str | None = None,
    api_key_env: str | None = None,
    timeout: float = 300.0,
    concurrency: int = 8,
    max_retries: int = 4,
    rpm: float | None = None,
    tpm: float | None = None,
    overwrite: bool = False,
    no_cache: bool = False,
    limit: int | None = None,
    backend: Backend | None = None,
    batch: bool = False,
    poll_s: float = 30.0,
    flush_every: int = 25,
    on_answer: Callable[[str, Completion], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_turn: Callable[[str, int, Completion], None] | None = None,
) -> GenerateResult:
    """Generate `model`'s answers to every prompt of `pool` that lacks one and store them under `name`.

    Conversations go turn by turn (see the module docstring). Progress: `on_start(turns to
    generate)` once, `on_turn(prompt_id, turn (1-based), completion)` after each turn's call
    (an error included), `on_answer(prompt_id, completion)` after a prompt's last call.

    `batch`: through the provider's Batch API (`arena.backends._batch`, OpenAI's format: openai/...
    and hosted_vllm/... models): every prompt's first turn goes in one batch (then one batch per
    later turn of the conversations), polled every `poll_s` seconds, priced at the batch rate;
    the batch ids live in the store, so a killed run polls its pending batch again instead of
    resubmitting it. Raises `BadInput` (api base, key variable, a model without an OpenAI-format
    batch API under `batch`; a blank `pool`, `model` or `name`) before any call, `NotFound` (pool)."""
    started = time.perf_counter()
    from arena.names import require_name

    require_name(pool, "a pool name", ("pool", "--pool"))
    require_name(model, "a model as litellm names it (openai/gpt-4o-mini, hosted_vllm/...)", ("model", "--model"))
    name = require_name(name, "a model name", ("name", "--name")) or model
    _check_generate_args(model, batch, api_base, api_key_env)
    prompts = store.prompts(pool)  # raises NotFound for an unknown pool
    by_id = {p.prompt_id: p for p in prompts}
    have = {o.prompt_id for o in store.outputs(pool, [name]) if o.prompt_id in by_id and answered(by_id[o.prompt_id], o)}
    have = have if not overwrite else set()
    todo = [p for p in prompts if p.prompt_id not in have]
    if limit is not None:
        todo = todo[:limit]
    result = GenerateResult(pool, name, len(prompts), len(have), 0, 0)
    if backend is None:
        policy = Policy(concurrency=concurrency, max_retries=max_retries, rpm=rpm, tpm=tpm, timeout=timeout)
        backend = _generate_backend(model, store, policy, no_cache=no_cache, batch=batch, poll_s=poll_s)
    info = next((p for p in store.list_pools() if p.pool == pool), None)
    pending: list[Output] = []

    def flush() -> None:
        if pending:
            store.write_pool(pool, [], list(pending), source=info.source if info else "", format=info.format if info else "", digest=False)
            pending.clear()

    def request(p: Prompt, answers: tuple[str, ...]) -> CompletionRequest:
        return answer_request(p, model, max_tokens=max_tokens or DEFAULT_MAX_TOKENS, temperature=temperature, system=system,
                              api_base=api_base, api_key_env=api_key_env, timeout=timeout, answers=answers)

    async def one(p: Prompt):
        return p, *(await _converse(backend, p, request, result, on_turn))

    paid: float | None = 0.0
    if on_start is not None:
        on_start(sum(p.n_turns for p in todo))
    try:
        for fut in asyncio.as_completed([one(p) for p in todo]):
            p, c, answers, all_cached, cost = await fut
            paid = None if paid is None or cost is None else paid + cost
            if on_answer is not None:
                on_answer(p.prompt_id, c)
            if c.error is not None:
                at = f" (turn {len(answers) + 1} of {p.n_turns})" if p.n_turns > 1 else ""
                result.errors.append({"prompt_id": p.prompt_id, "error": c.error + at})
                continue
            result.written += 1
            result.cached += all_cached
            pending.append(Output(p.prompt_id, name, answers[0], answers if p.n_turns > 1 else ()))
            if len(pending) >= flush_every:
                flush()
    finally:
        flush()
        await backend.aclose()
    if result.written:  # the pool's digest once, not per flush (a run then reads no answer before its first call)
        from arena.answers import save_digest

        save_digest(store, pool)
    result.cost_usd = paid
    result.seconds = time.perf_counter() - started
    return result


def _check_generate_args(model: str, batch: bool, api_base: str | None, api_key_env: str | None) -> None:
    """Raise `BadInput` (naming the Python argument, or the CLI option in `cli_message`) for a model
    without an OpenAI-format Batch API under `batch`, an api base that is not an http(s) URL or
    carries a credential, an unset key variable, or an `openai/` model without a key (no
    `api_key_env` and OPENAI_API_KEY unset: OpenAI's client refuses every call), before any call."""
    import os
    from urllib.parse import urlsplit

    if batch:
        from arena.backends._batch import PROVIDERS, batch_provider

        if batch_provider(model) is None:
            raise naming_options(BadInput, f"<batch>: the Batch API is supported for {' and '.join(p + '...' for p in PROVIDERS)} models "
                                 f"(OpenAI's files and batches API), not {model!r}", batch=("batch=True", "--batch"))
    if api_base is not None:
        try:
            parts = urlsplit(api_base) if isinstance(api_base, str) else None
            host = parts.hostname if parts is not None else None
        except ValueError:
            parts = host = None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            raise naming_options(BadInput, f"<b>: expected an http(s) URL such as http://gpu-node-1:8000/v1, got {api_base!r}",
                                 b=("api_base", "--api-base"))
    check_api_base(api_base, "--api-base")
    if missing_env([api_key_env]):
        raise naming_options(BadInput, f"<k>: the environment variable {api_key_env} is not set; export it with the API key",
                             k=("api_key_env", "--api-key-env"))
    if api_key_env is None and model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
        raise naming_options(BadInput, f"<k>: model {model} reads its API key from OPENAI_API_KEY, which is not set; export it, or name"
                             " the variable that holds the key with <k> (a server that needs no key: any non-empty value)",
                             k=("api_key_env", "--api-key-env"))


def _generate_backend(model: str, store, policy: Policy, *, no_cache: bool, batch: bool, poll_s: float) -> Backend:
    """The backend answering `model`'s calls: the Batch API's (`batch`) or `make_backend`'s."""
    if batch:
        from arena.backends._batch import BatchBackend

        return BatchBackend(store=store, no_cache=no_cache, policy=policy, poll_s=poll_s)
    return make_backend(model, store=store, no_cache=no_cache, policy=policy)


async def _converse(backend: Backend, p: Prompt, request, result: GenerateResult, on_turn) -> tuple[Completion, tuple[str, ...], bool, float | None]:
    """Answer every turn of `p` in order, each request holding the earlier answers; stops at the
    first failed turn. Returns (last completion, answers, every turn cached, cost paid (None: unknown)),
    and adds attempts, turns, tokens and cache savings to `result`."""
    answers: tuple[str, ...] = ()
    all_cached, paid = True, 0.0
    for turn in range(1, p.n_turns + 1):
        c = await backend.complete(request(p, answers))
        result.attempts += c.attempts
        if on_turn is not None:
            on_turn(p.prompt_id, turn, c)
        if c.error is not None:
            break
        result.turns += 1
        result.input_tokens += c.input_tokens
        result.output_tokens += c.output_tokens
        if c.cached:
            result.cached_turns += 1
            result.cost_saved_usd += c.cost_usd or 0.0
        else:
            all_cached = False
            paid = None if paid is None or c.cost_usd is None else paid + c.cost_usd
        answers += (c.text,)
    return c, answers, all_cached, paid


def generate_answers(store, pool: str, model: str, **options) -> GenerateResult:
    """Synchronous wrapper around `agenerate` (for the CLI and scripts)."""
    return asyncio.run(agenerate(store, pool, model, **options))
