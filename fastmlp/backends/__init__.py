"""Backend selection: MLP(backend=...) > $FASTMLP_BACKEND > cython > numba > numpy.

A backend is a module exposing the kernel table documented in `numpy_ref`. Modules load on first use, so
`import fastmlp` pays neither for scipy (the extension's BLAS) nor for numba.
"""
from __future__ import annotations

import importlib
import os
import warnings

BACKENDS = ("cython", "numba", "numpy")
_MODULES = {
    "cython": "fastmlp._native",
    "numba": "fastmlp.backends.numba_impl",
    "numpy": "fastmlp.backends.numpy_ref",
}
_loaded: dict = {}
_errors: dict = {}
_warned_fallback = False


def _try_load(name):
    if name not in _loaded and name not in _errors:
        try:
            _loaded[name] = importlib.import_module(_MODULES[name])
        except ImportError as exc:  # not built, or numba not installed
            _errors[name] = exc
    return _loaded.get(name)


def available_backends() -> list:
    """The backends that load on this machine, fastest first, e.g. ["cython", "numba", "numpy"]."""
    return [name for name in BACKENDS if _try_load(name) is not None]


def get_backend(name=None):
    """(name, module) of the backend to use; `name` None means $FASTMLP_BACKEND, else the fastest.

    An explicitly named backend that cannot load raises ImportError with the reason; ValueError for a
    name that is not a backend.
    """
    global _warned_fallback
    if name is None:
        name = os.environ.get("FASTMLP_BACKEND") or None
    if name is not None:
        if not isinstance(name, str) or name.lower() not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
        name = name.lower()
        module = _try_load(name)
        if module is None:
            raise ImportError(f"fastmlp backend {name!r} is not available: {_errors[name]}")
        return name, module
    for candidate in BACKENDS:
        module = _try_load(candidate)
        if module is not None:
            if candidate != "cython" and not _warned_fallback:
                _warned_fallback = True
                warnings.warn(
                    f"fastmlp's compiled extension is not available ({_errors.get('cython')}); "
                    f"using the {candidate} backend", RuntimeWarning, stacklevel=3)
            return candidate, module
    raise ImportError("no fastmlp backend could be loaded")  # numpy_ref always loads
