"""Pool digests (schema 7, `arena.records.PoolDigest`): what a run reads of its pool before the first
judge call is stored with the pool, so no answer is read or hashed at start-up; triggers drop the
digest on any change to the pool's prompts or answers; the fingerprint is byte for byte the one a
full read gives (runs keep their identity and resume as themselves, also across the migration)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from arena.answers import StoredAnswers, _scan
from arena.migrations import POOL_DIGEST_TRIGGERS
from arena.pools import PoolData, pool_fingerprint
from arena.records import SCHEMA_VERSION, Output, Prompt
from arena.store import Store

V6 = Path(__file__).parent / "fixtures" / "store" / "v6_run.db"

PROMPTS = [Prompt(f"q{i}", f"Question {i}?", "c") for i in range(5)]
OUTPUTS = [Output(f"q{i}", m, "" if (m, i) == ("gamma", 2) else f"{m} answers {i}.") for m in ("alpha", "bravo", "gamma") for i in range(5)]


def _streamed(store, pool, prompts, models=None):
    digest, _ = _scan(store, pool, prompts, None if models is None else set(models))
    return digest


def _digest_rows(store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT pool FROM pool_digests ORDER BY pool")]


def test_a_written_pool_has_its_digest_and_a_run_reads_no_answer(store, monkeypatch):
    store.write_pool("p", PROMPTS, OUTPUTS)
    assert _digest_rows(store) == ["p"]
    prompts = store.prompts("p")

    def no_scan(pool):
        raise AssertionError("an answer was read before the first call")

    monkeypatch.setattr(store, "iter_outputs", no_scan)
    a = StoredAnswers(store, "p", prompts, ["alpha", "bravo", "gamma"])
    monkeypatch.undo()
    assert a.from_digest
    assert a.fingerprint == pool_fingerprint(PoolData(PROMPTS, OUTPUTS)) == _streamed(store, "p", prompts).fingerprint
    assert a.models == ["alpha", "bravo", "gamma"] and a.count == 15
    assert a.answered["q2"] == frozenset({"alpha", "bravo"}) and a.answered["q0"] == frozenset({"alpha", "bravo", "gamma"})
    assert a.answered["q0"] is a.answered["q1"]  # one set object per distinct set of answerers
    assert a.pair("q3", "alpha", "gamma") == ("alpha answers 3.", "gamma answers 3.")


def test_a_selection_of_prompts_or_models_reads_the_answers(store):
    store.write_pool("p", PROMPTS, OUTPUTS)
    prompts = store.prompts("p")
    some = StoredAnswers(store, "p", prompts[:3])
    assert not some.from_digest and set(some.answered) == {"q0", "q1", "q2"}
    assert some.fingerprint == pool_fingerprint(PoolData(PROMPTS[:3], [o for o in OUTPUTS if o.prompt_id in {"q0", "q1", "q2"}]))
    two = StoredAnswers(store, "p", prompts, ["alpha", "bravo"])
    assert not two.from_digest and two.models == ["alpha", "bravo"]
    assert two.fingerprint == pool_fingerprint(PoolData(PROMPTS, [o for o in OUTPUTS if o.model != "gamma"]))
    reordered = StoredAnswers(store, "p", prompts[::-1])
    assert not reordered.from_digest and reordered.fingerprint != some.fingerprint
    assert _digest_rows(store) == ["p"]  # a selection never replaces the whole pool's digest


@pytest.mark.parametrize("change", ["add answer", "new model", "edit answer", "delete answer", "edit prompt", "add prompt", "delete prompt", "replace pool"])
def test_any_change_to_the_pool_drops_its_digest_and_the_next_run_stores_the_new_one(store, change):
    store.write_pool("p", PROMPTS, OUTPUTS[:-1])  # gamma lacks q4
    store.write_pool("other", PROMPTS, OUTPUTS)
    con = store.db.conn
    if change == "add answer":
        store.write_pool("p", [], [OUTPUTS[-1]], digest=False)
    elif change == "new model":
        store.write_pool("p", [], [Output("q0", "delta", "delta answers 0.")], digest=False)
    elif change == "edit answer":
        con.execute("UPDATE outputs SET text = 'changed' WHERE pool = 'p' AND prompt_id = 'q1' AND model = 'alpha'")
    elif change == "delete answer":
        con.execute("DELETE FROM outputs WHERE pool = 'p' AND prompt_id = 'q1' AND model = 'alpha'")
    elif change == "edit prompt":
        con.execute("UPDATE prompts SET text = 'Another question?' WHERE pool = 'p' AND prompt_id = 'q1'")
    elif change == "add prompt":
        store.write_pool("p", [Prompt("q9", "New?")], [], digest=False)
    elif change == "delete prompt":
        con.execute("DELETE FROM prompts WHERE pool = 'p' AND prompt_id = 'q4'")
    else:
        store.delete_pool("p")
        store.write_pool("p", PROMPTS[:2], OUTPUTS[:2], digest=False)
    assert _digest_rows(store) == ["other"]  # only the changed pool's digest is gone
    prompts = store.prompts("p")
    first = StoredAnswers(store, "p", prompts)
    assert not first.from_digest and _digest_rows(store) == ["other", "p"]  # read once, then stored
    again = StoredAnswers(store, "p", prompts)
    assert again.from_digest
    outputs = store.outputs("p")
    assert again.fingerprint == first.fingerprint == pool_fingerprint(PoolData(prompts, [o for o in outputs if o.prompt_id in {p.prompt_id for p in prompts}]))
    assert again.answered == first.answered and again.models == first.models and again.count == first.count


def test_a_read_only_store_reads_the_answers_and_writes_nothing(tmp_path):
    path = tmp_path / "a.db"
    s = Store(path)
    s.write_pool("p", PROMPTS, OUTPUTS, digest=False)
    s.close()
    ro = Store(path, readonly=True)
    a = StoredAnswers(ro, "p", ro.prompts("p"))
    assert not a.from_digest and a.fingerprint == pool_fingerprint(PoolData(PROMPTS, OUTPUTS))
    ro.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM pool_digests").fetchone() == (0,)
    con.close()


def test_a_v6_store_gets_pool_digests_and_its_run_resumes_as_itself(tmp_path):
    """The schema-6 file (made by tests/fixtures/store/make_v6_run.py with the release before): its
    finished run resumes as the same run, repeating nothing, before and after the pool's digest is stored."""
    from arena.api import run_tournament

    path = tmp_path / "v6.db"
    shutil.copy(V6, path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("6",)]
    (run_id,) = con.execute("SELECT run_id FROM runs").fetchone()
    con.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION == 7
    triggers = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert triggers == set(POOL_DIGEST_TRIGGERS)
    assert _digest_rows(store) == []  # an older file's pools get their digest from their next run
    store.close()
    (tmp_path / "judge.toml").write_text('kind = "surrogate"\n')
    spec = tmp_path / "mini-rr.toml"
    spec.write_text('name = "mini-rr"\npool = "mini"\njudge = "judge.toml"\nbootstrap = 0\n[scheduler]\nkind = "round-robin"\n')
    for _ in range(2):  # the first reads the answers (and stores the digest), the second reads the digest
        res = run_tournament(spec, db=path, yes=True, write_reports=False, handle_sigint=False)
        assert res.run_id == run_id and res.resumed and res.stats.matches_resumed == 10 and res.stats.games == 0
        store = Store(path)
        assert _digest_rows(store) == ["mini"]
        store.close()


def test_a_new_store_has_the_table_and_triggers_of_a_migrated_one(tmp_path):
    new = Store(tmp_path / "new.db")
    old = tmp_path / "v6.db"
    shutil.copy(V6, old)
    migrated = Store(old)

    def shape(s, kind):
        return {r[0] for r in s.db.execute("SELECT name FROM sqlite_master WHERE type = ? AND name LIKE 'pool_digest%'", [kind])}

    assert shape(new, "table") == shape(migrated, "table") == {"pool_digests"}
    assert shape(new, "trigger") == shape(migrated, "trigger") == set(POOL_DIGEST_TRIGGERS)
    new.close()
    migrated.close()
