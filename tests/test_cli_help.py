"""Every command and group has help text, and `--help` works on each (as sqlite-utils' test_docs does)."""

from __future__ import annotations

import typer.main

from arena.cli import app


def _walk(cmd, path: tuple[str, ...] = ()):
    yield path, cmd
    if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
        for name, sub in cmd.commands.items():
            yield from _walk(sub, (*path, name))


def test_every_command_has_help(cli):
    root = typer.main.get_command(app)
    seen = []
    for path, cmd in _walk(root):
        if not path:
            continue
        assert (cmd.help or "").strip(), f"`arena {' '.join(path)}` has no help text"
        r = cli(*path, "--help")
        assert r.code == 0 and "Usage:" in r.out, path
        seen.append(" ".join(path))
    for expected in ("pool import", "tournament run", "tournament plan", "report", "ratings fit", "judge eval", "judge score",
                     "judge compare", "judge list", "simulate", "surrogate train", "pool generate"):
        assert expected in seen


def test_judge_list_calls_the_surrogate_what_it_is(cli):
    r = cli("judge", "list", "--format", "json")
    assert r.code == 0
    assert "surrogate (imitates GPT-4-Turbo; offline)" in r.out
