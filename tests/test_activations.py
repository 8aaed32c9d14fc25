"""Activations at extreme pre-activations, and NaN propagation, on every backend.

Values go through dense_forward with a 1x1 identity weight (h = g(z) for z = the input), derivatives
through activation_backward with dH = 1. The expected numbers are computed here in float64 from closed
forms that are exact at these points, not taken from numpy_ref.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import ACT_IDS, ACT_NAMES, garbage
from fastmlp import activations
from fastmlp.backends import numpy_ref

Z = [1e4, -1e4, 1e3, -1e3, 100.0, -100.0, 0.0, 1.0, -1.0]


def _sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


EXACT = {  # act: (g, g')
    activations.IDENTITY: (lambda z: z, lambda z: 1.0),
    activations.RELU: (lambda z: max(z, 0.0), lambda z: 1.0 if z > 0 else 0.0),
    activations.SIGMOID: (_sigmoid, lambda z: _sigmoid(z) * _sigmoid(-z)),
    activations.TANH: (math.tanh, lambda z: 1 / math.cosh(z) ** 2 if abs(z) < 300 else 0.0),
    activations.SOFTPLUS: (_softplus, _sigmoid),
}


def _through_layer(kernels, act, z, dtype):
    """h = g(z) via dense_forward with W = [[1]], b = [0]; g'(z) via activation_backward with dH = 1."""
    X = np.array(z, dtype).reshape(-1, 1)
    W, b = np.ones((1, 1), dtype), np.zeros(1, dtype)
    H = garbage(np.empty_like(X))
    kernels.dense_forward(X, W, b, act, H)
    dZ = garbage(np.empty_like(X))
    kernels.activation_backward(act, H, np.ones_like(X), dZ)
    return H[:, 0], dZ[:, 0]


@pytest.mark.parametrize("act", ACT_IDS, ids=ACT_NAMES)
def test_extreme_inputs_finite_and_correct(kernels, dtype, act):
    h, dh = _through_layer(kernels, act, Z, dtype)
    assert np.isfinite(h).all(), f"g(z) not finite at z={np.array(Z)[~np.isfinite(h)]}"
    assert np.isfinite(dh).all(), f"g'(z) not finite at z={np.array(Z)[~np.isfinite(dh)]}"
    g, dg = EXACT[act]
    rtol = 4 * np.finfo(dtype).eps if act in (activations.IDENTITY, activations.RELU) else 1e-5 \
        if dtype == np.float32 else 1e-13
    expected_h = np.array([g(z) for z in Z])
    expected_dh = np.array([dg(z) for z in Z])
    # values: relative accuracy; results below the dtype's smallest normal may flush to zero
    np.testing.assert_allclose(h, expected_h, rtol=rtol, atol=float(np.finfo(dtype).tiny))
    # derivatives lie in [0, 1]: relative accuracy, or absolute to the dtype's epsilon near 0
    np.testing.assert_allclose(dh, expected_dh, rtol=rtol, atol=float(np.finfo(dtype).eps))


@pytest.mark.parametrize("act", [activations.IDENTITY, activations.RELU], ids=["identity", "relu"])
def test_identity_and_relu_are_exact(kernels, dtype, act):
    rng = np.random.default_rng(act)
    z = np.concatenate([np.array(Z), rng.standard_normal(50) * 10.0 ** rng.integers(-30, 30, 50),
                        [0.0, -0.0, np.finfo(dtype).max, -np.finfo(dtype).max, np.finfo(dtype).tiny]])
    z = z.astype(dtype)
    h, dh = _through_layer(kernels, act, z, dtype)
    if act == activations.IDENTITY:
        np.testing.assert_array_equal(h, z)
        np.testing.assert_array_equal(dh, np.ones_like(z))
    else:
        np.testing.assert_array_equal(h, np.where(z > 0, z, 0))
        assert not np.signbit(h).any() or not h[np.signbit(h)].any()  # -0.0 allowed, negatives not
        np.testing.assert_array_equal(dh, (z > 0).astype(dtype))


@pytest.mark.parametrize("act", ACT_IDS, ids=ACT_NAMES)
def test_derivative_matches_reference_across_range(kernels, dtype, act):
    """g' from h on a dense grid of z, against numpy_ref, including the saturated tails."""
    z = np.linspace(-40, 40, 801).astype(dtype)
    h, dh = _through_layer(kernels, act, z, dtype)
    ref_h = np.empty((z.size, 1), dtype)
    numpy_ref.dense_forward(z.reshape(-1, 1), np.ones((1, 1), dtype), np.zeros(1, dtype), act, ref_h)
    ref_dh = np.empty_like(ref_h)
    numpy_ref.activation_backward(act, ref_h, np.ones_like(ref_h), ref_dh)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(h, ref_h[:, 0], rtol=tol, atol=tol * np.abs(ref_h).max())
    # derivatives are compared from each backend's own h, to an absolute tolerance (they lie in [0, 1])
    np.testing.assert_allclose(dh, ref_dh[:, 0], rtol=tol, atol=tol)


@pytest.mark.parametrize("act", ACT_IDS, ids=ACT_NAMES)
def test_nan_input_gives_nan_output(kernels, dtype, act):
    """dense_forward on a row with a NaN gives NaN in every output of that row, like numpy_ref;
    the other rows stay finite."""
    X = np.array([[0.5, -1.0, 2.0], [np.nan, 0.1, 0.2], [1.0, 1.0, 1.0], [3.0, np.nan, np.nan]], dtype)
    W = np.array([[1.0, 2.0, -1.0], [0.0, 0.0, 0.5]], dtype)  # a zero weight on the NaN too: 0·NaN = NaN
    b = np.array([0.1, -0.1], dtype)
    H = garbage(np.empty((4, 2), dtype))
    H[...] = 0
    kernels.dense_forward(X, W, b, act, H)
    expected = np.empty_like(H)
    numpy_ref.dense_forward(X, W, b, act, expected)
    assert np.isnan(expected[[1, 3]]).all() and np.isfinite(expected[[0, 2]]).all()  # the oracle's behaviour
    assert np.isnan(H[[1, 3]]).all(), f"NaN lost: {H}"
    assert np.isfinite(H[[0, 2]]).all()


@pytest.mark.parametrize("act", ACT_IDS, ids=ACT_NAMES)
def test_nan_gradient_propagates(kernels, dtype, act):
    """activation_backward: a NaN in dH gives NaN in dZ where g' ≠ 0 (0 · NaN is NaN in numpy_ref too)."""
    z = np.array([[-1.0, 0.5, 2.0]], dtype)
    H = activations.apply(act, z)
    dH = np.array([[np.nan, np.nan, 1.0]], dtype)
    dZ = garbage(np.empty_like(H))
    kernels.activation_backward(act, H, dH, dZ)
    assert np.isnan(dZ[0, 1]), "NaN in dH lost where g'(z) > 0"
    assert np.isfinite(dZ[0, 2])
    expected = np.empty_like(H)
    numpy_ref.activation_backward(act, H, dH, expected)
    assert np.isnan(expected[0, 1])
    if act != activations.RELU:  # relu at h = 0: whether 0 · NaN is NaN is the backend's choice
        assert np.isnan(dZ[0, 0])
