"""Judge reliability (JudgeBench-style): how far a judge agrees with gold labels, and how it errs.

- `read_pairs(path, fmt=None, limit=None) -> PairSet` and `read_verdicts(path, pairs, fmt=None)` read
  judgebench / llmbar / pandalm / native jsonl files (formats detected from their keys);
- `evaluate_judge(preset, pairs, store=...) -> EvalRun` runs a judge in both orders through the store;
- `build_result(pairs, games, judge=..., source=...) -> dict` computes every metric with its
  definition and bootstrap interval; `render_result`, `leaderboard`, `render_leaderboard` show them.
"""

from arena.reliability.formats import (
    PAIR_FORMATS,
    GameRecord,
    Pair,
    PairSet,
    PairsFileError,
    read_pairs,
    read_verdicts,
)
from arena.reliability.metrics import METRICS, Estimate, Observations, evaluate, observations
from arena.reliability.report import (
    RESULT_SCHEMA,
    ResultFileError,
    build_result,
    leaderboard,
    read_result,
    render_leaderboard,
    render_result,
    write_result,
)


def evaluate_judge(*args, **kwargs):
    """See `arena.reliability.run.evaluate_judge` (imported on use: it loads the judges)."""
    from arena.reliability.run import evaluate_judge as _evaluate_judge

    return _evaluate_judge(*args, **kwargs)


__all__ = [
    "METRICS",
    "PAIR_FORMATS",
    "RESULT_SCHEMA",
    "Estimate",
    "GameRecord",
    "Observations",
    "Pair",
    "PairSet",
    "PairsFileError",
    "ResultFileError",
    "build_result",
    "evaluate",
    "evaluate_judge",
    "leaderboard",
    "observations",
    "read_pairs",
    "read_result",
    "read_verdicts",
    "render_leaderboard",
    "render_result",
    "write_result",
]
