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
