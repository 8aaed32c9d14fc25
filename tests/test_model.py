"""The MLP API: θ as one flat buffer with views, seeding, and every method agreeing across backends."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ACT_NAMES, RTOL, assert_close, magnitude
from fastmlp import MLP
from fastmlp.init import initial_theta
from fastmlp.workspace import n_params

SIZES = [(3, 8, 2), (1, 5, 7, 1), (4, 2), (2, 17, 1, 3)]


def _data(sizes, rows=13, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(rows, sizes[0])).astype(dtype)
    Y = rng.standard_normal((rows, sizes[-1])).astype(dtype)
    return X, Y


# ---- θ: one flat buffer, with views ----------------------------------------------------------------------

@pytest.mark.parametrize("sizes", SIZES)
def test_params_is_one_flat_buffer_with_views(backend, dtype, sizes):
    net = MLP(sizes, dtype=dtype.name, seed=1, backend=backend)
    assert net.backend == backend
    assert net.layer_sizes == tuple(sizes)
    theta = net.params
    assert theta is net.params
    assert theta.ndim == 1 and theta.dtype == dtype and theta.flags.c_contiguous
    assert theta.size == net.n_params == sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:]))
    assert len(net.weights) == len(net.biases) == len(sizes) - 1
    off = 0
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        assert W.shape == (sizes[l + 1], sizes[l]) and b.shape == (sizes[l + 1],)
        assert np.shares_memory(W, theta) and np.shares_memory(b, theta)
        np.testing.assert_array_equal(W.ravel(), theta[off:off + W.size])  # row-major W_l, then b_l
        off += W.size
        np.testing.assert_array_equal(b, theta[off:off + b.size])
        off += b.size
        W[-1, -1] = 100.0 + l  # writing a view writes θ
        assert theta[off - b.size - 1] == 100.0 + l
        b[0] = -100.0 - l
        assert theta[off - b.size] == -100.0 - l
    assert off == theta.size


def test_writing_params_changes_predictions(backend, dtype):
    net = MLP([3, 4, 2], dtype=dtype.name, seed=0, backend=backend)  # identity output layer
    X, _ = _data((3, 4, 2), dtype=dtype)
    before = net.predict(X)
    net.params[-1] += 1.0  # the last bias
    after = net.predict(X)
    np.testing.assert_allclose(after[:, 1], before[:, 1] + 1, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10)
    np.testing.assert_array_equal(after[:, 0], before[:, 0])
    net.weights[0][...] = 0  # hidden layer output tanh(b_0) = 0: ŷ = b_1
    net.biases[0][...] = 0
    np.testing.assert_array_equal(net.predict(X), np.broadcast_to(net.biases[1], after.shape))


def test_params_setter_copies_in_and_keeps_views(backend, dtype):
    net = MLP([3, 4, 2], dtype=dtype.name, seed=0, backend=backend)
    theta, W0, b1 = net.params, net.weights[0], net.biases[1]
    new = np.arange(net.n_params, dtype=np.float64) / 10  # float64 into any model: cast on the way in
    net.params = new
    assert net.params is theta  # the same buffer, refilled
    np.testing.assert_array_equal(theta, new.astype(dtype))
    np.testing.assert_array_equal(W0, new[:12].reshape(4, 3).astype(dtype))
    np.testing.assert_array_equal(b1, new[-2:].astype(dtype))
    new[:] = -1  # the model holds a copy
    assert (theta >= 0).all()
    net.params = list(range(net.n_params))  # any real array-like
    assert theta[5] == 5
    X, _ = _data((3, 4, 2), dtype=dtype)
    theta[...] = 0
    np.testing.assert_array_equal(net.predict(X), 0)


@pytest.mark.parametrize("sizes", SIZES)
def test_same_seed_same_theta_everywhere(backend, dtype, sizes):
    """θ is drawn in float64 from the seed and then cast: bitwise the same on every backend and dtype."""
    reference = initial_theta(sizes, np.random.default_rng(42))
    net = MLP(sizes, dtype=dtype.name, seed=42, backend=backend)
    np.testing.assert_array_equal(net.params, reference.astype(dtype))
    assert net.params.tobytes() == MLP(sizes, dtype="float64", seed=42, backend="numpy").params \
        .astype(dtype).tobytes()
    assert not np.array_equal(MLP(sizes, dtype=dtype.name, seed=43, backend=backend).params, net.params)
    # biases start at zero, weights inside the Glorot bound
    for W, b in zip(net.weights, net.biases):
        assert not b.any()
        assert np.abs(W).max() <= np.sqrt(6 / sum(W.shape))


# ---- every method against the numpy backend -----------------------------------------------------------------

@pytest.mark.parametrize("act", ACT_NAMES)
@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_methods_agree_with_numpy_backend(backend, dtype, act, loss):
    sizes = (3, 9, 6, 2)
    kwargs = dict(activation=act, loss=loss, dtype=dtype.name, seed=3)
    net, ref = MLP(sizes, backend=backend, **kwargs), MLP(sizes, backend="numpy", **kwargs)
    rng = np.random.default_rng(5)
    theta = rng.uniform(-1, 1, net.n_params)  # non-zero biases
    net.params = ref.params = theta
    X, Y = _data(sizes, rows=11, seed=6, dtype=dtype)
    assert_close(net.predict(X), ref.predict(X), dtype, factor=10, what="predict")
    assert net.loss(X, Y) == pytest.approx(ref.loss(X, Y), rel=RTOL[dtype] * 10)
    (value, grad), (ref_value, ref_grad) = net.loss_and_grad(X, Y), ref.loss_and_grad(X, Y)
    assert value == pytest.approx(ref_value, rel=RTOL[dtype] * 10)
    assert grad.shape == theta.shape and grad.dtype == dtype
    assert_close(grad, ref_grad, dtype, factor=10, what="grad")
    lr = 0.05 if loss == "mse" else 0.002
    step = net.train_step(X, Y, lr=lr)
    assert step == pytest.approx(ref.train_step(X, Y, lr=lr), rel=RTOL[dtype] * 10)
    assert_close(net.params, ref.params, dtype, factor=10, what="θ after train_step")
    h, ref_h = net.fit(X, Y, epochs=3, batch_size=4, lr=lr), ref.fit(X, Y, epochs=3, batch_size=4, lr=lr)
    assert np.isfinite(ref.params).all() and ref_h.loss[-1] < ref_h.loss[0]
    np.testing.assert_allclose(h.loss, ref_h.loss, rtol=RTOL[dtype] * 100)
    assert_close(net.params, ref.params, dtype, factor=10, what="θ after fit")


def test_predict_many_rows_agrees_with_numpy_backend(backend, dtype):
    """More rows than the predict chunk (1024): every chunk, the partial last one too."""
    sizes = (5, 33, 3)
    net, ref = MLP(sizes, backend=backend, dtype=dtype.name, seed=0), MLP(sizes, backend="numpy",
                                                                          dtype=dtype.name, seed=0)
    X, _ = _data(sizes, rows=2500, dtype=dtype)
    assert_close(net.predict(X), ref.predict(X), dtype, factor=10, what="predict")


# ---- train_step and fit -------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_train_step_returns_loss_before_and_steps_by_minus_lr_grad(backend, dtype, loss):
    sizes = (4, 7, 3)
    net = MLP(sizes, activation="sigmoid", loss=loss, dtype=dtype.name, seed=2, backend=backend)
    X, Y = _data(sizes, rows=9, dtype=dtype)
    lr = 0.05 if loss == "mse" else 0.005
    for _ in range(3):
        before = net.params.copy()
        value_before = net.loss(X, Y)
        value, grad = net.loss_and_grad(X, Y)
        returned = net.train_step(X, Y, lr=lr)
        assert returned == pytest.approx(value_before, rel=RTOL[dtype] * 10)
        assert returned == pytest.approx(value, rel=RTOL[dtype])
        assert net.loss(X, Y) < value_before  # a small enough step descends
        # θ_new = θ - lr·grad up to the rounding of that one multiply-add
        expected = before.astype(np.float64) - np.float64(dtype.type(lr)) * grad.astype(np.float64)
        eps = np.finfo(dtype).eps
        bound = 4 * eps * (np.abs(before) + lr * np.abs(grad)).astype(np.float64)
        assert (np.abs(net.params - expected) <= bound).all(), np.abs(net.params - expected).max()


def test_fit_full_batch_is_repeated_train_step(backend, dtype):
    sizes = (2, 6, 1)
    X, Y = _data(sizes, rows=10, dtype=dtype)
    a = MLP(sizes, loss="mse", dtype=dtype.name, seed=4, backend=backend)
    b = MLP(sizes, loss="mse", dtype=dtype.name, seed=4, backend=backend)
    history = a.fit(X, Y, epochs=5, batch_size=None, lr=0.1, shuffle=False)
    steps = [b.train_step(X, Y, lr=0.1) for _ in range(5)]
    assert history.epochs == 5 and a.history_ is history
    np.testing.assert_allclose(history.loss, steps, rtol=RTOL[dtype])
    assert_close(a.params, b.params, dtype, what="fit(batch_size=None) vs train_step")
    assert history.loss[-1] < history.loss[0]
    assert history.lr == [0.1] * 5
    # with shuffling the full batch is only reordered: the same gradient up to summation order
    c = MLP(sizes, loss="mse", dtype=dtype.name, seed=4, backend=backend)
    c.fit(X, Y, epochs=5, batch_size=None, lr=0.1, shuffle=True)
    assert_close(c.params, b.params, dtype, factor=10, what="shuffled full batch")
    # batch_size larger than the data is the full batch as well
    d = MLP(sizes, loss="mse", dtype=dtype.name, seed=4, backend=backend)
    d.fit(X, Y, epochs=5, batch_size=1000, lr=0.1, shuffle=False)
    assert_close(d.params, b.params, dtype, what="batch_size > rows")


def test_fit_zero_epochs_changes_nothing(backend):
    net = MLP([2, 3, 1], seed=0, backend=backend)
    before = net.params.copy()
    history = net.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=0)
    assert history.epochs == 0
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("batch_size", [1, 3, None])
def test_fit_is_deterministic_for_a_seed(backend, dtype, batch_size):
    sizes = (3, 8, 2)
    X, Y = _data(sizes, rows=10, dtype=dtype)
    nets = [MLP(sizes, activation="relu", dtype=dtype.name, seed=9, backend=backend) for _ in range(2)]
    histories = [net.fit(X, Y, epochs=4, batch_size=batch_size, lr=0.01) for net in nets]
    assert nets[0].params.tobytes() == nets[1].params.tobytes()
    assert histories[0].loss == histories[1].loss
    other = MLP(sizes, activation="relu", dtype=dtype.name, seed=10, backend=backend)
    other.params = MLP(sizes, activation="relu", dtype=dtype.name, seed=9, backend=backend).params
    other.fit(X, Y, epochs=4, batch_size=batch_size, lr=0.01)  # same θ, another shuffling seed
    if batch_size is not None and batch_size < 10:
        assert not np.array_equal(other.params, nets[0].params)


@pytest.mark.parametrize("act", ["tanh", "relu", "softplus"])
def test_fit_trajectories_agree_across_backends(backend, dtype, act):
    """20 shuffled minibatch epochs from the same seed: the same path as the numpy backend."""
    sizes = (2, 12, 12, 1)
    rng = np.random.default_rng(11)
    X = rng.uniform(-2, 2, (40, 2)).astype(dtype)
    Y = (np.sin(X[:, :1]) * np.cos(X[:, 1:])).astype(dtype)
    kwargs = dict(activation=act, loss="mse", dtype=dtype.name, seed=12)
    net, ref = MLP(sizes, backend=backend, **kwargs), MLP(sizes, backend="numpy", **kwargs)
    h = net.fit(X, Y, epochs=20, batch_size=8, lr=0.05)
    ref_h = ref.fit(X, Y, epochs=20, batch_size=8, lr=0.05)
    tol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(h.loss, ref_h.loss, rtol=tol)
    np.testing.assert_allclose(net.params, ref.params, rtol=tol, atol=tol * magnitude(ref.params))
    assert h.loss[-1] < h.loss[0]


@pytest.mark.parametrize("sizes, activation, output", [
    ((3, 2), "tanh", None), ((2, 8, 8, 1), "tanh", None), ((16, 5, 17, 4), "sigmoid", "softmax"),
    ((17, 16, 3), "softplus", "sigmoid"), ((40, 300, 10), "relu", "softmax")])
def test_one_row_predict_agrees_with_numpy_backend(backend, dtype, sizes, activation, output):
    """One row at a time, as a control loop calls it: the first call makes the backend's Predictor and
    later ones go through it (numba: flat loops for layers of ≤ 16 inputs, BLAS above)."""
    loss = "cross_entropy" if output == "softmax" else "binary_cross_entropy" if output == "sigmoid" else "sse"
    kw = dict(activation=activation, output_activation=output, loss=loss, dtype=dtype.name, seed=3)
    net, ref = MLP(sizes, backend=backend, **kw), MLP(sizes, backend="numpy", **kw)
    net.params = ref.params = np.random.default_rng(1).normal(0, 0.5, net.n_params)  # biases too (init: 0)
    X, _ = _data(sizes, rows=4, dtype=dtype)
    out = np.empty((1, sizes[-1]), dtype)
    for row in X:
        x = row.reshape(1, -1)
        expected = ref.predict(x)
        assert_close(net.predict(x), expected, dtype, factor=10, what="one row")
        assert net.predict(x, out=out) is out
        assert_close(out, expected, dtype, factor=10, what="one row into out")


# ---- predict(out=) and inputs in other layouts ------------------------------------------------------------

def test_predict_out_is_written_and_returned(backend, dtype):
    net = MLP([3, 5, 2], dtype=dtype.name, seed=0, backend=backend)
    X, _ = _data((3, 5, 2), rows=7, dtype=dtype)
    buf = np.full((7, 2), np.nan, dtype)
    result = net.predict(X, out=buf)
    assert result is buf
    np.testing.assert_array_equal(buf, net.predict(X))
    fresh = net.predict(X)
    assert fresh is not net.predict(X)  # without out=, a new array each call


def _layouts(X, dtype):
    """The same data in other layouts and types (contiguous `dtype` copy, then the variants)."""
    other = np.float64 if dtype == np.float32 else np.float32
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype)
    wide[:, ::2] = X
    tall = np.zeros((2 * X.shape[0], X.shape[1]), dtype)
    tall[::2] = X
    readonly = X.copy()
    readonly.setflags(write=False)
    return {
        "strided_columns": wide[:, ::2],
        "strided_rows": tall[::2],
        "fortran": np.asfortranarray(X),
        "other_float": X.astype(other),
        "list": X.tolist(),
        "readonly": readonly,
    }


@pytest.mark.parametrize("layout", ["strided_columns", "strided_rows", "fortran", "other_float", "list",
                                    "readonly", "int"])
def test_inputs_in_any_layout_match_a_contiguous_copy(backend, dtype, layout):
    sizes = (4, 6, 2)
    rng = np.random.default_rng(0)
    if layout == "int":
        X0 = rng.integers(-3, 4, (9, 4)).astype(dtype)
        Y0 = rng.integers(-3, 4, (9, 2)).astype(dtype)
        Xv, Yv = X0.astype(np.int64), Y0.astype(np.int32)
    else:
        X0, Y0 = _data(sizes, rows=9, dtype=dtype)
        X0 = X0.astype(np.float32).astype(dtype)  # representable in both float types: exact casts
        Y0 = Y0.astype(np.float32).astype(dtype)
        Xv, Yv = _layouts(X0, dtype)[layout], _layouts(Y0, dtype)[layout]

    def fresh():
        return MLP(sizes, activation="tanh", dtype=dtype.name, seed=1, backend=backend)

    a, b = fresh(), fresh()
    np.testing.assert_array_equal(a.predict(Xv), b.predict(X0))
    assert a.loss(Xv, Yv) == b.loss(X0, Y0)
    (la, ga), (lb, gb) = a.loss_and_grad(Xv, Yv), b.loss_and_grad(X0, Y0)
    assert la == lb
    np.testing.assert_array_equal(ga, gb)
    assert a.train_step(Xv, Yv, lr=0.01) == b.train_step(X0, Y0, lr=0.01)
    np.testing.assert_array_equal(a.params, b.params)
    a.fit(Xv, Yv, epochs=2, batch_size=4, lr=0.01)
    b.fit(X0, Y0, epochs=2, batch_size=4, lr=0.01)
    np.testing.assert_array_equal(a.params, b.params)
    if not isinstance(Xv, list):
        assert np.array_equal(np.asarray(Xv), X0)  # the caller's arrays are left alone


def test_one_output_column_accepts_1d_targets(backend):
    net = MLP([2, 3, 1], dtype="float64", seed=0, backend=backend)
    X, Y = _data((2, 3, 1), rows=6)
    assert net.loss(X, Y[:, 0]) == net.loss(X, Y)


def test_repr_and_description(backend):
    net = MLP([2, 3, 3, 1], activation=["relu", "tanh"], output_activation="sigmoid", loss="mse",
              dtype="float64", backend=backend)
    assert net.activations == ("relu", "tanh", "sigmoid")
    assert net.loss_name == "mse"
    assert net.n_params == n_params((2, 3, 3, 1))
    assert backend in repr(net) and "float64" in repr(net)
    X = np.random.default_rng(0).uniform(-1, 1, (5, 2))
    y = net.predict(X)
    assert ((y > 0) & (y < 1)).all()


@pytest.mark.parametrize("backend", ["cython", "numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predictor_checks_once_and_declines_what_it_cannot_take(dtype, backend):
    # A backend's Predictor holds θ, sizes, acts and the work buffer, checked when it is made; per call it
    # takes only ready arrays and returns None for anything else (MLP.predict then converts the input or
    # names the problem).
    from fastmlp.backends import get_backend, numpy_ref
    from fastmlp.workspace import PREDICT_CHUNK, predict_work

    kernels = get_backend(backend)[1]
    net = MLP((3, 5, 2), activation="tanh", dtype=dtype, backend=backend, seed=1)
    work = predict_work(net.layer_sizes, 4, net.dtype)
    p = kernels.Predictor(net.params, net._sizes, net._acts, work, 4)
    X = np.random.default_rng(0).standard_normal((9, 3)).astype(dtype)  # 9 rows: three chunks of 4
    expected = np.empty((9, 2), dtype)
    numpy_ref.predict(net.params, net._sizes, net._acts, X, expected, None, 4)
    assert_close(p(X, None), expected, net.dtype, scale=magnitude(expected), what="ŷ")
    out = np.empty((9, 2), dtype)
    assert p(X, out) is out
    net.params = net.params * 0.5  # θ is held by reference: the next call sees the new values
    numpy_ref.predict(net.params, net._sizes, net._acts, X, expected, None, 4)
    assert_close(p(X, None), expected, net.dtype, scale=magnitude(expected), what="ŷ after a θ update")
    other = "float64" if dtype == "float32" else "float32"
    for bad_x in (X.T.copy(), X[:, :2].copy(), X.astype(other), X[::2], np.full((2, 3), np.nan, dtype), X.tolist()):
        assert p(bad_x, None) is None
    read_only = np.empty((9, 2), dtype)
    read_only.flags.writeable = False
    for bad_out in (np.empty((9, 2), other), np.empty((8, 2), dtype), np.empty((2, 9), dtype).T, "out", read_only):
        assert p(X, bad_out) is None
    with pytest.raises(ValueError, match="work"):
        kernels.Predictor(net.params, net._sizes, net._acts, np.empty(3, dtype), 4)
    with pytest.raises(TypeError):
        kernels.Predictor(net.params.astype(other), net._sizes, net._acts, work, PREDICT_CHUNK)
