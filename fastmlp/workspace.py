"""Workspaces: the scratch buffers of the whole-network kernels, allocated once and reused.

The sizes here are the contract documented in `backends.numpy_ref`; a Workspace holds them for one
(model, batch size, dtype) so that a training step allocates nothing.
"""
from __future__ import annotations

import numpy as np

PREDICT_CHUNK = 1024  # rows per predict pass: keeps the ping-pong blocks in cache for any batch
ALIGN = 64  # bytes: a cache line, and one AVX-512 vector
SMALL_LAYER = 4096  # weights: layers this small are multiplied through a copy of Wᵀ (as in src_ext/_native.pyx)


def aligned_empty(count: int, dtype) -> np.ndarray:
    """An uninitialized (count,) array of dtype whose data starts on a 64-byte boundary.

    numpy aligns to 16 bytes; the vector kernels stream θ and the workspaces 64 bytes at a time, and a load
    that straddles two cache lines costs two (mnist's one-row predict: 14.0 µs misaligned, see bench/README)."""
    dtype = np.dtype(dtype)
    raw = np.empty(count * dtype.itemsize + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + count * dtype.itemsize].view(dtype)


def aligned_copy(a) -> np.ndarray:
    """A 1-D, 64-byte-aligned copy of a."""
    a = np.asarray(a).ravel()
    out = aligned_empty(a.size, a.dtype)
    out[...] = a
    return out


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
        self.hbuf = aligned_empty(rows * int(sum(sizes[1:])), dtype)
        self.dbuf = aligned_empty(2 * rows * int(max(sizes[1:])), dtype)
        self.grad = aligned_empty(n_params(sizes), dtype)
        self.grad[...] = 0
        self.xbuf = aligned_empty(rows * int(sizes[0]), dtype)
        self.ybuf = aligned_empty(rows * int(sizes[-1]), dtype)
        self.wbuf = aligned_empty(rows, dtype)


def predict_work(sizes, chunk: int, dtype) -> np.ndarray:
    """Ping-pong buffer for predict over `chunk`-row slices (hidden layers only), plus a tail where the
    numba backend copies a small layer's Wᵀ (see numba_impl._product)."""
    hidden = [int(s) for s in sizes[1:-1]]
    small = [o * i for i, o in zip(sizes[:-1], sizes[1:]) if o * i <= SMALL_LAYER]
    return aligned_empty(2 * chunk * max(hidden, default=0) + max(small, default=0) or 1, dtype)
