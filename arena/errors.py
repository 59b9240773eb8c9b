"""One exception class per user-facing failure. The CLI prints `Error: <message>` and exits with `exit_code`."""

from __future__ import annotations


class ArenaError(Exception):
    """Base of every error a user can act on."""

    exit_code = 2


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
