"""Headless mode: train a configuration without a browser and write a PNG of the decision boundary (or
regression surface) with the data and the loss curve, for slides and papers.

Uses matplotlib's object API with the Agg canvas (the optional `plot` extra), never pyplot: nothing global
changes, so it is safe inside other programs and threads.
"""
from __future__ import annotations

import numpy as np

from . import features, grids
from .config import Config
from .data import EXTENT
from .session import Session

TF_COLOURS = ("#f59322", "#e8eaeb", "#0877bd")  # TF Playground's scale: -1 orange, 0 grey-white, +1 blue
IMAGE_GRID = 200  # the picture's heatmap resolution


def train(config: Config, epochs: int) -> Session:
    """A session trained for `epochs` epochs, in ≤ ~500 steps (one loss-curve point each)."""
    session = Session(config)
    chunk = max(1, -(-epochs // 500))
    while session.epoch < epochs and not session.diverged:
        session.step(min(chunk, epochs - session.epoch))
    return session


def _title(session: Session) -> str:
    c = session.config
    layers = "-".join(map(str, c.layers)) or "no hidden layer"
    reg = f", {c.regularization.upper()} {c.reg_rate:g}" if c.regularization != "none" else ""
    return (f"{c.dataset} ({c.problem}) · features {', '.join(c.features)} · hidden {layers} · {c.activation} · "
            f"lr {c.lr:g}{reg} · batch {c.batch_size}")


def render(session: Session, path, width=1200, height=600, dpi=100):
    """Write a width × height pixel PNG to `path`: the output heatmap with the points, and the loss curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    cmap = LinearSegmentedColormap.from_list("tf_playground", TF_COLOURS)
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(1, 2, width_ratios=(1, 1.15), left=0.05, right=0.97, top=0.86, bottom=0.1, wspace=0.18)
    ax, ax_loss = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])

    F = features.transform(grids.plane(IMAGE_GRID), session.config.features)
    out = session.net.predict(F.astype(np.float32))[:, 0].reshape(IMAGE_GRID, IMAGE_GRID)
    ax.imshow(out, cmap=cmap, vmin=-1, vmax=1, extent=(-EXTENT, EXTENT, -EXTENT, EXTENT),
              interpolation="bilinear", alpha=0.85)
    run = session.run
    for idx, edge in ((run.train_idx, "white"), (run.test_idx, "black")):
        pts = run.points
        ax.scatter(pts.X[idx, 0], pts.X[idx, 1], c=np.clip(pts.y[idx], -1, 1), cmap=cmap, vmin=-1, vmax=1,
                   s=18, edgecolors=edge, linewidths=0.7)
    ax.set_xlim(-EXTENT, EXTENT)
    ax.set_ylim(-EXTENT, EXTENT)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(handles=[  # neutral markers: the points' own colours are their labels
        Line2D([], [], ls="", marker="o", mfc="#bbbbbb", mec="white", label="train"),
        Line2D([], [], ls="", marker="o", mfc="#bbbbbb", mec="black", label="test")],
        loc="upper right", fontsize=8, framealpha=0.8)
    what = "decision boundary" if session.config.problem == "classification" else "regression surface"
    ax.set_title(what, fontsize=10)

    h = np.array(session.history, dtype=np.float64)
    ax_loss.plot(h[:, 0], h[:, 1], color="#888888", lw=1.5, label=f"train {h[-1, 1]:.4f}")
    ax_loss.plot(h[:, 0], h[:, 2], color="#222222", lw=1.5, label=f"test {h[-1, 2]:.4f}")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (½ · MSE)")
    ax_loss.set_ylim(bottom=0)
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=9)
    ax_loss.set_title("loss over time", fontsize=10)

    status = f"{session.epoch} epochs on the {session.net.backend} backend"
    if session.diverged:
        status += " — training diverged (try a smaller learning rate)"
    fig.suptitle(f"fastmlp playground: {_title(session)}\n{status}", fontsize=10)
    fig.savefig(path, dpi=dpi, format="png")
