"""What every command shares: the --db option, output formats, and turning errors into one line."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from arena.errors import ArenaError

class OutFormat(str, Enum):
    """`--format` of commands that print results: a table for people, JSON for programs."""

    table = "table"
    json = "json"


DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="ARENA_DB", help="SQLite store to use (default ./arena.db).", show_default=False),
]


def open_store(db: str | None, *, create: bool = True, readonly: bool = False):
    """The store at --db; `readonly` for commands that only read (they never create or change it)."""
    from arena.store import Store, default_db_path

    return Store(db or default_db_path(), create=create, readonly=readonly)


def store_exists(db: str | None) -> bool:
    from arena.store import default_db_path

    return Path(db or default_db_path()).exists()


def finite(value: float | None) -> float | None:
    """A float option's callback: NaN and infinities are refused (click's ranges let NaN through)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("expected a finite number")
    return value


def fail(message: str, code: int = 2) -> None:
    """Print `Error: message` on one line to stderr and exit."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def console():
    """A rich console; when output is not a terminal, wide enough that tables are not cut."""
    import sys

    from rich.console import Console

    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 140)


def run_cli(app: typer.Typer, argv: list[str]) -> int:
    """Run the typer app; an ArenaError becomes `Error: ...` and its exit code, never a traceback."""
    try:
        rv = app(args=argv, prog_name="arena", standalone_mode=False)
        if isinstance(rv, int):
            return rv
    except ArenaError as e:
        typer.echo(f"Error: {e}", err=True)
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    except Exception as e:  # click usage errors
        import sqlite3

        import click

        if isinstance(e, sqlite3.Error):  # the store failed mid-command (full disk, damaged file)
            from arena.store import describe_sqlite_error, last_path

            err = describe_sqlite_error(last_path(), e)
            typer.echo(f"Error: {err}", err=True)
            return err.exit_code

        try:  # typer vendors its own click
            from typer._click import exceptions as vendored
        except ImportError:  # pragma: no cover - older typer
            vendored = click.exceptions
        if isinstance(e, (click.exceptions.ClickException, vendored.ClickException)):
            e.show()
            return e.exit_code
        if isinstance(e, (click.exceptions.Exit, vendored.Exit)):
            return e.exit_code
        raise
    return 0

