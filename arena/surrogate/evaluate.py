"""Checking the surrogate: agreement with the recorded judge, and the ranking of a round-robin.

The ranking check: every pair of models meets on every prompt both answered, the surrogate
judges each match once (it is antisymmetric, so one order suffices), the verdicts go through
`arena.ratings` (Bradley-Terry, strong wins weighted as the rating code does) and the ranking is
compared with a reference (Spearman). Average answer length is reported as the naive baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from arena.records import LABEL_SCORE, Battle
from arena.surrogate.data import JudgedPair
from arena.surrogate.model import SurrogateModel, sigmoid


def judgment_agreement(model: SurrogateModel, pairs: Sequence[JudgedPair]) -> dict:
    """Agreement of `model` with recorded verdicts (see `train.agreement_metrics`). In-sample if the
    model was trained on these rows: the held-out figures are in the weights' provenance."""
    from arena.surrogate.train import agreement_metrics

    p2 = model.prob_a_batch([p.instruction for p in pairs], [p.output_2 for p in pairs], [p.output_1 for p in pairs])
    pref = np.array([p.preference for p in pairs])
    len1 = np.array([len(p.output_1) for p in pairs])
    len2 = np.array([len(p.output_2) for p in pairs])
    return agreement_metrics(pref, p2, len1, len2)


def round_robin_battles(model: SurrogateModel, outputs: Mapping[str, Mapping[str, str]], strong_weight: float = 3.0) -> list[Battle]:
    """Battles of a surrogate-judged round-robin over the prompts every pair of models both answered.

    Labels follow the model's tie band; A>B / A>>B are wins for A (weight `strong_weight` when
    strong), A=B a tie, as `arena.ratings.battles_from_verdicts` treats verdicts.
    """
    models = sorted(outputs)
    scores = {m: {p: model.score(p, a) for p, a in outputs[m].items()} for m in models}
    battles: list[Battle] = []
    for a, b in combinations(models, 2):
        prompts = sorted(set(scores[a]) & set(scores[b]))
        pa = sigmoid(np.array([scores[a][p] - scores[b][p] for p in prompts]))
        for prompt, p in zip(prompts, pa):
            s = LABEL_SCORE[model.label(float(p))]
            if s == 0:
                battles.append(Battle(prompt, a, b, "tie", 1.0, "surrogate"))
            else:
                battles.append(Battle(prompt, a, b, "a" if s > 0 else "b", strong_weight if abs(s) == 2 else 1.0, "surrogate"))
    return battles


def ranking_check(
    model: SurrogateModel,
    outputs: Mapping[str, Mapping[str, str]],
    reference: Mapping[str, float],
    *,
    teacher: Mapping[str, float] | None = None,
    bootstrap: int = 200,
    seed: int = 0,
) -> dict:
    """Round-robin judged by `model`, rated by `arena.ratings.fit_ratings`, compared with `reference`.

    `teacher`: the imitated judge's own scores of these models (e.g. its AlpacaEval win rates
    against a common baseline, which under Bradley-Terry order models as their ratings would).
    Adds `teacher_spearman` (surrogate vs teacher: how well the imitation ranks) and
    `teacher_reference_spearman` (teacher vs reference: the most a faithful imitation can expect).
    """
    from arena.ratings import agreement, fit_ratings

    battles = round_robin_battles(model, outputs)
    board = fit_ratings(battles, bootstrap=bootstrap, seed=seed)
    ag = agreement(board, dict(reference))
    lengths = {m: float(np.mean([len(t) for t in outputs[m].values()])) for m in outputs}
    ag_len = agreement(lengths, dict(reference))
    outcomes = [b.outcome for b in battles]
    extra: dict = {}
    if teacher:
        extra["teacher_spearman"] = agreement(board, dict(teacher))["spearman"]
        extra["teacher_reference_spearman"] = agreement({m: v for m, v in teacher.items() if m in outputs}, dict(reference))["spearman"]
    return {
        "models": len(outputs),
        "matches": len(battles),
        "ties": outcomes.count("tie"),
        "spearman": ag["spearman"],
        "kendall": ag["kendall"],
        "length_spearman": ag_len["spearman"],
        **extra,
        "leaderboard": [{"model": r.model, "rating": round(r.rating, 1), "ci_low": round(r.ci_low, 1), "ci_high": round(r.ci_high, 1), "reference": reference.get(r.model), "mean_chars": round(lengths[r.model])} for r in board.rows],
    }
