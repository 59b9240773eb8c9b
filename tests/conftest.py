"""Shared fixtures. Tests never read ../shared; they use files committed under tests/fixtures or data/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
if "ARENA_CACHE_DIR" not in os.environ:  # the tokenizer cache (arena.backends._pricing.cache_dir) off the user's home
    import tempfile

    os.environ["ARENA_CACHE_DIR"] = tempfile.mkdtemp(prefix="arena-test-cache-")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def error_line(r) -> str:
    """The one `Error: ...` line of a CLI result `r` (the `cli` fixture's) that exited 2 without a traceback."""
    assert r.code == 2, r.out + r.err
    assert "Traceback" not in r.err
    lines = [x for x in r.err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.err
    return lines[0]


def dump_db(path) -> dict:
    """Every table of the SQLite file `path` as sorted row reprs (to show a command changed nothing)."""
    import sqlite3

    con = sqlite3.connect(path)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    try:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM [{t}]").fetchall())) for t in tables}
    finally:
        con.close()


@pytest.fixture
def store():
    from arena.store import Store

    s = Store(":memory:")
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = tmp_path / "arena.db"
    monkeypatch.setenv("ARENA_DB", str(path))
    return path


@pytest.fixture
def cli(capsys):
    """Run `arena ...` in-process: `r = cli("pool", "list")` gives r.code, r.out, r.err."""
    from types import SimpleNamespace

    from arena.cli import main

    def run(*args: str) -> SimpleNamespace:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return SimpleNamespace(code=code, out=out, err=err)

    return run


@pytest.fixture(scope="session")
def litellm_loaded():
    """litellm imported once per test run (about 2 s), before the first test that calls a backend,
    so no test's own timing or timeouts pay for it."""
    import litellm

    return litellm


@pytest.fixture
def loopback(monkeypatch, litellm_loaded):
    """A real loopback OpenAI-compatible server (tests/loopback.py) in a background thread.

    `loopback.api_base` for `openai/...` or `hosted_vllm/...` model strings; `loopback.hook`,
    `loopback.set_faults(0.3)`, `loopback.requests` / `.counts` / `.bodies`. The env var
    ARENA_TEST_KEY holds a dummy key for presets with `api_key_env = "ARENA_TEST_KEY"`.
    """
    from loopback import LoopbackServer

    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    server = LoopbackServer(retry_after_s=0.02, hang_s=5.0).start()
    yield server
    server.stop()


class LoopJudge:
    """The files of a tournament judged by the loopback server, written under `folder`: a judge
    preset pointing at the server, a pool whose answers carry hidden quality markers that the
    loopback's judge rule reads (`<!-- quality=N -->`: the higher wins), and a tournament spec.
    One writer for the tests that run tournaments against the loopback judge."""

    KEY_ENV = "ARENA_TEST_KEY"

    def __init__(self, server, folder: Path) -> None:
        self._server, self.folder = server, folder

    @property
    def server(self):
        """The loopback server (the `loopback` fixture's, started on first use: a pool needs none)."""
        if callable(self._server):
            self._server = self._server()
        return self._server

    @property
    def api_base(self) -> str:
        return self.server.api_base

    def at(self, folder: Path, server=None) -> LoopJudge:
        """The same writer for another folder (created) and, optionally, another loopback server."""
        folder.mkdir(parents=True, exist_ok=True)
        return LoopJudge(server or self.server, folder)

    def preset(self, name: str = "loop.toml", *, kind: str = "llm", model: str = "openai/loop-judge", extra: str = "", **settings) -> Path:
        """A judge preset (TOML) on the server: `kind`, `model`, `api_base`, `api_key_env`, then
        `settings` (defaults max_tokens 64, timeout 5, max_retries 1, concurrency 4; None drops one),
        then the `extra` TOML lines as given."""
        keys = {"kind": kind, "model": model, "api_base": self.api_base, "api_key_env": self.KEY_ENV}
        keys |= {"max_tokens": 64, "timeout": 5, "max_retries": 1, "concurrency": 4} if kind == "llm" else {}
        keys |= settings
        path = self.folder / name
        path.write_text(_toml_lines(keys) + extra)
        return path

    def pool(self, models: dict[str, int], n_prompts: int, *, name: str = "pool", answer=None, category=None) -> Path:
        """A pool folder (prompts.jsonl, outputs/<model>.jsonl): prompt `q{i}` "Question {i}: explain
        topic {i}."; `answer(model, i, quality)` writes each answer (default "Answer of {model} to {i}.
        <!-- quality=q -->", q from `models`); `category(i)` gives a prompt's category."""
        folder = self.folder / name
        (folder / "outputs").mkdir(parents=True)
        answer = answer or (lambda model, i, q: f"Answer of {model} to {i}. <!-- quality={q} -->")
        with open(folder / "prompts.jsonl", "w") as f:
            for i in range(n_prompts):
                row = {"prompt_id": f"q{i}", "text": f"Question {i}: explain topic {i}."}
                f.write(json.dumps(row | ({"category": category(i)} if category else {})) + "\n")
        for model, q in models.items():
            with open(folder / "outputs" / f"{model}.jsonl", "w") as f:
                f.writelines(json.dumps({"prompt_id": f"q{i}", "output": answer(model, i, q)}) + "\n" for i in range(n_prompts))
        return folder

    def spec(self, judge: Path, pool: Path, *, name: str, scheduler: str = "round-robin", extra: str = "", **keys) -> Path:
        """A tournament spec `t.toml`: name, pool, judge, then `keys` (seed, concurrency, bootstrap...),
        the `extra` TOML lines, and `[scheduler] kind`."""
        path = self.folder / "t.toml"
        path.write_text(_toml_lines({"name": name, "pool": str(pool), "judge": str(judge)} | keys) + extra + f'[scheduler]\nkind = "{scheduler}"\n')
        return path


def _toml_lines(keys: dict) -> str:
    """`key = value` lines (strings, numbers, booleans and their lists as JSON writes them, which TOML reads)."""
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items() if v is not None)


@pytest.fixture
def loop_judge(request, tmp_path) -> LoopJudge:
    """Write a loopback judge preset, a quality-marked pool and a spec under tmp_path (`LoopJudge`);
    the `loopback` server starts when a preset first needs its address."""
    return LoopJudge(lambda: request.getfixturevalue("loopback"), tmp_path)


def run_engine(store, spec, preset_path, **judge_kw):
    """Prepare `spec`'s run in `store`, judge it with the preset at `preset_path` (keyword
    arguments go to `load_judge`) through the one engine, and return (prepared, judge, stats)."""
    import asyncio

    from arena.judges import load_judge, load_preset
    from arena.runner import Runner, prepare_run
    from arena.tournaments import make_scheduler

    preset, _ = load_preset(preset_path)
    prepared = prepare_run(store, spec, preset)
    sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
    judge = load_judge(preset_path, store=store, **judge_kw)

    async def go():
        try:
            return await Runner(store, prepared, judge, sched).run()
        finally:
            await judge.aclose()

    return prepared, judge, asyncio.run(go())
