"""Lecture step 2: without nonlinear activations, a deep network is one linear layer.

    ŷ = W_L(⋯(W_1(W_0 x + b_0) + b_1)⋯) + b_L = W̃ x + b̃,   W̃ = W_L ⋯ W_0,   b̃ = b_L + W_L b_{L−1} + ⋯

    python examples/02_linear_collapse.py    (with fastmlp installed, or PYTHONPATH=.)
"""
import numpy as np

import fastmlp

rng = np.random.default_rng(0)
net = fastmlp.MLP([3, 8, 8, 2], activation="identity", output_activation="identity", dtype="float64", seed=0)
net.params = rng.uniform(-1, 1, net.n_params)
W, b = fastmlp.linear_collapse(net)
X = rng.uniform(-2, 2, (100, 3))
gap = np.max(np.abs(net.predict(X) - (X @ W.T + b)))
print(f"{net}")
print(f"{len(net.weights)} layers, {net.n_params} parameters collapse to one layer:")
print(f"W~ = W_2 W_1 W_0, shape {W.shape}:\n{np.array2string(W, precision=4)}")
print(f"b~ = b_2 + W_2 b_1 + W_2 W_1 b_0: {np.array2string(b, precision=4)}")
print(f"max |predict(X) - (W~ x + b~)| over 100 samples: {gap:.2e}")
assert gap < 1e-12

tanh_net = fastmlp.MLP([3, 8, 2], activation="tanh", dtype="float64", seed=0)
try:
    fastmlp.linear_collapse(tanh_net)
except ValueError as exc:
    print(f"with a nonlinearity there is nothing to collapse: ValueError: {exc}")
else:
    raise SystemExit("a tanh network must not collapse")
