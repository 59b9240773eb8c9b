"""The conversations migration step (arena/migrations.py) opens a database of the release before it
(tests/fixtures/store/v3_pool.db, made by make_v3_pool.py there at schema 3): its single-turn pool
reads back unchanged, and the same file then takes a conversation pool."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from arena.conversations import make_prompt, user_messages
from arena.records import SCHEMA_VERSION, Output, Prompt
from arena.store import Store

V3 = Path(__file__).parent / "fixtures" / "store" / "v3_pool.db"


def test_a_v3_pool_is_migrated_and_reads_back_as_single_turn(tmp_path):
    path = tmp_path / "v3.db"
    shutil.copy(V3, path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("3",)]
    assert "turns" not in {r[1] for r in con.execute("PRAGMA table_info(outputs)")}
    con.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert {"messages", "turn_references", "extra"} <= {r[1] for r in store.db.execute("PRAGMA table_info(prompts)").fetchall()}
    assert {"turns", "extra"} <= {r[1] for r in store.db.execute("PRAGMA table_info(outputs)").fetchall()}
    prompts = store.prompts("mini")
    assert prompts == [Prompt("q0", "Question 0?", "c", "Answer 0."), Prompt("q1", "Question 1?", "c"), Prompt("q2", "Question 2?", "c")]
    assert all(not p.is_conversation for p in prompts)
    outs = store.outputs("mini")
    assert len(outs) == 6 and outs[0] == Output("q0", "alpha", "alpha answers 0.") and all(o.turns == () for o in outs)
    conv = make_prompt("c1", user_messages(["one?", "two?"]), "x", references=["r1", "r2"])
    store.write_pool("talk", [conv], [Output("c1", "alpha", "a1", ("a1", "a2"))])
    store.close()
    again = Store(path)  # opening it again is a no-op
    assert again.prompts("talk") == [conv] and again.outputs("talk")[0].turns == ("a1", "a2")
    assert again.prompts("mini") == prompts
    again.close()
