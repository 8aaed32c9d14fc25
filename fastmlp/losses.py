"""Losses: names, integer ids shared by every backend, and the reference definitions.

    sse   L = Σ_i ‖ŷ_i − y_i‖²                    ∂L/∂ŷ = 2 (ŷ − y)
    mse   L = Σ_i ‖ŷ_i − y_i‖² / (batch · n_out)    ∂L/∂ŷ = 2 (ŷ − y) / (batch · n_out)

A backend implements each loss as one branch of its `loss_forward_backward` kernel: adding a loss is an
id here, a branch there, and a reference definition below.
"""
from __future__ import annotations

import numpy as np

SSE, MSE = range(2)

LOSS_IDS = {"sse": SSE, "mse": MSE}
LOSS_NAMES = {i: name for name, i in LOSS_IDS.items()}


def loss_id(name) -> int:
    """The integer id of a loss name ("sse", "mse"); ValueError for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (str), got {type(name).__name__}")
    key = name.lower()
    if key not in LOSS_IDS:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSS_IDS))}")
    return LOSS_IDS[key]


def value_and_grad(loss: int, yhat: np.ndarray, y: np.ndarray):
    """(L, ∂L/∂ŷ) for yhat, y: (batch, n_out). L is a Python float, ∂L/∂ŷ has yhat's dtype."""
    r = yhat - y
    if loss == SSE:
        scale = 1.0
    elif loss == MSE:
        scale = 1.0 / r.size
    else:
        raise ValueError(f"unknown loss id {loss}")
    r64 = r.ravel().astype(np.float64)  # every backend accumulates the loss in float64
    value = float(np.dot(r64, r64)) * scale
    return value, (r * yhat.dtype.type(2.0 * scale)).astype(yhat.dtype, copy=False)
