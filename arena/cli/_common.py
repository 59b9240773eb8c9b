"""What every command shares: the --db option, output formats, and turning errors into one line."""

from __future__ import annotations

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


def path_option(option: str, what: str = "a path"):
    """A `parser` for a `Path` option (`typer.Option(..., parser=path_option("--out", "a folder"))`):
    a blank value (empty or only spaces; `Path("")` would be the current folder) is refused with
    one line naming the option, before the command runs."""
    from arena.errors import BadInput

    def parse(value: Any) -> Path:
        if isinstance(value, Path):
            return value
        if not str(value).strip():
            raise BadInput(f"{option}: expected {what}, got {value!r}")
        return Path(value)

    return parse


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


def esc(value: Any) -> str:
    """`value` as text that rich prints as written: its `[...]` are not markup (a run, pool, model,
    prompt or judge name, a file path, a server's error or any other user string in rich output)."""
    from rich.markup import escape

    return escape(str(value))


def print_warning(con, text: str) -> None:
    """One `Warning: ...` line on the rich console `con`, never wrapped (piped output keeps it whole
    for grep; a terminal folds it visually)."""
    con.print(f"[yellow]Warning:[/] {esc(text)}", soft_wrap=True)


def print_json(obj: Any) -> None:
    """Print `obj` as strict JSON (no NaN / Infinity: null instead)."""
    from arena.strict_json import dumps

    typer.echo(dumps(obj, indent=2))


def resolve_run(store, ref: str) -> str:
    """The run id a `RUN` argument names (exact id, spec name's latest run, or unique id prefix);
    says on stderr which run it chose when `ref` was not the exact id."""
    run, how = store.resolve_run(ref)
    if how != "exact id":
        typer.echo(f"Run: {run.run_id} ({how})", err=True)
    return run.run_id


def console():
    """A rich console; when output is not a terminal, wide enough that tables are not cut."""
    import sys

    from rich.console import Console

    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 140)


def _click_exceptions(name: str) -> tuple[type, ...]:
    """The click exception class `name` of every click in use: typer >= 0.16 vendors its own as
    `typer._click`, and the standalone `click` may be installed beside it."""
    import importlib

    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if cls is not None:
            found.append(cls)
    return tuple(found)


def exit_code_for(error: BaseException) -> int:
    """The exit code of an error that reached the CLI edge: the one mapping of the error hierarchy.

    `ArenaError` subclasses carry theirs (2 bad input, 3 a run finished with errors, 130
    interrupted); click/typer usage errors (a misspelled command, an unknown option, a bad choice)
    are 2; Ctrl-C and a declined confirmation 130."""
    if isinstance(error, ArenaError):
        return error.exit_code
    if isinstance(error, (typer.Exit, *_click_exceptions("Exit"))):
        return error.exit_code
    if isinstance(error, (KeyboardInterrupt, typer.Abort, *_click_exceptions("Abort"))):
        return 130
    if isinstance(error, _click_exceptions("UsageError")):
        return 2
    if isinstance(error, _click_exceptions("ClickException")):
        return error.exit_code
    raise error


def run_cli(app: typer.Typer, argv: list[str]) -> int:
    """Run the typer app and turn whatever reaches the edge into an exit code: an `ArenaError` or a
    usage error becomes one `Error: ...` line on stderr (a usage error after the command's usage
    line), never a traceback. Commands raise; only this function chooses exit codes."""
    try:
        rv = app(args=argv, prog_name="arena", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except ArenaError as e:
        typer.echo(f"Error: {e.cli_message or e}", err=True)  # the CLI's option names (--yes, not yes=True)
        return exit_code_for(e)
    except (typer.Exit, *_click_exceptions("Exit")) as e:
        return e.exit_code
    except (typer.Abort, *_click_exceptions("Abort")):
        typer.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    except _click_exceptions("NoArgsIsHelpError"):
        return 0  # a group called without a command: its help was printed, as asked
    except _click_exceptions("ClickException") as e:
        ctx = getattr(e, "ctx", None)
        if isinstance(e, _click_exceptions("UsageError")) and ctx is not None:
            typer.echo(ctx.get_usage(), err=True)
            typer.echo(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.", err=True)
        message = " ".join(e.format_message().split())  # one line
        typer.echo(f"Error: {message}", err=True)
        return exit_code_for(e)
    except OSError as e:  # last resort: a file the command could not read or write (checked paths raise BadInput)
        where = f"{e.filename}: " if e.filename else ""
        typer.echo(f"Error: {where}{e.strerror or e}", err=True)
        return 2
    except Exception as e:  # the store failed mid-command (full disk, damaged file)
        import sqlite3

        if not isinstance(e, sqlite3.Error):
            raise
        from arena.store import describe_sqlite_error, last_path

        err = describe_sqlite_error(last_path(), e)
        typer.echo(f"Error: {err}", err=True)
        return exit_code_for(err)
