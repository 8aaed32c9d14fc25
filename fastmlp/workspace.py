"""Workspaces: the scratch buffers of the whole-network kernels, allocated once and reused.

The sizes here are the contract documented in `backends.numpy_ref`; a Workspace holds them for one
(model, batch size, dtype) so that a training step allocates nothing.
"""
from __future__ import annotations

import numpy as np

PREDICT_CHUNK = 1024  # rows per predict pass: keeps the ping-pong blocks in cache for any batch


def n_params(sizes) -> int:
    """Length of θ for layer sizes (n_0, ..., n_L)."""
    return int(sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:])))


class Workspace:
    """Training buffers for batches of up to `rows` rows.

    hbuf: every layer's output; dbuf: two ping-pong ∂L/∂z blocks; grad: ∂L/∂θ;
    xbuf, ybuf, wbuf: one gathered minibatch and its sample weights.
    """

    __slots__ = ("rows", "hbuf", "dbuf", "grad", "xbuf", "ybuf", "wbuf")

    def __init__(self, sizes, rows: int, dtype):
        self.rows = rows
        self.hbuf = np.empty(rows * int(sum(sizes[1:])), dtype)
        self.dbuf = np.empty(2 * rows * int(max(sizes[1:])), dtype)
        self.grad = np.zeros(n_params(sizes), dtype)
        self.xbuf = np.empty(rows * int(sizes[0]), dtype)
        self.ybuf = np.empty(rows * int(sizes[-1]), dtype)
        self.wbuf = np.empty(rows, dtype)


def predict_work(sizes, chunk: int, dtype) -> np.ndarray:
    """Ping-pong buffer for predict over `chunk`-row slices (hidden layers only), plus a tail where the
    numba backend copies a small layer's Wᵀ (at most 4096 weights; see numba_impl._product)."""
    hidden = [int(s) for s in sizes[1:-1]]
    small = [o * i for i, o in zip(sizes[:-1], sizes[1:]) if o * i <= 4096]
    return np.empty(2 * chunk * max(hidden, default=0) + max(small, default=0) or 1, dtype)
