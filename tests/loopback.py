"""A loopback OpenAI-compatible chat-completions server for tests and benchmarks.

Real HTTP (aiohttp) on 127.0.0.1 in a background thread with its own event loop, so code under
test talks to it through litellm exactly as it would to `vllm serve` or an OpenAI endpoint.

What it answers
---------------
- A pairwise judge prompt (two answers fenced as `arena.judges._render` fences them): it
  reads the hidden quality marker of each answer (`quality=7`, e.g. in an HTML comment) and
  ends with the label that prefers the higher one (`[[A>>B]]` when the gap is >= 2).
- Anything else: `Loopback answer to: <start of the last user message>`.
- `/v1/embeddings`: hashed bag-of-words vectors (`embed`), for litellm's embedding API.
- A `hook(request) -> Reply | str | None` overrides the rule per request (None falls through).

Faults (each a probability per request, drawn from a seeded generator)
---------------------------------------------------------------------
429 with `Retry-After`, 500, a hang past the client's timeout, malformed JSON, an empty
message. `server.set_faults(0.3)` spreads 30% over the five kinds.

Counting
--------
`server.requests` (all requests), `server.counts` (by outcome), `server.bodies` (request JSON),
`server.answered` (200 completions sent, by request digest: the calls a provider would bill).

Capacity
--------
`max_concurrency=N` serves N requests at once and queues the rest, like a GPU server whose batch
is full: with `delay_s` it caps the server at N / delay_s calls per second.

Settings measured on this machine: TCP_NODELAY (aiohttp sets it on every connection) and a
large listen backlog; without them calls stall ~50 ms and connections drop at ~200 in flight.

Run standalone (benchmarks): `python tests/loopback.py --delay 0.02` prints `PORT <n>`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

QUALITY_RE = re.compile(r"quality\s*[=:]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
# Fences written by arena.judges._render.fence(): <|The Start of NAME TAG|> ... <|The End of NAME TAG|>
FENCE_RE = re.compile(
    r"<\|The Start of (?P<name>[^|\n]*?) (?P<tag>[0-9a-f]{8,})\|>\n?(?P<body>.*?)\n?<\|The End of (?P=name) (?P=tag)\|>",
    re.DOTALL,
)
# A conversation's answers, fenced per turn by prompts/pairwise_conversation.j2 ("Assistant A's Answer to Turn 2")
TURN_ANSWER_RE = re.compile(r"Assistant [AB]'s Answer to Turn \d+$")
FAULT_KINDS = ("429", "500", "hang", "malformed", "empty")


@dataclass
class Request:
    """What a hook sees of one request."""

    index: int  # 0-based arrival number
    path: str
    body: dict
    model: str
    messages: list[dict]
    headers: dict = field(default_factory=dict)  # the HTTP request headers (Authorization, ...)

    @property
    def text(self) -> str:
        """All message contents joined (the judge prompt, the re-ask, ...)."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)

    def fenced(self) -> dict[str, str]:
        """The fenced blocks of the prompt, by fence name (e.g. "Assistant A's Answer")."""
        return {m["name"]: m["body"] for m in FENCE_RE.finditer(self.text)}


@dataclass
class Reply:
    """A scripted reply. `fault` is one of FAULT_KINDS to force a fault."""

    text: str | None = None
    status: int = 200
    delay_s: float | None = None
    fault: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    headers: dict = field(default_factory=dict)
    error: str | None = None  # the error body's message for a non-200 status


def quality(text: str) -> float | None:
    m = QUALITY_RE.search(text or "")
    return float(m.group(1)) if m else None


def judge_rule(req: Request) -> str | None:
    """Prefer the answer with the higher hidden quality marker; None if this is not a judge prompt."""
    blocks = req.fenced()
    a = next((v for k, v in blocks.items() if k.endswith("A's Answer") or k == "Answer A"), None)
    b = next((v for k, v in blocks.items() if k.endswith("B's Answer") or k == "Answer B"), None)
    if a is None or b is None:  # a conversation: the answers to the judged turn, the last one shown
        a = next((v for k, v in reversed(blocks.items()) if TURN_ANSWER_RE.match(k) and "A's" in k), None)
        b = next((v for k, v in reversed(blocks.items()) if TURN_ANSWER_RE.match(k) and "B's" in k), None)
    if a is None or b is None:
        return None
    qa, qb = quality(a), quality(b)
    qa = 0.0 if qa is None else qa
    qb = 0.0 if qb is None else qb
    d = qa - qb
    label = "A>>B" if d >= 2 else "A>B" if d > 0 else "A=B" if d == 0 else "B>A" if d > -2 else "B>>A"
    return (
        "My own answer: this is what a good answer says.\n\n"
        f"Assistant A scores {qa:g}, assistant B scores {qb:g} on my hidden scale.\n\n"
        f"My final verdict is: [[{label}]]"
    )


def scripted_judge(p_correct: float = 1.0, p_first: float = 0.0, *, seed: int = 0, strong_gap: float = 2.0) -> Callable[[Request], str | None]:
    """A hook: a pairwise judge that is right with probability `p_correct` and, with probability
    `p_first`, picks the first slot whatever the answers. Draws are a hash of (seed, prompt
    text), so a retried or repeated request gets the same answer and different prompts get
    independent draws. Non-judge requests fall through to the default rule."""
    import hashlib

    def hook(req: Request) -> str | None:
        blocks = req.fenced()
        a = next((v for k, v in blocks.items() if k.endswith("A's Answer")), None)
        b = next((v for k, v in blocks.items() if k.endswith("B's Answer")), None)
        if a is None or b is None:
            return None
        h = hashlib.sha256(f"{seed}:{req.text}".encode()).digest()
        u_first, u_right = h[0] / 256 + h[1] / 65536, h[2] / 256 + h[3] / 65536
        qa, qb = quality(a) or 0.0, quality(b) or 0.0
        if u_first < p_first:
            label = "A>B"
        elif qa == qb:
            label = "A=B"
        else:
            a_better = (qa > qb) == (u_right < p_correct)
            strong = abs(qa - qb) >= strong_gap
            label = ("A>>B" if strong else "A>B") if a_better else ("B>>A" if strong else "B>A")
        return f"Scripted judgement.\n\nMy final verdict is: [[{label}]]"

    return hook


def sampling_judge(p_flip: float = 0.2, *, seed: int = 0) -> Callable[[Request], str | None]:
    """A hook: a pairwise judge that is noisy only when sampled. At temperature 0 it prefers the
    answer with the higher quality marker, always the same way; at a temperature above 0 each
    reply's label is reversed (A>B <-> B>A) with probability `p_flip`, drawn from a hash of
    (seed, the request's `seed` parameter, prompt text, how many times this exact request was
    seen), so a repeated request is an independent draw, yet the whole server is deterministic.
    Non-judge requests fall through to the default rule."""
    import hashlib

    seen: collections.Counter[str] = collections.Counter()

    def hook(req: Request) -> str | None:
        blocks = req.fenced()
        a = next((v for k, v in blocks.items() if k.endswith("A's Answer")), None)
        b = next((v for k, v in blocks.items() if k.endswith("B's Answer")), None)
        if a is None or b is None:
            return None
        qa, qb = quality(a) or 0.0, quality(b) or 0.0
        d = qa - qb
        label = "A>>B" if d >= 2 else "A>B" if d > 0 else "A=B" if d == 0 else "B>A" if d > -2 else "B>>A"
        if float(req.body.get("temperature") or 0) > 0:
            key = f"{seed}\x1f{req.body.get('seed')}\x1f{req.text}"
            seen[key] += 1
            h = hashlib.sha256(f"{key}\x1f{seen[key]}".encode()).digest()
            if int.from_bytes(h[:8], "little") / 2**64 < p_flip:
                label = label.translate(str.maketrans("AB", "BA"))
        return f"Sampled judgement.\n\nMy final verdict is: [[{label}]]"

    return hook


EMBED_DIM = 32


def embed(text: str) -> list[float]:
    """The loopback embedding of a text: word counts hashed into EMBED_DIM buckets."""
    import hashlib

    v = [0.0] * EMBED_DIM
    for word in re.findall(r"[a-z]+", text.lower()):
        v[hashlib.sha256(word.encode()).digest()[0] % EMBED_DIM] += 1.0
    return v


def default_rule(req: Request) -> str:
    verdict = judge_rule(req)
    if verdict is not None:
        return verdict
    last = next((str(m.get("content") or "") for m in reversed(req.messages) if m.get("role") == "user"), "")
    return f"Loopback answer to: {last[:60]}"


class LoopbackServer:
    """`with LoopbackServer() as srv: ... srv.api_base ...` (or `.start()` / `.stop()`)."""

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        hook: Callable[[Request], Reply | str | None] | None = None,
        seed: int = 0,
        retry_after_s: float = 0.05,
        hang_s: float = 30.0,
        record: bool = True,
        port: int = 0,
        max_concurrency: int | None = None,
    ) -> None:
        self.delay_s = delay_s
        self.max_concurrency = max_concurrency  # requests served at once (more wait in a queue), like a GPU server's batch
        self.hook = hook
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.record = record
        self.faults: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._port = port
        self.requests = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.answered: collections.Counter[str] = collections.Counter()  # request digest -> 200 completions sent (paid calls)
        self._slots: asyncio.Semaphore | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- configuration ---------------------------------------------------------------
    def set_faults(self, rate: float = 0.0, **kinds: float) -> None:
        """`set_faults(0.3)`: 30% spread evenly over FAULT_KINDS; or per kind:
        `set_faults(f429=0.1, f500=0.05, hang=0.02, malformed=0.01, empty=0.01)` (`**{"429": 0.1}` works too)."""
        if rate:
            self.faults = {k: rate / len(FAULT_KINDS) for k in FAULT_KINDS}
        else:
            self.faults = {}
        for k, v in kinds.items():
            k = k.removeprefix("f")
            if k not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {k!r} (expected one of {FAULT_KINDS})")
            self.faults[k] = v

    def reset_counts(self) -> None:
        self.requests = 0
        self.counts.clear()
        self.bodies.clear()
        self.max_in_flight = 0
        self.answered.clear()

    @property
    def port(self) -> int:
        return self._port

    @property
    def api_base(self) -> str:
        """OpenAI-style base URL (`.../v1`), for `openai/...` and `hosted_vllm/...` model strings."""
        return f"http://127.0.0.1:{self._port}/v1"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as e:  # pragma: no cover - surfaced to the caller
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="loopback-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/embeddings", self._embeddings)
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, backlog=4096)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _routes(self, app: web.Application) -> None:
        """More routes of a subclass (tests/loopback_batch.py adds the files and batches API)."""

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        loop.call_soon_threadsafe(self._stopping.set)  # type: ignore[union-attr]
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- handlers --------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "loopback", "object": "model"}]})

    async def _embeddings(self, request: web.Request) -> web.Response:
        """OpenAI-style embeddings: a bag of words hashed into EMBED_DIM buckets (deterministic),
        so texts sharing words get similar vectors. Counted in `requests` and `counts["embeddings"]`."""
        self.requests += 1
        self.counts["embeddings"] += 1
        body = json.loads(await request.read())
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [{"object": "embedding", "index": i, "embedding": embed(str(t))} for i, t in enumerate(inputs)]
        tokens = sum(len(str(t).split()) for t in inputs)
        return web.json_response(
            {"object": "list", "data": data, "model": body.get("model", ""), "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        index = self.requests
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._slots is None:
                return await self._answer(request, index)
            async with self._slots:
                return await self._answer(request, index)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, index: int) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            self.counts["bad_request"] += 1
            return web.json_response({"error": {"message": "request is not JSON"}}, status=400)
        if self.record:
            self.bodies.append(body)
        req = Request(index, request.path, body, str(body.get("model", "")), list(body.get("messages") or []), dict(request.headers))
        reply: Reply | None = None
        if self.hook is not None:
            got = self.hook(req)
            if isinstance(got, str):
                reply = Reply(text=got)
            elif got is not None:
                reply = got
        fault = reply.fault if reply is not None else None
        if fault is None and self.faults:
            x = self._rng.random()
            for kind, p in self.faults.items():
                if x < p:
                    fault = kind
                    break
                x -= p
        delay = reply.delay_s if reply is not None and reply.delay_s is not None else self.delay_s
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            self.counts[fault] += 1
            return await self._fault(fault)
        if reply is not None and reply.status != 200:
            self.counts[str(reply.status)] += 1
            return web.json_response(
                {"error": {"message": reply.error or f"scripted status {reply.status}", "type": "scripted"}},
                status=reply.status,
                headers=reply.headers,
            )
        text = reply.text if reply is not None and reply.text is not None else default_rule(req)
        self.counts["hook" if reply is not None else "ok"] += 1
        prompt_chars = sum(len(str(m.get("content") or "")) for m in req.messages)
        usage_in = reply.input_tokens if reply is not None and reply.input_tokens is not None else max(1, prompt_chars // 4)
        usage_out = reply.output_tokens if reply is not None and reply.output_tokens is not None else max(1, len(text) // 4)
        self.answered[digest(body)] += 1
        return web.json_response(_completion(req.model, text, usage_in, usage_out, index))

    async def _fault(self, kind: str) -> web.StreamResponse:
        if kind == "429":
            return web.json_response(
                {"error": {"message": "rate limited (loopback)", "type": "rate_limit_error", "code": "rate_limit_exceeded"}},
                status=429,
                headers={"Retry-After": f"{self.retry_after_s:g}"},
            )
        if kind == "500":
            return web.json_response({"error": {"message": "internal error (loopback)", "type": "server_error"}}, status=500)
        if kind == "hang":
            try:
                await asyncio.wait_for(self._stopping.wait(), self.hang_s)  # type: ignore[union-attr]
            except TimeoutError:
                pass
            return web.json_response({"error": {"message": "hung"}}, status=504)
        if kind == "malformed":
            return web.Response(body=b'{"id": "chatcmpl-broken", "choices": [{"message": ', content_type="application/json")
        if kind == "empty":
            return web.json_response(_completion("loopback", "", 10, 0, -1))
        raise ValueError(kind)


def digest(body: dict) -> str:
    """A request body's identity (sha256 of its canonical JSON): equal for a call sent twice."""
    import hashlib

    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _completion(model: str, text: str, input_tokens: int, output_tokens: int, index: int) -> dict:
    return {
        "id": f"chatcmpl-loopback-{index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens},
    }


def main(argv: list[str] | None = None) -> None:
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--max-concurrency", type=int, default=None, help="requests served at once (the rest queue)")
    args = ap.parse_args(argv)
    srv = LoopbackServer(delay_s=args.delay, port=args.port, record=False, max_concurrency=args.max_concurrency).start()
    print(f"PORT {srv.port}", flush=True)
    try:
        sys.stdin.read()  # run until stdin closes
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
