"""Optimizers and learning-rate schedules γ_t.

An optimizer's state lives in flat arrays in θ's layout, and one update is one native pass over θ (the
backends' `optimizer_update` kernel, also run inside `train_step` / `train_epoch`). L2 (`weight_decay`)
and L1 act on the weights, not the biases, inside that same pass.

For your own loop:

    opt = fastmlp.optim.Adam(lr=1e-3)
    for X, Y in batches:
        loss, grad = net.loss_and_grad(X, Y)
        opt.step(net, grad)              # or: net.train_step(X, Y, optimizer=opt)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import positive_float, positive_int

SGD_ID, ADAM_ID = 0, 1
LR, MOMENTUM, NESTEROV, BETA1, BETA2, EPS, L2, L1, T = range(9)


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def _fraction(value, name):
    value = _non_negative(value, name)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


class Optimizer:
    """Base: the hyperparameter vector `hyper` (float64, the kernels' layout) and the state arrays."""

    opt_id = SGD_ID
    name = ""

    def __init__(self, lr, weight_decay=0.0, l1=0.0):
        self.hyper = np.zeros(9, np.float64)
        self.lr = lr
        self.hyper[L2] = _non_negative(weight_decay, "weight_decay")
        self.hyper[L1] = _non_negative(l1, "l1")
        self.state = np.empty(0)

    @property
    def lr(self) -> float:
        return float(self.hyper[LR])

    @lr.setter
    def lr(self, value):
        self.hyper[LR] = positive_float(value, "lr")

    @property
    def weight_decay(self) -> float:
        return float(self.hyper[L2])

    @property
    def l1(self) -> float:
        return float(self.hyper[L1])

    @property
    def steps(self) -> int:
        """Updates applied so far (Adam's bias-correction t)."""
        return int(self.hyper[T])

    def state_size(self, n_params: int) -> int:
        return 0

    def bind(self, n_params: int, dtype) -> np.ndarray:
        """The state for a θ of n_params elements of dtype: zeros the first time, then kept."""
        need = self.state_size(n_params)
        if self.state.size and self.state.size != need:
            raise ValueError(f"this {self.name} optimizer's state was built for another model "
                             f"({self.state.size} entries, this one needs {need}); use a new optimizer")
        if self.state.size != need or self.state.dtype != dtype:
            self.state = np.zeros(need, dtype) if not self.state.size else self.state.astype(dtype)
        return self.state

    def reset(self):
        """Forget the state (momentum, Adam moments, step count)."""
        self.state = np.empty(0)
        self.hyper[T] = 0

    def step(self, net, grad):
        """θ ← one update of net.params from ∂L/∂θ (grad: (n_params,), as loss_and_grad returns)."""
        grad = np.ascontiguousarray(grad, dtype=net.dtype)
        if grad.shape != net.params.shape:
            raise ValueError(f"grad must have shape {net.params.shape}, got {grad.shape}")
        if not net._kernels.all_finite(grad):
            raise ValueError("grad contains NaN or Inf")
        state = self.bind(net.n_params, net.dtype)
        net._kernels.optimizer_update(net.params, grad, net._sizes, self.opt_id, self.hyper, state)

    def get_config(self) -> dict:
        return {"name": self.name, "lr": self.lr, "weight_decay": self.weight_decay, "l1": self.l1}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """θ -= lr · g; with momentum μ (PyTorch's convention): v = μ v + g, θ -= lr · v, or with Nesterov
    θ -= lr · (g + μ v)."""

    opt_id = SGD_ID
    name = "sgd"

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, l1=0.0):
        super().__init__(lr, weight_decay, l1)
        self.hyper[MOMENTUM] = _fraction(momentum, "momentum")
        if nesterov and not momentum:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.hyper[NESTEROV] = 1.0 if nesterov else 0.0

    @property
    def momentum(self) -> float:
        return float(self.hyper[MOMENTUM])

    @property
    def nesterov(self) -> bool:
        return bool(self.hyper[NESTEROV])

    def state_size(self, n_params):
        return n_params if self.momentum > 0 else 0

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam: m, v moments with bias correction; L2 added to g."""

    opt_id = ADAM_ID
    name = "adam"

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, l1=0.0):
        super().__init__(lr, weight_decay, l1)
        self.hyper[BETA1] = _fraction(beta1, "beta1")
        self.hyper[BETA2] = _fraction(beta2, "beta2")
        self.hyper[EPS] = positive_float(eps, "eps")

    def state_size(self, n_params):
        return 2 * n_params

    def get_config(self):
        h = self.hyper
        return {**super().get_config(), "beta1": float(h[BETA1]), "beta2": float(h[BETA2]), "eps": float(h[EPS])}


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def from_config(config: dict) -> Optimizer:
    """An optimizer from get_config()'s dict; ValueError for an unknown name or a bad value."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(sorted(OPTIMIZERS))}")
    try:
        return OPTIMIZERS[name](**config)
    except TypeError as exc:
        raise ValueError(f"bad {name} optimizer configuration: {exc}") from None


# ---- schedules γ_t (t counts epochs from 0) -----------------------------------------------------------

class Schedule:
    """γ_t as a function of the epoch t; `observe(metric)` feeds schedules that react to the loss."""

    def __call__(self, t: int) -> float:
        raise NotImplementedError

    def observe(self, metric: float):
        pass


class Constant(Schedule):
    def __init__(self, lr):
        self.lr = positive_float(lr, "lr")

    def __call__(self, t):
        return self.lr


class InverseScaling(Schedule):
    """γ_t = γ_0 / (1 + decay · t)^power."""

    def __init__(self, lr, decay=1.0, power=0.5):
        self.lr = positive_float(lr, "lr")
        self.decay = _non_negative(decay, "decay")
        self.power = _non_negative(power, "power")

    def __call__(self, t):
        return self.lr / (1.0 + self.decay * t) ** self.power


class StepDecay(Schedule):
    """γ_t = γ_0 · gamma^⌊t / step_size⌋."""

    def __init__(self, lr, step_size=10, gamma=0.5):
        self.lr = positive_float(lr, "lr")
        self.step_size = positive_int(step_size, "step_size")
        self.gamma = positive_float(gamma, "gamma")

    def __call__(self, t):
        return self.lr * self.gamma ** (t // self.step_size)


class Cosine(Schedule):
    """γ_t = γ_min + (γ_0 − γ_min)(1 + cos(π t / t_max)) / 2, constant at γ_min after t_max."""

    def __init__(self, lr, t_max=100, lr_min=0.0):
        self.lr = positive_float(lr, "lr")
        self.t_max = positive_int(t_max, "t_max")
        self.lr_min = _non_negative(lr_min, "lr_min")

    def __call__(self, t):
        t = min(t, self.t_max)
        return self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * t / self.t_max)) / 2


class ReduceOnPlateau(Schedule):
    """γ multiplied by `factor` after `patience` epochs without the observed metric improving by more
    than `threshold` (relative); never below min_lr."""

    def __init__(self, lr, factor=0.5, patience=5, threshold=1e-4, min_lr=0.0):
        self.lr = positive_float(lr, "lr")
        self.factor = _fraction(factor, "factor")
        self.patience = positive_int(patience, "patience", allow_zero=True)
        self.threshold = _non_negative(threshold, "threshold")
        self.min_lr = _non_negative(min_lr, "min_lr")
        self.current = self.lr
        self.best = math.inf
        self.bad_epochs = 0

    def __call__(self, t):
        return self.current

    def observe(self, metric):
        if metric < self.best * (1 - self.threshold):
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.current = max(self.min_lr, self.current * self.factor) or self.current
                self.bad_epochs = 0


class FromCallable(Schedule):
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, t):
        return positive_float(self.fn(t), f"the schedule's learning rate at t={t}")


SCHEDULES = {"constant": Constant, "invscaling": InverseScaling, "step": StepDecay, "cosine": Cosine,
             "plateau": ReduceOnPlateau}


def make_schedule(schedule, lr, **options) -> Schedule:
    """A Schedule from a name ("constant", "invscaling", "step", "cosine", "plateau"), a Schedule, or a
    callable t -> γ_t. `options` go to the named schedule's constructor."""
    if isinstance(schedule, Schedule):
        return schedule
    if callable(schedule):
        return FromCallable(schedule)
    if isinstance(schedule, str) and schedule in SCHEDULES:
        try:
            return SCHEDULES[schedule](lr, **options)
        except TypeError as exc:
            raise ValueError(f"bad options for the {schedule!r} schedule: {exc}") from None
    raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}, or a callable t -> lr")
