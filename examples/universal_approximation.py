"""Universal approximation: one hidden layer of ReLUs can get as close to f as we like - by construction.

Part 1 builds fastmlp.relu_bumps(f, lo, hi, n) (n bumps, 2n hidden units, no training) for sin on
[0, 2π] and |x| on [−1, 1] and prints the max error for n = 10, 100, 1000 next to the bound
L (hi − lo) / (2n): the error falls like 1/n. With matplotlib installed it draws f and the approximations.
Part 2 trains a network of the same shape with gradient descent (net.fit) and compares.

    python examples/universal_approximation.py [plot.png]   (default: universal_approximation.png here)
"""
import math
import sys
import time

import numpy as np

import fastmlp
from fastmlp.approx import max_error

FUNCTIONS = [  # name, f, lo, hi, Lipschitz constant
    ("sin(x)", math.sin, 0.0, 2 * math.pi, 1.0),
    ("|x|", abs, -1.0, 1.0, 1.0),
]
SIZES = (10, 100, 1000)


def part1():
    print("Part 1: the construction, n bumps = 2n ReLUs, error max |F - f| on 10001 points")
    print(f"{'f':>8} {'n':>6} {'hidden':>7} {'max error':>12} {'bound L(hi-lo)/2n':>18} {'error * n':>10}")
    errors = {}
    for name, f, lo, hi, lip in FUNCTIONS:
        for n in SIZES:
            net = fastmlp.relu_bumps(f, lo, hi, n)
            err = max_error(net, f, lo, hi)
            errors[name, n] = err
            print(f"{name:>8} {n:>6} {2 * n:>7} {err:>12.3e} {lip * (hi - lo) / (2 * n):>18.3e} {err * n:>10.4f}")
    print("each tenfold n divides the error by ten: error ~ C/n")
    return errors


def plot(path):
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no plot (pip install matplotlib to get {path})")
        return
    fig, axes = plt.subplots(1, len(FUNCTIONS), figsize=(11, 4))
    for ax, (name, f, lo, hi, _) in zip(axes, FUNCTIONS):
        z = np.linspace(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), 2001)
        ax.plot(z, [f(v) for v in z], "k", lw=2.5, label=name)
        for n in (3, 10, 100):
            net = fastmlp.relu_bumps(f, lo, hi, n)
            ax.plot(z, net.predict(z[:, None]).ravel(), lw=1, label=f"n = {n} bumps")
        ax.axvspan(lo, hi, color="0.93", zorder=0)
        ax.set_title(f"relu_bumps approximations of {name}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def part2(errors):
    name, f, lo, hi, _ = FUNCTIONS[0]
    hidden = 20
    print(f"\nPart 2: training a [1, {hidden}, 1] ReLU network on {name} with gradient descent (fit)")
    X = np.linspace(lo, hi, 200).reshape(-1, 1)
    Y = np.sin(X)
    # Gradient descent is far more reliable on inputs of unit scale: train on u = (x - c)/r in [-1, 1] ...
    c, r = (lo + hi) / 2, (hi - lo) / 2
    net = fastmlp.MLP([1, hidden, 1], activation="relu", output_activation="identity", loss="mse",
                      dtype="float64", seed=0)
    t0 = time.perf_counter()
    history = net.fit((X - c) / r, Y, epochs=1000, batch_size=20, lr=0.05)
    seconds = time.perf_counter() - t0
    # ... then fold the scaling into the first layer, W u + b = (W/r) x + (b - W c/r), using the augmented
    # form [W | b]: the result is an ordinary [1, 20, 1] network on x, like the construction's.
    first, last = net.augmented_weights()
    W, b = first[:, :1], first[:, 1:]
    folded = fastmlp.MLP.from_augmented_weights([np.hstack([W / r, b - W * c / r]), last], activation="relu",
                                                output_activation="identity")
    trained = max_error(folded, f, lo, hi)
    print(f"{history.epochs} epochs in {seconds:.1f} s on the {net.backend} backend, "
          f"mse {history.loss[0]:.3f} -> {history.loss[-1]:.4f}")
    print(f"{'method':>22} {'hidden units':>13} {'max error':>10}")
    print(f"{'construction, n = 10':>22} {20:>13} {errors[name, 10]:>10.4f}")
    print(f"{'gradient descent':>22} {hidden:>13} {trained:>10.4f}")
    print(f"{'construction, n = 100':>22} {200:>13} {errors[name, 100]:>10.4f}")
    print("training puts the kinks where sin bends, the construction spreads them evenly: with the same\n"
          "units training can do better, but only the construction comes with a guaranteed error bound")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "universal_approximation.png"
    errs = part1()
    plot(out)
    part2(errs)
