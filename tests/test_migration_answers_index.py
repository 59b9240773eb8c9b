"""The answers-index migration step (schema 6, arena/migrations.py) on a database of the release
before it (tests/fixtures/store/v5_pool.db, made by make_v5_pool.py there at schema 5): the pool
reads back unchanged, the streamed read of a run walks the new index instead of sorting, and a
new database gets the same index."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from arena.records import SCHEMA_VERSION, Output
from arena.store import Store

V5 = Path(__file__).parent / "fixtures" / "store" / "v5_pool.db"
STREAM = "SELECT prompt_id, model, text, turns FROM outputs WHERE pool = ? ORDER BY model, prompt_id"


def _indexes(con) -> dict[str, list[str]]:
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outputs' AND sql IS NOT NULL")]
    return {n: [r[2] for r in con.execute(f'PRAGMA index_info("{n}")')] for n in names}


def _plan(con) -> str:
    return " | ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + STREAM, ["mini"]))


def test_a_v5_store_gets_the_answers_index_and_reads_back_unchanged(tmp_path):
    path = tmp_path / "v5.db"
    shutil.copy(V5, path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("5",)]
    assert _indexes(con) == {"idx_outputs_pool_model": ["pool", "model"]}
    assert "TEMP B-TREE" in _plan(con)  # schema 5 sorts the answers' rows for the streamed read
    before = con.execute("SELECT pool, prompt_id, model, text FROM outputs ORDER BY pool, prompt_id, model").fetchall()
    con.close()

    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION >= 6
    assert _indexes(store.db.conn) == {"idx_outputs_pool_model_prompt_id": ["pool", "model", "prompt_id"]}
    assert "TEMP B-TREE" not in _plan(store.db.conn) and "idx_outputs_pool_model_prompt_id" in _plan(store.db.conn)
    streamed = list(store.iter_outputs("mini"))
    assert [(m, p) for p, m, _, _ in streamed] == sorted((m, p) for p, m, _, _ in streamed)  # (model, prompt_id) order
    assert len(streamed) == 6 and store.outputs("mini")[0] == Output("q0", "alpha", "alpha answers 0.")
    after = store.db.conn.execute("SELECT pool, prompt_id, model, text FROM outputs ORDER BY pool, prompt_id, model").fetchall()
    assert after == before
    store.close()
    again = Store(path)  # opening it again changes nothing
    assert _indexes(again.db.conn) == {"idx_outputs_pool_model_prompt_id": ["pool", "model", "prompt_id"]}
    again.close()


def test_a_new_store_has_the_same_answers_index(tmp_path):
    store = Store(tmp_path / "new.db")
    store.write_pool("mini", [], [Output("q0", "alpha", "a")])
    assert _indexes(store.db.conn) == {"idx_outputs_pool_model_prompt_id": ["pool", "model", "prompt_id"]}
    assert "TEMP B-TREE" not in _plan(store.db.conn)
    store.close()
