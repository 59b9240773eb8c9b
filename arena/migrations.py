"""Schema migrations of the arena database, one function per version step, run by `Store` on open.

`MIGRATIONS[n]` upgrades a database of schema version n - 1 to n inside the transaction that
opens the store, so a failed migration leaves the file as it was. A database newer than
`SCHEMA_VERSION` is refused with one line. (The layout follows sqlite-utils' migrations: explicit
numbered steps, each tested on a file made by the release before it.)
"""

from __future__ import annotations

from collections.abc import Callable

from arena.records import cached_part


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
        k, c = cached_part({"cached": cached, "calls": calls, "cost_usd": cost, "detail": detail})
        updates.append((k, c, rowid))
    db.executemany("UPDATE games SET cached_calls = ?, cached_cost_usd = ? WHERE rowid = ?", updates)


def v2_to_v3(db) -> None:
    """Conversations (arena/conversations.py): `prompts.messages`, `prompts.turn_references`,
    `outputs.turns` (JSON, NULL for single-turn rows: every version-2 row stays as it was) and
    `extra` on both (peer fields kept for a faithful export)."""
    for table, cols in (("prompts", ("messages", "turn_references", "extra")), ("outputs", ("turns", "extra"))):
        have = _columns(db, table)
        for col in cols:
            if col not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT")


MIGRATIONS: dict[int, Callable] = {2: v1_to_v2, 3: v2_to_v3}
