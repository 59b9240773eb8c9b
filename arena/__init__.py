"""arena: rank language models without reference answers.

Public names are re-exported here; importing this package must stay cheap (no litellm, no vllm).
"""

from arena.api import (
    Run,
    RunResult,
    compare_pools,
    curate_pool,
    evaluate_judge,
    fit_ratings,
    import_pool,
    load_run,
    load_spec,
    plan,
    plan_rejudge,
    rejudge,
    run_tournament,
)
from arena.errors import ArenaError, BadInput
from arena.records import (
    LABELS,
    Battle,
    Game,
    Label,
    Match,
    MatchContext,
    MatchRow,
    MatchStatus,
    Output,
    Prompt,
    RunRecord,
    RunStatus,
    RunSummary,
    Usage,
    Verdict,
)

__version__ = "0.1.0"

__all__ = [
    "ArenaError",
    "BadInput",
    "LABELS",
    "Battle",
    "Game",
    "Label",
    "Match",
    "MatchContext",
    "MatchRow",
    "MatchStatus",
    "Output",
    "Prompt",
    "Run",
    "RunRecord",
    "RunResult",
    "RunStatus",
    "RunSummary",
    "Usage",
    "Verdict",
    "__version__",
    "compare_pools",
    "curate_pool",
    "evaluate_judge",
    "fit_ratings",
    "import_pool",
    "load_run",
    "load_spec",
    "plan",
    "plan_rejudge",
    "rejudge",
    "run_tournament",
]
