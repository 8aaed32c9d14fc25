"""The exported Python snippet: plain fastmlp code that recreates and trains a session's network.

It rebuilds the same data (same generator, seed and split), the same feature columns (the expressions of
features.py, verbatim), the same MLP (sizes, activations, loss, dtype, seed) and calls fit with the same
settings for the session's epoch count. Training in one fit call equals the playground's many small ones
(plain SGD keeps no state and the shuffling draws from the model's own generator), so on the same backend the
snippet ends with the session's weights exactly, unless the learning rate, regularization or batch size was
changed during training (the snippet then says so and uses the current settings throughout).
"""
from __future__ import annotations

import json

from . import features
from .config import Config
from .data import noise_value
from .training import DTYPE, LOSS, OUTPUT_ACTIVATION, regularization_args

CSV_NAME = "my_points.csv"


def _q(text: str) -> str:
    """A double-quoted Python string literal (JSON's quoting is valid Python for these names)."""
    return json.dumps(text)


def _data_lines(config: Config, custom_header: bool | None) -> list:
    if config.dataset == "custom":
        skip = ", skiprows=1" if custom_header else ""
        lines = [f"data = np.loadtxt({_q(CSV_NAME)}, delimiter=\",\"{skip})   # your uploaded CSV: x1,x2,label",
                 "X, y = data[:, :2], data[:, 2]"]
        if config.problem == "classification":
            lines.append("y = np.where(y > 0, 1.0, -1.0)   # labels as ±1 (a 0/1 file's 0 becomes -1)")
        return lines
    noise = noise_value(config.dataset, config.noise)
    return [f"X, y = datasets.load({_q(config.dataset)}, n={config.samples}, noise={noise!r}, seed=SEED)"
            "   # points in [-6, 6]²"]


def make_snippet(config: Config, epochs: int, n_train: int, custom_header: bool | None = None,
                 changed_during_training: bool = False) -> str:
    """Python source (str) that recreates `config`'s network and trains it for `epochs` epochs on the
    first n_train points of the split."""
    names = list(config.features)
    reg = regularization_args(config)
    backend = f", backend={_q(config.backend)}" if config.backend else ""
    imports = ["import numpy as np", "", "import fastmlp"]
    if config.dataset != "custom":
        imports.append("from fastmlp import datasets")
    note = []
    if changed_during_training:
        note = ["# The learning rate, regularization or batch size changed during the playground's training:",
                "# this trains every epoch with the settings current at export, so the weights may differ."]
    lines = [
        f'"""fastmlp playground set-up: {config.dataset} data ({config.problem}), features {", ".join(names)},',
        f"hidden layers {list(config.layers) or 'none'}, {config.activation}, learning rate {config.lr:g}, "
        f"{epochs} epochs.",
        "",
        "Recreates the playground's data, train/test split, initial weights and shuffling: on the same backend",
        'the trained weights equal those of the session this was exported from."""',
        *imports,
        "",
        f"SEED = {config.seed}",
        *_data_lines(config, custom_header),
        "order = np.random.default_rng(SEED + 1).permutation(len(y))   # the playground's train/test split",
        f"train, test = order[:{n_train}], order[{n_train}:]",
        "",
        "",
        "def features(X):",
        f'    """The network\'s inputs {", ".join(names)}: (n, 2) points -> (n, {len(names)})."""',
        "    x1, x2 = X[:, 0], X[:, 1]",
        f"    return np.column_stack([{', '.join(features.expressions(names))}])",
        "",
        "",
        f"net = fastmlp.MLP({list(config.layer_sizes)}, activation={_q(config.activation)}, "
        f"output_activation={_q(OUTPUT_ACTIVATION[config.problem])},",
        f"                  loss={_q(LOSS)}, dtype={_q(DTYPE)}, seed=SEED{backend})",
        *note,
        f"net.fit(features(X[train]), y[train, None], epochs={epochs}, batch_size={config.batch_size}, "
        f"lr={config.lr!r}, optimizer=\"sgd\",",
        f"        alpha={reg['alpha']!r}, l1={reg['l1']!r}, shuffle=True)",
        "",
        "",
        "def playground_loss(X, y):",
        '    """The loss the playground shows: ½ · mean squared error, as in TF Playground."""',
        "    return 0.5 * float(np.mean((net.predict(features(X))[:, 0] - y) ** 2))",
        "",
        "",
        'print(f"train loss {playground_loss(X[train], y[train]):.4f}, '
        'test loss {playground_loss(X[test], y[test]):.4f}")',
        'net.save("playground_model.npz")   # fastmlp.load("playground_model.npz") brings it back',
    ]
    return "\n".join(lines) + "\n"
