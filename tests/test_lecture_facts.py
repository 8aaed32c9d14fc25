"""Facts from the lecture, checked on every backend."""
from __future__ import annotations

import numpy as np
import pytest

from fastmlp import MLP


@pytest.mark.parametrize("sizes", [(3, 5, 4, 2), (1, 7, 1), (4, 9, 9, 9, 3), (2, 3)])
def test_identity_network_is_one_affine_map(backend, dtype, sizes):
    """Without nonlinearities a deep network collapses to ŷ = W̃ x + b̃, W̃ = W_L⋯W_0,
    b̃ = b_L + W_L b_{L-1} + W_L W_{L-1} b_{L-2} + ⋯ (computed here by hand from the views)."""
    net = MLP(sizes, activation="identity", output_activation="identity", dtype=dtype.name, seed=0,
              backend=backend)
    rng = np.random.default_rng(1)
    net.params = rng.uniform(-1, 1, net.n_params)  # non-zero biases
    W_tot, b_tot = np.eye(sizes[0]), np.zeros(sizes[0])
    for W, b in zip(net.weights, net.biases):
        W, b = W.astype(np.float64), b.astype(np.float64)
        W_tot, b_tot = W @ W_tot, W @ b_tot + b
    assert W_tot.shape == (sizes[-1], sizes[0]) and b_tot.shape == (sizes[-1],)
    X = rng.uniform(-3, 3, (25, sizes[0]))
    expected = X.astype(dtype).astype(np.float64) @ W_tot.T + b_tot
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(net.predict(X), expected, rtol=tol, atol=tol * np.abs(expected).max())
    # ...and it is affine: ŷ(x + y) - ŷ(y) = W̃ x
    d = net.predict(X[:1] + X[1:]) - net.predict(X[1:])
    np.testing.assert_allclose(d, np.broadcast_to(X[:1] @ W_tot.T, d.shape), rtol=10 * tol,
                               atol=10 * tol * np.abs(expected).max())


def test_a_nonlinear_network_is_not_affine(backend):
    """The converse, so the test above could fail: with tanh the affine identity breaks."""
    net = MLP((2, 8, 1), activation="tanh", dtype="float64", seed=0, backend=backend)
    x = np.array([[1.0, -2.0], [0.5, 0.5], [1.5, -1.5]])
    y = net.predict(x)
    assert abs((y[0] + y[1]) / 2 - y[2]).max() > 1e-3  # x_2 is the midpoint of x_0 and x_1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_hidden_layer_tanh_fits_sine(backend, seed):
    """Universal approximation in practice: [1, 32, 1] tanh, minibatch gradient descent, sin on [-π, π]."""
    X = np.linspace(-np.pi, np.pi, 64).reshape(-1, 1)
    Y = np.sin(X)
    net = MLP([1, 32, 1], activation="tanh", loss="mse", dtype="float64", seed=seed, backend=backend)
    untrained = net.loss(X, Y)
    history = net.fit(X, Y, epochs=1000, batch_size=4, lr=0.03)
    X_test = np.linspace(-np.pi, np.pi, 201).reshape(-1, 1)  # between the training points too
    mse = float(np.mean((net.predict(X_test) - np.sin(X_test)) ** 2))
    assert mse < 1e-2, f"mean squared error {mse:.3g} after training"
    assert history.loss[-1] < untrained / 10
    assert np.isfinite(net.params).all()
