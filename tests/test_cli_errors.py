"""Usage mistakes at the CLI edge, as a user makes them (a subprocess against the installed typer
and click): the command's usage, one `Error:` line, exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CASES = [
    (["tournamnt", "run"], "No such command 'tournamnt'"),  # misspelled command
    (["tournament", "run", "--bogus"], "No such option: --bogus"),  # unknown option
    (["judge", "list", "--format", "xml"], "'xml' is not one of"),  # bad choice
    (["ratings", "fit"], "Missing argument"),  # missing argument
    (["tournament", "run", "--concurrency", "0"], "--concurrency"),  # out of range
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_usage_mistake_is_usage_and_one_error_line_with_exit_2(tmp_path, args, expected):
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_OFFLINE_MODE="true", ARENA_DB=str(tmp_path / "a.db"))
    p = subprocess.run([sys.executable, "-m", "arena", *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("Usage: arena")
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1 and errors[0] == lines[-1] and expected in errors[0]
    assert not (tmp_path / "a.db").exists()  # nothing written


def test_a_group_without_a_command_prints_its_help(tmp_path):
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_OFFLINE_MODE="true")
    p = subprocess.run([sys.executable, "-m", "arena", "tournament"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0 and "Usage: arena tournament" in p.stdout + p.stderr and "Error" not in p.stderr
