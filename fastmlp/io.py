"""Saving, loading and pickling models: one validated description, in a file or in a pickle.

The state of a model (`to_state`) is a dict with two keys, keeping what is JSON apart from the arrays:

    {"meta": {...}, "arrays": {"theta": ndarray, "optimizer_state": ndarray (optional)}}

meta (plain JSON types only):

    format            "fastmlp"
    format_version    1
    layer_sizes       [n_in, n_hidden..., n_out], positive ints
    activations       the hidden layers' activation names (len(layer_sizes) - 2 of them)
    output_activation the output layer's activation name
    loss              the loss name
    dtype             "float32" or "float64": θ (and the optimizer state) must have exactly this dtype
    backend           the backend the model was saved from: informational only, loading picks the
                      fastest available backend unless `backend=` asks for one (optional, str or null)
    seed              the model's seed when it is an int or a list of ints, else null (optional)
    rng_state         the state of the model's random generator (fit's shuffling and validation splits),
                      so that training continues exactly as it would have (optional, null: reseeded from
                      `seed`). Only numpy's PCG64 / PCG64DXSM generators are recorded.
    epochs_done       net.epochs_done_ (optional, default 0)
    optimizer         null, or the optimizer's get_config() plus "steps" (its update count, Adam's t)

arrays:

    theta             θ, shape (n_params,), dtype `dtype`, finite
    optimizer_state   the optimizer's flat state (momentum / Adam moments), dtype `dtype`, of the length the
                      optimizer needs for this model; absent when the optimizer has none yet

A file (`save` / `load`) is one uncompressed .npz holding the arrays above under their names plus "meta":
the JSON text of meta, UTF-8, as a uint8 array (so it loads with allow_pickle=False). The file is written
to exactly the path given (no ".npz" is appended).

A pickle of an MLP (`MLP.__reduce__`) carries the same state and is rebuilt by `from_state`, so unpickling
runs the same checks as loading a file.

Every problem with a description or a file raises ModelFileError (a ValueError) naming what is wrong.
Problems with the path itself (FileNotFoundError, PermissionError, IsADirectoryError, ...) are raised
unchanged by `load`.
"""
from __future__ import annotations

import json
import numbers
import os
import secrets
import stat
import zipfile
import zlib

import numpy as np

from . import activations, losses, optim
from ._validation import DTYPES

__all__ = ["ModelFileError", "FORMAT", "FORMAT_VERSION", "to_state", "from_state", "save", "load"]

FORMAT = "fastmlp"
FORMAT_VERSION = 1
META_KEY = "meta"
THETA_KEY = "theta"
OPT_STATE_KEY = "optimizer_state"

_REQUIRED = ("format", "format_version", "layer_sizes", "activations", "output_activation", "loss", "dtype",
             "optimizer")
_OPTIONAL = ("backend", "seed", "rng_state", "epochs_done")
_RNG_KINDS = ("PCG64", "PCG64DXSM")  # bit generators whose state is plain ints (JSON-able)


class ModelFileError(ValueError):
    """A saved model (file, pickle or state dict) is unreadable, inconsistent or of an unknown version."""


# ---- building the state ---------------------------------------------------------------------------------

def _json_seed(seed):
    """The seed as JSON (int or list of ints), or None when it is anything else (a Generator, ...)."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        return int(seed)
    if isinstance(seed, (list, tuple, np.ndarray)):
        items = list(np.asarray(seed).ravel()) if isinstance(seed, np.ndarray) else list(seed)
        if all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_)) for s in items):
            return [int(s) for s in items]
    return None


def _json_rng_state(rng):
    try:
        state = rng.bit_generator.state
    except AttributeError:
        return None
    if not isinstance(state, dict) or state.get("bit_generator") not in _RNG_KINDS:
        return None
    try:
        return json.loads(json.dumps(state, allow_nan=False))  # plain ints and strings only
    except (TypeError, ValueError):
        return None


def to_state(net, include_optimizer=False) -> dict:
    """{"meta": JSON-able description, "arrays": {"theta": copy of θ[, "optimizer_state": copy]}}.

    The optimizer (net.optimizer_) is described only when include_optimizer is true and the model has one.
    Raises ValueError if that optimizer cannot be described (not a fastmlp SGD / Adam, or its state was
    built for another model).
    """
    theta = np.array(net.params, dtype=net.dtype, copy=True)
    arrays = {THETA_KEY: theta}
    opt_meta = None
    opt = net.optimizer_ if include_optimizer else None
    if opt is not None:
        config = opt.get_config()
        try:
            rebuilt = optim.from_config(config)
        except ValueError as exc:
            raise ValueError(f"cannot save the optimizer {opt!r}: {exc}") from None
        rebuilt.hyper[optim.T] = opt.hyper[optim.T]
        if type(rebuilt) is not type(opt) or not np.array_equal(rebuilt.hyper, opt.hyper):
            raise ValueError(f"cannot save the optimizer {opt!r}: its configuration does not describe it "
                             "(only fastmlp.optim.SGD and Adam can be saved)")
        opt_meta = {**config, "steps": opt.steps}
        if opt.state.size:
            need = opt.state_size(net.n_params)
            if opt.state.size != need:
                raise ValueError(f"cannot save the optimizer: its state has {opt.state.size} entries, "
                                 f"this model's needs {need}")
            arrays[OPT_STATE_KEY] = np.array(opt.state, dtype=net.dtype, copy=True)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layer_sizes": [int(s) for s in net.layer_sizes],
        "activations": list(net.activations[:-1]),
        "output_activation": net.activations[-1],
        "loss": net.loss_name,
        "dtype": net.dtype.name,
        "backend": net.backend,
        "seed": _json_seed(net.seed),
        "rng_state": _json_rng_state(net._rng),
        "epochs_done": int(net.epochs_done_),
        "optimizer": opt_meta,
    }
    return {"meta": meta, "arrays": arrays}


# ---- checking a state and rebuilding the model ------------------------------------------------------------

def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _name(value, what, lookup):
    if not isinstance(value, str):
        raise ModelFileError(f"{what} must be a name (string), got {value!r}")
    try:
        lookup(value)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{what}: {exc}") from None
    return value


def _array(arrays, key, dtype, what):
    a = arrays[key]
    if not isinstance(a, np.ndarray):
        raise ModelFileError(f"{what} must be a numpy array, got {type(a).__name__}")
    if a.ndim != 1:
        raise ModelFileError(f"{what} must be a flat (1-D) array, got shape {a.shape}")
    if a.dtype.kind != "f" or a.dtype.newbyteorder("=") != dtype:
        raise ModelFileError(f"{what} has dtype {a.dtype}, the description declares {dtype.name}")
    if not np.isfinite(a).all():
        raise ModelFileError(f"{what} contains NaN or Inf")
    return np.array(a, dtype=dtype, copy=True)  # native byte order, owned


def _check_meta(meta):
    """The checked fields of meta, as a dict ready for MLP(); raises ModelFileError."""
    if not isinstance(meta, dict):
        raise ModelFileError(f"the description must be a JSON object (dict), got {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"not a fastmlp model: format is {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    if not _is_int(version):
        raise ModelFileError(f"format_version must be an integer, got {version!r}")
    if version != FORMAT_VERSION:
        newer = " (written by a newer fastmlp)" if version > FORMAT_VERSION else ""
        raise ModelFileError(f"unsupported format_version {version}{newer}; this fastmlp reads version "
                             f"{FORMAT_VERSION}")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ModelFileError(f"the description lacks the field(s) {', '.join(missing)}")
    unknown = sorted(str(k) for k in meta if k not in _REQUIRED + _OPTIONAL)
    if unknown:
        raise ModelFileError(f"the description has unknown field(s) {', '.join(unknown)}")

    sizes = meta["layer_sizes"]
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
        raise ModelFileError(f"layer_sizes must be a list of at least 2 positive integers, got {sizes!r}")
    for i, s in enumerate(sizes):
        if not _is_int(s) or s < 1:
            raise ModelFileError(f"layer_sizes[{i}] must be a positive integer, got {s!r}")
    sizes = [int(s) for s in sizes]

    hidden = meta["activations"]
    if not isinstance(hidden, (list, tuple)):
        raise ModelFileError(f"activations must be a list of names, got {hidden!r}")
    if len(hidden) != len(sizes) - 2:
        raise ModelFileError(f"activations lists {len(hidden)} name(s) for the {len(sizes) - 2} hidden "
                             f"layer(s) of layer_sizes {sizes}")
    hidden = [_name(a, f"activations[{i}]", activations.activation_id) for i, a in enumerate(hidden)]
    out = _name(meta["output_activation"], "output_activation", activations.activation_id)
    loss = _name(meta["loss"], "loss", losses.loss_id)

    dtype_name = meta["dtype"]
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
        raise ModelFileError(f"dtype must be 'float32' or 'float64', got {dtype_name!r}")

    backend = meta.get("backend")
    if backend is not None and not isinstance(backend, str):
        raise ModelFileError(f"backend must be a string or null, got {backend!r}")

    seed = meta.get("seed")
    if seed is not None and not (_is_int(seed) and seed >= 0) and not (
            isinstance(seed, (list, tuple)) and all(_is_int(s) and s >= 0 for s in seed)):
        raise ModelFileError(f"seed must be null, a non-negative integer or a list of them, got {seed!r}")

    rng_state = meta.get("rng_state")
    if rng_state is not None and not (isinstance(rng_state, dict)
                                      and rng_state.get("bit_generator") in _RNG_KINDS):
        raise ModelFileError(f"rng_state must be null or a numpy {' / '.join(_RNG_KINDS)} state, "
                             f"got {rng_state!r}")

    epochs_done = meta.get("epochs_done", 0)
    if not _is_int(epochs_done) or epochs_done < 0:
        raise ModelFileError(f"epochs_done must be a non-negative integer, got {epochs_done!r}")

    opt = meta["optimizer"]
    if opt is not None:
        if not isinstance(opt, dict):
            raise ModelFileError(f"optimizer must be an object (dict) or null, got {opt!r}")
        steps = opt.get("steps")
        if not _is_int(steps) or steps < 0:
            raise ModelFileError(f"optimizer.steps must be a non-negative integer, got {steps!r}")
        config = {k: v for k, v in opt.items() if k != "steps"}
        for k, v in config.items():
            if k == "name":
                continue
            ok = isinstance(v, bool) if k == "nesterov" else (
                isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)))
            if not ok:
                raise ModelFileError(f"optimizer.{k} has the wrong type: {v!r}")
        try:
            optimizer = optim.from_config(config)
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"optimizer: {exc}") from None
        optimizer.hyper[optim.T] = float(steps)
        opt = optimizer

    return {"sizes": sizes, "hidden": hidden, "out": out, "loss": loss, "dtype": np.dtype(dtype_name),
            "seed": seed if not isinstance(seed, tuple) else list(seed), "rng_state": rng_state,
            "epochs_done": int(epochs_done), "optimizer": opt}


def _check_arrays(arrays, m):
    if not isinstance(arrays, dict):
        raise ModelFileError(f"the arrays must be a dict, got {type(arrays).__name__}")
    unknown = sorted(str(k) for k in arrays if k not in (THETA_KEY, OPT_STATE_KEY))
    if unknown:
        raise ModelFileError(f"unknown array(s) {', '.join(unknown)}")
    if THETA_KEY not in arrays:
        raise ModelFileError("the θ array 'theta' is missing")
    sizes, dtype = m["sizes"], m["dtype"]
    n_params = sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:]))
    theta = arrays[THETA_KEY]
    if isinstance(theta, np.ndarray) and theta.ndim == 1 and theta.size != n_params:
        raise ModelFileError(f"theta has {theta.size} entries, layer_sizes {sizes} need {n_params}")
    theta = _array(arrays, THETA_KEY, dtype, "theta")
    state = None
    opt = m["optimizer"]
    if OPT_STATE_KEY not in arrays and opt is not None and opt.steps and opt.state_size(n_params):
        raise ModelFileError(f"optimizer_state is missing: the {opt.name} optimizer has taken {opt.steps} "
                             "step(s) and keeps a state")
    if OPT_STATE_KEY in arrays:
        if opt is None:
            raise ModelFileError("optimizer_state is present but the description has no optimizer")
        state = _array(arrays, OPT_STATE_KEY, dtype, "optimizer_state")
        need = opt.state_size(n_params)
        if state.size != need:
            raise ModelFileError(f"optimizer_state has {state.size} entries, the {opt.name} optimizer "
                                 f"{'with these settings ' if opt.name == 'sgd' else ''}needs {need} "
                                 f"for {n_params} parameters")
    return theta, state


def _make_rng(rng_state):
    try:
        bit_generator = getattr(np.random, rng_state["bit_generator"])()
        bit_generator.state = rng_state
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"rng_state is not a valid {rng_state.get('bit_generator')} state: {exc!r}") \
            from None
    return np.random.Generator(bit_generator)


def from_state(state, backend=None):
    """The MLP described by `state` (as to_state returns it), after checking all of it.

    backend: None picks the fastest available backend ($FASTMLP_BACKEND, then cython > numba > numpy);
    the backend recorded in the state is informational only. Raises ModelFileError (a ValueError) naming
    what is wrong with the state; errors about `backend` itself (unknown name, cannot load) are raised as
    MLP() raises them.
    """
    from .backends import get_backend
    from .model import MLP  # imported here: model imports this module lazily, avoid a cycle

    if not isinstance(state, dict) or set(state) != {"meta", "arrays"}:
        keys = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise ModelFileError(f"a model state must be a dict with the keys 'meta' and 'arrays', got {keys}")
    m = _check_meta(state["meta"])
    theta, opt_state = _check_arrays(state["arrays"], m)
    rng = _make_rng(m["rng_state"]) if m["rng_state"] is not None else None
    backend_name = get_backend(backend)[0]  # the caller's choice: its errors are not the file's
    try:
        net = MLP(m["sizes"], activation=m["hidden"], output_activation=m["out"], loss=m["loss"],
                  dtype=m["dtype"].name, seed=m["seed"], backend=backend_name, init=theta)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"inconsistent model description: {exc}") from None
    net.params = theta
    if rng is not None:
        net._rng = rng
    net.epochs_done_ = m["epochs_done"]
    opt = m["optimizer"]
    if opt is not None and opt_state is not None:
        opt.state = opt_state
    net.optimizer_ = opt
    return net


# ---- files ------------------------------------------------------------------------------------------------

def _fspath(path):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(net, path, include_optimizer=False):
    """Write `net` to one .npz at exactly `path` (str or os.PathLike; no ".npz" is appended).

    The file holds θ, the JSON description and, with include_optimizer, the optimizer's configuration,
    step count and state (see the module docstring). Atomic: the data go to a temporary file in the same
    directory, which is flushed, fsync'ed and then os.replace'd onto `path` (the directory is fsync'ed
    too). On any error the temporary file is removed and an existing file at `path` is left as it was.
    A symlink at `path` is replaced by the new file; an existing file's permission bits are kept.
    """
    path = _fspath(path)
    state = to_state(net, include_optimizer=include_optimizer)
    text = json.dumps(state["meta"], allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    arrays = {META_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **state["arrays"]}
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:  # mode 0o666 & ~umask, as for an ordinary new file
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except OSError:
            pass  # no old file (or not ours to inspect): keep the default mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _loads_json(raw):
    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(raw.decode("utf-8"), parse_constant=reject)


def load(path, backend=None):
    """The MLP saved at `path` by save() (or MLP.save), on `backend` (None: the fastest available).

    Round trips are exact: θ bitwise, the optimizer's state and step count, epochs_done_ and the random
    generator. A file that is truncated, corrupted, not an .npz, of another format_version, or whose
    description or arrays are inconsistent (hand-edited) raises ModelFileError naming the problem.
    Errors opening the path (FileNotFoundError, PermissionError, IsADirectoryError) are raised unchanged.
    """
    path = _fspath(path)
    with open(path, "rb") as f:  # path problems propagate as they are
        try:
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path}: not a fastmlp model file (a single .npy array, not an .npz)")
            with data:
                names = set(data.files)
                if META_KEY not in names:
                    raise ModelFileError(f"{path}: not a fastmlp model file (no '{META_KEY}' description)")
                raw = data[META_KEY]
                if raw.dtype != np.uint8 or raw.ndim != 1:
                    raise ModelFileError(f"{path}: the description must be UTF-8 JSON stored as a 1-D uint8 "
                                         f"array, got dtype {raw.dtype} shape {raw.shape}")
                raw = raw.tobytes()
                arrays = {name: data[name] for name in names - {META_KEY}}
        except ModelFileError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{path}: not a valid .npz file (truncated or corrupted): "
                                 f"{type(exc).__name__}: {exc}") from exc
    try:
        meta = _loads_json(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFileError(f"{path}: the description is not valid UTF-8 JSON: {exc}") from None
    try:
        return from_state({"meta": meta, "arrays": arrays}, backend=backend)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
