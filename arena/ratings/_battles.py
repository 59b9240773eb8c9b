"""Battles as arrays: building them from verdicts, compiling records into arrays, and collapsing
arrays into sufficient statistics (per-pair and per-prompt-per-pair counts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from arena.errors import RatingError
from arena.records import Battle

_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


@dataclass(slots=True)
class BattleArrays:
    """Battles as parallel arrays (one entry per battle).

    `a`, `b` index `models`; `score_a` is 1 when a wins, 0 when b wins, 0.5 for a tie; `weight`
    counts repeated or strong wins; `prompt` indexes `prompts` (the bootstrap clusters).
    """

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    score_a: np.ndarray
    weight: np.ndarray
    prompt: np.ndarray
    prompts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.a = np.asarray(self.a, dtype=np.int64)
        self.b = np.asarray(self.b, dtype=np.int64)
        self.score_a = np.asarray(self.score_a, dtype=np.float64)
        self.weight = np.asarray(self.weight, dtype=np.float64)
        self.prompt = np.asarray(self.prompt, dtype=np.int64)
        n = len(self.a)
        if not (len(self.b) == len(self.score_a) == len(self.weight) == len(self.prompt) == n):
            raise RatingError("battle arrays have different lengths")
        if n and (self.a.min() < 0 or max(self.a.max(), self.b.max()) >= len(self.models) or self.b.min() < 0):
            raise RatingError("battle arrays index a model outside `models`")
        if np.any(self.a == self.b):
            i = int(np.flatnonzero(self.a == self.b)[0])
            raise RatingError(f"battle {i} pits {self.models[self.a[i]]!r} against itself")
        if not self.prompts and n:
            self.prompts = [str(i) for i in range(int(self.prompt.max()) + 1)]

    def __len__(self) -> int:
        return len(self.a)

    @property
    def n_models(self) -> int:
        return len(self.models)

    def subset(self, mask: np.ndarray) -> BattleArrays:
        """The battles where `mask` is true (same models and prompts)."""
        return BattleArrays(
            self.models, self.a[mask], self.b[mask], self.score_a[mask], self.weight[mask], self.prompt[mask], self.prompts
        )


@dataclass(slots=True)
class StyleFeatures:
    """Per-battle style covariates for style control, aligned with the battles.

    `diffs[i, k]` is feature `names[k]` of battle i's answer A minus (a normalised difference to)
    answer B's, e.g. as `style_features` computes it from the two answer texts. The fit uses
    the columns as given (after standardising each to unit standard deviation when
    `standardize` is true), so a coefficient is the log-odds change per standard deviation.
    """

    names: list[str]
    diffs: np.ndarray
    standardize: bool = True

    def __post_init__(self) -> None:
        self.diffs = np.asarray(self.diffs, dtype=np.float64)
        if self.diffs.ndim == 1:
            self.diffs = self.diffs[:, None]
        if self.diffs.shape[1] != len(self.names):
            raise RatingError(f"style features: {self.diffs.shape[1]} columns but {len(self.names)} names")
        if not np.all(np.isfinite(self.diffs)):
            raise RatingError("style features contain NaN or infinite values")

    def __len__(self) -> int:
        return self.diffs.shape[0]


def battles_from_verdicts(rows: Iterable[dict], strong_weight: float = 3.0, judge: str = "", forfeit: str = "loss") -> list[Battle]:
    """Turn verdict rows (dicts with prompt_id, model_a, model_b, outcome, strength) into battles.

    A run's battles come from `Store.battles(run_id)` (typed records, `records.battle_of`); this
    reads the same rows from elsewhere (exports, files).

    `a`/`b` become a win for that side, with weight `strong_weight` when `strength == 2`
    (a `>>` verdict, as Arena-Hard counts it) and 1 otherwise; `tie` becomes a tie. Unresolved
    verdicts are skipped. A forfeit (one side had no usable answer) is, with `forfeit="loss"`
    (the default), a battle lost by the side without an answer (weight 1), so a model that
    answered few prompts cannot rank first on them; with `forfeit="skip"` it is left out.
    """
    if forfeit not in ("loss", "skip"):
        raise RatingError(f"forfeit must be 'loss' or 'skip', got {forfeit!r}")
    out: list[Battle] = []
    for row in rows:
        outcome = row.get("outcome")
        if outcome in ("unresolved", None):
            continue
        if outcome in ("forfeit_a", "forfeit_b"):
            if forfeit == "skip":
                continue
            outcome = outcome[-1]
        if outcome not in ("a", "b", "tie"):
            raise RatingError(f"verdict {row.get('match_id', '?')}: unknown outcome {outcome!r}")
        strength = int(row.get("strength") or 0)
        weight = float(strong_weight) if (outcome != "tie" and strength >= 2) else 1.0
        out.append(
            Battle(
                prompt_id=str(row.get("prompt_id", "")),
                model_a=str(row["model_a"]),
                model_b=str(row["model_b"]),
                outcome=outcome,
                weight=weight,
                judge=judge or str(row.get("judge") or ""),
            )
        )
    return out


def compile_battles(battles: Sequence[Battle] | BattleArrays, models: Sequence[str] | None = None) -> BattleArrays:
    """Battles (records) into `BattleArrays`.

    `models` fixes the model order (and may include models without battles); by default the
    models appear sorted by name. A battle with an empty `prompt_id` is its own bootstrap
    cluster. Outcomes other than a, b, tie raise `RatingError`; so do negative weights.
    """
    if isinstance(battles, BattleArrays):
        if models is None or list(models) == battles.models:
            return battles
        index = {m: i for i, m in enumerate(models)}
        missing = [m for m in battles.models if m not in index]
        if missing:
            raise RatingError(f"models {missing} have battles but are not in the model list")
        remap = np.array([index[m] for m in battles.models], dtype=np.int64)
        return BattleArrays(
            list(models), remap[battles.a], remap[battles.b], battles.score_a, battles.weight, battles.prompt, battles.prompts
        )
    n = len(battles)
    names_a = [bt.model_a for bt in battles]
    names_b = [bt.model_b for bt in battles]
    if models is None:
        model_list = sorted(set(names_a) | set(names_b))
    else:
        model_list = list(models)
        if len(set(model_list)) != len(model_list):
            raise RatingError("the model list names a model twice")
    index = {m: i for i, m in enumerate(model_list)}
    try:
        a = np.fromiter((index[m] for m in names_a), dtype=np.int64, count=n)
        b = np.fromiter((index[m] for m in names_b), dtype=np.int64, count=n)
    except KeyError as e:
        raise RatingError(f"model {e.args[0]!r} has battles but is not in the model list") from None
    try:
        score = np.fromiter((_SCORE[bt.outcome] for bt in battles), dtype=np.float64, count=n)
    except KeyError as e:
        raise RatingError(f"unknown battle outcome {e.args[0]!r} (expected a, b or tie)") from None
    weight = np.fromiter((bt.weight for bt in battles), dtype=np.float64, count=n)
    if n and (weight.min() < 0 or not np.all(np.isfinite(weight))):
        raise RatingError("battle weights must be finite and non-negative")
    prompts: list[str] = []
    pindex: dict[str, int] = {}
    prompt = np.empty(n, dtype=np.int64)
    for i, bt in enumerate(battles):
        pid = bt.prompt_id
        if pid == "":
            pid = f"#battle{i}"
        j = pindex.get(pid)
        if j is None:
            j = pindex[pid] = len(prompts)
            prompts.append(pid)
        prompt[i] = j
    return BattleArrays(model_list, a, b, score, weight, prompt, prompts)


@dataclass(slots=True)
class PairStats:
    """Sufficient statistics per unordered pair (i < j): the Bradley-Terry likelihood depends on
    the battles only through these.

    `wins`: weighted wins of i over j, `losses`: of j over i, `ties`: weighted ties;
    `count`: number of battles (unweighted). Arrays are (..., n_pairs): a leading axis holds
    clusters (prompts) or bootstrap replicates.
    """

    n_models: int
    i: np.ndarray
    j: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    ties: np.ndarray
    count: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.wins + self.losses + self.ties

    @property
    def score(self) -> np.ndarray:
        """Weighted score of i over j, ties counting half."""
        return self.wins + 0.5 * self.ties


def _dense_unique(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(key, return_inverse=True) for integer keys in [0, size), by counting when cheap."""
    if size <= max(1 << 22, 4 * len(key)):
        present = np.bincount(key, minlength=size) > 0
        code = np.cumsum(present) - 1
        return np.flatnonzero(present), code[key]
    uniq, inv = np.unique(key, return_inverse=True)
    return uniq, inv.reshape(-1)


def _pair_keys(arrays: BattleArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Canonical (i < j) pair of every battle, its pair index, the unique pairs, and i's score."""
    a, b = arrays.a, arrays.b
    swap = a > b
    i = np.where(swap, b, a)
    j = np.where(swap, a, b)
    s = np.where(swap, 1.0 - arrays.score_a, arrays.score_a)
    n = arrays.n_models
    key = i * n + j
    uniq, inv = _dense_unique(key, n * n)
    return uniq // n, uniq % n, inv, s, key


def split_outcomes(score: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted (win, loss, tie) of each battle from its score: a score s >= 0.5 is a win share
    2s-1 plus a tie share 2-2s, so that win + tie/2 == s (scores 1, 0, 0.5 map to pure outcomes)."""
    s = np.clip(score, 0.0, 1.0)
    win = weight * np.clip(2 * s - 1, 0.0, None)
    loss = weight * np.clip(1 - 2 * s, 0.0, None)
    tie = weight - win - loss
    return win, loss, tie


def pair_stats(arrays: BattleArrays) -> PairStats:
    """Collapse battles into per-pair counts (the sufficient statistics of the fit)."""
    pi, pj, inv, s, _ = _pair_keys(arrays)
    n_pairs = len(pi)
    win, loss, tie = split_outcomes(s, arrays.weight)
    f = lambda x: np.bincount(inv, weights=x, minlength=n_pairs)  # noqa: E731
    return PairStats(arrays.n_models, pi, pj, f(win), f(loss), f(tie), np.bincount(inv, minlength=n_pairs).astype(float))
