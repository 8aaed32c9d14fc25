"""check_gradients: backpropagation's ∂L/∂θ against finite differences of the loss."""
from __future__ import annotations

import numpy as np


def check_gradients(net, X, Y, eps=None) -> float:
    """Max relative error of net.loss_and_grad's ∂L/∂θ against a central finite-difference estimate.

    Uses the fourth-order stencil (−L(θ+2h) + 8L(θ+h) − 8L(θ−h) + L(θ−2h)) / 12h per component, with
    h = eps · max(1, |θ_i|) (eps defaults to machine-ε^(1/5) of the model's dtype: ~7e-4 for float64).
    The error of component i is |g_i − n_i| / max(|g_i|, |n_i|, 1e-3 · max_j |g_j|): components a
    thousand times smaller than the largest are judged on that absolute scale, where rounding in L
    dominates. θ is restored afterwards, even on error.
    """
    theta = net.params
    if eps is None:
        eps = float(np.finfo(theta.dtype).eps) ** 0.2
    _, grad = net.loss_and_grad(X, Y)
    grad = grad.astype(np.float64)
    numeric = np.empty_like(grad)
    saved = theta.copy()
    try:
        for i in range(theta.size):
            h = eps * max(1.0, abs(float(saved[i])))
            values = []
            for step in (2, 1, -1, -2):
                theta[i] = saved[i] + step * h
                values.append(net.loss(X, Y))
            theta[i] = saved[i]
            numeric[i] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
    finally:
        theta[...] = saved
    scale = 1e-3 * max(np.abs(grad).max(), np.abs(numeric).max(), np.finfo(np.float64).tiny)
    denom = np.maximum(np.maximum(np.abs(grad), np.abs(numeric)), scale)
    return float((np.abs(grad - numeric) / denom).max())
