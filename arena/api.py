"""arena as a library: the functions every `arena` command wraps.

Each function opens what it needs, does one job and returns a typed result; errors are raised as
`arena.errors.ArenaError` subclasses (`BadInput` and its kin for bad input, `NotFound`,
`RatingError`, `BackendError`) and are turned into `Error: ...` lines and exit codes only by the
CLI (`arena.cli._common.run_cli`). Nothing here prints. Importing this module is cheap: the
judges, litellm and the report renderers load inside the functions.

    import arena

    result = arena.run_tournament("tournaments/demo.toml", db="arena.db")
    print(result.status, result.usage.cost_usd, result.leaderboard[0]["model"])

The shape follows inspect_ai's `eval()` (one call returning a typed log that its CLI wraps) and
sqlite-utils (each CLI command a few lines around one library call).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arena.errors import BadInput, ReportsInterrupted, naming_options
from arena.records import Battle, RunRecord, RunStatus, RunSummary, Usage

if TYPE_CHECKING:
    from arena.pools import PoolData
    from arena.ratings import BattleArrays, Leaderboard
    from arena.runner import EventSink, RunStats
    from arena.store import Store
    from arena.tournaments.plan import Plan
    from arena.tournaments.spec import TournamentSpec

__all__ = [
    "Run",
    "RunResult",
    "evaluate_judge",
    "export_verdicts",
    "fit_ratings",
    "import_pool",
    "import_verdicts",
    "load_run",
    "load_spec",
    "merge_runs",
    "plan",
    "plan_rejudge",
    "rejudge",
    "run_tournament",
]


# -- opening things ----------------------------------------------------------------------------------


def _open(db: str | Path | Store | None, *, create: bool = True, readonly: bool = False) -> tuple[Store, bool]:
    """(store, opened here): a Store passed in is used as is and left open."""
    from arena.store import Store, default_db_path

    if isinstance(db, Store):
        return db, False
    return Store(db if db is not None else default_db_path(), create=create, readonly=readonly), True


# tables whose rows are work a failed command must not throw away (a run, a paid call, a batch)
_WORK_TABLES = ("runs", "call_cache", "batches")


@contextlib.contextmanager
def _writing(db: str | Path | Store | None) -> Iterator[Store]:
    """The store at `db`, created if missing, for a command that writes. When the command fails
    (any exception) on a file it created, the file (and its -wal/-shm, and the folders made for it)
    is removed again unless it already holds work (a run, a cached call, a batch job): a command
    refused for bad input leaves no schema-only database behind."""
    from arena.store import Store, default_db_path

    if isinstance(db, Store):
        yield db
        return
    path = Path(db if db is not None else default_db_path())
    made = [] if str(path) == ":memory:" or path.exists() else [path]
    if made:
        folder = path.parent
        while not folder.exists():
            made.append(folder)  # deepest first
            folder = folder.parent
    store = Store(path)
    try:
        yield store
    except BaseException:
        store.close()
        if made and not _holds_work(path):
            _remove_new(made)
        raise
    else:
        store.close()


def _holds_work(path: Path) -> bool:
    """Whether the arena file at `path` holds a row in any of `_WORK_TABLES` (unreadable: assume so)."""
    import sqlite3

    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return any(con.execute(f"SELECT EXISTS (SELECT 1 FROM [{t}])").fetchone()[0] for t in _WORK_TABLES if t in names)
        finally:
            con.close()
    except sqlite3.Error:
        return True


def _remove_new(made: list[Path]) -> None:
    """Remove a database file this process created (with its SQLite side files) and the folders
    created for it (deepest first, only while empty)."""
    path = made[0]
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError, OSError):
            Path(f"{path}{suffix}").unlink()
    for folder in made[1:]:
        with contextlib.suppress(OSError):
            folder.rmdir()


def load_spec(spec: str | Path | dict | TournamentSpec) -> TournamentSpec:
    """A validated `TournamentSpec` from a TOML path, a shipped name (`"demo"`), a dict or a spec.

    Raises `SpecError` (a `BadInput`) naming the file and key when the spec is invalid, `NotFound`
    when the file or shipped name does not exist."""
    from arena.tournaments.spec import TournamentSpec, spec_from_dict
    from arena.tournaments.spec import load_spec as _load_spec

    if isinstance(spec, TournamentSpec):
        return spec
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    return _load_spec(spec)


# -- pools ----------------------------------------------------------------------------------------------


def import_pool(
    name: str,
    paths: Sequence[str | Path] | str | Path,
    *,
    format: str | None = None,
    replace: bool = False,
    allow_partial: bool = False,
    db: str | Path | Store | None = None,
) -> PoolData:
    """Read model-output files into the pool `name` of the store `db`, in one transaction.

    `paths`: a list of files or folders (one `str`/`Path` is a list of one) in one of the formats `native`, `alpaca_eval`, `arena_hard`, `mt_bench`,
    `varco`, `jsonl` (detected from the path when `format` is None); conversations (several user
    turns) are read from `mt_bench`, `arena_hard`, `native` and `jsonl` (`arena.conversations`). Adding files to an existing pool adds
    models and keeps its prompts; `replace=True` drops the pool's prompts and answers first.
    Prompts are matched across files on `arena.io.prompt_key` (NFC, whitespace collapsed); a prompt id
    already in the pool must have the same text and turns (else `PoolError`, nothing written).
    Returns the `PoolData` read (prompts, outputs, models, each model's `overlap` with the pool's
    prompts). Raises `PoolError`/`RecordError` (a `BadInput`) with `path:line` or `path:item N`
    for a malformed record or conversation (turn counts that differ, an empty user turn, a reference
    for a turn that does not exist, roles that do not alternate), and when a model answers fewer than half of the
    pool's prompts unless `allow_partial`; the store is then unchanged."""
    from arena.pools import import_pool as _import_pool

    with _writing(db) as store:
        return _import_pool(store, name, paths, format, replace=replace, allow_partial=allow_partial)


def import_verdicts(
    path: str | Path,
    format: str,
    *,
    name: str | None = None,
    pool: str | None = None,
    baseline: str | None = None,
    strong_weight: float = 3.0,
    db: str | Path | Store | None = None,
):
    """Read a peer's recorded judgments (`arena_hard`, `alpaca_eval`, `mt_bench`, `chatbot_arena`,
    `judgebench`, `jsonl`) into a finished run of the store `db`; returns an `ImportSummary`
    (run id, matches, games, rows skipped as self-battles, models, judges, baseline, pool).
    See `arena.verdicts.import_verdicts`. Raises `BadInput` naming file, line and field; the
    store is then unchanged."""
    from arena.verdicts import import_verdicts as _import

    with _writing(db) as store:
        return _import(store, path, format, name=name, pool=pool, baseline=baseline, strong_weight=strong_weight)


def export_verdicts(
    run: str, format: str, out: str | Path, *, baseline: str | None = None, per: str | None = None,
    db: str | Path | Store | None = None,
) -> list[Path]:
    """Write run `run` (id, unique prefix or name) as `battles`, `arena_hard`, `alpaca_eval`,
    `mt_bench` or `jsonl` (see `arena.verdicts.export_verdicts`); returns the written paths."""
    from arena.verdicts import export_verdicts as _export

    store, opened = _open(db, create=False)
    try:
        return _export(store, run, format, out, baseline=baseline, per=per)
    finally:
        if opened:
            store.close()


def load_spec_pool(spec: TournamentSpec, db: str | Path | Store | None = None):
    """(prompts, outputs) of a spec's pool: read from files when `spec.pool` is a path, else from the store."""
    from arena.tournaments.spec import load_spec_pool as _load_spec_pool
    from arena.tournaments.spec import pool_source

    if pool_source(spec) is not None:
        return _load_spec_pool(spec, None)
    store, opened = _open(db, readonly=True)
    try:
        return _load_spec_pool(spec, store)
    finally:
        if opened:
            store.close()


# -- tournaments --------------------------------------------------------------------------------------


def plan(spec: str | Path | dict | TournamentSpec, *, db: str | Path | Store | None = None, shard: str | None = None) -> Plan:
    """Size and price a tournament before any judge call (`shard="K/N"`: one shard's share, see
    `run_tournament`).

    Returns a `Plan`: matches (exact for fixed schedules, expected and worst for dynamic ones),
    judge calls, input/output tokens and cost in US dollars (expected and worst; None when the
    judge model's price is unknown, from litellm's price table). Raises `SpecError` for a bad
    spec, `NotFound` for an unknown pool or judge preset, `DisconnectedPlan` when the schedule
    cannot connect all models."""
    from arena.answers import StoredAnswers
    from arena.judges import load_judge
    from arena.tournaments.plan import plan_tournament
    from arena.tournaments.shard import apply_shard
    from arena.tournaments.spec import pool_source

    tspec = apply_shard(load_spec(spec), shard)
    if tspec.shard is not None:
        from arena.judges import load_preset
        from arena.tournaments.shard import check_shard_judge

        check_shard_judge(tspec, *load_preset(tspec.judge_ref()))
    from arena.runner import choose_pool

    store, opened = (None, False) if pool_source(tspec) is not None and _no_store(db) else _open(db, readonly=True)
    try:  # the pool as `run_tournament` reads it (arena.runner.choose_pool); a stored pool's answers are read
        # in one streamed pass, never held (arena.answers)
        choice = choose_pool(store, tspec)
        judge = load_judge(tspec.judge_ref())
        if choice.import_files:  # what the run would import: the files as they are
            the_plan = plan_tournament(tspec, list(choice.data.prompts), list(choice.data.outputs), judge)
        else:
            prompts = store.prompts(choice.name)
            the_plan = plan_tournament(tspec, prompts, StoredAnswers(store, choice.name, prompts), judge)
        if choice.warning:
            the_plan.warnings.insert(0, choice.warning)
        return the_plan
    finally:
        if opened:
            store.close()


def _no_store(db: str | Path | Store | None) -> bool:
    """Whether `db` names a database file that does not exist (yet): a plan then reads pool files only."""
    from arena.store import Store, default_db_path

    if isinstance(db, Store):
        return False
    path = str(db if db is not None else default_db_path())
    return path != ":memory:" and not Path(path).exists()


@dataclass(slots=True)
class RunResult:
    """What `run_tournament` returns.

    `status`: done, errors (some matches unresolved after retries; the CLI exits 3), stopped (a
    budget), interrupted (Ctrl-C); `usage`: the whole run's calls, tokens and cost as stored
    (`Store.usage`), across every invocation that resumed it; `stats`: this invocation's live
    counters (`RunStats`: calls paid now, calls saved by resuming, retries, errors, unparsed);
    `leaderboard`: one dict per model, best first (`model`, `rating`, `ci_low`, `ci_high`,
    `rank`, `rank_ub`, `win_rate`, `battles`), empty when interrupted; `report`: the report data
    (`arena.reports.build_report`), None when interrupted; `report_paths`: files written."""

    run_id: str
    name: str
    status: RunStatus
    resumed: bool
    usage: Usage
    stats: RunStats
    unresolved: int = 0
    leaderboard: list[dict] = field(default_factory=list)
    report: dict | None = None
    report_paths: list[Path] = field(default_factory=list)


ConfirmFn = Callable[["Plan"], bool]


def run_tournament(
    spec: str | Path | dict | TournamentSpec,
    *,
    db: str | Path | Store | None = None,
    on_event: EventSink | None = None,
    new: bool = False,
    no_cache: bool = False,
    concurrency: int | None = None,
    yes: bool = False,
    confirm: ConfirmFn | None = None,
    report_dir: str | Path | None = None,
    write_reports: bool = True,
    handle_sigint: bool = True,
    ties: str | None = None,
    style: bool | None = None,
    anchor: str | None = None,
    allow_unknown_price: bool = False,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    shard: str | None = None,
) -> RunResult:
    """Run (or resume) a tournament: plan, judge concurrently, store every verdict, rate, report.

    Parameters
    - `spec`: a TOML path, a shipped name (`"demo"`), a dict or a `TournamentSpec`.
    - `db`: the SQLite store (a path, a `Store`, or None for `$ARENA_DB` / `./arena.db`).
    - `on_event`: called with each `RunEvent` (`planned` before anything is written, then
      `started`, `released`, `decided` per match, `finished`); `arena.dashboard.make_display()`
      is one such sink.
    - `new`: start a fresh run instead of resuming the latest run of the same spec identity.
    - `no_cache`: bypass the judge call cache (calls are paid again).
    - `concurrency`: games in flight (overrides the spec).
    - `yes` / `confirm`: a run whose worst-case cost is above the spec's `confirm_above_usd` (or
      unknown for a paying judge) starts only with `yes=True` or when `confirm(plan)` returns
      True; otherwise `BadInput` is raised and nothing is written.
    - `report_dir`: where the reports go (default `reports/<run_id>`); `write_reports=False`
      builds the report data without writing files.
    - `handle_sigint`: on the main thread, the first Ctrl-C stops releasing matches, ends any
      Retry-After pause or backoff at once and waits for the calls in flight (status
      interrupted), a second cancels them.
    - `wait` / `on_wait`: one process at a time runs a run (a lease in the store, see
      `arena.runner.RunLease`); if another holds it, raise `RunBusy` ("run R is in progress in
      process P since T"), or with `wait=True` call `on_wait(that line)` and wait for it to end.
    - `ties` ("half" or "davidson"), `style` (style control) and `anchor` (the baseline) override
      the spec's rating options `ties`, `style`, `baseline`; they are not part of the run's
      identity, so changing them on a finished run only rebuilds its report. The report is built
      with this spec's rating options (`bootstrap`, `baseline`, `ties`, `style`), also on resume.
    - `allow_unknown_price`: run with `max_cost_usd` although a judge model's price is unknown
      (the cap cannot be enforced); without it, and without `max_calls`, `BadInput` is raised
      naming the model and nothing is written (`arena.tournaments.plan.check_budget`).
    - `shard`: "K/N" runs only shard K of N of the prompts (prompt i of the selection belongs to
      shard i mod N + 1), each shard on its own store (another machine); the shard is part of the
      run's identity, so it resumes as itself, and `merge_runs` combines the N shards' stores into
      the whole run. A fixed schedule splits exactly (round-robin, anchored, single-elimination);
      swiss and adaptive raise `SchedulerError` (their pairings need every prompt's verdicts).

    A run is identified by its spec name and a hash of what decides its verdicts; running the
    same spec again resumes it and pays no call twice (see `arena.runner`). Raises `SpecError`,
    `NotFound`, `PoolError` for bad input (store unchanged; an unset `api_key_env` variable is
    one of them, checked before any call), `BackendError` for a misconfigured judge backend,
    `StoreError` / `DiskFull` when the store fails (the run is then marked interrupted), and
    `ReportsInterrupted` (exit 130) for Ctrl-C while the reports are written. A judge that
    raises inside a match makes that match unresolved (status
    errors), not an exception here."""
    from arena.judges import check_env, load_judge, load_preset
    from arena.runner import RunLease, prepare_run
    from arena.tournaments.shard import apply_shard, check_shard_judge

    tspec = apply_shard(load_spec(spec), shard)
    if write_reports:  # a report folder that cannot be written is refused before any call
        from arena.outpaths import check_out
        from arena.reports import REPORT_FOLDER

        check_out(report_dir if report_dir is not None else "reports", "folder", REPORT_FOLDER)
    preset, preset_path = load_preset(tspec.judge_ref())
    check_shard_judge(tspec, preset, preset_path)  # before the store is opened: nothing written
    if concurrency is not None:
        tspec = tspec.model_copy(update={"concurrency": concurrency})
    if ties is not None and ties not in ("half", "davidson"):
        raise BadInput(f"--ties: {ties!r} (expected half or davidson)")
    rating_options = {k: v for k, v in (("ties", ties), ("style", style), ("baseline", anchor)) if v is not None}
    if rating_options:
        tspec = tspec.model_copy(update=rating_options)
    sink = on_event or (lambda e: None)
    with _writing(db) as store:  # a new file is removed again when the run fails before it starts
        judge = load_judge(tspec.judge_ref(), store=store, no_cache=no_cache)
        check_env(judge, str(judge.preset_path or tspec.judge))  # before the plan and any call: one line naming the variable
        prepared = prepare_run(store, tspec, preset, judge_fingerprint=judge.fingerprint(), new=new, create=False)
        if anchor is not None:  # a typo'd model name is a usage mistake, not a report warning
            from arena.verdicts.export import check_anchor

            check_anchor(anchor, prepared.models)
        lease = RunLease(store, prepared.run_id)
        lease.acquire(wait=wait, on_wait=on_wait)
        try:
            return _run_leased(store, tspec, judge, prepared, lease, sink, yes=yes, confirm=confirm, handle_sigint=handle_sigint,
                               write_reports=write_reports, report_dir=report_dir, allow_unknown_price=allow_unknown_price)
        finally:
            lease.release()


def _run_leased(
    store, tspec, judge, prepared, lease, sink, *, yes, confirm, handle_sigint, write_reports, report_dir, allow_unknown_price
) -> RunResult:
    """`run_tournament` once this process holds the run's lease."""
    from arena.names import slug
    from arena.runner import RunEvent, Runner, RunPlanned, create_run
    from arena.tournaments import make_scheduler
    from arena.tournaments.plan import check_budget, plan_tournament

    scheduler = make_scheduler(
        tspec.scheduler, prepared.prompts, prepared.answered, prepared.models, tspec.seed, shard=tspec.shard_of()
    )
    the_plan = plan_tournament(tspec, prepared.prompts, prepared.answers, judge, scheduler=scheduler)
    the_plan.warnings[:0] = prepared.warnings  # about the pool the spec names (arena.runner.choose_pool)
    check_budget(the_plan, tspec, allow_unknown_price=allow_unknown_price)
    runner = Runner(store, prepared, judge, scheduler, on_event=sink)
    sink(RunEvent("planned", runner.stats, planned=RunPlanned(
        prepared.run_id, prepared.resumed, len(prepared.own_prompts), len(prepared.models), tspec.scheduler.kind,
        runner.stats.judge, the_plan, tspec.strong_weight, lease.abandoned_calls,
    )))
    worst = the_plan.cost_usd_worst
    if not yes and (worst is None and judge.calls_per_match() > 0 or (worst or 0) > tspec.confirm_above_usd):
        if confirm is None or not confirm(the_plan):
            money = "unknown" if worst is None else f"${worst:.4f}"
            raise naming_options(
                BadInput, f"the worst-case cost {money} is above confirm_above_usd={tspec.confirm_above_usd}; pass <yes> to run without asking",
                yes=("yes=True", "--yes"),
            )
    create_run(store, prepared)
    asyncio.run(_drive(runner, judge, handle_sigint, lease))
    result = RunResult(
        prepared.run_id, tspec.name, RunStatus(prepared.status), prepared.resumed, store.usage(prepared.run_id), runner.stats,
        unresolved=store.verdict_counts(prepared.run_id).get("unresolved", 0),
    )
    if result.status == RunStatus.INTERRUPTED:
        return result
    del runner, scheduler  # the schedule's matches and verdicts are in the store: the report reuses their memory
    gc.collect()
    try:
        from arena.reports import build_report  # imported here: not on the way to the first judge call
        from arena.reports import write_reports as _write_reports

        # the rating options come from this spec (a resumed run may have been started without them)
        report = build_report(store, prepared.run_id, bootstrap=tspec.bootstrap, anchor=tspec.baseline, ties=tspec.ties, style=tspec.style)
        result.report = report
        result.leaderboard = report["leaderboard"]
        if write_reports:  # a run id names its folder, never a path (arena.names.slug)
            out_dir = Path(report_dir) if report_dir is not None else Path("reports") / slug(prepared.run_id)
            result.report_paths = _write_reports(report, out_dir)
    except KeyboardInterrupt:
        raise ReportsInterrupted(
            f"interrupted while writing the reports: run {prepared.run_id} is {prepared.status} and stored."
            f" Write the reports again with `arena report {prepared.run_id}`."
        ) from None
    return result


async def _drive(runner, judge, handle_sigint: bool, lease=None) -> None:
    from arena.backends._base import interrupt_pauses

    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        runner.stop.set()
        interrupt_pauses()  # a Retry-After pause or a backoff ends now (nothing paid for those calls)
        if interrupts > 1:
            for t in asyncio.all_tasks(loop):
                t.cancel()

    installed = False
    if handle_sigint:
        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    beat = asyncio.ensure_future(lease.keep()) if lease is not None else None
    try:
        await runner.run()
    finally:
        if beat is not None:
            beat.cancel()
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
        await judge.aclose()


def merge_runs(out: str | Path, shards: Sequence[str | Path]):
    """Combine the stores of a tournament's shards (`run_tournament(..., shard="K/N")`, one store
    each) into one run in the store `out`: pool, matches, games, verdicts, call cache, usage.

    The shards must be 1..N of one tournament (same spec, seed, pool content and judge), each
    finished (done or errors); the merged run has the whole tournament's identity, so its
    leaderboard is the unsplit run's and `run_tournament(spec, db=out)` resumes it without a paid
    call. Returns `arena.merge.MergeResult` (run id, status, shards, rows copied, usage). Raises
    `BadInput` with one line naming the file and shard (mismatched, missing, duplicate or
    unfinished shards; `out` among the inputs or already holding the run); `out` is then
    unchanged. See `arena.merge`."""
    from arena.merge import merge_runs as _merge_runs

    return _merge_runs(out, shards)


# -- stored runs ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    """A stored run: its typed spec, totals and (on demand) its report data.

    `spec`: the tournament spec as run (`TournamentSpec`; None for a reliability-mode run, whose
    stored spec is in `record.spec`); `judge`: the judge preset; `summary`: the counters of the
    last invocation (`RunSummary`), None before one finished; `usage`: totals over every
    invocation (`Store.usage`); `matches` / `verdicts`: counts by match status / outcome; `games`:
    games stored; `chosen_by`: how the reference named it ("exact id", "latest run of spec 'x'",
    "unique id prefix")."""

    record: RunRecord
    spec: TournamentSpec | None
    judge: dict
    pool: str | None
    usage: Usage
    matches: dict[str, int]
    verdicts: dict[str, int]
    db: str = ""
    games: int = 0
    chosen_by: str = "exact id"
    store: Store | None = field(default=None, repr=False, compare=False)  # the Store passed to load_run, left open

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def status(self) -> RunStatus:
        return self.record.status

    @property
    def summary(self) -> RunSummary | None:
        return self.record.summary

    def report(self, *, bootstrap: int | None = None) -> dict:
        """The run's report data (`arena.reports.build_report`): leaderboard, matrices, judge stats.
        Reads the Store `load_run` was given (left open), else opens `db` read-only and closes it."""
        from arena.reports import build_report

        store, opened = _open(self.store if self.store is not None else self.db, readonly=True)
        try:
            return build_report(store, self.run_id, bootstrap=bootstrap)
        finally:
            if opened:
                store.close()


def _run_of(store: Store, record: RunRecord, chosen_by: str, keep: bool) -> Run:
    from arena.errors import ArenaError
    from arena.tournaments.spec import spec_from_dict

    stored = record.spec
    tspec = None
    if isinstance(stored.get("spec"), dict):
        try:
            tspec = spec_from_dict(stored["spec"])
        except ArenaError:  # a spec stored by an older arena that this one no longer accepts
            tspec = None
    rid = record.run_id
    return Run(
        record, tspec, stored.get("judge") or stored.get("preset") or {}, stored.get("pool"),
        store.usage(rid), store.match_counts(rid), store.verdict_counts(rid), store.path,
        store.game_count(rid), chosen_by, store if keep else None,
    )


def load_run(run_id: str, *, db: str | Path | Store | None = None) -> Run:
    """The run `run_id` (a full id, a unique prefix, or a spec name for its latest run).

    Raises `NotFound` when the store or the run does not exist, `BadInput` when a prefix names
    several runs. A Store passed as `db` is left open (and `Run.report()` reads it)."""
    store, opened = _open(db, readonly=True)
    try:
        record, how = store.resolve_run(run_id)
        return _run_of(store, record, how, keep=not opened)
    finally:
        if opened:
            store.close()


def list_runs(*, db: str | Path | Store | None = None) -> list[Run]:
    """Every run in the store, newest first; [] when the database file does not exist yet."""
    from arena.store import Store, default_db_path

    if not isinstance(db, Store) and not Path(db if db is not None else default_db_path()).exists():
        return []
    store, opened = _open(db, readonly=True)
    try:
        return [_run_of(store, rec, "exact id", keep=not opened) for rec in store.list_runs()]
    finally:
        if opened:
            store.close()


# -- re-judging: where the variance comes from ---------------------------------------------------


def plan_rejudge(run_id: str, n: int, *, temperature: float | None = None, db: str | Path | Store | None = None):
    """Size and price re-judging `n` of a run's decided matches, before any call (nothing is written).

    Returns an `arena.replays.RejudgePlan`: matches still to judge (those already replayed under
    the same setting are free), judge calls, tokens and cost in US dollars (None when the judge
    model's price is unknown), and whether the judge is deterministic (offline, no calls).
    Raises `BadInput` for `n` outside 1..decided matches, a temperature outside 0..2 or for a
    judge kind without one, a run whose judge or pool changed since it ran; `NotFound` for an
    unknown run or store."""
    from arena.replays import _close, prepare

    store, opened = _open(db, create=False)
    try:
        prepared = prepare(store, run_id, n, temperature=temperature)
        _close(prepared.judge)
        return prepared.plan
    finally:
        if opened:
            store.close()


def rejudge(
    run_id: str,
    n: int,
    *,
    temperature: float | None = None,
    db: str | Path | Store | None = None,
    yes: bool = False,
    confirm: Callable[[Any], bool] | None = None,
):
    """Re-judge `n` of a run's decided matches to measure the judge's noise; resumable, never paying twice.

    The sample is the first `n` of a fixed permutation of the decided matches (asking for more
    later extends it). Each replay goes through the run's judge (at `temperature` when given, an
    `llm` judge only) with the call cache read and written under a replay namespace, and is
    stored in the `replays` table, apart from the run's games and verdicts (its ratings do not
    change). The report (`Run.report()`, `arena report RUN`) then shows the judge's
    self-agreement and the split of each rating's variance into prompt sampling and judge noise
    (`arena.ratings.variance_sources`).

    Like `run_tournament`, a worst-case cost above the spec's `confirm_above_usd` (or unknown for a
    paying judge) needs `yes=True` or `confirm(plan)` returning True, else `BadInput` is raised
    before any call. Returns `arena.replays.RejudgeResult` (plan, judged, failed, usage now and
    in total). Raises as `plan_rejudge`."""
    from arena.replays import _close, prepare
    from arena.replays import run as _run

    store, opened = _open(db, create=False)
    try:
        prepared = prepare(store, run_id, n, temperature=temperature)
        plan_ = prepared.plan
        worst = plan_.cost_usd_worst
        limit = load_run(plan_.run_id, db=store).spec.confirm_above_usd
        if not yes and plan_.judge_calls > 0 and (worst is None or worst > limit):
            if confirm is None or not confirm(plan_):
                _close(prepared.judge)
                money = "unknown" if worst is None else f"${worst:.4f}"
                raise naming_options(BadInput, f"rejudge: the worst-case cost {money} is above confirm_above_usd={limit}; pass <yes> to re-judge without asking", yes=("yes=True", "--yes"))
        return _run(store, prepared)
    finally:
        if opened:
            store.close()


# -- ratings and judges ---------------------------------------------------------------------------------


def fit_ratings(battles: Sequence[Battle] | BattleArrays, **options: Any) -> Leaderboard:
    """Bradley-Terry ratings on the Elo scale with clustered bootstrap intervals.

    `battles`: `Battle` records or compiled `BattleArrays`; `options` as in
    `arena.ratings.fit_ratings` (`bootstrap`, `by="prompt"|"battle"`, `ties="half"|"davidson"`,
    `level`, `seed`, `anchor`, `style`...). Returns a `Leaderboard` (`.to_records()` for dicts).
    Raises `RatingError` for options out of range or no battles. Method: Bradley-Terry (1952) by
    maximum likelihood as in Chatbot Arena's rating code, bootstrap over prompts."""
    from arena.ratings import fit_ratings as _fit_ratings

    return _fit_ratings(battles, **options)


def evaluate_judge(
    judge: str,
    pairs: str | Path,
    *,
    format: str | None = None,
    limit: int | None = None,
    db: str | Path | Store | None = None,
    concurrency: int = 16,
    no_cache: bool = False,
    replicates: int = 1000,
    seed: int = 0,
) -> dict:
    """A judge's reliability on labelled pairs (JudgeBench-style), judged in both orders.

    `judge`: a preset name or TOML path; `pairs`: a judgebench / llmbar / pandalm / native jsonl
    file (`format` detected from its keys when None), the first `limit` pairs. Games are stored in
    `db` and a second call resumes. Returns the result dict of `arena.reliability.build_result`
    (accuracy, position consistency, bias, each with a 95% bootstrap interval over `replicates`
    resamples). Raises `PairsFileError` (a `BadInput`) with `path:line` for a bad pairs file."""
    from arena.reliability import build_result, read_pairs
    from arena.reliability import evaluate_judge as _evaluate_judge

    pairset = read_pairs(Path(pairs), format, limit=limit)
    with _writing(db) as store:
        run = _evaluate_judge(judge, pairset, store=store, concurrency=concurrency, no_cache=no_cache)
    return build_result(
        pairset,
        run.games,
        judge={"name": run.judge_name, "kind": run.judge_kind, "model": run.judge_model, "description": run.judge_description},
        source="eval",
        replicates=replicates,
        seed=seed,
        time_s=run.total_elapsed_s,
        run={"name": run.run_name, "run_id": run.run_id, "judged": run.judged, "resumed": run.resumed, "db": store.path},
    )


def curate_pool(
    pool: str,
    out: str,
    *,
    size: int,
    annotator: str | Path | None = None,
    pilot: str | None = None,
    threshold: int = 6,
    balance: str = "none",
    clusters: int | None = None,
    seed: int = 0,
    embedding_model: str | None = None,
    embedding_api_base: str | None = None,
    embedding_key_env: str | None = None,
    replace: bool = False,
    no_cache: bool = False,
    db: str | Path | Store | None = None,
    on_plan: Any = None,
    on_record: Any = None,
):
    """Build pool `out` from the best prompts of pool `pool` (BenchBuilder, Li et al. 2024): an LLM
    annotator (the model of the judge preset `annotator`, kind llm) answers seven yes/no criteria
    per prompt, prompts meeting `threshold` are kept up to `size`; `pilot` (a run on `pool`) takes
    the prompts on which its models differ most first. See `arena.curate.curate_pool` for the
    options; `on_plan(CurationPlan)` runs before any call (raise to stop), `on_record` after each
    annotation. Returns `arena.curate.CurationResult`. Raises BadInput (size outside 1..pool size,
    threshold outside 0-7, ...) before any call, RunFailed (exit 3) when annotator calls fail."""
    from arena.curate import curate_pool as _curate_pool
    from arena.curate import load_annotator

    store, opened = _open(db, create=False)
    try:
        ann = load_annotator(annotator, store=store, no_cache=no_cache) if annotator else None
        return _curate_pool(
            store, pool, out, ann, size=size, threshold=threshold, n_clusters=clusters, seed=seed, balance=balance,
            embedding_model=embedding_model, embedding_api_base=embedding_api_base, embedding_key_env=embedding_key_env,
            pilot_run=pilot, replace=replace, on_plan=on_plan, on_record=on_record,
        )
    finally:
        if opened:
            store.close()


def compare_pools(
    pool_a: str,
    pool_b: str,
    run_a: str,
    run_b: str,
    *,
    reference: str | Path | None = None,
    replicates: int = 50,
    bootstrap: int = 200,
    seed: int = 0,
    db: str | Path | Store | None = None,
) -> dict:
    """Benchmark quality of two pools, each judged in one run of the same models, side by side:
    separability, agreement with confidence, Brier score, Spearman (against `reference`, a CSV
    ranking), mean CI width and that width at 1,000 judge calls, each with a 95% interval from
    `replicates` prompt resamples. See `arena.reports.pool_compare.compare_pools`."""
    from arena.reports.pool_compare import compare_pools as _compare_pools

    store, opened = _open(db, create=False)
    try:
        return _compare_pools(store, pool_a, pool_b, run_a, run_b, reference=reference, n_outer=replicates, n_boot=bootstrap, seed=seed)
    finally:
        if opened:
            store.close()
