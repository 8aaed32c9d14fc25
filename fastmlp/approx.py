"""Universal approximation by construction: a one-hidden-layer ReLU network built from bumps, no training.

A pair of ReLUs with the same steepness c = 1/d,

    s_b(z) = g((z − b)/d + 1/2) − g((z − b)/d − 1/2),        g = relu,

is 0 left of b − d/2, 1 right of b + d/2 and linear in between: a step of width d centred at b. Split
[lo, hi] into n cells of width d = (hi − lo)/n with centres m_k = lo + (k + 1/2) d. Bump k has height
f(m_k) and rises over [m_{k−1}, m_k] and falls over [m_k, m_{k+1}]: neighbouring bumps share these
ramps, so their sum is the straight line from (m_{k−1}, f(m_{k−1})) to (m_k, f(m_k)) in between. Summing
the bumps and collecting the steps (telescoping), the step centred at the cell boundary
x_k = lo + k d carries the height difference f(m_k) − f(m_{k−1}). The first bump has no left neighbour:
its rising step is centred at lo − d/2, outside [lo, hi], so the approximation is f(m_0) on [lo, m_0];
the last bump's falling step would lie beyond hi and is left out (f(m_{n−1}) on [m_{n−1}, hi]).

    F(z) = offset + Σ_k (f(m_k) − f(m_{k−1})) s_{b_k}(z),   f(m_{−1}) = 0, offset = 0,
    b_0 = lo − d/2, b_k = x_k (k ≥ 1)

n pairs, 2n hidden units. For f with Lipschitz constant L the error on [lo, hi] is at most L d / 2 =
L (hi − lo) / (2n): between centres F interpolates linearly, and within d/2 of an end it is constant.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import positive_int


def _real(value, name) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _interval(f, lo, hi):
    if not callable(f):
        raise TypeError(f"f must be callable (a function of one float), got {type(f).__name__}")
    lo, hi = _real(lo, "lo"), _real(hi, "hi")
    if not lo < hi:
        raise ValueError(f"need lo < hi, got lo={lo}, hi={hi}")
    return lo, hi


def _values(f, points) -> np.ndarray:
    out = np.empty(len(points))
    for i, p in enumerate(points):
        v = f(float(p))
        if isinstance(v, np.ndarray) and v.size == 1:
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"f({p!r}) returned {type(v).__name__}, not a real number")
        if not math.isfinite(v):
            raise ValueError(f"f({p!r}) = {v} is not finite")
        out[i] = v
    return out


def relu_bumps(f, lo, hi, n, *, backend=None, dtype="float64"):
    """An MLP([1, 2n, 1], relu hidden, identity output) approximating f on [lo, hi] by n bumps.

    f: a function of one float (called once per bump centre). Bump k is centred at lo + (k + 1/2) d,
    d = (hi − lo)/n, with height f(centre); see the module docstring for the construction. Max error on
    [lo, hi] ≤ L (hi − lo) / (2n) for L-Lipschitz f. backend, dtype: passed to MLP.
    """
    from .model import MLP  # here: keeps `import fastmlp.approx` light and free of import cycles

    lo, hi = _interval(f, lo, hi)
    n = positive_int(n, "n")
    d = (hi - lo) / n
    centres = lo + (np.arange(n) + 0.5) * d
    heights = _values(f, centres)
    steps = np.diff(heights, prepend=0.0)             # f(m_k) − f(m_{k−1}), f(m_{−1}) = 0
    b = lo + np.arange(n) * d                          # the cell boundaries x_k ...
    b[0] = lo - 0.5 * d                                # ... except the first step, moved outside [lo, hi]
    net = MLP([1, 2 * n, 1], activation="relu", output_activation="identity", dtype=dtype, backend=backend)
    W0 = np.full((2 * n, 1), 1.0 / d)
    b0 = np.empty(2 * n)
    b0[0::2] = -b / d + 0.5                            # g((z − b)/d + 1/2)
    b0[1::2] = -b / d - 0.5                            # g((z − b)/d − 1/2)
    W1 = np.empty((1, 2 * n))
    W1[0, 0::2], W1[0, 1::2] = steps, -steps           # the pair's difference, scaled by its height
    net.params = np.concatenate([W0.ravel(), b0, W1.ravel(), [0.0]])  # offset 0: pair 0 gives f(m_0)
    return net


def max_error(net, f, lo, hi, points=10001) -> float:
    """max |net(z) − f(z)| over `points` equally spaced z in [lo, hi] (both ends included)."""
    lo, hi = _interval(f, lo, hi)
    points = positive_int(points, "points")
    z = np.linspace(lo, hi, points)
    pred = net.predict(z.reshape(-1, 1)).astype(np.float64).ravel()
    return float(np.max(np.abs(pred - _values(f, z))))
