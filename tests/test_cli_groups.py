"""`arena GROUP ...` builds only that group's click commands (arena/cli/__init__.py `app_for`: typer
converts every registered command on each call, which a run paid before its first judge call);
usage, errors and help read as with the whole app."""

from __future__ import annotations

from arena.cli import _GROUPS, app, app_for


def test_a_group_invocation_builds_only_that_group():
    one = app_for(["tournament", "run", "x.toml"])
    assert one is not app and [g.name for g in one.registered_groups] == ["tournament"] and not one.registered_commands
    assert app_for(["--help"]) is app and app_for([]) is app and app_for(["report", "RUN"]) is app  # top-level command
    assert app_for(["tournamnt"]) is app  # a misspelled group: the whole app says "No such command"
    assert {"tournament", "pool", "judge", "verdicts", "ratings", "run", "surrogate"} <= set(_GROUPS)


def test_usage_errors_and_help_of_a_group_are_unchanged(cli):
    r = cli("tournament", "run", "--bogus")
    assert r.code == 2 and r.err.splitlines()[0].startswith("Usage: arena tournament run")
    assert r.err.splitlines()[-1].startswith("Error: No such option: --bogus")
    r = cli("tournament", "nope")
    assert r.code == 2 and "Usage: arena tournament" in r.err and "No such command 'nope'" in r.err.splitlines()[-1]
    r = cli("pool", "--help")
    assert r.code == 0 and "Usage: arena pool" in r.out and "generate" in r.out and "curate" in r.out
    r = cli("--help")
    assert r.code == 0 and all(name in r.out for name in ("tournament", "pool", "report", "simulate"))
    r = cli("tournamnt", "run")
    assert r.code == 2 and "No such command 'tournamnt'" in r.err.splitlines()[-1]
