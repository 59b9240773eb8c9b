"""Online Elo: the sequential update players know, as a second view next to Bradley-Terry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arena.ratings._battles import BattleArrays, compile_battles
from arena.records import Battle


def elo_online(
    battles: Sequence[Battle] | BattleArrays,
    k: float = 4.0,
    *,
    base: float = 10.0,
    scale: float = 400.0,
    init: float = 1000.0,
    use_weight: bool = True,
) -> dict[str, float]:
    """Sequential Elo over the battles in their given order.

    For each battle: E_a = 1 / (1 + base ** ((R_b - R_a) / scale)),
    R_a += k * w * (S_a - E_a), R_b -= k * w * (S_a - E_a), with S_a 1, 0.5 or 0 and w the battle
    weight (1 when `use_weight` is false). Order-dependent by design; K=4 is Chatbot Arena's.
    """
    arr = compile_battles(battles)
    r = np.full(arr.n_models, float(init))
    a, b, s = arr.a.tolist(), arr.b.tolist(), arr.score_a.tolist()
    w = arr.weight.tolist() if use_weight else [1.0] * len(a)
    rl = r.tolist()
    for ai, bi, si, wi in zip(a, b, s, w):
        ea = 1.0 / (1.0 + base ** ((rl[bi] - rl[ai]) / scale))
        delta = k * wi * (si - ea)
        rl[ai] += delta
        rl[bi] -= delta
    return dict(zip(arr.models, rl))
