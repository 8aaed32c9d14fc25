"""The input features the playground can feed the network, computed from a point (x1, x2).

Each feature is one NumPy expression over the columns x1, x2. The same text builds the function used here
and is pasted into the exported Python snippet, so the snippet computes bit-for-bit the same inputs.
"""
from __future__ import annotations

import numpy as np

# id -> (label shown on the page, NumPy expression in x1 and x2). Order = column order in the model.
FEATURES = {
    "x1": ("X₁", "x1"),
    "x2": ("X₂", "x2"),
    "x1sq": ("X₁²", "x1 * x1"),
    "x2sq": ("X₂²", "x2 * x2"),
    "x1x2": ("X₁X₂", "x1 * x2"),
    "sinx1": ("sin(X₁)", "np.sin(x1)"),
    "sinx2": ("sin(X₂)", "np.sin(x2)"),
}
FEATURE_ORDER = tuple(FEATURES)

# Compiled from the fixed table above (never from user input): one source of truth for code and snippet.
_FUNCS = {name: eval(f"lambda x1, x2: {expr}", {"np": np}) for name, (_, expr) in FEATURES.items()}


def transform(X: np.ndarray, names) -> np.ndarray:
    """Feature matrix for points X: (n, 2) -> (n, len(names)) float64, columns in the order of `names`."""
    X = np.asarray(X, np.float64)
    x1, x2 = X[:, 0], X[:, 1]
    # broadcast_to: a constant feature (none today) would still give a full column
    return np.column_stack([np.broadcast_to(_FUNCS[n](x1, x2), x1.shape) for n in names])


def expressions(names) -> list:
    """The NumPy expression of each named feature, for the snippet."""
    return [FEATURES[n][1] for n in names]
