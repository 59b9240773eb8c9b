"""Judges: the interface, verdict combination, and loading a judge from a preset.

A preset is a TOML file (shipped ones live in the top-level `judges/` folder) with a `kind`;
the kind names a module `arena/judges/<kind>.py` that defines `build(preset: dict, *, name: str,
base_dir: Path, **options) -> Judge`. Adding a kind is adding such a module.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from arena.credentials import check_api_base, missing_env, preset_key_paths, preset_values
from arena.errors import SpecError
from arena.judges._base import CallEstimate, Judge, JudgeResult, combine_games, file_digest, preset_error
from arena.judges._render import fence_tag, load_template, render_messages
from arena.resources import bundled_dir, resolve

__all__ = [
    "build_judge",
    "CallEstimate",
    "Judge",
    "JudgeResult",
    "check_env",
    "combine_games",
    "fence_tag",
    "file_digest",
    "list_presets",
    "load_judge",
    "load_preset",
    "load_template",
    "preset_error",
    "render_messages",
    "report_extras",
    "required_env",
]


def load_preset(name_or_path: str | Path) -> tuple[dict, Path]:
    """Read a preset by path or shipped name; returns (the TOML as a dict, its path)."""
    path = resolve("judges", name_or_path, ".toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise SpecError(f"{path}: not valid TOML: nested too deeply") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read: {e}") from None
    if "kind" not in data:
        raise SpecError(f"{path}: key 'kind' is missing (expected one of: llm, surrogate, network, panel)")
    for url in preset_values(data, "api_base"):  # stored with every run: no credential inside
        check_api_base(url, f"{path}: key 'api_base'")
    return data, path


def required_env(judge: Judge) -> list[str]:
    """The environment variables (`api_key_env`) a built judge's calls read, panel members included."""
    names = [n for n in preset_values(getattr(judge, "preset", None) or {}, "api_key_env") if isinstance(n, str)]
    cfg = getattr(judge, "cfg", None)
    if isinstance(getattr(cfg, "api_key_env", None), str):
        names.append(cfg.api_key_env)
    for member in getattr(judge, "members", None) or []:
        names += required_env(getattr(member, "judge", member))
    return sorted(set(names))


def check_env(judge: Judge, where: str) -> None:
    """Raise BadInput naming the first unset `api_key_env` variable, before any call is made
    (otherwise every game would fail with the same reason, found only in run.json)."""
    missing = missing_env(required_env(judge))
    if missing:
        more = f" (and {', '.join(missing[1:])})" if len(missing) > 1 else ""
        paths = [p for p, v in preset_key_paths(getattr(judge, "preset", None) or {}, "api_key_env") if v == missing[0]]
        key = paths[0] if paths else "api_key_env"  # where the preset names it: `deployments.0.api_key_env`
        raise SpecError(
            f"{where}: key {key!r}: the environment variable {missing[0]}{more} is not set;"
            f" export it with the API key (the key is read from it at call time, never stored)"
        )


def load_judge(name_or_path: str | Path, *, name: str | None = None, **options) -> Judge:
    """Build the judge a preset (a bundled name or a TOML path) describes, named `name` (default:
    the preset file's stem). `options` pass runtime things (store, no_cache, backend overrides).
    Raises `SpecError` (a bad preset) or `NotFound` (no such preset)."""
    preset, path = load_preset(name_or_path)
    judge = build_judge(preset, name=name or path.stem, base_dir=path.parent, where=f"{path}: key 'kind'", **options)
    judge.preset_path = path  # named by errors about it (an unset api_key_env)
    return judge


def build_judge(preset: dict, *, name: str, base_dir: Path, where: str = "key 'kind'", **options) -> Judge:
    """The one build path of every judge kind: `preset["kind"]` names the module
    `arena/judges/<kind>.py`, whose `build(preset, name=..., base_dir=..., **options)` makes the
    judge (which receives its preset and name in its constructor). `where` prefixes errors."""
    kind = preset.get("kind")
    if not isinstance(kind, str) or not kind.isidentifier() or kind.startswith("_"):
        raise SpecError(f"{where}: {kind!r} is not a judge kind")
    try:
        module = importlib.import_module(f"arena.judges.{kind}")
    except ModuleNotFoundError:
        raise SpecError(f"{where}: unknown judge kind {kind!r} (expected one of: {', '.join(judge_kinds())})") from None
    return module.build(preset, name=name, base_dir=Path(base_dir), **options)


def report_extras(kind: str, games: list) -> dict:
    """What a judge kind adds to a run report's judge statistics (its module's optional hook
    `report_extras(games) -> dict`, given the run's games as `Game` records); {} for most kinds."""
    if not isinstance(kind, str) or not kind.isidentifier() or kind.startswith("_"):
        return {}
    try:
        module = importlib.import_module(f"arena.judges.{kind}")
    except ModuleNotFoundError:
        return {}
    hook = getattr(module, "report_extras", None)
    return dict(hook(games)) if hook is not None else {}


def judge_kinds() -> list[str]:
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.ispkg is False and hasattr(importlib.import_module(f"arena.judges.{m.name}"), "build"))


def list_presets() -> list[tuple[str, dict, Path]]:
    out = []
    for path in sorted(bundled_dir("judges").glob("*.toml")):
        try:
            preset, _ = load_preset(path)
        except SpecError:
            continue
        out.append((path.stem, preset, path))
    return out
