"""Backpropagation against finite differences (fastmlp.check_gradients), and proof that the check bites."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from conftest import ACT_NAMES, pre_activations
from fastmlp import MLP
from fastmlp.backends import numpy_ref

SIZES = (3, 5, 4, 2)


def _relu_safe_data(net, rows=6, margin=0.05, seed=0):
    """(X, Y) with every relu pre-activation at least `margin` away from 0 (relu's kink): the finite-difference
    steps (~1e-3 in θ) then never cross it. Redrawn from a seeded generator until that holds."""
    rng = np.random.default_rng(seed)
    theta = net.params.copy()
    for _ in range(1000):
        X = rng.uniform(-1.5, 1.5, (rows, net.layer_sizes[0]))
        Y = rng.standard_normal((rows, net.layer_sizes[-1]))
        Z = pre_activations(theta, net.layer_sizes, net._acts, X)
        if all(np.abs(z).min() > margin for z, a in zip(Z, net.activations) if a == "relu"):
            return X, Y
    raise AssertionError("no relu-safe data found")  # pragma: no cover


def _net(backend, act, loss, seed=0):
    net = MLP(SIZES, activation=act, output_activation=act, loss=loss, dtype="float64", seed=seed,
              backend=backend)
    net.params = np.random.default_rng(seed + 100).uniform(-1, 1, net.n_params)  # non-zero biases too
    return net


@pytest.mark.parametrize("loss", ["sse", "mse"])
@pytest.mark.parametrize("act", ACT_NAMES)
def test_gradients_match_finite_differences(backend, act, loss):
    net = _net(backend, act, loss)
    X, Y = _relu_safe_data(net)
    before = net.params.copy()
    error = fastmlp.check_gradients(net, X, Y)
    assert error < 1e-6, f"{backend} {act} {loss}: max relative error {error:.3g}"
    np.testing.assert_array_equal(net.params, before)  # θ restored


@pytest.mark.parametrize("act", ACT_NAMES)
def test_gradients_of_mixed_activations_and_shapes(backend, act):
    """Another shape (n_in = 1, a single row, a wide layer) with `act` in the middle of other activations."""
    net = MLP((1, 11, 3, 2), activation=[act, "tanh"], output_activation="sigmoid", loss="sse",
              dtype="float64", seed=1, backend=backend)
    net.params = np.random.default_rng(1).uniform(-1, 1, net.n_params)
    X, Y = _relu_safe_data(net, rows=1, seed=1)
    assert fastmlp.check_gradients(net, X, Y) < 1e-6


def test_gradients_of_relu_on_unfiltered_data(backend):
    """Plain random data for relu: the kinks are rarely hit, a tolerance that such data satisfies."""
    net = MLP((4, 16, 1), activation="relu", loss="mse", dtype="float64", seed=2, backend=backend)
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((20, 4)), rng.standard_normal((20, 1))
    assert fastmlp.check_gradients(net, X, Y) < 1e-4


@pytest.mark.parametrize("act", ACT_NAMES)
def test_a_wrong_activation_derivative_is_caught(monkeypatch, act):
    """The numpy backend's backprop calls the module-level activation_backward: scale it by 1.01."""
    net = _net("numpy", act, "sse")
    X, Y = _relu_safe_data(net)
    assert fastmlp.check_gradients(net, X, Y) < 1e-6
    original = numpy_ref.activation_backward

    def wrong(a, H, dH, dZ):
        original(a, H, dH, dZ)
        dZ *= 1.01

    monkeypatch.setattr(numpy_ref, "activation_backward", wrong)
    assert fastmlp.check_gradients(net, X, Y) > 1e-3


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softplus"])
def test_a_wrong_derivative_from_output_is_caught(monkeypatch, act):
    """Break g' itself (fastmlp.activations.derivative_from_output, which numpy_ref calls) for one activation."""
    from fastmlp import activations

    net = MLP(SIZES, activation=act, loss="sse", dtype="float64", seed=3, backend="numpy")
    X, Y = _relu_safe_data(net, seed=3)
    original = activations.derivative_from_output
    target = activations.activation_id(act)
    monkeypatch.setattr(activations, "derivative_from_output",
                        lambda a, h: original(a, h) * (1.01 if a == target else 1.0))
    assert fastmlp.check_gradients(net, X, Y) > 1e-3


@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_a_wrong_loss_gradient_is_caught(monkeypatch, loss):
    net = _net("numpy", "tanh", loss)
    X, Y = _relu_safe_data(net)
    original = numpy_ref.loss_forward_backward

    def wrong(*args):  # (loss, Yhat, Y, [sw,] dYhat): dYhat comes last
        value = original(*args)
        if args[-1] is not None:
            args[-1][...] *= 1.01
        return value

    monkeypatch.setattr(numpy_ref, "loss_forward_backward", wrong)
    assert fastmlp.check_gradients(net, X, Y) > 1e-3


def test_a_wrong_weight_gradient_is_caught(monkeypatch):
    """Transposed-input bug: dW from the wrong rows of H_prev (a reversed batch)."""
    net = _net("numpy", "tanh", "sse")
    X, Y = _relu_safe_data(net)
    original = numpy_ref.dense_backward

    def wrong(dZ, H_prev, W, dW, db, dH_prev):
        original(dZ, H_prev[::-1], W, dW, db, dH_prev)

    monkeypatch.setattr(numpy_ref, "dense_backward", wrong)
    assert fastmlp.check_gradients(net, X, Y) > 1e-3
