"""One exception class per user-facing failure. The CLI prints `Error: <message>` and exits with `exit_code`."""

from __future__ import annotations

import re

# pydantic names a union's branches in an error's `loc` (`int`, `list[str]`, `literal['all']`,
# `function-after[...]`): they are no key of the user's file
_UNION_BRANCH = re.compile(r"^(int|str|float|bool|none|(list|dict|literal|tuple|set|frozenset)\[.*\]|function-.*|lax-.*|strict-.*)$")


def validation_key(loc) -> str:
    """The dotted key of a pydantic error's `loc`, without the union branch names pydantic adds."""
    return ".".join(str(x) for x in loc if not _UNION_BRANCH.match(str(x)))


def union_expectation(errors: list[dict]) -> tuple[str, int] | None:
    """When pydantic's first error is one branch of a union that failed on every branch (several
    errors under the same key), (what every branch expected, in words, joined by "or"; how many
    errors that sentence covers); None otherwise."""
    key = validation_key(errors[0].get("loc", ()))
    same = [e for e in errors if validation_key(e.get("loc", ())) == key]
    if len(same) < 2:
        return None
    parts = []
    for e in same:
        if e.get("type") == "literal_error":
            parts.append(f"one of {(e.get('ctx') or {}).get('expected', '')}")
        else:
            msg = e.get("msg", "invalid").removeprefix("Input should be ").removeprefix("input should be ")
            parts.append(msg)
    return " or ".join(dict.fromkeys(parts)), len(same)


class ArenaError(Exception):
    """Base of every error a user can act on. `cli_message`, when set, is the same message in the
    CLI's words (its option names: `--yes`) where `str(e)` names the Python API's (`yes=True`):
    the CLI edge prints it (`arena.cli._common.run_cli`)."""

    exit_code = 2
    cli_message: str | None = None


def naming_options(cls: type[ArenaError], text: str, **options: tuple[str, str]) -> ArenaError:
    """`cls(text)` where each `<name>` placeholder of `text` reads as the Python argument
    (`options[name][0]`, e.g. `yes=True`) in `str(e)` and as the CLI option (`options[name][1]`,
    e.g. `--yes`) in `e.cli_message`: a refusal raised through the Python API names what a Python
    caller passes, the CLI what its user types."""
    api, cli = text, text
    for name, (python, option) in options.items():
        api, cli = api.replace(f"<{name}>", python), cli.replace(f"<{name}>", option)
    e = cls(api)
    e.cli_message = cli
    return e


class BadInput(ArenaError):
    """A file, spec or argument is not what was expected."""


class RecordError(BadInput):
    """A record file (JSON, JSON lines, CSV) cannot be decoded, or a record in it is malformed."""


class PoolError(RecordError):
    """A prompt pool or a model-output file is malformed."""


class SpecError(BadInput):
    """A tournament spec or judge preset is invalid."""


class NotFound(BadInput):
    """A named pool, run, preset or file does not exist."""


class RatingError(ArenaError):
    """Ratings cannot be computed from the battles given."""


class BackendError(ArenaError):
    """A completion backend is missing or misconfigured."""

    exit_code = 2


class RunFailed(ArenaError):
    """A run finished, but some games failed after retries."""

    exit_code = 3


class Interrupted(ArenaError):
    """The user stopped a run (Ctrl-C); it is saved and resumes when run again."""

    exit_code = 130


class ReportsInterrupted(Interrupted):
    """Ctrl-C while the reports were written: the run is stored; `arena report RUN` writes them again."""
