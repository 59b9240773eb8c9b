"""Every command that writes files: an `--out` mistake is one `Error: <path>: expected ...` line,
exit 2, no traceback, and nothing left behind (no `.tmp`, no half-written folder); a good `--out`
still writes (`arena.outpaths`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parent / "fixtures"
PEERS = FIX / "peers"
PAIRS = FIX / "reliability" / "llmbar_natural.json"

# (name, kind of --out the command writes, the command's arguments before --out)
WRITERS = [
    ("pool export jsonl", "file", ["pool", "export", "ae", "--format", "jsonl"]),
    ("pool export native", "folder", ["pool", "export", "ae", "--format", "native"]),
    ("pool export arena_hard", "folder", ["pool", "export", "ae", "--format", "arena_hard"]),
    ("pool export alpaca_eval", "folder", ["pool", "export", "ae", "--format", "alpaca_eval"]),
    ("pool export mt_bench", "folder", ["pool", "export", "ae", "--format", "mt_bench"]),
    ("verdicts export battles", "file", ["verdicts", "export", "ae", "--format", "battles"]),
    ("verdicts export jsonl", "file", ["verdicts", "export", "ae", "--format", "jsonl"]),
    ("verdicts export arena_hard", "folder", ["verdicts", "export", "ae", "--format", "arena_hard"]),
    ("verdicts export alpaca_eval", "folder", ["verdicts", "export", "ae", "--format", "alpaca_eval"]),
    ("verdicts export mt_bench", "folder", ["verdicts", "export", "ae", "--format", "mt_bench"]),
    ("verdicts export mt_bench .jsonl", "file", ["verdicts", "export", "ae", "--format", "mt_bench"]),
    ("report", "folder", ["report", "ae", "--bootstrap", "0"]),
    ("tournament run", "folder", ["tournament", "run", "demo", "--yes"]),
    ("judge eval", "file", ["judge", "eval", "--judge", "surrogate", "--pairs", PAIRS]),
    ("judge score", "file", ["judge", "score", "--verdicts", FIX / "reliability" / "llmbar_natural_gpt4_vanilla.json", "--pairs", PAIRS]),
    ("surrogate train", "file", ["surrogate", "train", "--data", PEERS / "alpaca_eval", "--no-cv", "--buckets", "4096"]),
]
MISTAKES = {"file": ["folder_for_file", "parent_is_a_file", "proc", "permission_denied", "read_only"],
            "folder": ["file_for_folder", "parent_is_a_file", "proc", "permission_denied", "read_only"]}
CASES = [pytest.param(name, kind, args, m, id=f"{name}-{m}",
                      marks=[pytest.mark.skipif(m == "read_only" and os.geteuid() == 0, reason="root writes in a 0o500 folder (/proc covers an unwritable parent)")])
         for name, kind, args in WRITERS for m in MISTAKES[kind]]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.name.startswith("arena.db")}


@pytest.fixture
def work(cli, db_path, tmp_path, monkeypatch):
    """A store with run `ae` and pool `ae` (AlpacaEval annotations), the current folder a fresh one."""
    r = cli("verdicts", "import", PEERS / "alpaca_eval", "--format", "alpaca_eval", "--name", "ae", "--pool", "ae")
    assert r.code == 0, r.err
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tmp_path


def _out_for(mistake: str, kind: str, root: Path) -> Path:
    if mistake == "folder_for_file":
        (root / "afolder.jsonl").mkdir()
        return root / "afolder.jsonl"
    if mistake == "file_for_folder":
        (root / "afile").write_text("keep me\n")
        return root / "afile"
    if mistake == "parent_is_a_file":
        (root / "afile").write_text("keep me\n")
        return root / "afile" / ("x.jsonl" if kind == "file" else "x")
    if mistake == "proc":
        return Path("/proc/x/out.jsonl" if kind == "file" else "/proc/x")
    if mistake == "permission_denied":  # sysfs refuses new files to everyone, root included (EACCES)
        return Path("/sys/arena-x/out.jsonl" if kind == "file" else "/sys/arena-x")
    if mistake == "read_only":
        ro = root / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        return ro / "sub" / ("x.jsonl" if kind == "file" else "x")
    raise AssertionError(mistake)


@pytest.mark.parametrize(("name", "kind", "args", "mistake"), CASES)
def test_out_mistake_is_one_line_exit_2_nothing_left(cli, work, name, kind, args, mistake):
    out = _out_for(mistake, kind, work)
    before = _tree(work)
    r = cli(*args, "--out", out)
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.err
    assert "Traceback" not in r.err and "expected" in lines[0]
    assert str(out) in lines[0] or str(out.parent) in lines[0], lines[0]
    assert _tree(work) == before  # no .tmp, no folder half-written
    if (work / "afile").exists():
        assert (work / "afile").read_text() == "keep me\n"


def test_good_out_still_writes_and_leaves_no_tmp(cli, work):
    for args, out in [
        (["pool", "export", "ae", "--format", "jsonl"], work / "new" / "p.jsonl"),
        (["pool", "export", "ae", "--format", "native"], work / "native"),
        (["verdicts", "export", "ae", "--format", "battles"], work / "b" / "b.csv"),
        (["verdicts", "export", "ae", "--format", "arena_hard"], work / "ah"),
        (["report", "ae", "--bootstrap", "0", "-f", "md"], work / "rep"),
    ]:
        r = cli(*args, "--out", out)
        assert r.code == 0, (args, r.err)
        assert out.exists() and (out.is_file() or any(out.iterdir()))
    assert not [p for p in work.rglob("*.tmp")]


def test_a_failure_inside_the_writes_removes_the_folder_it_created(tmp_path):
    from arena.errors import BadInput
    from arena.outpaths import write_atomic, writing

    out = tmp_path / "a" / "b"
    with pytest.raises(BadInput, match=r"b: expected a folder"):
        with writing(out, "folder", "a folder") as d:
            d.mkdir(parents=True)
            write_atomic(d / "one.json", "{}")
            write_atomic(d / "one.json" / "x", "{}")  # NotADirectoryError mid-way
    assert not (tmp_path / "a").exists()  # the folders it created are gone with what was in them
    with pytest.raises(ZeroDivisionError):
        with writing(tmp_path / "c.json", "file", "a file") as p:
            write_atomic(p, "x")
            1 / 0
    assert [q.name for q in tmp_path.iterdir()] == ["c.json"]  # an existing folder keeps what finished


def test_os_error_reaching_the_cli_edge_is_one_line(monkeypatch, capsys):
    import typer

    from arena.cli._common import run_cli

    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise PermissionError(13, "Permission denied", "/x/y")

    @app.command()
    def other() -> None:
        pass

    assert run_cli(app, ["boom"]) == 2
    err = capsys.readouterr().err
    assert err == "Error: /x/y: Permission denied\n"
