"""fit() and partial_fit(): convergence, agreement between backends, History, stopping rules, callbacks,
divergence handling, sample weights, warnings, progress output, argument errors, and initializers."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from fastmlp import MLP, History, optim

BACKENDS = ["cython", "numba", "numpy"]
DTYPES = ["float32", "float64"]


# ---- data --------------------------------------------------------------------------------------------------

def regression(n=64, seed=0, noise=0.0):
    """A smooth 2-D regression on [-1, 1]²: y = sin(2 x0) · x1 + x0 / 2."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    Y = (np.sin(2.0 * X[:, 0]) * X[:, 1] + 0.5 * X[:, 0])[:, None]
    return X, Y + noise * rng.standard_normal(Y.shape)


def spiral(n_per_class=80, classes=3, seed=0):
    """The classic interleaved spirals: (X, one-hot Y)."""
    rng = np.random.default_rng(seed)
    X, labels = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        angle = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + 0.15 * rng.standard_normal(n_per_class)
        X.append(np.column_stack([r * np.sin(angle), r * np.cos(angle)]))
        labels.append(np.full(n_per_class, c))
    X = np.concatenate(X)
    labels = np.concatenate(labels)
    return X, np.eye(classes)[labels], labels


def net_for(backend, dtype="float64", sizes=(2, 8, 1), seed=0, **kw):
    return MLP(sizes, activation="tanh", dtype=dtype, backend=backend, seed=seed, **kw)


def rtol_for(dtype):
    return 1e-9 if np.dtype(dtype) == np.float64 else 2e-3


# ---- convergence ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.05), ("adam", 0.01)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_decreases_the_loss(backend, optimizer, lr):
    X, Y = regression()
    net = net_for(backend, loss="mse")
    before = net.loss(X, Y)
    history = net.fit(X, Y, epochs=60, batch_size=16, optimizer=optimizer, lr=lr)
    after = net.loss(X, Y)
    assert np.isfinite(net.params).all()
    assert after < 0.3 * before
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.epochs == 60 and history.stopped == "epochs"
    assert net.epochs_done_ == 60
    assert net.optimizer_.name == optimizer


@pytest.mark.parametrize("backend", BACKENDS)
def test_lbfgs_at_least_as_good_as_sgd(backend):
    X, Y = regression()
    budget = 200
    sgd = net_for(backend, loss="mse", sizes=(2, 10, 1))
    sgd.fit(X, Y, epochs=budget, batch_size=16, optimizer="sgd", lr=0.05)
    lbfgs = net_for(backend, loss="mse", sizes=(2, 10, 1))
    start = lbfgs.loss(X, Y)
    history = lbfgs.fit(X, Y, epochs=budget, optimizer="lbfgs")
    final = lbfgs.loss(X, Y)
    assert final <= sgd.loss(X, Y)
    assert final < 0.01 * start
    assert 1 <= history.epochs <= budget
    assert history.loss[-1] == pytest.approx(final, rel=1e-6)
    assert history.stopped in ("converged", "epochs")
    assert np.isfinite(lbfgs.params).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_spiral_classification(backend):
    X, Y, labels = spiral()
    net = MLP((2, 32, 32, 3), activation="tanh", loss="cross_entropy", dtype="float32", backend=backend, seed=1)
    assert net.activations[-1] == "softmax"
    history = net.fit(X, Y, epochs=250, batch_size=32, optimizer="adam", lr=0.01)
    P = net.predict(X)
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=1e-5)
    accuracy = float(np.mean(P.argmax(1) == labels))
    assert accuracy >= 0.95, f"training accuracy {accuracy}"
    assert history.loss[-1] < 0.25 * history.loss[0]


# ---- backends agree -----------------------------------------------------------------------------------------

TRAJECTORY_CONFIGS = {
    "sgd_momentum": dict(optimizer="sgd", lr=0.05, momentum=0.9),
    "sgd_nesterov_l2": dict(optimizer="sgd", lr=0.05, momentum=0.8, nesterov=True, alpha=1e-3),
    "adam": dict(optimizer="adam", lr=0.01),
}


def _trajectory(backend, dtype, config):
    X, Y = regression(48, seed=3)
    net = net_for(backend, dtype=dtype, sizes=(2, 6, 5, 1), seed=4, loss="mse")
    history = net.fit(X, Y, epochs=15, batch_size=10, **TRAJECTORY_CONFIGS[config])
    return history, net.params.astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(TRAJECTORY_CONFIGS))
@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_backends_give_the_same_fit(backend, config, dtype):
    ref_history, ref_theta = _trajectory("numpy", dtype, config)
    history, theta = _trajectory(backend, dtype, config)
    tol = rtol_for(dtype)
    np.testing.assert_allclose(history.loss, ref_history.loss, rtol=tol)
    np.testing.assert_allclose(theta, ref_theta, rtol=tol, atol=tol * np.abs(ref_theta).max())
    assert history.lr == ref_history.lr


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_equals_a_loop_of_train_steps(backend):
    """shuffle=False: epoch k runs the batches in order, each one train_step; the epoch loss is the
    row-weighted mean of the batch losses (mse) — the sum for sse."""
    X, Y = regression(50, seed=5)
    for loss, reduce in (("mse", lambda ls, rows: float(np.dot(ls, rows) / rows.sum())),
                         ("sse", lambda ls, rows: float(np.sum(ls)))):
        fitted = net_for(backend, loss=loss, seed=2)
        manual = net_for(backend, loss=loss, seed=2)
        lr = 0.05 if loss == "mse" else 0.002
        history = fitted.fit(X, Y, epochs=4, batch_size=16, shuffle=False, optimizer="sgd", lr=lr, momentum=0.5)
        opt = optim.SGD(lr=lr, momentum=0.5)
        expected = []
        for _ in range(4):
            batch_losses, rows = [], []
            for start in range(0, 50, 16):
                batch_losses.append(manual.train_step(X[start:start + 16], Y[start:start + 16], optimizer=opt))
                rows.append(len(X[start:start + 16]))
            expected.append(reduce(np.array(batch_losses), np.array(rows, float)))
        np.testing.assert_allclose(history.loss, expected, rtol=1e-12)
        np.testing.assert_allclose(fitted.params, manual.params, rtol=1e-12, atol=1e-14)


# ---- History ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_history_contents(backend):
    X, Y = regression(60, seed=1)
    Xv, Yv = regression(30, seed=2)
    net = net_for(backend, loss="mse")
    history = net.fit(X, Y, epochs=9, batch_size=20, lr=0.2, schedule="step",
                      schedule_options=dict(step_size=3, gamma=0.5), validation_data=(Xv, Yv))
    assert isinstance(history, History)
    assert net.history_ is history
    assert history.epochs == len(history.loss) == len(history.lr) == len(history.time) == 9
    assert len(history.val_loss) == len(history.val_metric) == 9
    assert history.lr == pytest.approx([0.2] * 3 + [0.1] * 3 + [0.05] * 3)
    assert all(np.isfinite(history.loss)) and all(isinstance(v, float) for v in history.loss)
    assert all(t > 0 and np.isfinite(t) for t in history.time)
    assert history.stopped == "epochs" and history.best_epoch is None
    # the last validation entries describe the final θ: val_loss is the loss, val_metric R²
    assert history.val_loss[-1] == pytest.approx(net.loss(Xv, Yv), rel=1e-12)
    pred = net.predict(Xv)
    r2 = 1 - ((Yv - pred) ** 2).sum() / ((Yv - Yv.mean(0)) ** 2).sum()
    assert history.val_metric[-1] == pytest.approx(r2, rel=1e-9)
    assert history.val_metric[-1] > history.val_metric[0]
    assert "9 epochs" in repr(history)


@pytest.mark.parametrize("backend", BACKENDS)
def test_history_without_validation_has_no_val_entries(backend):
    X, Y = regression(30)
    history = net_for(backend).fit(X, Y, epochs=3)
    assert history.val_loss == [] and history.val_metric == []
    assert history.epochs == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_batch_history_loss_is_the_loss_before_each_step(backend):
    X, Y = regression(40)
    net = net_for(backend, loss="mse")
    seen = [net.loss(X, Y)]
    history = net.fit(X, Y, epochs=5, batch_size=None, shuffle=False, lr=0.1,
                      callbacks=[lambda epoch, logs: seen.append(net.loss(X, Y))])
    np.testing.assert_allclose(history.loss, seen[:5], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_classification_val_metric_is_accuracy(backend):
    X, Y, labels = spiral(30)
    net = MLP((2, 16, 3), loss="cross_entropy", dtype="float64", backend=backend, seed=0)
    history = net.fit(X, Y, epochs=3, optimizer="adam", lr=0.01, validation_data=(X, Y))
    assert history.val_metric[-1] == pytest.approx(np.mean(net.predict(X).argmax(1) == labels))
    assert history.val_loss[-1] == pytest.approx(net.loss(X, Y), rel=1e-12)


SCHEDULES = {
    "constant": ("constant", None, lambda t: 0.1),
    "invscaling": ("invscaling", dict(decay=0.5, power=1.0), lambda t: 0.1 / (1 + 0.5 * t)),
    "step": ("step", dict(step_size=2, gamma=0.3), lambda t: 0.1 * 0.3 ** (t // 2)),
    "cosine": ("cosine", dict(t_max=5, lr_min=0.01),
               lambda t: 0.01 + 0.09 * (1 + math.cos(math.pi * min(t, 5) / 5)) / 2),
    "callable": (lambda t: 0.1 / (t + 1) ** 2, None, lambda t: 0.1 / (t + 1) ** 2),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_history_lr_follows_the_schedule(backend, name):
    schedule, options, formula = SCHEDULES[name]
    X, Y = regression(32)
    net = net_for(backend)
    history = net.fit(X, Y, epochs=8, lr=0.1, batch_size=8, schedule=schedule, schedule_options=options)
    assert history.lr == pytest.approx([formula(t) for t in range(8)], rel=1e-12)
    # the schedule drives the optimizer during fit; afterwards it holds γ_0 again, so a warm start or a
    # reused optimizer object starts its schedule from the lr that was asked for, not a decayed one
    assert net.optimizer_.lr == 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_plateau_schedule_reacts_to_the_monitored_loss(backend):
    X, Y = regression(32)
    Xv, Yv = X.copy(), -Y  # a validation target training cannot improve on for long
    net = net_for(backend, loss="mse")
    history = net.fit(X, Y, epochs=25, lr=0.1, batch_size=8, schedule="plateau",
                      schedule_options=dict(patience=2, factor=0.5), validation_data=(Xv, Yv))
    best, bad, lr, expected = math.inf, 0, 0.1, []
    for value in history.val_loss:
        expected.append(lr)  # the rate used in this epoch
        if value < best * (1 - 1e-4):
            best, bad = value, 0
        else:
            bad += 1
            if bad > 2:
                lr, bad = lr * 0.5, 0
    assert history.lr == pytest.approx(expected, rel=1e-12)
    assert min(history.lr) < 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_warm_start_continues_the_schedule(backend):
    X, Y = regression(32)
    net = net_for(backend)
    net.fit(X, Y, epochs=3, lr=0.1, schedule="step", schedule_options=dict(step_size=1, gamma=0.5))
    history = net.fit(X, Y, epochs=2, lr=0.1, schedule="step", schedule_options=dict(step_size=1, gamma=0.5),
                      warm_start=True)
    assert history.lr == pytest.approx([0.1 * 0.5 ** 3, 0.1 * 0.5 ** 4])
    assert net.epochs_done_ == 5
    history = net.fit(X, Y, epochs=1, lr=0.1, schedule="step", schedule_options=dict(step_size=1, gamma=0.5))
    assert history.lr == pytest.approx([0.1])


# ---- stopping rules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_tol_and_n_iter_no_change_stop_early(backend):
    X, Y = regression(40)
    # a tolerance no epoch can beat: the first epoch sets the best, the next n_iter_no_change do not improve
    net = net_for(backend, loss="mse")
    history = net.fit(X, Y, epochs=100, lr=0.01, tol=10.0, n_iter_no_change=3)
    assert history.stopped == "converged"
    assert history.epochs == 4
    assert net.epochs_done_ == 4
    # a realistic one: a tiny learning rate converges long before the epoch budget
    net = net_for(backend, loss="mse")
    history = net.fit(X, Y, epochs=500, lr=1e-5, batch_size=None, tol=1e-4, n_iter_no_change=5)
    assert history.stopped == "converged"
    assert history.epochs < 500
    # tol=None: never stops early
    net = net_for(backend, loss="mse")
    history = net.fit(X, Y, epochs=30, lr=1e-5, batch_size=None, tol=None, n_iter_no_change=2)
    assert history.stopped == "epochs" and history.epochs == 30


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_restores_the_best_theta(backend):
    """Train on y = x while validating on y = x / 2: the validation loss falls while the fitted slope rises
    through 1/2, then climbs; early stopping must hand back the θ of the best validation loss."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (40, 1))
    Xv = rng.uniform(-1.0, 1.0, (20, 1))
    net = MLP((1, 4, 1), activation="tanh", loss="mse", dtype="float64", backend=backend, seed=0)
    thetas = []
    history = net.fit(X, X, epochs=300, batch_size=None, shuffle=False, lr=0.1, optimizer="adam",
                      validation_data=(Xv, Xv / 2), early_stopping=True, tol=0.0, n_iter_no_change=5,
                      callbacks=[lambda epoch, logs: thetas.append(net.params.copy())])
    assert history.stopped == "early_stopping"
    best = int(np.argmin(history.val_loss))
    assert history.best_epoch == best
    assert 0 < best < history.epochs - 1
    assert history.epochs == best + 1 + 5
    assert net.loss(Xv, Xv / 2) == pytest.approx(min(history.val_loss), rel=1e-12)
    np.testing.assert_array_equal(net.params, thetas[best])
    assert min(history.val_loss) < history.val_loss[-1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_default_tol_keeps_the_recorded_best(backend):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1.0, 1.0, (40, 1))
    Xv = rng.uniform(-1.0, 1.0, (20, 1))
    net = MLP((1, 4, 1), activation="tanh", loss="mse", dtype="float64", backend=backend, seed=0)
    history = net.fit(X, X, epochs=300, batch_size=None, lr=0.1, optimizer="adam",
                      validation_data=(Xv, Xv / 2), early_stopping=True, n_iter_no_change=5)
    assert history.stopped == "early_stopping"
    assert history.best_epoch is not None
    assert net.loss(Xv, Xv / 2) == pytest.approx(history.val_loss[history.best_epoch], rel=1e-12)
    assert history.val_loss[history.best_epoch] <= min(history.val_loss) + 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_with_validation_fraction(backend):
    X, Y = regression(50)
    net = net_for(backend, loss="mse")
    history = net.fit(X, Y, epochs=40, lr=0.05, early_stopping=True, validation_fraction=0.2)
    assert len(history.val_loss) == history.epochs
    assert history.stopped in ("early_stopping", "epochs")
    assert history.best_epoch is not None
    assert history.val_loss[history.best_epoch] == min(history.val_loss[:history.best_epoch + 1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_callbacks_receive_epoch_and_logs_and_can_stop(backend):
    X, Y = regression(30)
    Xv, Yv = regression(10, seed=9)
    calls = []

    def record(epoch, logs):
        calls.append((epoch, logs))

    def stop_at_3(epoch, logs):
        return epoch == 3

    net = net_for(backend)
    history = net.fit(X, Y, epochs=20, lr=0.01, validation_data=(Xv, Yv), callbacks=[record, stop_at_3])
    assert history.stopped == "callback"
    assert history.epochs == 4 and net.epochs_done_ == 4
    assert [e for e, _ in calls] == [0, 1, 2, 3]
    for epoch, logs in calls:
        assert {"loss", "lr", "time", "val_loss", "val_metric"} <= set(logs)
        assert logs["loss"] == history.loss[epoch]
        assert logs["val_loss"] == history.val_loss[epoch]
        assert logs["lr"] == history.lr[epoch]
    # a callback that returns something else than True does not stop
    history = net_for(backend).fit(X, Y, epochs=5, callbacks=[lambda e, logs: None])
    assert history.stopped == "epochs" and history.epochs == 5


# ---- divergence -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [None, 8], ids=["full_batch", "minibatch"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_raises_and_leaves_theta_finite(backend, dtype, batch_size):
    X, Y = regression(40)
    net = net_for(backend, dtype=dtype, loss="sse")
    states = [net.params.copy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy_ref's overflow warnings
        with pytest.raises(FloatingPointError, match="diverged"):
            net.fit(X, Y, epochs=200, lr=1e6, batch_size=batch_size, shuffle=False,
                    callbacks=[lambda epoch, logs: states.append(net.params.copy())])
    assert net.history_.stopped == "diverged"
    theta = net.params
    assert np.isfinite(theta).all(), "θ is not finite after a diverged fit"
    if batch_size is None:
        # full batch: θ is one of the states the fit passed through before it diverged
        assert any(np.array_equal(theta, s) for s in states)
    # the model still works
    assert np.isfinite(net.predict(X)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_warns_when_asked(backend, dtype):
    X, Y = regression(40)
    net = net_for(backend, dtype=dtype, loss="sse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("always", message="training diverged", category=RuntimeWarning)
        with pytest.warns(RuntimeWarning, match="diverged"):
            history = net.fit(X, Y, epochs=200, lr=1e6, batch_size=8, on_divergence="warn")
    assert history.stopped == "diverged"
    assert history.epochs < 200
    assert all(np.isfinite(history.loss))
    assert np.isfinite(net.params).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step_with_a_nan_loss_raises_and_keeps_theta(backend):
    net = net_for(backend, loss="sse")
    X, Y = regression(8)
    net.params = net.params * 1e200  # finite θ whose outputs overflow the loss
    theta = net.params.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(FloatingPointError):
            net.train_step(X, Y, lr=0.1)
    np.testing.assert_array_equal(net.params, theta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step_never_leaves_a_non_finite_theta(backend, dtype):
    """Repeated huge steps: each train_step either succeeds with a finite θ or raises FloatingPointError
    with θ as it was before that call."""
    X, Y = regression(40)
    net = net_for(backend, dtype=dtype, loss="sse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(60):
            before = net.params.copy()
            try:
                net.train_step(X, Y, lr=1e6)
            except FloatingPointError:
                np.testing.assert_array_equal(net.params, before)
                break
            assert np.isfinite(net.params).all(), "train_step returned normally with a non-finite θ"
        else:
            pytest.fail("lr=1e6 never diverged")


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step_that_overflows_theta_raises(backend):
    # a finite loss and gradient whose update overflows float32: θ is left with Inf in it, and says so
    X, Y = regression(8)
    net = net_for(backend, dtype="float32", loss="sse")
    net.train_step(X.astype(np.float32), Y.astype(np.float32), lr=0.01)  # (arms numba's one-call step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(FloatingPointError, match="overflowed"):
            net.train_step(X.astype(np.float32), Y.astype(np.float32), lr=1e38)
    assert not np.isfinite(net.params).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_numba_one_call_step_equals_the_reference_and_passes_on_what_it_cannot_take(dtype, monkeypatch):
    # From a batch size's second step on, numba's train_step is one compiled call that checks X and Y
    # itself. It must step as the reference does, with any optimizer, and hand every batch it cannot take
    # (another dtype or layout, a 1-D Y, NaN, a wrong shape) back to the general path, θ untouched.
    from fastmlp.backends import numba_impl

    X, Y = regression(16, seed=3)
    X, Y = X.astype(dtype), Y.astype(dtype)
    fast = net_for("numba", dtype=dtype, sizes=(2, 8, 8, 1), loss="sse", seed=5)
    ref = net_for("numpy", dtype=dtype, sizes=(2, 8, 8, 1), loss="sse", seed=5)
    opt_fast, opt_ref = optim.SGD(lr=0.02, momentum=0.9), optim.SGD(lr=0.02, momentum=0.9)
    for step in range(6):  # plain SGD, then momentum
        a = fast.train_step(X, Y, lr=0.05, optimizer=opt_fast if step >= 3 else None)
        b = ref.train_step(X, Y, lr=0.05, optimizer=opt_ref if step >= 3 else None)
        assert a == pytest.approx(b, rel=rtol_for(dtype))
        np.testing.assert_allclose(fast.params, ref.params, rtol=rtol_for(dtype), atol=rtol_for(dtype))
        if step == 0:  # from now on the Python-level kernel is not called for this batch size
            assert fast._step_ready is not None
            monkeypatch.setattr(numba_impl, "train_step", None)
    monkeypatch.undo()
    other = np.float64 if dtype == "float32" else np.float32
    for X2, Y2 in ((X.astype(other), Y), (np.asfortranarray(X), Y), (X, Y[:, 0]), (X.tolist(), Y)):
        a, b = fast.train_step(X2, Y2, lr=0.05), ref.train_step(X2, Y2, lr=0.05)
        assert a == pytest.approx(b, rel=rtol_for(dtype))
        np.testing.assert_allclose(fast.params, ref.params, rtol=rtol_for(dtype), atol=rtol_for(dtype))
    theta = fast.params.copy()
    X_nan, Y_nan = X.copy(), Y.copy()
    X_nan[3, 1] = np.nan
    Y_nan[5, 0] = np.inf
    for X2, Y2, message in ((X_nan, Y, "X contains NaN"), (X, Y_nan, "Y contains NaN"),
                            (X[:, :1].copy(), Y, "columns"), (X, Y[:15].copy(), "rows")):
        with pytest.raises(ValueError, match=message):
            fast.train_step(X2, Y2, lr=0.05)
        np.testing.assert_array_equal(fast.params, theta)


# ---- partial_fit and warm start ---------------------------------------------------------------------------

@pytest.mark.parametrize("config", [dict(optimizer="adam", lr=0.01), dict(optimizer="sgd", lr=0.05, momentum=0.9)],
                         ids=["adam", "momentum"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_fit_keeps_the_optimizer_state(backend, config):
    X, Y = regression(48)
    a = net_for(backend, seed=7)
    a.partial_fit(X, Y, batch_size=16, **config)
    first_opt = a.optimizer_
    h2 = a.partial_fit(X, Y, batch_size=16, **config)
    assert a.optimizer_ is first_opt  # the same optimizer, with its state
    b = net_for(backend, seed=7)
    hb = b.fit(X, Y, epochs=2, batch_size=16, warm_start=True, **config)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-13, atol=1e-15)
    assert h2.loss[0] == pytest.approx(hb.loss[1], rel=1e-13)
    np.testing.assert_allclose(a.optimizer_.state, b.optimizer_.state, rtol=1e-13, atol=1e-16)
    assert a.optimizer_.steps == b.optimizer_.steps
    assert a.epochs_done_ == b.epochs_done_ == 2
    # a cold restart would differ: fresh state after the first pass
    c = net_for(backend, seed=7)
    c.partial_fit(X, Y, batch_size=16, **config)
    c.optimizer_.reset()
    c.partial_fit(X, Y, batch_size=16, **config)
    assert not np.allclose(c.params, a.params, rtol=1e-9, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_fit_follows_the_schedule(backend):
    """Each partial_fit is the next epoch of the schedule, from the lr passed in (γ_0), not from the rate the
    previous call ended with."""
    X, Y = regression(32)
    net = net_for(backend)
    lrs = []
    for _ in range(4):
        history = net.partial_fit(X, Y, lr=0.1, schedule="step", schedule_options=dict(step_size=1, gamma=0.5))
        lrs += history.lr
    assert lrs == pytest.approx([0.1, 0.05, 0.025, 0.0125], rel=1e-12)
    other = net_for(backend)
    assert other.fit(X, Y, epochs=4, lr=0.1, schedule="step",
                     schedule_options=dict(step_size=1, gamma=0.5)).lr == pytest.approx(lrs, rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_fit_rejects_epochs(backend):
    X, Y = regression(10)
    net = net_for(backend)
    with pytest.raises(TypeError, match="epochs"):
        net.partial_fit(X, Y, epochs=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_warm_start_false_starts_a_fresh_optimizer(backend):
    X, Y = regression(32)
    net = net_for(backend)
    net.fit(X, Y, epochs=2, optimizer="adam", lr=0.01)
    first = net.optimizer_
    net.fit(X, Y, epochs=2, optimizer="adam", lr=0.01)
    assert net.optimizer_ is not first
    assert net.optimizer_.steps == 2  # 32 rows in batches of 32: one step per epoch, fresh state


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_with_an_optimizer_object(backend):
    X, Y = regression(40)
    opt = optim.Adam(lr=0.02, weight_decay=1e-3)
    net = net_for(backend, loss="mse")
    history = net.fit(X, Y, epochs=5, batch_size=10, optimizer=opt)
    assert net.optimizer_ is opt
    assert opt.steps == 5 * 4
    assert history.lr == pytest.approx([0.02] * 5)
    # the same run with the equivalent string options
    other = net_for(backend, loss="mse")
    other.fit(X, Y, epochs=5, batch_size=10, optimizer="adam", lr=0.02, alpha=1e-3)
    np.testing.assert_allclose(net.params, other.params, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_epochs_changes_nothing(backend):
    X, Y = regression(20)
    net = net_for(backend)
    theta = net.params.copy()
    history = net.fit(X, Y, epochs=0)
    assert history.epochs == 0 and history.loss == [] and history.stopped == "epochs"
    np.testing.assert_array_equal(net.params, theta)
    assert net.epochs_done_ == 0


# ---- sample weights in fit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [dict(optimizer="sgd", lr=0.1, momentum=0.5), dict(optimizer="adam", lr=0.01)],
                         ids=["sgd", "adam"])
@pytest.mark.parametrize("loss", ["mse", "huber", "sse"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_weight_rows_have_no_influence(backend, loss, config):
    X, Y = regression(40, seed=2)
    Y = Y.copy()
    rng = np.random.default_rng(3)
    sw = np.ones(40)
    dropped = rng.choice(40, 12, replace=False)
    sw[dropped] = 0.0
    Y[dropped] = 1e3  # garbage the model must ignore
    keep = sw > 0
    if loss == "sse":
        config = {**config, "lr": config["lr"] / 20}
    weighted = net_for(backend, loss=loss, seed=1)
    hw = weighted.fit(X, Y, sample_weight=sw, epochs=15, batch_size=None, shuffle=False, **config)
    subset = net_for(backend, loss=loss, seed=1)
    hs = subset.fit(X[keep], Y[keep], epochs=15, batch_size=None, shuffle=False, **config)
    np.testing.assert_allclose(weighted.params, subset.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hw.loss, hs.loss, rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_sample_weights_equal_duplicated_rows(backend):
    X, Y = regression(20, seed=4)
    counts = np.random.default_rng(0).integers(1, 4, 20)
    rows = np.repeat(np.arange(20), counts)
    a = net_for(backend, loss="mse", seed=3)
    ha = a.fit(X, Y, sample_weight=counts, epochs=10, batch_size=None, shuffle=False, lr=0.1)
    b = net_for(backend, loss="mse", seed=3)
    hb = b.fit(X[rows], Y[rows], epochs=10, batch_size=None, shuffle=False, lr=0.1)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_minibatch_epoch_loss_with_sample_weights(backend):
    """With weights and minibatches the epoch loss is the weight-weighted mean of the batch losses: for a
    model that does not move (lr tiny) it is the full weighted loss."""
    X, Y = regression(40, seed=6)
    sw = np.random.default_rng(1).uniform(0.1, 3.0, 40)
    net = net_for(backend, loss="mse")
    expected = net.loss(X, Y, sample_weight=sw)
    history = net.fit(X, Y, sample_weight=sw, epochs=1, batch_size=7, lr=1e-12)
    assert history.loss[0] == pytest.approx(expected, rel=1e-8)


# ---- warnings and progress output --------------------------------------------------------------------------

def _scale_warnings(record):
    return [w for w in record if issubclass(w.category, UserWarning) and "unit scale" in str(w.message)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_far_from_unit_scale_warns_once_per_model(backend):
    X, Y = regression(30)
    big = X * 1e4
    net = net_for(backend, loss="mse")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        net.fit(big, Y, epochs=2, lr=1e-9)
        assert len(_scale_warnings(record)) == 1
        net.fit(big, Y, epochs=2, lr=1e-9)
        net.partial_fit(big, Y, lr=1e-9)
        assert len(_scale_warnings(record)) == 1  # only once per model
        other = net_for(backend, loss="mse")
        other.fit(X, Y, epochs=1)
        assert len(_scale_warnings(record)) == 1  # unit-scale data: no warning
        other.fit(X * 1e-5, Y, epochs=1)
        assert len(_scale_warnings(record)) == 2  # tiny features warn too
        net_for(backend, loss="mse").fit(X + 1e3, Y, epochs=1, lr=1e-9)
        assert len(_scale_warnings(record)) == 3  # large offsets too
    with pytest.warns(UserWarning, match="unit scale"):
        net_for(backend, loss="mse").fit(big, Y, epochs=1, lr=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_verbose_prints_progress_to_stderr(backend, capsys):
    X, Y = regression(30)
    net_for(backend).fit(X, Y, epochs=3, verbose=True, validation_data=(X, Y))
    out, err = capsys.readouterr()
    assert out == ""
    assert "3/3" in err
    assert "loss" in err and "val_loss" in err
    net_for(backend).fit(X, Y, epochs=3, verbose=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


# ---- bad arguments -----------------------------------------------------------------------------------------

BAD_FIT_ARGS = {
    "validation_data_columns": (dict(validation_data=(np.zeros((5, 3)), np.zeros((5, 1)))), ValueError,
                                r"(?i)validation"),
    "validation_data_rows": (dict(validation_data=(np.zeros((5, 2)), np.zeros((4, 1)))), ValueError, "rows"),
    "validation_data_not_a_pair": (dict(validation_data=np.zeros((5, 2))), ValueError, "validation_data"),
    "unknown_optimizer": (dict(optimizer="rmsprop"), ValueError, "optimizer"),
    "unknown_schedule": (dict(schedule="exponential"), ValueError, "schedule"),
    "bad_schedule_options": (dict(schedule="step", schedule_options=dict(nope=1)), ValueError, "step"),
    "negative_alpha": (dict(alpha=-0.1), ValueError, "alpha"),
    "negative_alpha_lbfgs": (dict(alpha=-0.1, optimizer="lbfgs"), ValueError, "alpha"),
    "negative_l1": (dict(l1=-0.1), ValueError, "l1"),
    "validation_fraction_0": (dict(early_stopping=True, validation_fraction=0.0), ValueError,
                              "validation_fraction"),
    "validation_fraction_1": (dict(early_stopping=True, validation_fraction=1.0), ValueError,
                              "validation_fraction"),
    "validation_fraction_neg": (dict(early_stopping=True, validation_fraction=-0.2), ValueError,
                                "validation_fraction"),
    "on_divergence": (dict(on_divergence="ignore"), ValueError, "on_divergence"),
    "epochs_negative": (dict(epochs=-1), ValueError, "epochs"),
    "epochs_float": (dict(epochs=2.5), TypeError, "epochs"),
    "batch_size_zero": (dict(batch_size=0), ValueError, "batch_size"),
    "negative_lr": (dict(lr=-0.1), ValueError, "lr"),
    "momentum_one": (dict(momentum=1.0), ValueError, "momentum"),
    "nesterov_without_momentum": (dict(nesterov=True), ValueError, "nesterov"),
    "negative_tol": (dict(tol=-1.0), ValueError, "tol"),
    "n_iter_no_change_zero": (dict(tol=1e-3, n_iter_no_change=0), ValueError, "n_iter_no_change"),
    "callback_not_callable": (dict(callbacks=[3]), TypeError, "callbacks"),
    "sample_weight_shape": (dict(sample_weight=np.ones(7)), ValueError, "sample_weight"),
    "sample_weight_negative": (dict(sample_weight=-np.ones(30)), ValueError, "sample_weight"),
    "alpha_with_optimizer_object": (dict(optimizer=optim.SGD(), alpha=0.1), ValueError, "alpha"),
}


@pytest.mark.parametrize("case", list(BAD_FIT_ARGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_fit_arguments_raise_and_leave_theta_unchanged(backend, case):
    kwargs, exc, match = BAD_FIT_ARGS[case]
    X, Y = regression(30)
    net = net_for(backend)
    net.fit(X, Y, epochs=1)  # a model with a history and an optimizer
    theta = net.params.copy()
    done = net.epochs_done_
    with pytest.raises(exc, match=match):
        net.fit(X, Y, **{"epochs": 3, **kwargs})
    np.testing.assert_array_equal(net.params, theta)
    assert net.epochs_done_ == done


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_data_raises_and_leaves_theta_unchanged(backend):
    X, Y = regression(30)
    net = net_for(backend)
    theta = net.params.copy()
    bad_X = X.copy()
    bad_X[3, 1] = np.nan
    for args, exc, match in [((bad_X, Y), ValueError, "NaN"),
                             ((X[:, :1], Y), ValueError, "columns"),
                             ((X, Y[:20]), ValueError, "rows"),
                             ((X.astype(str), Y), TypeError, "X")]:
        with pytest.raises(exc, match=match):
            net.fit(*args, epochs=2)
        np.testing.assert_array_equal(net.params, theta)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="initializer"):
        MLP((2, 3, 1), init="xavier", backend="numpy")
    with pytest.raises(ValueError, match="shape"):
        MLP((2, 3, 1), init=np.zeros(5), backend="numpy")
    with pytest.raises(ValueError, match="NaN"):
        MLP((2, 3, 1), init=np.full(13, np.nan), backend="numpy")
    with pytest.raises(ValueError, match="backend"):
        MLP((2, 3, 1), backend="fortran")
    with pytest.raises(ValueError, match="loss"):
        MLP((2, 3, 1), loss="hinge", backend="numpy")


# ---- initializers ------------------------------------------------------------------------------------------

INIT_SIZES = (200, 300, 100)


def _bound_and_std(init, n_in, n_out):
    if init == "glorot_uniform":
        a = math.sqrt(6.0 / (n_in + n_out))
        return a, a / math.sqrt(3.0)
    if init == "he_uniform":
        a = math.sqrt(6.0 / n_in)
        return a, a / math.sqrt(3.0)
    if init == "glorot_normal":
        return None, math.sqrt(2.0 / (n_in + n_out))
    return None, math.sqrt(2.0 / n_in)


INITS = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]


@pytest.mark.parametrize("init", INITS)
def test_initializer_statistics(init):
    net = MLP(INIT_SIZES, activation="relu", dtype="float64", backend="numpy", seed=11, init=init)
    for W, b, n_in, n_out in zip(net.weights, net.biases, INIT_SIZES[:-1], INIT_SIZES[1:]):
        assert W.shape == (n_out, n_in)
        np.testing.assert_array_equal(b, 0.0)
        bound, std = _bound_and_std(init, n_in, n_out)
        assert abs(W.mean()) < 5 * std / math.sqrt(W.size)  # five standard errors
        assert W.std() == pytest.approx(std, rel=0.03)
        if bound is not None:
            assert np.abs(W).max() <= bound
            assert np.abs(W).max() > 0.99 * bound
        else:
            # normal: about 4.55% of the draws beyond 2σ, none wildly beyond
            assert np.mean(np.abs(W) > 2 * std) == pytest.approx(0.0455, abs=0.01)
            assert np.abs(W).max() < 6 * std
    again = MLP(INIT_SIZES, activation="relu", dtype="float64", backend="numpy", seed=11, init=init)
    np.testing.assert_array_equal(again.params, net.params)
    other = MLP(INIT_SIZES, activation="relu", dtype="float64", backend="numpy", seed=12, init=init)
    assert not np.array_equal(other.params, net.params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_initial_theta_is_the_same_on_every_backend(backend, init, dtype):
    sizes = (7, 9, 3)
    ref = MLP(sizes, dtype="float64", backend="numpy", seed=11, init=init).params
    net = MLP(sizes, dtype=dtype, backend=backend, seed=11, init=init)
    assert net.params.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(net.params, ref.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_user_theta_init(backend, dtype):
    sizes = (3, 5, 2)
    n = 3 * 5 + 5 + 5 * 2 + 2
    theta = np.random.default_rng(0).standard_normal(n)
    net = MLP(sizes, dtype=dtype, backend=backend, init=theta)
    np.testing.assert_array_equal(net.params, theta.astype(dtype))
    assert net.params.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(net.weights[1], theta[20:30].reshape(2, 5).astype(dtype))
    np.testing.assert_array_equal(net.biases[0], theta[15:20].astype(dtype))
    # a copy: training does not write into the caller's array
    net.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1)
    assert not np.shares_memory(net.params, theta)
    np.testing.assert_array_equal(theta, np.random.default_rng(0).standard_normal(n))
    ints = np.arange(n)
    np.testing.assert_array_equal(MLP(sizes, dtype=dtype, backend=backend, init=ints).params, ints.astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_initial_theta_and_training(backend):
    X, Y = regression(16)
    a = MLP((2, 5, 1), dtype="float64", backend=backend, seed=5)
    b = MLP((2, 5, 1), dtype="float64", backend=backend, seed=5)
    np.testing.assert_array_equal(a.params, b.params)
    a.fit(X, Y, epochs=3, batch_size=4)
    b.fit(X, Y, epochs=3, batch_size=4)
    np.testing.assert_array_equal(a.params, b.params)  # same seed: same shuffles too
    ref = MLP((2, 5, 1), dtype="float64", backend="numpy", seed=5)
    ref.fit(X, Y, epochs=3, batch_size=4)
    np.testing.assert_allclose(a.params, ref.params, rtol=1e-10, atol=1e-12)
