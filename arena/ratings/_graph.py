"""Why maximum likelihood may be infinite: a disconnected comparison graph, models that never
win or never lose, or a group of models that never loses to the rest."""

from __future__ import annotations

import numpy as np

from arena.ratings._battles import PairStats


def _scc(n: int, edges_i: np.ndarray, edges_j: np.ndarray, directed: bool) -> tuple[int, np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(edges_i)), (edges_i, edges_j)), shape=(n, n)).tocsr()
    return connected_components(g, directed=directed, connection="strong")


def components(ps: PairStats, models_seen: np.ndarray | None = None) -> list[list[int]]:
    """Connected components of the comparison graph (models with battles only), largest first."""
    has = ps.total > 0
    k, labels = _scc(ps.n_models, ps.i[has], ps.j[has], directed=False)
    seen = np.zeros(ps.n_models, bool)
    seen[ps.i[has]] = True
    seen[ps.j[has]] = True
    groups = [list(np.flatnonzero((labels == c) & seen)) for c in range(k)]
    groups = [g for g in groups if g]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def diagnose(ps: PairStats, models: list[str] | None = None) -> list[str]:
    """Plain-language reasons the maximum-likelihood ratings would be infinite (empty when fine)."""
    name = (lambda i: models[i]) if models is not None else (lambda i: f"model {i}")  # noqa: E731
    out: list[str] = []
    comps = components(ps)
    if len(comps) > 1:
        named = sorted((sorted(name(i) for i in g) for g in comps), key=lambda g: (-len(g), g))
        parts = " | ".join("{" + ", ".join(g) + "}" for g in named)
        out.append(f"the comparison graph is not connected ({len(comps)} components: {parts}); ratings in different components are not comparable")
    n = ps.n_models
    # "i beats j at least partly" edges: i -> j when i scored against j (wins or ties)
    sc = ps.wins + 0.5 * ps.ties
    lo = ps.losses + 0.5 * ps.ties
    played = np.zeros(n)
    np.add.at(played, ps.i, ps.total)
    np.add.at(played, ps.j, ps.total)
    scored = np.zeros(n)
    np.add.at(scored, ps.i, sc)
    np.add.at(scored, ps.j, lo)
    conceded = played - scored
    never_win = [i for i in range(n) if played[i] > 0 and scored[i] <= 0]
    never_lose = [i for i in range(n) if played[i] > 0 and conceded[i] <= 0]
    if never_win:
        out.append("never won a battle (not even a tie): " + ", ".join(name(i) for i in never_win))
    if never_lose:
        out.append("never lost a battle (not even a tie): " + ", ".join(name(i) for i in never_lose))
    if len(comps) == 1 and not never_win and not never_lose:
        ei = np.concatenate([ps.i[sc > 0], ps.j[lo > 0]])
        ej = np.concatenate([ps.j[sc > 0], ps.i[lo > 0]])
        k, labels = _scc(n, ei, ej, directed=True)
        seen_labels = {labels[i] for i in comps[0]}
        if len(seen_labels) > 1:
            # a source component (no incoming edge from outside) never loses to the rest
            groups = {c: [i for i in comps[0] if labels[i] == c] for c in seen_labels}
            incoming = {c: False for c in seen_labels}
            for u, v in zip(ei, ej):
                if labels[u] != labels[v]:
                    incoming[labels[v]] = True
            tops = [groups[c] for c in seen_labels if not incoming[c]]
            for g in tops:
                out.append("these models never lost to any model outside the group: " + ", ".join(sorted(name(i) for i in g)))
    return out
