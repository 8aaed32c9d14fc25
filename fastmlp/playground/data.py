"""The points a session trains on: built-in data sets from a seed, the train/test split, uploaded CSVs.

Points live on the plane [-6, 6]² (the heatmaps' extent). Classification labels are ±1, regression targets
real numbers (shown on the same colour scale, clamped to [-1, 1]).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from .. import datasets
from .errors import PlaygroundError

EXTENT = 6.0  # the plane is [-EXTENT, EXTENT]²
MAX_CSV_ROWS = 5000
MIN_CSV_ROWS = 4  # at least a couple of points each for training and testing

# noise percent (0..50) -> each data set's own noise parameter: coordinate jitter for the classification
# sets (so 50 % blurs the classes about as much as in TF Playground), target noise for regression.
NOISE_SCALE = {"circle": 2.0, "xor": 2.0, "gaussians": 1.0, "spiral": 1.5,
               "plane": 0.5, "multi_gaussian": 0.5}


@dataclass(frozen=True)
class Points:
    """X: (n, 2) float64 points, y: (n,) float64 labels or targets."""

    X: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class CustomData:
    """An uploaded data set: its points, the problem its labels imply, and what to tell the user."""

    points: Points
    problem: str
    has_header: bool
    message: str


def noise_value(dataset: str, noise_percent: int) -> float:
    """The `noise` argument fastmlp.datasets gets for a noise percent."""
    return noise_percent / 100 * NOISE_SCALE[dataset]


def generate(dataset: str, samples: int, noise_percent: int, seed: int) -> Points:
    """A built-in data set (fastmlp.datasets) with `samples` points."""
    X, y = datasets.load(dataset, n=samples, noise=noise_value(dataset, noise_percent), seed=seed)
    return Points(np.asarray(X, np.float64), np.asarray(y, np.float64))


def split(n: int, train_ratio: int, seed: int):
    """(train_idx, test_idx): a random split with round(n · ratio / 100) training rows, at least one each.

    Random, not a slice: the generators emit the classes one after the other.
    """
    order = np.random.default_rng(seed + 1).permutation(n)
    n_train = min(max(1, round(n * train_ratio / 100)), n - 1)
    return order[:n_train], order[n_train:]


# ---- CSV upload -----------------------------------------------------------------------------------------

def _number(text, line, column):
    try:
        value = float(text)
    except ValueError:
        raise PlaygroundError(f"line {line}: {column} is {text.strip()!r}, not a number") from None
    if not math.isfinite(value):
        raise PlaygroundError(f"line {line}: {column} is {text.strip()!r}; only finite numbers are allowed")
    return value


def parse_csv(text: str) -> CustomData:
    """Points from CSV text with rows `x1,x2,label` (an optional header line, blank lines ignored).

    Labels that are all ±1 or all 0/1 make a classification set (0 becomes -1); anything else is
    regression. Every problem raises PlaygroundError naming the line.
    """
    if not isinstance(text, str) or not text.strip():
        raise PlaygroundError("the CSV file is empty: expected rows 'x1,x2,label'")
    if "\x00" in text:
        raise PlaygroundError("the file is not a text CSV (it contains NUL bytes)")
    rows, has_header = [], False
    reader = csv.reader(io.StringIO(text))
    try:
        for line, fields in enumerate(reader, start=1):
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != 3:
                raise PlaygroundError(f"line {line}: expected 3 comma-separated values (x1,x2,label), "
                                      f"got {len(fields)}")
            if not rows and not has_header and _is_header(fields):
                has_header = True
                continue
            if len(rows) >= MAX_CSV_ROWS:
                raise PlaygroundError(f"the CSV has more than {MAX_CSV_ROWS} rows")
            rows.append([_number(f, line, c) for f, c in zip(fields, ("x1", "x2", "label"), strict=True)])
    except csv.Error as exc:
        raise PlaygroundError(f"the CSV is malformed: {exc}") from None
    if len(rows) < MIN_CSV_ROWS:
        raise PlaygroundError(f"the CSV has {len(rows)} data row(s); at least {MIN_CSV_ROWS} are needed")
    data = np.array(rows, np.float64)
    X, y = data[:, :2], data[:, 2]
    outside = np.flatnonzero(np.abs(X).max(1) > EXTENT)
    if outside.size:
        i = int(outside[0])
        raise PlaygroundError(f"{outside.size} point(s) lie outside the playground's plane [-6, 6]², e.g. "
                              f"({X[i, 0]:g}, {X[i, 1]:g}); rescale x1 and x2 into [-6, 6]")
    labels = set(np.unique(y).tolist())
    if labels <= {-1.0, 1.0} or labels <= {0.0, 1.0}:
        y = np.where(y > 0, 1.0, -1.0)
        problem = "classification"
        note = " (labels 0/1 read as -1/+1)" if 0.0 in labels else ""
        message = f"{len(y)} points, classification{note}"
    else:
        problem = "regression"
        message = f"{len(y)} points, regression (targets from {y.min():g} to {y.max():g})"
    return CustomData(Points(X, y), problem, has_header, message)


def _is_header(fields) -> bool:
    """A first row none of whose fields is a number is a header (e.g. 'x1,x2,label'); a row with some
    numbers is data, so that '1.5,abc,1' is reported as a bad value rather than skipped."""
    for f in fields:
        try:
            float(f)
            return False
        except ValueError:
            pass
    return True
