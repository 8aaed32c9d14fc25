"""fit(): epochs of native minibatch training with schedules, validation, stopping rules, callbacks,
divergence handling, and L-BFGS on the flat θ."""
from __future__ import annotations

import math
import numbers
import time
import warnings

import numpy as np

from . import losses, optim
from ._validation import positive_int
from .history import History
from .progress import Progress

DEFAULT_LR = {"sgd": 0.01, "adam": 0.001, "lbfgs": None}


def _fraction_open(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


class Trainer:
    """Runs fit() for one MLP; holds nothing between calls (the model keeps optimizer_ and history_)."""

    def __init__(self, net):
        self.net = net

    # ---- pieces --------------------------------------------------------------------------------------
    def _optimizer(self, optimizer, lr, momentum, nesterov, beta1, beta2, eps, alpha, l1, warm_start):
        net = self.net
        alpha = optim._non_negative(alpha, "alpha")
        l1 = optim._non_negative(l1, "l1")
        if isinstance(optimizer, optim.Optimizer):
            if alpha or l1:
                raise ValueError("with an optimizer object, set weight_decay / l1 on the optimizer, "
                                 "not alpha / l1 in fit")
            if lr is not None:
                optimizer.lr = lr
            return optimizer
        if not isinstance(optimizer, str) or optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {optimizer!r}; known: sgd, adam, lbfgs, "
                             "or a fastmlp.optim.Optimizer")
        lr = DEFAULT_LR[optimizer] if lr is None else lr
        if optimizer == "sgd":
            fresh = optim.SGD(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=alpha, l1=l1)
        else:
            fresh = optim.Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=alpha, l1=l1)
        old = net.optimizer_
        if warm_start and old is not None and old.get_config() | {"lr": lr} == fresh.get_config():
            old.lr = lr  # same kind and settings: keep its state, restart from the given γ_0
            return old
        return fresh

    def _validation(self, X, Y, sw, early_stopping, validation_fraction, validation_data):
        """(X, Y, sw) to train on and (Xv, Yv) or None."""
        net = self.net
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, Y_val)")
            Xv, Yv = net._xy(validation_data[0], validation_data[1], names=("validation X", "validation Y"))
            return X, Y, sw, (Xv, Yv)
        if not early_stopping:
            return X, Y, sw, None
        fraction = _fraction_open(validation_fraction, "validation_fraction")
        n = X.shape[0]
        n_val = max(1, int(round(fraction * n)))
        if n - n_val < 1:
            raise ValueError(f"early_stopping needs at least 2 rows to split off a validation set, got {n}")
        order = net._rng.permutation(n)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        sw_train = sw[train] if sw.size else sw
        return (np.ascontiguousarray(X[train]), np.ascontiguousarray(Y[train]), sw_train,
                (np.ascontiguousarray(X[val]), np.ascontiguousarray(Y[val])))

    def _metric(self, Xv, Yv):
        """Accuracy for the classification losses, R² otherwise."""
        net = self.net
        pred = net.predict(Xv)
        if net._loss == losses.CROSS_ENTROPY:
            return float(np.mean(pred.argmax(1) == Yv.argmax(1)))
        if net._loss == losses.BINARY_CROSS_ENTROPY:
            return float(np.mean((pred > 0.5) == (Yv > 0.5)))
        resid = ((Yv.astype(np.float64) - pred) ** 2).sum()
        total = ((Yv - Yv.mean(0, dtype=np.float64)) ** 2).sum()
        return float(1 - resid / total) if total > 0 else float("nan")

    def _warn_scale(self, X):
        net = self.net
        if net._warned_scale or X.shape[0] < 2:
            return
        sample = X[::max(1, X.shape[0] // 256)]  # a heuristic: ~256 rows decide, not a pass per fit
        mean = np.abs(sample.mean(0, dtype=np.float64)).max()
        std = sample.std(0, dtype=np.float64)
        varying = std[std > 0]
        if mean > 100 or (varying.size and (varying.max() > 100 or varying.min() < 1e-3)):
            net._warned_scale = True
            warnings.warn("the features of X are far from unit scale (column means up to "
                          f"{mean:.3g}, standard deviations from {varying.min():.3g} to {varying.max():.3g}); "
                          "standardizing them (e.g. sklearn's StandardScaler) usually trains much better",
                          UserWarning, stacklevel=4)

    # ---- fit -----------------------------------------------------------------------------------------
    def fit(self, X, Y, *, epochs, batch_size, lr, optimizer, momentum, nesterov, beta1, beta2, eps,
            schedule, schedule_options, alpha, l1, shuffle, sample_weight, tol, n_iter_no_change,
            early_stopping, validation_fraction, validation_data, verbose, callbacks, on_divergence,
            warm_start):
        net = self.net
        X, Y = net._xy(X, Y)
        sw = net._sample_weight(sample_weight, X.shape[0])
        epochs = positive_int(epochs, "epochs", allow_zero=True)
        n_iter_no_change = positive_int(n_iter_no_change, "n_iter_no_change")
        if on_divergence not in ("raise", "warn"):
            raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}")
        callbacks = list(callbacks or ())
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables (epoch, logs), got {cb!r}")
        if tol is None and early_stopping:
            tol = 1e-4
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, numbers.Real) or tol < 0):
            raise ValueError(f"tol must be a non-negative number or None, got {tol!r}")
        self._warn_scale(X)
        if isinstance(optimizer, str) and optimizer == "lbfgs":
            return self._lbfgs(X, Y, sw, epochs, alpha, l1, tol, verbose)
        opt = self._optimizer(optimizer, lr, momentum, nesterov, beta1, beta2, eps, alpha, l1, warm_start)
        base_lr = opt.lr  # γ_0: the schedule starts here, and the optimizer gets it back afterwards
        sched = optim.make_schedule(schedule, base_lr, **(schedule_options or {}))
        X, Y, sw, val = self._validation(X, Y, sw, early_stopping, validation_fraction, validation_data)
        n = X.shape[0]
        batch = n if batch_size is None else min(positive_int(batch_size, "batch_size"), n)
        ws = net._workspace(batch)
        state = opt.bind(net.n_params, net.dtype)
        net.optimizer_ = opt
        n_batches = -(-n // batch)
        starts = np.arange(0, n, batch)
        batch_losses = np.empty(n_batches, np.float64)
        unweighted = np.diff(np.append(starts, n)).astype(np.float64)
        ordered = np.arange(n, dtype=np.int64)
        perm = ordered.copy() if shuffle else np.empty(0, np.int64)
        snapshot = np.empty_like(net._theta)
        t_offset = net.epochs_done_ if warm_start else 0
        history = History()
        net.history_ = history
        best, best_theta, bad = math.inf, None, 0
        progress = Progress(verbose, epochs, n)
        k = net._kernels
        try:
            for epoch in range(epochs):
                t0 = time.perf_counter()
                lr_t = sched(t_offset + epoch)
                opt.lr = lr_t
                np.copyto(snapshot, net._theta)
                if shuffle:  # rng.permutation(n), in place: an epoch allocates nothing of the data's size
                    np.copyto(perm, ordered)
                    net._rng.shuffle(perm)
                done = k.train_epoch(net._theta, net._sizes, net._train_acts, net._loss, X, Y, sw, perm, batch,
                                     opt.opt_id, opt.hyper, state, ws.hbuf, ws.dbuf, ws.grad, ws.xbuf, ws.ybuf,
                                     ws.wbuf, batch_losses)
                # A finite loss can still come with an update that overflowed θ (float32): check θ too.
                if not np.isfinite(batch_losses[done - 1]) or not k.all_finite(net._theta):
                    self._diverged(history, snapshot, epoch, batch_losses[done - 1], on_divergence)
                    break
                logs = {"loss": self._epoch_loss(batch_losses, sw, perm, starts, unweighted),
                        "lr": lr_t, "time": time.perf_counter() - t0}
                if val is not None:
                    logs["val_loss"] = net.loss(*val)
                    logs["val_metric"] = self._metric(*val)
                history.append(logs)
                net.epochs_done_ += 1
                progress.update(epoch, logs)
                monitored = logs["val_loss"] if val is not None else logs["loss"]
                sched.observe(monitored)
                if monitored < best - (tol or 0.0):
                    best, bad = monitored, 0
                    if early_stopping:
                        best_theta, history.best_epoch = net._theta.copy(), epoch
                else:
                    bad += 1
                if any(cb(epoch, dict(logs)) is True for cb in callbacks):
                    history.stopped = "callback"
                    break
                if tol is not None and bad >= n_iter_no_change:
                    history.stopped = "early_stopping" if early_stopping else "converged"
                    break
        finally:
            progress.close()
            opt.lr = base_lr
        if early_stopping and best_theta is not None:
            net._theta[...] = best_theta
        return history

    def _epoch_loss(self, batch_losses, sw, perm, starts, unweighted):
        """The epoch's loss from its batches': a sum for sse, else the mean weighted as each batch's
        loss was normalized (by its rows, or its sample-weight total)."""
        net = self.net
        if net._loss == losses.SSE:
            return float(batch_losses.sum())
        if sw.size:
            weights = np.add.reduceat((sw[perm] if perm.size else sw).astype(np.float64), starts)
        else:
            weights = unweighted
        return float(batch_losses @ weights / weights.sum())

    def _diverged(self, history, snapshot, epoch, bad_loss, on_divergence):
        net = self.net
        if not net._kernels.all_finite(net._theta):
            net._theta[...] = snapshot
        history.stopped = "diverged"
        what = (f"the loss or its gradient became {bad_loss}" if not np.isfinite(bad_loss)
                else "an update overflowed θ")
        message = (f"training diverged in epoch {epoch + 1}: {what}; θ was left at its last finite values "
                   "(try a smaller learning rate)")
        if on_divergence == "raise":
            raise FloatingPointError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    # ---- L-BFGS --------------------------------------------------------------------------------------
    def _lbfgs(self, X, Y, sw, epochs, alpha, l1, tol, verbose):
        """scipy's L-BFGS-B on the flat θ with loss_and_grad as the objective (plus the penalties);
        `epochs` is the iteration limit. Full batch."""
        from scipy.optimize import minimize

        net = self.net
        alpha = optim._non_negative(alpha, "alpha")
        l1 = optim._non_negative(l1, "l1")
        ws = net._workspace(X.shape[0])
        mask = np.zeros(net.n_params, bool)
        off = 0
        for n_in, n_out in zip(net.layer_sizes[:-1], net.layer_sizes[1:]):
            mask[off:off + n_out * n_in] = True
            off += n_out * n_in + n_out
        history = History()
        net.history_ = history
        start = net._theta.copy()
        last = {"loss": math.nan, "t": time.perf_counter()}

        def objective(theta64):
            net._theta[...] = theta64
            value = net._kernels.loss_and_grad(net._theta, net._sizes, net._train_acts, net._loss, X, Y, sw,
                                               ws.hbuf, ws.dbuf, ws.grad)
            grad = ws.grad.astype(np.float64)
            w = theta64[mask]
            value += 0.5 * alpha * float(w @ w) + l1 * float(np.abs(w).sum())
            grad[mask] += alpha * w + l1 * np.sign(w)
            last["loss"] = value
            return (value, grad) if np.isfinite(value) else (math.inf, np.zeros_like(grad))

        def record(_):
            now = time.perf_counter()
            history.append({"loss": last["loss"], "lr": math.nan, "time": now - last["t"]})
            last["t"] = now
            net.epochs_done_ += 1

        if epochs:
            options = {"maxiter": epochs}
            if tol is not None:
                options["ftol"] = tol
            result = minimize(objective, start.astype(np.float64), jac=True, method="L-BFGS-B",
                              options=options, callback=record)
            net._theta[...] = result.x
            if not net._kernels.all_finite(net._theta):
                net._theta[...] = start
                history.stopped = "diverged"
                raise FloatingPointError("L-BFGS produced non-finite parameters; θ was restored")
            history.stopped = "converged" if result.success and result.nit < epochs else "epochs"
        net.optimizer_ = None
        return history
