"""Tournament specs: TOML files in `tournaments/`, validated by pydantic, errors naming the key.

A spec (see `tournaments/demo.toml`)::

    name = "demo"
    pool = "data/demo"            # a pool name in the store, or a path to pool files
    models = "all"                # or a list of model names
    prompts = "all"               # or a sample size (int), or { sample = 100, categories = ["coding"] }
    judge = "surrogate"           # a preset name from judges/ or a path to a preset TOML
    seed = 0
    concurrency = 16
    max_calls = 20000             # optional budget limits
    max_cost_usd = 5.0
    confirm_above_usd = 1.0       # ask before spending more than this (unless --yes)
    reference = "data/demo/reference_rankings.csv"   # optional
    strong_weight = 3.0
    bootstrap = 1000
    baseline = "gpt4_0613"        # optional: ratings anchored on it, win rate against it reported
    ties = "half"                 # or "davidson" (Davidson's tie model)
    style = false                 # true: style control (length and markdown covariates)
    forfeit = "loss"              # a model with no usable answer loses that match ("skip": left out)

    [scheduler]
    kind = "single-elimination"   # round-robin, anchored, swiss, adaptive
    # ... the kind's own parameters (pairs_per_prompt, baseline, rounds, batch, max_matches, ...)
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from arena.errors import SpecError, union_expectation, validation_key
from arena.records import Prompt
from arena.resources import bundled_dir, resolve
from arena.tournaments._adaptive import Adaptive
from arena.tournaments._base import keyed_rng
from arena.tournaments._schedulers import Anchored, RoundRobin, SingleElimination, Swiss

SCHEDULERS = {c.kind: c for c in (SingleElimination, RoundRobin, Anchored, Swiss, Adaptive)}
SCHEDULER_KINDS: tuple[str, ...] = tuple(SCHEDULERS)
SchedulerKind = Literal["single-elimination", "round-robin", "anchored", "swiss", "adaptive"]


class SchedulerSpec(BaseModel):
    """`[scheduler]`: `kind` and that kind's parameters (checked against the kind's `Params`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: SchedulerKind

    @field_validator("kind", mode="before")
    @classmethod
    def _normalise_kind(cls, v: Any) -> Any:
        return v.strip().lower().replace("_", "-") if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check_params(self) -> SchedulerSpec:
        SCHEDULERS[self.kind].Params(**self.params)
        return self

    @property
    def params(self) -> dict[str, Any]:
        """The kind's parameters (every key but `kind`)."""
        return dict(self.model_extra or {})


class PromptSelection(BaseModel):
    """`prompts`: all of them, a seeded sample, and/or only some categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample: int | None = Field(default=None, ge=1)
    categories: list[str] | None = None


class TournamentSpec(BaseModel):
    """A tournament: which pool, models and prompts, how they are scheduled and judged, and limits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    pool: str = Field(min_length=1, description="a pool name in the store or a path to pool files")
    models: list[str] | Literal["all"] = "all"
    prompts: PromptSelection = PromptSelection()
    scheduler: SchedulerSpec = SchedulerSpec(kind="single-elimination")
    judge: str = "surrogate"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    concurrency: int = Field(default=16, ge=1, le=4096)
    max_calls: int | None = Field(default=None, ge=1, le=10**9)
    max_cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    confirm_above_usd: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    reference: str | None = None
    reference_columns: list[str] | None = None
    checkpoints: list[str] | None = Field(default=None, description="one model's checkpoints, earliest first: the report says whether they rank in order")
    strong_weight: float = Field(default=3.0, ge=1, le=100, allow_inf_nan=False)
    bootstrap: int = Field(default=1000, ge=0, le=100_000)
    baseline: str | None = Field(default=None, min_length=1)
    ties: Literal["half", "davidson"] = "half"
    style: bool = False
    forfeit: Literal["loss", "skip"] = "loss"  # a model without a usable answer loses that match, or it is left out
    description: str = ""
    shard: str | None = Field(default=None, description="K/N: run only shard K of N of the prompts (`arena.tournaments.shard`)")

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("shard")
    @classmethod
    def _shard_k_of_n(cls, v: Any) -> Any:
        if v is None:
            return v
        from arena.errors import BadInput
        from arena.tournaments.shard import parse_shard

        try:
            return str(parse_shard(v, "shard"))
        except BadInput as e:
            raise ValueError(str(e).removeprefix("shard: ")) from None

    def shard_of(self):
        """The spec's `Shard` (`arena.tournaments.shard`), or None for the whole tournament."""
        from arena.tournaments.shard import parse_shard

        return None if self.shard is None else parse_shard(self.shard, "shard")

    @field_validator("pool", mode="before")
    @classmethod
    def _pool_not_blank(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            raise ValueError(f"expected a pool name or a path to pool files, got {v!r}")
        return v

    @field_validator("prompts", mode="before")
    @classmethod
    def _prompts_shorthand(cls, v: Any) -> Any:
        if v == "all" or v is None:
            return {}
        if isinstance(v, bool):
            raise ValueError("expected \"all\", a sample size, or a table with sample / categories")
        if isinstance(v, int):
            return {"sample": v}
        if isinstance(v, list):
            return {"categories": v}
        if isinstance(v, str):
            raise ValueError(f"expected \"all\", a sample size, or a table with sample / categories (got {v!r})")
        return v

    @field_validator("models")
    @classmethod
    def _models_unique(cls, v: Any) -> Any:
        if isinstance(v, list):
            if len(v) < 2:
                raise ValueError("expected at least 2 models, or \"all\"")
            dup = sorted({m for m in v if v.count(m) > 1})
            if dup:
                raise ValueError(f"listed twice: {', '.join(dup)}")
        return v

    @property
    def path(self) -> Path | None:
        """The file this spec was loaded from (None when built in code)."""
        return self._path

    def base_dir(self) -> Path:
        return self._path.parent if self._path is not None else Path.cwd()

    def resolve_path(self, value: str, kind: str = "data") -> Path | None:
        """A path named in the spec (pool, judge, reference), the same way in every command:
        relative to the spec file's folder first, then as given (the working folder), then the
        spec folder's parent, then a shipped file (`data/demo` works from anywhere); None if none exists."""
        p = Path(value).expanduser()
        cands = [p] if p.is_absolute() else [self.base_dir() / p, p, self.base_dir().parent / p]
        if not p.is_absolute() and p.parts[:1] == (kind,):
            cands.append(bundled_dir(kind).joinpath(*p.parts[1:]))
        for cand in cands:
            if cand.exists():
                return cand
        try:
            return resolve(kind, value)
        except Exception:
            return None

    def judge_ref(self) -> str:
        """`judge` as a preset file resolved like every path of the spec, or the shipped preset name."""
        p = Path(self.judge).expanduser()
        cands = [p] if p.is_absolute() else [self.base_dir() / p, p, self.base_dir().parent / p]
        for cand in cands:
            if cand.is_file():
                return str(cand)
        return self.judge


def _describe_error(err: dict) -> tuple[str, str]:
    key = validation_key(err.get("loc", ()))  # pydantic puts union branch names in `loc`; keep only real keys
    kind = err.get("type", "")
    msg = err.get("msg", "")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return key, "is missing"
    if kind == "extra_forbidden":
        return key, "unknown key"
    if kind == "literal_error":
        return key, f"expected one of {ctx.get('expected', '').replace(chr(39), '')} (got {err.get('input')!r})"
    if kind == "value_error":
        return key, str(ctx.get("error", msg.removeprefix("Value error, ")))
    return key, f"{msg[0].lower() + msg[1:] if msg else 'invalid'} (got {err.get('input')!r})"


def spec_from_dict(data: dict, source: str = "<spec>") -> TournamentSpec:
    """Validate a spec given as a dict; errors are `SpecError('<source>: key '<k>': <what>')`."""
    try:
        spec = TournamentSpec.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        # with a kind-specific parameter error, pydantic reports it under the scheduler key
        key, what = _describe_error(errors[0])
        union = union_expectation(errors)  # a union failing on every branch: one error per branch, one problem
        if union is not None:
            what, errors = f"expected {union[0]} (got {errors[0].get('input')!r})", errors[union[1] - 1:]
        if key.startswith("scheduler.") and key.count(".") > 1:
            key = "scheduler." + key.rsplit(".", 1)[-1]
        if key.startswith("scheduler") and key != "scheduler.kind" and isinstance(data.get("scheduler"), dict):
            key, what = _scheduler_param_error(data["scheduler"]) or (key, what)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise SpecError(f"{source}: key '{key}': {what}{more}") from None
    return spec


def _scheduler_param_error(table: dict) -> tuple[str, str] | None:
    kind = str(table.get("kind", "")).strip().lower().replace("_", "-")
    if kind not in SCHEDULERS:
        return None
    params = {k: v for k, v in table.items() if k != "kind"}
    try:
        SCHEDULERS[kind].Params(**params)
    except ValidationError as e:
        key, what = _describe_error(e.errors()[0])
        if what == "unknown key":
            allowed = ", ".join(SCHEDULERS[kind].Params.model_fields) or "none"
            what = f"unknown key for a {kind} scheduler (its keys: {allowed})"
        return f"scheduler.{key}", what
    return None


def load_spec(path_or_name: str | Path) -> TournamentSpec:
    """Read a spec by path or shipped name (`demo` -> tournaments/demo.toml) and validate it."""
    path = resolve("tournaments", path_or_name, ".toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise SpecError(f"{path}: not valid TOML: nested too deeply") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read: {e}") from None
    if "name" not in data:
        data["name"] = path.stem
    spec = spec_from_dict(data, str(path))
    spec._path = path
    if spec.reference:  # read at report time, from wherever: fixed now, against the spec's folder
        ref = spec.resolve_path(spec.reference)
        if ref is not None:
            spec.reference = str(ref.resolve())
    return spec


# -- applying a spec to a pool --------------------------------------------------------------------


def select_models(spec: TournamentSpec, available: Sequence[str]) -> list[str]:
    """The spec's models (all the pool's models by default), checked against the pool."""
    available = sorted(set(available))
    if spec.models == "all":
        models = available
    else:
        missing = [m for m in spec.models if m not in available]
        if missing:
            where = spec.path or "spec"
            raise SpecError(
                f"{where}: key 'models': {', '.join(missing)} not in pool {spec.pool!r} (it has: {', '.join(available) or 'none'})"
            )
        models = list(spec.models)
    if len(models) < 2:
        raise SpecError(f"{spec.path or 'spec'}: key 'models': a tournament needs at least 2 models (pool {spec.pool!r} has {len(models)})")
    return models


def select_prompts(spec: TournamentSpec, prompts: Sequence[Prompt]) -> list[Prompt]:
    """The spec's prompts: filtered by category, then a sample seeded by `spec.seed` (pool order kept).
    (Conversations are judged by the judges that can; the others refuse them before any call:
    `Judge.check_prompts`, called by the plan.)"""
    sel = spec.prompts
    out = list(prompts)
    if sel.categories is not None:
        known = sorted({p.category for p in prompts if p.category})
        unknown = [c for c in sel.categories if c not in known]
        if unknown:
            raise SpecError(
                f"{spec.path or 'spec'}: key 'prompts.categories': {', '.join(unknown)} not in the pool (categories: {', '.join(known) or 'none'})"
            )
        want = set(sel.categories)
        out = [p for p in out if p.category in want]
    if sel.sample is not None and sel.sample < len(out):
        idx = sorted(keyed_rng(spec.seed, "prompt-sample").choice(len(out), size=sel.sample, replace=False))
        out = [out[i] for i in idx]
    if not out:
        raise SpecError(f"{spec.path or 'spec'}: key 'prompts': no prompt selected")
    return out


def pool_source(spec: TournamentSpec) -> Path | None:
    """The pool files a spec's `pool` names (a path as given, relative to the spec, or shipped
    under data/), or None when `pool` should be a pool name in the store."""
    return spec.resolve_path(spec.pool, "data")


def load_spec_pool(spec: TournamentSpec, store=None) -> tuple[list[Prompt], list]:
    """(prompts, outputs) of the spec's pool: from files when `pool` is a path, else from `store`."""
    src = pool_source(spec)
    if src is not None:
        from arena.pools import load_pool_files

        data = load_pool_files([src])
        return list(data.prompts), list(data.outputs)
    if store is None:
        from arena.errors import NotFound

        raise NotFound(f"{spec.path or 'spec'}: key 'pool': {spec.pool!r} is not a path, and no store was given to look it up")
    return store.prompts(spec.pool), store.outputs(spec.pool)
