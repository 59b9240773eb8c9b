"""`draw_weights` draws its replicates' cluster counts in blocks of rows (bounded memory) and gives
exactly the numbers one draw of every row gives: the same seed, the same intervals as before."""

from __future__ import annotations

import numpy as np
import pytest

from arena.ratings import _bootstrap


def _one_draw(rng, n_boot, probs, n_draws, cell_of_draw=None):
    """The replicate weights drawn in one piece (the code before the blocks)."""
    n_cl = len(probs)
    if np.allclose(probs, probs[0]) and n_draws == n_cl:
        idx = rng.integers(0, n_cl, size=(n_boot, n_cl))
        flat = (idx + (np.arange(n_boot) * n_cl)[:, None]).reshape(-1)
        return np.bincount(flat, minlength=n_boot * n_cl).reshape(n_boot, n_cl).astype(np.float32)
    if cell_of_draw is not None and n_boot * n_draws <= 2e7 and 4 * n_cl > n_draws:
        idx = cell_of_draw[rng.integers(0, n_draws, size=(n_boot, n_draws))]
        flat = (idx + (np.arange(n_boot) * n_cl)[:, None]).reshape(-1)
        return np.bincount(flat, minlength=n_boot * n_cl).reshape(n_boot, n_cl).astype(np.float32)
    return rng.multinomial(n_draws, probs, size=n_boot).astype(np.float32)


@pytest.mark.parametrize("path", ["uniform", "direct", "multinomial"])
@pytest.mark.parametrize("block_cells", [1, 1000, 1 << 21])
def test_blocks_draw_the_same_weights(path, block_cells, monkeypatch):
    monkeypatch.setattr(_bootstrap, "WEIGHT_BLOCK_CELLS", block_cells)
    gen = np.random.default_rng(0)
    n_cl = 997
    if path == "uniform":
        probs, n_draws, cell = np.full(n_cl, 1 / n_cl), n_cl, None
    else:
        sizes = gen.integers(1, 5, size=n_cl)
        probs = sizes / sizes.sum()
        n_draws = int(sizes.sum()) if path == "direct" else 5 * n_cl
        cell = np.repeat(np.arange(n_cl), sizes) if path == "direct" else None
    got = _bootstrap.draw_weights(np.random.default_rng(11), 37, probs, n_draws, cell)
    want = _one_draw(np.random.default_rng(11), 37, probs, n_draws, cell)
    assert got.dtype == np.float32 and got.shape == (37, n_cl)
    assert np.array_equal(got, want)
    assert got.sum(axis=1).tolist() == [n_draws] * 37
