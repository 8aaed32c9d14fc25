"""Bad input at every public entry point: a ValueError or TypeError whose message names the problem, and
θ left exactly as it was. Plus backend selection ($FASTMLP_BACKEND, available_backends)."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from conftest import BACKENDS
from fastmlp import MLP

SIZES = (2, 4, 3)
GOOD_X = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 2.0], [-1.0, 0.5]])
GOOD_Y = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, -0.5], [0.2, 0.2, 0.2], [1.0, 1.0, 1.0]])


@pytest.fixture
def net(backend, dtype):
    return MLP(SIZES, dtype=dtype.name, seed=0, backend=backend)


def _with(A, row, col, value):
    A = A.copy()
    A[row, col] = value
    return A


# (X, Y, exception, message pattern): every one is wrong in exactly one way
BAD_XY = {
    "X_1d": (GOOD_X[0], GOOD_Y[:1], ValueError, r"X must be 2-D .*reshape"),
    "X_3d": (GOOD_X[None], GOOD_Y, ValueError, r"X must be 2-D"),
    "X_scalar": (1.0, GOOD_Y[:1], ValueError, r"X must be 2-D"),
    "X_features": (np.ones((4, 3)), GOOD_Y, ValueError, r"X has 3 columns, the network expects 2"),
    "X_empty": (np.ones((0, 2)), np.ones((0, 3)), ValueError, r"X is an empty batch"),
    "X_nan": (_with(GOOD_X, 1, 0, np.nan), GOOD_Y, ValueError, r"X contains NaN or Inf"),
    "X_inf": (_with(GOOD_X, 3, 1, np.inf), GOOD_Y, ValueError, r"X contains NaN or Inf"),
    "X_neg_inf": (_with(GOOD_X, 0, 0, -np.inf), GOOD_Y, ValueError, r"X contains NaN or Inf"),
    "X_strings": (np.array([["a", "b"]] * 4), GOOD_Y, TypeError, r"X must hold real numbers"),
    "X_objects": ([[None, 1.0]] * 4, GOOD_Y, TypeError, r"X must hold real numbers"),
    "Y_3d": (GOOD_X, GOOD_Y[None], ValueError, r"Y must be 2-D"),
    "Y_columns": (GOOD_X, np.ones((4, 2)), ValueError, r"Y has 2 columns, the network expects 3"),
    "Y_1d_for_3_outputs": (GOOD_X, np.ones(4), ValueError, r"Y must be 2-D"),
    "Y_empty": (GOOD_X, np.ones((0, 3)), ValueError, r"Y is an empty batch"),
    "Y_nan": (GOOD_X, _with(GOOD_Y, 2, 2, np.nan), ValueError, r"Y contains NaN or Inf"),
    "Y_inf": (GOOD_X, _with(GOOD_Y, 0, 1, -np.inf), ValueError, r"Y contains NaN or Inf"),
    "rows": (GOOD_X, GOOD_Y[:3], ValueError, r"X has 4 rows but Y has 3"),
}

CALLS = {
    "loss": lambda net, X, Y: net.loss(X, Y),
    "loss_and_grad": lambda net, X, Y: net.loss_and_grad(X, Y),
    "train_step": lambda net, X, Y: net.train_step(X, Y, lr=0.01),
    "fit": lambda net, X, Y: net.fit(X, Y, epochs=2, batch_size=2, lr=0.01),
    "check_gradients": lambda net, X, Y: fastmlp.check_gradients(net, X, Y),
}


def _raises_and_keeps_theta(net, call, exc, match):
    before = net.params.copy()
    with pytest.raises(exc, match=match):
        call()
    np.testing.assert_array_equal(net.params, before)
    assert net.params.tobytes() == before.tobytes()


@pytest.mark.parametrize("case", list(BAD_XY))
@pytest.mark.parametrize("method", list(CALLS))
def test_bad_batches(net, method, case):
    X, Y, exc, match = BAD_XY[case]
    _raises_and_keeps_theta(net, lambda: CALLS[method](net, X, Y), exc, match)
    # ... and the model still works afterwards
    assert np.isfinite(net.loss(GOOD_X, GOOD_Y))


@pytest.mark.parametrize("case", [c for c in BAD_XY if c.startswith("X_")])
def test_bad_X_in_predict(net, case):
    X, _, exc, match = BAD_XY[case]
    _raises_and_keeps_theta(net, lambda: net.predict(X), exc, match)


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("method", ["train_step", "fit"])
def test_bad_learning_rate(net, method, lr):
    call = (lambda: net.train_step(GOOD_X, GOOD_Y, lr=lr)) if method == "train_step" else \
        (lambda: net.fit(GOOD_X, GOOD_Y, epochs=1, lr=lr))
    _raises_and_keeps_theta(net, call, ValueError, r"lr must be positive and finite")


@pytest.mark.parametrize("lr", ["0.1", None, True, [0.1]])
def test_learning_rate_of_the_wrong_type(net, lr):
    _raises_and_keeps_theta(net, lambda: net.train_step(GOOD_X, GOOD_Y, lr=lr), TypeError,
                            r"lr must be a real number")


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(epochs=-1), ValueError, r"epochs must be non-negative, got -1"),
    (dict(epochs=2.5), TypeError, r"epochs must be an integer"),
    (dict(epochs="3"), TypeError, r"epochs must be an integer"),
    (dict(batch_size=0), ValueError, r"batch_size must be positive, got 0"),
    (dict(batch_size=-4), ValueError, r"batch_size must be positive"),
    (dict(batch_size=2.0), TypeError, r"batch_size must be an integer"),
])
def test_bad_fit_options(net, kwargs, exc, match):
    options = dict(epochs=2, batch_size=2, lr=0.01) | kwargs
    _raises_and_keeps_theta(net, lambda: net.fit(GOOD_X, GOOD_Y, **options), exc, match)


def _bad_outs(dtype):
    other = np.float64 if dtype == np.float32 else np.float32
    readonly = np.empty((4, 3), dtype)
    readonly.setflags(write=False)
    return {
        "shape": np.empty((4, 2), dtype),
        "rows": np.empty((5, 3), dtype),
        "flat": np.empty(12, dtype),
        "dtype": np.empty((4, 3), other),
        "strided": np.empty((4, 6), dtype)[:, ::2],
        "fortran": np.empty((4, 3), dtype, order="F"),
        "readonly": readonly,
        "list": [[0.0] * 3] * 4,
    }


@pytest.mark.parametrize("kind", list(_bad_outs(np.float32)))
def test_bad_out_buffer(net, dtype, kind):
    out = _bad_outs(dtype)[kind]
    _raises_and_keeps_theta(net, lambda: net.predict(GOOD_X, out=out), ValueError,
                            r"out must be a writeable C-contiguous float(32|64) array of shape \(4, 3\)")


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(layer_sizes=[3]), ValueError, r"layer_sizes needs at least an input and an output size"),
    (dict(layer_sizes=[]), ValueError, r"layer_sizes needs at least"),
    (dict(layer_sizes=5), ValueError, r"layer_sizes needs at least"),
    (dict(layer_sizes="23"), ValueError, r"layer_sizes needs at least"),
    (dict(layer_sizes=[2, 0, 1]), ValueError, r"layer_sizes\[1\] must be positive, got 0"),
    (dict(layer_sizes=[2, 3, -1]), ValueError, r"layer_sizes\[2\] must be positive, got -1"),
    (dict(layer_sizes=[0, 3]), ValueError, r"layer_sizes\[0\] must be positive"),
    (dict(layer_sizes=[2, 2.5, 1]), TypeError, r"layer_sizes\[1\] must be an integer"),
    (dict(activation="bogus"), ValueError, r"unknown activation 'bogus'"),
    (dict(activation=7), TypeError, r"activation must be a name"),
    (dict(activation=["tanh", "relu"]), ValueError, r"activation lists 2 names for 1 hidden layers"),
    (dict(output_activation="bogus"), ValueError, r"unknown activation 'bogus'"),
    (dict(loss="bogus"), ValueError, r"unknown loss 'bogus'"),
    (dict(loss=None), TypeError, r"loss must be a name"),
    (dict(backend="bogus"), ValueError, r"unknown backend 'bogus'"),
    (dict(backend="tensorflow"), ValueError, r"unknown backend"),
    (dict(dtype="float16"), ValueError, r"dtype must be 'float32' or 'float64', got 'float16'"),
    (dict(dtype="int64"), ValueError, r"dtype must be 'float32' or 'float64'"),
    (dict(dtype="bogus"), TypeError, r"dtype must be 'float32' or 'float64'"),
    (dict(init="bogus"), ValueError, r"unknown initializer 'bogus'"),
])
def test_bad_constructor_arguments(kwargs, exc, match):
    args = dict(layer_sizes=SIZES, backend="numpy") | kwargs
    with pytest.raises(exc, match=match):
        MLP(**args)


def test_constructor_accepts_aliases_and_any_case(backend):
    net = MLP([2, 3, 1], activation="Linear", output_activation="LOGISTIC", loss="MSE", dtype=np.float64,
              backend=backend.upper())
    assert net.activations == ("identity", "sigmoid") and net.loss_name == "mse"
    assert net.backend == backend and net.dtype == np.float64


@pytest.mark.parametrize("value, exc, match", [
    (np.zeros(5), ValueError, r"params must have shape \(27,\), got \(5,\)"),
    (np.zeros((27, 1)), ValueError, r"params must have shape \(27,\)"),
    (np.zeros(28), ValueError, r"params must have shape"),
    ("abc", ValueError, r"params must have shape"),
    (np.array(["a"] * 27), TypeError, r"params must hold real numbers"),
    (np.full(27, np.nan), ValueError, r"params contains NaN or Inf"),
    (np.where(np.arange(27) == 7, np.inf, 0.0), ValueError, r"params contains NaN or Inf"),
])
def test_bad_params(net, value, exc, match):
    assert net.n_params == 27
    def assign():
        net.params = value
    _raises_and_keeps_theta(net, assign, exc, match)


def test_a_diverging_step_raises_and_keeps_theta(backend, dtype):
    """Finite but huge inputs overflow an all-linear forward pass: FloatingPointError, θ untouched."""
    net = MLP(SIZES, activation="identity", dtype=dtype.name, seed=0, backend=backend)
    net.params = np.abs(net.params) + 1  # positive weights and biases: the output overflows to +inf
    X = np.full((4, 2), np.finfo(dtype).max / 2)
    before = net.params.copy()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=r"loss or its gradient is (inf|nan)"):
        net.train_step(X, GOOD_Y, lr=0.01)
    np.testing.assert_array_equal(net.params, before)


# ---- backend selection ----------------------------------------------------------------------------------

def test_env_var_selects_the_backend(monkeypatch, backend):
    monkeypatch.setenv("FASTMLP_BACKEND", backend)
    assert MLP([2, 1]).backend == backend
    other = "numpy" if backend != "numpy" else BACKENDS[0]
    assert MLP([2, 1], backend=other).backend == other  # an explicit backend wins


def test_unknown_env_backend_raises(monkeypatch):
    monkeypatch.setenv("FASTMLP_BACKEND", "fortran")
    with pytest.raises(ValueError, match=r"unknown backend 'fortran'"):
        MLP([2, 1])
    assert MLP([2, 1], backend="numpy").backend == "numpy"


def test_empty_env_var_means_the_fastest(monkeypatch):
    monkeypatch.setenv("FASTMLP_BACKEND", "")
    assert MLP([2, 1]).backend == fastmlp.available_backends()[0]
    monkeypatch.delenv("FASTMLP_BACKEND")
    assert MLP([2, 1]).backend == fastmlp.available_backends()[0]


def test_available_backends_fastest_first():
    available = fastmlp.available_backends()
    assert isinstance(available, list)
    assert "numpy" in available and available[-1] == "numpy"
    assert available == [b for b in BACKENDS if b in available]  # cython > numba > numpy


def test_every_backend_is_available():
    """All three backends build and load here (the extension and numba are part of the project)."""
    assert fastmlp.available_backends() == BACKENDS
