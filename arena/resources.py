"""Where the user-editable files live: judge presets, prompt templates, tournament specs, demo data.

In a checkout they are the top-level folders `judges/`, `prompts/`, `tournaments/`, `data/`;
in an installed wheel they are copied into `arena/_bundled/` by `setup.py`.
"""

from __future__ import annotations

from pathlib import Path

from arena.errors import NotFound

_PACKAGE = Path(__file__).resolve().parent
KINDS = ("judges", "prompts", "tournaments", "data")


def bundled_dir(kind: str) -> Path:
    """The folder holding the shipped files of `kind` (one of KINDS)."""
    if kind not in KINDS:
        raise ValueError(kind)
    checkout = _PACKAGE.parent / kind
    if checkout.is_dir() and (_PACKAGE.parent / "pyproject.toml").exists():
        return checkout
    return _PACKAGE / "_bundled" / kind


def resolve(kind: str, name_or_path: str | Path, suffix: str = "") -> Path:
    """A path as given if it exists, else a shipped file of that name (with `suffix` added if missing)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    base = bundled_dir(kind)
    for candidate in (base / p, base / (p.name + suffix if suffix and not p.name.endswith(suffix) else p.name)):
        if candidate.exists():
            return candidate
    shipped = sorted(x.name.removesuffix(suffix) for x in base.glob(f"*{suffix}")) if base.is_dir() else []
    raise NotFound(f"{name_or_path}: no such file, and no shipped {kind[:-1]} of that name (shipped: {', '.join(shipped) or 'none'})")
