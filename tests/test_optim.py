"""Optimizers and learning-rate schedules (fastmlp.optim) against plain NumPy re-derivations.

Each optimizer (SGD, SGD with momentum, Nesterov, Adam), with and without L2 (weight_decay) and L1, on every
backend, through `opt.step(net, grad)` and through `net.train_step(X, Y, optimizer=opt)`; Adam and SGD
against torch.optim; every schedule against its formula; configuration round trips and argument errors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fastmlp import MLP, optim

BACKENDS = ["cython", "numba", "numpy"]
SIZES = (3, 4, 2)


# ---- the reference --------------------------------------------------------------------------------------

def weight_mask(sizes):
    """True on θ's weights, False on its biases ([W_0, b_0, W_1, b_1, ...], W_l row-major)."""
    parts = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        parts += [np.ones(n_in * n_out, bool), np.zeros(n_out, bool)]
    return np.concatenate(parts)


class RefOptimizer:
    """SGD (PyTorch's momentum convention: v = μ v + g; θ -= lr v, or lr (g + μ v) for Nesterov) and Adam
    (Kingma & Ba with bias correction), with L2 adding l2·W and L1 adding l1·sign(W) to the weights'
    gradient."""

    def __init__(self, kind, sizes, lr, momentum=0.0, nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, l1=0.0):
        self.kind, self.lr, self.mu, self.nesterov = kind, lr, momentum, nesterov
        self.b1, self.b2, self.eps, self.l2, self.l1 = beta1, beta2, eps, weight_decay, l1
        self.mask = weight_mask(sizes)
        n = self.mask.size
        self.v = np.zeros(n)
        self.m = np.zeros(n)
        self.s = np.zeros(n)
        self.t = 0

    def step(self, theta, grad):
        theta = np.array(theta, np.float64)
        g = np.array(grad, np.float64)
        W = theta[self.mask]
        g[self.mask] = g[self.mask] + self.l2 * W + self.l1 * np.sign(W)
        if self.kind == "sgd":
            if self.mu > 0:
                self.v = self.mu * self.v + g
                d = g + self.mu * self.v if self.nesterov else self.v
            else:
                d = g
            return theta - self.lr * d
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.s = self.b2 * self.s + (1 - self.b2) * g ** 2
        m_hat = self.m / (1 - self.b1 ** self.t)
        s_hat = self.s / (1 - self.b2 ** self.t)
        return theta - self.lr * m_hat / (np.sqrt(s_hat) + self.eps)


CONFIGS = {
    "sgd": ("sgd", dict(lr=0.1)),
    "momentum": ("sgd", dict(lr=0.05, momentum=0.9)),
    "nesterov": ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True)),
    "adam": ("adam", dict(lr=0.01)),
    "adam_betas": ("adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6)),
}
REGULARIZATION = {"none": {}, "l2": dict(weight_decay=0.1), "l1": dict(l1=0.05),
                  "l2_l1": dict(weight_decay=0.03, l1=0.02)}


def make_opt(kind, kw):
    return optim.SGD(**kw) if kind == "sgd" else optim.Adam(**kw)


def make_net(backend, dtype="float64", seed=0):
    net = MLP(SIZES, activation="tanh", dtype=dtype, backend=backend, seed=seed)
    rng = np.random.default_rng(seed + 100)
    theta = net.params.astype(np.float64)
    theta += rng.uniform(-0.5, 0.5, theta.size)  # non-zero biases too
    net.params = theta
    return net


def data(seed=0, n=9):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, SIZES[0])), rng.standard_normal((n, SIZES[-1]))


def assert_theta(actual, expected, tol=1e-12, what=""):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol, atol=tol, err_msg=what)


# ---- one step at a time ---------------------------------------------------------------------------------

@pytest.mark.parametrize("reg", list(REGULARIZATION))
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_step_matches_reference(backend, config, reg):
    kind, kw = CONFIGS[config]
    kw = {**kw, **REGULARIZATION[reg]}
    net = make_net(backend)
    opt = make_opt(kind, kw)
    ref = RefOptimizer(kind, SIZES, **kw)
    theta = net.params.astype(np.float64)
    rng = np.random.default_rng(7)
    for step in range(5):
        grad = rng.standard_normal(net.n_params) * (0.5 + step)
        grad_copy = grad.copy()
        theta = ref.step(theta, grad)
        opt.step(net, grad)
        np.testing.assert_array_equal(grad, grad_copy)  # the gradient is not modified
        assert_theta(net.params, theta, what=f"step {step + 1}")
    if kind == "adam":
        assert opt.steps == 5
        n = net.n_params
        assert_theta(opt.state[:n], ref.m, what="Adam m")
        assert_theta(opt.state[n:2 * n], ref.s, what="Adam v")
    elif kw.get("momentum"):
        assert_theta(opt.state, ref.v, what="velocity")


@pytest.mark.parametrize("reg", ["none", "l2_l1"])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step_matches_reference(backend, config, reg):
    """net.train_step(X, Y, optimizer=opt) = the reference step on ∂L/∂θ (computed with the numpy backend at
    the reference θ), and returns the loss before the step."""
    kind, kw = CONFIGS[config]
    kw = {**kw, **REGULARIZATION[reg]}
    X, Y = data()
    net = make_net(backend)
    oracle = make_net("numpy")
    opt = make_opt(kind, kw)
    ref = RefOptimizer(kind, SIZES, **kw)
    theta = net.params.astype(np.float64)
    for step in range(4):
        oracle.params = theta
        loss, grad = oracle.loss_and_grad(X, Y)
        theta = ref.step(theta, grad)
        returned = net.train_step(X, Y, optimizer=opt)
        assert returned == pytest.approx(loss, rel=1e-12)
        assert_theta(net.params, theta, what=f"step {step + 1}")
    assert opt.steps == (4 if kind == "adam" else 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_and_train_step_agree(backend):
    """The same Adam run through loss_and_grad + step and through train_step."""
    X, Y = data(3)
    a, b = make_net(backend), make_net(backend)
    oa, ob = optim.Adam(lr=0.01, weight_decay=0.01), optim.Adam(lr=0.01, weight_decay=0.01)
    for _ in range(5):
        _, g = a.loss_and_grad(X, Y)
        oa.step(a, g)
        b.train_step(X, Y, optimizer=ob)
    assert_theta(a.params, b.params.astype(np.float64), tol=1e-13)
    np.testing.assert_allclose(oa.state, ob.state, rtol=1e-12, atol=1e-15)
    assert oa.steps == ob.steps == 5


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_step_matches_reference_loosely(backend, kind):
    kind_, kw = CONFIGS[kind]
    kw = {**kw, "weight_decay": 0.05, "l1": 0.01}
    net = make_net(backend, dtype="float32")
    opt = make_opt(kind_, kw)
    ref = RefOptimizer(kind_, SIZES, **kw)
    theta = net.params.astype(np.float64)
    rng = np.random.default_rng(8)
    for _ in range(4):
        grad = rng.standard_normal(net.n_params).astype(np.float32)
        theta = ref.step(theta, grad)
        opt.step(net, grad)
    assert net.params.dtype == np.float32
    assert_theta(net.params, theta, tol=2e-6)


# ---- regularization: weights, not biases ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_regularization_touches_weights_not_biases(backend, kind):
    kind_, kw = CONFIGS[kind]
    mask = weight_mask(SIZES)
    for reg in ({"weight_decay": 0.5}, {"l1": 0.2}):
        net = make_net(backend)
        before = net.params.copy()
        opt = make_opt(kind_, {**kw, **reg})
        for _ in range(3):
            opt.step(net, np.zeros(net.n_params))
        after = net.params
        np.testing.assert_array_equal(after[~mask], before[~mask])  # biases: a zero gradient moves nothing
        assert (after[mask] != before[mask]).all()  # every weight moved
        big = np.abs(before[mask]) > 0.2  # these cannot cross 0 in three small steps
        assert big.sum() >= 5
        assert (np.abs(after[mask][big]) < np.abs(before[mask][big])).all()  # shrunk towards 0
        assert (np.sign(after[mask][big]) == np.sign(before[mask][big])).all()
        # and through the views
        for b_now, b_then in zip(net.biases, [before[~mask][:SIZES[1]], before[~mask][SIZES[1]:]]):
            np.testing.assert_array_equal(b_now, b_then)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_l2_is_exact_decay(backend):
    """Plain SGD with zero gradient and L2 λ multiplies each weight by (1 − lr λ) per step."""
    net = make_net(backend)
    before = net.params.copy()
    opt = optim.SGD(lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.step(net, np.zeros(net.n_params))
    mask = weight_mask(SIZES)
    np.testing.assert_allclose(net.params[mask], before[mask] * 0.95 ** 3, rtol=1e-14)


# ---- torch ------------------------------------------------------------------------------------------------

def _torch_run(opt_factory, theta0, grads, sizes):
    """θ after applying torch optimizer steps for the gradient sequence; weights and biases in separate
    parameter groups (torch's weight_decay would otherwise decay the biases too)."""
    import torch

    mask = weight_mask(sizes)
    w = torch.tensor(theta0[mask], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(theta0[~mask], dtype=torch.float64, requires_grad=True)
    opt = opt_factory(w, b)
    for g in grads:
        w.grad = torch.tensor(g[mask], dtype=torch.float64)
        b.grad = torch.tensor(g[~mask], dtype=torch.float64)
        opt.step()
    out = np.empty_like(theta0)
    out[mask] = w.detach().numpy()
    out[~mask] = b.detach().numpy()
    return out


@pytest.mark.parametrize("hyper", [dict(lr=0.01), dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)],
                         ids=["default", "custom_l2"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_matches_torch(backend, hyper):
    import torch

    net = make_net(backend)
    theta0 = net.params.copy()
    rng = np.random.default_rng(9)
    grads = [rng.standard_normal(net.n_params) * s for s in (1.0, 0.1, 3.0, 0.5, 1.0, 2.0)]
    betas = hyper.get("betas", (0.9, 0.999))
    eps = hyper.get("eps", 1e-8)
    wd = hyper.get("weight_decay", 0.0)
    opt = optim.Adam(lr=hyper["lr"], beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=wd)
    for g in grads:
        opt.step(net, g)

    def factory(w, b):
        return torch.optim.Adam([{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}],
                                lr=hyper["lr"], betas=betas, eps=eps)

    expected = _torch_run(factory, theta0, grads, SIZES)
    assert_theta(net.params, expected, tol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_momentum_matches_torch(backend, nesterov):
    import torch

    net = make_net(backend)
    theta0 = net.params.copy()
    rng = np.random.default_rng(10)
    grads = [rng.standard_normal(net.n_params) for _ in range(5)]
    opt = optim.SGD(lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=0.01)
    for g in grads:
        opt.step(net, g)

    def factory(w, b):
        return torch.optim.SGD([{"params": [w], "weight_decay": 0.01}, {"params": [b], "weight_decay": 0.0}],
                               lr=0.05, momentum=0.9, nesterov=nesterov)

    assert_theta(net.params, _torch_run(factory, theta0, grads, SIZES), tol=1e-12)


# ---- optimizer state --------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_state_is_kept_between_steps_and_reset_forgets_it(backend):
    net = make_net(backend)
    g = np.ones(net.n_params)
    opt = optim.SGD(lr=0.1, momentum=0.5)
    theta0 = net.params.copy()
    opt.step(net, g)
    opt.step(net, g)  # v = 1, then 1.5
    np.testing.assert_allclose(net.params, theta0 - 0.1 * (1.0 + 1.5), rtol=1e-14)
    opt.reset()
    theta1 = net.params.copy()
    opt.step(net, g)  # v = 1 again
    np.testing.assert_allclose(net.params, theta1 - 0.1, rtol=1e-14)
    adam = optim.Adam(lr=0.01)
    adam.step(net, g)
    adam.step(net, g)
    assert adam.steps == 2
    adam.reset()
    assert adam.steps == 0 and adam.state.size == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_rejects_bad_gradients_and_foreign_models(backend):
    net = make_net(backend)
    theta = net.params.copy()
    opt = optim.Adam(lr=0.01)
    with pytest.raises(ValueError, match="shape"):
        opt.step(net, np.zeros(net.n_params + 1))
    bad = np.zeros(net.n_params)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        opt.step(net, bad)
    np.testing.assert_array_equal(net.params, theta)
    opt.step(net, np.ones(net.n_params))
    other = MLP((2, 2), dtype="float64", backend=backend, seed=0)
    with pytest.raises(ValueError, match="another model"):
        opt.step(other, np.ones(other.n_params))
    with pytest.raises(TypeError, match="optimizer"):
        net.train_step(*data(), optimizer="adam")


# ---- configuration ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("opt", [
    optim.SGD(), optim.SGD(lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3, l1=1e-4),
    optim.Adam(), optim.Adam(lr=0.003, beta1=0.85, beta2=0.99, eps=1e-7, weight_decay=0.01, l1=0.001)],
    ids=["sgd_default", "sgd_custom", "adam_default", "adam_custom"])
def test_config_round_trip(opt):
    config = opt.get_config()
    assert config["name"] == opt.name
    clone = optim.from_config(config)
    assert type(clone) is type(opt)
    assert clone.get_config() == config
    np.testing.assert_array_equal(clone.hyper, opt.hyper)
    assert config == optim.from_config(dict(config)).get_config()
    assert type(opt).__name__ in repr(opt) and "lr=" in repr(opt)


def test_config_values():
    c = optim.SGD(lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3, l1=1e-4).get_config()
    assert c == {"name": "sgd", "lr": 0.2, "weight_decay": 1e-3, "l1": 1e-4, "momentum": 0.9, "nesterov": True}
    c = optim.Adam(lr=0.003, beta1=0.85, beta2=0.99, eps=1e-7).get_config()
    assert c == {"name": "adam", "lr": 0.003, "weight_decay": 0.0, "l1": 0.0, "beta1": 0.85, "beta2": 0.99,
                 "eps": 1e-7}


@pytest.mark.parametrize("config, match", [
    ({"name": "rmsprop", "lr": 0.1}, "rmsprop"),
    ({"lr": 0.1}, "optimizer"),
    ({"name": "sgd", "lr": 0.1, "beta1": 0.9}, "beta1"),
    ({"name": "adam", "momentum": 0.9}, "momentum"),
    ({"name": "sgd", "lr": -0.1}, "lr"),
])
def test_from_config_errors(config, match):
    with pytest.raises(ValueError, match=match):
        optim.from_config(config)


@pytest.mark.parametrize("factory, exc, match", [
    (lambda: optim.SGD(lr=-0.1), ValueError, "lr"),
    (lambda: optim.SGD(lr=0.0), ValueError, "lr"),
    (lambda: optim.SGD(lr=float("nan")), ValueError, "lr"),
    (lambda: optim.SGD(lr="0.1"), TypeError, "lr"),
    (lambda: optim.SGD(momentum=1.0), ValueError, "momentum"),
    (lambda: optim.SGD(momentum=1.5), ValueError, "momentum"),
    (lambda: optim.SGD(momentum=-0.1), ValueError, "momentum"),
    (lambda: optim.SGD(nesterov=True), ValueError, "nesterov"),
    (lambda: optim.SGD(weight_decay=-1e-3), ValueError, "weight_decay"),
    (lambda: optim.SGD(l1=-1e-3), ValueError, "l1"),
    (lambda: optim.Adam(lr=-1.0), ValueError, "lr"),
    (lambda: optim.Adam(beta1=1.0), ValueError, "beta1"),
    (lambda: optim.Adam(beta2=1.0), ValueError, "beta2"),
    (lambda: optim.Adam(beta2=-0.5), ValueError, "beta2"),
    (lambda: optim.Adam(eps=0.0), ValueError, "eps"),
    (lambda: optim.Adam(weight_decay=float("inf")), ValueError, "weight_decay"),
])
def test_bad_hyperparameters(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


def test_lr_setter_validates_and_keeps_old_value():
    opt = optim.SGD(lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    assert opt.lr == 0.1
    opt.lr = 0.5
    assert opt.lr == 0.5 and opt.hyper[0] == 0.5


# ---- schedules ---------------------------------------------------------------------------------------------

T_RANGE = range(0, 40)


def test_constant_schedule():
    s = optim.make_schedule("constant", 0.3)
    assert isinstance(s, optim.Constant)
    assert [s(t) for t in T_RANGE] == [0.3] * len(T_RANGE)


@pytest.mark.parametrize("options", [{}, dict(decay=0.1, power=1.0), dict(decay=2.0, power=0.25)])
def test_invscaling_schedule(options):
    s = optim.make_schedule("invscaling", 0.5, **options)
    decay, power = options.get("decay", 1.0), options.get("power", 0.5)
    for t in T_RANGE:
        assert s(t) == pytest.approx(0.5 / (1 + decay * t) ** power, rel=1e-14)
    assert s(0) == 0.5


@pytest.mark.parametrize("options", [{}, dict(step_size=3, gamma=0.1), dict(step_size=1, gamma=0.9)])
def test_step_schedule(options):
    s = optim.make_schedule("step", 0.2, **options)
    size, gamma = options.get("step_size", 10), options.get("gamma", 0.5)
    for t in T_RANGE:
        assert s(t) == pytest.approx(0.2 * gamma ** math.floor(t / size), rel=1e-14)


@pytest.mark.parametrize("options", [{}, dict(t_max=10, lr_min=0.01), dict(t_max=25)])
def test_cosine_schedule(options):
    s = optim.make_schedule("cosine", 0.4, **options)
    t_max, lr_min = options.get("t_max", 100), options.get("lr_min", 0.0)
    for t in list(T_RANGE) + [t_max, t_max + 1, 3 * t_max]:
        tt = min(t, t_max)
        expected = lr_min + 0.5 * (0.4 - lr_min) * (1 + math.cos(math.pi * tt / t_max))
        assert s(t) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert s(0) == pytest.approx(0.4)
    assert s(t_max) == pytest.approx(lr_min, abs=1e-15)
    assert s(t_max + 5) == pytest.approx(lr_min, abs=1e-15)


def ref_plateau(lr, metrics, factor, patience, threshold, min_lr):
    """The learning rate in force after observing each metric (PyTorch's ReduceLROnPlateau, mode 'min',
    relative threshold: an improvement is metric < best · (1 − threshold); the rate drops once the number of
    epochs without one exceeds patience)."""
    best, bad, current, out = math.inf, 0, lr, []
    for value in metrics:
        if value < best * (1 - threshold):
            best, bad = value, 0
        else:
            bad += 1
        if bad > patience:
            current, bad = max(min_lr, current * factor), 0
        out.append(current)
    return out


@pytest.mark.parametrize("options", [dict(factor=0.5, patience=2), dict(factor=0.1, patience=0, min_lr=1e-3),
                                     dict(factor=0.5, patience=1, threshold=0.1)])
def test_plateau_schedule(options):
    s = optim.make_schedule("plateau", 1.0, **options)
    assert isinstance(s, optim.ReduceOnPlateau)
    metrics = [10, 9, 9, 9, 9, 8.95, 8.0, 8.0, 8.0, 8.0, 8.0, 7.99, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0]
    expected = ref_plateau(1.0, metrics, options["factor"], options["patience"], options.get("threshold", 1e-4),
                           options.get("min_lr", 0.0))
    got = []
    assert s(0) == 1.0
    for t, value in enumerate(metrics):
        s.observe(value)
        got.append(s(t + 1))
    assert got == pytest.approx(expected, rel=1e-14)
    assert min(got) < 1.0  # it did reduce
    if "min_lr" in options:
        assert min(got) == pytest.approx(options["min_lr"])


def test_callable_schedule():
    s = optim.make_schedule(lambda t: 0.1 / (1 + t), 123.0)
    assert [s(t) for t in range(5)] == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025, 0.02])
    s.observe(1.0)  # no-op
    assert s(1) == pytest.approx(0.05)
    bad = optim.make_schedule(lambda t: 0.1 - 0.05 * t, 0.1)
    assert bad(1) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="t=2"):
        bad(2)
    with pytest.raises(ValueError, match="t=3"):
        bad(3)


def test_make_schedule_passes_schedules_through():
    s = optim.StepDecay(0.1, step_size=2)
    assert optim.make_schedule(s, 99.0) is s


@pytest.mark.parametrize("name", ["exponential", "Constant", "", "cos"])
def test_make_schedule_unknown_name(name):
    with pytest.raises(ValueError, match="unknown schedule") as info:
        optim.make_schedule(name, 0.1)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name, options, match", [
    ("step", dict(step_size=0), "step_size"),
    ("step", dict(gamma=-1.0), "gamma"),
    ("step", dict(foo=1), "step"),
    ("cosine", dict(t_max=0), "t_max"),
    ("invscaling", dict(power=-1.0), "power"),
    ("plateau", dict(factor=1.5), "factor"),
    ("constant", dict(decay=1.0), "constant"),
])
def test_make_schedule_bad_options(name, options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        optim.make_schedule(name, 0.1, **options)


def test_make_schedule_bad_lr():
    for name in ("constant", "invscaling", "step", "cosine", "plateau"):
        with pytest.raises(ValueError, match="lr"):
            optim.make_schedule(name, -0.1)
