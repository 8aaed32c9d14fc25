"""How the playground builds and trains its network, and the loss it shows; shared by sessions, the
headless mode and the exported snippet, so all three train the same way.

Classification follows TF Playground: labels ±1, a tanh output unit and a squared-error loss. fastmlp's
"mse" loss, mean (ŷ − y)², is what the network trains on; the loss shown is ½ · mean (ŷ − y)², TF
Playground's number (≈ 0.5 for an untrained net, → 0.0x when solved). Because mse's gradient is 2 (ŷ − y)/n
while TF's is (ŷ − y)/n, a learning rate here moves the weights twice as far as the same rate there.
Regression uses an identity output and the same loss.
"""
from __future__ import annotations

import numpy as np

from ..model import MLP
from .config import Config

OUTPUT_ACTIVATION = {"classification": "tanh", "regression": "identity"}
LOSS = "mse"
DTYPE = "float32"


def make_net(config: Config) -> MLP:
    """A fresh MLP for `config`: its initial weights follow from config.seed (Glorot uniform)."""
    return MLP(config.layer_sizes, activation=config.activation,
               output_activation=OUTPUT_ACTIVATION[config.problem], loss=LOSS, dtype=DTYPE,
               seed=config.seed, backend=config.backend)


def regularization_args(config: Config) -> dict:
    """fit's alpha (L2) and l1 for the configured regularization (they act on the weights, not biases)."""
    return {"alpha": config.reg_rate if config.regularization == "l2" else 0.0,
            "l1": config.reg_rate if config.regularization == "l1" else 0.0}


def train(net: MLP, F: np.ndarray, y: np.ndarray, config: Config, epochs: int) -> int:
    """`epochs` epochs of minibatch SGD on features F: (n, k) and targets y: (n, 1); returns the epochs
    completed. FloatingPointError if training diverged (θ is left at its last finite values; the epochs
    completed before are net.history_.epochs)."""
    net.fit(F, y, epochs=epochs, batch_size=config.batch_size, lr=config.lr, optimizer="sgd",
            shuffle=True, **regularization_args(config))
    return net.history_.epochs


def shown_loss(net: MLP, F: np.ndarray, y: np.ndarray) -> float:
    """½ · mean (ŷ − y)² over the rows of F: (n, k), y: (n, 1) — the loss the page shows."""
    if F.shape[0] == 0:
        return float("nan")
    r = net.predict(F)[:, 0].astype(np.float64) - y[:, 0]
    return 0.5 * float(r @ r) / F.shape[0]
