"""The surrogate model: per-answer scores, P(A better), the tie band, and the weights file.

    score(p, x) = w_dense . (dense(p, x) / scale) + w_hash . hashed(p, x)
    P(A better than B) = sigmoid(score(p, A) - score(p, B))

No intercept and one shared score function, so P(A, B) = 1 - P(B, A) exactly.

Tie band (P = P(A better)), symmetric around 0.5 so that swapping A and B swaps the label:

    P >= 1 - STRONG   -> "A>>B"        (default STRONG = 0.15: P >= 0.85)
    P >  0.5 + TIE    -> "A>B"         (default TIE = 0.10: P > 0.60)
    |P - 0.5| <= TIE  -> "A=B"         (0.40 <= P <= 0.60; mirrors the data's 1.4-1.6 band)
    P <  0.5 - TIE    -> "B>A"
    P <= STRONG       -> "B>>A"
"""

from __future__ import annotations

import io
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from arena.errors import BadInput, NotFound
from arena.surrogate.features import DENSE_NAMES, FEATURE_VERSION, Hasher, PromptInfo, answer_features, prompt_info

LENGTH_FEATURES: tuple[str, ...] = ("log_chars", "log_words", "log_lines", "log_chars_sq")
"""Dense features dropped from the score when `length_control` is on (as AlpacaEval 2's
length-controlled win rate does: predict the verdict as if both answers had the same length)."""
DEFAULT_TIE = 0.10
DEFAULT_STRONG = 0.15
WEIGHTS_FILE = Path(__file__).resolve().parent / "weights.npz"


class WeightsError(BadInput):
    """A surrogate weights file is missing, unreadable or from another feature version."""


def label_for(p_a: float, tie: float = DEFAULT_TIE, strong: float = DEFAULT_STRONG) -> str:
    """Five-way label from P(A better) with the documented tie band."""
    if p_a >= 1.0 - strong:
        return "A>>B"
    if p_a <= strong:
        return "B>>A"
    if p_a > 0.5 + tie:
        return "A>B"
    if p_a < 0.5 - tie:
        return "B>A"
    return "A=B"


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


@dataclass
class SurrogateModel:
    w_dense: np.ndarray  # (len(DENSE_NAMES),) weights on scaled dense features
    scale: np.ndarray  # (len(DENSE_NAMES),) divide dense features by this
    w_hash: np.ndarray  # (n_buckets,) float32
    provenance: dict = field(default_factory=dict)
    tie: float = DEFAULT_TIE
    strong: float = DEFAULT_STRONG
    length_control: bool = False
    cache_size: int = 8_192  # memoised (prompt, answer) scores: a round-robin scores each answer in consecutive matches

    def __post_init__(self) -> None:
        self.hasher = Hasher(len(self.w_hash))
        self._wd = np.asarray(self.w_dense, np.float64) / np.asarray(self.scale, np.float64)
        if self.length_control:
            self._wd = self._wd.copy()
            self._wd[[DENSE_NAMES.index(n) for n in LENGTH_FEATURES]] = 0.0
        self._wh = np.asarray(self.w_hash, np.float64)
        self._prompts: dict[str, PromptInfo] = {}
        self._scores: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._length_idx = [DENSE_NAMES.index(n) for n in LENGTH_FEATURES]

    def clear_caches(self) -> None:
        """Drop the memoised prompt features and answer scores (they hold texts)."""
        self._prompts.clear()
        self._scores.clear()

    # --- scoring -------------------------------------------------------------------------
    def _info(self, prompt: str) -> PromptInfo:
        info = self._prompts.get(prompt)
        if info is None:
            info = prompt_info(prompt)
            if len(self._prompts) > self.cache_size:
                self._prompts.clear()
            self._prompts[prompt] = info
        return info

    def score(self, prompt: str, answer: str) -> float:
        """The answer's score for this prompt (memoised by text; higher = better)."""
        return self.score_views(prompt, answer)[0]

    def score_views(self, prompt: str, answer: str) -> tuple[float, float]:
        """The answer's score and its score without the length terms (`LENGTH_FEATURES`), from one
        featurisation (memoised by text). With `length_control` on, both are the second."""
        key = (prompt, answer)
        s = self._scores.get(key)
        if s is not None:
            return s
        f = answer_features(self._info(prompt), answer, self.hasher)
        full = float(self._wd @ f.dense + self._wh[f.idx] @ f.val)
        s = (full, full - float(self._wd[self._length_idx] @ f.dense[self._length_idx]))
        self._scores[key] = s
        if len(self._scores) > self.cache_size:
            self._scores.popitem(last=False)
        return s

    def prob_a_views(self, prompt: str, answer_a: str, answer_b: str) -> tuple[float, float]:
        """P(A better) with and without the length terms: two views of the same match, whose
        disagreement says the verdict hangs on length alone (the cascade's `length_consistent`
        confidence)."""
        (fa, la), (fb, lb) = self.score_views(prompt, answer_a), self.score_views(prompt, answer_b)
        return float(sigmoid(fa - fb)), float(sigmoid(la - lb))

    def prob_a(self, prompt: str, answer_a: str, answer_b: str) -> float:
        """P(A better than B) = sigmoid(score(A) - score(B))."""
        d = self.score(prompt, answer_a) - self.score(prompt, answer_b)
        return 1.0 / (1.0 + math.exp(-d)) if d > -700 else 0.0

    def prob_a_batch(self, prompts, answers_a, answers_b) -> np.ndarray:
        """P(A better) for many pairs; each distinct (prompt, answer) is featurised once."""
        sa = np.fromiter((self.score(p, a) for p, a in zip(prompts, answers_a)), np.float64)
        sb = np.fromiter((self.score(p, b) for p, b in zip(prompts, answers_b)), np.float64)
        return sigmoid(sa - sb)

    def label(self, p_a: float) -> str:
        return label_for(p_a, self.tie, self.strong)

    # --- weights file --------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write an .npz: arrays plus the provenance as a JSON string. Deterministic bytes for equal weights."""
        meta = dict(self.provenance)
        meta.update({"feature_version": FEATURE_VERSION, "dense_features": list(DENSE_NAMES), "n_buckets": int(len(self.w_hash)), "tie": self.tie, "strong": self.strong})
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            w_dense=np.asarray(self.w_dense, np.float64),
            scale=np.asarray(self.scale, np.float64),
            w_hash=np.asarray(self.w_hash, np.float16),
            provenance=np.array(json.dumps(meta, sort_keys=True, indent=1)),
        )
        _write_deterministic_zip(buf.getvalue(), Path(path))

    @classmethod
    def load(cls, path: str | Path | None = None, *, length_control: bool = False) -> SurrogateModel:
        p = Path(path) if path is not None else WEIGHTS_FILE
        if not p.exists():
            raise NotFound(f"{p}: no such weights file (train one with `arena surrogate train`)")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["provenance"]))
                w_dense, scale, w_hash = z["w_dense"], z["scale"], z["w_hash"].astype(np.float32)
        except (OSError, KeyError, ValueError) as e:
            raise WeightsError(f"{p}: not a surrogate weights file ({e})") from None
        if meta.get("feature_version") != FEATURE_VERSION or meta.get("dense_features") != list(DENSE_NAMES):
            raise WeightsError(f"{p}: weights are for feature version {meta.get('feature_version')}, this code computes version {FEATURE_VERSION}; retrain with `arena surrogate train`")
        return cls(w_dense, scale, w_hash, provenance=meta, tie=float(meta.get("tie", DEFAULT_TIE)), strong=float(meta.get("strong", DEFAULT_STRONG)), length_control=length_control)


def _write_deterministic_zip(data: bytes, path: Path) -> None:
    """Re-pack an .npz with fixed timestamps so equal weights give byte-identical files."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(src.namelist()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name))
    from arena.outpaths import write_atomic, writing

    with writing(path, "file", WEIGHTS_OUT) as path:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, out.getvalue())


WEIGHTS_OUT = "a weights file (.npz)"
