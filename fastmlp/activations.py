"""Activation functions: names, integer ids shared by every backend, and the reference definitions.

Every backend stores only the post-activation h = g(z) of a layer: each derivative here is written as a
function of h, so the backward pass needs no copy of the pre-activation z.

    g            g(z)                         g'(z) written from h = g(z)
    identity     z                            1
    relu         max(z, 0)                    1 where h > 0 else 0
    sigmoid      1 / (1 + e^-z)               h (1 - h)
    tanh         tanh z                       1 - h^2
    softplus     log(1 + e^z)                 1 - e^-h   (= sigmoid(z), since e^h = 1 + e^z)
    softmax      e^z_j / Σ_k e^z_k (per row)  output layer only, with the cross-entropy loss: training
                                              passes the logits to the loss (see losses.py), so no
                                              derivative of softmax on its own is ever needed
"""
from __future__ import annotations

import numpy as np

IDENTITY, RELU, SIGMOID, TANH, SOFTPLUS, SOFTMAX = range(6)

ACTIVATION_IDS = {
    "identity": IDENTITY,
    "relu": RELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "softplus": SOFTPLUS,
    "softmax": SOFTMAX,
}
ACTIVATION_NAMES = {i: name for name, i in ACTIVATION_IDS.items()}
# Names users coming from the lecture or from other libraries reach for.
ALIASES = {"linear": "identity", "logistic": "sigmoid", "none": "identity"}


def activation_id(name) -> int:
    """The integer id of an activation name ("tanh", "relu", ...); ValueError for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str), got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in ACTIVATION_IDS:
        known = ", ".join(sorted(ACTIVATION_IDS) + sorted(ALIASES))
        raise ValueError(f"unknown activation {name!r}; known: {known}")
    return ACTIVATION_IDS[key]


def _sigmoid(z):
    # exp of a non-positive number only: finite for every z.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def apply(act: int, z: np.ndarray) -> np.ndarray:
    """h = g(z), same shape and dtype as z."""
    if act == IDENTITY:
        return z.copy()
    if act == RELU:
        return np.where(z < 0, z.dtype.type(0), z)  # NaN passes through, as in np.maximum
    if act == SIGMOID:
        return _sigmoid(z)
    if act == TANH:
        return np.tanh(z)
    if act == SOFTPLUS:
        return (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))).astype(z.dtype, copy=False)
    if act == SOFTMAX:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation id {act}")


def derivative_from_output(act: int, h: np.ndarray) -> np.ndarray:
    """g'(z) computed from h = g(z), same shape and dtype as h."""
    one = h.dtype.type(1)
    if act == IDENTITY:
        return np.ones_like(h)
    if act == RELU:
        return (h > 0).astype(h.dtype)
    if act == SIGMOID:
        return h * (one - h)
    if act == TANH:
        return one - h * h
    if act == SOFTPLUS:
        return -np.expm1(-h)
    raise ValueError(f"unknown activation id {act}")
