"""Argument checks at the Python boundary: after these, native kernels run unchecked."""
from __future__ import annotations

import numbers

import numpy as np

DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def as_dtype(dtype) -> np.dtype:
    """np.float32 or np.float64 from a name or dtype-like; ValueError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if dt not in DTYPES.values():
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dt.name!r}")
    return dt


def as_batch(A, name: str, columns: int, dtype: np.dtype, kernels, allow_1d=False) -> np.ndarray:
    """A as a C-contiguous (batch, columns) array of `dtype`, copied only when it must be.

    Raises TypeError for non-numeric data, ValueError for a wrong number of dimensions, a wrong column
    count, an empty batch, or NaN/Inf (checked by the backend's `all_finite`).
    """
    ready = getattr(kernels, "batch_ready", None)
    if ready is not None and ready(A, dtype.num, columns):
        return A  # the common case, checked in one native call
    if not (type(A) is np.ndarray and A.dtype == dtype and A.flags.c_contiguous):
        A = np.asarray(A)
        if A.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
        A = np.ascontiguousarray(A, dtype=dtype)
    if A.ndim == 1 and allow_1d and columns == 1:
        A = A.reshape(-1, 1)
    if A.ndim != 2:
        hint = " (reshape a single sample x to x.reshape(1, -1))" if A.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (batch, {columns}), got {A.ndim}-D shape {A.shape}{hint}")
    if A.shape[1] != columns:
        raise ValueError(f"{name} has {A.shape[1]} columns, the network expects {columns}")
    if A.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 rows)")
    if not kernels.all_finite(A):
        raise ValueError(f"{name} contains NaN or Inf")
    return A


def same_rows(X, Y, names=("X", "Y")):
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"{names[0]} has {X.shape[0]} rows but {names[1]} has {Y.shape[0]}")


def positive_float(value, name: str) -> float:
    if type(value) is float and 0.0 < value < np.inf:  # fast path: the number ABCs are slow
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def positive_int(value, name: str, allow_zero=False) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value
