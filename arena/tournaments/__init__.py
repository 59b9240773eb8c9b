"""Tournaments: schedulers, specs, plans with a cost estimate, and the simulator.

Public names:
- `make_scheduler(spec, prompts, answered, models, seed) -> Scheduler`
- `Scheduler` (start / update / forfeits / finished / size), `PlanSize`, `match_id`
- `TournamentSpec`, `SchedulerSpec`, `load_spec`, `spec_from_dict`, `select_models`, `select_prompts`
- `Plan`, `plan_tournament`, `check_connected` (in `arena.tournaments.plan`)
- the simulator lives in `arena.tournaments.simulate` (imported on demand).
"""

from __future__ import annotations

from collections.abc import Sequence

from arena.records import Prompt
from arena.tournaments._base import (
    DisconnectedPlan,
    PlanSize,
    Scheduler,
    SchedulerError,
    answered_from_outputs,
    match_id,
    winner_of,
)
from arena.tournaments.spec import (
    SCHEDULER_KINDS,
    SCHEDULERS,
    SchedulerSpec,
    TournamentSpec,
    load_spec,
    select_models,
    select_prompts,
    spec_from_dict,
)

__all__ = [
    "SCHEDULER_KINDS",
    "DisconnectedPlan",
    "PlanSize",
    "Scheduler",
    "SchedulerError",
    "SchedulerSpec",
    "TournamentSpec",
    "answered_from_outputs",
    "load_spec",
    "make_scheduler",
    "match_id",
    "select_models",
    "select_prompts",
    "spec_from_dict",
    "winner_of",
]


def make_scheduler(
    spec: SchedulerSpec | dict,
    prompts: Sequence[Prompt],
    answered: dict[str, set[str]],
    models: Sequence[str],
    seed: int,
    *,
    shard=None,
) -> Scheduler:
    """Build the scheduler `spec` names over these prompts and models.

    `answered` maps prompt_id -> the models with an answer to it (see `answered_from_outputs`).
    `shard` (an `arena.tournaments.shard.Shard`): `prompts` are the whole tournament's, and the
    scheduler releases only the matches of the shard's prompts, exactly as the whole schedule
    would; raises `SchedulerError` for a kind that cannot be split (swiss, adaptive).
    """
    if isinstance(spec, dict):
        spec = SchedulerSpec.model_validate(spec)
    if len(models) < 2:
        raise SchedulerError(f"a tournament needs at least 2 models (got {len(models)})")
    sched = SCHEDULERS[spec.kind](list(prompts), answered, list(models), seed, **spec.params)
    if shard is not None:
        from arena.tournaments.shard import shard_prompt_ids

        sched.restrict_to(shard_prompt_ids([p.prompt_id for p in prompts], shard))
    return sched
