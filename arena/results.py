"""The judge-reliability result file (`arena judge eval` / `score` write it): its schema name, the
writer and the checked reader. A module of its own so that a panel judge can read a member's
reliability from one without importing the reliability mode."""

from __future__ import annotations

from pathlib import Path

from arena.errors import BadInput, NotFound

RESULT_SCHEMA = "arena.judge-reliability/1"


class ResultFileError(BadInput):
    """A judge-reliability result file is not one `arena judge eval` or `score` wrote."""


def write_result(result: dict, path: str | Path) -> Path:
    """Write a result file (JSON) atomically; raises `BadInput` `<path>: expected ...` when it
    cannot be written (nothing left behind: `arena.outpaths`)."""
    from arena.outpaths import write_atomic, writing
    from arena.strict_json import dumps

    with writing(path, "file", RESULT_FILE) as path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, dumps(result, indent=2) + "\n")


RESULT_FILE = "a result file (JSON)"


def read_result(path: str | Path) -> dict:
    """A result file, checked enough to build a leaderboard from it."""
    from arena.io import check_unicode, loads, read_text

    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path}: no such file")
    data = loads(read_text(path, expected="a result file that `arena judge eval` wrote"), path)
    check_unicode(data, str(path))
    if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultFileError(f"{path}: key 'schema': expected {RESULT_SCHEMA!r} (a file `arena judge eval` wrote), got {got!r}")
    for key in ("judge", "metrics", "pairs", "usage", "time"):
        if not isinstance(data.get(key), dict):
            raise ResultFileError(f"{path}: key '{key}' is missing or not an object")
    if not isinstance(data["metrics"].get("judgebench_score"), dict):
        raise ResultFileError(f"{path}: key 'metrics.judgebench_score' is missing")
    data["_path"] = str(path)
    return data
