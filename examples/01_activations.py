"""Lecture step 1: the activation functions g and their derivatives g', printed as a table.

Each backend stores only h = g(z), so fastmlp writes every derivative as a function of h (see
fastmlp.activations); the last column checks it against a finite difference of g.

    python examples/01_activations.py        (with fastmlp installed, or PYTHONPATH=.)
"""
import numpy as np

from fastmlp import activations

Z = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
EPS = 1e-6

print("g(z) and g'(z) = g'(h), h = g(z), for each activation; 'numeric' is (g(z+ε) − g(z−ε)) / 2ε")
worst = 0.0
for name, act in activations.ACTIVATION_IDS.items():
    if name == "softmax":  # a function of a whole row, not of one z: no scalar g'(z) to tabulate
        print("\nsoftmax: per row, for the output layer with the cross-entropy loss (no scalar table)")
        continue
    h = activations.apply(act, Z)
    dg = activations.derivative_from_output(act, h)
    numeric = (activations.apply(act, Z + EPS) - activations.apply(act, Z - EPS)) / (2 * EPS)
    print(f"\n{name}")
    print(f"{'z':>8} {'g(z)':>10} {'g_prime(z)':>10} {'numeric':>10}")
    for zi, hi, di, ni in zip(Z, h, dg, numeric):
        print(f"{zi:>8.2f} {hi:>10.5f} {di:>10.5f} {ni:>10.5f}")
    kink = Z == 0.0 if name == "relu" else np.zeros_like(Z, bool)  # relu has no derivative at 0
    err = float(np.max(np.abs(dg - numeric)[~kink]))
    worst = max(worst, err)
    print(f"max |g' - numeric| = {err:.2e}")
print(f"\nall derivatives agree with finite differences: max error {worst:.1e}")
assert worst < 1e-6
