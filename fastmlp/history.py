"""History: what fit() records, one entry per epoch."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class History:
    """Per epoch: training loss (the configured loss over the epoch's batches, without the penalty),
    validation loss and metric (accuracy for classification losses, R² otherwise) when there is a
    validation set, learning rate, and wall time in seconds. `stopped`: why training ended ("epochs",
    "converged", "early_stopping", "callback", "diverged"); `best_epoch`: the epoch whose θ was kept
    by early stopping (0-based), else None."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_metric: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    time: list = field(default_factory=list)
    stopped: str = "epochs"
    best_epoch: int = None

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def append(self, logs: dict):
        """Record one epoch's logs (keys as the fields above)."""
        self.loss.append(logs["loss"])
        self.lr.append(logs["lr"])
        self.time.append(logs["time"])
        if "val_loss" in logs:
            self.val_loss.append(logs["val_loss"])
            self.val_metric.append(logs["val_metric"])

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        val = f", last val_loss {self.val_loss[-1]:.6g}" if self.val_loss else ""
        return f"History({self.epochs} epochs{last}{val}, stopped: {self.stopped})"
