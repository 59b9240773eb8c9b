"""Plan -> schedule -> judge concurrently -> store. The runner emits events; it knows nothing of rich.

A run is identified by its spec's name and a hash of what decides its verdicts (pool content,
models, prompts, scheduler, judge preset, seed). Running the same spec again resumes the latest
such run: a fresh scheduler with the same seed is replayed with the stored verdicts, so only the
matches without a verdict are judged, and the judge's call cache answers any call already paid.
Budget and concurrency are not part of the identity, so a run stopped by its budget continues
when the budget is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.answers import Answers, StoredAnswers
from arena.backends._base import RETRY_AFTER_MAX_S, asked_pause_left, pause_left
from arena.errors import ArenaError, naming_options
from arena.names import slug
from arena.records import Game, Match, MatchContext, Output, PoolView, Prompt, RunRecord, RunStatus, Verdict
from arena.store import LEASE_HEARTBEAT_S, describe_sqlite_error

# -- events --------------------------------------------------------------------------------------


@dataclass(slots=True)
class RunStats:
    """Counters the display reads; the runner updates them as games complete."""

    run_id: str = ""
    name: str = ""
    pool: str = ""
    scheduler: str = ""
    judge: str = ""
    seed: int = 0
    concurrency: int = 1
    models: list[str] = field(default_factory=list)
    expected_matches: float = 0.0
    worst_matches: int = 0
    started: float = field(default_factory=time.time)
    matches_done: int = 0
    matches_resumed: int = 0
    forfeits: int = 0
    games: int = 0
    in_flight: int = 0
    calls: int = 0
    cached_calls: int = 0
    calls_saved: int = 0
    retries: int = 0
    errors: int = 0
    permanent_errors: int = 0  # games whose error another attempt cannot fix (HTTP 400/401/404, context length)
    permanent_reasons: Counter = field(default_factory=Counter)  # reason -> games
    unparsed: int = 0
    inconsistent: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown: bool = False
    rounds: Counter = field(default_factory=Counter)  # round -> matches decided
    rounds_released: Counter = field(default_factory=Counter)
    stop_reason: str | None = None
    paused_s: float = 0.0  # seconds a provider's Retry-After (capped) or a backoff still pauses calls
    paused_cap_s: float = 0.0  # that cap (Policy.retry_after_max)
    paused_asked_s: float = 0.0  # of `paused_s`, what a provider's Retry-After asked for (0: a backoff only)
    batches: list[tuple[str, str, int]] = field(default_factory=list)  # pending Batch API jobs: (batch id, status, calls)
    last_error: str | None = None  # the latest failed game's error (`_reason`), for the run's closing line

    @property
    def elapsed(self) -> float:
        return time.time() - self.started


@dataclass(slots=True)
class MatchDecided:
    match: Match
    verdict: Verdict
    games: list[Game]
    resumed: bool = False


@dataclass(slots=True)
class RunPlanned:
    """What a run is about to do, before it writes anything or calls a judge (the `planned` event)."""

    run_id: str
    resumed: bool
    prompts: int
    models: int
    scheduler: str
    judge: str
    plan: Any  # arena.tournaments.plan.Plan
    strong_weight: float = 3.0  # the spec's weight of a strong win (the live leaderboard uses it)
    abandoned_calls: int = 0  # claims on calls in flight of a dead process, dropped before the run (`RunLease`)


@dataclass(slots=True)
class RunEvent:
    kind: str  # "planned", "started", "decided", "released", "tick" (once a second while waiting), "finished"
    stats: RunStats
    decided: MatchDecided | None = None
    planned: RunPlanned | None = None


EventSink = Callable[[RunEvent], None]


# -- preparing a run ---------------------------------------------------------------------------


@dataclass(slots=True)
class PreparedRun:
    """A run about to start or resume: its selected prompts and models, and the pool's answers
    (`arena.answers.Answers`; for a stored pool read from the store when a match is played)."""

    run_id: str
    resumed: bool
    spec: Any
    pool: str
    prompts: list[Prompt]
    answers: Answers
    models: list[str]
    spec_hash: str
    status: str = "running"
    judge_preset: dict = field(default_factory=dict)
    created: bool = False
    shard: dict | None = None  # {index, count, whole, prompts}: this run is one shard of the tournament `whole` names
    warnings: list[str] = field(default_factory=list)  # about the pool the spec names (`choose_pool`), shown with the plan's
    pool_digest: str | None = None  # the whole pool's fingerprint when the run was prepared (stored with the run; its report compares)

    @property
    def own_prompts(self) -> list[Prompt]:
        """The prompts this run judges: its shard's (`arena.tournaments.shard`), or all of `prompts`."""
        if self.shard is None:
            return self.prompts
        from arena.tournaments.shard import Shard, shard_items

        return shard_items(self.prompts, Shard(self.shard["index"], self.shard["count"]))

    @property
    def answered(self) -> dict[str, frozenset[str]]:
        """prompt_id -> the models with a usable answer (what schedulers take)."""
        return self.answers.answered


@dataclass(slots=True)
class PoolChoice:
    """What a spec's `pool` names (`choose_pool`): pool `name` in the store, read from there
    (`import_files` False) or (re)imported from the files at `path` first (`data`, their content,
    with `fingerprint`, `arena.pools.pool_fingerprint`). `warning`: one line when a folder of the
    same name is set aside for the stored pool."""

    name: str
    path: Path | None = None
    data: Any = None
    fingerprint: str | None = None
    import_files: bool = False
    warning: str | None = None


def choose_pool(store, spec) -> PoolChoice:
    """Decide what a spec's `pool` names; `tournament plan` and `tournament run` both follow it.

    `pool` is a pool name in the store unless it names files (`spec.resolve_path`: as given,
    beside the spec, among the shipped data); files make the pool named after the folder (or the
    file's stem), as follows (`store` None: no store yet, the files are read):
    - no stored pool of that name: the files are imported;
    - the stored pool holds exactly the files' content (same `pool_fingerprint`): it is read;
    - the stored pool is what a run imported from these files earlier (its source, `Store.pool_source`,
      is this path), unchanged since (its digest is the fingerprint recorded at that import) and
      the files changed: they are imported again;
    - otherwise (answers were added to the stored pool by `pool import`/`generate`/`verdicts import`,
      or it was imported under this name from another folder of the same name) the stored pool is
      read and `warning` says so in one line, with what differs (models and answers only in the
      folder or only in the store): taking the folder's content is left to an explicit
      `arena pool import PATH --name NAME --replace`.
    Reads the stored pool's digest (`Store.pool_digest`), not its answers, unless it must warn.
    Raises `NotFound` for a name that is neither files nor a stored pool, `PoolError` for bad files."""
    path = spec.resolve_path(spec.pool, "data") if hasattr(spec, "resolve_path") else None
    if path is None:
        if store is None:
            from arena.errors import NotFound

            raise NotFound(f"{getattr(spec, 'path', None) or 'spec'}: key 'pool': {spec.pool!r} is not a path, and no store was given to look it up")
        store.require_pool(spec.pool)  # a pool name; a clear error when unknown
        return PoolChoice(spec.pool)
    from arena.pools import load_pool_files, pool_fingerprint

    name = path.stem if path.is_file() else path.name
    data = load_pool_files([path])
    fp = pool_fingerprint(data)
    if store is None or not store.pool_exists(name):
        return PoolChoice(name, path, data, fp, import_files=True)
    from arena.answers import pool_fingerprint_now

    now = pool_fingerprint_now(store, name)  # the stored digest's: no answer read
    if now == fp:
        return PoolChoice(name, path, None, fp)
    source = store.pool_source(name)
    here = _same_path(source, path)
    if here and now == store.get_meta(f"pool_fingerprint:{name}"):  # this folder's earlier version a run imported, untouched since
        return PoolChoice(name, path, data, fp, import_files=True)
    return PoolChoice(name, path, None, fp, warning=_pool_warning(store, name, path, data, None if here else _source_path(source)))


def _source_path(source: str | None) -> str | None:
    """The folder or file a stored pool's `source` names: a run's import stores its folder,
    `arena pool import` the files it read, joined by ";" (their common folder is returned)."""
    if not source:
        return None
    parts = [x for x in source.split(";") if x]
    if len(parts) > 1:
        try:
            return os.path.commonpath([str(Path(x).expanduser().resolve()) for x in parts])
        except (OSError, RuntimeError, ValueError):
            return source
    return parts[0] if parts else None


def _same_path(source: str | None, path: Path) -> bool:
    """Whether a stored pool's `source` (`_source_path`) is `path`."""
    where = _source_path(source)
    if not where:
        return False
    try:
        return Path(where).expanduser().resolve() == path.resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def _names(names: Sequence[str], most: int = 5) -> str:
    names = sorted(names)
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _pool_warning(store, name: str, path: Path, data, elsewhere: str | None) -> str:
    """The one line `choose_pool` gives when the stored pool `name` is read instead of the files at
    `path` (`data`): why, and what differs (models and answers only in the folder or only in the
    store, answers whose texts differ, prompts), so that what `--replace` would drop is told, never
    guessed. `elsewhere`: the stored pool's source when it is another folder. One streamed read of
    the stored answers (only when this warning is given)."""
    folder = {(o.model, o.prompt_id): (o.text, tuple(o.turns)) for o in data.outputs}
    only_store: dict[str, int] = {}
    other_text = stored_n = 0
    stored_models: set[str] = set()
    for pid, model, text, turns in store.iter_outputs(name):
        stored_n += 1
        stored_models.add(model)
        mine = folder.pop((model, pid), None)
        if mine is None:
            only_store[model] = only_store.get(model, 0) + 1
        elif mine != (text, tuple(turns)):
            other_text += 1
    folder_models = {o.model for o in data.outputs}
    stored_prompts = {p.prompt_id: p for p in store.prompts(name)}
    prompts_differ = sum(1 for p in data.prompts if stored_prompts.get(p.prompt_id) != p) + len(
        set(stored_prompts) - {p.prompt_id for p in data.prompts})
    diff = []
    if folder_models - stored_models:
        diff.append(f"models only in the folder: {_names(folder_models - stored_models)}")
    if stored_models - folder_models:
        diff.append(f"models only in the store: {_names(stored_models - folder_models)}")
    if folder:
        diff.append(f"{_n(len(folder), 'answer')} only in the folder")
    if only_store:
        diff.append(f"{_n(sum(only_store.values()), 'answer')} only in the store")
    if other_text:
        diff.append(f"{_n(other_text, 'answer')} with a different text")
    if prompts_differ:
        diff.append(f"{_n(prompts_differ, 'prompt')} differ" if prompts_differ > 1 else "1 prompt differs")
    if elsewhere:
        why = f"it was imported from {elsewhere}"
    elif store.get_meta(f"pool_fingerprint:{name}"):
        why = "it changed in the store since a run imported this folder"
    else:
        why = "it was imported or extended by `arena pool import`/`generate`"
    replace = f"`arena pool import {path} --name {name} --replace` makes the folder's content the pool"
    if only_store:
        replace += f" (dropping the store's {_n(sum(only_store.values()), 'answer')} the folder lacks)"
    elif other_text:
        replace += " (no stored answer is dropped; texts are replaced)"
    else:
        replace += " (no stored answer is dropped)"
    return (f"pool {name!r}: the stored pool {name} ({len(stored_models)} models, {stored_n} answers) is used, not the folder {path}"
            f" ({len(folder_models)} models, {len(data.outputs)} answers): {why}; it differs: {'; '.join(diff) or 'in order only'};"
            f" {replace}")


def resolve_pool(store, spec, warnings: list[str] | None = None) -> str:
    """The pool name in the store, importing pool files first when `spec.pool` is a path and
    `choose_pool` says so (`warnings` gets its warning). Raises as `choose_pool`."""
    choice = choose_pool(store, spec)
    if choice.warning and warnings is not None:
        warnings.append(choice.warning)
    if choice.import_files:
        data = choice.data
        with store.transaction():
            store.write_pool(choice.name, data.prompts, data.outputs, source=str(choice.path.resolve()), format=data.format, replace=True,
                             prompt_extra=data.prompt_extra, output_extra=data.output_extra)
            store.set_meta(f"pool_fingerprint:{choice.name}", choice.fingerprint)
    return choice.name


def select(spec, prompts: list[Prompt], outputs: list[Output]) -> tuple[list[Prompt], list[Output], list[str]]:
    """Apply the spec's `models` and `prompts` choices to a pool."""
    from arena.tournaments import select_models, select_prompts

    models = select_models(spec, sorted({o.model for o in outputs}))
    prompts = select_prompts(spec, prompts)
    ids = {p.prompt_id for p in prompts}
    wanted = set(models)
    outputs = [o for o in outputs if o.prompt_id in ids and o.model in wanted]
    return prompts, outputs, models


def spec_identity(spec, pool_fp: str, judge_preset: dict, judge_fingerprint: dict | None = None) -> str:
    """What decides a run's verdicts; budget, concurrency and display options are left out.

    `judge_fingerprint` (`Judge.fingerprint()`): digests of the files the judge read (templates,
    weights, a panel's member presets), so that editing one starts a fresh run."""
    d = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
    for k in ("concurrency", "max_calls", "max_cost_usd", "confirm_above_usd", "bootstrap", "reference", "reference_columns", "checkpoints", "forfeit",
              "baseline", "ties", "style"):
        d.pop(k, None)
    if d.get("shard") is None:  # the whole tournament keeps the identity it had before shards existed
        d.pop("shard", None)
    parts = [d, pool_fp, judge_preset] + ([judge_fingerprint] if judge_fingerprint else [])
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def find_run_to_resume(store, name: str, spec_hash: str) -> RunRecord | None:
    """The latest run of `name` with identity `spec_hash` (tournaments and the reliability mode
    resume the same way), or None. A status `running` left by a killed process is corrected to
    `interrupted` here: nobody is running it now."""
    existing = store.find_resumable_run(name, spec_hash)
    if existing is not None and existing.status == RunStatus.RUNNING:
        existing = dataclasses.replace(existing, status=RunStatus.INTERRUPTED)
        store.set_run_status(existing.run_id, RunStatus.INTERRUPTED)
    return existing


def prepare_run(store, spec, judge_preset: dict, *, judge_fingerprint: dict | None = None, new: bool = False, create: bool = True) -> PreparedRun:
    """Find the run to resume (same name and identity, not `--new`) or prepare a fresh one.

    With `create=False` a fresh run is not written yet: call `create_run(store, prepared)` once
    the user has confirmed, so a run that is declined leaves nothing behind."""
    from arena.tournaments import select_models, select_prompts

    warnings: list[str] = []
    pool = resolve_pool(store, spec, warnings)
    models = select_models(spec, store.models(pool))
    prompts = select_prompts(spec, store.prompts(pool))
    answers = StoredAnswers(store, pool, prompts, models)  # one streamed read; texts stay in the store
    fp = answers.fingerprint
    from arena.judges._conversation import fingerprint_for

    judge_fingerprint = fingerprint_for(judge_fingerprint, prompts)  # a single-turn run keeps its identity
    ident = spec_identity(spec, fp, judge_preset, judge_fingerprint)
    shard = _shard_info(spec, prompts, fp, judge_preset, judge_fingerprint)
    existing = None if new else find_run_to_resume(store, spec.name, ident)
    if existing is not None:
        return PreparedRun(existing.run_id, True, spec, pool, prompts, answers, models, ident, existing.status, shard=shard, warnings=warnings)
    stem = spec.name if shard is None else f"{spec.name}-shard{shard['index']}of{shard['count']}"
    run_id = store.new_run_id(slug(stem), ident)  # a run id names its reports folder: never a path
    from arena.answers import pool_fingerprint_now

    prepared = PreparedRun(run_id, False, spec, pool, prompts, answers, models, ident, judge_preset=judge_preset, shard=shard,
                           warnings=warnings, pool_digest=pool_fingerprint_now(store, pool))
    if create:
        create_run(store, prepared)
    return prepared


def _shard_info(spec, prompts: Sequence[Prompt], pool_fp: str, judge_preset: dict, judge_fingerprint: dict | None) -> dict | None:
    """What a shard run records of itself: its index and count, the identity of the whole
    tournament (`spec_identity` without the shard: what `arena run merge` checks shards against),
    its prompts and the pool's fingerprint. None for an unsplit run."""
    shard = spec.shard_of() if hasattr(spec, "shard_of") else None
    if shard is None:
        return None
    from arena.tournaments.shard import shard_items

    whole = spec_identity(spec.model_copy(update={"shard": None}), pool_fp, judge_preset, judge_fingerprint)
    return {**shard.to_dict(), "whole": whole, "prompts": len(shard_items(prompts, shard)), "pool_fingerprint": pool_fp}


def create_run(store, prepared: PreparedRun) -> None:
    """Write a prepared fresh run's row (a resumed run has one already)."""
    if prepared.resumed or prepared.created:
        return
    spec = prepared.spec
    spec_json = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
    stored = {"spec": spec_json, "judge": prepared.judge_preset, "pool": prepared.pool}
    if prepared.shard is not None:
        stored["shard"] = prepared.shard
    if prepared.pool_digest is not None:  # the report of the run warns when the pool changes later (`arena.answers.pool_changed`)
        stored["pool_digest"] = prepared.pool_digest
        # what the judge saw: the run's prompts and models' answers (a pool that only gains other answers is not a change)
        stored["answers_digest"] = prepared.answers.fingerprint
        stored["models"] = list(prepared.models)
    store.create_run(prepared.run_id, spec.name, stored, prepared.spec_hash, spec.seed)
    prepared.created = True


# -- one writer per run ---------------------------------------------------------------------------


class RunBusy(ArenaError):
    """Another live process holds the run's lease."""


class RunLease:
    """The store's lease on one run for this process: `acquire` (or raise RunBusy / wait),
    `keep()` (an asyncio task refreshing the heartbeat every LEASE_HEARTBEAT_S) and `release`.
    A lease without a heartbeat for LEASE_STALE_S (60 s), or whose process is gone, is taken over.
    Once held, the claims on calls in flight of processes that are gone are dropped
    (`Store.release_abandoned_calls`; their number in `abandoned_calls`): a run resumed after a
    SIGKILL asks those calls again at once instead of waiting for their deadlines."""

    def __init__(self, store, run_id: str) -> None:
        import os
        import socket
        import uuid

        self.store, self.run_id = store, run_id
        self.owner = f"{os.getpid()}@{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self.abandoned_calls = 0

    def acquire(self, *, wait: bool = False, poll_s: float = 2.0, on_wait: Callable[[str], None] | None = None) -> None:
        """Hold the lease; raises RunBusy ("run R is in progress in process P since T") unless `wait`."""
        told = False
        while True:
            holder = self.store.acquire_lease(self.run_id, self.owner)
            if holder is None:
                self.held = True
                self.abandoned_calls = self.store.release_abandoned_calls()
                return
            since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.since))
            what = f"run {self.run_id} is in progress in process {holder.pid} on {holder.host} since {since}"
            if not wait:
                raise naming_options(RunBusy, f"{what}; wait for it to end, or pass <wait> to resume it then", wait=("wait=True", "--wait"))
            if on_wait is not None and not told:
                on_wait(what)
                told = True
            time.sleep(poll_s)

    async def keep(self) -> None:
        while True:
            await asyncio.sleep(LEASE_HEARTBEAT_S)
            self.store.heartbeat(self.run_id, self.owner)

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(Exception):  # a full disk must not hide the error that ended the run
                self.store.release_lease(self.run_id, self.owner)
            self.held = False


# -- running -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Size:
    expected: float
    worst: int
    forfeits: int = 0
    exact: int | None = None


class FixedMatches:
    """A schedule that is a fixed list of matches, all released at the start: what the reliability
    mode runs (one match per labelled pair) through the same engine as a tournament."""

    kind = "fixed"

    def __init__(self, matches: Sequence[Match]) -> None:
        self.matches = list(matches)
        self.finished = False

    def start(self) -> list[Match]:
        self.finished = True
        return list(self.matches)

    def update(self, decided) -> list[Match]:
        return []

    def forfeits(self) -> list:
        return []

    def size(self) -> _Size:
        return _Size(len(self.matches), len(self.matches), 0, len(self.matches))



BATCH_IN_FLIGHT = 10**9
"""Matches in flight for a judge that calls through the Batch API: all that the scheduler released."""


def batch_backends(judge) -> list:
    """The Batch API backends (`arena.backends._batch.BatchBackend`) of `judge` and of its panel
    members and cascade stages, each once."""
    found = []
    backend = getattr(judge, "backend", None)
    if getattr(backend, "batched", False):
        found.append(backend)
    parts = [getattr(m, "judge", m) for m in getattr(judge, "members", None) or []] + list(getattr(judge, "stages", None) or [])
    for p in parts:
        found += [b for b in batch_backends(p) if all(b is not f for f in found)]
    return found


def pending_batches(backends) -> list[tuple[str, str, int]]:
    """(batch id, or arena's job ref before the provider gave one; the provider's last status, or
    arena's state; calls) of every batch the `backends` are submitting or polling now."""
    return [(j.batch_id or j.ref, j.status or j.state or "", int(j.n_calls or 0)) for b in backends for j in b.pending_jobs()]


class Runner:
    """Drives one run: releases matches from the scheduler, judges them with at most
    `concurrency` in flight, writes each verdict with its games as it completes."""

    def __init__(self, store, prepared: PreparedRun, judge, scheduler, *, on_event: EventSink | None = None) -> None:
        self.store = store
        self.p = prepared
        self.judge = judge
        self.scheduler = scheduler
        self.on_event = on_event or (lambda e: None)
        spec = prepared.spec
        self.concurrency = max(1, int(getattr(spec, "concurrency", 8) or 8))
        self._batch_backends = batch_backends(judge)
        if self._batch_backends:  # every released match in flight: a round or a wave is one batch
            self.concurrency = BATCH_IN_FLIGHT
        self.max_calls = getattr(spec, "max_calls", None)
        self.max_cost = getattr(spec, "max_cost_usd", None)
        own = prepared.own_prompts  # a shard judges (and covers) only its prompts
        self.view = PoolView(own, prepared.answers)
        size = scheduler.size()
        self.stats = RunStats(
            run_id=prepared.run_id,
            name=spec.name,
            pool=prepared.pool,
            scheduler=scheduler.kind,
            judge=getattr(judge, "description", judge.name),
            seed=spec.seed,
            concurrency=self.concurrency,
            models=list(prepared.models),
            expected_matches=size.expected + size.forfeits,
            worst_matches=size.worst + size.forfeits,
        )
        self.coverage = answer_coverage(own, prepared.answered, prepared.models)
        # budget reservations: a match starts only when its worst case fits in what the caps leave
        # (a judge that does not say, such as the reliability mode's pair wrapper, reserves nothing)
        most = getattr(judge, "max_calls_per_match", None) or getattr(judge, "calls_per_match", None)
        self.max_calls_per_match = int(most()) if most is not None else 0
        self.reserved_calls = 0
        self.reserved_cost = 0.0
        self._reservations: dict[str, tuple[int, float]] = {}
        self._chunked = False  # the schedule is released in chunks (`_ask_chunks`)
        self.stop = asyncio.Event()

    FIRST_WAVE_YIELDS = 64  # matches of the first wave after each of which the event loop runs (see _run)

    def context(self, m: Match) -> MatchContext:
        return self.view.context(m)

    def worst_cost(self, m: Match) -> float:
        """The most `m` can cost: its worst-case calls (re-asks included) at their largest input and
        `max_tokens` output, priced from litellm's table (0 where the price is unknown: a run with an
        unknown price and a cost cap starts only with `max_calls` or `--allow-unknown-price`)."""
        from arena.backends import price

        estimates = self.judge.worst_call_estimates(self.context(m)) if hasattr(self.judge, "worst_call_estimates") else []
        total = 0.0
        for e in estimates:
            c = price(e.model, e.input_tokens, e.output_tokens_max, batch=e.batch) if e.model else None
            total += c or 0.0
        return total

    def _reserve(self, m: Match) -> bool:
        """Reserve `m`'s worst case against max_calls and max_cost_usd before it is sent; False (and
        a stop reason) when it does not fit, so the caps are never passed. `_release` frees it."""
        calls = self.max_calls_per_match
        cost = self.worst_cost(m) if self.max_cost is not None else 0.0
        if self.max_calls is not None and self.stats.calls + self.reserved_calls + calls > self.max_calls:
            self.stats.stop_reason = f"max_calls={self.max_calls} reached"
            return False
        if self.max_cost is not None and self.stats.cost_usd + self.reserved_cost + cost > self.max_cost + 1e-12:
            self.stats.stop_reason = f"max_cost_usd={self.max_cost} reached"
            return False
        self.reserved_calls += calls
        self.reserved_cost += cost
        self._reservations[m.match_id] = (calls, cost)
        return True

    def _unreserve(self, m: Match) -> None:
        calls, cost = self._reservations.pop(m.match_id, (0, 0.0))
        self.reserved_calls -= calls
        self.reserved_cost -= cost

    def _count(self, games: Sequence[Game], verdict: Verdict) -> None:
        s = self.stats
        for g in games:
            s.games += 1
            u = g.usage
            s.cached_calls += u.cached_calls
            s.calls += u.calls
            s.retries += max(0, g.attempts - 1)
            s.input_tokens += u.input_tokens
            s.output_tokens += u.output_tokens
            if u.cost_usd is None:
                s.cost_unknown = True
            else:
                s.cost_usd += u.cost_usd
            if g.label == "error":
                s.errors += 1
                s.last_error = _reason(g.error)
                if g.detail.get("permanent"):
                    s.permanent_errors += 1
                    s.permanent_reasons[_reason(g.error)] += 1
            elif g.label == "unparsed":
                s.unparsed += 1
        if verdict.consistent is False:
            s.inconsistent += 1

    def _record_forfeits(self) -> None:
        forfeits = self.scheduler.forfeits()
        if not forfeits:
            return
        with self.store.transaction():
            self.store.add_matches(self.p.run_id, [m for m, _ in forfeits], status="forfeit")
            for m, v in forfeits:
                self.store.record_verdict(self.p.run_id, v)
                self.store.set_match_status(self.p.run_id, m.match_id, "forfeit")
        self.stats.forfeits += len(forfeits)
        self.stats.matches_done += len(forfeits)

    def _arrange(self, matches: Sequence[Match]) -> list[Match]:
        """Released matches in the order to start them: a judge that draws a sample across the run
        (a cascade's seeded pilot, `CascadeJudge.arrange`) picks it here and puts it first."""
        arrange = getattr(self.judge, "arrange", None)
        return list(matches) if arrange is None else arrange(list(matches), int(getattr(self.p.spec, "seed", 0) or 0))

    WRITE_CHUNK = 2000
    """Released matches are written to the store (status pending) in chunks of this many between
    waits, and always before they are judged: a run of 100,000 calls sends its first request
    without first writing 50,000 rows (about half a second on 2 cores)."""

    def _release(self, matches: Sequence[Match]) -> None:
        if matches:
            self._unwritten.extend(matches)
            for m in matches:
                self.stats.rounds_released[m.round] += 1
            self.on_event(RunEvent("released", self.stats))

    RELEASE_CHUNK = 4096
    """A fixed schedule (round-robin, anchored) is released this many matches at a time (at least
    four times the concurrency; the first release four times the concurrency), the next chunk once
    fewer are pending: a run of 100,000 calls builds its first matches, not all 50,000, before its
    first request. Same matches, same order."""

    def _ask_chunks(self) -> bool:
        """Ask a fixed schedule to release in chunks, unless the judge needs every match at start (a
        cascade draws its pilot from all released: `arrange`) or sends each wave as one Batch API job."""
        chunks = getattr(self.scheduler, "release_in_chunks", None)
        if chunks is None or getattr(self.judge, "arrange", None) is not None or self._batch_backends:
            return False
        n = max(self.RELEASE_CHUNK, 4 * self.concurrency)
        chunks(n, min(n, 4 * self.concurrency))
        return True

    def _release_rest(self) -> None:
        """A chunked schedule stopped early (budget, Ctrl-C): release the rest, so that the store holds
        every match of the schedule as pending, as after an unchunked start."""
        if self._chunked:
            self._release(self.scheduler.release_rest())

    def _write_released(self, n: int | None = None) -> None:
        """Write the next `n` released matches (all when None) to the store, in release order."""
        todo = self._unwritten
        k = len(todo) if n is None else min(n, len(todo))
        if k:
            self.store.add_matches(self.p.run_id, [todo.popleft() for _ in range(k)])
            self._written += k

    async def _judge(self, m: Match) -> tuple[Match, Verdict, list[Game]]:
        """Judge one match; a judge that raises makes that match's error (unresolved, retried on
        resume), not the end of the run."""
        try:
            result = await self.judge.judge(self.context(m))
        except Exception as e:  # noqa: BLE001 - any judge failure is this match's error
            return m, *judge_failure(m.match_id, self.judge.name, e)
        return m, result.verdict, result.games

    async def run(self) -> RunStats:
        """Judge until the scheduler is finished, the budget is spent or `stop` is set; the run's
        status is then done, errors, stopped or interrupted (failed when the runner itself raised).

        A store failure (a full disk, a damaged file) stops the run: the matches in flight are
        cancelled, the run is marked `interrupted` (resumable) and a StoreError / DiskFull is
        raised; every verdict already written is whole (one transaction each)."""
        self._inflight: set[asyncio.Task] = set()
        self._unwritten: deque[Match] = deque()
        self._written = 0  # released matches written so far; the queue is judged in the same order
        try:
            return await self._run()
        except sqlite3.Error as e:
            for t in self._inflight:
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._inflight, return_exceptions=True)
            with contextlib.suppress(Exception):
                self._finish(RunStatus.INTERRUPTED)
            self.p.status = RunStatus.INTERRUPTED
            raise describe_sqlite_error(self.store.path, e) from None
        except (asyncio.CancelledError, KeyboardInterrupt):
            with contextlib.suppress(sqlite3.Error):
                self._release_rest()
                self._write_released()
            self._finish(RunStatus.INTERRUPTED)
            raise
        except Exception:
            self._finish(RunStatus.FAILED)
            raise

    def _finish(self, status: RunStatus) -> None:
        self.stats.stop_reason = self.stats.stop_reason or str(status)
        self.store.set_run_status(self.p.run_id, status, self.summary())
        self.p.status = status

    def _load_stored(self) -> tuple[dict[str, Verdict], dict[str, list[Game]]]:
        """The run's decided verdicts and their games (a resumed run skips them); a judge with state
        across matches (a cascade's pilot) picks it up again from the stored games."""
        store, run_id = self.store, self.p.run_id
        stored: dict[str, Verdict] = {}
        for v in store.verdict_records(run_id):
            if v.outcome != "unresolved" and not v.outcome.startswith("forfeit"):
                stored[v.match_id] = v
        games = store.games(run_id) if stored else []
        stored_games: dict[str, list[Game]] = {}
        for g in games:
            stored_games.setdefault(g.match_id, []).append(g)
        restore = getattr(self.judge, "restore", None)
        if restore is not None:
            restore(games)
        return stored, stored_games

    async def _run(self) -> RunStats:
        store, run_id = self.store, self.p.run_id
        stored, stored_games = self._load_stored()
        previous = store.get_run(run_id).summary
        self._previous = previous.to_dict() if previous is not None else None
        store.set_run_status(run_id, RunStatus.RUNNING)
        self.on_event(RunEvent("started", self.stats))

        self._chunked = self._ask_chunks()
        queue: deque[Match] = deque(self._arrange(self.scheduler.start()))
        self._release(list(queue))
        self._record_forfeits()
        inflight = self._inflight
        decided: list[tuple[Match, Verdict]] = []
        taken = 0  # matches taken from the queue: the first `self._written` are in the store
        while True:
            while queue and len(inflight) < self.concurrency and not self.stop.is_set():
                if taken >= self._written:
                    self._write_released(2 * self.concurrency if self._written == 0 else self.WRITE_CHUNK)
                m = queue[0]
                if m.match_id in stored:
                    queue.popleft()
                    taken += 1
                    v = stored[m.match_id]
                    self.stats.matches_done += 1
                    self.stats.matches_resumed += 1
                    self.stats.calls_saved += sum(g.calls for g in stored_games.get(m.match_id, []))
                    self.stats.rounds[m.round] += 1
                    decided.append((m, v))
                    self.on_event(RunEvent("decided", self.stats, MatchDecided(m, v, stored_games.get(m.match_id, []), True)))
                    continue
                if not self._reserve(m):
                    break
                queue.popleft()
                taken += 1
                inflight.add(asyncio.ensure_future(self._judge(m)))
                self.stats.in_flight = len(inflight)
                if len(inflight) <= self.FIRST_WAVE_YIELDS and not self.stats.games:
                    # the first wave: let each match's calls start before reserving the next one (each
                    # reservation renders and token-counts its worst case), so the first judge
                    # request leaves at once instead of after the whole wave's reservations
                    await asyncio.sleep(0)
            if decided:
                new = self._arrange(self.scheduler.update(decided))
                decided = []
                self._release(new)
                self._record_forfeits()
                queue.extend(new)
                continue
            if not inflight:
                break
            done, inflight = await asyncio.wait(inflight, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            self._inflight = inflight
            self._write_released(self.WRITE_CHUNK)  # the rest of the released matches, a chunk per wait
            self.stats.in_flight = len(inflight)
            self.stats.paused_s = pause_left()
            self.stats.paused_cap_s = RETRY_AFTER_MAX_S
            self.stats.paused_asked_s = asked_pause_left()
            if self._batch_backends:
                self.stats.batches = pending_batches(self._batch_backends)
            if not done:
                self.on_event(RunEvent("tick", self.stats))  # the dashboard shows pauses as they run
                continue
            decided.extend(self._collect(done))
        self._release_rest()
        self._write_released()  # a stopped run's released matches stay in the store as pending
        unfinished = bool(queue) or not self.scheduler.finished
        sched_reason = getattr(self.scheduler, "stop_reason", "")
        if sched_reason and not unfinished and not self.stats.stop_reason:
            self.stats.stop_reason = {"separated": "target reached: every adjacent pair separated", "max_matches": "max_matches reached"}.get(
                sched_reason, sched_reason
            )
        if self.stop.is_set() and unfinished:
            self.stats.stop_reason = self.stats.stop_reason or "interrupted"
            status = RunStatus.INTERRUPTED
        elif unfinished:
            status = RunStatus.STOPPED  # budget
        else:
            status = RunStatus.ERRORS if store.verdict_counts(run_id).get("unresolved") else RunStatus.DONE
        store.set_run_status(run_id, status, self.summary())
        self.p.status = status
        self.on_event(RunEvent("finished", self.stats))
        return self.stats

    def _collect(self, done: set[asyncio.Task]) -> list[tuple[Match, Verdict]]:
        """Store the verdicts of finished matches with their games and the run's summary, in one
        transaction: the stored counters (and `totals` over every invocation) always count exactly
        the games in the store, so a run killed outright (SIGKILL) loses none of what it recorded.
        The events follow the commit: what is shown is stored."""
        decided: list[tuple[Match, Verdict, list[Game]]] = []
        results = []
        for task in done:
            if task.cancelled():  # Ctrl-C during a pause: nothing paid, the match stays pending
                self.stop.set()
                continue
            results.append(task.result())
        if results:
            with self.store.transaction():
                for m, v, games in results:
                    self._unreserve(m)
                    self.store.record_verdict(self.p.run_id, v, games)
                    self._count(games, v)
                    self.stats.matches_done += 1
                    self.stats.rounds[m.round] += 1
                    decided.append((m, v, games))
                self.store.set_run_status(self.p.run_id, RunStatus.RUNNING, self.summary())
        for m, v, games in decided:
            self.on_event(RunEvent("decided", self.stats, MatchDecided(m, v, games)))
        return [(m, v) for m, v, _ in decided]

    def summary(self) -> dict:
        """This invocation's counters, plus `totals` over every invocation of the run (each one adds
        its share when it ends, interrupted or not) and `invocations`."""
        out = self._invocation_summary()
        out["totals"], out["invocations"] = add_totals(getattr(self, "_previous", None), out)
        return out

    def _invocation_summary(self) -> dict:
        s = self.stats
        return {
            "matches_done": s.matches_done,
            "matches_resumed": s.matches_resumed,
            "forfeits": s.forfeits,
            "games": s.games,
            "calls": s.calls,
            "cached_calls": s.cached_calls,
            "calls_saved": s.calls_saved,
            "retries": s.retries,
            "errors": s.errors,
            "permanent_errors": s.permanent_errors,
            "permanent_reasons": dict(s.permanent_reasons),
            "unparsed": s.unparsed,
            "inconsistent": s.inconsistent,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cost_usd": None if s.cost_unknown and not s.cost_usd else round(s.cost_usd, 6),
            "cost_unknown": s.cost_unknown,
            "elapsed_s": round(s.elapsed, 2),
            "stop_reason": s.stop_reason,
            "target_reached": getattr(self.scheduler, "target_reached", None),
            "coverage": self.coverage,
        }


TOTAL_KEYS = ("calls", "cached_calls", "input_tokens", "output_tokens", "cost_usd", "errors", "unparsed", "games")


def add_totals(previous: dict | None, latest: dict) -> tuple[dict, int]:
    """(totals over every invocation, number of invocations): `previous` (the run's stored summary
    before this invocation: its `totals`, or its own counters when it predates them) plus `latest`.
    A cost is None (unknown) when any invocation's is unknown while it made paid calls."""
    prev = (previous or {}).get("totals") or ({k: previous.get(k) for k in TOTAL_KEYS} if previous else None)
    n = int((previous or {}).get("invocations") or (1 if previous else 0)) + 1
    totals = {}
    for k in TOTAL_KEYS:
        a, b = (prev or {}).get(k, 0 if prev is None else None), latest.get(k)
        if k == "cost_usd":
            unknown = (a is None and prev is not None and (prev.get("calls") or 0) > 0) or (b is None and (latest.get("calls") or 0) > 0)
            totals[k] = None if unknown else round((a or 0.0) + (b or 0.0), 6)
        else:
            totals[k] = int(a or 0) + int(b or 0)
    return totals, n


def answer_coverage(prompts: Sequence[Prompt], answered: dict[str, frozenset[str]] | Sequence[Output], models: Sequence[str]) -> dict[str, float]:
    """model -> the share of `prompts` it has a usable answer to (not missing, empty, or only
    whitespace and invisible characters); a missing answer is a forfeit in the run. `answered`:
    prompt_id -> models with a usable answer (`Answers.answered`), or the `Output` records."""
    ids = {p.prompt_id for p in prompts}
    if not isinstance(answered, dict):
        from arena.tournaments import answered_from_outputs

        answered = answered_from_outputs(o for o in answered if o.prompt_id in ids)
    n = len(ids)
    per_model = Counter(m for pid in ids for m in answered.get(pid, ()))
    return {m: (per_model[m] / n if n else 0.0) for m in models}


def _reason(error: str | None) -> str:
    """A failed game's error without its attempt count, for grouping (`AuthenticationError: ...`)."""
    import re

    return re.sub(r"\s*\(after \d+ attempts?\)\s*$", "", error or "unknown error")[:200]


def judge_failure(match_id: str, judge_name: str, error: BaseException) -> tuple[Verdict, list[Game]]:
    """The unresolved verdict and error game recorded for a match whose judge raised `error`."""
    message = f"{type(error).__name__}: {error}"[:500]
    game = Game(match_id, judge_name, "AB", "error", parse_status="error", attempts=1, calls=0, error=message)
    return Verdict(match_id, "unresolved", 0, None, "error"), [game]
