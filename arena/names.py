"""Untrusted names (models, specs, categories, runs) as safe file names, with a mapping back.

A name is data: `openai/gpt-4o-mini`, `../../x`, `/abs/path`, `my model`, `模型` are all valid
model names, and none of them may decide where a file goes. Files are named by `slug(name)`:
ASCII letters, digits, `.`, `_`, `-` only, never starting with `.` or `-`, at most 80
characters; whenever the slug is not the name itself, a short hash of the name is appended so
two names never share a slug (`a/b` and `a_b` differ). Folders that hold such files also hold a
mapping (`slug_map`) so the names round-trip exactly.

The scheme follows what content-addressed stores do (git, pip's cache): a readable prefix for
people and a hash for uniqueness.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX = 80


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def slug(name: str) -> str:
    """A file-name-safe, unique-per-name slug of `name` (see the module docstring).

    `slug(n) == n` exactly when `n` is already safe (short, ASCII `[A-Za-z0-9._-]`, not starting
    with `.` or `-`), so ordinary names keep their files' names.
    """
    if not isinstance(name, str):
        raise TypeError(f"a name must be a string, got {type(name).__name__}")
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    s = _UNSAFE.sub("-", ascii_).strip(".-_")
    s = re.sub(r"-{2,}", "-", s)[:_MAX].rstrip(".-_")
    if s == name and s:
        return s
    return f"{s}-{_digest(name)}" if s else f"name-{_digest(name)}"


def slug_map(names: Iterable[str]) -> dict[str, str]:
    """{name: slug} for several names sharing a folder; slugs differ even ignoring case
    (macOS and Windows file systems fold case)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(set(names)):
        s = slug(name)
        if s.lower() in taken:
            s = f"{s}-{_digest(name)}"
        taken.add(s.lower())
        out[name] = s
    return out


def require_name(value: str | None, what: str, option: tuple[str, str]) -> str | None:
    """`value` unless it is blank (empty or only whitespace): then `BadInput` naming the argument
    through the API and the option in the CLI (`option`: (Python argument, CLI option), see
    `arena.errors.naming_options`), e.g. `--name: expected a pool name, got ''`. None passes
    (the argument was not given)."""
    if value is not None and not value.strip():
        from arena.errors import BadInput, naming_options

        raise naming_options(BadInput, f"<o>: expected {what}, got {value!r}", o=option)
    return value
