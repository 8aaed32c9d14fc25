"""The model's anatomy (fastmlp.anatomy and its MLP methods) and universal approximation (fastmlp.approx)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastmlp
from fastmlp import MLP, ForwardTrace, linear_collapse, relu_bumps
from fastmlp.approx import max_error

BACKENDS = ["cython", "numba", "numpy"]

# Independent of fastmlp.activations, so the trace is checked against the textbook definitions.
G = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "softplus": lambda z: np.log1p(np.exp(z)),
}


def random_net(sizes, backend="numpy", dtype="float64", seed=0, **kw):
    net = MLP(sizes, dtype=dtype, seed=seed, backend=backend, **kw)
    net.params = np.random.default_rng(seed + 100).uniform(-1, 1, net.n_params)  # biases non-zero too
    return net


def batch(rows, cols, seed=1):
    return np.random.default_rng(seed).uniform(-2, 2, (rows, cols))


# ---- linear_collapse -------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sizes", [(3, 5, 4, 2), (2, 1), (1, 7, 7, 7, 3)])
def test_linear_collapse_predicts_like_the_network(backend, sizes):
    net = random_net(sizes, backend, activation="identity", output_activation="identity")
    W, b = linear_collapse(net)
    assert W.shape == (sizes[-1], sizes[0]) and b.shape == (sizes[-1],)
    X = batch(9, sizes[0])
    np.testing.assert_allclose(X @ W.T + b, net.predict(X), rtol=1e-12, atol=1e-12)


def test_linear_collapse_float32_net():
    net = random_net((4, 6, 3), dtype="float32", activation="identity", output_activation="linear")
    W, b = linear_collapse(net)
    assert W.dtype == np.float64 and b.dtype == np.float64
    X = batch(5, 4).astype(np.float32)
    np.testing.assert_allclose(X @ W.T + b, net.predict(X), rtol=1e-5, atol=1e-5)


def test_linear_collapse_formula():
    net = random_net((3, 4, 5, 2), activation="identity", output_activation="identity")
    (W0, W1, W2), (b0, b1, b2) = net.weights, net.biases
    W, b = linear_collapse(net)
    np.testing.assert_allclose(W, W2 @ W1 @ W0, rtol=1e-14)
    np.testing.assert_allclose(b, b2 + W2 @ b1 + W2 @ W1 @ b0, rtol=1e-14)


@pytest.mark.parametrize("hidden,output,layer,name", [
    ("tanh", "identity", 0, "tanh"),
    ("identity", "sigmoid", 2, "sigmoid"),
    (["identity", "relu"], "identity", 1, "relu"),
    ("softplus", "softplus", 0, "softplus"),
])
def test_linear_collapse_rejects_nonlinear_nets(hidden, output, layer, name):
    net = MLP((2, 3, 3, 1), activation=hidden, output_activation=output, seed=0, backend="numpy")
    with pytest.raises(ValueError, match=f"layer {layer} .*'{name}'"):
        linear_collapse(net)


def test_linear_collapse_needs_a_net():
    with pytest.raises(TypeError, match="fastmlp.MLP"):
        linear_collapse([np.eye(2)])


# ---- forward_trace ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_trace_agrees_with_predict(backend, dtype):
    net = random_net((3, 6, 5, 2), backend, dtype, activation=["tanh", "relu"], output_activation="sigmoid")
    X = batch(11, 3)
    trace = net.forward_trace(X)
    pred = net.predict(X)
    assert trace.h[-1].dtype == net.dtype
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(trace.h[-1], pred, rtol=tol, atol=tol)


@pytest.mark.parametrize("hidden,output", [("tanh", "identity"), ("relu", "softplus"), ("sigmoid", "tanh"),
                                           (["softplus", "identity", "relu"], "sigmoid")])
def test_forward_trace_is_the_lecture_recursion(hidden, output):
    sizes = (4, 5, 3, 6, 2) if isinstance(hidden, list) else (4, 5, 2)
    net = random_net(sizes, activation=hidden, output_activation=output)
    X = batch(7, 4)
    trace = net.forward_trace(X)
    assert isinstance(trace, ForwardTrace)
    assert trace.n_layers == len(sizes) - 1 == len(trace.h) - 1 == len(trace.z) - 1
    assert trace.z[0] is None and trace.activations[0] is None
    np.testing.assert_array_equal(trace.h[0], X)
    assert trace.activations[1:] == list(net.activations)
    for l in range(1, len(sizes)):
        W, b = net.weights[l - 1], net.biases[l - 1]
        assert trace.z[l].shape == trace.h[l].shape == (7, sizes[l])
        # z_l = W_{l-1} h_{l-1} + b_{l-1}, written for column vectors: check it one sample at a time.
        for i in range(7):
            np.testing.assert_allclose(trace.z[l][i], W @ trace.h[l - 1][i] + b, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(trace.h[l], G[trace.activations[l]](trace.z[l]), rtol=1e-13, atol=1e-15)


def test_forward_trace_repr_reads_like_the_lecture():
    net = random_net((2, 3, 1), activation="tanh")
    text = repr(net.forward_trace(batch(4, 2)))
    assert text.startswith("ForwardTrace(batch=4, 2 layers)")
    for piece in ("h[0] = x", "z[1] = W_0 h[0] + b_0", "h[1] = tanh(z[1])", "z[2] = W_1 h[1] + b_1",
                  "h[2] = identity(z[2])", "(4, 3)"):
        assert piece in text, piece


def test_forward_trace_validates_like_predict():
    net = random_net((3, 4, 1))
    with pytest.raises(ValueError, match="3"):
        net.forward_trace(batch(2, 4))
    with pytest.raises(ValueError, match="2-D"):
        net.forward_trace(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        net.forward_trace(np.full((2, 3), np.nan))
    with pytest.raises(TypeError, match="real numbers"):
        net.forward_trace(np.array([["a", "b", "c"]]))
    X = batch(2, 3)
    trace = net.forward_trace(X)
    trace.h[0][0, 0] = 99.0  # the trace's own copy: the caller's X is untouched
    assert X[0, 0] != 99.0


# ---- augmented weights -----------------------------------------------------------------------------------

def test_augmented_weights_are_w_with_the_bias_column():
    net = random_net((3, 4, 2))
    mats = net.augmented_weights()
    assert [M.shape for M in mats] == [(4, 4), (2, 5)]
    for M, W, b in zip(mats, net.weights, net.biases):
        np.testing.assert_array_equal(M[:, :-1], W)
        np.testing.assert_array_equal(M[:, -1], b)
        h = np.random.default_rng(0).standard_normal(M.shape[1] - 1)
        np.testing.assert_allclose(M @ np.append(h, 1.0), W @ h + b, rtol=1e-14)  # z = W̄ [h; 1]
    mats[0][0, 0] = 123.0  # copies: the net is unchanged
    assert net.weights[0][0, 0] != 123.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_augmented_weights_round_trip(backend, dtype):
    net = random_net((3, 5, 4, 2), backend, dtype, activation="relu", output_activation="sigmoid", loss="mse")
    mats = net.augmented_weights()
    again = MLP.from_augmented_weights(mats, activation="relu", output_activation="sigmoid", loss="mse",
                                       backend=backend)
    assert again.layer_sizes == net.layer_sizes
    assert again.activations == net.activations and again.loss_name == "mse"
    assert again.dtype == net.dtype and again.backend == backend
    np.testing.assert_array_equal(again.params, net.params)
    X = batch(6, 3)
    np.testing.assert_array_equal(again.predict(X), net.predict(X))


def test_from_augmented_weights_dtype_default_and_override():
    mats = [np.arange(6).reshape(2, 3), np.array([[1, 2, 3]])]  # integers: float64
    net = MLP.from_augmented_weights(mats, activation="identity", backend="numpy")
    assert net.dtype == np.float64 and net.layer_sizes == (2, 2, 1)
    np.testing.assert_array_equal(net.weights[0], [[0, 1], [3, 4]])
    np.testing.assert_array_equal(net.biases[0], [2, 5])
    assert net.predict([[1.0, 1.0]])[0, 0] == 1 * (0 + 1 + 2) + 2 * (3 + 4 + 5) + 3
    f32 = MLP.from_augmented_weights(mats, dtype="float32", backend="numpy")
    assert f32.dtype == np.float32
    single = MLP.from_augmented_weights([np.ones((1, 2), np.float32)], backend="numpy")
    assert single.dtype == np.float32 and single.layer_sizes == (1, 1)


@pytest.mark.parametrize("mats,error,match", [
    ([np.ones((3, 4)), np.ones((2, 3))], ValueError, r"mats\[1\] has 3 columns .* needs 4"),
    ([np.ones(4)], ValueError, r"mats\[0\] must be 2-D"),
    ([np.ones((3, 1))], ValueError, "bias column"),
    ([np.ones((0, 3))], ValueError, "at least one row"),
    ([], ValueError, "empty"),
    ([np.array([[1.0, np.inf]])], ValueError, "NaN or Inf"),
    ([np.array([["a", "b"]])], TypeError, "real numbers"),
    (np.ones((2, 3)), TypeError, "list of 2-D arrays"),
    (5, TypeError, "list of 2-D arrays"),
])
def test_from_augmented_weights_validates(mats, error, match):
    with pytest.raises(error, match=match):
        MLP.from_augmented_weights(mats, backend="numpy")


def test_from_augmented_weights_bad_dtype():
    with pytest.raises(ValueError, match="float32"):
        MLP.from_augmented_weights([np.ones((1, 2))], dtype="int32", backend="numpy")


# ---- universal approximation: relu_bumps ------------------------------------------------------------------

FUNCTIONS = [
    # name, f, lo, hi, Lipschitz constant
    ("sin", math.sin, 0.0, 2 * math.pi, 1.0),
    ("abs", abs, -1.0, 1.0, 1.0),
]


@pytest.mark.parametrize("name,f,lo,hi,lipschitz", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_relu_bumps_error_falls_like_one_over_n(name, f, lo, hi, lipschitz):
    bound = lipschitz * (hi - lo) / 2  # error(n) ≤ L d / 2 = L (hi − lo) / (2n)
    errors = {}
    for n in (10, 100, 1000):
        net = relu_bumps(f, lo, hi, n)
        errors[n] = max_error(net, f, lo, hi, points=20001)
        assert errors[n] <= bound / n * (1 + 1e-6), (n, errors[n])
    assert errors[10] > errors[100] > errors[1000]
    # Roughly 1/n: each tenfold n divides the error by about ten (not by a hundred, not by two).
    for small, big in ((10, 100), (100, 1000)):
        assert 5.0 < errors[small] / errors[big] < 20.0, errors


def test_relu_bumps_is_an_ordinary_mlp():
    net = relu_bumps(math.sin, 0.0, 2 * math.pi, 7)
    assert isinstance(net, MLP)
    assert net.layer_sizes == (1, 14, 1)
    assert net.activations == ("relu", "identity")
    assert net.dtype == np.float64
    f32 = relu_bumps(math.sin, 0.0, 2 * math.pi, 7, dtype="float32", backend="numpy")
    assert f32.dtype == np.float32 and f32.backend == "numpy"


def test_relu_bumps_construction_values():
    """F = f(centre) at every bump centre, linear between centres, flat within half a cell of each end."""
    f = lambda z: z ** 3 - z  # noqa: E731
    lo, hi, n = -1.5, 2.5, 8
    d = (hi - lo) / n
    centres = lo + (np.arange(n) + 0.5) * d
    net = relu_bumps(f, lo, hi, n)
    np.testing.assert_allclose(net.predict(centres[:, None]).ravel(), [f(c) for c in centres], atol=1e-12)
    mids = (centres[:-1] + centres[1:]) / 2
    expect = [(f(a) + f(b)) / 2 for a, b in zip(centres[:-1], centres[1:])]
    np.testing.assert_allclose(net.predict(mids[:, None]).ravel(), expect, atol=1e-12)
    ends = np.array([[lo], [lo + d / 4], [hi - d / 4], [hi]])
    np.testing.assert_allclose(net.predict(ends).ravel(),
                               [f(centres[0])] * 2 + [f(centres[-1])] * 2, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_bumps_predicts_on_every_backend(backend):
    net = relu_bumps(abs, -1.0, 1.0, 50, backend=backend)
    assert net.backend == backend
    assert max_error(net, abs, -1.0, 1.0, points=2001) <= 1.0 / 50 * (1 + 1e-9)


@pytest.mark.parametrize("args,error,match", [
    ((math.sin, 0.0, 1.0, 0), ValueError, "n must be positive"),
    ((math.sin, 0.0, 1.0, -3), ValueError, "n must be positive"),
    ((math.sin, 0.0, 1.0, 2.5), TypeError, "n must be an integer"),
    ((math.sin, 0.0, 1.0, True), TypeError, "n must be an integer"),
    ((math.sin, 1.0, 1.0, 5), ValueError, "lo < hi"),
    ((math.sin, 2.0, 1.0, 5), ValueError, "lo < hi"),
    ((math.sin, 0.0, math.inf, 5), ValueError, "hi must be finite"),
    ((math.sin, "0", 1.0, 5), TypeError, "lo must be a real number"),
    ((3.0, 0.0, 1.0, 5), TypeError, "f must be callable"),
    ((lambda z: math.nan, 0.0, 1.0, 5), ValueError, "not finite"),
    ((lambda z: "x", 0.0, 1.0, 5), TypeError, "not a real number"),
])
def test_relu_bumps_validates(args, error, match):
    with pytest.raises(error, match=match):
        relu_bumps(*args)


def test_package_exports():
    assert fastmlp.linear_collapse is linear_collapse
    assert fastmlp.relu_bumps is relu_bumps
    for name in ("linear_collapse", "relu_bumps", "ForwardTrace"):
        assert name in fastmlp.__all__
