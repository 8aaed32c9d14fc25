"""Saving, loading and pickling models: exact round trips, validation of every field, atomic writes."""
from __future__ import annotations

import json
import multiprocessing
import os
import pathlib
import pickle
import re
import stat
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

from conftest import BACKENDS
from fastmlp import MLP, io, optim
from fastmlp.backends import get_backend
from fastmlp.io import ModelFileError, load

FASTEST = get_backend(None)[0]  # what load() and unpickling pick

# (layer_sizes, hidden activation(s), output_activation, loss)
ARCHS = [
    ((2, 8, 1), "tanh", None, "sse"),
    ((4, 6, 5, 3), ["relu", "sigmoid"], None, "cross_entropy"),  # softmax output
    ((3, 7, 2), "softplus", None, "binary_cross_entropy"),  # sigmoid output
    ((5, 3), "tanh", "sigmoid", "huber"),  # no hidden layer
    ((1, 4, 4, 4, 1), "relu", "tanh", "mae"),
]
ARCH_IDS = ["tanh-sse", "softmax-ce", "sigmoid-bce", "no-hidden-huber", "deep-relu-mae"]


def _targets(rng, loss, rows, n_out, dtype):
    if loss == "cross_entropy":
        return np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, rows)]
    if loss == "binary_cross_entropy":
        return (rng.uniform(0, 1, (rows, n_out)) > 0.5).astype(dtype)
    return rng.standard_normal((rows, n_out)).astype(dtype)


def _data(arch, dtype, rows=40, seed=0):
    sizes, _, _, loss = arch
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (rows, sizes[0])).astype(dtype)
    return X, _targets(rng, loss, rows, sizes[-1], dtype)


def _net(arch, backend, dtype, seed=3):
    sizes, act, out, loss = arch
    return MLP(sizes, activation=act, output_activation=out, loss=loss, dtype=np.dtype(dtype).name,
               seed=seed, backend=backend)


def _randomize(net, seed=7):
    """Give θ non-trivial values everywhere (biases included) without training."""
    rng = np.random.default_rng(seed)
    net.params = rng.uniform(-1.5, 1.5, net.n_params)


def assert_bitwise(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _read(path):
    """(meta, arrays) of a saved file, read the plain way."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop("meta").tobytes().decode("utf-8")), arrays


def _write(path, meta, arrays, meta_text=None):
    """Write a model file by hand (as someone editing one would)."""
    text = json.dumps(meta) if meta_text is None else meta_text
    with open(path, "wb") as f:
        np.savez(f, meta=np.frombuffer(text.encode("utf-8"), np.uint8), **arrays)


@pytest.fixture
def trained(tmp_path):
    """A small trained model (cython, the default backend), saved with its Adam state."""
    arch = ARCHS[1]
    net = _net(arch, FASTEST, np.float64)
    X, Y = _data(arch, np.float64)
    net.fit(X, Y, epochs=3, batch_size=8, optimizer="adam")
    path = tmp_path / "model.npz"
    net.save(path, include_optimizer=True)
    return net, path, X, Y


# ---- exact round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS, ids=ARCH_IDS)
def test_round_trip_is_exact(tmp_path, backend, dtype, arch):
    net = _net(arch, backend, dtype)
    _randomize(net)
    X, _ = _data(arch, dtype)
    path = tmp_path / "m.npz"
    net.save(path)
    clone = load(path, backend=backend)
    assert clone is not net and clone.backend == backend
    assert_bitwise(clone.params, net.params)
    assert clone.params.dtype == dtype
    assert clone.layer_sizes == net.layer_sizes
    assert clone.activations == net.activations
    assert clone.loss_name == net.loss_name
    assert clone.seed == net.seed
    assert clone.optimizer_ is None and clone.epochs_done_ == 0
    assert_bitwise(clone.predict(X), net.predict(X))
    assert clone.loss(*_data(arch, dtype)) == net.loss(*_data(arch, dtype))
    # the clone owns its θ
    clone.params[0] += 1
    assert clone.params[0] != net.params[0]


@pytest.mark.parametrize("arch", ARCHS, ids=ARCH_IDS)
def test_round_trip_continues_training_exactly(tmp_path, backend, dtype, arch):
    """Adam state, step count, epochs_done_ and the shuffling generator survive: continuing to train the
    loaded model gives bitwise the θ that continuing the original gives."""
    net = _net(arch, backend, dtype)
    X, Y = _data(arch, dtype)
    net.fit(X, Y, epochs=3, batch_size=8, optimizer="adam", lr=0.01)
    path = tmp_path / "m.npz"
    net.save(path, include_optimizer=True)
    clone = load(path, backend=backend)
    assert_bitwise(clone.params, net.params)
    assert isinstance(clone.optimizer_, optim.Adam)
    assert clone.optimizer_.get_config() == net.optimizer_.get_config()
    assert clone.optimizer_.steps == net.optimizer_.steps == 3 * 5
    assert_bitwise(clone.optimizer_.state, net.optimizer_.state)
    assert_bitwise(clone.optimizer_.hyper, net.optimizer_.hyper)
    assert clone.epochs_done_ == net.epochs_done_ == 3

    without = load(_saved(net, tmp_path / "no_opt.npz"), backend=backend)
    assert without.optimizer_ is None

    for model in (net, clone, without):
        model.fit(X, Y, epochs=2, batch_size=8, optimizer="adam", lr=0.01, warm_start=True)
    assert_bitwise(clone.params, net.params)
    assert_bitwise(clone.optimizer_.state, net.optimizer_.state)
    assert clone.optimizer_.steps == net.optimizer_.steps == 5 * 5
    assert clone.epochs_done_ == net.epochs_done_ == 5
    # control: a fresh Adam state from the same θ lands elsewhere, so the test above can fail
    assert not np.array_equal(without.params, net.params)


def _saved(net, path, include_optimizer=False):
    net.save(path, include_optimizer=include_optimizer)
    return path


@pytest.mark.parametrize("nesterov", [False, True])
def test_round_trip_sgd_momentum_state(tmp_path, backend, nesterov):
    arch = ARCHS[0]
    net = _net(arch, backend, np.float32)
    X, Y = _data(arch, np.float32)
    opts = dict(batch_size=10, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=nesterov, alpha=1e-3)
    net.fit(X, Y, epochs=2, **opts)
    clone = load(_saved(net, tmp_path / "m.npz", include_optimizer=True), backend=backend)
    assert isinstance(clone.optimizer_, optim.SGD)
    assert clone.optimizer_.nesterov is nesterov and clone.optimizer_.momentum == 0.9
    assert clone.optimizer_.weight_decay == 1e-3
    assert_bitwise(clone.optimizer_.state, net.optimizer_.state)
    net.fit(X, Y, epochs=2, warm_start=True, **opts)
    clone.fit(X, Y, epochs=2, warm_start=True, **opts)
    assert_bitwise(clone.params, net.params)


def test_optimizer_without_state_round_trips(tmp_path):
    net = _net(ARCHS[0], "numpy", np.float64)
    net.optimizer_ = optim.SGD(lr=0.3)  # plain SGD: no state array
    path = _saved(net, tmp_path / "m.npz", include_optimizer=True)
    meta, arrays = _read(path)
    assert set(arrays) == {"theta"}
    assert meta["optimizer"] == {"name": "sgd", "lr": 0.3, "weight_decay": 0.0, "l1": 0.0, "momentum": 0.0,
                                 "nesterov": False, "steps": 0}
    clone = load(path)
    assert isinstance(clone.optimizer_, optim.SGD) and clone.optimizer_.lr == 0.3
    assert clone.optimizer_.state.size == 0


def test_include_optimizer_false_leaves_it_out(trained, tmp_path):
    net = trained[0]
    meta, arrays = _read(_saved(net, tmp_path / "plain.npz"))
    assert meta["optimizer"] is None and set(arrays) == {"theta"}
    meta, arrays = _read(trained[1])
    assert meta["optimizer"]["name"] == "adam" and meta["optimizer"]["steps"] == 15
    assert set(arrays) == {"theta", "optimizer_state"}
    assert arrays["optimizer_state"].shape == (2 * net.n_params,)


def test_load_picks_the_fastest_backend_unless_asked(trained):
    net, path, X, _ = trained
    meta, arrays = _read(path)
    meta["backend"] = "numpy"  # informational only
    _write(path, meta, arrays)
    fastest = get_backend(None)[0]
    assert load(path).backend == fastest
    on_numpy = load(path, backend="numpy")
    assert on_numpy.backend == "numpy"
    assert_bitwise(on_numpy.params, net.params)
    np.testing.assert_allclose(on_numpy.predict(X), net.predict(X), rtol=1e-12, atol=1e-12)


def test_bad_backend_argument_is_not_a_file_error(trained):
    with pytest.raises(ValueError, match="unknown backend") as info:
        load(trained[1], backend="fortran")
    assert not isinstance(info.value, ModelFileError)


def test_state_keeps_json_and_arrays_apart(trained):
    net = trained[0]
    state = io.to_state(net, include_optimizer=True)
    assert set(state) == {"meta", "arrays"}
    meta = state["meta"]
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta  # plain JSON
    assert meta["format"] == "fastmlp" and meta["format_version"] == 1
    assert meta["layer_sizes"] == [4, 6, 5, 3]
    assert meta["activations"] == ["relu", "sigmoid"] and meta["output_activation"] == "softmax"
    assert meta["loss"] == "cross_entropy" and meta["dtype"] == "float64"
    assert meta["backend"] == FASTEST and meta["seed"] == 3 and meta["epochs_done"] == 3
    assert meta["optimizer"] == {**net.optimizer_.get_config(), "steps": 15}
    theta = state["arrays"]["theta"]
    assert_bitwise(theta, net.params)
    assert not np.shares_memory(theta, net.params)
    assert not np.shares_memory(state["arrays"]["optimizer_state"], net.optimizer_.state)
    clone = io.from_state(state, backend="numpy")
    assert_bitwise(clone.params, net.params)


def test_non_json_seed_is_recorded_as_null(tmp_path):
    net = MLP([2, 3, 1], seed=np.random.default_rng(5), backend="numpy")
    meta, _ = _read(_saved(net, tmp_path / "m.npz"))
    assert meta["seed"] is None
    assert meta["rng_state"] == net._rng.bit_generator.state
    net = MLP([2, 3, 1], seed=np.int64(11), backend="numpy")
    meta, _ = _read(_saved(net, tmp_path / "m.npz"))
    assert meta["seed"] == 11 and type(meta["seed"]) is int


def test_unsaveable_optimizer_raises_on_save(tmp_path):
    class Custom(optim.Adam):
        pass

    net = _net(ARCHS[0], "numpy", np.float64)
    net.optimizer_ = Custom()
    with pytest.raises(ValueError, match="cannot save the optimizer"):
        net.save(tmp_path / "m.npz", include_optimizer=True)
    assert not list(tmp_path.iterdir())
    net.save(tmp_path / "m.npz")  # without the optimizer: fine
    assert load(tmp_path / "m.npz").optimizer_ is None


# ---- paths ------------------------------------------------------------------------------------------------

def test_path_is_used_exactly_str_or_pathlike(tmp_path):
    net = _net(ARCHS[0], "numpy", np.float32)
    net.save(str(tmp_path / "model.bin"))
    net.save(pathlib.Path(tmp_path / "other"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "other"]  # no ".npz" appended
    assert_bitwise(load(str(tmp_path / "model.bin")).params, net.params)
    assert_bitwise(load(tmp_path / "other").params, net.params)
    with pytest.raises(TypeError, match="path"):
        net.save(42)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError):
        load(tmp_path)


def test_overwrite_keeps_permission_bits(tmp_path):
    path = tmp_path / "m.npz"
    first = _net(ARCHS[0], "numpy", np.float64, seed=1)
    second = _net(ARCHS[0], "numpy", np.float64, seed=2)
    first.save(path)
    os.chmod(path, 0o640)
    second.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert_bitwise(load(path).params, second.params)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


# ---- atomic writes ----------------------------------------------------------------------------------------

def _old_and_new(tmp_path):
    path = tmp_path / "m.npz"
    old = _net(ARCHS[0], "numpy", np.float64, seed=1)
    old.save(path)
    new = _net(ARCHS[0], "numpy", np.float64, seed=2)
    assert not np.array_equal(old.params, new.params)
    return path, old, new, path.read_bytes()


def _assert_untouched(tmp_path, path, old, before):
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left
    assert path.read_bytes() == before
    assert_bitwise(load(path).params, old.params)


def test_failing_replace_leaves_old_file(tmp_path, monkeypatch):
    path, old, new, before = _old_and_new(tmp_path)
    calls = []

    def broken_replace(src, dst):
        calls.append((src, dst))
        assert os.path.getsize(src) > 0  # the new data were written in full, next to the target
        assert os.path.dirname(os.path.abspath(src)) == str(tmp_path)
        raise OSError("disk on fire")

    monkeypatch.setattr(io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        new.save(path)
    assert len(calls) == 1
    monkeypatch.undo()
    _assert_untouched(tmp_path, path, old, before)


@pytest.mark.parametrize("error", [OSError("no space left"), KeyboardInterrupt()])
def test_failing_write_midway_leaves_old_file(tmp_path, monkeypatch, error):
    path, old, new, before = _old_and_new(tmp_path)
    real_savez = np.savez

    def half_savez(f, **arrays):
        real_savez(f, **arrays)
        f.truncate(f.tell() // 2)  # half a file on disk, then the crash
        raise error

    monkeypatch.setattr(np, "savez", half_savez)
    with pytest.raises(type(error)):
        new.save(path)
    monkeypatch.undo()
    _assert_untouched(tmp_path, path, old, before)


def test_failing_fsync_leaves_old_file(tmp_path, monkeypatch):
    path, old, new, before = _old_and_new(tmp_path)

    def broken_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(io.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        new.save(path)
    monkeypatch.undo()
    _assert_untouched(tmp_path, path, old, before)


def test_failed_first_save_creates_nothing(tmp_path, monkeypatch):
    net = _net(ARCHS[0], "numpy", np.float64)
    monkeypatch.setattr(io.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("nope")))
    with pytest.raises(OSError):
        net.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_fsyncs_file_and_directory_then_replaces(tmp_path, monkeypatch):
    path, old, new, _ = _old_and_new(tmp_path)
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "fsync", fsync)
    monkeypatch.setattr(io.os, "replace", replace)
    new.save(path)
    assert events == [("fsync", False), ("replace", str(path)), ("fsync", True)]
    monkeypatch.undo()
    assert_bitwise(load(path).params, new.params)


# ---- damaged files ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, "last byte"])
def test_truncated_file(trained, fraction):
    path = trained[1]
    data = path.read_bytes()
    keep = len(data) - 1 if fraction == "last byte" else int(len(data) * fraction)
    path.write_bytes(data[:keep])
    with pytest.raises(ModelFileError, match="not a valid .npz|not a fastmlp"):
        load(path)


@pytest.mark.parametrize("prefix", [b"", b"PK\x03\x04", b"\x93NUMPY"])
def test_garbage_file(tmp_path, prefix):
    path = tmp_path / "garbage.npz"
    path.write_bytes(prefix + np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelFileError, match=re.escape(str(path))):
        load(path)


def test_flipped_byte_in_theta_fails_the_checksum(trained):
    net, path = trained[0], trained[1]
    data = bytearray(path.read_bytes())
    at = bytes(data).find(net.params.tobytes())
    assert at > 0
    data[at + 8 * 5 + 3] ^= 0x10  # θ[5] changes: a plausible finite number, caught by the zip CRC
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="CRC|corrupt"):
        load(path)


def test_npy_file_is_not_a_model(tmp_path):
    path = tmp_path / "theta.npy"
    np.save(path, np.zeros(10))
    with pytest.raises(ModelFileError, match="not a fastmlp model"):
        load(path)


def test_npz_without_description_is_not_a_model(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, theta=np.zeros(10))
    with pytest.raises(ModelFileError, match="no 'meta' description"):
        load(path)


def test_pickled_arrays_are_refused(tmp_path, trained):
    meta, arrays = _read(trained[1])
    arrays["theta"] = np.array([1.0, "x"], dtype=object)
    path = tmp_path / "evil.npz"
    _write(path, meta, arrays)
    with pytest.raises(ModelFileError, match="pickle"):
        load(path)


def test_rewriting_helper_alone_keeps_the_file_valid(trained):
    """The hand-editing tests below change one thing each: without a change the file still loads."""
    net, path = trained[0], trained[1]
    _write(path, *_read(path))
    clone = load(path)
    assert_bitwise(clone.params, net.params)
    assert_bitwise(clone.optimizer_.state, net.optimizer_.state)


def _set(key, value):
    def edit(meta, arrays):
        meta[key] = value
    return edit


def _drop(key):
    def edit(meta, arrays):
        del meta[key]
    return edit


def _set_opt(key, value):
    def edit(meta, arrays):
        meta["optimizer"][key] = value
    return edit


def _set_array(key, fn):
    def edit(meta, arrays):
        arrays[key] = fn(arrays[key])
    return edit


def _nan_at(i, value=np.nan):
    def fn(a):
        a = a.copy()
        a[i] = value
        return a
    return fn


def _layer(i, value):
    def edit(meta, arrays):
        meta["layer_sizes"][i] = value
    return edit


def _drop_array(key):
    def edit(meta, arrays):
        del arrays[key]
    return edit


EDITS = {
    "wrong format_version": (_set("format_version", 2), r"unsupported format_version 2 \(written by a newer"),
    "format_version 0": (_set("format_version", 0), "unsupported format_version 0"),
    "format_version string": (_set("format_version", "1"), "format_version must be an integer"),
    "other format": (_set("format", "keras"), "format is 'keras'"),
    "missing field": (_drop("loss"), "lacks the field.*loss"),
    "unknown field": (_set("colour", "blue"), "unknown field.*colour"),
    "theta length": (_layer(1, 7), r"theta has 83 entries, layer_sizes \[4, 7, 5, 3\] need 93"),
    "negative layer size": (_layer(2, -5), r"layer_sizes\[2\] must be a positive integer, got -5"),
    "zero layer size": (_layer(0, 0), r"layer_sizes\[0\] must be a positive integer"),
    "float layer size": (_layer(0, 4.0), r"layer_sizes\[0\] must be a positive integer"),
    "bool layer size": (_layer(0, True), r"layer_sizes\[0\] must be a positive integer"),
    "one layer": (_set("layer_sizes", [4]), "at least 2"),
    "unknown activation": (_set("activations", ["relu", "swish"]), r"activations\[1\].*unknown activation 'swish'"),
    "activation not a name": (_set("activations", ["relu", 3]), r"activations\[1\] must be a name"),
    "activation count": (_set("activations", ["relu"]), "1 name.* for the 2 hidden layer"),
    "softmax hidden": (_set("activations", ["softmax", "relu"]), "softmax can only be the output"),
    "unknown output activation": (_set("output_activation", "sofmax"), "output_activation.*unknown activation"),
    "output does not fit loss": (_set("output_activation", "sigmoid"), "needs output_activation='softmax'"),
    "unknown loss": (_set("loss", "hinge"), "loss.*unknown loss 'hinge'"),
    "dtype name": (_set("dtype", "float16"), "dtype must be 'float32' or 'float64', got 'float16'"),
    "dtype alias": (_set("dtype", "f8"), "dtype must be 'float32' or 'float64'"),
    "dtype mismatch": (_set("dtype", "float32"), "theta has dtype float64, the description declares float32"),
    "theta as float32": (_set_array("theta", lambda a: a.astype(np.float32)), "theta has dtype float32"),
    "theta as ints": (_set_array("theta", lambda a: a.astype(np.int64)), "theta has dtype int64"),
    "theta 2-D": (_set_array("theta", lambda a: a.reshape(1, -1)), r"theta must be a flat \(1-D\) array"),
    "NaN in theta": (_set_array("theta", _nan_at(17)), "theta contains NaN or Inf"),
    "Inf in theta": (_set_array("theta", _nan_at(0, -np.inf)), "theta contains NaN or Inf"),
    "theta missing": (_drop_array("theta"), "'theta' is missing"),
    "extra array": (lambda m, a: a.__setitem__("extra", np.zeros(3)), "unknown array.*extra"),
    "negative epochs_done": (_set("epochs_done", -1), "epochs_done must be a non-negative integer"),
    "bad seed": (_set("seed", "abc"), "seed must be"),
    "bad backend field": (_set("backend", 5), "backend must be a string"),
    "bad rng_state": (_set("rng_state", {"bit_generator": "MT19937"}), "rng_state must be"),
    "broken rng_state": (_set("rng_state", {"bit_generator": "PCG64", "state": 3}), "rng_state is not a valid"),
    "optimizer not an object": (_set("optimizer", "adam"), "optimizer must be an object"),
    "unknown optimizer": (_set_opt("name", "rmsprop"), "unknown optimizer 'rmsprop'"),
    "negative lr": (_set_opt("lr", -0.1), "lr must be positive"),
    "beta1 of 1": (_set_opt("beta1", 1.0), r"beta1 must be in \[0, 1\)"),
    "lr as string": (_set_opt("lr", "0.1"), "optimizer.lr has the wrong type"),
    "unknown optimizer option": (_set_opt("gamma", 0.5), "bad adam optimizer configuration"),
    "negative steps": (_set_opt("steps", -3), "optimizer.steps must be a non-negative integer"),
    "missing steps": (lambda m, a: m["optimizer"].pop("steps"), "optimizer.steps must be"),
    "state without optimizer": (_set("optimizer", None), "optimizer_state is present but"),
    "state length": (_set_array("optimizer_state", lambda a: a[:-1]), "optimizer_state has 165 entries.*needs 166"),
    "state dtype": (_set_array("optimizer_state", lambda a: a.astype(np.float32)), "optimizer_state has dtype float32"),
    "state missing": (_drop_array("optimizer_state"), "optimizer_state is missing: the adam optimizer has taken 15"),
    "NaN in state": (_set_array("optimizer_state", _nan_at(3)), "optimizer_state contains NaN"),
}


@pytest.mark.parametrize("edit,match", list(EDITS.values()), ids=list(EDITS))
def test_hand_edited_file_is_refused(trained, edit, match):
    path = trained[1]
    meta, arrays = _read(path)
    edit(meta, arrays)
    _write(path, meta, arrays)
    with pytest.raises(ModelFileError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text,match", [
    ("{not json", "not valid UTF-8 JSON"),
    ("[1, 2, 3]", "must be a JSON object"),
    ('{"format": "fastmlp", "format_version": 1, "layer_sizes": [4, 6, 5, 3], "x": NaN}',
     "non-standard JSON constant NaN"),
], ids=["syntax", "not an object", "NaN constant"])
def test_broken_json_is_refused(trained, text, match):
    path = trained[1]
    _, arrays = _read(path)
    _write(path, None, arrays, meta_text=text)
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_invalid_utf8_description(trained):
    path = trained[1]
    _, arrays = _read(path)
    with open(path, "wb") as f:
        np.savez(f, meta=np.frombuffer(b"\xff\xfe{}", np.uint8), **arrays)
    with pytest.raises(ModelFileError, match="not valid UTF-8 JSON"):
        load(path)


def test_description_of_the_wrong_array_type(trained):
    path = trained[1]
    meta, arrays = _read(path)
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)  # a 0-d unicode array
    with pytest.raises(ModelFileError, match="1-D uint8"):
        load(path)


def test_byte_swapped_theta_loads_exactly(trained):
    """A big-endian θ of the declared dtype is the same numbers: accepted, stored natively."""
    net, path = trained[0], trained[1]
    meta, arrays = _read(path)
    arrays["theta"] = arrays["theta"].astype(arrays["theta"].dtype.newbyteorder(">"))
    _write(path, meta, arrays)
    clone = load(path)
    assert clone.params.dtype == np.float64 and clone.params.dtype.isnative
    assert_bitwise(clone.params, net.params)


def test_aliases_in_a_hand_written_file_load(trained):
    net, path, X, _ = trained
    meta, arrays = _read(path)
    meta["loss"] = "log_loss"
    meta["activations"] = ["ReLU", "logistic"]
    for key in ("backend", "seed", "rng_state", "epochs_done"):  # optional fields
        del meta[key]
    _write(path, meta, arrays)
    clone = load(path, backend=FASTEST)
    assert clone.loss_name == "cross_entropy" and clone.activations == ("relu", "sigmoid", "softmax")
    assert clone.epochs_done_ == 0 and clone.seed is None
    assert_bitwise(clone.predict(X), net.predict(X))


# ---- pickle ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_pickle_round_trip_is_exact(trained, protocol):
    net, _, X, Y = trained
    clone = pickle.loads(pickle.dumps(net, protocol=protocol))
    assert clone.backend == net.backend == FASTEST
    assert_bitwise(clone.params, net.params)
    assert_bitwise(clone.predict(X), net.predict(X))
    assert clone.optimizer_.get_config() == net.optimizer_.get_config()
    assert clone.optimizer_.steps == net.optimizer_.steps
    assert_bitwise(clone.optimizer_.state, net.optimizer_.state)
    assert clone.epochs_done_ == net.epochs_done_
    for model in (net, clone):
        model.fit(X, Y, epochs=2, batch_size=8, optimizer="adam", warm_start=True)
    assert_bitwise(clone.params, net.params)


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["float32", "float64"])
def test_forking_pickler_round_trip(dtype_):
    """What multiprocessing sends to a worker (ForkingPickler, the highest protocol)."""
    arch = ARCHS[2]
    net = _net(arch, None, dtype_)
    _randomize(net)
    X, _ = _data(arch, dtype_)
    blob = bytes(ForkingPickler.dumps(net, pickle.HIGHEST_PROTOCOL))
    clone = pickle.loads(blob)
    assert_bitwise(clone.params, net.params)
    assert_bitwise(clone.predict(X), net.predict(X))


def _predict_in_worker(net, X):
    return net.predict(X), net


def test_model_crosses_a_process_boundary(trained):
    net, _, X, _ = trained
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pred, back = pool.apply(_predict_in_worker, (net, X))
    assert_bitwise(pred, net.predict(X))
    assert_bitwise(back.params, net.params)
    assert_bitwise(back.optimizer_.state, net.optimizer_.state)


def test_pickle_of_numpy_backend_model_picks_fastest_backend():
    arch = ARCHS[0]
    net = _net(arch, "numpy", np.float64)
    _randomize(net)
    X, _ = _data(arch, np.float64)
    clone = pickle.loads(pickle.dumps(net))
    assert clone.backend == get_backend(None)[0]
    assert_bitwise(clone.params, net.params)
    np.testing.assert_allclose(clone.predict(X), net.predict(X), rtol=1e-12, atol=1e-12)


class _Tampered:
    """Pickles as a model whose state was edited: unpickling must run from_state's checks."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return (io.from_state, (self.state,))


@pytest.mark.parametrize("edit,match", [
    (lambda s: s["meta"]["layer_sizes"].__setitem__(1, 99), "theta has 83 entries, layer_sizes \\[4, 99, 5, 3\\]"),
    (lambda s: s["meta"].__setitem__("format_version", 7), "unsupported format_version 7"),
    (lambda s: s["arrays"]["theta"].__setitem__(0, np.nan), "theta contains NaN"),
    (lambda s: s["arrays"].__setitem__("theta", list(s["arrays"]["theta"])), "theta must be a numpy array"),
    (lambda s: s.__setitem__("extra", 1), "keys 'meta' and 'arrays'"),
    (lambda s: s.__setitem__("meta", "adam"), "must be a JSON object"),
    (lambda s: s["meta"].__setitem__("activations", ["relu", None]), r"activations\[1\] must be a name"),
    (lambda s: s["meta"]["optimizer"].__setitem__("steps", 1.5), "optimizer.steps"),
], ids=["layer size", "version", "NaN", "theta as list", "extra key", "meta not a dict", "None activation",
        "float steps"])
def test_tampered_state_is_refused(trained, edit, match):
    net = trained[0]
    state = io.to_state(net, include_optimizer=True)
    assert_bitwise(io.from_state(state).params, net.params)  # untampered: fine
    edit(state)
    with pytest.raises(ModelFileError, match=match):
        io.from_state(state)
    with pytest.raises(ModelFileError, match=match):
        pickle.loads(pickle.dumps(_Tampered(state), protocol=pickle.HIGHEST_PROTOCOL))


def test_from_state_refuses_non_dicts():
    with pytest.raises(ModelFileError, match="must be a dict"):
        io.from_state(("meta", "arrays"))
    assert issubclass(ModelFileError, ValueError)


def test_all_backends_are_tested():
    assert BACKENDS == ["cython", "numba", "numpy"]
