"""Lecture step 5: gradient descent. Train a small network on y = sin(x) with fit and watch the loss fall.

    python examples/05_gradient_descent.py   (with fastmlp installed, or PYTHONPATH=.)
"""
import numpy as np

import fastmlp

X = np.linspace(-np.pi, np.pi, 128).reshape(-1, 1)
Y = np.sin(X)
net = fastmlp.MLP([1, 16, 1], activation="tanh", loss="mse", dtype="float64", seed=0)
print(f"{net}, {net.n_params} parameters, data: sin on [-pi, pi], {len(X)} samples")
print(f"{'epoch':>6} {'mse':>12}")
print(f"{0:>6} {net.loss(X, Y):>12.6f}")
first = net.loss(X, Y)
epochs = 0
for _ in range(10):
    history = net.fit(X, Y, epochs=200, batch_size=16, lr=0.02)
    epochs += history.epochs
    print(f"{epochs:>6} {history.loss[-1]:>12.6f}")
last = net.loss(X, Y)
print(f"loss fell from {first:.4f} to {last:.6f} in {epochs} epochs of minibatch gradient descent")
assert last < first / 20
