"""The judge-reliability result file (`arena judge eval` / `score` write it): its schema name, the
writer and the checked reader. A module of its own so that a panel judge can read a member's
reliability from one without importing the reliability mode."""

from __future__ import annotations

import json
from pathlib import Path

from arena.errors import BadInput, NotFound

RESULT_SCHEMA = "arena.judge-reliability/1"


class ResultFileError(BadInput):
    """A judge-reliability result file is not one `arena judge eval` or `score` wrote."""


def write_result(result: dict, path: str | Path) -> Path:
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_result(path: str | Path) -> dict:
    """A result file, checked enough to build a leaderboard from it."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ResultFileError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError:
        raise ResultFileError(f"{path}: not UTF-8 text") from None
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
