"""The engines `python -m fastmlp.bench` times: fastmlp's backends, PyTorch and scikit-learn.

Every engine trains the SAME network from the SAME initial θ (fastmlp's layout: [W_0, b_0, W_1, b_1, ...],
W_l row-major (n_{l+1}, n_l)) with plain SGD on the sum-of-squared-errors loss L = Σ_i ‖ŷ_i − y_i‖², and
reports its loss in that unit and its parameters in that layout, so that fastmlp.bench can check that all
of them compute the same thing before it times any of them.

    fastmlp-<backend>  MLP(backend=...).train_step(X, Y, lr) / fit(epochs=1) / predict(X, out=buf)
    torch              nn.Sequential(Linear, act, ..., Linear), F.mse_loss(reduction="sum"),
                       torch.optim.SGD(lr, momentum=0): zero_grad, forward, backward, step
    sklearn            MLPRegressor(solver="sgd", alpha=0, momentum=0, learning_rate="constant")
                       .partial_fit(X, y) on one batch: the public API, input validation included
    sklearn-core       the same estimator's private _backprop + _optimizer.update_params: sklearn's
                       arithmetic without its per-call validation (one step only)

scikit-learn's squared_error loss is L_sk = Σ_i ‖r_i‖² / (2 n m) (n rows, m outputs) but its gradient is
that of Σ_i ‖r_i‖² / (2 n) (it divides by n only), i.e. ∂L/∂θ / (2n). It therefore runs with
learning_rate_init = 2 n · lr, which makes its update equal to θ −= lr ∂L/∂θ, and its loss is reported as
L_sk · 2 n m.
"""
from __future__ import annotations

import inspect
import itertools
import warnings

import numpy as np

# ---- kernel-table conformance ------------------------------------------------------------------------------

KERNELS = ("all_finite", "dense_forward", "activation_backward", "dense_backward", "loss_forward_backward",
           "sgd_update", "optimizer_update", "forward", "predict", "loss_and_grad", "train_step",
           "train_epoch")


def _params(fn):
    fn = getattr(fn, "py_func", fn)  # numba dispatchers
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None  # not introspectable: assume it conforms


def kernel_table_problems(module, kernels=KERNELS) -> dict:
    """{kernel: why it does not follow the table} for `module` against the NumPy reference's signatures
    (missing kernels, different parameter lists). Empty when the module implements the whole table."""
    from .backends import numpy_ref
    problems = {}
    for name in kernels:
        fn = getattr(module, name, None)
        if fn is None:
            problems[name] = "missing"
            continue
        want, got = _params(getattr(numpy_ref, name)), _params(fn)
        if got is not None and got != want:
            problems[name] = f"({', '.join(got)}) instead of ({', '.join(want)})"
    return problems


class Unavailable(Exception):
    """The engine cannot run here (not installed, backend not built, kernel table not implemented)."""


# ---- engines -----------------------------------------------------------------------------------------------

class Engine:
    """One implementation. `load` builds it at θ0; `prepare` converts an array to what its calls take
    (outside any timing); step/epoch/predict are what gets timed."""

    name = ""
    kind = "peer"
    metrics = ("step", "epoch", "predict1", "predictN")

    def load(self, workload, dtype, theta0, lr):
        raise NotImplementedError

    def prepare(self, A):
        return A

    def prepare_y(self, Y):
        return self.prepare(Y)

    def step(self, X, Y):
        """One SGD step on one batch (X, Y prepared)."""
        raise NotImplementedError

    def step_loss(self, X, Y) -> float:
        """One step; the SSE loss before it, as a float (for the agreement check, not timed)."""
        raise NotImplementedError

    def epoch(self, X, Y):
        raise NotImplementedError

    def predict(self, X):
        raise NotImplementedError

    def predict_call(self, X):
        """A no-argument callable predicting X (prepared), with any output buffer made beforehand."""
        return lambda: self.predict(X)

    def to_numpy(self, out) -> np.ndarray:
        return np.asarray(out)

    def theta(self) -> np.ndarray:
        """The current parameters in fastmlp's flat layout, float64."""
        raise NotImplementedError


class FastmlpEngine(Engine):
    kind = "fastmlp"

    def __init__(self, backend):
        self.backend = backend
        self.name = "numpy-ref" if backend == "numpy" else f"fastmlp-{backend}"

    def check(self):
        from .backends import get_backend
        try:
            _, module = get_backend(self.backend)
        except ImportError as exc:
            raise Unavailable(str(exc)) from None
        problems = kernel_table_problems(module)
        if problems:
            listed = "; ".join(f"{k}: {v}" for k, v in problems.items())
            raise Unavailable(f"the {self.backend} backend does not implement the kernel table: {listed}")

    def load(self, workload, dtype, theta0, lr):
        from .model import MLP
        self.check()
        self.workload, self.lr = workload, lr
        self.net = MLP(workload.sizes, activation=workload.activation, loss="sse", dtype=dtype, seed=0,
                       backend=self.backend)
        self.net.params = theta0

    def step(self, X, Y):
        self.net.train_step(X, Y, lr=self.lr)

    def step_loss(self, X, Y):
        return float(self.net.train_step(X, Y, lr=self.lr))

    def epoch(self, X, Y):
        self.net.fit(X, Y, epochs=1, batch_size=self.workload.batch, lr=self.lr, shuffle=True)

    def predict(self, X):
        return self.net.predict(X)

    def predict_call(self, X):
        net = self.net
        out = np.empty((X.shape[0], net.layer_sizes[-1]), net.dtype)
        return lambda: net.predict(X, out=out)

    def theta(self):
        return self.net.params.astype(np.float64)


class TorchEngine(Engine):
    name = "torch"

    def __init__(self):
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"PyTorch is not installed ({exc})") from None

    def load(self, workload, dtype, theta0, lr):
        import torch
        from torch import nn
        self.torch = torch
        self.F = torch.nn.functional
        self.workload = workload
        tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[workload.activation]
        layers, off = [], 0
        theta0 = np.asarray(theta0, dtype)
        pairs = list(zip(workload.sizes[:-1], workload.sizes[1:]))
        for l, (n_in, n_out) in enumerate(pairs):
            lin = nn.Linear(n_in, n_out, dtype=tdtype)
            W = theta0[off:off + n_out * n_in].reshape(n_out, n_in)  # torch's Linear.weight is (out, in) too
            off += n_out * n_in
            b = theta0[off:off + n_out]
            off += n_out
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
                lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
            layers.append(lin)
            if l < len(pairs) - 1:
                layers.append(act())
        self.model = nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.0)

    def prepare(self, A):
        return self.torch.from_numpy(np.ascontiguousarray(A))

    def _step(self, X, Y):
        self.opt.zero_grad(set_to_none=True)
        loss = self.F.mse_loss(self.model(X), Y, reduction="sum")
        loss.backward()
        self.opt.step()
        return loss

    def step(self, X, Y):
        self._step(X, Y)

    def step_loss(self, X, Y):
        return float(self._step(X, Y).item())

    def epoch(self, X, Y):
        batch = self.workload.batch
        perm = self.torch.randperm(X.shape[0])
        for start in range(0, X.shape[0], batch):
            rows = perm[start:start + batch]
            self._step(X[rows], Y[rows])

    def predict(self, X):
        with self.torch.inference_mode():
            return self.model(X)

    def to_numpy(self, out):
        return out.detach().numpy()

    def theta(self):
        parts = []
        for m in self.model:
            if hasattr(m, "weight"):
                parts += [m.weight.detach().numpy().ravel(), m.bias.detach().numpy()]
        return np.concatenate(parts).astype(np.float64)


class SklearnEngine(Engine):
    name = "sklearn"

    def __init__(self):
        try:
            from sklearn.neural_network import MLPRegressor  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"scikit-learn is not installed ({exc})") from None

    def load(self, workload, dtype, theta0, lr):
        from sklearn.neural_network import MLPRegressor
        self.workload = workload
        self.m = workload.sizes[-1]
        n = workload.batch
        self.mlp = MLPRegressor(
            hidden_layer_sizes=tuple(workload.sizes[1:-1]), activation=workload.activation, solver="sgd",
            alpha=0.0, batch_size=n, learning_rate="constant", learning_rate_init=2 * n * lr, momentum=0.0,
            nesterovs_momentum=False, shuffle=False, random_state=0, max_iter=1, tol=0.0,
            n_iter_no_change=10**9, early_stopping=False)
        # The first partial_fit builds coefs_ / intercepts_ (and the optimizer), here on 2 rows (sklearn warns
        # that it clips batch_size to them); θ0 is then written into them in place.
        rng = np.random.default_rng(0)
        X0 = rng.standard_normal((2, workload.sizes[0])).astype(dtype)
        Y0 = rng.standard_normal((2, self.m)).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.mlp.partial_fit(X0, SklearnEngine.prepare_y(self, Y0))
        theta0 = np.asarray(theta0, dtype)
        off = 0
        for l, (n_in, n_out) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
            coef, icpt = self.mlp.coefs_[l], self.mlp.intercepts_[l]
            if coef.dtype != np.dtype(dtype):
                raise Unavailable(f"MLPRegressor trains in {coef.dtype} on {np.dtype(dtype).name} data")
            coef[...] = theta0[off:off + n_out * n_in].reshape(n_out, n_in).T  # coefs_ is (in, out) = Wᵀ
            off += n_out * n_in
            icpt[...] = theta0[off:off + n_out]
            off += n_out

    def prepare_y(self, Y):
        return np.ascontiguousarray(Y[:, 0]) if Y.shape[1] == 1 else Y  # 1-D y for one output, as sklearn wants

    def step(self, X, Y):
        self.mlp.partial_fit(X, Y)

    def step_loss(self, X, Y):
        self.mlp.partial_fit(X, Y)
        return float(self.mlp.loss_) * 2 * X.shape[0] * self.m

    def epoch(self, X, Y):
        self.mlp.shuffle = True
        try:
            self.mlp.partial_fit(X, Y)  # one pass in minibatches of batch_size, shuffled
        finally:
            self.mlp.shuffle = False

    def predict(self, X):
        return self.mlp.predict(X)

    def to_numpy(self, out):
        out = np.asarray(out)
        return out.reshape(-1, 1) if out.ndim == 1 else out

    def theta(self):
        parts = []
        for coef, icpt in zip(self.mlp.coefs_, self.mlp.intercepts_):
            parts += [coef.T.ravel(), icpt]
        return np.concatenate(parts).astype(np.float64)


class SklearnCoreEngine(SklearnEngine):
    """scikit-learn's own arithmetic for one step, without partial_fit's per-call validation: the private
    _backprop (forward, loss, backward) then _optimizer.update_params, as its _fit_stochastic runs them."""

    name = "sklearn-core"
    metrics = ("step",)

    def load(self, workload, dtype, theta0, lr):
        super().load(workload, dtype, theta0, lr)
        mlp = self.mlp
        if not (hasattr(mlp, "_backprop") and hasattr(mlp, "_optimizer")
                and hasattr(mlp._optimizer, "update_params")):
            raise Unavailable("this scikit-learn has no _backprop / _optimizer.update_params")
        n_layers = len(workload.sizes)
        self.params = mlp.coefs_ + mlp.intercepts_
        self.coef_grads = [np.empty_like(c) for c in mlp.coefs_]
        self.intercept_grads = [np.empty_like(b) for b in mlp.intercepts_]
        self.activations = [None] * n_layers
        self.deltas = [None] * (n_layers - 1)

    def prepare_y(self, Y):
        return np.ascontiguousarray(Y)  # _backprop takes y 2-D, as _fit reshapes it

    def _step(self, X, Y):
        mlp = self.mlp
        self.activations[0] = X
        loss, cg, ig = mlp._backprop(X, Y, None, self.activations, self.deltas, self.coef_grads,
                                     self.intercept_grads)
        mlp._optimizer.update_params(self.params, cg + ig)
        return loss

    def step(self, X, Y):
        self._step(X, Y)

    def step_loss(self, X, Y):
        return float(self._step(X, Y)) * 2 * X.shape[0] * self.m


def make_engines(names, backends):
    """[(name, Engine or Unavailable)] for the requested engine names, in order."""
    out = []
    for name in names:
        try:
            if name in ("cython", "numba", "numpy"):
                engine = FastmlpEngine(name)
                if name not in backends:
                    engine.check()  # raises Unavailable with the reason
            elif name == "torch":
                engine = TorchEngine()
            elif name == "sklearn":
                engine = SklearnEngine()
            elif name == "sklearn-core":
                engine = SklearnCoreEngine()
            else:
                raise ValueError(f"unknown engine {name!r}")
        except Unavailable as exc:
            engine = exc
        out.append((name, engine))
    return out


def cycle_batches(X, Y, batch):
    """An endless iterator over the full batches of (X, Y) in order."""
    starts = range(0, X.shape[0] - batch + 1, batch)
    return itertools.cycle([(X[s:s + batch], Y[s:s + batch]) for s in starts])
