"""Shared fixtures. Tests never read ../shared; they use files committed under tests/fixtures or data/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


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
