"""Throughput and scale: the judge path against references measured in the same run (issue 18).

Sections (all by default; `--only judge,startup,memory,adaptive` picks some):

judge     A zero-latency loopback OpenAI-compatible server (tests/loopback.py, its own process)
          at concurrency 64. In alternating rounds, the same number of judge calls through:
            aiohttp   a bare aiohttp client posting pre-rendered judge prompts (the machine's limit);
            fast      arena's LLM judge on the fast path (`openai/...` with api_base): prompt
                      rendering with fences, call cache reads and writes in a SQLite file, the
                      retry/rate-limit policy, label parsing, `Store.record_verdict` per match;
            litellm   bare `litellm.acompletion` with the same prompts;
            arena-ll  arena's LLM judge forced onto litellm (`client = "litellm"`).
          Prints calls/s and fast/aiohttp (target >= 0.25, and >= 1,000 calls/s) and
          arena-ll/litellm (target >= 0.80).
startup   Seconds (wall and CPU, median of 5) from `arena tournament run` starting to the first
          judge request reaching a loopback server: 5,000 prompts x 5 models of 1 KB answers,
          round-robin (100,000 calls), beside the previous main (PREVIOUS_MAIN), alternating; both
          trees' bytecode is compiled first (as an installed arena has it). Target: within 1 s.
memory    Peak resident memory of a surrogate run over 50,000 prompts x 10 models of 1 KB answers
          (single-elimination, the default bootstrap: its report is part of the run), sampled from
          /proc; each run is stopped after --memory-seconds of judging (1e9: the whole run, about
          15 min idle). Target: under 500 MB.
          It prints today's reference beside this tree: the commit REFERENCE_COMMIT (main before
          this work), extracted with `git archive` and run in the same bench run on a fixture store
          it builds itself (skipped with a note when git is not at hand).
adaptive  Milliseconds per adaptive wave at 16 / 50 / 100 models, the per-pick reference
          implementation (tests/test_adaptive_vectorised.py) beside the vectorised one with the
          same picks (block = 1, picks compared) and the default blocks; and `simulate`'s
          adaptive time over round-robin's at 100 models (block = 1: the per-pick greedy).

The machine has 2 cores shared with other work: the rounds alternate so drifting load hits
every contender alike; run it when `uptime` shows a low load, and more than once.

    .venv/bin/python bench/throughput.py                       # everything
    .venv/bin/python bench/throughput.py --only judge --calls 20000
    .venv/bin/python bench/throughput.py --only startup,memory --memory-seconds 60
    .venv/bin/python bench/throughput.py --only startup --startup-profile   # and where the start-up goes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MODEL = "openai/bench-judge"
KEY_ENV = "ARENA_BENCH_KEY"


# -- judge ---------------------------------------------------------------------------------------
from judging import contexts, start_server  # noqa: E402  (the loopback server and synthetic matches of bench/judging.py)


async def bare_aiohttp(api_base: str, messages: list[list[dict]], concurrency: int) -> float:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    url = api_base + "/chat/completions"
    headers = {"Authorization": f"Bearer {os.environ[KEY_ENV]}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(m):
            async with sem:
                async with session.post(url, json={"model": "bench-judge", "messages": m, "temperature": 0, "max_tokens": 1024}, headers=headers) as r:
                    data = await r.json()
                    return data["choices"][0]["message"]["content"]

        t0 = time.perf_counter()
        out = await asyncio.gather(*(one(m) for m in messages))
        dt = time.perf_counter() - t0
    assert all(out)
    return dt


async def bare_litellm(api_base: str, messages: list[list[dict]], concurrency: int) -> float:
    import litellm

    sem = asyncio.Semaphore(concurrency)
    key = os.environ[KEY_ENV]

    async def one(m):
        async with sem:
            r = await litellm.acompletion(
                model=MODEL, messages=m, api_base=api_base, api_key=key, temperature=0, max_tokens=1024,
                timeout=60, num_retries=0, max_retries=0,
            )
            return r.choices[0].message.content

    t0 = time.perf_counter()
    out = await asyncio.gather(*(one(m) for m in messages))
    dt = time.perf_counter() - t0
    assert all(out)
    return dt


async def judge_path(judge, store, run_id: str, ctxs) -> float:
    async def one(c):
        r = await judge.judge(c)
        store.record_verdict(run_id, r.verdict, r.games)
        assert r.verdict.outcome != "unresolved", r.games[0].error

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in ctxs))
    return time.perf_counter() - t0


def bench_judge(calls: int, concurrency: int, rounds: int) -> dict:
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-key")
    proc, port = start_server(0.0)
    api_base = f"http://127.0.0.1:{port}/v1"
    try:
        from arena.backends._litellm import _load
        from arena.judges.llm import build
        from arena.store import Store

        _load()
        preset = {"kind": "llm", "model": MODEL, "api_base": api_base, "api_key_env": KEY_ENV, "template": "pairwise",
                  "max_tokens": 1024, "concurrency": concurrency, "timeout": 60, "max_retries": 2}
        totals = {"aiohttp": 0.0, "fast": 0.0, "litellm": 0.0, "arena-ll": 0.0}
        cpu = dict.fromkeys(totals, 0.0)  # this process's CPU (the server runs in its own)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.db")
            fast = build(preset, name="bench", base_dir=ROOT / "judges", store=store)
            slow = build({**preset, "client": "litellm"}, name="bench", base_dir=ROOT / "judges", store=store)
            assert type(fast.backend).__name__ == "OpenAICompatBackend" and type(slow.backend).__name__ == "LiteLLMBackend"
            store.create_run("bench", "bench", {}, "h", 0)
            per_round = max(2, calls // rounds) // 2  # matches: 2 calls each

            async def run_all():
                warm = contexts(64, "warm")
                msgs = [fast.messages(c, "AB") for c in warm]
                await bare_aiohttp(api_base, msgs, concurrency)
                await bare_litellm(api_base, msgs, concurrency)
                await judge_path(fast, store, "bench", contexts(64, "warm-f"))
                await judge_path(slow, store, "bench", contexts(64, "warm-s"))
                for r in range(rounds):
                    ctx = {k: contexts(per_round, f"{k}-{r}") for k in totals}
                    for k in ("aiohttp", "litellm"):
                        msgs = [m for c in ctx[k] for m in (fast.messages(c, "AB"), fast.messages(c, "BA"))]
                        fn = bare_aiohttp if k == "aiohttp" else bare_litellm
                        c0 = time.process_time()
                        totals[k] += await fn(api_base, msgs, concurrency)
                        cpu[k] += time.process_time() - c0
                    for k, judge in (("fast", fast), ("arena-ll", slow)):
                        c0 = time.process_time()
                        totals[k] += await judge_path(judge, store, "bench", ctx[k])
                        cpu[k] += time.process_time() - c0
                await fast.aclose()
                await slow.aclose()

            asyncio.run(run_all())
            store.close()
        n = 2 * per_round * rounds
        rate = {k: n / v for k, v in totals.items()}
        print(f"judge path, zero-latency loopback, concurrency {concurrency}, {n:,} calls each in {rounds} alternating rounds:")
        for k, label in (("aiohttp", "bare aiohttp client"), ("fast", "arena judge, fast path"), ("litellm", "bare litellm.acompletion"),
                         ("arena-ll", "arena judge, litellm path")):
            print(f"  {label:<28} {rate[k]:>8,.0f} calls/s   client CPU {cpu[k] / n * 1000:.3f} ms a call")
        r1 = rate["fast"] / rate["aiohttp"]
        r2 = rate["arena-ll"] / rate["litellm"]
        print(f"  fast / aiohttp      = {r1:.2f}x  (target >= 0.25x) {'PASS' if r1 >= 0.25 else 'FAIL'}")
        print(f"  fast calls/s        = {rate['fast']:,.0f}  (target >= 1,000) {'PASS' if rate['fast'] >= 1000 else 'FAIL'}")
        print(f"  arena-ll / litellm  = {r2:.2f}x  (target >= 0.80x) {'PASS' if r2 >= 0.80 else 'FAIL'}")
        print(f"  fast / litellm path = {rate['fast'] / rate['arena-ll']:.1f}x")
        return rate
    finally:
        proc.stdin.close()
        proc.wait(10)


# -- adaptive ------------------------------------------------------------------------------------
def _adaptive_at(n: int, cls, matches_before: int, **params) -> tuple[float, float, list[str]]:
    """Milliseconds (wall, CPU) of one adaptive wave at n models after about `matches_before`
    decided matches, and the wave's match ids."""
    import hashlib

    import numpy as np

    from arena.records import Prompt, Verdict

    models = [f"m{i:03d}" for i in range(n)]
    strength = {m: 400 * float(x) for m, x in zip(models, np.linspace(-1, 1, n))}
    prompts = [Prompt(f"p{i:04d}", "") for i in range(max(200, matches_before // 10))]
    answered = {p.prompt_id: set(models) for p in prompts}
    s = cls(prompts, answered, models, 0, target="none", max_matches=10**7, **params)
    todo = s.start()
    timed = 0.0
    last: list[str] = []
    while todo:
        verdicts = []
        for m in todo:
            u = int.from_bytes(hashlib.sha256(m.match_id.encode()).digest()[:4], "big") / 2**32
            pa = 1 / (1 + 10 ** ((strength[m.model_b] - strength[m.model_a]) / 400))
            o = "a" if u < pa else "b"
            verdicts.append((m, Verdict(m.match_id, o, 1, True)))
        last_released = len(s._released)
        t0, c0 = time.perf_counter(), time.process_time()
        todo = s.update(verdicts)
        timed, cpu = time.perf_counter() - t0, time.process_time() - c0
        last = [m.match_id for m in todo]
        if last_released >= matches_before:
            break
    return timed * 1000, cpu * 1000, last


def bench_adaptive() -> None:
    from test_adaptive_vectorised import ReferenceAdaptive

    from arena.tournaments._adaptive import Adaptive

    print("adaptive: one wave (fit + selection): the per-pick reference, the same picks vectorised (block = 1,")
    print("picks asserted equal), and the default (a quarter of the models per gain evaluation):")
    for n in (16, 50, 100):
        before = 10 * n
        old_ms, old_cpu, old_pick = _adaptive_at(n, ReferenceAdaptive, before)
        one_ms, one_cpu, one_pick = _adaptive_at(n, Adaptive, before, block=1)
        new_ms, new_cpu, new_pick = _adaptive_at(n, Adaptive, before)
        same = "same picks" if old_pick == one_pick else "PICKS DIFFER"
        print(f"  {n:>3} models, wave of {len(new_pick):>4}: reference {old_ms:7.1f} ms ({old_cpu:7.1f} ms CPU), "
              f"block=1 {one_ms:6.1f} ms ({same}), default {new_ms:6.1f} ms ({new_cpu:6.1f} ms CPU)"
              + ("" if n != 100 else f"; target < 50 ms: {'PASS' if new_ms < 50 else 'FAIL (wall)'}"))
    from arena.tournaments.simulate import simulate
    from arena.tournaments.spec import SCHEDULERS

    t, c = {}, {}
    # warm-up: imports, first fits and numpy's first calls are paid once here, not by whichever
    # scheduler happens to run first (an earlier version of this bench charged them to round-robin)
    simulate(n_models=100, n_prompts=200, schedulers=["round-robin", "adaptive"], budgets=[2000], trials=1, seed=1)
    runs = (("round-robin", "round-robin", None, 3), ("adaptive (reference)", "adaptive", ReferenceAdaptive, 1),
            ("adaptive:block=1", "adaptive:block=1", Adaptive, 3), ("adaptive", "adaptive", Adaptive, 3))
    for label, kind, cls, reps in runs:
        if cls is not None:
            SCHEDULERS["adaptive"] = cls
        for _ in range(reps):  # the fastest of `reps` runs: the least disturbed by other work on the machine
            t0, c0 = time.perf_counter(), time.process_time()
            simulate(n_models=100, n_prompts=200, schedulers=[kind], budgets=[20000], trials=1, seed=0)
            w, cpu = time.perf_counter() - t0, time.process_time() - c0
            t[label], c[label] = min(t.get(label, w), w), min(c.get(label, cpu), cpu)
    SCHEDULERS["adaptive"] = Adaptive
    print("  simulate, 100 models, 20,000 calls, 1 trial (wall, CPU; ratio to round-robin; fastest of 3, the reference once):")
    for label in t:
        print(f"    {label:<21} {t[label]:6.2f} s  {c[label]:6.2f} s CPU  = {t[label] / t['round-robin']:.2f}x wall, "
              f"{c[label] / c['round-robin']:.2f}x CPU" + ("  (target <= 2x)" if label == "adaptive" else ""))


# -- main -------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="judge,startup,memory,adaptive", help="comma-separated sections")
    ap.add_argument("--memory-seconds", type=float, default=150.0, help="memory section: seconds each run judges at most")
    ap.add_argument("--memory-prompts", type=int, default=50_000)
    ap.add_argument("--memory-no-reference", action="store_true",
                    help="memory section: this tree only (a whole run, --memory-seconds 1e9, takes about 15 min a tree)")
    ap.add_argument("--calls", type=int, default=8000, help="judge calls per contender (judge section)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--startup-profile", action="store_true", help="start-up section: also where this tree's start-up goes (cProfile)")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    if "judge" in only:
        bench_judge(args.calls, args.concurrency, args.rounds)
    if "startup" in only:
        bench_startup(profile=args.startup_profile)
    if "memory" in only:
        bench_memory(args.memory_prompts, seconds=args.memory_seconds, reference=not args.memory_no_reference)
    if "adaptive" in only:
        bench_adaptive()


# -- start-up and memory: this tree beside today's reference, both run as `arena tournament run` ------
REFERENCE_COMMIT = "bfcc9e297c98077a6dc3f5cae3145031c136fe52"
"""main before issue 18's start-up and memory work (2026-11-30): today's reference, extracted with
`git archive` and run in the same bench run as this tree, on a fixture store each builds itself."""
PREVIOUS_MAIN = "8da01f0634103a108e3769fdda277b45569fff00"
"""main before the second start-up pass (schema 6's answers index, the faster pool digest and
round-robin build, the first wave's calls started before the rest are reserved): the start-up
section's reference (1.55 s to the first request when measured idle after the merges)."""

_FIXTURE = r"""
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from arena.records import Output, Prompt
from arena.store import Store
db, n_prompts, n_models, answer_kb = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
words = max(1, int(answer_kb * 1000 / 27) - 2)
store = Store(db)
models = [f"model-{k}" for k in range(n_models)]
prompts = [Prompt(f"p{i:06d}", f"Question {i}: explain idea {i % 97} in detail.") for i in range(n_prompts)]
def outputs():
    for i, p in enumerate(prompts):
        for k, m in enumerate(models):
            yield Output(p.prompt_id, m, f"{m} answers {p.prompt_id}. " + "Some reasoning words here. " * (words + (i + k) % 3))
store.write_pool("big", prompts, outputs(), source="bench", format="native")
store.close()
"""

_RUN = r"""
import sys
sys.path.insert(0, sys.argv[1])
if len(sys.argv) > 3:  # --startup-profile: cProfile until the bench signals the first judge request
    import cProfile, os, signal
    prof, dump_to = cProfile.Profile(), sys.argv[3]
    def _dump(*_):
        prof.disable()
        prof.dump_stats(dump_to)
        os._exit(0)
    signal.signal(signal.SIGUSR1, _dump)
    prof.enable()
import arena
assert arena.__file__.startswith(sys.argv[1]), arena.__file__
from arena.cli import main
sys.argv = ["arena", "tournament", "run", sys.argv[2], "--yes", "--plain", "--new"]
main()
"""

# where a run's start-up goes, by the functions that own each step (cumulative seconds under cProfile)
_STEPS = [
    ("imports", "<frozen importlib._bootstrap>", "_find_and_load"),
    ("pool answers read + digest (StoredAnswers)", "answers.py", "__init__"),
    ("schedule sized (_Fixed.size, lazy)", "_schedulers.py", "size"),
    ("schedule started (_Fixed.start: first chunk)", "_schedulers.py", "start"),
    ("tiktoken encoding loaded", "_pricing.py", "_encoding"),
    ("plan's sampled token counts (sample_calls)", "estimate.py", "sample_calls"),
    ("plan (plan_tournament, all of it)", "plan.py", "plan_tournament"),
]


def code_trees(tmp: Path, commit: str = REFERENCE_COMMIT, label: str = "today") -> dict[str, Path]:
    """{label: the reference commit's tree, "now": this tree}; the reference is left out (with a
    note) when git or the commit is not at hand."""
    trees = {"now": ROOT}
    ref = tmp / "reference"
    ref.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(ref)], input=archive, check=True)
        trees = {label: ref, "now": ROOT}
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"  (no reference tree: git archive {commit[:7]} failed: {e}; printing this tree's figures only)")
    return trees


def _fixture(code: Path, tmp: Path, n_prompts: int, n_models: int, answer_kb: float, judge_toml: str, scheduler: str,
             bootstrap: int | None = 0) -> Path:
    """A store with a synthetic pool `big` (answers of about `answer_kb` KB) built by `code`'s own
    Store, and a spec over it; returns the spec path."""
    tmp.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", _FIXTURE, str(code), str(tmp / "arena.db"), str(n_prompts), str(n_models), str(answer_kb)], check=True)
    (tmp / "judge.toml").write_text(judge_toml)
    spec = tmp / "big.toml"
    spec.write_text(f'name = "big"\npool = "big"\njudge = "{tmp / "judge.toml"}"\nconcurrency = 64\nmax_calls = 1000000\n'
                    f'max_cost_usd = 1000000.0\n{"" if bootstrap is None else f"bootstrap = {bootstrap}{chr(10)}"}'
                    f'[scheduler]\nkind = "{scheduler}"\n')
    return spec


def _start_run(code: Path, spec: Path, profile: Path | None = None, log=None) -> subprocess.Popen:
    """`arena tournament run` of `spec` with `code`; its output to a pipe, or to the open file `log`
    for a long run (a pipe nobody reads fills after ~30 min of progress lines and blocks the run)."""
    env = {**os.environ, "ARENA_DB": str(spec.parent / "arena.db")}
    return subprocess.Popen([sys.executable, "-c", _RUN, str(code), str(spec), *([str(profile)] if profile else [])], env=env,
                            stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=spec.parent)


def _profile_steps(path: Path) -> None:
    """Print the cumulative seconds of each start-up step (`_STEPS`) from a cProfile dump."""
    import pstats

    stats = pstats.Stats(str(path)).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, callers)
    total = max(v[3] for v in stats.values())
    print(f"  cProfile of this tree to the first request ({total:.2f} s under the profiler; steps overlap where nested):")
    for label, file_part, func in _STEPS:
        cum = max((v[3] for (f, _, n), v in stats.items() if n == func and file_part in f), default=0.0)
        print(f"    {label:<46} {cum:6.2f} s  ({cum / total:4.0%})")


def _child_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_startup(n_prompts: int = 5000, n_models: int = 5, repeats: int = 5, profile: bool = False) -> None:
    """Seconds (wall and CPU) from `arena tournament run` starting to the first judge request
    reaching the loopback server, the previous main (PREVIOUS_MAIN) beside this tree, median of
    `repeats` runs each, the two trees alternating so drifting load hits both alike."""
    import statistics
    import threading

    from loopback import LoopbackServer

    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-key")
    calls = n_prompts * n_models * (n_models - 1) // 2 * 2
    first: list[float] = []
    got = threading.Event()

    def hook(req):
        if not got.is_set():
            first.append(time.perf_counter())
            got.set()
        return None

    print(f"start-up: `arena tournament run` on {n_prompts:,} prompts x {n_models} models (1 KB answers), round-robin, "
          f"{calls:,} judge calls: seconds to the first judge request (process start included), median of {repeats}, "
          f"load average {os.getloadavg()[0]:.2f} at the start:")
    with LoopbackServer(hook=hook, record=False) as srv, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        judge = (f'kind = "llm"\nmodel = "openai/bench-judge"\napi_base = "{srv.api_base}"\napi_key_env = "{KEY_ENV}"\n'
                 'template = "pairwise"\nmax_tokens = 512\nconcurrency = 64\n')
        trees = code_trees(tmp, PREVIOUS_MAIN, "main")
        for code in trees.values():  # as installed: with bytecode (pip compiles; PYTHONDONTWRITEBYTECODE would not)
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / "arena")], check=True, stdout=subprocess.DEVNULL)
        specs = {label: _fixture(code, tmp / label, n_prompts, n_models, 1.0, judge, "round-robin") for label, code in trees.items()}
        for spec in specs.values():
            shutil.copyfile(spec.parent / "arena.db", spec.parent / "fixture.db")
        walls: dict[str, list[float]] = {label: [] for label in trees}
        cpus: dict[str, list[float]] = {label: [] for label in trees}
        plan_lines: dict[str, str] = {}
        for _ in range(repeats):
            for label, code in trees.items():
                spec = specs[label]
                # each repeat on a fresh copy: a killed run leaves its calls claimed in the store's
                # in-flight registry, and the next run would rightly wait for them to expire
                shutil.copyfile(spec.parent / "fixture.db", spec.parent / "arena.db")
                for extra in ("-wal", "-shm"):
                    (spec.parent / f"arena.db{extra}").unlink(missing_ok=True)
                first.clear()
                got.clear()
                c0 = _child_cpu()
                t0 = time.perf_counter()
                proc = _start_run(code, spec)
                ok = got.wait(600)
                proc.kill()
                out = proc.communicate()[0]
                if not ok:
                    print(out[-2000:])
                    raise SystemExit(f"start-up ({label}): no judge request within 600 s")
                walls[label].append(first[0] - t0)
                cpus[label].append(_child_cpu() - c0)
                plan_lines[label] = next((ln for ln in out.splitlines() if ln.startswith("Plan:")), "")
        figures = {label: (statistics.median(walls[label]), statistics.median(cpus[label])) for label in trees}
        for label, (w, c) in figures.items():
            print(f"  {label:<6} first request after {w:6.2f} s wall, {c:5.2f} s CPU"
                  f"   (runs: {', '.join(f'{x:.2f}' for x in walls[label])} s)")
        if "main" in figures:
            (w0, c0), (w1, c1) = figures["main"], figures["now"]
            print(f"  now / main: {w1 / w0:.2f}x wall, {c1 / c0:.2f}x CPU")
        w, c = figures["now"]
        print(f"  target: first request within 1 s: {'PASS' if w <= 1.0 else 'FAIL'} on wall ({w:.2f} s at load {os.getloadavg()[0]:.1f}), "
              f"{'PASS' if c <= 1.0 else 'FAIL'} on CPU ({c:.2f} s)")
        print(f"  {plan_lines.get('now', '')}")
        if profile:  # one more run of this tree under cProfile, dumped when its first request arrives
            spec = specs["now"]
            shutil.copyfile(spec.parent / "fixture.db", spec.parent / "arena.db")
            for extra in ("-wal", "-shm"):
                (spec.parent / f"arena.db{extra}").unlink(missing_ok=True)
            first.clear()
            got.clear()
            dump = tmp / "startup.prof"
            proc = _start_run(ROOT, spec, dump)
            if got.wait(600):
                import signal

                proc.send_signal(signal.SIGUSR1)
            proc.communicate()
            if dump.exists():
                _profile_steps(dump)


def _rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of a process, from /proc (Linux)."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                got[line.split(":")[0]] = int(line.split()[1]) / 1024
    return got.get("VmRSS", 0.0), got.get("VmHWM", 0.0)


def bench_memory(n_prompts: int = 50_000, n_models: int = 10, seconds: float = 150.0, reference: bool = True) -> None:
    """Peak resident memory of a surrogate run over `n_prompts` x `n_models` answers of about 1 KB
    (single-elimination), today's reference beside this tree: each runs until it finishes or for
    `seconds` after its first decided match, sampled from /proc every 0.2 s."""
    import sqlite3

    if not Path("/proc/self/status").exists():
        print("memory: skipped (needs /proc)")
        return
    print(f"memory: surrogate run, {n_prompts:,} prompts x {n_models} models (about 1 KB answers, "
          f"{n_prompts * n_models / 1000:,.0f} MB of text), single-elimination: peak resident memory")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        peaks: dict[str, float] = {}
        for label, code in (code_trees(tmp) if reference else {"now": ROOT}).items():
            # the default bootstrap (1,000 replicates): the run's report is part of the run's memory
            spec = _fixture(code, tmp / label, n_prompts, n_models, 1.0, 'kind = "surrogate"\n', "single-elimination", bootstrap=None)
            db = spec.parent / "arena.db"
            t0 = time.perf_counter()
            log = open(spec.parent / "run.log", "w")  # noqa: SIM115 - closed below, after the run
            proc = _start_run(code, spec, log=log)
            peak = rss = 0.0
            first_decided = None
            decided = 0
            while proc.poll() is None:
                try:
                    rss, hwm = _rss_mb(proc.pid)
                except OSError:
                    break
                peak = max(peak, hwm)
                now = time.perf_counter()
                if int(now * 5) % 10 == 0:  # every 2 s: has the run started deciding?
                    with contextlib.suppress(sqlite3.Error):
                        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                        decided = con.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
                        con.close()
                    if decided and first_decided is None:
                        first_decided = now
                if first_decided is not None and now - first_decided > seconds:
                    break
                time.sleep(0.2)
            finished = proc.poll() is not None
            if not finished:
                proc.kill()
            proc.wait()
            log.close()
            out = (spec.parent / "run.log").read_text(errors="replace")
            if finished and proc.returncode:
                print(out[-2000:])
            with contextlib.suppress(sqlite3.Error):
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                decided = con.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
                con.close()
            peaks[label] = peak
            print(f"  {label:<6} peak resident {peak:7.0f} MB (resident {rss:.0f} MB at the end); {decided:,} matches decided in "
                  f"{time.perf_counter() - t0:.0f} s, {'finished' if finished else 'stopped by the bench'}")
            shutil.rmtree(spec.parent, ignore_errors=True)
        if "today" in peaks:
            print(f"  now / today: {peaks['now'] / peaks['today']:.2f}x peak resident memory")
        print(f"  target: under 500 MB resident: {'PASS' if peaks['now'] < 500 else 'FAIL'} ({peaks['now']:.0f} MB)")


if __name__ == "__main__":
    main()
