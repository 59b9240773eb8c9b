"""Bradley-Terry maximum likelihood (ties as half wins, or Davidson's tie model) by a batched
Newton solve over per-pair sufficient statistics.

Strengths theta are natural log-odds: P(i beats j) = 1 / (1 + exp(theta_j - theta_i)); on the
Elo scale rating = 1000 + 400 / ln(10) * (theta - reference), so 400 points is a factor 10 in
odds.

The prior. Every model plays `prior` virtual games against a virtual model of strength 0 and
draws them (half a win, half a loss each), which adds

    -prior * log(2 cosh(theta_i / 2))

to the log-likelihood of each model. It is quadratic near 0 (like a Gaussian with variance
4 / prior in log-odds) and linear in the tails, so it keeps every rating finite when the
comparison graph is disconnected or a model never wins (or never loses), while on ordinary
data its pull is negligible: with the default `prior = 1.0` a model with a few hundred battles
moves by well under one Elo point. `prior = 0` gives the plain maximum-likelihood estimate
(which only exists when the win graph is strongly connected). In the Davidson model the log tie
parameter gamma gets the weak Gaussian penalty -0.01 * prior * gamma^2 / 2.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from arena.errors import RatingError
from arena.ratings._battles import BattleArrays, PairStats, pair_stats

ELO_SCALE = 400.0 / np.log(10.0)
ELO_INIT = 1000.0
DEFAULT_PRIOR = 1.0
GAMMA_PRIOR = 0.01

Ties = Literal["half", "davidson"]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _expit(x: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(x/2)) is exact to rounding and avoids overflow warnings
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _log2cosh_half(t: np.ndarray) -> np.ndarray:
    a = np.abs(t)
    return 0.5 * a + np.log1p(np.exp(-a))


class _Problem:
    """Sufficient statistics for R problems over the same pairs: arrays (R, P)."""

    def __init__(self, n: int, pi: np.ndarray, pj: np.ndarray, ties: Ties, prior: float, **stats: np.ndarray):
        self.n, self.pi, self.pj, self.ties, self.prior = n, pi, pj, ties, float(prior)
        self.stats = stats
        self.extra = 1 if ties == "davidson" else 0
        P = len(pi)
        # incidence matrix (P, n): +1 at i, -1 at j; gradients are products with it
        D = np.zeros((P, n))
        D[np.arange(P), pi] = 1.0
        D[np.arange(P), pj] = -1.0
        self.D = D
        self.absD = np.abs(D)

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[rows] for k, v in self.stats.items()}

    def loglik(self, x: np.ndarray, st: dict[str, np.ndarray]) -> np.ndarray:
        n = self.n
        th = x[:, :n]
        d = th[:, self.pi] - th[:, self.pj]
        if self.ties == "half":
            ll = (st["score"] * d - st["total"] * _softplus(d)).sum(axis=1)
        else:
            g = x[:, n : n + 1]
            logz = np.logaddexp(np.logaddexp(0.5 * d, -0.5 * d), g)
            ll = (st["diff"] * 0.5 * d + st["tie"] * g - st["total"] * logz).sum(axis=1)
            ll -= 0.5 * GAMMA_PRIOR * self.prior * x[:, n] ** 2
        if self.prior:
            ll -= self.prior * _log2cosh_half(th).sum(axis=1)
        return ll

    def _pair_terms(self, x: np.ndarray, st: dict[str, np.ndarray], need_h: bool):
        n, pi, pj = self.n, self.pi, self.pj
        th = x[:, :n]
        d = th[:, pi] - th[:, pj]
        if self.ties == "half":
            p = _expit(d)
            gd = st["score"] - st["total"] * p
            return gd, (st["total"] * p * (1.0 - p) if need_h else None), None
        gam = x[:, n : n + 1]
        s, c, e = np.sinh(0.5 * d), np.cosh(0.5 * d), np.exp(gam)
        z = 2.0 * c + e
        nt = st["total"]
        gd = 0.5 * st["diff"] - nt * s / z
        gg = (st["tie"] - nt * e / z).sum(axis=1) - GAMMA_PRIOR * self.prior * x[:, n]
        if not need_h:
            return gd, None, (gg,)
        z2 = z * z
        hd = nt * (0.5 * c * z - s * s) / z2
        hdg = -nt * s * e / z2  # -(d2 LL / dd dgamma)
        hgg = (nt * e * 2.0 * c / z2).sum(axis=1) + GAMMA_PRIOR * self.prior
        return gd, hd, (gg, hdg, hgg)

    def gradient(self, x: np.ndarray, st: dict[str, np.ndarray]) -> np.ndarray:
        """Gradient of the log-likelihood (R, m)."""
        gd, _, extra = self._pair_terms(x, st, need_h=False)
        return self._grad(x, gd, extra)

    def _grad(self, x, gd, extra):
        n = self.n
        grad = np.empty((x.shape[0], n + self.extra))
        grad[:, :n] = gd @ self.D
        if self.prior:
            grad[:, :n] -= 0.5 * self.prior * np.tanh(0.5 * x[:, :n])
        if self.extra:
            grad[:, n] = extra[0]
        return grad

    def grad_hess(self, x: np.ndarray, st: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Gradient (R, m) and negative Hessian (R, m, m) of the log-likelihood (gauge-fixed when prior=0)."""
        n, pi, pj = self.n, self.pi, self.pj
        R = x.shape[0]
        m = n + self.extra
        gd, hd, extra = self._pair_terms(x, st, need_h=True)
        grad = self._grad(x, gd, extra)
        H = np.zeros((R, m, m))
        H[:, pi, pj] = -hd
        H[:, pj, pi] = -hd
        diag = hd @ self.absD
        if self.prior:
            t = np.tanh(0.5 * x[:, :n])
            diag = diag + 0.25 * self.prior * (1.0 - t * t)
        idx = np.arange(n)
        H[:, idx, idx] = diag
        if self.extra:
            _, hdg, hgg = extra
            col = hdg @ self.D
            H[:, :n, n] = col
            H[:, n, :n] = col
            H[:, n, n] = hgg
        if not self.prior:  # fix the gauge: steps orthogonal to the all-ones direction of theta
            H[:, :n, :n] += 1.0
        return grad, H

    def newton_step(self, x: np.ndarray, st: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Gradient (R, m) and the Newton step (R, m) on the log-likelihood."""
        grad, H = self.grad_hess(x, st)
        try:
            step = np.linalg.solve(H, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = _solve_each(H, grad)
        return grad, step


def _solve_each(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    out = np.empty_like(g)
    for r in range(len(g)):
        out[r] = np.linalg.lstsq(H[r], g[r], rcond=None)[0]
    return out


def newton(problem: _Problem, x0: np.ndarray | None = None, *, tol: float = 1e-10, max_iter: int = 100,
           max_step: float = 3.0, chunk: int | None = None) -> np.ndarray:
    """Maximise each of the R log-likelihoods by damped Newton with step halving; returns x (R, m).

    Replicates are solved together (one batched linear solve per iteration) in chunks that keep
    the (chunk, m, m) Hessians within about 100 MB; converged replicates drop out.
    """
    R = next(iter(problem.stats.values())).shape[0]
    m = problem.n + problem.extra
    x = np.zeros((R, m)) if x0 is None else np.array(np.broadcast_to(x0, (R, m)), dtype=float)
    if chunk is None:
        chunk = max(1, int(1.2e7 // (m * m + 4 * len(problem.pi) + 1)))
    for start in range(0, R, chunk):
        rows = np.arange(start, min(R, start + chunk))
        x[rows] = _newton_rows(problem, x[rows], problem.take(rows), tol, max_iter, max_step)
    return x


def _newton_rows(problem: _Problem, x: np.ndarray, st: dict, tol: float, max_iter: int, max_step: float) -> np.ndarray:
    active = np.arange(x.shape[0])
    ll = problem.loglik(x, st)
    for _ in range(max_iter):
        sub = {k: v[active] for k, v in st.items()}
        xa = x[active]
        grad, step = problem.newton_step(xa, sub)
        big = np.abs(step).max(axis=1)
        scale = np.minimum(1.0, max_step / np.maximum(big, 1e-300))
        step *= scale[:, None]
        lla = ll[active]
        t = np.ones(len(active))
        new = xa + step
        llnew = problem.loglik(new, sub)
        for _h in range(40):  # step halving where the likelihood went down
            bad = llnew < lla - 1e-12 * np.abs(lla)
            if not bad.any():
                break
            t[bad] *= 0.5
            new[bad] = xa[bad] + t[bad, None] * step[bad]
            llnew[bad] = problem.loglik(new[bad], {k: v[bad] for k, v in sub.items()})
        x[active] = new
        ll[active] = llnew
        done = (np.abs(step * t[:, None]).max(axis=1) < tol) | (np.abs(grad).max(axis=1) < tol * 1e-2)
        active = active[~done]
        if not len(active):
            return x
    raise RatingError(f"Bradley-Terry fit did not converge in {max_iter} Newton steps ({len(active)} problems left)")


def chord(problem, x0: np.ndarray, hinv: np.ndarray, *, tol: float = 1e-8, max_iter: int = 60) -> np.ndarray:
    """Solve R problems whose solutions lie near x0 (bootstrap replicates near the point
    estimate) by the chord method: x <- x + grad(x) @ H0^-1, with H0 the negative Hessian at the
    point estimate, shared by all replicates. Each iteration is a few (R, n_pairs) array
    operations and two matrix products; no per-replicate linear solve. Rows that stop
    contracting (a replicate far from the point estimate) finish with damped Newton."""
    R = next(iter(problem.stats.values())).shape[0]
    m = len(x0)
    x = np.array(np.broadcast_to(x0, (R, m)), dtype=float)
    active = np.arange(R)
    prev = np.full(R, np.inf)
    slow: list[np.ndarray] = []
    fast = isinstance(problem, _Problem) and problem.ties == "half"
    if fast:  # gradient = (score - total/2 - total/2 * tanh(d/2)) @ D: one GEMM, one tanh
        half_total = 0.5 * problem.stats["total"]
        excess = problem.stats["score"] - half_total
        half_dt = 0.5 * problem.D.T
    for _ in range(max_iter):
        if not len(active):
            break
        if fast:
            xa = x[active]
            g = (excess[active] - half_total[active] * np.tanh(xa @ half_dt)) @ problem.D
            if problem.prior:
                g -= 0.5 * problem.prior * np.tanh(0.5 * xa)
        else:
            g = problem.gradient(x[active], problem.take(active))
        step = g @ hinv
        size = np.abs(step).max(axis=1)
        bad = ~np.isfinite(size) | (size > 0.5 * prev[active]) | (size > 1.0)
        if bad.any():
            slow.append(active[bad])
            active, step, size = active[~bad], step[~bad], size[~bad]
        x[active] += step
        prev[active] = size
        active = active[size >= tol]
    rest = np.concatenate(slow + [active]) if (slow or len(active)) else np.empty(0, dtype=int)
    if len(rest):
        rest = np.sort(rest)
        x[rest] = _newton_rows(problem, np.array(np.broadcast_to(x0, (len(rest), m))), problem.take(rest), tol, 100, 3.0)
    return x


_CONTROLLER = None


def blas_threads(n: int | None):
    """Limit BLAS threads (small problems run far faster single-threaded on a busy machine)."""
    global _CONTROLLER
    import contextlib

    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()  # scans the loaded libraries once
        return _CONTROLLER.limit(limits=n, user_api="blas")
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()


def problem_from_stats(ps: PairStats, ties: Ties, prior: float) -> _Problem:
    """A one-problem `_Problem` from (P,) pair statistics (or R problems from (R, P))."""
    two = lambda v: np.atleast_2d(np.asarray(v, dtype=float))  # noqa: E731
    if ties == "half":
        return _Problem(ps.n_models, ps.i, ps.j, ties, prior, score=two(ps.score), total=two(ps.total))
    return _Problem(
        ps.n_models, ps.i, ps.j, ties, prior,
        diff=two(ps.wins - ps.losses), tie=two(ps.ties), total=two(ps.total),
    )


def to_elo(theta: np.ndarray, anchor_index: int | None = None, base: float = ELO_INIT) -> np.ndarray:
    """Log-strengths (..., n) to Elo ratings: mean `base` (1000), or the anchor model at `base`."""
    theta = np.asarray(theta, dtype=float)
    ref = theta[..., anchor_index : anchor_index + 1] if anchor_index is not None else theta.mean(axis=-1, keepdims=True)
    return base + ELO_SCALE * (theta - ref)


def _anchor_index(models: list[str], anchor: str | None) -> int | None:
    if anchor is None:
        return None
    try:
        return models.index(anchor)
    except ValueError:
        raise RatingError(f"anchor model {anchor!r} has no battles (models: {', '.join(models)})") from None


def check_prior(ps: PairStats, ties: Ties, prior: float, models: list[str] | None = None) -> None:
    if prior < 0 or not np.isfinite(prior):
        raise RatingError(f"prior must be a finite number >= 0, got {prior}")
    if prior == 0:
        from arena.ratings._graph import diagnose

        problems = diagnose(ps, models)
        if problems:
            raise RatingError("with prior=0 the maximum-likelihood ratings are infinite: " + "; ".join(problems))
        if ties == "davidson" and not ps.ties.sum() > 0:
            raise RatingError("the Davidson tie model needs at least one tie when prior=0")


def fit_theta(
    ps: PairStats, ties: Ties = "half", prior: float = DEFAULT_PRIOR, tol: float = 1e-10, models: list[str] | None = None
) -> tuple[np.ndarray, float | None]:
    """Point estimate of the log-strengths (n,), and Davidson's log tie parameter (or None)."""
    check_prior(ps, ties, prior, models)
    if ties not in ("half", "davidson"):
        raise RatingError(f"ties must be 'half' or 'davidson', got {ties!r}")
    n = ps.n_models
    if len(ps.i) == 0:
        return np.zeros(n), (0.0 if ties == "davidson" else None)
    with blas_threads(1):
        x = newton(problem_from_stats(ps, ties, prior), tol=tol)[0]
    return x[:n], (float(x[n]) if ties == "davidson" else None)


def bt_fit(
    arrays: BattleArrays,
    *,
    anchor: str | None = None,
    ties: Ties = "half",
    prior: float = DEFAULT_PRIOR,
    method: Literal["newton", "choix"] = "newton",
    anchor_rating: float = ELO_INIT,
) -> np.ndarray:
    """Bradley-Terry ratings on the Elo scale (400 points = a factor 10 in odds), one per
    `arrays.models`, with mean 1000 or the `anchor` model at 1000 (or at `anchor_rating`).

    Maximises sum_battles w * [s log sigma(d) + (1 - s) log sigma(-d)], d = theta_a - theta_b,
    s in {1, 0.5, 0} (ties as half wins), or with `ties="davidson"` Davidson's likelihood
    P(a) : P(tie) : P(b) = sqrt(pi_a/pi_b) : nu : sqrt(pi_b/pi_a), plus the prior described in
    this module's docstring: each model draws `prior` virtual games against a virtual average
    model (-prior * log(2 cosh(theta/2)) per model), which keeps ratings finite on a
    disconnected graph or for a model that never wins; `prior=0` is plain maximum likelihood and
    raises `RatingError` when that is infinite.

    `method="choix"` fits the dense win matrix (ties as 0.5 entries) with choix's
    `ilsr_pairwise_dense` (ties half, prior 0 only); it agrees with the Newton solver to 1e-6.
    """
    ps = pair_stats(arrays)
    ai = _anchor_index(arrays.models, anchor)
    if method == "choix":
        if ties != "half":
            raise RatingError("method='choix' supports ties='half' only")
        check_prior(ps, ties, 0.0, arrays.models)
        import choix

        mat = np.zeros((ps.n_models, ps.n_models))
        np.add.at(mat, (ps.i, ps.j), ps.score)
        np.add.at(mat, (ps.j, ps.i), ps.total - ps.score)
        theta = choix.ilsr_pairwise_dense(mat, alpha=0.0, tol=1e-12, max_iter=10_000)
        return to_elo(theta, ai, anchor_rating)
    theta, _ = fit_theta(ps, ties, prior, models=arrays.models)
    return to_elo(theta, ai, anchor_rating)
