"""Style control: a contextual Bradley-Terry model with answer-style covariates.

    logit P(a beats b) = theta_a - theta_b + beta . f,    f = style(answer a) - style(answer b)

as in Chatbot Arena's style control. The ratings theta are then "with style held equal" and
beta says how much each style feature sways the judge. Features vary per battle, so this fit
works on battles, not pair counts; replicates are still solved together (sparse products and
a batched Newton solve).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from arena.errors import RatingError
from arena.ratings._battles import BattleArrays, StyleFeatures
from arena.ratings._bootstrap import By, draw_weights
from arena.ratings._bt import _expit, _log2cosh_half, _softplus, blas_threads, chord, newton

STYLE_NAMES = ["length", "headers", "lists", "bold"]
_HEADER = re.compile(r"^#{1,6}\s", re.M)
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
BETA_RIDGE = 1e-6


def style_counts(text: str) -> tuple[int, int, int, int]:
    """(length in whitespace tokens, markdown headers, list items, bold spans) of one answer."""
    text = text if isinstance(text, str) else ("" if text is None else str(text))
    return len(text.split()), len(_HEADER.findall(text)), len(_LIST.findall(text)), len(_BOLD.findall(text))


_META_KEYS = ("sum_assistant_{}_tokens", "header_count_{}", "list_count_{}", "bold_count_{}")


def conv_metadata_counts(meta) -> tuple[list[float], list[float]]:
    """Per-answer (length, headers, lists, bold) counts of both sides from Chatbot Arena's
    `conv_metadata` (a dict, or its JSON text; a count may be a dict of sub-counts, summed).
    Raises KeyError, TypeError or ValueError when it is not of that shape."""
    import json

    if isinstance(meta, str):
        meta = json.loads(meta)
    if not isinstance(meta, dict):
        raise TypeError("conv_metadata is not an object")

    def count(v) -> float:
        return float(sum(float(x) for x in v.values())) if isinstance(v, dict) else float(v)

    return [count(meta[k.format("a")]) for k in _META_KEYS], [count(meta[k.format("b")]) for k in _META_KEYS]


def style_from_counts(counts_a: np.ndarray, counts_b: np.ndarray, names: Sequence[str] = STYLE_NAMES) -> StyleFeatures:
    """Normalised differences (x_a - x_b) / (x_a + x_b + 1) of per-answer counts (n_battles, k)."""
    ca = np.asarray(counts_a, dtype=float)
    cb = np.asarray(counts_b, dtype=float)
    return StyleFeatures(list(names), (ca - cb) / (ca + cb + 1.0))


def style_features(answers_a: Sequence[str], answers_b: Sequence[str]) -> StyleFeatures:
    """Length and markdown-count features (length, headers, lists, bold) of each battle's two
    answers, as normalised differences (x_a - x_b) / (x_a + x_b + 1), aligned with the battles."""
    if len(answers_a) != len(answers_b):
        raise RatingError("style_features: answers_a and answers_b differ in length")
    ca = np.array([style_counts(t) for t in answers_a], dtype=float).reshape(-1, 4)
    cb = np.array([style_counts(t) for t in answers_b], dtype=float).reshape(-1, 4)
    return style_from_counts(ca, cb)


class _StyleProblem:
    """R weighted logistic problems over the same battles; parameters [theta (n), beta (k)]."""

    def __init__(self, arrays: BattleArrays, F: np.ndarray, prior: float, w: np.ndarray):
        from scipy.sparse import csr_matrix

        self.n = arrays.n_models
        self.extra = F.shape[1]
        self.prior = float(prior)
        self.a, self.b, self.y, self.F = arrays.a, arrays.b, arrays.score_a, F
        nb = len(arrays)
        rows = np.concatenate([np.arange(nb), np.arange(nb)])
        self.Dbat = csr_matrix(
            (np.concatenate([np.ones(nb), -np.ones(nb)]), (rows, np.concatenate([self.a, self.b]))), shape=(nb, self.n)
        )
        lo, hi = np.minimum(self.a, self.b), np.maximum(self.a, self.b)
        uniq, inv = np.unique(lo * self.n + hi, return_inverse=True)
        self.pi, self.pj = uniq // self.n, uniq % self.n
        self.Ppair = csr_matrix((np.ones(nb), (np.arange(nb), inv.reshape(-1))), shape=(nb, len(uniq)))
        P = len(uniq)
        D = np.zeros((P, self.n))
        D[np.arange(P), self.pi] = 1.0
        D[np.arange(P), self.pj] = -1.0
        self.absD = np.abs(D)
        k = self.extra
        self.FF = (F[:, :, None] * F[:, None, :]).reshape(nb, k * k)
        self.stats = {"w": np.atleast_2d(w)}

    def take(self, rows):
        return {"w": self.stats["w"][rows]}

    def _d(self, x):
        n = self.n
        return x[:, self.a] - x[:, self.b] + x[:, n:] @ self.F.T

    def loglik(self, x, st):
        d = self._d(x)
        ll = (st["w"] * (self.y * d - _softplus(d))).sum(axis=1)
        ll -= self.prior * _log2cosh_half(x[:, : self.n]).sum(axis=1)
        ll -= 0.5 * BETA_RIDGE * (x[:, self.n :] ** 2).sum(axis=1)
        return ll

    def gradient(self, x, st):
        n = self.n
        d = self._d(x)
        r = st["w"] * (self.y - _expit(d))
        grad = np.empty((x.shape[0], n + self.extra))
        grad[:, :n] = np.asarray((self.Dbat.T @ r.T).T)
        grad[:, n:] = r @ self.F - BETA_RIDGE * x[:, n:]
        if self.prior:
            grad[:, :n] -= 0.5 * self.prior * np.tanh(0.5 * x[:, :n])
        return grad

    def grad_hess(self, x, st):
        n, k = self.n, self.extra
        R = x.shape[0]
        m = n + k
        d = self._d(x)
        p = _expit(d)
        w = st["w"]
        c = w * p * (1.0 - p)
        grad = self.gradient(x, st)
        cp = np.asarray((self.Ppair.T @ c.T).T)
        H = np.zeros((R, m, m))
        H[:, self.pi, self.pj] = -cp
        H[:, self.pj, self.pi] = -cp
        t = np.tanh(0.5 * x[:, :n])
        idx = np.arange(n)
        H[:, idx, idx] = cp @ self.absD + 0.25 * self.prior * (1.0 - t * t)
        for j in range(k):
            col = np.asarray((self.Dbat.T @ (c * self.F[:, j]).T).T)
            H[:, :n, n + j] = col
            H[:, n + j, :n] = col
        H[:, n:, n:] = (c @ self.FF).reshape(R, k, k) + BETA_RIDGE * np.eye(k)
        if not self.prior:
            H[:, :n, :n] += 1.0
        return grad, H

    def newton_step(self, x, st):
        grad, H = self.grad_hess(x, st)
        return grad, np.linalg.solve(H, grad[:, :, None])[:, :, 0]


def fit_style(
    arrays: BattleArrays,
    style: StyleFeatures,
    *,
    prior: float,
    boot_prior: float,
    n_boot: int,
    by: By,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(theta, beta, theta replicates (n_boot, n), beta replicates (n_boot, k))."""
    with blas_threads(1):
        return _fit_style(arrays, style, prior=prior, boot_prior=boot_prior, n_boot=n_boot, by=by, rng=rng)


def _fit_style(arrays, style, *, prior, boot_prior, n_boot, by, rng):
    if len(style) != len(arrays):
        raise RatingError(f"style features have {len(style)} rows but there are {len(arrays)} battles")
    F = style.diffs
    if style.standardize:
        sd = F.std(axis=0)
        F = F / np.where(sd > 0, sd, 1.0)
    n, k = arrays.n_models, F.shape[1]
    prob = _StyleProblem(arrays, F, prior, arrays.weight)
    x = newton(prob, tol=1e-9)[0]
    theta_b = np.empty((n_boot, n))
    beta_b = np.empty((n_boot, k))
    if n_boot:
        prob.prior = boot_prior
        _, H0 = prob.grad_hess(x[None, :], prob.stats)  # shared chord matrix at the point estimate
        hinv = np.linalg.inv(H0[0])
        if by == "prompt":
            uniq, cl = np.unique(arrays.prompt, return_inverse=True)
            probs, n_draws = np.full(len(uniq), 1.0 / len(uniq)), len(uniq)
        else:
            cl = np.arange(len(arrays))
            probs, n_draws = np.full(len(arrays), 1.0 / len(arrays)), len(arrays)
        cl = cl.reshape(-1)
        chunk = max(1, min(200, int(4e6 // max(1, len(arrays)))))
        for start in range(0, n_boot, chunk):
            R = min(chunk, n_boot - start)
            counts = draw_weights(rng, R, probs, n_draws).astype(np.float64)
            prob.stats = {"w": counts[:, cl] * arrays.weight[None, :]}
            xb = chord(prob, x, hinv, tol=1e-7)
            theta_b[start : start + R] = xb[:, :n]
            beta_b[start : start + R] = xb[:, n:]
    return x[:n], x[n:], theta_b, beta_b
