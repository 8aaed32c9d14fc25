"""Built-in 2-D data sets in the style of TensorFlow Playground, generated from a seed.

Each returns (X, y): X (n, 2) float64 points in [-6, 6]², y (n,) labels in {-1, +1} for classification
sets or real values for regression sets.
"""
from __future__ import annotations

import numpy as np


def circle(n=512, noise=0.0, seed=None):
    """Points inside radius 2.5 are +1, points in the ring from 3.5 to 5 are -1."""
    rng = np.random.default_rng(seed)
    inner = n // 2
    radius = np.concatenate([rng.uniform(0, 2.5, inner), rng.uniform(3.5, 5.0, n - inner)])
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += rng.normal(0, noise, X.shape) if noise else 0
    y = np.where(np.arange(n) < inner, 1.0, -1.0)
    return X, y


def xor(n=512, noise=0.0, seed=None):
    """Label is the sign of x1·x2 (points kept away from the axes)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-5, 5, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)
    y = np.where(X[:, 0] * X[:, 1] >= 0, 1.0, -1.0)
    X += rng.normal(0, noise, X.shape) if noise else 0
    return X, y


def gaussians(n=512, noise=0.0, seed=None):
    """Two Gaussian blobs centred at (2, 2) (+1) and (-2, -2) (-1)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    spread = 1.0 + 3.0 * noise
    X = np.concatenate([rng.normal(2, spread, (half, 2)), rng.normal(-2, spread, (n - half, 2))])
    y = np.where(np.arange(n) < half, 1.0, -1.0)
    return X, y


def spiral(n=512, noise=0.0, seed=None):
    """Two interleaved spiral arms, +1 and -1."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = np.concatenate([np.linspace(0, 1, half), np.linspace(0, 1, n - half)])
    r = 5 * t
    angle = 1.75 * t * 2 * np.pi + np.where(np.arange(n) < half, 0.0, np.pi)
    X = np.column_stack([r * np.sin(angle), r * np.cos(angle)])
    X += rng.normal(0, noise, X.shape) if noise else 0
    y = np.where(np.arange(n) < half, 1.0, -1.0)
    return X, y


def plane(n=512, noise=0.0, seed=None):
    """Regression: y = (x1 + x2) / 10 plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-6, 6, (n, 2))
    y = (X[:, 0] + X[:, 1]) / 10 + rng.normal(0, noise, n) * (1 if noise else 0)
    return X, y


def multi_gaussian(n=512, noise=0.0, seed=None):
    """Regression: a sum of Gaussian bumps of heights ±1 on a 3x3 grid."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-6, 6, (n, 2))
    centres = np.array([(cx, cy) for cx in (-4, 0, 4) for cy in (-4, 0, 4)], float)
    signs = np.array([1, -1, 1, -1, 1, -1, 1, -1, 1], float)
    d2 = ((X[:, None, :] - centres[None]) ** 2).sum(-1)
    y = (signs * np.exp(-d2 / 2.0)).sum(-1) + rng.normal(0, noise, n) * (1 if noise else 0)
    return X, y


DATASETS = {"circle": circle, "xor": xor, "gaussians": gaussians, "spiral": spiral,
            "plane": plane, "multi_gaussian": multi_gaussian}
CLASSIFICATION = ("circle", "xor", "gaussians", "spiral")


def load(name, n=512, noise=0.0, seed=None):
    """(X, y) of the named data set; ValueError for an unknown name."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name](n=n, noise=noise, seed=seed)
