"""The SQLite store: one file, WAL mode, a schema version; a new file's tables made by sqlite-utils.

Only this module touches SQLite. Every write that must be all-or-nothing runs in one
transaction (`with store.transaction():`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from arena.callcache import CachedCall, request_key  # noqa: F401 (request_key re-exported: the cache key lives with the protocol)
from arena.errors import BadInput, NotFound, RatingError
from arena.records import (
    SCHEMA_VERSION,
    AnnotationRow,
    BatchJob,
    Battle,
    Game,
    Lease,
    Match,
    MatchRow,
    MatchStatus,
    Output,
    PoolDigest,
    PoolInfo,
    Prompt,
    ReplayRow,
    RunRecord,
    RunStatus,
    RunSummary,
    Usage,
    Verdict,
    VerdictRow,
    battle_of,
    cached_part,
)

DEFAULT_DB = "arena.db"


def default_db_path() -> str:
    return os.environ.get("ARENA_DB") or DEFAULT_DB


SCHEMA: dict[str, tuple[dict[str, Any], list[str] | str, list[list[str]]]] = {
    # table: (columns, primary key, indexes)
    "meta": ({"key": str, "value": str}, "key", []),
    "pools": ({"pool": str, "created": float, "source": str, "format": str}, "pool", []),
    "prompts": (
        {"pool": str, "prompt_id": str, "seq": int, "text": str, "category": str, "reference": str,
         # conversations (schema 5, arena/conversations.py): JSON, NULL for a single-turn prompt
         "messages": str, "turn_references": str, "extra": str},
        ["pool", "prompt_id"],
        [],
    ),
    "outputs": (
        {"pool": str, "prompt_id": str, "model": str, "text": str, "turns": str, "extra": str},
        ["pool", "prompt_id", "model"],
        [["pool", "model", "prompt_id"]],  # schema 6: a run's streamed read in (model, prompt_id) order needs no sort
    ),
    "runs": (
        {
            "run_id": str,
            "name": str,
            "spec": str,
            "spec_hash": str,
            "seed": int,
            "status": str,
            "started": float,
            "finished": float,
            "summary": str,
        },
        "run_id",
        [["name"]],
    ),
    "matches": (
        {
            "run_id": str,
            "match_id": str,
            "prompt_id": str,
            "model_a": str,
            "model_b": str,
            "round": int,
            "status": str,
            "created": float,
        },
        ["run_id", "match_id"],
        [["run_id", "status"]],
    ),
    "games": (
        {
            "run_id": str,
            "match_id": str,
            "judge": str,
            "order": str,
            "label": str,
            "raw": str,
            "parse_status": str,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
            "latency_s": float,
            "cached": int,
            "attempts": int,
            "calls": int,
            "cached_calls": int,  # calls served from the call cache (free); schema 2
            "cached_cost_usd": float,  # their cost, included in cost_usd; schema 2
            "error": str,
            "detail": str,
            "created": float,
        },
        ["run_id", "match_id", "judge", "order"],
        [],
    ),
    "verdicts": (
        {
            "run_id": str,
            "match_id": str,
            "outcome": str,
            "strength": int,
            "consistent": int,
            "label": str,
            "created": float,
        },
        ["run_id", "match_id"],
        [],
    ),
    # one writer per run: the process executing a run holds its lease (see Store.acquire_lease)
    "leases": (
        {"run_id": str, "owner": str, "pid": int, "host": str, "since": float, "heartbeat": float},
        "run_id",
        [],
    ),
    # judge calls being made now, so a second process needing the same call waits for its answer
    "calls_in_flight": ({"key": str, "owner": str, "started": float, "deadline": float}, "key", []),
    "replays": (  # re-judged matches (arena.replays): kept apart from the run's games and verdicts
        {
            "run_id": str,
            "match_id": str,
            "setting": str,  # what the replay changed, e.g. "as run" or "temperature=0.7"
            "outcome": str,
            "strength": int,
            "consistent": int,
            "label": str,
            "games": str,  # JSON: [{order, label, raw, error}]
            "calls": int,
            "cached_calls": int,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
            "created": float,
        },
        ["run_id", "match_id", "setting"],
        [],
    ),
    "call_cache": (
        {
            "key": str,
            "model": str,
            "response": str,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
            "created": float,
        },
        "key",
        [],
    ),
    # prompt curation (arena.curate): one annotator's seven criteria per prompt, topic clusters
    "prompt_annotations": (
        {
            "pool": str,
            "prompt_id": str,
            "annotator_key": str,
            "annotator": str,
            "status": str,
            "score": int,
            "criteria": str,
            "raw": str,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
            "error": str,
            "created": float,
        },
        ["pool", "prompt_id", "annotator_key"],
        [],
    ),
    "prompt_clusters": (
        {"pool": str, "prompt_id": str, "cluster": int, "name": str, "method": str},
        ["pool", "prompt_id"],
        [],
    ),
    # Batch API jobs (arena.backends._batch; an older file gets them from migration step 4): one row
    # per job with its provider ids and state, and the call-cache keys each job answers
    "batches": (
        {
            "ref": str,  # arena's id of the job, known before anything is uploaded
            "provider": str,
            "model": str,
            "api_base": str,
            "input_file_id": str,
            "batch_id": str,
            "output_file_id": str,
            "error_file_id": str,
            "state": str,  # preparing | uploaded | submitted | ingested | failed
            "status": str,  # the provider's last status (validating, in_progress, completed, ...)
            "n_calls": int,
            "owner": str,
            "error": str,
            "created": float,
            "updated": float,
        },
        "ref",
        [["state"]],
    ),
    "batch_calls": ({"ref": str, "key": str, "error": str, "permanent": int}, ["ref", "key"], [["key"]]),
}


def _strict_dumps(obj) -> str:
    from arena.strict_json import dumps

    return dumps(obj)


class StoreError(BadInput):
    """The database file is unusable: not SQLite, damaged, unwritable, newer, or its disk is full."""


class NewerSchema(StoreError, NotFound):
    """The database was written by a newer arena (a schema version above SCHEMA_VERSION)."""


class DiskFull(StoreError):
    """The disk (or the database's size limit) is full; the transaction in progress was rolled back."""


def describe_sqlite_error(path: str, e: BaseException) -> StoreError:
    """A sqlite3 error as one line naming the file and what is wrong with it."""
    msg = str(e)
    low = msg.lower()
    code = getattr(e, "sqlite_errorcode", None)
    if "disk is full" in low or code == 13:  # SQLITE_FULL
        return DiskFull(f"the disk holding {path} is full: nothing of the last step was written; free space and run the command again")
    if "not a database" in low or "malformed" in low or code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
        return StoreError(f"{path}: not an arena database, or a damaged one (SQLite says: {msg}); point --db at another file")
    if "readonly" in low or "read-only" in low or code == 8:
        return StoreError(f"{path}: the database (or its folder) is read-only; arena needs to write next to it (its -wal file)")
    if "unable to open" in low or code == 14:
        what = "is a folder" if Path(path).is_dir() else "cannot be opened (check the folder exists and is writable)"
        return StoreError(f"{path}: {what}; --db expects an arena database file")
    if "locked" in low or "busy" in low:
        return StoreError(f"{path}: the database is locked by another process for too long; try again")
    return StoreError(f"{path}: SQLite error: {msg}")


# A judge reply at least this long is stored once, in the call cache, and the game refers to it.
BIG_RAW_CHARS = 8192

# How long a run's lease lives without a heartbeat before another process may take it over.
# The holder beats every LEASE_HEARTBEAT_S; a process killed with SIGKILL leaves a lease that
# goes stale after LEASE_STALE_S (or at once, when its pid is gone on the same host).
LEASE_HEARTBEAT_S = 10.0
LEASE_STALE_S = 60.0
# A judge call registered as in flight by another process is waited for at most this long
# past its own timeout; then it counts as abandoned and this process makes the call.
INFLIGHT_GRACE_S = 30.0


_LAST_PATH = [DEFAULT_DB]


def last_path() -> str:
    """The database file the last Store opened (for naming it in an error raised outside the store)."""
    return _LAST_PATH[0]


class _Database:
    """The store's connection: `execute` as sqlite-utils' `Database.execute`, and its table helpers
    (`db["runs"]`) on demand. sqlite-utils is imported only when a table helper is used (a new file's
    tables): its import (about 50 ms) is off the path of a run's first judge call."""

    __slots__ = ("conn", "_utils")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._utils = None

    def execute(self, sql: str, parameters=None) -> sqlite3.Cursor:
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def __getitem__(self, table: str):
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn)
        return self._utils[table]


class Store:
    """A handle on one arena database file (or `:memory:`).

    `create=False`: the file must exist (NotFound otherwise). `readonly=True` (commands that
    only read) also never writes: no folder, no file, no table is created, and a file that is
    not an arena database is a StoreError. Every SQLite failure while opening is a StoreError
    naming the file (exit 2).
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True, readonly: bool = False) -> None:
        create = create and not readonly
        path = str(path if path is not None else default_db_path())
        self.path = path
        _LAST_PATH[0] = path
        self.readonly = readonly
        self.immutable = False
        if path != ":memory:":
            p = Path(path)
            if p.is_dir():
                raise StoreError(f"{path}: is a folder; --db expects an arena database file")
            if not create and not p.exists():
                raise NotFound(f"{path}: no arena database here (run `arena pool import` or `arena tournament run` first)")
            if p.exists() and not os.access(p, os.R_OK):
                raise StoreError(f"{path}: cannot be read (permission denied)")
            if p.exists() and not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK)):
                if not readonly:
                    raise StoreError(f"{path}: the database (or its folder) is read-only; arena needs to write next to it (its -wal file)")
                self.immutable = True
            if create and not p.parent.exists():
                try:
                    p.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise StoreError(f"{path}: cannot create its folder: {e.strerror or e}") from None
        try:
            if self.immutable:
                # a read-only file or folder: no -wal/-shm can be made, so read it as immutable
                conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False, isolation_level=None)
            else:
                conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.db = _Database(conn)
            if path != ":memory:" and not create:
                self._check_arena_file()  # before any pragma that writes
            if path != ":memory:" and not self.immutable:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=10000")
            if not readonly:
                self._ensure_schema()
        except sqlite3.Error as e:
            with contextlib.suppress(Exception):
                conn.close()
            raise describe_sqlite_error(path, e) from None
        except StoreError:
            with contextlib.suppress(Exception):
                conn.close()
            raise

    # -- schema -----------------------------------------------------------------
    def _check_arena_file(self) -> None:
        """A read-only open: the file must already be an arena database of a version we read."""
        names = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in names or "runs" not in names:
            raise StoreError(f"{self.path}: an SQLite file, but not an arena database (no meta/runs tables)")
        self._check_version(self.get_meta("schema_version"))

    def _check_version(self, version: str | None) -> None:
        if version is not None and (not version.isdigit() or int(version) > SCHEMA_VERSION):
            raise NewerSchema(
                f"{self.path}: schema version {version} is newer than this arena's ({SCHEMA_VERSION}); upgrade arena"
            )

    def _ensure_schema(self) -> None:
        """A new database gets every table of SCHEMA at SCHEMA_VERSION; an older one is upgraded by
        the numbered steps of arena/migrations.py (each table it lacks is made by the step of the
        version that introduced it); a newer one is refused before anything is touched."""
        from arena.migrations import MIGRATIONS, create_pool_digests

        names = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = self.get_meta("schema_version") if "meta" in names else None
        self._check_version(version)
        if version == str(SCHEMA_VERSION):
            return  # up to date: opening writes nothing
        with self.transaction():
            has_meta = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
            version = self.get_meta("schema_version") if has_meta else None
            self._check_version(version)  # again inside the transaction: another process may have upgraded it
            if version is None:  # a new file
                for table, (columns, pk, indexes) in SCHEMA.items():
                    t = self.db[table]
                    if not t.exists():
                        t.create(columns, pk=pk)
                        for idx in indexes:
                            t.create_index(idx, if_not_exists=True)
                create_pool_digests(self.db.conn)
            else:
                for step in range(int(version) + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[step](self.db.conn)
            self.set_meta("schema_version", str(SCHEMA_VERSION))

    @property
    def schema_version(self) -> int:
        return int(self.get_meta("schema_version") or 0)

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all. Nested calls join the outer one."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself on some errors (SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.db.conn.close()

    # -- pools ------------------------------------------------------------------
    def pool_exists(self, pool: str) -> bool:
        return self.db.execute("SELECT 1 FROM pools WHERE pool = ?", [pool]).fetchone() is not None

    def pool_source(self, pool: str) -> str | None:
        """The folder or files pool `pool` was first imported from (`write_pool`'s `source`; "" when
        none was given), or None when there is no such pool."""
        row = self.db.execute("SELECT source FROM pools WHERE pool = ?", [pool]).fetchone()
        return None if row is None else (row[0] or "")

    def list_pools(self) -> list[PoolInfo]:
        """Every pool with its counts of prompts, models and answers, by name."""
        sql = """
        SELECT p.pool, p.format, p.source, p.created,
          (SELECT COUNT(*) FROM prompts q WHERE q.pool = p.pool) AS prompts,
          (SELECT COUNT(DISTINCT model) FROM outputs o WHERE o.pool = p.pool) AS models,
          (SELECT COUNT(*) FROM outputs o WHERE o.pool = p.pool) AS outputs
        FROM pools p ORDER BY p.pool
        """
        return [
            PoolInfo(r["pool"], r["format"] or "", r["source"] or "", r["created"], r["prompts"], r["models"], r["outputs"])
            for r in self._rows(sql)
        ]

    def write_pool(
        self,
        pool: str,
        prompts: Iterable[Prompt],
        outputs: Iterable[Output],
        *,
        source: str = "",
        format: str = "",
        replace: bool = False,
        prompt_extra: dict[str, dict] | None = None,
        output_extra: dict[tuple[str, str], dict] | None = None,
        digest: bool = True,
    ) -> None:
        """Write a whole pool in one transaction. Adding models to an existing pool keeps its prompts,
        its source and its format (`replace` writes a new pool).

        Conversations are stored as JSON columns (`arena.conversations.prompt_columns`/`output_columns`).
        `prompt_extra` (prompt_id -> dict) and `output_extra` ((model, prompt_id) -> dict) keep the peer
        fields a format has and the records do not (MT-Bench's answer_id, tstamp...) for a faithful export.
        `digest`: store the pool's digest in the same transaction (`arena.answers.save_digest`: one
        more streamed read of the pool); a writer adding answers in many small steps (`pool generate`)
        passes False and saves it once at the end."""
        from arena.conversations import dump_extra, output_columns, prompt_columns

        pe, oe = prompt_extra or {}, output_extra or {}
        now = time.time()
        with self.transaction():
            if replace:
                self.delete_pool(pool)
            self.db.execute(  # an existing pool keeps its source and format (adding models never relabels it)
                "INSERT OR IGNORE INTO pools (pool, created, source, format) VALUES (?, ?, ?, ?)",
                [pool, now, source, format],
            )
            start = self.db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM prompts WHERE pool = ?", [pool]).fetchone()[0]
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO prompts (pool, prompt_id, seq, text, category, reference, messages, turn_references,"
                " extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (pool, p.prompt_id, start + i, p.text, p.category, p.reference, *prompt_columns(p), dump_extra(pe.get(p.prompt_id)))
                    for i, p in enumerate(prompts)
                ),
            )
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO outputs (pool, prompt_id, model, text, turns, extra) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (pool, o.prompt_id, o.model, o.text, output_columns(o), dump_extra(oe.get((o.model, o.prompt_id))))
                    for o in outputs
                ),
            )
            if digest:
                from arena.answers import save_digest

                save_digest(self, pool)

    def delete_pool(self, pool: str) -> None:
        with self.transaction():
            for table in ("pools", "prompts", "outputs", "prompt_annotations", "prompt_clusters"):
                self.db.execute(f"DELETE FROM {table} WHERE pool = ?", [pool])

    def require_pool(self, pool: str) -> None:
        if not self.pool_exists(pool):
            known = ", ".join(p.pool for p in self.list_pools()) or "none"
            raise NotFound(f"pool {pool!r} is not in {self.path} (pools: {known})")

    def prompts(self, pool: str) -> list[Prompt]:
        self.require_pool(pool)
        from arena.conversations import prompt_of_row

        rows = self._rows(
            "SELECT prompt_id, text, category, reference, messages, turn_references FROM prompts WHERE pool = ? ORDER BY seq", [pool]
        )
        return [prompt_of_row(r) for r in rows]

    def outputs(self, pool: str, models: Iterable[str] | None = None) -> list[Output]:
        self.require_pool(pool)
        from arena.conversations import output_of_row

        rows = self._rows("SELECT prompt_id, model, text, turns FROM outputs WHERE pool = ? ORDER BY model, prompt_id", [pool])
        wanted = set(models) if models is not None else None
        return [output_of_row(r) for r in rows if wanted is None or r["model"] in wanted]

    def pool_extras(self, pool: str) -> tuple[dict[str, dict], dict[tuple[str, str], dict]]:
        """The peer fields kept at import (see `write_pool`): ({prompt_id: extra}, {(model, prompt_id): extra})."""
        self.require_pool(pool)
        pe = {r[0]: json.loads(r[1]) for r in self.db.execute(
            "SELECT prompt_id, extra FROM prompts WHERE pool = ? AND extra IS NOT NULL", [pool])}
        oe = {(r[0], r[1]): json.loads(r[2]) for r in self.db.execute(
            "SELECT model, prompt_id, extra FROM outputs WHERE pool = ? AND extra IS NOT NULL", [pool])}
        return pe, oe

    def iter_outputs(self, pool: str) -> Iterator[tuple[str, str, str, tuple[str, ...]]]:
        """(prompt_id, model, text, turns) of every answer of `pool`, in (model, prompt_id) order, read
        row by row from a cursor (memory does not grow with the pool; `arena.answers.StoredAnswers`).
        `turns`: a conversation's assistant turns, () for a single-turn answer."""
        self.require_pool(pool)
        cur = self.db.conn.execute("SELECT prompt_id, model, text, turns FROM outputs WHERE pool = ? ORDER BY model, prompt_id", [pool])
        for pid, model, text, turns in cur:
            yield pid, model, text, tuple(json.loads(turns)) if turns else ()

    def output_records(self, pool: str, prompt_id: str, models: Sequence[str]) -> dict[str, Output]:
        """model -> `Output` (turns included) of `models`' answers to one prompt: one indexed SELECT."""
        if not models:
            return {}
        from arena.conversations import output_of_row

        marks = ", ".join("?" * len(models))
        sql = f"SELECT prompt_id, model, text, turns FROM outputs WHERE pool = ? AND prompt_id = ? AND model IN ({marks})"
        return {r["model"]: output_of_row(r) for r in self._rows(sql, [pool, prompt_id, *models])}

    def output_sizes(self, pool: str) -> Iterator[tuple[str, str, int]]:
        """(prompt_id, model, UTF-8 bytes of the text) of every answer of `pool`; the texts stay in SQLite.
        A conversation's answer: the bytes of its turns' JSON (at least those of its turns)."""
        cur = self.db.conn.execute("SELECT prompt_id, model, COALESCE(length(CAST(COALESCE(turns, text) AS BLOB)), 0) FROM outputs WHERE pool = ?", [pool])
        while rows := cur.fetchmany(1000):
            yield from rows

    def output_lengths(self, pool: str) -> Iterator[tuple[str, str, int]]:
        """(prompt_id, model, characters of the text) of every answer of `pool` with a text; the texts stay in SQLite."""
        cur = self.db.conn.execute("SELECT prompt_id, model, length(text) FROM outputs WHERE pool = ? AND text IS NOT NULL", [pool])
        while rows := cur.fetchmany(1000):
            yield from rows

    def output_text(self, pool: str, prompt_id: str, model: str) -> str | None:
        """One answer's text, or None when the model has none for that prompt."""
        row = self.db.conn.execute("SELECT text FROM outputs WHERE pool = ? AND prompt_id = ? AND model = ?", [pool, prompt_id, model]).fetchone()
        return row[0] if row else None

    def output_texts(self, pool: str, prompt_id: str, models: Sequence[str]) -> dict[str, str]:
        """model -> text of `models`' answers to one prompt (missing ones left out): one indexed SELECT."""
        if not models:
            return {}
        marks = ", ".join("?" * len(models))
        sql = f"SELECT model, text FROM outputs WHERE pool = ? AND prompt_id = ? AND model IN ({marks})"
        return dict(self.db.conn.execute(sql, [pool, prompt_id, *models]).fetchall())

    def run_models(self, run_id: str) -> list[str]:
        """The models of a run's matches (either side), by name."""
        sql = "SELECT model_a FROM matches WHERE run_id = ? UNION SELECT model_b FROM matches WHERE run_id = ? ORDER BY 1"
        return [r[0] for r in self.db.execute(sql, [run_id, run_id])]

    def models(self, pool: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT model FROM outputs WHERE pool = ? ORDER BY model", [pool])]

    def prompt_ids(self, pool: str) -> list[str]:
        """The pool's prompt ids in its order (that of `prompts`)."""
        return [r[0] for r in self.db.execute("SELECT prompt_id FROM prompts WHERE pool = ? ORDER BY seq", [pool])]

    def pool_digest(self, pool: str) -> PoolDigest | None:
        """The digest stored with the pool (`arena.records.PoolDigest`), or None: none was stored,
        the pool changed since (triggers drop it), or the file predates schema 7."""
        try:
            row = self.db.execute("SELECT fingerprint, count, models, answered FROM pool_digests WHERE pool = ?", [pool]).fetchone()
        except sqlite3.OperationalError:  # an older file opened read-only: no such table
            return None
        if row is None:
            return None
        fingerprint, count, models, answered = row
        a = json.loads(answered)
        return PoolDigest(fingerprint, int(count), tuple(json.loads(models)), tuple(a["prompt_ids"]),
                          tuple(tuple(x) for x in a["sets"]), tuple(a["index"]))

    def pool_fingerprint(self, pool: str) -> str | None:
        """The fingerprint of the digest stored with the pool (`pool_digest`'s, without decoding who
        answered what), or None when none is stored."""
        try:
            row = self.db.execute("SELECT fingerprint FROM pool_digests WHERE pool = ?", [pool]).fetchone()
        except sqlite3.OperationalError:  # an older file opened read-only: no such table
            return None
        return row[0] if row else None

    def save_pool_digest(self, pool: str, digest: PoolDigest) -> None:
        """Store `digest` as the pool's (replacing an older one). Call it in the transaction that read
        the pool, so no write comes between the read and the digest."""
        answered = {"prompt_ids": list(digest.prompt_ids), "sets": [list(x) for x in digest.sets], "index": list(digest.index)}
        self.db.execute(
            "INSERT OR REPLACE INTO pool_digests (pool, fingerprint, count, models, answered, created) VALUES (?, ?, ?, ?, ?, ?)",
            [pool, digest.fingerprint, digest.count, json.dumps(list(digest.models)), json.dumps(answered, separators=(",", ":")), time.time()],
        )

    # -- prompt annotations and clusters (arena.curate) ---------------------------------------
    def write_annotation(self, pool: str, annotator_key: str, annotator: str, rec) -> None:
        """Store one `arena.curate.AnnotationRecord` (replacing an earlier one of the same annotator)."""
        criteria = None if rec.criteria is None else json.dumps({c: {"met": m, "reason": r} for c, (m, r) in rec.criteria.items()})
        self.db.execute(
            "INSERT OR REPLACE INTO prompt_annotations (pool, prompt_id, annotator_key, annotator, status, score, criteria,"
            " raw, input_tokens, output_tokens, cost_usd, error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [pool, rec.prompt_id, annotator_key, annotator, rec.status, rec.score, criteria, rec.raw,
             rec.input_tokens, rec.output_tokens, rec.cost_usd, rec.error, time.time()],
        )

    def annotations(self, pool: str, annotator_key: str | None = None) -> list[AnnotationRow]:
        """A pool's annotations (`criteria` decoded to {criterion: {met, reason}}), latest first per prompt."""
        sql = "SELECT * FROM prompt_annotations WHERE pool = ?" + (" AND annotator_key = ?" if annotator_key else "")
        rows = self._rows(sql + " ORDER BY created DESC", [pool] + ([annotator_key] if annotator_key else []))
        return [
            AnnotationRow(
                r["pool"], r["prompt_id"], r["annotator_key"], r["annotator"], r["status"], r["score"],
                json.loads(r["criteria"]) if r["criteria"] else None, r["raw"], r["input_tokens"] or 0,
                r["output_tokens"] or 0, r["cost_usd"], r["error"], r["created"],
            )
            for r in rows
        ]

    def copy_annotations(self, src: str, dst: str, annotator_key: str, prompt_ids: set[str]) -> None:
        """Copy one annotator's annotations of some prompts from pool `src` to pool `dst`."""
        with self.transaction():
            for pid in prompt_ids:
                self.db.execute(
                    "INSERT OR REPLACE INTO prompt_annotations SELECT ?, prompt_id, annotator_key, annotator, status, score,"
                    " criteria, raw, input_tokens, output_tokens, cost_usd, error, created FROM prompt_annotations"
                    " WHERE pool = ? AND prompt_id = ? AND annotator_key = ?",
                    [dst, src, pid, annotator_key],
                )

    def write_clusters(self, pool: str, method: str, rows: Iterable[tuple[str, int, str]]) -> None:
        """Replace a pool's topic clusters: (prompt_id, cluster, cluster name) rows."""
        with self.transaction():
            self.db.execute("DELETE FROM prompt_clusters WHERE pool = ?", [pool])
            self.db.conn.executemany(
                "INSERT INTO prompt_clusters (pool, prompt_id, cluster, name, method) VALUES (?, ?, ?, ?, ?)",
                ((pool, pid, c, name, method) for pid, c, name in rows),
            )

    def clusters(self, pool: str) -> dict[str, tuple[int, str]]:
        """prompt_id -> (cluster, cluster name) for a curated or clustered pool (empty otherwise)."""
        rows = self._rows("SELECT prompt_id, cluster, name FROM prompt_clusters WHERE pool = ?", [pool])
        return {r["prompt_id"]: (r["cluster"], r["name"]) for r in rows}

    # -- runs ---------------------------------------------------------------------
    def create_run(self, run_id: str, name: str, spec: dict, spec_hash: str, seed: int) -> None:
        self.db.execute(
            "INSERT INTO runs (run_id, name, spec, spec_hash, seed, status, started, finished, summary)"
            " VALUES (?, ?, ?, ?, ?, 'running', ?, NULL, NULL)",
            [run_id, name, json.dumps(spec, sort_keys=True), spec_hash, seed, time.time()],
        )

    def get_run(self, run_id: str) -> RunRecord:
        """The run `run_id` names (see `resolve_run`)."""
        return self.resolve_run(run_id)[0]

    def resolve_run(self, ref: str) -> tuple[RunRecord, str]:
        """The run a `RUN` argument names, and how it was chosen: an exact run id; else a spec name
        (its latest run); else a unique run-id prefix. Raises `NotFound` when nothing matches and
        `BadInput` when a prefix is ambiguous, listing the candidates (never picks another spec's run),
        or when `ref` is blank."""
        from arena.names import require_name

        require_name(ref, "a run id or spec name", ("run", "RUN"))
        rows = self._rows("SELECT * FROM runs WHERE run_id = ?", [ref])
        if rows:
            return _run_record(rows[0]), "exact id"
        named = self._rows("SELECT * FROM runs WHERE name = ? ORDER BY started DESC, rowid DESC LIMIT 1", [ref])
        if named:
            return _run_record(named[0]), f"latest run of spec {ref!r}"
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._rows("SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY started DESC", [escaped + "%"])
        # a prefix must reach past the run's spec name: `surr-adaptive` is not a prefix of the runs of `surr-adaptive3`
        near = [r for r in rows if len(ref) <= len(r["name"])]
        rows = [r for r in rows if len(ref) > len(r["name"])]
        if len(rows) == 1:
            return _run_record(rows[0]), "unique id prefix"
        if near and not rows:
            names = ", ".join(sorted({r["name"] for r in near}))
            raise NotFound(f"run {ref!r} is not in {self.path}: no run id or spec name {ref!r} (specs with runs that start so: {names})")
        if rows:
            shown = ", ".join(r["run_id"] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise BadInput(f"RUN {ref!r}: the prefix matches {len(rows)} runs ({shown}); give more of the id, or a spec name")
        raise NotFound(f"run {ref!r} is not in {self.path}: no run id, id prefix or spec name matches (see `arena tournament list`)")

    def find_resumable_run(self, name: str, spec_hash: str) -> RunRecord | None:
        """The latest run of spec `name` with identity `spec_hash` (the one a new invocation resumes), or None."""
        rows = self._rows(
            "SELECT * FROM runs WHERE name = ? AND spec_hash = ? ORDER BY started DESC LIMIT 1", [name, spec_hash]
        )
        return _run_record(rows[0]) if rows else None

    def new_run_id(self, name: str, ident: str) -> str:
        """`<name>-<UTC stamp>-<ident[:6]>`, with `-2`, `-3`... added while such a run exists."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        run_id = base = f"{name}-{stamp}-{ident[:6]}"
        n = 1
        while self.run_exists(run_id):
            n += 1
            run_id = f"{base}-{n}"
        return run_id

    def run_exists(self, run_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is not None

    def list_runs(self) -> list[RunRecord]:
        """Every run in the store, newest first."""
        return [_run_record(r) for r in self._rows("SELECT * FROM runs ORDER BY started DESC")]

    def set_run_status(self, run_id: str, status: str, summary: dict | None = None) -> None:
        finished = time.time() if RunStatus(status).finished else None
        self.db.execute(
            "UPDATE runs SET status = ?, finished = ?, summary = COALESCE(?, summary) WHERE run_id = ?",
            [status, finished, _strict_dumps(summary) if summary is not None else None, run_id],
        )

    # -- matches, games, verdicts ------------------------------------------------------
    def add_matches(self, run_id: str, matches: Iterable[Match], status: str = "pending") -> None:
        now = time.time()
        with self.transaction():  # one commit, not one per row (50,000 matches: 7 s -> 0.1 s)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO matches (run_id, match_id, prompt_id, model_a, model_b, round, status, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((run_id, m.match_id, m.prompt_id, m.model_a, m.model_b, m.round, status, now) for m in matches),
            )

    def matches(self, run_id: str) -> list[MatchRow]:
        """A run's matches with their status, in the order they were released."""
        return [
            MatchRow(r["run_id"], r["match_id"], r["prompt_id"], r["model_a"], r["model_b"], int(r["round"] or 0), MatchStatus(r["status"]))
            for r in self._rows("SELECT * FROM matches WHERE run_id = ? ORDER BY created, match_id", [run_id])
        ]

    def set_match_status(self, run_id: str, match_id: str, status: str) -> None:
        self.db.execute("UPDATE matches SET status = ? WHERE run_id = ? AND match_id = ?", [status, run_id, match_id])

    _GAME_COLUMNS = (
        "run_id", "match_id", "judge", "order", "label", "raw", "parse_status", "input_tokens", "output_tokens",
        "cost_usd", "latency_s", "cached", "attempts", "calls", "cached_calls", "cached_cost_usd", "error", "detail", "created",
    )
    _GAME_SQL = f"INSERT OR REPLACE INTO games ({', '.join(f'[{c}]' for c in _GAME_COLUMNS)}) VALUES ({', '.join('?' * len(_GAME_COLUMNS))})"

    def record_games(self, run_id: str, games: Iterable[Game]) -> None:
        """One executemany for a match's games (this is on the judge path's hot loop)."""
        now = time.time()
        rows = [
            (
                run_id, g.match_id, g.judge, g.order, g.label, self._raw_once(g), g.parse_status, g.input_tokens, g.output_tokens,
                g.cost_usd, g.latency_s, int(g.cached), g.attempts, g.calls, *cached_part(g), g.error,
                json.dumps(g.detail) if g.detail else None, now,
            )
            for g in games
        ]
        if rows:
            self.db.conn.executemany(self._GAME_SQL, rows)

    def _raw_once(self, g: Game) -> str | None:
        """A big reply already in the call cache (`detail.raw_call` names its key) is stored there
        only: the game keeps NULL and `games()` reads it back (a 2 MB reply is not stored twice)."""
        key = g.detail.get("raw_call") if isinstance(g.detail, dict) else None
        if key is None or len(g.raw or "") < BIG_RAW_CHARS:
            return g.raw
        row = self.db.execute("SELECT response = ? FROM call_cache WHERE key = ?", [g.raw, key]).fetchone()
        return None if row is not None and row[0] else g.raw

    def record_verdict(self, run_id: str, verdict: Verdict, games: Iterable[Game] = ()) -> None:
        """Store a match's games and its verdict together, and mark the match decided."""
        with self.transaction():
            self.record_games(run_id, games)
            self.db.execute(
                "INSERT OR REPLACE INTO verdicts (run_id, match_id, outcome, strength, consistent, label, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    verdict.match_id,
                    verdict.outcome,
                    verdict.strength,
                    None if verdict.consistent is None else int(verdict.consistent),
                    verdict.label,
                    time.time(),
                ],
            )
            self.set_match_status(run_id, verdict.match_id, "error" if verdict.outcome == "unresolved" else "done")

    def record_verdicts(self, run_id: str, decided: Iterable[tuple[Verdict, list[Game]]]) -> None:
        """`record_verdict` for many matches at once (imports): one transaction, executemany."""
        now = time.time()
        decided = list(decided)
        with self.transaction():
            self.record_games(run_id, [g for _, gs in decided for g in gs])
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO verdicts (run_id, match_id, outcome, strength, consistent, label, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, v.match_id, v.outcome, v.strength, None if v.consistent is None else int(v.consistent), v.label, now)
                    for v, _ in decided
                ],
            )
            self.db.conn.executemany(
                "UPDATE matches SET status = ? WHERE run_id = ? AND match_id = ?",
                [("error" if v.outcome == "unresolved" else "done", run_id, v.match_id) for v, _ in decided],
            )

    def game_details(self, run_id: str, containing: str) -> list[tuple[str, str]]:
        """(match_id, detail JSON text) of a run's games whose detail contains `containing`
        (a cheap pre-filter for the few games that carry a key such as a row weight)."""
        sql = "SELECT match_id, detail FROM games WHERE run_id = ? AND instr(detail, ?) > 0 ORDER BY created, match_id"
        return [(r[0], r[1]) for r in self.db.execute(sql, [run_id, containing]).fetchall()]

    def game_times(self, run_id: str) -> dict[tuple[str, str, str], float]:
        """{(match_id, judge, order): the Unix time the game was stored} for a run's games."""
        rows = self.db.execute("SELECT match_id, judge, [order], created FROM games WHERE run_id = ?", [run_id]).fetchall()
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    def match_judges(self, run_id: str) -> dict[str, str]:
        """The judge named by each match's games (the AB game's where both were played); a match judged
        turn by turn (games `judge@turnN`) names the judge without the turn."""
        from arena.judges._conversation import judge_of_turns

        cur = self.db.execute("SELECT match_id, judge FROM games WHERE run_id = ? ORDER BY [order] DESC", [run_id])
        names: dict[str, str] = {}  # one string per judge name
        return {mid: names.setdefault(j, judge_of_turns(j)) for mid, j in cur}

    def judge_names(self, run_id: str) -> set[str]:
        """The judges named by a run's games (`match_judges`' values), without reading every game."""
        from arena.judges._conversation import judge_of_turns

        return {judge_of_turns(r[0]) for r in self.db.execute("SELECT DISTINCT judge FROM games WHERE run_id = ?", [run_id])}

    def games(self, run_id: str) -> list[Game]:
        """A run's stored games as `Game` records (detail parsed, usage from its columns), in the
        order they were written; a big reply stored once in the call cache is read back from there."""
        return list(self.iter_games(run_id))

    def iter_games(self, run_id: str, match_ids: Sequence[str] | None = None) -> Iterator[Game]:
        """`games`, read from a cursor one batch at a time (a report of 450,000 matches never holds
        them all); `match_ids`: only those matches' games."""
        where, params = "g.run_id = ?", [run_id]
        if match_ids is not None:
            if not match_ids:
                return
            where += f" AND g.match_id IN ({', '.join('?' * len(match_ids))})"
            params += list(match_ids)
        cur = self.db.conn.execute(
            "SELECT g.*, c.response AS _cached_raw FROM games g LEFT JOIN call_cache c"
            " ON g.raw IS NULL AND g.detail IS NOT NULL AND c.key = json_extract(g.detail, '$.raw_call')"
            f" WHERE {where} ORDER BY g.created",
            params,
        )
        cols = [d[0] for d in cur.description]
        while rows := cur.fetchmany(2000):
            for row in rows:
                r = dict(zip(cols, row))
                raw = r["raw"] if r["raw"] is not None else r["_cached_raw"]
                detail = r["detail"]
                try:
                    detail = json.loads(detail) if detail else {}
                except ValueError:
                    detail = {}
                yield Game(
                    r["match_id"], _interned(r["judge"]), _interned(r["order"]), _interned(r["label"]), raw or "",
                    _interned(r["parse_status"] or "ok"), r["input_tokens"] or 0, r["output_tokens"] or 0, r["cost_usd"],
                    r["latency_s"] or 0.0, bool(r["cached"]), 1 if r["attempts"] is None else r["attempts"],
                    1 if r["calls"] is None else r["calls"], r["error"], detail if isinstance(detail, dict) else {},
                    int(r["cached_calls"] or 0), float(r["cached_cost_usd"] or 0.0),
                )

    def verdict_records(self, run_id: str) -> list[Verdict]:
        """A run's stored verdicts as `Verdict` records, in the order they were decided."""
        return [
            Verdict(r["match_id"], r["outcome"], r["strength"], None if r["consistent"] is None else bool(r["consistent"]), r["label"])
            for r in self._rows("SELECT * FROM verdicts WHERE run_id = ? ORDER BY created, match_id", [run_id])
        ]

    def decided(self, run_id: str) -> Iterator[tuple[Match, Verdict]]:
        """A run's matches with their verdicts (every outcome), in match-id order (see `verdicts`), streamed."""
        for v in self.iter_verdicts(run_id):
            yield v.match, v.verdict

    def battles(self, run_id: str, *, strong_weight: float = 3.0, forfeit: str = "loss") -> list[Battle]:
        """A run's decided matches as rating observations (`records.battle_of`): what the ratings take.
        `forfeit`: "loss" (a forfeit is a battle lost by the side without an answer) or "skip"."""
        if forfeit not in ("loss", "skip"):
            raise RatingError(f"forfeit must be 'loss' or 'skip', got {forfeit!r}")
        out = []
        for m, v in self.decided(run_id):
            if v.outcome not in ("a", "b", "tie", "unresolved") and not v.outcome.startswith("forfeit"):
                raise RatingError(f"verdict {m.match_id}: unknown outcome {v.outcome!r}")
            b = battle_of(m, v, strong_weight=strong_weight, forfeit=forfeit)
            if b is not None:
                out.append(b)
        return out

    def verdicts(self, run_id: str) -> list[VerdictRow]:
        """A run's verdicts with their matches, in match-id order: ratings, reports and exports read
        the same battles in the same order however the verdicts arrived (concurrency, a resume,
        shards merged by `arena.merge`), so the same verdicts give bit-for-bit the same leaderboard."""
        return list(self.iter_verdicts(run_id))

    def iter_verdicts(self, run_id: str) -> Iterator[VerdictRow]:
        """`verdicts`, read from a cursor one batch at a time; the prompt, model, outcome and label
        strings are interned (a run of 450,000 matches repeats ten model names, not 900,000 copies)."""
        sql = """
        SELECT v.match_id, m.prompt_id, m.model_a, m.model_b, m.round, v.outcome, v.strength, v.consistent, v.label
        FROM verdicts v JOIN matches m ON m.run_id = v.run_id AND m.match_id = v.match_id
        WHERE v.run_id = ? ORDER BY v.match_id
        """
        cur = self.db.conn.execute(sql, [run_id])
        while rows := cur.fetchmany(2000):
            for r in rows:
                yield VerdictRow(r[0], _interned(r[1]), _interned(r[2]), _interned(r[3]), int(r[4] or 0), _interned(r[5]), int(r[6] or 0),
                                 None if r[7] is None else bool(r[7]), _interned(r[8]))

    def match_counts(self, run_id: str) -> dict[str, int]:
        """{match status: count} of a run."""
        return dict(self.db.execute("SELECT status, COUNT(*) FROM matches WHERE run_id = ? GROUP BY status", [run_id]).fetchall())

    def verdict_counts(self, run_id: str) -> dict[str, int]:
        """{verdict outcome: count} of a run (`unresolved`: failed after retries)."""
        return dict(self.db.execute("SELECT outcome, COUNT(*) FROM verdicts WHERE run_id = ? GROUP BY outcome", [run_id]).fetchall())

    def game_count(self, run_id: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM games WHERE run_id = ?", [run_id]).fetchone()[0]

    def usage(self, run_id: str) -> Usage:
        """The run's totals over all its stored games: the one place totals are computed.

        Calls answered from the call cache (whole cached games, or the cached part of a
        network's / panel's game named in its detail) count as `cached_calls`, not paid; cost is
        that of the paid calls, None when any game's price is unknown."""
        g = self.db.execute(
            "SELECT SUM(calls - cached_calls), SUM(cached_calls), SUM(input_tokens), SUM(output_tokens),"
            " SUM(cost_usd - cached_cost_usd), SUM(cost_usd IS NULL) FROM games WHERE run_id = ?",
            [run_id],
        ).fetchone()
        return Usage(g[0] or 0, g[1] or 0, g[2] or 0, g[3] or 0, None if g[5] else max(0.0, g[4] or 0.0))

    # -- replays (re-judged matches) ---------------------------------------------------------
    def record_replay(self, run_id: str, setting: str, verdict: Verdict, games: Iterable[Game]) -> None:
        """Keep one re-judged match's verdict and games; the run's own games and verdicts are untouched."""
        games = list(games)
        u = sum((g.usage for g in games), Usage())
        self.db.execute(
            "INSERT OR REPLACE INTO replays (run_id, match_id, setting, outcome, strength, consistent, label, games, calls,"
            " cached_calls, input_tokens, output_tokens, cost_usd, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id, verdict.match_id, setting, verdict.outcome, verdict.strength,
                None if verdict.consistent is None else int(verdict.consistent), verdict.label,
                json.dumps([{"order": g.order, "label": g.label, "raw": g.raw, "error": g.error} for g in games]),
                u.calls, u.cached_calls, u.input_tokens, u.output_tokens, u.cost_usd, time.time(),
            ],
        )

    def replays(self, run_id: str, setting: str | None = None) -> list[ReplayRow]:
        """A run's re-judged matches (with the match's prompt and models), oldest first; one `setting` or all."""
        sql = """
        SELECT r.*, m.prompt_id, m.model_a, m.model_b FROM replays r
        JOIN matches m ON m.run_id = r.run_id AND m.match_id = r.match_id
        WHERE r.run_id = ?""" + (" AND r.setting = ?" if setting is not None else "") + " ORDER BY r.created, r.match_id"
        return [
            ReplayRow(
                r["run_id"], r["match_id"], r["setting"], r["prompt_id"], r["model_a"], r["model_b"], r["outcome"],
                int(r["strength"] or 0), None if r["consistent"] is None else bool(r["consistent"]), r["label"],
                json.loads(r["games"]) if r["games"] else [],
                Usage(r["calls"] or 0, r["cached_calls"] or 0, r["input_tokens"] or 0, r["output_tokens"] or 0, r["cost_usd"]),
            )
            for r in self._rows(sql, [run_id] + ([setting] if setting is not None else []))
        ]

    def replay_usage(self, run_id: str, setting: str | None = None) -> Usage:
        """Calls, tokens and cost of a run's replays (never part of `usage`, the run's own totals)."""
        return sum((r.usage for r in self.replays(run_id, setting)), Usage())

    # -- call cache --------------------------------------------------------------------
    def cache_get(self, key: str) -> CachedCall | None:
        """The kept completion of request `key` (`arena.callcache.CallCache`), or None."""
        rows = self._rows("SELECT * FROM call_cache WHERE key = ?", [key])
        if not rows:
            return None
        r = rows[0]
        return CachedCall(r["key"], r["model"] or "", r["response"] or "", r["input_tokens"] or 0, r["output_tokens"] or 0, r["cost_usd"])

    def cache_put(
        self, key: str, model: str, response: str, input_tokens: int, output_tokens: int, cost_usd: float | None
    ) -> None:
        with self.transaction():
            old = self.db.execute("SELECT response FROM call_cache WHERE key = ?", [key]).fetchone()
            if old is not None and old[0] != response:  # games that refer to the old answer keep it
                self.db.execute(
                    "UPDATE games SET raw = ? WHERE raw IS NULL AND instr(detail, ?) > 0", [old[0], f'"raw_call": "{key}"']
                )
            self.db.execute(
                "INSERT OR REPLACE INTO call_cache (key, model, response, input_tokens, output_tokens, cost_usd, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [key, model, response, input_tokens, output_tokens, cost_usd, time.time()],
            )

    # -- leases: one writer per run ---------------------------------------------------------
    def acquire_lease(self, run_id: str, owner: str, *, now: float | None = None) -> Lease | None:
        """Take run `run_id`'s lease for `owner` (`pid@host`); returns None when taken, else the
        live holder's `Lease`. A lease whose heartbeat is older
        than LEASE_STALE_S, or whose process is gone on this host, is stale and taken over."""
        import socket

        now = time.time() if now is None else now
        pid, host = os.getpid(), socket.gethostname()
        with self.transaction():
            rows = self._rows("SELECT * FROM leases WHERE run_id = ?", [run_id])
            held = Lease(**rows[0]) if rows else None
            if held is not None and held.owner != owner and not _lease_stale(held, now):
                return held
            self.db.execute(
                "INSERT OR REPLACE INTO leases (run_id, owner, pid, host, since, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, owner, pid, host, now, now],
            )
        return None

    def heartbeat(self, run_id: str, owner: str) -> bool:
        """Refresh the lease; False when it is no longer ours (taken over after going stale)."""
        cur = self.db.execute("UPDATE leases SET heartbeat = ? WHERE run_id = ? AND owner = ?", [time.time(), run_id, owner])
        return cur.rowcount == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        self.db.execute("DELETE FROM leases WHERE run_id = ? AND owner = ?", [run_id, owner])

    # -- calls in flight across processes ----------------------------------------------------------
    def claim_call(self, key: str, owner: str, timeout_s: float) -> bool:
        """Register call `key` as being made by `owner` (`pid@host:tag`); False when another owner
        has it and is alive: its process runs (`owner_gone`: a dead pid on this host frees the
        claim at once) and its deadline, `timeout_s` plus INFLIGHT_GRACE_S after it started, has
        not passed (the only test for an owner on another host)."""
        now = time.time()
        with self.transaction():
            row = self.db.execute("SELECT owner, deadline FROM calls_in_flight WHERE key = ?", [key]).fetchone()
            if row is not None and row[0] != owner and row[1] > now and not owner_gone(row[0]):
                return False
            self.db.execute(
                "INSERT OR REPLACE INTO calls_in_flight (key, owner, started, deadline) VALUES (?, ?, ?, ?)",
                [key, owner, now, now + timeout_s + INFLIGHT_GRACE_S],
            )
        return True

    def call_in_flight(self, key: str) -> bool:
        row = self.db.execute("SELECT deadline FROM calls_in_flight WHERE key = ?", [key]).fetchone()
        return row is not None and row[0] > time.time()

    def release_call(self, key: str, owner: str) -> None:
        self.db.execute("DELETE FROM calls_in_flight WHERE key = ? AND owner = ?", [key, owner])

    def release_abandoned_calls(self) -> int:
        """Drop every claim on a call in flight whose owner is gone (`owner_gone`: a process
        killed outright, SIGKILL or a crash, on this host) or whose deadline has passed; returns
        how many. A resumed run calls it first: the killed run's calls are asked again at once
        (their answers never reached the cache) instead of after their deadlines."""
        now = time.time()
        with self.transaction():
            rows = self.db.execute("SELECT key, owner, deadline FROM calls_in_flight").fetchall()
            dead = [(k, o) for k, o, deadline in rows if deadline <= now or owner_gone(o)]
            self.db.conn.executemany("DELETE FROM calls_in_flight WHERE key = ? AND owner = ?", dead)
        return len(dead)

    def cache_forget(self, key: str) -> None:
        """Drop one cached answer (a reply that was no verdict must be asked again, not replayed)."""
        self.db.execute("DELETE FROM call_cache WHERE key = ?", [key])

    # -- Batch API jobs (arena.backends._batch; tables from migration v3) -------------------------
    LIVE_BATCH_STATES = ("preparing", "uploaded", "submitted")

    def batch_claim(self, ref: str, owner: str, keys: list[str], *, provider: str, model: str, api_base: str | None) -> list[str]:
        """Record a new batch job `ref` (state `preparing`) for the keys of `keys` that no live job
        (preparing, uploaded or submitted) holds yet, in one transaction; returns those keys, in order.
        Two processes needing the same call therefore never both submit it."""
        now = time.time()
        with self.transaction():
            held = set(self.batch_jobs_holding(keys))
            free = [k for k in dict.fromkeys(keys) if k not in held]
            if free:
                self.db.execute(
                    "INSERT INTO batches (ref, provider, model, api_base, state, n_calls, owner, created, updated)"
                    " VALUES (?, ?, ?, ?, 'preparing', ?, ?, ?, ?)",
                    [ref, provider, model, api_base, len(free), owner, now, now],
                )
                self.db.conn.executemany("INSERT INTO batch_calls (ref, key) VALUES (?, ?)", [(ref, k) for k in free])
        return free

    def batch_update(self, ref: str, **fields) -> None:
        """Set columns of batch job `ref` (input_file_id, batch_id, state, status, ...)."""
        fields = {"updated": time.time(), **fields}
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE batches SET {cols} WHERE ref = ?", [*fields.values(), ref])

    def batch_jobs_holding(self, keys: Iterable[str]) -> dict[str, BatchJob]:
        """key -> the live batch job (a row of `batches`) that holds it, for the keys of `keys` held."""
        keys = list(keys)
        out: dict[str, BatchJob] = {}
        marks = ", ".join("?" for _ in self.LIVE_BATCH_STATES)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            sql = (
                f"SELECT c.key AS call_key, b.* FROM batch_calls c JOIN batches b ON b.ref = c.ref"
                f" WHERE b.state IN ({marks}) AND c.key IN ({', '.join('?' for _ in chunk)})"
            )
            for row in self._rows(sql, [*self.LIVE_BATCH_STATES, *chunk]):
                key = row.pop("call_key")
                out[key] = BatchJob(**row)
        return out

    def batch_job(self, ref: str) -> BatchJob | None:
        rows = self._rows("SELECT * FROM batches WHERE ref = ?", [ref])
        return BatchJob(**rows[0]) if rows else None

    def batch_jobs(self) -> list[BatchJob]:
        """Every batch job, oldest first."""
        return [BatchJob(**r) for r in self._rows("SELECT * FROM batches ORDER BY created, ref")]

    def batch_keys(self, ref: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT key FROM batch_calls WHERE ref = ? ORDER BY rowid", [ref])]

    def batch_finish(self, ref: str, answers: Iterable[tuple], errors: Iterable[tuple[str, str, bool]], *, state: str, status: str | None) -> None:
        """Ingest a finished batch in one transaction: each answer `(key, model, text, input_tokens,
        output_tokens, cost_usd)` into the call cache, each failed line's `(key, error, permanent)`
        beside its key, and the job's `state` (ingested or failed) and provider `status`."""
        with self.transaction():
            for key, model, text, tin, tout, cost in answers:
                self.cache_put(key, model, text, tin, tout, cost)
            self.db.conn.executemany(
                "UPDATE batch_calls SET error = ?, permanent = ? WHERE ref = ? AND key = ?",
                [(err, int(perm), ref, key) for key, err, perm in errors],
            )
            self.batch_update(ref, state=state, status=status)

    def batch_drop(self, ref: str) -> None:
        """Forget a job that never reached the provider (a `preparing` job of a process that died)."""
        with self.transaction():
            self.db.execute("DELETE FROM batch_calls WHERE ref = ?", [ref])
            self.db.execute("DELETE FROM batches WHERE ref = ?", [ref])

    # -- merging stores (arena.merge: shards of one tournament into one run) -----------------------
    def columns(self, table: str) -> list[str]:
        """The column names of `table` in this file (its schema version decides which)."""
        return [r[1] for r in self.db.execute(f"PRAGMA table_info([{table}])").fetchall()]

    def copy_rows(self, src: Store, table: str, where: dict[str, Any], *, set_values: dict[str, Any] | None = None, ignore: bool = False) -> int:
        """Copy the rows of `src`'s `table` whose columns equal `where` into this store, with the
        columns in `set_values` replaced (a run id); columns this file lacks are left out. `ignore`:
        a row whose key is already here is kept as it is (INSERT OR IGNORE), else it is an error
        (sqlite3.IntegrityError). Returns the rows read. Streams: any number of rows."""
        if table not in SCHEMA:
            raise ValueError(f"not an arena table: {table!r}")
        mine = set(self.columns(table))
        cols = [c for c in src.columns(table) if c in mine]
        set_values = set_values or {}
        cond = " AND ".join(f"[{k}] = ?" for k in where) or "1"
        cur = src.db.execute(f"SELECT {', '.join(f'[{c}]' for c in cols)} FROM [{table}] WHERE {cond}", list(where.values()))
        repl = {i: set_values[c] for i, c in enumerate(cols) if c in set_values}
        sql = f"INSERT {'OR IGNORE ' if ignore else ''}INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) VALUES ({', '.join('?' * len(cols))})"
        n = 0
        with self.transaction():
            while rows := cur.fetchmany(5000):
                if repl:
                    rows = [tuple(repl[i] if i in repl else v for i, v in enumerate(r)) for r in rows]
                self.db.conn.executemany(sql, rows)
                n += len(rows)
        return n

    def inline_foreign_raw(self, run_id: str, src: Store) -> int:
        """Games of `run_id` copied from `src` whose big reply lives in the call cache (`raw` NULL,
        `detail.raw_call` its key): where this store's cache holds another answer under that key (or
        none), the reply `src` holds is written into the game itself. Returns the games changed."""
        rows = self.db.execute(
            "SELECT match_id, judge, [order], json_extract(detail, '$.raw_call') FROM games"
            " WHERE run_id = ? AND raw IS NULL AND detail IS NOT NULL AND json_extract(detail, '$.raw_call') IS NOT NULL",
            [run_id],
        ).fetchall()
        n = 0
        for match_id, judge, order, key in rows:
            theirs = src.cache_get(key)
            mine = self.cache_get(key)
            if theirs is not None and (mine is None or mine["response"] != theirs["response"]):
                self.db.execute(
                    "UPDATE games SET raw = ? WHERE run_id = ? AND match_id = ? AND judge = ? AND [order] = ?",
                    [theirs["response"], run_id, match_id, judge, order],
                )
                n += 1
        return n

    def create_run_record(self, record: RunRecord, summary: dict | None) -> None:
        """Write a whole run row at once (a merged run: its status, times and summary are known)."""
        self.db.execute(
            "INSERT INTO runs (run_id, name, spec, spec_hash, seed, status, started, finished, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.run_id, record.name, json.dumps(record.spec, sort_keys=True), record.spec_hash, record.seed, str(record.status),
                record.started, record.finished, _strict_dumps(summary) if summary is not None else None,
            ],
        )

    # -- helpers -------------------------------------------------------------------------
    def _rows(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.db.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def _interned(value):
    """A repeated string of a row (a model, prompt id, outcome, label) as one shared object."""
    return sys.intern(value) if type(value) is str else value


def _lease_stale(lease: Lease, now: float) -> bool:
    if now - (lease.heartbeat or 0) > LEASE_STALE_S:
        return True
    return bool(lease.pid) and _process_gone(str(lease.pid), lease.host or "")


def owner_gone(owner: str) -> bool:
    """Whether the process named by `owner` (`pid@host` or `pid@host:tag`, as `Runner.owner` and
    `Backend.owner` write it) is certainly gone: `host` is this machine and no process has `pid`
    (`os.kill(pid, 0)` raises ProcessLookupError). False for another host, an owner of another
    shape, or a pid that exists (perhaps reused: the caller then falls back on a deadline)."""
    pid, _, rest = owner.partition("@")
    return _process_gone(pid, rest.split(":", 1)[0])


def _process_gone(pid: str, host: str) -> bool:
    import socket

    if not pid.isdigit() or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


def _run_record(r: dict) -> RunRecord:
    """A `runs` row (spec and summary as stored JSON text) as a typed record."""
    spec = json.loads(r["spec"]) if r.get("spec") else {}
    summary = json.loads(r["summary"]) if r.get("summary") else None
    return RunRecord(
        r["run_id"], r["name"], spec, r["spec_hash"], int(r["seed"] or 0), RunStatus(r["status"]),
        r["started"], r["finished"], RunSummary.from_dict(summary) if isinstance(summary, dict) else None,
    )
