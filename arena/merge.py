"""Combine the stores of a tournament's shards into one run (`arena run merge OUT SHARD...`).

A tournament split with `--shard K/N` (`arena.tournaments.shard`) runs as N runs on N stores, each
recording which shard it is and the identity of the whole tournament (spec, seed, pool content,
judge preset and files: `arena.runner.spec_identity` without the shard). `merge_runs` checks
that the stores hold exactly shards 1..N of one tournament, every one finished, then writes one
run into `out`: the pool, every match, game and verdict (the games' tokens and cost give the
usage), the call caches, and a run row with the whole tournament's spec and identity. So:

- the merged run's leaderboard is the unsplit run's: the same matches with the same verdicts
  (ratings read a run's battles in a canonical order, not the order verdicts arrived);
- `arena tournament run SPEC --db OUT` finds it as the run to resume (same name and identity)
  and pays for nothing; a shard that finished with errors leaves its unresolved matches to be
  retried there.

Refusals (`BadInput`, one line, `out` untouched): a store with no shard run, shards of different
tournaments (the line names what differs: seed, judge, pool, ...), a shard given twice, one
missing, a split into a different N, a shard not finished, `out` being one of the inputs or
already holding this tournament's run or another pool of the same name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import BadInput
from arena.records import RunRecord, RunStatus, Usage

# the stored spec keys that do not decide verdicts (they may differ between shards)
_FREE_KEYS = ("shard", "concurrency", "max_calls", "max_cost_usd", "confirm_above_usd", "description")
_TABLES_OF_A_RUN = ("matches", "verdicts", "games", "replays")
_TABLES_OF_A_POOL = ("prompts", "outputs", "prompt_annotations", "prompt_clusters")


@dataclass(frozen=True, slots=True)
class ShardRun:
    """One shard's run found in a store: `index` of `count`, the whole tournament's identity `whole`."""

    path: str
    run_id: str
    index: int
    count: int
    whole: str
    status: str
    stored: dict  # the run's stored spec JSON: {"spec", "judge", "pool", "shard"}
    summary: dict
    started: float | None
    finished: float | None

    @property
    def label(self) -> str:
        return f"{self.path}: shard {self.index}/{self.count} (run {self.run_id})"


@dataclass(slots=True)
class MergeResult:
    """What `merge_runs` wrote: run `run_id` of `name` in `out`, from `shards` (in shard order);
    `status` done (or errors when a shard left unresolved matches); counts of matches, verdicts
    and games copied, call-cache entries read; `usage` the merged run's calls, tokens and cost."""

    out: str
    run_id: str
    name: str
    status: RunStatus
    shards: list[ShardRun] = field(default_factory=list)
    matches: int = 0
    verdicts: int = 0
    games: int = 0
    cache_entries: int = 0
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict:
        return {
            "out": self.out, "run_id": self.run_id, "name": self.name, "status": str(self.status),
            "shards": [{"index": s.index, "count": s.count, "db": s.path, "run_id": s.run_id, "status": s.status} for s in self.shards],
            "matches": self.matches, "verdicts": self.verdicts, "games": self.games, "cache_entries": self.cache_entries,
            "usage": self.usage.to_dict(),
        }


def merge_runs(out: str | Path, shards: Sequence[str | Path]) -> MergeResult:
    """Merge the shard runs held in the stores `shards` into one run in the store `out`.

    `shards`: store files (SQLite), each holding one or more shard runs of one tournament (the
    latest run of each shard counts, as `arena tournament run` would resume it); together they
    must hold shards 1..N of one tournament, each once, each finished (done, or errors: its
    unresolved matches are retried by running the whole spec on `out`). `out`: a store file,
    created when missing (written under a temporary name and renamed at the end), else the run is
    added in one transaction. Returns a `MergeResult`. Raises `BadInput` (one line naming the file
    and the shard; `out` unchanged) for every refusal listed in the module doc and a blank `out` or
    shard path, `NotFound` /
    `StoreError` for a missing or damaged store. Method: shards are disjoint sets of prompts of a
    fixed schedule, so the union of their matches is the whole schedule (see
    `arena.tournaments.shard`)."""
    from arena.store import Store

    if not shards:
        raise BadInput("merge: expected the shard stores to merge after OUT (e.g. arena run merge out.db shard1.db shard2.db)")
    from arena.names import require_name

    out = str(require_name(str(out), "a store file to write the merged run into", ("out", "OUT")))
    paths = [str(p) for p in shards]
    for p in paths:
        require_name(p, "a shard's store file", ("shards", "SHARDS"))
    _check_paths(out, paths)
    sources: list = []
    try:
        for p in paths:
            sources.append(_open_shard_store(p))
        found = [run for store, path in zip(sources, paths) for run in _shard_runs(store, path)]
        ordered = _check_shards(found)
        by_path = dict(zip(paths, sources))
        _check_disjoint(ordered, by_path)
        first = ordered[0]
        src = by_path[first.path]
        pool = first.stored.get("pool") or first.stored["spec"].get("pool")
        if Path(out).exists():
            _check_out(out, first, src, pool)
            target = Store(out, create=False)
            try:
                return _write(target, out, ordered, by_path, pool)
            finally:
                target.close()
        tmp = Path(out).with_name(f".{Path(out).name}.merge-{os.getpid()}.tmp")
        try:
            target = Store(tmp)
            try:
                result = _write(target, out, ordered, by_path, pool)
            finally:
                target.close()
            os.replace(tmp, out)
            return result
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{tmp}{suffix}")
    finally:
        for s in sources:
            s.close()


# -- checks (nothing is written before all of them pass) ------------------------------------------------


def _check_paths(out: str, paths: list[str]) -> None:
    if Path(out).is_dir():
        raise BadInput(f"{out}: is a folder; OUT is the arena database file to merge into (e.g. {Path(out) / 'merged.db'})")
    parent = Path(out).parent
    if not parent.is_dir():  # never made here: a mistyped folder would otherwise appear silently
        raise BadInput(f"{out}: the folder {parent} does not exist; create it first or merge into another path")
    for i, p in enumerate(paths):
        if Path(p).is_dir():
            raise BadInput(f"{p}: is a folder; each shard argument is an arena database file (a --db of `tournament run --shard K/N`)")
        for q in paths[:i]:
            if _same_file(p, q):
                raise BadInput(f"{p}: given twice as a shard store")
        if _same_file(p, out):
            raise BadInput(f"{out}: is also a shard store to merge; merge into another file")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _open_shard_store(path: str):
    """A shard's store, read-only; one written by an older arena is migrated first (as any command would)."""
    from arena.records import SCHEMA_VERSION
    from arena.store import Store

    store = Store(path, create=False, readonly=True)
    if store.schema_version < SCHEMA_VERSION:
        store.close()
        store = Store(path, create=False)
    return store


def _shard_runs(store, path: str) -> list[ShardRun]:
    """The latest run of each shard identity in `store` (as `tournament run` would resume it)."""
    seen: set[str] = set()
    out = []
    for r in store.list_runs():  # newest first
        shard = r.spec.get("shard") if isinstance(r.spec, dict) else None
        if not isinstance(shard, dict) or r.spec_hash in seen:
            continue
        seen.add(r.spec_hash)
        out.append(ShardRun(path, r.run_id, int(shard["index"]), int(shard["count"]), str(shard["whole"]), r.status, r.spec,
                            r.summary.to_dict() if r.summary is not None else {}, r.started, r.finished))
    if not out:
        raise BadInput(f"{path}: holds no shard run (a run of `arena tournament run SPEC --shard K/N`)")
    return out


def _check_shards(found: list[ShardRun]) -> list[ShardRun]:
    """Shards 1..N of one tournament, each once and finished, in shard order; else BadInput."""
    first = found[0]
    for r in found[1:]:
        if r.whole != first.whole:
            raise BadInput(f"{r.label} is of another tournament than {first.label}: {_difference(first, r)}")
        if r.count != first.count:
            raise BadInput(f"{r.label} splits the tournament into {r.count} shards, {first.label} into {first.count}")
    by_index: dict[int, ShardRun] = {}
    for r in found:
        if r.index in by_index:
            raise BadInput(f"shard {r.index}/{r.count} is given twice: {by_index[r.index].label} and {r.label}")
        by_index[r.index] = r
    missing = [i for i in range(1, first.count + 1) if i not in by_index]
    if missing:
        given = ", ".join(f"{r.index}/{r.count} in {r.path}" for r in sorted(found, key=lambda r: r.index))
        raise BadInput(
            f"shard{'s' if len(missing) > 1 else ''} {', '.join(f'{i}/{first.count}' for i in missing)} of {first.stored['spec'].get('name')!r}"
            f" {'are' if len(missing) > 1 else 'is'} missing (given: {given}); merge needs all {first.count}"
        )
    for r in found:
        if r.status not in (RunStatus.DONE, RunStatus.ERRORS):
            raise BadInput(
                f"{r.label} is {r.status}, not finished: run `arena tournament run SPEC --shard {r.index}/{r.count} --db {r.path}`"
                " again to finish it, then merge"
            )
    return [by_index[i] for i in range(1, first.count + 1)]


def _difference(a: ShardRun, b: ShardRun) -> str:
    """What makes two shards' tournaments differ, in words: `seed 0 vs 1`, `judge ...`, ..."""
    sa, sb = (dict(x.stored.get("spec") or {}) for x in (a, b))
    for d in (sa, sb):
        for k in _FREE_KEYS:
            d.pop(k, None)
    for key in ("name", "seed", "pool", "models", "prompts", "scheduler", "judge"):
        if sa.get(key) != sb.get(key):
            return f"{'spec ' if key != 'seed' else ''}{key} {_short(sa.get(key))} vs {_short(sb.get(key))}"
    if a.stored.get("judge") != b.stored.get("judge"):
        ja, jb = a.stored.get("judge") or {}, b.stored.get("judge") or {}
        keys = sorted(k for k in set(ja) | set(jb) if ja.get(k) != jb.get(k))
        return "judge preset " + ", ".join(f"{k} {_short(ja.get(k))} vs {_short(jb.get(k))}" for k in keys[:3])
    if (a.stored.get("shard") or {}).get("pool_fingerprint") != (b.stored.get("shard") or {}).get("pool_fingerprint"):
        return "the pool's prompts or answers differ"
    keys = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
    if keys:
        return "spec " + ", ".join(f"{k} {_short(sa.get(k))} vs {_short(sb.get(k))}" for k in keys[:3])
    return "the judge's files (template, weights or member presets) differ"


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _check_disjoint(ordered: list[ShardRun], stores: dict) -> None:
    owner: dict[str, ShardRun] = {}
    for r in ordered:
        for m in stores[r.path].matches(r.run_id):
            if m.match_id in owner:
                raise BadInput(f"{r.label} has match {m.match_id!r} that {owner[m.match_id].label} has too: the shards overlap")
            owner[m.match_id] = r


def _pool_fingerprint(store, pool: str) -> str:
    from arena.answers import StoredAnswers

    return StoredAnswers(store, pool, store.prompts(pool)).fingerprint  # the stored digest, or one streamed read


def _check_out(out: str, first: ShardRun, src, pool: str) -> None:
    from arena.store import Store

    target = Store(out, create=False, readonly=True)
    try:
        for r in target.list_runs():
            if r.spec_hash == first.whole and not (r.spec or {}).get("shard"):
                raise BadInput(f"{out}: already holds run {r.run_id} of this tournament (merged before, or run unsplit there); merge into another file")
        if target.pool_exists(pool) and _pool_fingerprint(target, pool) != _pool_fingerprint(src, pool):
            raise BadInput(f"{out}: holds a pool {pool!r} with other prompts or answers than the shards'; merge into another file")
    finally:
        target.close()


# -- writing ----------------------------------------------------------------------------------------------


def _write(target, out: str, ordered: list[ShardRun], stores: dict, pool: str) -> MergeResult:
    from arena.names import slug

    first = ordered[0]
    src = stores[first.path]
    spec = {**first.stored["spec"], "shard": None}  # the whole tournament's spec, as an unsplit run stores it
    name = spec.get("name") or first.stored.get("name") or "merged"
    result = MergeResult(out, "", name, RunStatus.DONE, shards=list(ordered))
    with target.transaction():
        run_id = target.new_run_id(slug(name), first.whole)
        result.run_id = run_id
        if not target.pool_exists(pool):
            target.copy_rows(src, "pools", {"pool": pool})
            for table in _TABLES_OF_A_POOL:
                target.copy_rows(src, table, {"pool": pool})
            fp = src.get_meta(f"pool_fingerprint:{pool}")
            if fp is not None:
                target.set_meta(f"pool_fingerprint:{pool}", fp)
        for r in ordered:
            store = stores[r.path]
            counts = {t: target.copy_rows(store, t, {"run_id": r.run_id}, set_values={"run_id": run_id}) for t in _TABLES_OF_A_RUN}
            result.matches += counts["matches"]
            result.verdicts += counts["verdicts"]
            result.games += counts["games"]
            result.cache_entries += target.copy_rows(store, "call_cache", {}, ignore=True)
            target.inline_foreign_raw(run_id, store)
        status = RunStatus.ERRORS if any(r.status == RunStatus.ERRORS for r in ordered) else RunStatus.DONE
        result.status = status
        stored = {
            "spec": spec, "judge": first.stored.get("judge") or {}, "pool": pool,
            "merged": {"count": first.count, "shards": [{"index": r.index, "run_id": r.run_id, "db": r.path, "status": r.status} for r in ordered]},
        }
        started = [r.started for r in ordered if r.started is not None]
        finished = [r.finished for r in ordered if r.finished is not None]
        record = RunRecord(run_id, name, stored, first.whole, int(spec.get("seed") or 0), status,
                           min(started) if started else None, max(finished) if finished else None, None)
        target.create_run_record(record, _summary(ordered, _coverage(target, spec, pool)))
        result.usage = target.usage(run_id)
    return result


def _coverage(store, spec: dict, pool: str) -> dict[str, float]:
    """Each model's coverage of the whole tournament's prompts, as an unsplit run computes it."""
    from arena.runner import answer_coverage, select
    from arena.tournaments.spec import spec_from_dict

    tspec = spec_from_dict(spec, source="merged spec")
    prompts, outputs, models = select(tspec, store.prompts(pool), store.outputs(pool))
    return answer_coverage(prompts, outputs, models)


_SUMMED = ("matches_done", "matches_resumed", "forfeits", "games", "calls", "cached_calls", "calls_saved", "retries", "errors",
           "permanent_errors", "unparsed", "inconsistent", "input_tokens", "output_tokens")


def _summary(ordered: list[ShardRun], coverage: dict[str, float]) -> dict:
    """The merged run's summary: every shard's totals added up (over all its invocations); the
    elapsed time is the longest shard's (they run side by side)."""
    from collections import Counter

    from arena.runner import TOTAL_KEYS, add_totals

    totals: dict | None = None
    invocations = 0
    out: dict = dict.fromkeys(_SUMMED, 0)
    reasons: Counter = Counter()
    for r in ordered:
        s = r.summary
        own = s.get("totals") or {k: s.get(k) for k in TOTAL_KEYS}
        totals, _ = add_totals({"totals": totals} if totals is not None else None, own)
        invocations += int(s.get("invocations") or 1)
        for k in _SUMMED:
            out[k] += int(s.get(k) or 0)
        reasons.update(s.get("permanent_reasons") or {})
    totals = totals or {}
    out.update({k: totals.get(k, out.get(k)) for k in TOTAL_KEYS})
    out.update(
        cost_unknown=totals.get("cost_usd") is None,
        permanent_reasons=dict(reasons),
        elapsed_s=max((float(r.summary.get("elapsed_s") or 0) for r in ordered), default=0.0),
        stop_reason=None,
        target_reached=None,
        coverage=coverage,
        totals=totals,
        invocations=invocations,
        merged_shards=len(ordered),
    )
    return out
