"""Where a command writes its files (`--out` of `pool export`, `verdicts export`, `report`,
`tournament run`, `judge eval` / `score`, `surrogate train`): checked before any work, written so
that a failure leaves nothing behind.

- `check_out(path, kind, expected)` raises `BadInput("<path>: <what was expected>")` when `path`
  cannot be written as a `"file"` or a `"folder"`: a folder where a file is expected or the
  reverse, a file in the way of a parent folder, a parent that cannot be written (`/proc/x`, a
  read-only or permission-denied folder: found by creating and removing a probe file there, the
  only test that holds for root and for every file system).
- `writing(path, kind, expected)` is the same check as a context manager around the writes: an
  `OSError` inside becomes that one `BadInput` line, and the folders it created (the output folder
  itself or missing parents) are removed again, so a failed write leaves no half-written folder.
- `write_atomic(path, data)` writes one file through a temporary file beside it renamed into
  place; the temporary file is removed when the write fails (no `.tmp` left behind).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from arena.errors import BadInput


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _existing_ancestor(path: Path) -> tuple[Path, list[Path]]:
    """The nearest ancestor of `path` (itself included) that exists, and the missing folders
    between it and `path`, outermost first."""
    missing: list[Path] = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    return p, missing[::-1]


def check_out(path: str | Path, kind: str, expected: str) -> Path:
    """`path` as a `Path` once it can be written as a `kind` ("file" or "folder"); `expected` says
    what belongs there ("a battle file (.jsonl, .json or .csv)"). Writes nothing (a probe file is
    created and removed in the nearest existing folder). Raises `BadInput`
    `<path>: expected <expected>, ...`."""
    if kind not in ("file", "folder"):
        raise ValueError(kind)
    path = Path(path)
    if kind == "file" and (path.is_dir() or str(path).endswith(os.sep)):
        raise BadInput(f"{path}: expected {expected}, found a folder")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise BadInput(f"{path}: expected {expected}, found a file")
    start = path if kind == "folder" else path.parent
    anc, _ = _existing_ancestor(start if str(start) else Path("."))
    if not anc.is_dir():
        raise BadInput(f"{path}: expected {expected}, but {anc} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".arena-probe-", dir=anc)
    except OSError as e:
        raise BadInput(f"{path}: expected {expected} in a folder this process can write; {anc}: {_reason(e)}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


@contextlib.contextmanager
def writing(path: str | Path, kind: str, expected: str) -> Iterator[Path]:
    """`check_out`, then the body writes under `path`; on an `OSError` (or any exception) the
    folders this call found missing (the output folder, its missing parents) are removed with
    what was written in them, and an `OSError` is raised as one `BadInput` line naming `path`."""
    path = check_out(path, kind, expected)
    _, missing = _existing_ancestor(path if kind == "folder" else path.parent)
    try:
        yield path
    except OSError as e:
        _remove(missing)
        where = f"{e.filename}: " if e.filename and str(e.filename) != str(path) else ""
        raise BadInput(f"{path}: expected {expected} that can be written ({where}{_reason(e)})") from None
    except BaseException:
        _remove(missing)
        raise


def _remove(created: list[Path]) -> None:
    if created:
        shutil.rmtree(created[0], ignore_errors=True)


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` through `path.tmp` renamed into place, its missing
    parent folders created; the temporary file never stays behind. Raises `OSError` (inside
    `writing`, a `BadInput`)."""
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
