"""Initial θ: drawn in float64 from a seeded numpy Generator, then cast, so every backend and dtype
starts from the same numbers. Biases start at zero."""
from __future__ import annotations

import numpy as np


def glorot_uniform(rng, n_out, n_in):
    """W: (n_out, n_in) ~ U(-a, a), a = sqrt(6 / (n_in + n_out))."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_out, n_in))


def glorot_normal(rng, n_out, n_in):
    """W ~ N(0, 2 / (n_in + n_out))."""
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_out, n_in))


def he_uniform(rng, n_out, n_in):
    """W ~ U(-a, a), a = sqrt(6 / n_in): for ReLU layers."""
    limit = np.sqrt(6.0 / n_in)
    return rng.uniform(-limit, limit, size=(n_out, n_in))


def he_normal(rng, n_out, n_in):
    """W ~ N(0, 2 / n_in): for ReLU layers."""
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


INITIALIZERS = {"glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
                "he_uniform": he_uniform, "he_normal": he_normal}


def initial_theta(sizes, rng: np.random.Generator, init="glorot_uniform") -> np.ndarray:
    """Flat float64 θ in the [W_0, b_0, W_1, b_1, ...] layout, from an initializer name or a user's
    flat array of the right length."""
    n_params = sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:]))
    if not isinstance(init, str):
        theta = np.asarray(init)
        if theta.dtype.kind not in "fiu":
            raise TypeError(f"init must be an initializer name or a flat θ array, got dtype {theta.dtype}")
        if theta.shape != (n_params,):
            raise ValueError(f"an init array must be a flat θ of shape ({n_params},), got {theta.shape}")
        if not np.isfinite(theta).all():
            raise ValueError("the init array contains NaN or Inf")
        return theta.astype(np.float64)
    if init not in INITIALIZERS:
        raise ValueError(f"unknown initializer {init!r}; known: {', '.join(sorted(INITIALIZERS))}")
    parts = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        parts.append(INITIALIZERS[init](rng, n_out, n_in).ravel())
        parts.append(np.zeros(n_out))
    return np.concatenate(parts)
