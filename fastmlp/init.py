"""Initial θ: drawn in float64 from a seeded numpy Generator, then cast, so every backend and dtype
starts from the same numbers."""
from __future__ import annotations

import numpy as np


def glorot_uniform(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """W: (n_out, n_in) ~ U(-a, a), a = sqrt(6 / (n_in + n_out))."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_out, n_in))


INITIALIZERS = {"glorot_uniform": glorot_uniform}


def initial_theta(sizes, rng: np.random.Generator, init="glorot_uniform") -> np.ndarray:
    """Flat float64 θ in the [W_0, b_0, W_1, b_1, ...] layout; biases start at zero."""
    if init not in INITIALIZERS:
        raise ValueError(f"unknown initializer {init!r}; known: {', '.join(sorted(INITIALIZERS))}")
    parts = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        parts.append(INITIALIZERS[init](rng, n_out, n_in).ravel())
        parts.append(np.zeros(n_out))
    return np.concatenate(parts)
