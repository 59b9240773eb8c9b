"""Splitting a tournament by prompt into shards that run on different machines (`--shard K/N`).

Pure logic: which prompts a shard owns, and whether a scheduler can be split at all. The stores
of the shards are combined by `arena.merge.merge_runs`.

Which prompts: the spec's selected prompts, in pool order, are dealt round-robin: prompt i
(0-based) belongs to shard (i mod N) + 1. Every machine selects the same prompts from the same
pool and seed, so the shards are disjoint and together cover the tournament, each within one
prompt of the others in size.

Which schedulers: a shard releases exactly the matches the unsplit tournament releases on its
prompts only when each prompt's matches depend on nothing but that prompt's own verdicts.
- round-robin and anchored are fixed before any verdict: the whole schedule is built (balanced
  pair sampling walks every prompt in order) and then filtered to the shard's prompts;
- single-elimination plays one bracket per prompt, seeded by (seed, prompt); its next round waits
  only for that prompt's verdicts;
- swiss pairs each round by the running scores over every earlier round's verdicts, on other
  prompts, and adaptive picks each wave from all verdicts so far: a shard cannot see the other
  shards' verdicts, so these two are refused (`SchedulerError`), never run into a different
  schedule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from arena.errors import BadInput, naming_options

_SHARD_RE = re.compile(r"^(\d{1,6})/(\d{1,6})$")  # strict: no spaces, no signs (" 1/2" is refused)

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (1-based: 1 <= index <= count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_dict(self) -> dict:
        return {"index": self.index, "count": self.count}


_OPTION = ("shard", "--shard")  # how a refusal names it: the Python argument, the CLI option (arena.errors.naming_options)


def _refusal(cls, where: str | None, text: str):
    """`cls("<where>: <text>")`; `where` None: the `shard` argument (`--shard` in the CLI)."""
    if where is None:
        return naming_options(cls, f"<s>: {text}", s=_OPTION)
    return cls(f"{where}: {text}")


def parse_shard(value: str | Shard, where: str | None = None) -> Shard:
    """`"K/N"` -> Shard(K, N), written exactly so (digits, one slash, no spaces), 1 <= K <= N and
    N >= 2: `1/1` would be the whole tournament under another run name, so it is refused (leave
    the shard out instead). Raises `BadInput` ("shard: expected K/N ...", `--shard` in the CLI;
    `where` names a spec key instead) otherwise."""
    if isinstance(value, Shard):
        k, n = value.index, value.count
    else:
        m = _SHARD_RE.match(str(value))
        if m is None:
            raise _refusal(BadInput, where, f"expected K/N, shard K of N with 1 <= K <= N (e.g. 1/4), got {value!r}")
        k, n = int(m.group(1)), int(m.group(2))
    if n == 1 and k == 1:
        raise _refusal(BadInput, where, "1/1 is the whole tournament, not a shard: leave the shard out to run it unsplit")
    if not (n >= 2 and 1 <= k <= n):
        raise _refusal(BadInput, where, f"expected K/N with 1 <= K <= N (e.g. 1/4), got {k}/{n}")
    return Shard(k, n)


def unsplittable(kind: str, reason: str) -> str:
    """`an adaptive tournament cannot be split by prompt: <reason>` (the article fits the kind)."""
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind} tournament cannot be split by prompt: {reason}"


def one_shard(values: Sequence[str] | str | None) -> str | None:
    """The one `--shard` value of a command line that may repeat the option (typer collects the
    repeats); raises `BadInput` when it was given more than once (which would be ambiguous)."""
    if values is None or isinstance(values, str):
        return values
    if len(values) > 1:
        raise BadInput(f"--shard: given {len(values)} times ({', '.join(values)}); give one K/N")  # the CLI's own mistake
    return values[0] if values else None


def check_shard_has_prompts(shard: Shard, n_prompts: int, where: str) -> None:
    """Raise `BadInput` when `shard` owns no prompt (K > the number of selected prompts): such a
    shard would run an empty plan and leave an empty run to merge."""
    if shard.index > n_prompts:
        raise BadInput(
            f"{where}: shard {shard} owns no prompt: the tournament selects {n_prompts} prompt{'s' if n_prompts != 1 else ''},"
            f" so split it into at most {n_prompts} shards"
        )


def shard_items(items: Sequence[P], shard: Shard) -> list[P]:
    """The items (prompts in pool order) shard `shard` owns: every `count`-th, from `index - 1`."""
    return list(items[shard.index - 1 :: shard.count])


def shard_prompt_ids(prompt_ids: Sequence[str], shard: Shard) -> set[str]:
    return set(shard_items(list(prompt_ids), shard))


def apply_shard(spec, shard: str | Shard | None = None):
    """`spec` (a `TournamentSpec`) as shard `shard` ("K/N"; None keeps the spec's own `shard` key),
    checked before anything is read or written: raises `BadInput` for a malformed K/N and
    `SchedulerError` for a scheduler that cannot be split (swiss, adaptive; see the module doc)."""
    from arena.tournaments._base import SchedulerError
    from arena.tournaments.spec import SCHEDULERS

    where = None  # the `shard` argument
    if shard is not None:
        spec = spec.model_copy(update={"shard": str(parse_shard(shard, where))})
    elif spec.shard is not None:
        where = f"{spec.path or spec.name}: key 'shard'"
    if spec.shard is not None:
        reason = SCHEDULERS[spec.scheduler.kind].unshardable
        if reason:
            raise _refusal(SchedulerError, where, unsplittable(spec.scheduler.kind, reason))
    return spec


# judge kinds whose verdict on a match depends on other matches of the run
_STATEFUL_JUDGES = {
    "cascade": "it calibrates its thresholds on a pilot of the run's matches, so each shard would calibrate on its own pilot"
    " and decide differently from the unsplit run",
}


def check_shard_judge(spec, preset: dict, path=None) -> None:
    """Refuse (`BadInput`) a shard whose judge carries state across matches (a cascade): split, its
    verdicts would not be the unsplit run's. Nothing happens for an unsplit spec."""
    kind = preset.get("kind")
    if spec.shard is not None and kind in _STATEFUL_JUDGES:
        raise _refusal(BadInput, None, f"the {kind} judge {str(path or spec.judge)!r} cannot judge a shard: {_STATEFUL_JUDGES[kind]}; run it unsplit")
