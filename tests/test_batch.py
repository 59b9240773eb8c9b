"""Batch mode (`mode = "batch"` in an llm preset) against a loopback server with the files and
batches API (tests/loopback_batch.py): real HTTP through the openai SDK, a real SQLite file, a run killed
with SIGKILL while its batch is pending resumes it without resubmitting."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback import Reply
from loopback_batch import BatchLoopbackServer

import arena
from arena.backends import CompletionRequest, Policy, batch_unit_prices, price
from arena.store import Store

MODELS = {"alpha": 9, "bravo": 7, "charlie": 5, "delta": 3}
JUDGE_MODEL = "openai/gpt-4o-mini"  # priced in litellm's table, with a batch price


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    srv = BatchLoopbackServer().start()
    yield srv
    srv.stop()


def _pool(folder: Path, n_prompts: int, models=MODELS) -> Path:
    (folder / "outputs").mkdir(parents=True)
    with open(folder / "prompts.jsonl", "w") as f:
        for i in range(n_prompts):
            f.write(json.dumps({"prompt_id": f"q{i:02d}", "text": f"Question {i}: explain topic {i}."}) + "\n")
    for model, q in models.items():
        with open(folder / "outputs" / f"{model}.jsonl", "w") as f:
            for i in range(n_prompts):
                f.write(json.dumps({"prompt_id": f"q{i:02d}", "output": f"Answer of {model} to {i}. <!-- quality={q} -->"}) + "\n")
    return folder


def _spec(tmp: Path, api_base: str, *, n_prompts: int = 6, kind: str = "round-robin", max_retries: int = 2, models=MODELS, extra: str = "") -> Path:
    _pool(tmp / "pool", n_prompts, models)
    judge = tmp / "batch-judge.toml"
    judge.write_text(
        f'kind = "llm"\nmodel = "{JUDGE_MODEL}"\napi_base = "{api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
        f'max_tokens = 64\ntimeout = 10\nmax_retries = {max_retries}\nmode = "batch"\nbatch_poll_s = 0.05\n'
    )
    spec = tmp / "t.toml"
    spec.write_text(f'name = "batch"\npool = "{tmp / "pool"}"\njudge = "{judge}"\nseed = 3\nbootstrap = 50\n{extra}[scheduler]\nkind = "{kind}"\n')
    return spec


def _run(spec: Path, db: Path):
    return arena.run_tournament(spec, db=db, yes=True, write_reports=False, handle_sigint=False)


def test_batch_price_is_litellms_batch_rate_or_half_the_normal_one():
    unit, source = batch_unit_prices("openai/gpt-4o-mini")
    assert unit == (7.5e-08, 3e-07) and source == "litellm's batch price"  # litellm's table lists it
    assert price("openai/gpt-4o-mini", 1000, 100, batch=True) == pytest.approx(1000 * 7.5e-08 + 100 * 3e-07)
    normal = price("openai/gpt-3.5-turbo", 1000, 100)
    unit, source = batch_unit_prices("openai/gpt-3.5-turbo")
    assert normal is not None and source.startswith("50% of the normal rate")
    assert price("openai/gpt-3.5-turbo", 1000, 100, batch=True) == pytest.approx(normal / 2)
    assert batch_unit_prices("openai/no-such-model") == (None, "unknown")


def test_a_round_robin_is_one_batch_priced_at_the_batch_rate(tmp_path, server):
    spec = _spec(tmp_path, server.api_base)
    result = _run(spec, tmp_path / "a.db")
    assert result.status == "done"
    assert (server.uploads, server.batch_creations, server.lines) == (1, 1, 36 * 2)  # 6 prompts x 6 pairs x 2 orders
    store = Store(tmp_path / "a.db")
    (job,) = store.batch_jobs()
    from arena.records import BatchJob

    assert isinstance(job, BatchJob) and store.batch_job(job.ref) == job  # typed, like every store read
    assert job.state == "ingested" and job.status == "completed" and job.n_calls == 72
    u = store.usage(result.run_id)
    assert u.calls == 72 and u.input_tokens > 0
    assert u.cost_usd == pytest.approx(u.input_tokens * 7.5e-08 + u.output_tokens * 3e-07)
    # the loopback judge prefers the higher quality marker: alpha beats everyone
    top = result.leaderboard[0]["model"]
    assert top == "alpha"
    # the plan shows the batch price
    plan = arena.plan(spec, db=tmp_path / "a.db")
    assert plan.batch_rates == {JUDGE_MODEL: "$0.075 / $0.3 per 1M tokens in / out (litellm's batch price)"}
    assert plan.cost_usd_expected == pytest.approx(plan.input_tokens * 7.5e-08 + plan.output_tokens_expected * 3e-07, rel=1e-3)
    # running it again pays for nothing
    again = arena.run_tournament(spec, db=tmp_path / "a.db", yes=True, write_reports=False, handle_sigint=False, new=True)
    assert again.status == "done" and server.batch_creations == 1


def test_single_elimination_submits_one_batch_per_round(tmp_path, server):
    models = {f"m{i}": i for i in range(8)}  # 8 models: three rounds
    spec = _spec(tmp_path, server.api_base, n_prompts=3, kind="single-elimination", models=models)
    result = _run(spec, tmp_path / "se.db")
    assert result.status == "done"
    assert server.batch_creations == 3  # round 1 (4 matches a prompt), round 2 (2), the final (1)
    rounds = [server.contents[b["input_file_id"]].count(b"\n") for b in server.batches.values()]
    assert rounds == [3 * 4 * 2, 3 * 2 * 2, 3 * 1 * 2]


def test_adaptive_submits_one_batch_per_wave(tmp_path, server):
    spec = _spec(tmp_path, server.api_base, kind="adaptive\"\nmax_matches = 30\ntarget = \"none")
    result = _run(spec, tmp_path / "ad.db")
    assert result.status == "done"
    rows = Store(tmp_path / "ad.db").matches(result.run_id)
    waves = sorted({r.round for r in rows})
    assert len(waves) >= 3 and server.batch_creations == len(waves)  # each wave waits for the one before
    sizes = [server.contents[b["input_file_id"]].count(b"\n") for b in server.batches.values()]
    assert sizes == [2 * sum(r.round == w for r in rows) for w in waves]


def test_failed_lines_are_retried_in_a_later_batch_and_permanent_ones_recorded(tmp_path, server):
    seen: dict[str, int] = {}

    def hook(req):
        text = req.text
        seen[text] = seen.get(text, 0) + 1
        if "Answer of delta to 0." in text:
            return Reply(status=400, error="loopback: this line is refused")  # permanent: never retried
        if "Answer of charlie to 1." in text and seen[text] == 1:
            return Reply(status=500)  # fails once, answered in the next batch
        return None

    server.hook = hook
    spec = _spec(tmp_path, server.api_base)
    result = _run(spec, tmp_path / "f.db")
    store = Store(tmp_path / "f.db")
    games = store.games(result.run_id)
    errors = [g for g in games if g.label == "error"]
    # delta's 3 matches on q00, both orders: permanent errors with the server's reason
    assert len(errors) == 6 and all("HTTP 400 in batch" in g.error and "refused" in g.error for g in errors)
    assert all(g.detail.get("permanent") for g in errors)
    assert result.status == "errors"
    # charlie's q01 lines failed once (3 matches x 2 orders) and were answered in a second batch
    assert server.batch_creations == 2
    retried = [g for g in games if g.attempts == 2]
    assert len(retried) == 6 and all(g.label != "error" for g in retried)
    jobs = store.batch_jobs()
    assert [j.n_calls for j in jobs] == [72, 6]
    failed = store.db.execute("SELECT COUNT(*) FROM batch_calls WHERE error IS NOT NULL").fetchone()[0]
    assert failed == 6 + 6  # the 400s and the first 500s are kept beside their batch


def test_lines_failing_every_time_stop_at_max_retries(tmp_path, server):
    server.hook = lambda req: Reply(status=500) if "Answer of alpha to 2." in req.text else None
    spec = _spec(tmp_path, server.api_base, max_retries=1)
    result = _run(spec, tmp_path / "m.db")
    games = Store(tmp_path / "m.db").games(result.run_id)
    errors = [g for g in games if g.label == "error"]
    assert len(errors) == 6 and all(g.attempts == 2 and "(after 2 attempts)" in g.error for g in errors)
    assert server.batch_creations == 2 and result.status == "errors"


def test_an_expired_batch_retries_its_unanswered_lines(tmp_path, server):
    server.expire_after = 50
    spec = _spec(tmp_path, server.api_base)

    def on_event(e):
        if e.kind == "decided":
            server.expire_after = None  # only the first batch expires

    result = arena.run_tournament(spec, db=tmp_path / "e.db", yes=True, write_reports=False, handle_sigint=False, on_event=on_event)
    assert result.status == "done" and server.batch_creations == 2 and server.lines == 72  # 50 answered, then the other 22
    assert [server.contents[b["input_file_id"]].count(b"\n") for b in server.batches.values()] == [72, 22]
    # the expiry was the provider's, not the calls' failure: no game spent an attempt on it
    assert {g.attempts for g in Store(tmp_path / "e.db").games(result.run_id)} == {1}


@pytest.mark.parametrize("ending", ["expired", "cancelled", "failed"])
def test_a_batch_the_provider_ends_is_submitted_again_without_spending_the_calls_retries(tmp_path, server, capfd, ending):
    """breaker18 #1 / left18 (2): the first batch ends `ending` before running any line; its calls go
    into a new batch with their max_retries (1) intact: a 500 there is their first failed attempt,
    answered in a third batch."""
    setattr(server, {"expired": "expire_after", "cancelled": "cancel_after", "failed": "fail_batches"}[ending], True if ending == "failed" else 0)
    server.end_batches = 1
    seen: dict[str, int] = {}

    def hook(req):
        seen[req.text] = seen.get(req.text, 0) + 1
        return Reply(status=500) if "Answer of charlie to 1." in req.text and seen[req.text] == 1 else None

    server.hook = hook
    spec = _spec(tmp_path, server.api_base, max_retries=1)
    result = _run(spec, tmp_path / "x.db")
    assert result.status == "done", result
    assert server.batch_creations == 3 and [server.contents[b["input_file_id"]].count(b"\n") for b in server.batches.values()] == [72, 72, 6]
    assert server.lines == 72 + 6  # nothing ran in the ended batch; nothing answered was asked again
    games = Store(tmp_path / "x.db").games(result.run_id)
    assert not [g for g in games if g.label == "error"]
    assert sorted(g.attempts for g in games if g.attempts != 1) == [2] * 6  # the 500 only
    first = next(iter(server.batches))
    assert capfd.readouterr().err.count(f"batch {first} {ending}") == 1


def test_batches_the_provider_keeps_ending_stop_after_max_retries_resubmissions(tmp_path, server, capfd):
    server.expire_after = 0  # every batch expires before running a line
    spec = _spec(tmp_path, server.api_base, max_retries=1)
    result = _run(spec, tmp_path / "y.db")
    assert result.status == "errors" and server.batch_creations == 2 and server.lines == 0
    games = Store(tmp_path / "y.db").games(result.run_id)
    first, last = list(server.batches)
    # breaker19 #6: each line says what happens to the calls; no "new batch" that is never made
    assert [x for x in capfd.readouterr().err.splitlines() if " expired before running" in x] == [
        f"batch {first} expired before running 72 of its calls: they are submitted in a new batch",
        f"batch {last} expired before running 72 of its calls: they end as errors (2 batches in a row ended so; max_retries = 1):"
        " run again to resubmit them",
    ]
    assert result.stats.last_error.startswith(f"batch {last} expired without running this call")  # the run's error line names it
    assert len(games) == 72 and all(g.label == "error" for g in games)
    assert all(g.error.startswith(f"batch {last} expired without running this call, 2 batches in a row (max_retries = 1)") for g in games), games[0].error
    assert all(not g.detail.get("permanent") for g in games)  # running again resubmits them


def _backend(store, server, **kw):
    from arena.backends._batch import BatchBackend

    return BatchBackend(store=store, policy=Policy(max_retries=1), poll_s=0.05, settle_s=0.05, **kw)


def _requests(server, n=4):
    return [
        CompletionRequest(JUDGE_MODEL, [{"role": "user", "content": f"hello {i}"}], {"max_tokens": 8}, api_base=server.api_base, api_key_env="ARENA_TEST_KEY")
        for i in range(n)
    ]


def test_a_job_uploaded_but_never_recorded_as_submitted_is_found_not_resubmitted(tmp_path, server):
    import asyncio

    store = Store(tmp_path / "u.db")
    reqs = _requests(server)
    first = asyncio.run(_gather(_backend(store, server), reqs))
    assert all(c.ok for c in first) and server.batch_creations == 1
    # as if the process died between creating the batch and writing its id: state uploaded, no id,
    # owned by a process that is gone; its answers not yet in the cache
    (job,) = store.batch_jobs()
    store.batch_update(job.ref, state="uploaded", batch_id=None, owner="999999999@nohost:dead", updated=0.0)
    for r in reqs:
        store.cache_forget(r.key())
    again = asyncio.run(_gather(_backend(store, server), reqs))
    assert [c.text for c in again] == [c.text for c in first] and not any(c.cached for c in again)
    assert server.batch_creations == 1 and server.list_calls == 1  # found in the provider's list


def test_a_job_of_a_dead_process_that_never_uploaded_is_dropped_and_submitted_again(tmp_path, server):
    import asyncio

    store = Store(tmp_path / "p.db")
    reqs = _requests(server, 2)
    store.batch_claim("arena-dead", "999999999@nohost:dead", [r.key() for r in reqs], provider="openai", model=JUDGE_MODEL, api_base=server.api_base)
    store.batch_update("arena-dead", updated=0.0)
    out = asyncio.run(_gather(_backend(store, server), reqs))
    assert all(c.ok for c in out) and server.batch_creations == 1
    assert [j.state for j in store.batch_jobs()] == ["ingested"] and store.batch_job("arena-dead") is None


def test_a_stored_batch_the_provider_no_longer_knows_is_dropped_and_its_calls_submitted_again(tmp_path, server, capfd):
    import asyncio

    store = Store(tmp_path / "g.db")
    reqs = _requests(server, 4)
    done = asyncio.run(_gather(_backend(store, server), reqs[:1]))  # one call answered and ingested
    assert done[0].ok and server.batch_creations == 1 and server.lines == 1
    # a dead process's pending batch holding all four calls, under an id the provider lost (404)
    store.batch_claim("arena-gone", "999999999@nohost:dead", [r.key() for r in reqs[1:]], provider="openai", model=JUDGE_MODEL, api_base=server.api_base)
    store.batch_update("arena-gone", state="submitted", batch_id="batch_lost", status="in_progress", updated=0.0)
    backend = _backend(store, server)
    out = asyncio.run(_gather(backend, reqs))
    assert all(c.ok for c in out) and out[0].cached  # the ingested call is not paid again
    assert server.batch_creations == 2 and server.lines == 4  # one new batch with the three lost calls
    assert store.batch_job("arena-gone") is None and [j.state for j in store.batch_jobs()] == ["ingested", "ingested"]
    err = capfd.readouterr().err
    assert err.count("batch batch_lost is unknown to the provider (HTTP 404): dropped; its 3 calls are submitted again") == 1
    assert backend.notices == [err.strip().splitlines()[-1]]


async def _gather(backend, reqs):
    import asyncio

    try:
        return await asyncio.gather(*(backend.complete(r) for r in reqs))
    finally:
        await backend.aclose()


def test_batch_mode_for_a_provider_without_an_openai_batch_api_is_refused(tmp_path):
    from arena.errors import SpecError
    from arena.judges import load_judge

    p = tmp_path / "j.toml"
    p.write_text('kind = "llm"\nmodel = "anthropic/claude-3-5-haiku-latest"\nmode = "batch"\n')
    with pytest.raises(SpecError, match=r"key 'mode'.*Batch API is supported for openai/\.\.\. and hosted_vllm/\.\.\. models"):
        load_judge(p)


def test_batch_mode_with_a_judge_fleet_is_refused_at_preset_check(tmp_path):
    from arena.errors import SpecError
    from arena.judges import load_judge

    p = tmp_path / "j.toml"
    p.write_text('kind = "llm"\nmodel = "openai/gpt-4o-mini"\nmode = "batch"\n[[deployments]]\napi_base = "http://127.0.0.1:9/v1"\n')
    with pytest.raises(SpecError, match=r"key 'mode'.*batch mode submits to one server: remove the preset's deployments"):
        load_judge(p)


# -- killed while the batch is pending: a user's run, as a subprocess ----------------------------------


def _arena(*args, **kw):
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_OFFLINE_MODE="true", ARENA_TEST_KEY="sk-loopback-test")
    return subprocess.Popen([sys.executable, "-m", "arena", *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _jobs(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("SELECT state, batch_id FROM batches").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


@pytest.mark.slow
def test_a_run_killed_while_its_batch_is_pending_resumes_polling_without_resubmitting(tmp_path, server):
    server.held = True  # the batch stays in_progress until released
    spec = _spec(tmp_path, server.api_base)
    db = tmp_path / "run.db"
    proc = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "out")
    deadline = time.time() + 120
    while not (server.retrievals >= 2 and _jobs(db) == [("submitted", next(iter(server.batches), None))]):
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else "timed out"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert server.batch_creations == 1 and server.lines == 0  # pending: nothing answered yet
    server.held = False

    again = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "out")
    out, _ = again.communicate(timeout=180)
    assert again.returncode == 0, out
    assert "never awaited" not in out, out  # breaker18 #6
    assert server.batch_creations == 1 and server.uploads == 1  # the batch was polled again, never resubmitted
    assert server.lines == 72
    store = Store(db)
    (run,) = store.list_runs()
    assert store.verdict_counts(run.run_id).get("unresolved", 0) == 0 and len(store.verdict_records(run.run_id)) == 36
    assert _jobs(db) == [("ingested", next(iter(server.batches)))]
    u = store.usage(run.run_id)
    assert u.calls == 72 and u.cost_usd == pytest.approx(u.input_tokens * 7.5e-08 + u.output_tokens * 3e-07)

    plan = _arena("tournament", "plan", spec, "--db", db)
    shown, _ = plan.communicate(timeout=120)
    assert plan.returncode == 0 and "batch price" in shown and "litellm's batch price" in shown, shown


def test_the_batch_tables_come_from_a_migration_step_on_an_older_file(tmp_path):
    import shutil

    from arena.migrations import MIGRATIONS
    from arena.records import SCHEMA_VERSION

    step = MIGRATIONS[4]  # the step that adds the batch tables (schema 4; later steps come after it)
    con = sqlite3.connect(":memory:")
    step(con)
    step(con)  # idempotent
    cols = {r[1] for r in con.execute("PRAGMA table_info(batches)")}
    assert {"ref", "batch_id", "input_file_id", "state", "status", "owner"} <= cols
    assert {r[1] for r in con.execute("PRAGMA table_info(batch_calls)")} == {"ref", "key", "error", "permanent"}
    # a file of the schema before (v3: tests/fixtures/store/v2.db upgraded by this arena's step 3)
    # gets them from the step alone, and claims work on it
    v3 = tmp_path / "v3.db"
    shutil.copy(Path(__file__).parent / "fixtures" / "store" / "v2.db", v3)
    con = sqlite3.connect(v3)
    MIGRATIONS[3](con)
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.commit()
    assert not {"batches", "batch_calls"} & {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    store = Store(v3)
    assert store.schema_version == SCHEMA_VERSION
    assert store.batch_claim("r1", "me", ["k1", "k2"], provider="openai", model=JUDGE_MODEL, api_base=None) == ["k1", "k2"]
    assert store.batch_claim("r2", "me", ["k2", "k3"], provider="openai", model=JUDGE_MODEL, api_base=None) == ["k3"]  # k2 is held
    assert set(store.batch_jobs_holding(["k1", "k2", "k3", "k4"])) == {"k1", "k2", "k3"}


def test_a_reply_echoing_the_key_is_kept_redacted(tmp_path, server):
    import asyncio

    server.hook = lambda req: "the key is sk-loopback-test, and my final verdict is: [[A>B]]"
    store = Store(tmp_path / "k.db")
    (c,) = asyncio.run(_gather(_backend(store, server), _requests(server, 1)))
    assert c.ok and "sk-loopback-test" not in c.text and "***" in c.text
    assert "sk-loopback-test" not in store.cache_get(c.cache_key).response
