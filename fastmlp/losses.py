"""Losses: names, integer ids shared by every backend, and the reference definitions.

r = ŷ − y; w_i a sample weight (1 when none is given); m the outputs per row; W = Σ_i w_i.
    sse                   L = Σ_i w_i ‖r_i‖²                       ∂L/∂ŷ = 2 w_i r_i
    mse                   L = Σ_i w_i ‖r_i‖² / (W m)                ∂L/∂ŷ = 2 w_i r_i / (W m)
    mae                   L = Σ_i w_i ‖r_i‖₁ / (W m)                ∂L/∂ŷ = w_i sign(r_i) / (W m)
    huber (δ = 1)         L = Σ_i w_i Σ_j h(r_ij) / (W m)           h(r) = r²/2 if |r| ≤ 1 else |r| − 1/2
    cross_entropy         L = −Σ_i w_i Σ_j y_ij log softmax(z_i)_j / W     ∂L/∂z = w_i (softmax(z_i) − y_i) / W
    binary_cross_entropy  L = Σ_i w_i Σ_j [softplus(z_ij) − y_ij z_ij] / (W m)  ∂L/∂z = w_i (σ(z) − y) / (W m)

The two cross-entropies take the logits z of the output layer, not its probabilities: computed from
logits they stay finite for any z (log-sum-exp, softplus). A model whose loss is one of LOGIT_LOSSES trains
with an identity output layer and applies softmax / sigmoid only when it predicts.

A backend implements each loss as one branch of its `loss_forward_backward` kernel: adding a loss is an
id here, a branch there, and a reference definition below.
"""
from __future__ import annotations

import numpy as np

SSE, MSE, MAE, HUBER, CROSS_ENTROPY, BINARY_CROSS_ENTROPY = range(6)

LOSS_IDS = {"sse": SSE, "mse": MSE, "mae": MAE, "huber": HUBER, "cross_entropy": CROSS_ENTROPY,
            "binary_cross_entropy": BINARY_CROSS_ENTROPY}
LOSS_NAMES = {i: name for name, i in LOSS_IDS.items()}
ALIASES = {"log_loss": "cross_entropy", "bce": "binary_cross_entropy", "l1": "mae", "l2": "sse"}
# The output activation each logit loss implies (and requires).
LOGIT_LOSSES = {CROSS_ENTROPY: "softmax", BINARY_CROSS_ENTROPY: "sigmoid"}


def loss_id(name) -> int:
    """The integer id of a loss name ("sse", "mse", ...); ValueError for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (str), got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in LOSS_IDS:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSS_IDS) + sorted(ALIASES))}")
    return LOSS_IDS[key]


def value_and_grad(loss: int, yhat: np.ndarray, y: np.ndarray, sw=None):
    """(L, ∂L/∂ŷ) for yhat, y: (batch, n_out), sw: (batch,) or None (or empty). L is a Python float
    computed in float64; ∂L/∂ŷ has yhat's dtype. For the logit losses yhat holds the logits."""
    n, m = yhat.shape
    z = yhat.astype(np.float64)
    t = y.astype(np.float64)
    w = np.ones(n) if sw is None or np.size(sw) == 0 else np.asarray(sw, np.float64)
    total = w.sum() or 1.0  # a batch of zero-weight rows: loss 0, gradient 0 (not 0/0)
    r = z - t
    if loss == SSE:
        per_row, grad, norm = (r * r).sum(1), 2 * r, 1.0
    elif loss == MSE:
        per_row, grad, norm = (r * r).sum(1), 2 * r, total * m
    elif loss == MAE:
        per_row, grad, norm = np.abs(r).sum(1), np.sign(r), total * m
    elif loss == HUBER:
        a = np.abs(r)
        per_row = np.where(a <= 1, 0.5 * r * r, a - 0.5).sum(1)
        grad, norm = np.clip(r, -1, 1), total * m
    elif loss == CROSS_ENTROPY:
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        per_row, grad, norm = -(t * log_p).sum(1), np.exp(log_p) - t, total
    elif loss == BINARY_CROSS_ENTROPY:
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        e = np.exp(-np.abs(z))
        sigmoid = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        per_row, grad, norm = (softplus - t * z).sum(1), sigmoid - t, total * m
    else:
        raise ValueError(f"unknown loss id {loss}")
    value = float(per_row @ w) / norm
    return value, (grad * (w[:, None] / norm)).astype(yhat.dtype)
