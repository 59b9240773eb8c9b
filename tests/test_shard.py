"""Tournaments split by prompt (`--shard K/N`) and merged back (`arena run merge`).

The claim under test: N shards, each run on its own SQLite store, merged, are the unsplit run:
the same matches, verdicts, usage and leaderboard bit for bit (same seed), for every scheduler
that can be split; the two that cannot (swiss, adaptive) are refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import arena
from arena.errors import BadInput
from arena.records import Match, Prompt, RunStatus, Verdict
from arena.tournaments import SchedulerError, make_scheduler
from arena.tournaments.shard import Shard, parse_shard, shard_items

# -- pure logic ------------------------------------------------------------------------------------------


def test_parse_shard_reads_k_of_n_and_refuses_the_rest():
    assert parse_shard("2/5") == Shard(2, 5)
    for bad in ("0/2", "3/2", "1/0", "2", "a/b", "1/2/3", "-1/2", "", " 1/2", "1 / 2", "1/2 ", "+1/2", "2/1"):
        with pytest.raises(BadInput, match=r"^shard: expected K/N") as e:  # the Python argument; the CLI's option below
            parse_shard(bad)
        assert e.value.cli_message.startswith("--shard: expected K/N")
    with pytest.raises(BadInput, match=r"^shard: 1/1 is the whole tournament, not a shard: leave the shard out"):
        parse_shard("1/1")


def test_shards_deal_prompts_round_robin_disjoint_and_complete():
    items = list(range(11))
    parts = [shard_items(items, Shard(k, 3)) for k in (1, 2, 3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]
    assert sorted(x for p in parts for x in p) == items


def test_spec_key_shard_is_validated():
    spec = arena.load_spec({"name": "t", "pool": "p", "shard": "2/3"})
    assert spec.shard == "2/3" and spec.shard_of() == Shard(2, 3)
    with pytest.raises(BadInput, match="key 'shard'"):
        arena.load_spec({"name": "t", "pool": "p", "shard": "4/3"})


MODELS = ["m0", "m1", "m2", "m3", "m4", "m5"]


def _pool(n_prompts: int = 30):
    prompts = [Prompt(f"p{i:02d}", f"prompt {i}") for i in range(n_prompts)]
    answered = {p.prompt_id: set(MODELS) for p in prompts}
    answered["p03"].discard("m2")  # forfeits: one model without an answer here and there
    answered["p07"] -= {"m0", "m5"}
    answered["p11"] = {"m1"}
    return prompts, answered


def _verdict(m: Match) -> Verdict:
    """A deterministic judge: the outcome is fixed by the match id (ties included)."""
    h = int(hashlib.sha256(m.match_id.encode()).hexdigest(), 16) % 5
    outcome = ("a", "b", "tie", "a", "b")[h]
    return Verdict(m.match_id, outcome, 1, True, {"a": "A>B", "b": "B>A", "tie": "A=B"}[outcome])


def _drive(sched) -> tuple[list[str], list[str]]:
    """Every match the scheduler releases (judged by `_verdict`) and every forfeit, by id."""
    released, forfeits = [], []
    todo = sched.start()
    forfeits += [m.match_id for m, _ in sched.forfeits()]
    while todo:
        released += [m.match_id for m in todo]
        todo = sched.update([(m, _verdict(m)) for m in todo])
        forfeits += [m.match_id for m, _ in sched.forfeits()]
    assert sched.finished
    return released, forfeits


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "single-elimination"},
        {"kind": "round-robin"},
        {"kind": "round-robin", "pairs_per_prompt": 2},  # balanced sampling walks every prompt in order
        {"kind": "round-robin", "pairs_per_prompt": 3, "sampling": "uniform"},
        {"kind": "anchored", "baseline": "m1"},
    ],
    ids=lambda s: "-".join(str(v) for v in s.values()),
)
@pytest.mark.parametrize("n", [2, 3, 7])
def test_the_shards_of_a_fixed_schedule_release_exactly_the_whole_schedule(spec, n):
    prompts, answered = _pool()
    whole, whole_forfeits = _drive(make_scheduler(spec, prompts, answered, MODELS, 11))
    parts, part_forfeits, sizes = [], [], 0
    for k in range(1, n + 1):
        s = make_scheduler(spec, prompts, answered, MODELS, 11, shard=Shard(k, n))
        sizes += s.size().worst
        own = {p.prompt_id for p in shard_items(prompts, Shard(k, n))}
        released, forfeits = _drive(s)
        assert {mid.split("|")[0] for mid in released + forfeits} <= own
        parts += released
        part_forfeits += forfeits
    assert sorted(parts) == sorted(whole) and len(parts) == len(set(parts))
    assert sorted(part_forfeits) == sorted(whole_forfeits)
    assert sizes == len(whole)


@pytest.mark.parametrize(("kind", "article"), [("swiss", "a"), ("adaptive", "an")])
def test_schedules_that_read_other_prompts_verdicts_are_refused(kind, article):
    prompts, answered = _pool()
    with pytest.raises(SchedulerError, match=f"^shard: {article} {kind} tournament cannot be split by prompt: "):
        make_scheduler({"kind": kind}, prompts, answered, MODELS, 0, shard=Shard(1, 2))


# -- through the real store: the surrogate judge on the bundled demo pool ------------------------------


def _demo(**extra) -> dict:
    spec = {"name": "sh", "pool": "data/demo", "judge": "surrogate", "seed": 3, "bootstrap": 100, "prompts": 24,
            "reference": None, "scheduler": {"kind": "single-elimination"}}
    spec.update(extra)
    return spec


def _comparable(report: dict) -> dict:
    """What must be equal between the unsplit run and the merged shards (latency is the network's)."""
    keys = ("leaderboard", "categories", "battles", "win_rate", "counts", "length_controlled", "judge_stats", "coverage", "separation")
    out = {k: report.get(k) for k in keys}
    out["judge_stats"] = {k: v for k, v in (out["judge_stats"] or {}).items() if k != "latency_s_mean"}
    return out


def _run(spec: dict, db: Path, shard: str | None = None):
    return arena.run_tournament(spec, db=db, shard=shard, write_reports=False, handle_sigint=False)


@pytest.mark.parametrize(
    "scheduler,n",
    [({"kind": "single-elimination"}, 2), ({"kind": "anchored", "baseline": "gpt4_0613"}, 3)],
    ids=["single-elimination-2", "anchored-3"],
)
def test_merged_shards_give_the_unsplit_leaderboard_exactly(tmp_path, scheduler, n):
    spec = _demo(scheduler=scheduler)
    whole = _run(spec, tmp_path / "whole.db")
    shards = []
    for k in range(1, n + 1):
        r = _run(spec, tmp_path / f"s{k}.db", f"{k}/{n}")
        assert r.status == RunStatus.DONE and f"-shard{k}of{n}-" in r.run_id
        assert any("this run covers only its" in w for w in r.report["warnings"])
        shards.append(tmp_path / f"s{k}.db")
    merged = arena.merge_runs(tmp_path / "merged.db", list(reversed(shards)))  # any order of the stores
    assert [s.index for s in merged.shards] == list(range(1, n + 1))
    assert merged.status == RunStatus.DONE and merged.matches == merged.verdicts > 0
    run = arena.load_run(merged.run_id, db=tmp_path / "merged.db")
    assert run.record.spec_hash == arena.load_run(whole.run_id, db=tmp_path / "whole.db").record.spec_hash
    assert run.matches == arena.load_run(whole.run_id, db=tmp_path / "whole.db").matches
    assert run.verdicts == arena.load_run(whole.run_id, db=tmp_path / "whole.db").verdicts
    a, b = _comparable(whole.report), _comparable(run.report(bootstrap=100))
    assert a["leaderboard"] and a == b
    if scheduler["kind"] == "anchored":
        assert any(r.get("lc_win_rate") is not None for r in a["leaderboard"])  # the LC fit is reproduced too
    # the merged store is the whole run: running the spec on it resumes and judges nothing
    again = _run(spec, tmp_path / "merged.db")
    assert again.resumed and again.run_id == merged.run_id
    assert again.stats.matches_resumed == again.stats.matches_done - again.stats.forfeits > 0
    assert _comparable(again.report) == a


def test_a_shard_resumes_as_itself_and_is_never_the_whole(tmp_path):
    db = tmp_path / "one.db"
    spec = _demo(prompts=16)
    first = _run(spec, db, "1/2")
    assert _run(spec, db, "1/2").run_id == first.run_id  # resumed
    second = _run(spec, db, "2/2")
    whole = _run(spec, db)
    assert len({first.run_id, second.run_id, whole.run_id}) == 3
    stored = arena.load_run(first.run_id, db=db).record
    assert stored.spec["shard"]["index"] == 1 and stored.spec["shard"]["count"] == 2
    assert stored.spec["shard"]["whole"] == arena.load_run(whole.run_id, db=db).record.spec_hash
    assert stored.spec_hash != stored.spec["shard"]["whole"]
    # both shards of one store merge (each is the latest run of its identity there); the whole run is ignored
    merged = arena.merge_runs(tmp_path / "m.db", [db])
    assert [s.index for s in merged.shards] == [1, 2]
    assert _comparable(arena.load_run(merged.run_id, db=tmp_path / "m.db").report(bootstrap=100)) == _comparable(whole.report)


def test_plan_of_a_shard_counts_its_share(tmp_path):
    whole = arena.plan(_demo(prompts=20), db=tmp_path / "p.db")
    parts = [arena.plan(_demo(prompts=20), db=tmp_path / "p.db", shard=f"{k}/3") for k in (1, 2, 3)]
    assert sum(p.matches for p in parts) == whole.matches and sum(p.prompts for p in parts) == whole.prompts == 20
    assert parts[0].shard == "1/3" and whole.shard is None


# -- an llm judge over real HTTP: usage and the call cache merge ------------------------------------


def _loop_pool(folder: Path, n_prompts: int = 12) -> Path:
    (folder / "outputs").mkdir(parents=True)
    with open(folder / "prompts.jsonl", "w") as f:
        for i in range(n_prompts):
            f.write(json.dumps({"prompt_id": f"q{i:02d}", "text": f"Question {i}?", "category": f"c{i % 2}"}) + "\n")
    for model, q in {"alpha": 9, "bravo": 7, "charlie": 5, "delta": 3}.items():
        with open(folder / "outputs" / f"{model}.jsonl", "w") as f:
            for i in range(n_prompts):
                quality = q + (2 if (i + len(model)) % 3 == 0 else 0)
                f.write(json.dumps({"prompt_id": f"q{i:02d}", "output": f"{model} on {i} <!-- quality={quality} -->"}) + "\n")
    return folder


def test_llm_judge_shards_merge_usage_and_call_cache(tmp_path, loopback):
    judge = tmp_path / "loop.toml"
    judge.write_text(
        f'kind = "llm"\nmodel = "openai/gpt-4o-mini"\napi_base = "{loopback.api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
        'max_tokens = 64\ntimeout = 5\nmax_retries = 1\nconcurrency = 8\n'
    )
    spec = {"name": "loop", "pool": str(_loop_pool(tmp_path / "pool")), "judge": str(judge), "seed": 5, "bootstrap": 100,
            "scheduler": {"kind": "round-robin", "pairs_per_prompt": 3}}
    whole = _run(spec, tmp_path / "whole.db")
    calls_whole = loopback.requests
    assert whole.usage.calls == calls_whole > 0 and whole.usage.cost_usd
    usages = []
    for k in (1, 2):
        usages.append(_run(spec, tmp_path / f"s{k}.db", f"{k}/2").usage)
    assert loopback.requests == 2 * calls_whole  # the shards paid each call once between them
    merged = arena.merge_runs(tmp_path / "m.db", [tmp_path / "s1.db", tmp_path / "s2.db"])
    u = merged.usage
    assert (u.calls, u.input_tokens, u.output_tokens) == (whole.usage.calls, whole.usage.input_tokens, whole.usage.output_tokens)
    assert u.cost_usd == pytest.approx(whole.usage.cost_usd, rel=1e-12)
    assert u.calls == sum(x.calls for x in usages)
    assert merged.cache_entries == calls_whole
    run = arena.load_run(merged.run_id, db=tmp_path / "m.db")
    assert run.summary.calls == whole.usage.calls and run.summary.extra["totals"]["calls"] == whole.usage.calls
    assert _comparable(run.report(bootstrap=100)) == _comparable(whole.report)
    # a fresh run of the whole spec on the merged store (--new) is answered by the merged call cache
    before = loopback.requests
    fresh = arena.run_tournament(spec, db=tmp_path / "m.db", new=True, write_reports=False, handle_sigint=False)
    assert loopback.requests == before and fresh.stats.cached_calls == calls_whole and fresh.stats.calls == 0


def test_a_shard_left_with_errors_merges_and_is_finished_on_the_merged_store(tmp_path, loopback):
    judge = tmp_path / "loop.toml"
    judge.write_text(
        f'kind = "llm"\nmodel = "openai/gpt-4o-mini"\napi_base = "{loopback.api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
        'max_tokens = 64\ntimeout = 5\nmax_retries = 0\nconcurrency = 4\n'
    )
    spec = {"name": "err", "pool": str(_loop_pool(tmp_path / "pool", 6)), "judge": str(judge), "seed": 1, "bootstrap": 50,
            "scheduler": {"kind": "anchored", "baseline": "delta"}}
    whole = _run(spec, tmp_path / "whole.db")
    _run(spec, tmp_path / "s1.db", "1/2")
    loopback.set_faults(**{"500": 1.0})  # shard 2's judge fails every call
    broken = _run(spec, tmp_path / "s2.db", "2/2")
    assert broken.status == RunStatus.ERRORS and broken.unresolved == 9
    merged = arena.merge_runs(tmp_path / "m.db", [tmp_path / "s1.db", tmp_path / "s2.db"])
    assert merged.status == RunStatus.ERRORS and merged.usage.input_tokens == whole.usage.input_tokens // 2  # failed calls carry no tokens
    loopback.set_faults(**{"500": 0.0})
    before = loopback.requests
    done = _run(spec, tmp_path / "m.db")  # the whole spec on the merged store judges only what shard 2 left
    assert done.run_id == merged.run_id and done.status == RunStatus.DONE
    assert loopback.requests - before == whole.usage.calls // 2
    assert _comparable(done.report) == _comparable(whole.report)


# -- refusals: one line, exit 2, OUT untouched ----------------------------------------------------------


@pytest.fixture(scope="module")
def shard_stores(tmp_path_factory):
    """Shards 1/2 and 2/2 of a small demo tournament, shard 2/2 with another seed, a shard of a
    split into 3, and the unsplit run, each on its own store."""
    d = tmp_path_factory.mktemp("stores")
    spec = _demo(prompts=12, bootstrap=50)
    _run(spec, d / "s1.db", "1/2")
    _run(spec, d / "s2.db", "2/2")
    _run(_demo(prompts=12, bootstrap=50, seed=4), d / "seed4_s2.db", "2/2")
    _run(_demo(prompts=12, bootstrap=50, judge="surrogate", models=["gpt4_0613", "Yi-34B-Chat", "vicuna-7b-v1.5"]), d / "models_s2.db", "2/2")
    _run(spec, d / "of3.db", "2/3")
    from arena.resources import resolve

    preset = resolve("judges", "surrogate", ".toml").read_text()
    judge = d / "judge.toml"  # the same preset file, edited between two shards
    judge.write_text(preset)
    _run(_demo(prompts=12, bootstrap=50, judge=str(judge)), d / "judge_s1.db", "1/2")
    judge.write_text(preset.replace("tie = 0.10", "tie = 0.12"))
    _run(_demo(prompts=12, bootstrap=50, judge=str(judge)), d / "judge_s2.db", "2/2")
    _run(spec, d / "whole.db")
    shutil.copy(d / "s1.db", d / "s1_copy.db")
    shutil.copy(d / "s2.db", d / "s2_unfinished.db")
    con = sqlite3.connect(d / "s2_unfinished.db")
    con.execute("UPDATE runs SET status = 'interrupted'")
    con.commit()
    con.close()
    return d


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.mark.parametrize(
    "inputs,message",
    [
        (["s1.db"], r"^Error: shard 2/2 of 'sh' is missing \(given: 1/2 in .*s1.db\); merge needs all 2$"),
        (["s1.db", "s1_copy.db", "s2.db"], r"^Error: shard 1/2 is given twice: .*s1.db: shard 1/2 \(run sh-shard1of2-.*\) and .*s1_copy.db"),
        (["s1.db", "seed4_s2.db"], r"^Error: .*seed4_s2.db: shard 2/2 \(run .*\) is of another tournament than .*s1.db: shard 1/2 \(run .*\): seed 3 vs 4$"),
        (["s1.db", "models_s2.db"], r"is of another tournament than .*: spec models 'all' vs \['gpt4_0613'"),
        (["judge_s1.db", "judge_s2.db"], r"is of another tournament than .*judge_s1.db: shard 1/2 \(run .*\): judge preset tie 0.1 vs 0.12$"),
        (["s1.db", "of3.db"], r"^Error: .*of3.db: shard 2/3 \(run .*\) splits the tournament into 3 shards, .*s1.db: shard 1/2 .* into 2$"),
        (["s1.db", "s2_unfinished.db"], r"^Error: .*s2_unfinished.db: shard 2/2 \(run .*\) is interrupted, not finished: run `arena tournament run SPEC --shard 2/2 --db .*` again"),
        (["s1.db", "whole.db"], r"^Error: .*whole.db: holds no shard run"),
        (["s1.db", "s1.db"], r"^Error: .*s1.db: given twice as a shard store$"),
        (["s1.db", "nowhere.db"], r"^Error: .*nowhere.db: no arena database here"),
        ([], r"^Error: Missing argument 'shards'"),
    ],
    ids=["missing", "duplicate", "other-seed", "other-models", "other-judge", "other-count", "unfinished", "no-shard", "same-file", "no-file", "no-shards"],
)
@pytest.mark.parametrize("out_exists", [False, True], ids=["new-out", "existing-out"])
def test_merge_refuses_with_one_line_and_leaves_out_untouched(cli, shard_stores, tmp_path, inputs, message, out_exists):
    import re

    out = tmp_path / "out.db"
    if out_exists:
        shutil.copy(shard_stores / "whole.db", out)
    before = _digest(out)
    r = cli("run", "merge", out, *[shard_stores / p for p in inputs])
    assert r.code == 2, r.out + r.err
    last = r.err.strip().splitlines()[-1]
    assert re.search(message, last), last
    assert "Traceback" not in r.err
    assert _digest(out) == before
    assert not list(tmp_path.glob(".out.db.merge-*"))  # no temporary file left behind


def test_merge_refuses_a_missing_out_folder_and_folders_as_stores(cli, shard_stores, tmp_path):
    shards = [shard_stores / "s1.db", shard_stores / "s2.db"]
    out = tmp_path / "no" / "such" / "o.db"
    r = cli("run", "merge", out, *shards)
    assert r.code == 2 and r.out == ""
    assert r.err.strip() == f"Error: {out}: the folder {out.parent} does not exist; create it first or merge into another path"
    assert not (tmp_path / "no").exists()
    r = cli("run", "merge", tmp_path, *shards)  # OUT a folder
    assert r.code == 2 and r.err.strip().startswith(f"Error: {tmp_path}: is a folder; OUT is the arena database file to merge into")
    r = cli("run", "merge", tmp_path / "o.db", shards[0], shard_stores)  # a shard argument that is a folder
    assert r.code == 2 and r.err.strip() == f"Error: {shard_stores}: is a folder; each shard argument is an arena database file (a --db of `tournament run --shard K/N`)"
    assert "--db expects" not in r.err and not (tmp_path / "o.db").exists()


def test_merge_refuses_out_among_inputs_and_a_second_merge(cli, shard_stores, tmp_path):
    r = cli("run", "merge", shard_stores / "s1.db", shard_stores / "s1.db", shard_stores / "s2.db")
    assert r.code == 2 and "is also a shard store to merge" in r.err
    out = tmp_path / "m.db"
    r = cli("run", "merge", out, shard_stores / "s1.db", shard_stores / "s2.db")
    assert r.code == 0, r.err
    assert "Merged 2 shards" in r.out and "arena report sh-" in r.out
    r = cli("tournament", "show", "sh", "--db", out)
    assert r.code == 0 and "merged from shards: 1/2 sh-shard1of2-" in r.out
    r = cli("tournament", "show", "sh", "--db", shard_stores / "s2.db")
    assert r.code == 0 and "shard 2/2 of the prompts (6)" in r.out
    before = _digest(out)
    r = cli("run", "merge", out, shard_stores / "s1.db", shard_stores / "s2.db")
    assert r.code == 2 and "already holds run sh-" in r.err and _digest(out) == before


def test_merge_into_a_store_with_other_runs_keeps_them(cli, shard_stores, tmp_path):
    out = tmp_path / "main.db"
    shutil.copy(shard_stores / "of3.db", out)  # another run of the same pool, already there
    r = cli("run", "merge", out, shard_stores / "s2.db", shard_stores / "s1.db", "--format", "json")
    assert r.code == 0, r.err
    info = json.loads(r.out)
    assert [s["index"] for s in info["shards"]] == [1, 2] and info["status"] == "done"
    con = sqlite3.connect(out)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    con.close()


def test_merge_refuses_a_pool_of_the_same_name_with_other_answers(cli, shard_stores, tmp_path):
    out = tmp_path / "main.db"
    shutil.copy(shard_stores / "of3.db", out)
    con = sqlite3.connect(out)
    con.execute("UPDATE outputs SET text = text || ' (edited)' WHERE rowid = (SELECT MIN(rowid) FROM outputs)")
    con.execute("DELETE FROM runs")
    con.commit()
    con.close()
    before = _digest(out)
    r = cli("run", "merge", out, shard_stores / "s1.db", shard_stores / "s2.db")
    assert r.code == 2 and "holds a pool 'demo' with other prompts or answers than the shards'" in r.err
    assert _digest(out) == before


def test_cli_shard_option_refusals_write_nothing(cli, tmp_path):
    db = tmp_path / "x.db"
    r = cli("tournament", "run", "demo", "--shard", "3/2", "--db", db)
    assert r.code == 2 and r.err.strip().endswith("--shard: expected K/N with 1 <= K <= N (e.g. 1/4), got 3/2")
    spec = tmp_path / "swiss.toml"
    spec.write_text('name = "sw"\npool = "data/demo"\n[scheduler]\nkind = "swiss"\n')
    r = cli("tournament", "run", spec, "--shard", "1/2", "--db", db)
    assert r.code == 2 and "--shard: a swiss tournament cannot be split by prompt: each round is paired by the running scores" in r.err
    r = cli("tournament", "plan", spec, "--shard", "1/2", "--db", db)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    # a cascade calibrates on a pilot of the run's matches: a shard would calibrate on another pilot
    r = cli("tournament", "run", "cascade", "--shard", "1/2", "--db", db)
    assert r.code == 2 and "--shard: the cascade judge" in r.err and "cannot judge a shard" in r.err
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", " 1/2"], "--shard: expected K/N, shard K of N with 1 <= K <= N (e.g. 1/4), got ' 1/2'"),
        (["--shard", "1/1"], "--shard: 1/1 is the whole tournament, not a shard: leave the shard out to run it unsplit"),
        (["--shard", "1/2", "--shard", "2/2"], "--shard: given 2 times (1/2, 2/2); give one K/N"),
    ],
)
@pytest.mark.parametrize("command", ["run", "plan"])
def test_cli_shard_spellings_are_strict(cli, tmp_path, command, args, message):
    db = tmp_path / "x.db"
    r = cli("tournament", command, "demo", *args, "--db", db)
    assert r.code == 2 and r.err.strip() == f"Error: {message}" and r.out == ""
    assert not db.exists()


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_shard_without_prompts_is_refused(cli, tmp_path, command):
    spec = tmp_path / "t.toml"
    spec.write_text('name = "few"\npool = "data/demo"\nprompts = 3\nseed = 1\njudge = "surrogate"\n[scheduler]\nkind = "round-robin"\n')
    yes = ["--yes", "--out", tmp_path / "r"] if command == "run" else []
    r = cli("tournament", command, spec, "--shard", "4/4", *yes, "--db", tmp_path / "x.db")
    assert r.code == 2 and r.out == "", r.out
    line = r.err.strip()
    assert "\n" not in line and line == f"Error: {spec}: shard 4/4 owns no prompt: the tournament selects 3 prompts, so split it into at most 3 shards"
    assert cli("tournament", command, spec, "--shard", "3/4", *yes, "--db", tmp_path / "x.db").code == 0
