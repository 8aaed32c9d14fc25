"""`fastmlp playground`: serve the page (default) or train headless to a PNG (--headless)."""
from __future__ import annotations

import argparse
import sys

from . import config as cfg
from .errors import PlaygroundError

# command-line flag -> configuration field (the flags both modes share)
CONFIG_FLAGS = {"dataset": "dataset", "problem": "problem", "features": "features", "layers": "layers",
                "activation": "activation", "lr": "lr", "batch_size": "batch_size", "noise": "noise",
                "train_ratio": "train_ratio", "samples": "samples", "regularization": "regularization",
                "reg_rate": "reg_rate", "seed": "seed", "backend": "backend"}


def _list(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def _layers(text):
    try:
        return [int(t) for t in _list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers takes comma-separated widths like 8,8, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser):
    """The playground subcommand's options."""
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one, printed)")
    p.add_argument("--open", action="store_true", help="open the page in the web browser")
    p.add_argument("--session-ttl", type=float, default=1800.0, help="seconds an idle tab's session is kept")
    p.add_argument("--max-sessions", type=int, default=32, help="sessions kept at most (oldest dropped)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    c = p.add_argument_group("set-up (both modes; in server mode they become the page's starting link)")
    c.add_argument("--url", help="a playground link (or its part after '#') to start from")
    c.add_argument("--dataset", choices=[d for d in cfg.DATASETS if d != "custom"])
    c.add_argument("--problem", choices=cfg.PROBLEMS, help="default: the data set's")
    c.add_argument("--features", type=_list, help="comma-separated, from: " + ", ".join(cfg.FEATURE_ORDER))
    c.add_argument("--layers", type=_layers, help="hidden layer widths, e.g. 8,8 (empty string: none)")
    c.add_argument("--activation", choices=cfg.ACTIVATIONS)
    c.add_argument("--lr", type=float)
    c.add_argument("--batch-size", type=int)
    c.add_argument("--noise", type=int, help="0..50 (percent)")
    c.add_argument("--train-ratio", type=int, help="10..90 (percent)")
    c.add_argument("--samples", type=int)
    c.add_argument("--regularization", choices=cfg.REGULARIZATIONS)
    c.add_argument("--reg-rate", type=float)
    c.add_argument("--seed", type=int)
    c.add_argument("--backend", choices=cfg.BACKENDS)
    h = p.add_argument_group("headless")
    h.add_argument("--headless", action="store_true", help="train without a browser and write a PNG")
    h.add_argument("--epochs", type=int, default=500)
    h.add_argument("--out", default="playground.png", help="PNG to write (default playground.png)")
    h.add_argument("--width", type=int, default=1200, help="PNG width in pixels")
    h.add_argument("--height", type=int, default=600, help="PNG height in pixels")


def config_from_args(args) -> tuple:
    """(Config, whether any set-up option was given) from --url and the set-up flags."""
    base = cfg.from_query(args.url) if args.url else cfg.Config()
    raw = {field: getattr(args, flag) for flag, field in CONFIG_FLAGS.items() if getattr(args, flag) is not None}
    if "dataset" in raw and "problem" not in raw:
        raw["problem"] = "regression" if raw["dataset"] in cfg.REGRESSION_SETS else "classification"
    return cfg.validate(raw, base), bool(raw or args.url)


def run(args) -> int:
    try:
        config, given = config_from_args(args)
        if args.headless:
            return _headless(args, config)
    except PlaygroundError as exc:
        print(f"fastmlp playground: {exc}", file=sys.stderr)
        return 2
    problem = None
    if not 0 <= args.port <= 65535:
        problem = f"--port must be 0..65535, got {args.port}"
    elif not args.session_ttl > 0 or args.max_sessions < 1:
        problem = "--session-ttl must be positive and --max-sessions at least 1"
    if problem:
        print(f"fastmlp playground: {problem}", file=sys.stderr)
        return 2
    from .server import serve

    try:
        return serve(args.host, args.port, open_browser=args.open, ttl=args.session_ttl,
                     max_sessions=args.max_sessions, verbose=args.verbose,
                     fragment=cfg.to_query(config) if given else "")
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        print(f"fastmlp playground: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2


def _headless(args, config) -> int:
    import time

    from . import headless

    if not 0 <= args.epochs <= 1_000_000:
        raise PlaygroundError(f"--epochs must be 0..1000000, got {args.epochs}")
    if not (16 <= args.width <= 10000 and 16 <= args.height <= 10000):
        raise PlaygroundError("--width and --height must be 16..10000 pixels")
    t0 = time.perf_counter()
    session = headless.train(config, args.epochs)
    seconds = time.perf_counter() - t0
    headless.render(session, args.out, width=args.width, height=args.height)
    loss = session.losses()
    print(f"{session.epoch} epochs in {seconds:.2f} s on {session.net.backend}: train loss {loss['train']:.4f}, "
          f"test loss {loss['test']:.4f} -> {args.out} ({args.width}x{args.height})")
    if session.diverged:
        print(f"warning: {session.diverged}", file=sys.stderr)
    print(f"link: #{cfg.to_query(config)}")
    return 0
