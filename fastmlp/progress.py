"""A progress display for fit(verbose=True): tqdm when installed, else one line rewritten in place."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, enabled: bool, total: int, samples_per_epoch: int):
        self.enabled, self.total, self.samples = enabled, total, samples_per_epoch
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, unit="epoch", leave=True)
            except ImportError:
                self.bar = None

    def update(self, epoch: int, logs: dict):
        if not self.enabled:
            return
        rate = self.samples / logs["time"] if logs["time"] > 0 else float("inf")
        fields = {"loss": f"{logs['loss']:.4g}", "samples/s": f"{rate:,.0f}"}
        if "val_loss" in logs:
            fields["val_loss"] = f"{logs['val_loss']:.4g}"
        if self.bar is not None:
            self.bar.set_postfix(fields, refresh=False)
            self.bar.update(1)
        else:
            text = "  ".join(f"{k} {v}" for k, v in fields.items())
            sys.stderr.write(f"\repoch {epoch + 1}/{self.total}  {text}   ")
            sys.stderr.flush()

    def close(self):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")
