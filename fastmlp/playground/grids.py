"""The plane as a grid of points, and heatmap values packed for the page.

Grid layout (the page relies on it): an n × n grid of cell centres over [-6, 6]², row-major, row 0 at the
top (x2 = +6 side), column 0 at the left (x1 = -6 side); so value k is row k // n, column k % n, exactly
the order of a canvas ImageData.

Heatmaps travel as base64 bytes: each value is clamped to [-1, 1] (the colour scale's domain, as in TF
Playground) and quantized to 0..255 with byte = round((v + 1) · 127.5); 1 byte a cell keeps a step answer
small (the default net's grids are ~9 kB) so the page can update 20+ times a second.
"""
from __future__ import annotations

import base64
from functools import lru_cache

import numpy as np

from .data import EXTENT

OUTPUT_SIZE = 64  # the big decision-boundary heatmap
NEURON_SIZE = 24  # each neuron's small heatmap


@lru_cache(maxsize=8)
def plane(n: int) -> np.ndarray:
    """The (n·n, 2) float64 cell centres of the n × n grid (read-only: cached and shared)."""
    centres = (np.arange(n) + 0.5) / n * 2 * EXTENT - EXTENT
    x1, x2 = np.meshgrid(centres, centres[::-1])  # rows run from x2 = +6 down to -6
    points = np.column_stack([x1.ravel(), x2.ravel()])
    points.flags.writeable = False
    return points


def quantize(values: np.ndarray) -> np.ndarray:
    """uint8 codes of values clamped to [-1, 1]; NaN (an overflowed net's) maps to the middle, 0."""
    v = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.rint((np.clip(v, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def encode(values: np.ndarray) -> str:
    """Values (any shape, C order) as base64 text of their uint8 codes."""
    return base64.b64encode(quantize(values).tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    """The inverse of encode up to quantization: a flat float64 array in [-1, 1] (for tests and tools)."""
    return np.frombuffer(base64.b64decode(text), np.uint8) / 127.5 - 1.0
