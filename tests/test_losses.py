"""The six losses: values and gradients against an independent NumPy re-derivation, sample weights,
numerical stability of the logit losses, every backend's loss_forward_backward kernel against numpy_ref,
and finite-difference gradient checks of whole small networks.

The reference below (`ref_loss`) is written from the formulas of fastmlp.losses' docstring, in a different
style from fastmlp's own code (logaddexp instead of a shifted log-sum-exp, a tanh-based sigmoid), and
never calls fastmlp.losses.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import fastmlp
from fastmlp import MLP, losses
from fastmlp.backends import get_backend, numpy_ref

BACKENDS = ["cython", "numba", "numpy"]
DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["float32", "float64"]
LOSSES = ["sse", "mse", "mae", "huber", "cross_entropy", "binary_cross_entropy"]
MEAN_LOSSES = ["mse", "mae", "huber", "cross_entropy", "binary_cross_entropy"]
LOSS_ID = {"sse": 0, "mse": 1, "mae": 2, "huber": 3, "cross_entropy": 4, "binary_cross_entropy": 5}
# Relative tolerance of a computation in a dtype against the float64 reference.
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


# ---- the independent reference ---------------------------------------------------------------------------

def ref_loss(name, Z, Y, w=None):
    """(L, ∂L/∂ŷ) in float64 from the documented formulas. Z: predictions (logits for the two
    cross-entropies), Y: targets, w: sample weights or None."""
    Z = np.asarray(Z, np.float64)
    Y = np.asarray(Y, np.float64)
    n, m = Z.shape
    w = np.ones(n) if w is None or np.size(w) == 0 else np.asarray(w, np.float64)
    W = float(np.sum(w))
    R = Z - Y
    wc = w[:, None]
    if name == "sse":
        return float(np.sum(wc * R ** 2)), 2.0 * wc * R
    if name == "mse":
        return float(np.sum(wc * R ** 2)) / (W * m), 2.0 * wc * R / (W * m)
    if name == "mae":
        return float(np.sum(wc * np.abs(R))) / (W * m), wc * np.sign(R) / (W * m)
    if name == "huber":
        small = np.abs(R) <= 1.0
        h = np.where(small, 0.5 * R ** 2, np.abs(R) - 0.5)
        dh = np.where(small, R, np.sign(R))
        return float(np.sum(wc * h)) / (W * m), wc * dh / (W * m)
    if name == "cross_entropy":
        lse = np.logaddexp.reduce(Z, axis=1)[:, None]
        log_p = Z - lse
        return float(-np.sum(wc * Y * log_p)) / W, wc * (np.exp(log_p) - Y) / W
    if name == "binary_cross_entropy":
        per = np.logaddexp(0.0, Z) - Y * Z
        sig = 0.5 * (1.0 + np.tanh(0.5 * Z))
        return float(np.sum(wc * per)) / (W * m), wc * (sig - Y) / (W * m)
    raise AssertionError(name)


def make_targets(rng, name, n, m, Z=None):
    """Y valid for the loss: one-hot / probability rows for cross_entropy, [0, 1] for binary CE; for the
    regression losses residuals kept clear of the kinks (0 for mae and huber, ±1 for huber)."""
    if name == "cross_entropy":
        return np.eye(m)[rng.integers(0, m, n)]
    if name == "binary_cross_entropy":
        return rng.uniform(0.0, 1.0, (n, m))
    if Z is None:
        return rng.standard_normal((n, m))
    magnitude = np.where(rng.random((n, m)) < 0.5, rng.uniform(0.1, 0.8, (n, m)), rng.uniform(1.2, 2.5, (n, m)))
    return Z - np.where(rng.random((n, m)) < 0.5, -1.0, 1.0) * magnitude


def case(seed, name, n=7, m=3, dtype=np.float64, weighted=False):
    """(Z, Y, w) of `dtype`: w an (n,) positive array or an empty array."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * 1.5
    Y = make_targets(rng, name, n, m, Z)
    w = rng.uniform(0.2, 3.0, n) if weighted else np.empty(0)
    return Z.astype(dtype), Y.astype(dtype), w.astype(dtype)


def kernel(backend):
    return get_backend(backend)[1]


def run_kernel(k, name, Z, Y, w, want_grad=True):
    dY = np.full_like(Z, np.nan) if want_grad else None
    value = k.loss_forward_backward(LOSS_ID[name], Z, Y, w, dY)
    return value, dY


# ---- the reference itself (sanity of ref_loss against finite differences) ----------------------------------

@pytest.mark.parametrize("name", LOSSES)
def test_reference_gradient_is_the_derivative_of_the_reference_value(name):
    Z, Y, w = case(1, name, weighted=True)
    _, G = ref_loss(name, Z, Y, w)
    h = 1e-6
    numeric = np.empty_like(Z)
    for idx in np.ndindex(*Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += h
        Zm[idx] -= h
        numeric[idx] = (ref_loss(name, Zp, Y, w)[0] - ref_loss(name, Zm, Y, w)[0]) / (2 * h)
    np.testing.assert_allclose(G, numeric, rtol=1e-6, atol=1e-8)


# ---- fastmlp.losses (the documented reference definitions) against the re-derivation ---------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", LOSSES)
def test_value_and_grad_match_independent_formulas(name, dtype, weighted):
    dtype = np.dtype(dtype)
    for seed in range(3):
        Z, Y, w = case(seed, name, dtype=dtype, weighted=weighted)
        value, grad = losses.value_and_grad(losses.loss_id(name), Z, Y, w if weighted else None)
        ref_value, ref_grad = ref_loss(name, Z, Y, w)
        assert isinstance(value, float)
        assert grad.dtype == dtype and grad.shape == Z.shape
        assert value == pytest.approx(ref_value, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(grad, ref_grad, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(ref_grad).max())


@pytest.mark.parametrize("name", LOSSES)
def test_known_values(name):
    """Hand-computed numbers for one tiny batch."""
    Z = np.array([[0.5, -2.0], [3.0, 0.0]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    expected = {
        "sse": 0.25 + 9.0 + 4.0 + 0.0,
        "mse": (0.25 + 9.0 + 4.0) / 4,
        "mae": (0.5 + 3.0 + 2.0) / 4,
        "huber": (0.125 + 2.5 + 1.5 + 0.0) / 4,
        "cross_entropy": (np.log(np.exp(0.5) + np.exp(-2.0)) + 2.0 + np.log(np.exp(3.0) + 1.0) - 3.0) / 2,
        "binary_cross_entropy": (np.log1p(np.exp(0.5)) + np.log1p(np.exp(2.0))
                                 + np.log1p(np.exp(-3.0)) + np.log(2.0)) / 4,
    }[name]
    assert ref_loss(name, Z, Y)[0] == pytest.approx(expected, rel=1e-14)
    assert losses.value_and_grad(losses.loss_id(name), Z, Y)[0] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("name", LOSSES)
def test_aliases_and_unknown_names(name):
    assert losses.loss_id(name) == LOSS_ID[name]
    assert losses.loss_id(name.upper()) == LOSS_ID[name]
    for alias, target in {"log_loss": "cross_entropy", "bce": "binary_cross_entropy", "l1": "mae",
                          "l2": "sse"}.items():
        assert losses.loss_id(alias) == LOSS_ID[target]
    with pytest.raises(ValueError, match="unknown loss"):
        losses.loss_id(name + "_nope")
    with pytest.raises(TypeError, match="loss"):
        losses.loss_id(LOSS_ID[name])


# ---- the loss kernel of every backend --------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_matches_numpy_ref_and_formulas(backend, name, dtype, weighted):
    dtype = np.dtype(dtype)
    k = kernel(backend)
    for seed, (n, m) in enumerate([(1, 1), (7, 3), (33, 5), (200, 2)]):
        Z, Y, w = case(10 + seed, name, n=n, m=m, dtype=dtype, weighted=weighted)
        Zc, Yc, wc = Z.copy(), Y.copy(), w.copy()
        value, dY = run_kernel(k, name, Z, Y, w)
        np.testing.assert_array_equal(Z, Zc)  # inputs untouched
        np.testing.assert_array_equal(Y, Yc)
        np.testing.assert_array_equal(w, wc)
        ref_value, ref_dY = run_kernel(numpy_ref, name, Z, Y, w)
        indep_value, indep_dY = ref_loss(name, Z, Y, w)
        tol = RTOL[dtype]
        assert float(value) == pytest.approx(ref_value, rel=tol, abs=tol * 1e-3)
        assert float(value) == pytest.approx(indep_value, rel=tol, abs=tol * 1e-3)
        assert dY.dtype == dtype
        scale = np.abs(indep_dY).max()
        np.testing.assert_allclose(dY, ref_dY, rtol=tol, atol=tol * scale, err_msg=f"{n}x{m} vs numpy_ref")
        np.testing.assert_allclose(dY, indep_dY, rtol=tol, atol=tol * scale, err_msg=f"{n}x{m} vs formulas")
        # Without a gradient buffer: the same value.
        value_only, _ = run_kernel(k, name, Z, Y, w, want_grad=False)
        assert float(value_only) == pytest.approx(float(value), rel=tol)


@settings(phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])  # no slow "explain" phase
@given(name=st.sampled_from(LOSSES), n=st.integers(1, 40), m=st.integers(1, 6), weighted=st.booleans(),
       scale=st.sampled_from([1e-3, 1.0, 30.0]), seed=st.integers(0, 2**32 - 1))
@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_random_shapes_float64(backend, name, n, m, weighted, scale, seed):
    k = kernel(backend)
    rng = np.random.default_rng(seed)
    Z = scale * rng.standard_normal((n, m))
    Y = make_targets(rng, name, n, m)
    w = rng.uniform(0.0, 3.0, n) if weighted else np.empty(0)
    if weighted:
        w[0] = 1.0  # never all zero
    value, dY = run_kernel(k, name, Z, Y, w)
    ref_value, ref_dY = ref_loss(name, Z, Y, w)
    assert value >= -1e-12
    assert value == pytest.approx(ref_value, rel=1e-11, abs=1e-300)
    np.testing.assert_allclose(dY, ref_dY, rtol=1e-11, atol=1e-13 * max(np.abs(ref_dY).max(), 1e-300))


# ---- sample weights ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_weights_equal_row_duplication(backend, name):
    """Weight k on a row is the same as that row k times: the same loss, and the weighted row's gradient
    is the sum of its copies' gradients."""
    k = kernel(backend)
    rng = np.random.default_rng(5)
    n, m = 6, 3
    Z = rng.standard_normal((n, m)) * 1.5
    Y = make_targets(rng, name, n, m, Z)
    counts = np.array([1, 3, 2, 1, 4, 2])
    rows = np.repeat(np.arange(n), counts)
    weighted_value, weighted_dY = run_kernel(k, name, Z, Y, counts.astype(np.float64))
    dup_value, dup_dY = run_kernel(k, name, np.ascontiguousarray(Z[rows]), np.ascontiguousarray(Y[rows]),
                                   np.empty(0))
    assert weighted_value == pytest.approx(dup_value, rel=1e-12)
    summed = np.zeros_like(Z)
    np.add.at(summed, rows, dup_dY)
    np.testing.assert_allclose(weighted_dY, summed, rtol=1e-12, atol=1e-15)
    # and both agree with the independent formula on the duplicated batch
    assert dup_value == pytest.approx(ref_loss(name, Z[rows], Y[rows])[0], rel=1e-12)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_weight_rows_have_no_influence(backend, name):
    k = kernel(backend)
    rng = np.random.default_rng(6)
    n, m = 8, 2
    Z = rng.standard_normal((n, m))
    Y = make_targets(rng, name, n, m, Z)
    w = rng.uniform(0.5, 2.0, n)
    w[[1, 4, 5]] = 0.0
    keep = w > 0
    value, dY = run_kernel(k, name, Z, Y, w)
    sub_value, sub_dY = run_kernel(k, name, np.ascontiguousarray(Z[keep]), np.ascontiguousarray(Y[keep]),
                                   np.ascontiguousarray(w[keep]))
    assert value == pytest.approx(sub_value, rel=1e-12)
    np.testing.assert_array_equal(dY[~keep], 0.0)
    np.testing.assert_allclose(dY[keep], sub_dY, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", MEAN_LOSSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_mean_losses_are_invariant_to_scaling_the_weights(backend, name):
    k = kernel(backend)
    Z, Y, w = case(7, name, weighted=True)
    v1, g1 = run_kernel(k, name, Z, Y, w)
    v2, g2 = run_kernel(k, name, Z, Y, 10.0 * w)
    assert v1 == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-16)
    # unit weights are the same as no weights
    v3, g3 = run_kernel(k, name, Z, Y, np.ones(Z.shape[0]))
    v4, g4 = run_kernel(k, name, Z, Y, np.empty(0))
    assert v3 == pytest.approx(v4, rel=1e-12)
    np.testing.assert_allclose(g3, g4, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sse_scales_with_the_weights(backend):
    k = kernel(backend)
    Z, Y, w = case(8, "sse", weighted=True)
    v1, g1 = run_kernel(k, "sse", Z, Y, w)
    v2, g2 = run_kernel(k, "sse", Z, Y, 3.0 * w)
    assert v2 == pytest.approx(3.0 * v1, rel=1e-12)
    np.testing.assert_allclose(g2, 3.0 * g1, rtol=1e-12)


# ---- through the model: net.loss / net.loss_and_grad with an identity layer ------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_model_loss_and_output_gradient(backend, name, weighted):
    """One layer with W = I, b = 0: ŷ (the logits for the logit losses) = X, so net.loss is the loss of X
    and ∂L/∂b = Σ_rows ∂L/∂ŷ, ∂L/∂W = (∂L/∂ŷ)ᵀ X."""
    m = 3
    Z, Y, w = case(9, name, n=11, m=m, weighted=weighted)
    net = MLP([m, m], loss=name, dtype="float64", backend=backend, seed=0)
    net.params = np.concatenate([np.eye(m).ravel(), np.zeros(m)])
    sw = w if weighted else None
    ref_value, ref_G = ref_loss(name, Z, Y, w)
    assert net.loss(Z, Y, sample_weight=sw) == pytest.approx(ref_value, rel=1e-12)
    value, grad = net.loss_and_grad(Z, Y, sample_weight=sw)
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad[:m * m].reshape(m, m), ref_G.T @ Z, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad[m * m:], ref_G.sum(0), rtol=1e-10, atol=1e-13)


# ---- stability of the logit losses -------------------------------------------------------------------------

def stable_softmax(Z):
    Z = np.asarray(Z, np.float64)
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_stable_for_huge_logits(backend, dtype):
    k = kernel(backend)
    rng = np.random.default_rng(11)
    n, m = 9, 4
    for scale in (1e4, -1e4):
        Z = (scale * rng.uniform(-1.0, 1.0, (n, m))).astype(dtype)
        Y = np.eye(m)[rng.integers(0, m, n)].astype(dtype)
        value, dY = run_kernel(k, "cross_entropy", Z, Y, np.empty(0, dtype))
        assert np.isfinite(value)
        assert np.isfinite(dY).all()
        # L = mean over rows of (max_j z_j − z_y) up to log-terms of at most log m
        Z64 = Z.astype(np.float64)
        gap = (Z64.max(1) - (Z64 * Y).sum(1)).mean()
        assert gap - 1e-2 <= value <= gap + np.log(m) + 1e-2  # float32 rounds 1e4 to ~1e-3
        assert value == pytest.approx(ref_loss("cross_entropy", Z, Y)[0], rel=1e-5)
        expected = (stable_softmax(Z) - Y.astype(np.float64)) / n
        np.testing.assert_allclose(dY, expected, rtol=0, atol=1e-6 / n)
    # exact values: a confident right answer costs 0, a confident wrong one the logit gap
    Z = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]], dtype)
    Y = np.array([[1.0, 0, 0], [0, 1.0, 0]], dtype)
    value, dY = run_kernel(k, "cross_entropy", Z, Y, np.empty(0, dtype))
    assert value == pytest.approx((0.0 + 2e4) / 2, rel=1e-6)
    np.testing.assert_allclose(dY, np.array([[0, 0, 0], [1.0, -1.0, 0]]) / 2, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_cross_entropy_stable_for_huge_logits(backend, dtype):
    k = kernel(backend)
    Z = np.array([[1e4, 1e4], [-1e4, -1e4], [1e4, -1e4]], dtype)
    Y = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.25]], dtype)
    value, dY = run_kernel(k, "binary_cross_entropy", Z, Y, np.empty(0, dtype))
    assert np.isfinite(value) and np.isfinite(dY).all()
    # per element softplus(z) − y z: 0, 1e4, 1e4, 0, 0.5e4, 0.25e4 ... (1 − y) z for z ≫ 0, −y z for z ≪ 0
    per = np.array([[0.0, 1e4], [1e4, 0.0], [0.5e4, 0.25e4]])
    assert value == pytest.approx(per.sum() / 6, rel=1e-6)
    expected = (np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]) - Y.astype(np.float64)) / 6
    np.testing.assert_allclose(dY, expected, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_logit_losses_through_the_model_with_huge_logits(backend):
    """The model hands the logits (not softmax / sigmoid outputs) to the loss: huge logits stay finite."""
    m = 3
    Z = np.array([[1e4, -1e4, 0.0], [-5e3, 2e4, 1.0]])
    Y = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    for name in ("cross_entropy", "binary_cross_entropy"):
        net = MLP([m, m], loss=name, dtype="float64", backend=backend, seed=0)
        net.params = np.concatenate([np.eye(m).ravel(), np.zeros(m)])
        value, grad = net.loss_and_grad(Z, Y)
        assert np.isfinite(value) and np.isfinite(grad).all()
        assert value == pytest.approx(ref_loss(name, Z, Y)[0], rel=1e-12)
        P = net.predict(Z)
        assert np.isfinite(P).all() and (P >= 0).all() and (P <= 1).all()


# ---- finite-difference gradient checks on small networks --------------------------------------------------

@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_check_gradients_whole_network(backend, name):
    rng = np.random.default_rng(21)
    n, m = 6, 3
    net = MLP([4, 5, m], activation="tanh", loss=name, dtype="float64", backend=backend, seed=3)
    # random biases, so that nothing starts at a special point
    theta = net.params.copy()
    theta += rng.uniform(-0.3, 0.3, theta.size)
    net.params = theta
    X = rng.uniform(-1.0, 1.0, (n, 4))
    out = net.predict(X)  # outputs of the model; residuals of the regression losses are kept off the kinks
    Y = make_targets(rng, name, n, m, out if name not in ("cross_entropy", "binary_cross_entropy") else None)
    err = fastmlp.check_gradients(net, X, Y)
    assert err < 1e-6, f"{name} on {backend}: relative gradient error {err}"
    np.testing.assert_array_equal(net.params, theta)  # θ restored


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_output_is_implied_by_cross_entropy(backend):
    net = MLP([2, 3], loss="cross_entropy", backend=backend, seed=0)
    assert net.activations[-1] == "softmax"
    net = MLP([2, 3], loss="binary_cross_entropy", backend=backend, seed=0)
    assert net.activations[-1] == "sigmoid"
    with pytest.raises(ValueError, match="output_activation"):
        MLP([2, 3], loss="cross_entropy", output_activation="identity", backend=backend)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MLP([2, 3], loss="cross_entropy", backend=backend).loss(np.zeros((2, 2)), np.full((2, 3), 2.0))
