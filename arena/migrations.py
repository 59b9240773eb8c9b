"""Schema migrations of the arena database, one function per version step, run by `Store` on open.

`MIGRATIONS[n]` upgrades a database of schema version n - 1 to n inside the transaction that
opens the store, so a failed migration leaves the file as it was. A database newer than
`SCHEMA_VERSION` is refused with one line. (The layout follows sqlite-utils' migrations: explicit
numbered steps, each tested on a file made by the release before it.)
"""

from __future__ import annotations

import json
from collections.abc import Callable


def _columns(db, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info([{table}])").fetchall()}


def v1_to_v2(db) -> None:
    """Usage as columns: `games.cached_calls` and `games.cached_cost_usd` (calls of a game served
    by the call cache and their cost), filled from the `cached` flag and the `detail` JSON that
    version 1 kept them in."""
    have = _columns(db, "games")
    if "cached_calls" not in have:
        db.execute("ALTER TABLE games ADD COLUMN cached_calls INTEGER NOT NULL DEFAULT 0")
    if "cached_cost_usd" not in have:
        db.execute("ALTER TABLE games ADD COLUMN cached_cost_usd FLOAT NOT NULL DEFAULT 0")
    rows = db.execute(
        "SELECT rowid, cached, calls, cost_usd, detail FROM games WHERE cached != 0 OR instr(detail, 'cached_c') > 0"
    ).fetchall()
    updates = []
    for rowid, cached, calls, cost, detail in rows:
        if cached:  # every call of the game was served from the cache
            updates.append((int(calls or 0), float(cost or 0.0), rowid))
            continue
        try:
            d = json.loads(detail) if detail else {}
        except ValueError:
            d = {}
        d = d if isinstance(d, dict) else {}
        updates.append((int(d.get("cached_calls") or 0), float(d.get("cached_cost_usd") or 0.0), rowid))
    db.executemany("UPDATE games SET cached_calls = ?, cached_cost_usd = ? WHERE rowid = ?", updates)


# The tables version 2 releases created on open when missing (added after schema 2 without a
# version step), as they were when version 3 made them a step. Frozen here: a later version changes
# them by its own step, never by editing this one.
V3_TABLES: dict[str, str] = {
    "leases": "run_id TEXT PRIMARY KEY, owner TEXT, pid INTEGER, host TEXT, since FLOAT, heartbeat FLOAT",
    "calls_in_flight": "key TEXT PRIMARY KEY, owner TEXT, started FLOAT, deadline FLOAT",
    "replays": (
        "run_id TEXT, match_id TEXT, setting TEXT, outcome TEXT, strength INTEGER, consistent INTEGER, label TEXT,"
        " games TEXT, calls INTEGER, cached_calls INTEGER, input_tokens INTEGER, output_tokens INTEGER, cost_usd FLOAT,"
        " created FLOAT, PRIMARY KEY (run_id, match_id, setting)"
    ),
    "prompt_annotations": (
        "pool TEXT, prompt_id TEXT, annotator_key TEXT, annotator TEXT, status TEXT, score INTEGER, criteria TEXT,"
        " raw TEXT, input_tokens INTEGER, output_tokens INTEGER, cost_usd FLOAT, error TEXT, created FLOAT,"
        " PRIMARY KEY (pool, prompt_id, annotator_key)"
    ),
    "prompt_clusters": "pool TEXT, prompt_id TEXT, cluster INTEGER, name TEXT, method TEXT, PRIMARY KEY (pool, prompt_id)",
}


def v2_to_v3(db) -> None:
    """Every table by a version step: the run leases, the registry of calls in flight, re-judged
    matches (`replays`) and prompt curation (`prompt_annotations`, `prompt_clusters`), which version 2
    releases created on open when missing, are created here (kept when a later v2 release made
    them). `games.detail` keeps only each judge kind's explanation: the `cached_calls` /
    `cached_cost_usd` keys version 2 still wrote there (beside its columns) are removed."""
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    for table, columns in V3_TABLES.items():
        if table not in names:
            db.execute(f"CREATE TABLE [{table}] ({columns})")
    db.execute(
        "UPDATE games SET detail = NULLIF(json_remove(detail, '$.cached_calls', '$.cached_cost_usd'), '{}')"
        " WHERE json_valid(detail) AND (instr(detail, '\"cached_calls\"') > 0 OR instr(detail, '\"cached_cost_usd\"') > 0)"
    )


def v3_to_v4(db) -> None:
    """Batch API jobs (`arena.backends._batch`): `batches`, one row per submitted batch (its provider
    ids, arena's state of it, who submitted it) and `batch_calls`, the call-cache keys each batch
    answers, so a process killed while a batch is pending polls it again instead of resubmitting."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS batches (
            ref TEXT PRIMARY KEY,       -- arena's id of the job, known before anything is uploaded
            provider TEXT, model TEXT, api_base TEXT,
            input_file_id TEXT, batch_id TEXT, output_file_id TEXT, error_file_id TEXT,
            state TEXT,                 -- preparing | uploaded | submitted | ingested | failed
            status TEXT,                -- the provider's last status (validating, in_progress, completed, ...)
            n_calls INTEGER, owner TEXT, error TEXT,
            created FLOAT, updated FLOAT)"""
    )
    db.execute("CREATE TABLE IF NOT EXISTS batch_calls (ref TEXT, key TEXT, error TEXT, permanent INTEGER, PRIMARY KEY (ref, key))")
    db.execute("CREATE INDEX IF NOT EXISTS idx_batch_calls_key ON batch_calls (key)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_batches_state ON batches (state)")


def v4_to_v5(db) -> None:
    """Conversations (arena/conversations.py): `prompts.messages`, `prompts.turn_references`,
    `outputs.turns` (JSON, NULL for single-turn rows: every version-4 row stays as it was) and
    `extra` on both (peer fields kept for a faithful export)."""
    for table, cols in (("prompts", ("messages", "turn_references", "extra")), ("outputs", ("turns", "extra"))):
        have = _columns(db, table)
        for col in cols:
            if col not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT")


def v5_to_v6(db) -> None:
    """An index on `outputs (pool, model, prompt_id)`: a run's one streamed read of its pool's
    answers (`Store.iter_outputs`, in (model, prompt_id) order) walks it instead of sorting every
    answer's text in a temporary B-tree first (0.24 s -> 0.09 s for 25,000 answers of 1 KB, and its
    first row at once instead of after the sort). It replaces the index on `(pool, model)`, its prefix."""
    db.execute('CREATE INDEX IF NOT EXISTS "idx_outputs_pool_model_prompt_id" ON "outputs" ("pool", "model", "prompt_id")')
    db.execute('DROP INDEX IF EXISTS "idx_outputs_pool_model"')


POOL_DIGEST_TRIGGERS: dict[str, str] = {
    f"pool_digest_{table}_{event.lower()}": (
        f"AFTER {event} ON {table} BEGIN DELETE FROM pool_digests WHERE pool IN ({', '.join(rows)}); END"
    )
    for table in ("prompts", "outputs")
    for event, rows in (("INSERT", ["NEW.pool"]), ("UPDATE", ["OLD.pool", "NEW.pool"]), ("DELETE", ["OLD.pool"]))
}
"""Any change to a pool's prompts or answers drops its stored digest (schema 7): a digest in the
store is always that of the pool as it is (a pool written by another tool, or by an older arena
through a newer file, is read in full again)."""


def create_pool_digests(db) -> None:
    """The `pool_digests` table and the triggers that keep it true (`POOL_DIGEST_TRIGGERS`)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS pool_digests (pool TEXT PRIMARY KEY, fingerprint TEXT, count INTEGER,"
        " models TEXT, answered TEXT, created FLOAT)"
    )
    for name, body in POOL_DIGEST_TRIGGERS.items():
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def v6_to_v7(db) -> None:
    """Pool digests: `pool_digests`, one row per pool with what a run reads of it before its first
    call (its fingerprint, its models, who answered each prompt; `arena.records.PoolDigest`), written
    with the pool and dropped by triggers when its prompts or answers change. A run of a 25,000-answer
    pool no longer reads and hashes every answer before its first judge call (about 0.2 s on 2 cores).
    Pools of an older file get their digest from their next run."""
    create_pool_digests(db)


MIGRATIONS: dict[int, Callable] = {2: v1_to_v2, 3: v2_to_v3, 4: v3_to_v4, 5: v4_to_v5, 6: v5_to_v6, 7: v6_to_v7}
