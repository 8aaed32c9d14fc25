"""The `fastmlp` command: `fastmlp demo` and `fastmlp playground` (also `python -m fastmlp ...`)."""
from __future__ import annotations

import argparse
import sys
import time


def demo(args) -> int:
    """Train the playground-sized net (2-8-8-1, tanh) on a built-in 2-D data set; print the loss falling."""
    import numpy as np

    import fastmlp
    from fastmlp import datasets

    X, y = datasets.load(args.dataset, n=args.samples, noise=args.noise, seed=args.seed)
    X = X / 6.0  # the data sets live in [-6, 6]²: unit scale suits tanh
    net = fastmlp.MLP([2, 8, 8, 1], activation="tanh", loss="mse", seed=args.seed, backend=args.backend)
    print(f"fastmlp {fastmlp.__version__}: {net}")
    print(f"data: {args.dataset}, {len(X)} samples; backends available: {fastmlp.available_backends()}")
    t0 = time.perf_counter()
    report_every = max(1, args.epochs // 10)
    for start in range(0, args.epochs, report_every):
        history = net.fit(X, y, epochs=min(report_every, args.epochs - start), batch_size=32, lr=args.lr)
        fit_sign = np.mean(np.sign(net.predict(X)[:, 0]) == np.sign(y))
        print(f"epoch {start + history.epochs:5d}  loss {history.loss[-1]:.5f}  sign accuracy {fit_sign:6.1%}")
    seconds = time.perf_counter() - t0
    print(f"{args.epochs} epochs in {seconds:.2f} s ({args.epochs * len(X) / seconds:,.0f} samples/s) "
          f"on the {net.backend} backend")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastmlp", description="fast multi-layer perceptrons")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train a small net on a built-in 2-D data set")
    p.add_argument("--dataset", default="circle",
                   choices=["circle", "xor", "gaussians", "spiral", "plane", "multi_gaussian"])
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, choices=["cython", "numba", "numpy"])
    from .playground.cli import add_arguments as playground_arguments
    from .playground.cli import run as playground

    pg = sub.add_parser("playground", help="the Neural Network Playground in the browser, trained live "
                                           "(or --headless: train and write a PNG)")
    playground_arguments(pg)
    args = parser.parse_args(argv)
    if args.command == "playground":
        return playground(args)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
