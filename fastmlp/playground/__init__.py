"""The playground: the lecture's Neural Network Playground (after TensorFlow Playground) in the browser,
trained live by fastmlp.

    fastmlp playground                  # serves the page on 127.0.0.1, a free port (printed); --open
    fastmlp playground --headless --dataset spiral --layers 8,8 --epochs 500 --out spiral.png

Modules, one job each:

    config    the configuration: fields, defaults, validation, its URL (query) form
    features  the input features x1, x2, x1², x2², x1·x2, sin x1, sin x2
    data      built-in data sets from a seed, the train/test split, uploaded CSVs
    training  the network, its training step and the loss shown (TF Playground's ½·MSE)
    grids     the plane as a grid, heatmaps packed for the page
    session   one tab's run (Session) and the bounded, expiring store of them (SessionStore)
    snippet   the exported Python code recreating a run
    server    HTTP: the static page and the JSON API (standard library only)
    headless  train without a browser, write a PNG (matplotlib)
    cli       the `fastmlp playground` command line
    static/   the page: index.html, playground.css, js/*.js (plain ES modules, no build step)
"""
from __future__ import annotations

from .config import Config, from_query, to_query, validate
from .errors import PlaygroundError
from .session import Session, SessionStore

__all__ = ["Config", "PlaygroundError", "Session", "SessionStore", "from_query", "to_query", "validate"]
