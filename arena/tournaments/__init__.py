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
) -> Scheduler:
    """Build the scheduler `spec` names over these prompts and models.

    `answered` maps prompt_id -> the models with an answer to it (see `answered_from_outputs`).
    """
    if isinstance(spec, dict):
        spec = SchedulerSpec.model_validate(spec)
    if len(models) < 2:
        raise SchedulerError(f"a tournament needs at least 2 models (got {len(models)})")
    return SCHEDULERS[spec.kind](list(prompts), answered, list(models), seed, **spec.params)
