"""The Batch API as a completion backend (`mode = "batch"` in an `llm` or `network` judge preset).

Calls are not sent one by one: `complete()` queues its request, and once no new request has
arrived for `settle_s` seconds every queued request goes into one JSONL file (one line per
distinct call-cache key, `custom_id` = the key), uploaded and submitted through the OpenAI
files and batches API (`OpenAIFiles`: the `openai` SDK, not litellm's wrappers), polled every
`poll_s` seconds and, when the batch ends, read back (its output and error files) into the call
cache, with usage and cost, in one transaction. The runner puts every released match in flight at once for such a judge, so a round of single-elimination or a wave of
the adaptive scheduler is one batch (re-asks of unparsed replies make a second, small one).

What survives a kill (every step is written to the store before the next one is taken):
`preparing` (keys claimed, nothing sent: dropped and resubmitted once its process is gone),
`uploaded` (a file, maybe a batch whose id we never heard: the provider's batch list is searched
for the file before a batch is created from it), `submitted` (a batch id: polled again, never
resubmitted), then `ingested` or `failed`. Another process needing a call that a live batch holds
polls that batch instead of paying for the call again.

A line that failed (an error status, a reply without text) is that call's failed attempt:
retried in a later batch up to `max_retries`, permanent at once for HTTP 400/401/403/404/413/422.
A batch the provider ends `expired`, `cancelled` or `failed` is not its calls' failure: the calls it
did not answer (no line, or an error line `batch_expired` / `batch_cancelled`) go into a new batch
without spending an attempt, said in one line on stderr; a call whose batches ended so more than
`max_retries` times ends as an error naming the last batch and its status. Answered lines of such
a batch are ingested as usual, so no call is paid twice. Prices: litellm's batch price where its table has one, else half the
normal rate (`arena.backends._pricing.batch_unit_prices`).

Only providers with OpenAI's files and batches API are supported (as litellm names them):
`openai/...` and `hosted_vllm/...` (any OpenAI-compatible server that implements /v1/files and
/v1/batches, e.g. `api_base` of a proxy). Reference: OpenAI Batch API,
https://platform.openai.com/docs/guides/batch (line and file formats).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import TYPE_CHECKING

from arena.backends._base import Backend, CallError, Completion, CompletionRequest, Policy, RawResult, _one_line, api_key
from arena.credentials import env_secrets, redact

if TYPE_CHECKING:
    from arena.records import BatchJob

PROVIDERS = {"openai/": "openai", "hosted_vllm/": "hosted_vllm"}
TERMINAL = ("completed", "failed", "expired", "cancelled")
ENDPOINT = "/v1/chat/completions"
MAX_LINES = 50_000  # OpenAI's limit of requests per batch
MAX_BYTES = 190 * 1024 * 1024  # below OpenAI's 200 MB per input file
STALE_S = 900.0  # a preparing/uploaded job untouched this long belongs to a process that is gone
_FATAL_STATUS = {400, 401, 403, 404, 413, 422}


def batch_provider(model: str) -> str | None:
    """litellm's provider name for a model string whose batches arena can submit, else None."""
    return next((p for prefix, p in PROVIDERS.items() if model.startswith(prefix)), None)


_ENDED_LINE_CODES = {"batch_expired", "batch_cancelled"}  # error-file codes of lines the provider never ran


def _ended_fate(again: int, given_up: int, max_retries: int) -> str:
    """What happens to the calls of a batch that ended before running them: `again` go into a new
    batch, `given_up` ended so more than `max_retries` batches in a row and end as errors."""
    parts = []
    if again:
        parts.append(f"{'they are' if not given_up else f'{again} are'} submitted in a new batch")
    if given_up:
        parts.append(f"{'they' if not again else f'{given_up}'} end as errors ({max_retries + 1} batches in a row ended so;"
                     f" max_retries = {max_retries}): run again to resubmit them")
    return "; ".join(parts)


class _Resubmit(Exception):
    """Queue the call again, no attempt of the call spent: the job holding it vanished before
    reaching the provider, or (`ended` set) its batch ended expired, cancelled or failed without
    running it. `ended` says which batch and how, e.g. "batch batch_abc expired"."""

    def __init__(self, ended: str | None = None) -> None:
        super().__init__(ended or "resubmit")
        self.ended = ended


def _owner_gone(job: BatchJob, me: str) -> bool:
    """Whether the process that wrote a preparing/uploaded job is gone: its pid is dead on this
    host, or the job has not changed for STALE_S."""
    owner = job.owner or ""
    if owner == me:
        return False
    if time.time() - float(job.updated or 0) > STALE_S:
        return True
    from arena.store import owner_gone

    return owner_gone(owner)


def batch_lines(reqs: list[tuple[str, CompletionRequest]]) -> bytes:
    """The JSONL input file of a batch: one line per (call-cache key, request), `custom_id` the key,
    the body the chat-completions endpoint would get (`arena.backends._openai_compat.request_body`)."""
    from arena.backends._openai_compat import request_body

    out = []
    for key, req in reqs:
        line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": request_body(req)}
        out.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode("utf-8")


def parse_result_line(line: dict, model: str) -> tuple[str | None, RawResult | CallError]:
    """(custom_id, the call's result or its failure) of one line of a batch's output or error file:
    `{"custom_id", "response": {"status_code", "body"}, "error": {"code", "message"} | null}`."""
    from arena.backends._pricing import price

    key = line.get("custom_id")
    resp = line.get("response") or {}
    err = line.get("error") or {}
    status = resp.get("status_code") if isinstance(resp, dict) else None
    body = resp.get("body") if isinstance(resp, dict) else None
    if status == 200 and isinstance(body, dict):
        try:
            text = body["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            return key, CallError("malformed batch result line (no choices[0].message)")
        if not text.strip():
            return key, CallError("empty response from the model")
        usage = body.get("usage") or {}
        tin, tout = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        return key, RawResult(text=text, input_tokens=tin, output_tokens=tout, cost_usd=price(model, tin, tout, batch=True))
    message = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    if isinstance(err, dict) and err:
        message = message or f"{err.get('code') or 'error'}: {err.get('message') or ''}".strip()
    message = _one_line(str(message or "no result"), 400)
    if isinstance(status, int):
        return key, CallError(f"HTTP {status} in batch: {message}", retryable=status not in _FATAL_STATUS, status=status)
    return key, CallError(f"batch line failed: {message}")


class BatchBackend(Backend):
    """Completions through the Batch API (see the module docstring). Needs a store: the batch ids
    live there. `poll_s`: seconds between status checks; `settle_s`: quiet time before a batch is cut."""

    name = "batch"
    batched = True

    def __init__(
        self,
        *,
        store=None,
        no_cache: bool = False,
        policy: Policy | None = None,
        seed: int | None = None,
        poll_s: float = 30.0,
        settle_s: float = 0.2,
        max_lines: int = MAX_LINES,
    ) -> None:
        super().__init__(store=store, no_cache=no_cache, policy=policy, seed=seed)
        self.poll_s = float(poll_s)
        self.settle_s = float(settle_s)
        self.max_lines = int(max_lines)
        self._queue: dict[str, tuple[CompletionRequest, list[asyncio.Future]]] = {}
        self._waiting: dict[str, list[asyncio.Future]] = {}  # keys handed to a job, not yet answered
        self._tasks: dict[str, asyncio.Task] = {}  # job ref -> the task submitting / polling it
        self._flusher: asyncio.Task | None = None
        self.jobs_submitted = 0  # batches this process created
        self.jobs_resumed = 0  # batches found in the store and polled again
        self.jobs_dropped = 0  # stored batches the provider no longer knew (dropped, calls resubmitted)
        self.notices: list[str] = []  # one line per dropped or early-ended batch (also printed on stderr)
        self._ended: dict[str, int] = {}  # call key -> batches in a row that ended without running it

    async def prepare(self) -> None:
        """Nothing to load: the files/batches calls go through the `openai` SDK (`OpenAIFiles`)."""

    # -- the public surface ---------------------------------------------------------------------
    async def complete(self, req: CompletionRequest) -> Completion:
        """Answer `req` from the cache or through a batch (retrying failed lines in later batches);
        never raises for a failing call."""
        self.stats.requests += 1
        key = req.key()
        if not self.no_cache and self.store is not None:
            hit = self.store.cache_get(key)
            if hit is not None:
                return self._from_cache(hit, key)
        if self.store is None:
            self.stats.errors += 1
            return Completion(text="", error="batch mode needs a store (the batch ids are kept there)", permanent=True)
        if batch_provider(req.model) is None:
            self.stats.errors += 1
            return Completion(text="", error=f"batch mode supports {', '.join(PROVIDERS)} models, not {req.model}", permanent=True)
        too_long = self.over_input_limit(req)
        if too_long is not None:
            self.stats.errors += 1
            return Completion(text="", error=too_long, permanent=True)
        if not self._prepared:
            failure = await self._prepare_once()
            if failure is not None:
                self.stats.errors += 1
                return Completion(text="", error=failure, permanent=True)
        start = time.perf_counter()
        attempts = ended = 0
        while True:
            try:
                raw = await self._enqueue(req, key)
            except _Resubmit as r:
                hit = self.store.cache_get(key) if not self.no_cache else None
                if hit is not None:  # answered meanwhile (another job ingested it): never paid again
                    return self._from_cache(hit, key)
                if r.ended is not None:
                    ended = max(ended + 1, self._ended.get(key, 0))  # `_ingest` counted it (and said what follows)
                    if ended > self.policy.max_retries:
                        self.stats.errors += 1
                        self.stats.last_error = r.ended
                        return Completion(
                            text="",
                            latency_s=time.perf_counter() - start,
                            attempts=attempts,
                            error=f"{r.ended} without running this call, {ended} batches in a row (max_retries = {self.policy.max_retries}); run again to resubmit it",
                        )
                continue
            except CallError as e:
                attempts += 1
                self.stats.attempts += 1
                self.stats.last_error = str(e)
                if not e.retryable or attempts > self.policy.max_retries:
                    self.stats.errors += 1
                    return Completion(
                        text="",
                        latency_s=time.perf_counter() - start,
                        attempts=attempts,
                        error=f"{e} (after {attempts} attempt{'s' if attempts != 1 else ''})",
                        permanent=not e.retryable,
                    )
                self.stats.retries += 1
                continue
            attempts += 1
            self.stats.attempts += 1
            self._account(raw)
            return Completion(
                text=raw.text,
                input_tokens=raw.input_tokens,
                output_tokens=raw.output_tokens,
                cost_usd=raw.cost_usd,
                latency_s=time.perf_counter() - start,
                attempts=attempts,
                cache_key=key,
            )

    def pending_jobs(self) -> list[BatchJob]:
        """The jobs this process is submitting or polling now, as the store has them (batch id,
        arena's `state`, the provider's last `status`, calls), oldest first: what the live
        dashboard shows while a batch is pending."""
        if self.store is None:
            return []
        jobs = [self.store.batch_job(ref) for ref, task in list(self._tasks.items()) if not task.done()]
        return sorted((j for j in jobs if j is not None), key=lambda j: (j.created or 0.0, j.ref))

    async def aclose(self) -> None:
        for t in [self._flusher, *self._tasks.values()]:
            if t is not None and not t.done():
                t.cancel()

    async def _call(self, req: CompletionRequest, timeout: float) -> RawResult:  # pragma: no cover - complete() is overridden
        raise CallError("a batch backend answers through complete()", retryable=False)

    # -- queueing ---------------------------------------------------------------------------------
    async def _enqueue(self, req: CompletionRequest, key: str) -> RawResult:
        fut = asyncio.get_running_loop().create_future()
        if key in self._waiting:  # already in a batch of this process: its answer serves both
            self._waiting[key].append(fut)
        elif key in self._queue:
            self._queue[key][1].append(fut)
        else:
            self._queue[key] = (req, [fut])
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await fut

    async def _flush(self) -> None:
        """Cut a batch once the queue has stopped growing for `settle_s`, and dispatch it."""
        while self._queue:
            n = -1
            while n != len(self._queue):
                n = len(self._queue)
                for _ in range(3):
                    await asyncio.sleep(0)
                await asyncio.sleep(self.settle_s)
            taken, self._queue = self._queue, {}
            for key, (_, futs) in taken.items():
                self._waiting.setdefault(key, []).extend(futs)
            try:
                self._dispatch({k: r for k, (r, _) in taken.items()})
            except Exception as e:  # a store failure: every call of this batch fails (retryable)
                self._resolve(list(taken), error=CallError(f"batch not submitted: {type(e).__name__}: {e}"))

    def _dispatch(self, reqs: dict[str, CompletionRequest]) -> None:
        """Hand each call to the live job that holds it (resumed or another process's) or to new jobs."""
        pending = list(reqs)
        for _ in range(3):  # a lost race for a key (another process claimed it meanwhile) goes round again
            if not pending:
                return
            held = self.store.batch_jobs_holding(pending)
            for key, job in held.items():
                self._watch(job, reqs[key])
            free = [k for k in pending if k not in held]
            pending = []
            model = reqs[free[0]].model if free else ""
            for chunk in self._chunks([(k, reqs[k]) for k in free]):
                ref = f"arena-{uuid.uuid4().hex[:16]}"
                first = chunk[0][1]
                claimed = set(
                    self.store.batch_claim(ref, self.owner, [k for k, _ in chunk], provider=batch_provider(model) or "", model=model, api_base=first.api_base)
                )
                pending += [k for k, _ in chunk if k not in claimed]
                mine = [(k, r) for k, r in chunk if k in claimed]
                if mine:
                    self._tasks[ref] = asyncio.ensure_future(self._run_job(ref, mine))
        if pending:
            self._resolve(pending, error=CallError("batch: could not claim the call (another process keeps taking it)"))

    def _chunks(self, items: list[tuple[str, CompletionRequest]]):
        """Lines grouped by (model, api_base, key variable), at most `max_lines` and MAX_BYTES a file."""
        groups: dict[tuple, list] = {}
        for k, r in items:
            groups.setdefault((r.model, r.api_base, r.api_key_env), []).append((k, r))
        for group in groups.values():
            chunk: list = []
            size = 0
            for k, r in group:
                n = len(batch_lines([(k, r)]))
                if chunk and (len(chunk) >= self.max_lines or size + n > MAX_BYTES):
                    yield chunk
                    chunk, size = [], 0
                chunk.append((k, r))
                size += n
            if chunk:
                yield chunk

    def _watch(self, job: BatchJob, req: CompletionRequest) -> None:
        """Follow a job this process did not submit (its own earlier life's, or another process's)."""
        ref = job.ref
        if ref in self._tasks and not self._tasks[ref].done():
            return  # this process is already submitting or polling it
        self.jobs_resumed += 1
        self._tasks[ref] = asyncio.ensure_future(self._follow(ref, req))

    def _resolve(self, keys, *, results: dict | None = None, error: BaseException | None = None) -> None:
        for key in keys:
            futs = self._waiting.pop(key, [])
            got = (results or {}).get(key, error)
            if got is None:
                got = CallError("no result for this call in its batch")
            for f in futs:
                if f.done():
                    continue
                if isinstance(got, BaseException):
                    f.set_exception(got)
                else:
                    f.set_result(got)

    def _cancel(self, keys) -> None:
        for key in keys:
            for f in self._waiting.pop(key, []):
                f.cancel()

    # -- one job ------------------------------------------------------------------------------
    def _kwargs(self, req: CompletionRequest, job: BatchJob) -> dict:
        """The keyword arguments of a job's files/batches calls (`OpenAIFiles`; the key read now, never kept)."""
        kw: dict = {"timeout": self.policy.timeout or req.timeout}
        if job.api_base:
            kw["api_base"] = job.api_base
        key = api_key(req)
        if key is not None:
            kw["api_key"] = key
        return kw

    async def _api(self, what: str, fn, secrets: list, **kw):
        """One files/batches call (`OpenAIFiles`) with the shared retry policy (backoff, Retry-After)."""
        from arena.backends._litellm import _classify

        attempt = 0
        while True:
            attempt += 1
            try:
                return await fn(**kw)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                err = _classify(e, kw.get("api_key"))
                err = CallError(f"{what}: {redact(str(err), secrets)}", retryable=err.retryable, retry_after=err.retry_after, status=err.status)
                if not err.retryable or attempt > self.policy.max_retries:
                    raise err from None
                await self._pause(self.backoff(attempt, err.retry_after))

    async def _pause(self, seconds: float) -> None:
        """A wait that Ctrl-C (`arena.backends._base.interrupt_pauses`) ends at once, not shown as a Retry-After pause."""
        task = asyncio.current_task()
        if self._interrupted:
            raise asyncio.CancelledError
        self._sleepers.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._sleepers.discard(task)

    async def _run_job(self, ref: str, items: list[tuple[str, CompletionRequest]]) -> None:
        """Upload, submit and follow a new job (its keys are claimed under `ref`)."""
        litellm = self._litellm()
        keys = [k for k, _ in items]
        req = items[0][1]
        job = self.store.batch_job(ref)
        secrets = env_secrets([req.api_key_env])
        try:
            kw = self._kwargs(req, job)
            data = batch_lines(items)
            f = await self._api("file upload", litellm.acreate_file, secrets, file=(f"{ref}.jsonl", data), purpose="batch", **kw)
            self.store.batch_update(ref, input_file_id=f.id, state="uploaded")
            b = await self._api(
                "batch creation", litellm.acreate_batch, secrets,
                completion_window="24h", endpoint=ENDPOINT, input_file_id=f.id, metadata={"arena_ref": ref}, **kw,
            )
            self.store.batch_update(ref, batch_id=b.id, state="submitted", status=b.status)
            self.jobs_submitted += 1
        except asyncio.CancelledError:
            self._cancel(keys)  # Ctrl-C: the job stays in the store; the next run takes it up
            raise
        except CallError as e:
            self.store.batch_update(ref, state="failed", error=str(e)[:500])
            self._resolve(keys, error=e)
            return
        except Exception as e:
            self.store.batch_update(ref, state="failed", error=f"{type(e).__name__}: {e}"[:500])
            self._resolve(keys, error=CallError(f"batch submission: {type(e).__name__}: {_one_line(redact(str(e), secrets))}"))
            return
        await self._follow(ref, req)

    async def _follow(self, ref: str, req: CompletionRequest) -> None:
        """Take a stored job to its end: wait for or take over a job of a process that is gone,
        poll its batch, ingest the result, answer the callers waiting for its keys."""
        keys = self.store.batch_keys(ref)
        try:
            await self._follow_job(ref, keys, req)
        except asyncio.CancelledError:
            self._cancel(keys)
            raise
        except _Resubmit:
            self._resolve(keys, error=_Resubmit())
        except CallError as e:
            self._resolve(keys, error=e)
        except Exception as e:  # noqa: BLE001 - this job's calls fail; the run goes on
            secrets = env_secrets([req.api_key_env])
            self._resolve(keys, error=CallError(f"batch {ref}: {type(e).__name__}: {_one_line(redact(str(e), secrets))}"))

    async def _follow_job(self, ref: str, keys: list[str], req: CompletionRequest) -> None:
        litellm = self._litellm()
        secrets = env_secrets([req.api_key_env])
        while True:
            job = self.store.batch_job(ref)
            if job is None:
                raise _Resubmit()
            if job.state == "failed" and job.status in ("expired", "cancelled", "failed"):  # ended by the provider: not the calls' failure
                raise _Resubmit(f"batch {job.batch_id or ref} {job.status}")
            if job.state in ("ingested", "failed"):
                raise CallError(job.error or f"batch {job.batch_id or ref} {job.state}")
            kw = self._kwargs(req, job)
            if job.state == "submitted":
                break
            if not _owner_gone(job, self.owner):
                await self._pause(self.poll_s)  # its process is submitting it right now
                continue
            if job.state == "preparing":  # nothing reached the provider: submit the calls again
                self.store.batch_drop(ref)
                self._resolve(keys, error=_Resubmit())
                return
            # uploaded: a batch may exist whose id was never written; find it before creating one
            found = await self._find_batch(litellm, job.input_file_id, kw, secrets)
            if found is None:
                found = await self._api(
                    "batch creation", litellm.acreate_batch, secrets,
                    completion_window="24h", endpoint=ENDPOINT, input_file_id=job.input_file_id, metadata={"arena_ref": ref}, **kw,
                )
                self.jobs_submitted += 1
            self.store.batch_update(ref, batch_id=found.id, state="submitted", status=found.status, owner=self.owner)
        b = None
        while True:
            try:
                b = await self._api("batch status", litellm.aretrieve_batch, secrets, batch_id=job.batch_id, **kw)
            except CallError as e:
                if not _not_found(e):
                    raise
                self._forget(ref, job, len(keys))  # the provider lost it: nothing of it was ingested
                raise _Resubmit() from None
            if b.status != job.status:
                self.store.batch_update(ref, status=b.status)
                job.status = b.status
            if b.status in TERMINAL:
                break
            await self._pause(self.poll_s)
        await self._ingest(litellm, ref, job, b, keys, kw, secrets)

    def _forget(self, ref: str, job: BatchJob, n_calls: int) -> None:
        """Drop a stored job whose batch the provider no longer knows (HTTP 404), saying so in one
        line on stderr; its calls (none ingested: ingestion is one transaction) are submitted again."""
        self.store.batch_drop(ref)
        self.jobs_dropped += 1
        self._notice(f"batch {job.batch_id or ref} is unknown to the provider (HTTP 404): dropped; its {_calls(n_calls)} submitted again")

    def _notice(self, line: str) -> None:
        """One line about a batch the provider lost or ended early, kept in `notices` and printed on stderr."""
        self.notices.append(line)
        print(line, file=sys.stderr, flush=True)

    async def _find_batch(self, litellm, input_file_id: str, kw: dict, secrets: list):
        """The provider's batch made from `input_file_id` (the latest 100 batches are searched), or None."""
        page = await self._api("batch list", litellm.alist_batches, secrets, limit=100, **kw)
        for b in getattr(page, "data", None) or []:
            if getattr(b, "input_file_id", None) == input_file_id:
                return b
        return None

    async def _ingest(self, litellm, ref: str, job: BatchJob, b, keys: list[str], kw: dict, secrets: list) -> None:
        results: dict[str, RawResult | CallError | _Resubmit] = {}
        unrun: set[str] = set()
        model = job.model or ""
        for file_id in (getattr(b, "output_file_id", None), getattr(b, "error_file_id", None)):
            if not file_id:
                continue
            raw = await self._api("batch results", litellm.afile_content, secrets, file_id=file_id, **kw)
            text = raw.decode("utf-8", "replace")
            for line in text.splitlines():
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    key, got = parse_result_line(row, model)
                    never_ran = isinstance(row.get("error"), dict) and row["error"].get("code") in _ENDED_LINE_CODES
                except (ValueError, AttributeError):
                    continue  # a line that is not JSON names no call: those calls end as missing below
                if key in keys and not isinstance(results.get(key), RawResult):
                    results[key] = got
                    if never_ran:
                        unrun.add(key)
        why = _batch_problem(b)
        ended = b.status in ("expired", "cancelled", "failed")
        for key in keys:
            if key not in results:
                results[key] = CallError(f"no result in batch {b.id} ({b.status}{': ' + why if why else ''})")
                unrun.add(key)
        if ended and unrun:  # the provider ended the batch before these calls ran: a new batch, no attempt spent
            status = f"batch {b.id} {b.status}{' (' + why + ')' if why else ''}"
            again = 0
            for key in unrun:
                results[key] = _Resubmit(status)
                self._ended[key] = self._ended.get(key, 0) + 1
                again += self._ended[key] <= self.policy.max_retries
            self._notice(f"{status} before running {len(unrun)} of its calls: " + _ended_fate(again, len(unrun) - again, self.policy.max_retries))
        if any(secrets):  # a reply that echoes the key keeps it nowhere (as on the other paths)
            for r in results.values():
                if isinstance(r, RawResult):
                    r.text = redact(r.text, secrets, patterns=False)
        answers = [(k, model, r.text, r.input_tokens, r.output_tokens, r.cost_usd) for k, r in results.items() if isinstance(r, RawResult)]
        errors = [(k, str(e)[:500], not e.retryable) for k, e in results.items() if isinstance(e, CallError)]
        errors += [(k, f"{e.ended}: submitted again"[:500], False) for k, e in results.items() if isinstance(e, _Resubmit)]
        self.store.batch_finish(ref, answers, errors, state="ingested" if b.status != "failed" else "failed", status=b.status)
        self._resolve(keys, results=results)

    def _litellm(self):
        return OpenAIFiles


class OpenAIFiles:
    """The five files/batches calls arena makes, in litellm's keyword style, through the `openai`
    SDK's AsyncOpenAI client (one client per call, closed after it; its own retries off: ours run
    in `BatchBackend._api`). Why not litellm's `acreate_file` / `aretrieve_batch` / `afile_content`:
    for `openai` and `hosted_vllm` they wrap this same client in a synchronous path run on a thread
    pool, and a completed batch's retrieval makes litellm's logging worker start a download of the
    whole output file for its own cost accounting, a coroutine left never awaited (`RuntimeWarning:
    coroutine 'OpenAIFilesAPI.afile_content' was never awaited` at exit).

    Credentials as litellm resolves them for these providers: the given `api_key`, else
    OPENAI_API_KEY; the given `api_base`, else OPENAI_BASE_URL, else OpenAI's. Errors are the SDK's
    exceptions (`openai.NotFoundError`, `openai.APIConnectionError`, ..., `openai.OpenAIError` for
    missing credentials), classified like litellm's (`arena.backends._litellm._classify`).
    Reference: https://platform.openai.com/docs/api-reference/batch
    """

    @staticmethod
    async def _with(kw: dict, use):
        import os

        import openai

        client = openai.AsyncOpenAI(api_key=kw.get("api_key") or os.environ.get("OPENAI_API_KEY"), base_url=kw.get("api_base") or None,
                                    timeout=kw.get("timeout") or 600.0, max_retries=0)
        try:
            return await use(client)
        finally:
            await client.close()

    @staticmethod
    async def acreate_file(*, file: tuple[str, bytes], purpose: str, **kw):
        """`POST /files` (multipart): the uploaded file object (`.id`)."""
        return await OpenAIFiles._with(kw, lambda c: c.files.create(file=file, purpose=purpose))

    @staticmethod
    async def acreate_batch(*, completion_window: str, endpoint: str, input_file_id: str, metadata: dict | None = None, **kw):
        """`POST /batches`: the batch object (`.id`, `.status`)."""
        return await OpenAIFiles._with(kw, lambda c: c.batches.create(
            completion_window=completion_window, endpoint=endpoint, input_file_id=input_file_id, metadata=metadata))

    @staticmethod
    async def aretrieve_batch(*, batch_id: str, **kw):
        """`GET /batches/{batch_id}`: the batch object (`.status`, `.output_file_id`, `.error_file_id`, `.errors`)."""
        return await OpenAIFiles._with(kw, lambda c: c.batches.retrieve(batch_id))

    @staticmethod
    async def alist_batches(*, limit: int = 100, **kw):
        """`GET /batches?limit=`: the first page of the provider's batches, newest first (`.data`)."""
        return await OpenAIFiles._with(kw, lambda c: c.batches.list(limit=limit))

    @staticmethod
    async def afile_content(*, file_id: str, **kw) -> bytes:
        """`GET /files/{file_id}/content`: the file's bytes."""

        async def read(c):
            return bytes((await c.files.content(file_id)).content)

        return await OpenAIFiles._with(kw, read)


def _calls(n: int) -> str:
    return f"{n} call is" if n == 1 else f"{n} calls are"


def _not_found(e: CallError) -> bool:
    """Whether a files/batches call failed because the provider has no such batch or file."""
    return e.status == 404 or "notfounderror" in str(e).lower().replace(" ", "")


def _batch_problem(b) -> str:
    """The provider's reason a batch failed (its `errors.data[0].message`), or ''."""
    errs = getattr(b, "errors", None)
    data = getattr(errs, "data", None) or (errs.get("data") if isinstance(errs, dict) else None) or []
    if not data:
        return ""
    first = data[0]
    msg = getattr(first, "message", None) or (first.get("message") if isinstance(first, dict) else None)
    return _one_line(str(msg or ""), 200)
