"""Shared fixtures, hypothesis strategies and helpers of the fastmlp test suite.

Every backend test body is parametrized over ALL backends by name: a backend that does not load makes its
tests fail (ImportError from get_backend), never skip. numpy_ref is the oracle the others are compared with.
"""
from __future__ import annotations

import os

# scikit-learn's estimator checks run their array-API input check only with this set, and scipy reads
# it once, at its first import: set it before anything imports scipy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, assume, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fastmlp.backends import get_backend, numpy_ref  # noqa: E402
from fastmlp.workspace import Workspace, n_params  # noqa: E402

BACKENDS = ["cython", "numba", "numpy"]
DTYPES = [np.float32, np.float64]
ACT_IDS = [0, 1, 2, 3, 4]  # identity, relu, sigmoid, tanh, softplus (fastmlp.activations)
ACT_NAMES = ["identity", "relu", "sigmoid", "tanh", "softplus"]
SOFTMAX = 5  # output layer only, in forward/predict (training feeds the logits to a logit loss)
LOSS_IDS = [0, 1]  # sse, mse (fastmlp.losses): the losses every whole-network test runs with
LOSS_NAMES = ["sse", "mse"]
ALL_LOSS_IDS = [0, 1, 2, 3, 4, 5]  # + mae, huber, cross_entropy, binary_cross_entropy
ALL_LOSS_NAMES = ["sse", "mse", "mae", "huber", "cross_entropy", "binary_cross_entropy"]
LOGIT_LOSSES = (4, 5)
RELU = 1

# Optimizer ids and the layout of `hyper` (see numpy_ref's docstring).
SGD_ID, ADAM_ID = 0, 1
LR, MOMENTUM, NESTEROV, BETA1, BETA2, EPS, L2, L1, T = range(9)

# Relative tolerance of a backend against the reference, per dtype; the absolute tolerance is the same
# number times the magnitude of the compared quantity (BLAS and native loops sum in different orders).
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}

_common = dict(
    deadline=None,
    database=None,  # write nothing into the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)
# "fastmlp": the default, derandomized so that CI runs are reproducible; "random": as many examples, new
# ones each run; "thorough": many more, random examples.
settings.register_profile("fastmlp", max_examples=25, derandomize=True, **_common)
settings.register_profile("random", max_examples=25, **_common)
settings.register_profile("thorough", max_examples=300, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastmlp"))


# ---- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(params=BACKENDS)
def backend(request):
    """Every backend name, explicitly: "cython", "numba", "numpy"."""
    return request.param


@pytest.fixture
def kernels(backend):
    """The kernel table (module) of `backend`; fails (does not skip) when the backend cannot load."""
    return get_backend(backend)[1]


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def ref():
    return numpy_ref


# ---- strategies -----------------------------------------------------------------------------------------

# Layer widths: many small and odd ones, sometimes wide (up to 300).
widths = st.one_of(st.integers(1, 9), st.integers(10, 40), st.sampled_from([64, 129, 300]))
batch_sizes = st.one_of(st.just(1), st.integers(1, 17))
seeds = st.integers(0, 2**32 - 1)


def layer_sizes(min_layers=1, max_layers=4, width=widths):
    """(n_0, ..., n_L) with L weight layers, min_layers <= L <= max_layers."""
    return st.lists(width, min_size=min_layers + 1, max_size=max_layers + 1).map(tuple)


# ---- random arrays --------------------------------------------------------------------------------------

def uniform(rng, shape, dtype, low=-1.0, high=1.0):
    """C-contiguous array of `dtype`, drawn in float64 then cast."""
    return np.ascontiguousarray(rng.uniform(low, high, size=shape).astype(dtype))


def normal(rng, shape, dtype, scale=1.0):
    return np.ascontiguousarray((scale * rng.standard_normal(shape)).astype(dtype))


def random_theta(rng, sizes, dtype, bias_scale=0.5):
    """Flat θ [W_0, b_0, ...] with Glorot-uniform weights and non-zero random biases."""
    parts = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        parts.append(rng.uniform(-limit, limit, size=n_out * n_in))
        parts.append(rng.uniform(-bias_scale, bias_scale, size=n_out))
    theta = np.concatenate(parts).astype(dtype)
    assert theta.size == n_params(sizes)
    return theta


def garbage(a):
    """Fill a workspace with NaN: a kernel must write what it reads, never trust a buffer's old content."""
    a[...] = np.nan
    return a


def as_sizes(sizes):
    return np.array(sizes, dtype=np.int64)


def as_acts(acts):
    return np.array(acts, dtype=np.int64)


# ---- comparisons ----------------------------------------------------------------------------------------

def magnitude(a):
    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def assert_close(actual, expected, dtype, scale=None, factor=1.0, what=""):
    """actual ≈ expected to the dtype's tolerance: rtol, and atol = rtol × the magnitude of `expected`
    (or `scale`). NaN in the same places on both sides counts as equal."""
    dtype = np.dtype(dtype)
    rtol = RTOL[dtype] * factor
    if scale is None:
        scale = magnitude(np.where(np.isfinite(expected), expected, 0))
    atol = rtol * max(scale, np.finfo(dtype).tiny)
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                               rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# ---- relu kinks -----------------------------------------------------------------------------------------

def pre_activations(theta, sizes, acts, X):
    """[Z_1, ..., Z_L] computed in float64 from (the exact values of) theta and X."""
    H = np.asarray(X, np.float64)
    out = []
    for (W, b), act in zip(numpy_ref._layers(np.asarray(theta, np.float64), sizes), acts):
        Z = H @ W.T + b
        out.append(Z)
        H = np.asarray(numpy_ref.activations.apply(int(act), Z))
    return out


def term_scales(theta, sizes, acts, X):
    """Per layer, the largest Σ_i |h_i w_ji| + |b_j| (float64, reference activations): the magnitude of
    the terms a layer's pre-activation sums. A dot product's rounding error scales with it, not with
    the (possibly cancelled) result, so it sets the absolute tolerance of a layer's output (every
    activation here is 1-Lipschitz)."""
    H = np.asarray(X, np.float64)
    out = []
    for (W, b), act in zip(numpy_ref._layers(np.asarray(theta, np.float64), sizes), acts):
        out.append(magnitude(np.abs(H) @ np.abs(W).T + np.abs(b)))
        H = np.asarray(numpy_ref.activations.apply(int(act), H @ W.T + b))
    return out


def relu_margin(theta, sizes, acts, X):
    """min |z| / max |z| over the relu layers' pre-activations (inf without relu layers).

    Near z = 0 the relu derivative jumps: two correct backends that round z differently can disagree in
    its sign there, so comparisons of gradients need every relu pre-activation clear of 0.
    """
    margin = np.inf
    for Z, act in zip(pre_activations(theta, sizes, acts, X), acts):
        if int(act) == RELU:
            scale = max(magnitude(Z), 1e-300)
            margin = min(margin, float(np.min(np.abs(Z))) / scale)
    return margin


# Required margin per dtype: far above either dtype's rounding of z, far below the typical spacing of z.
RELU_MARGIN = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


# ---- a whole network drawn by hypothesis ------------------------------------------------------------------

class Net:
    """A random network and batch: sizes, acts (int64 arrays and tuples), θ, X, Y, sw of one dtype."""

    def __init__(self, sizes, acts, theta, X, Y, sw, dtype):
        self.sizes_t, self.acts_t = tuple(sizes), tuple(acts)
        self.sizes, self.acts = as_sizes(sizes), as_acts(acts)
        self.theta, self.X, self.Y, self.sw, self.dtype = theta, X, Y, sw, np.dtype(dtype)
        self.n = X.shape[0]

    def __repr__(self):
        return (f"Net(sizes={self.sizes_t}, acts={self.acts_t}, n={self.n}, weighted={bool(self.sw.size)}, "
                f"dtype={self.dtype.name})")


def draw_net(data, dtype, act, loss=0, min_layers=1, max_layers=4, rows=batch_sizes, width=widths,
             relu_safe=True, output_acts=ACT_IDS):
    """Draw a network whose hidden layers use `act` and whose output activation is drawn from output_acts
    (identity for the logit losses), with θ, X, Y (valid for `loss`) and sample weights sw (drawn: none,
    i.e. empty, or positive).

    relu_safe: redraw θ and X until every relu pre-activation is clear of 0 (see relu_margin).
    """
    dtype = np.dtype(dtype)
    sizes = data.draw(layer_sizes(min_layers, max_layers, width), label="sizes")
    if loss in LOGIT_LOSSES:
        out_act = 0
    else:
        out_act = data.draw(st.sampled_from([act] + [a for a in output_acts if a != act]), label="output act")
    acts = [act] * (len(sizes) - 2) + [out_act]
    n = data.draw(rows, label="rows")
    weighted = data.draw(st.booleans(), label="sample weights")
    rng = np.random.default_rng(data.draw(seeds, label="seed"))
    for _ in range(30):
        theta = random_theta(rng, sizes, dtype)
        spread = 2.0 * min(1.0, 2.0 / np.sqrt(sizes[0]))  # wide inputs: rows of moderate norm
        X = uniform(rng, (n, sizes[0]), dtype, -spread, spread)
        sw = uniform(rng, n, dtype, 0.1, 2.0) if weighted else no_weights(dtype)
        if not relu_safe or relu_margin(theta, sizes, acts, X) >= RELU_MARGIN[dtype]:
            Y = targets_apart(rng, loss, theta, sizes, acts, X, dtype)
            return Net(sizes, acts, theta, X, Y, sw, dtype)
    assume(False)


def targets_apart(rng, loss, theta, sizes, acts, X, dtype):
    """Y valid for `loss` whose every ∂L/∂ŷ component is clear of 0 (and of huber's and mae's switches).

    ∂L/∂ŷ ∝ ŷ - y (σ(z) - y, softmax(z) - y for the logit losses): where ŷ ≈ y that difference cancels,
    and two correct float32 backends whose ŷ differ by rounding give gradients that differ relatively
    by much more than float32's epsilon. Targets drawn apart from the network's output avoid that.
    """
    z = np.asarray(X, np.float64)
    for Z, act in zip(pre_activations(theta, sizes, acts, X), acts):
        z = Z if act == 0 else np.asarray(numpy_ref.activations.apply(int(act), Z))
    n, m = z.shape
    if loss == 4:  # one-hot rows; softmax(z) - onehot is then bounded away from 0 unless the net is sure
        return np.ascontiguousarray(np.eye(m)[rng.integers(0, m, n)].astype(dtype))
    if loss == 5:  # y = σ(z) ∓ (0.15 .. 0.45), towards the middle of [0, 1]
        p = 1 / (1 + np.exp(-z))
        gap = rng.uniform(0.15, 0.45, p.shape)
        return np.ascontiguousarray(np.clip(np.where(p > 0.5, p - gap, p + gap), 0, 1).astype(dtype))
    gap = np.where(rng.random(z.shape) < 0.5, rng.uniform(0.2, 0.8, z.shape), rng.uniform(1.2, 2.0, z.shape))
    return np.ascontiguousarray((z + np.where(rng.random(z.shape) < 0.5, -gap, gap)).astype(dtype))


# ---- kernel arguments of the training kernels --------------------------------------------------------------

def hyper(lr, momentum=0.0, nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0, l1=0.0, t=0):
    """The float64 hyperparameter vector [lr, momentum, nesterov, beta1, beta2, eps, l2, l1, t]."""
    return np.array([lr, momentum, 1.0 if nesterov else 0.0, beta1, beta2, eps, l2, l1, t], np.float64)


def state_for(opt, hyp, size, dtype):
    """A zero optimizer state of the size the optimizer needs (as fastmlp.optim binds it)."""
    if opt == ADAM_ID:
        return np.zeros(2 * size, dtype)
    return np.zeros(size if hyp[MOMENTUM] > 0 else 0, dtype)


def no_weights(dtype):
    """sw for "no sample weights": an empty array."""
    return np.empty(0, dtype)


class Buffers:
    """The buffers of a fastmlp.workspace.Workspace for `rows` rows, filled with NaN (see garbage)."""

    def __init__(self, sizes, rows, dtype, fill_nan=True):
        ws = Workspace(sizes, rows, dtype)
        self.hbuf, self.dbuf, self.grad, self.xbuf, self.ybuf = ws.hbuf, ws.dbuf, ws.grad, ws.xbuf, ws.ybuf
        self.wbuf = ws.wbuf
        if fill_nan:
            for a in (self.hbuf, self.dbuf, self.grad, self.xbuf, self.ybuf, self.wbuf):
                garbage(a)


def targets(rng, loss, shape, dtype):
    """Y valid for the loss: probability rows for cross_entropy, values in [0, 1] for binary CE."""
    if loss == 4:
        logits = rng.standard_normal(shape)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        if rng.random() < 0.5:  # one-hot rows too
            p = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
        return np.ascontiguousarray(p.astype(dtype))
    if loss == 5:
        return np.ascontiguousarray(rng.uniform(0, 1, shape).astype(dtype))
    return normal(rng, shape, dtype)
