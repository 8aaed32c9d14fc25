"""MLP: ŷ = g_L(W_L g(W_{L-1} … g(W_0 x + b_0) …) + b_L), its parameters in one flat θ."""
from __future__ import annotations

import time

import numpy as np

from . import activations, losses
from ._validation import as_batch, as_dtype, positive_float, positive_int, same_rows
from .backends import get_backend
from .history import History
from .init import initial_theta
from .workspace import PREDICT_CHUNK, Workspace, n_params, predict_work


class MLP:
    """A multi-layer perceptron whose parameters live in one flat array θ.

    layer_sizes: (n_in, n_hidden..., n_out). activation: the hidden layers' activation, one name or one
    per hidden layer. output_activation: the last layer's. loss: "sse" or "mse". dtype: "float32" or
    "float64". seed: int or None, for the initial θ and the shuffling in fit. backend: "cython",
    "numba", "numpy" or None (the fastest available, or $FASTMLP_BACKEND).

    A model is not safe to train or predict from several threads at once: it reuses its workspaces.
    """

    def __init__(self, layer_sizes, activation="tanh", output_activation="identity", loss="sse",
                 dtype="float32", seed=None, backend=None, init="glorot_uniform"):
        sizes = tuple(layer_sizes) if not isinstance(layer_sizes, (str, bytes)) else ()
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least an input and an output size, got {layer_sizes!r}")
        self.layer_sizes = tuple(positive_int(s, f"layer_sizes[{i}]") for i, s in enumerate(sizes))
        n_hidden = len(sizes) - 2
        hidden = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(hidden) != n_hidden:
            raise ValueError(f"activation lists {len(hidden)} names for {n_hidden} hidden layers")
        self._acts = np.array([activations.activation_id(a) for a in hidden]
                              + [activations.activation_id(output_activation)], dtype=np.int64)
        self._loss = losses.loss_id(loss)
        self.dtype = as_dtype(dtype)
        self.backend, self._kernels = get_backend(backend)
        self._sizes = np.array(self.layer_sizes, dtype=np.int64)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._theta = initial_theta(self.layer_sizes, self._rng, init).astype(self.dtype)
        self._workspaces = {}
        self._predict_work = None
        self.history_ = None

    # ---- description -----------------------------------------------------------------------------------
    @property
    def activations(self) -> tuple:
        """Activation name of each layer, hidden layers first, the output layer's last."""
        return tuple(activations.ACTIVATION_NAMES[int(a)] for a in self._acts)

    @property
    def loss_name(self) -> str:
        return losses.LOSS_NAMES[self._loss]

    @property
    def n_params(self) -> int:
        return self._theta.size

    def __repr__(self):
        return (f"MLP({list(self.layer_sizes)}, activations={list(self.activations)}, "
                f"loss={self.loss_name!r}, dtype={self.dtype.name!r}, backend={self.backend!r})")

    # ---- parameters ----------------------------------------------------------------------------------
    @property
    def params(self) -> np.ndarray:
        """θ: the model's own flat buffer [W_0, b_0, W_1, b_1, ...]; writes into it take effect."""
        return self._theta

    @params.setter
    def params(self, value):
        value = np.asarray(value)
        if value.shape != self._theta.shape:
            raise ValueError(f"params must have shape {self._theta.shape}, got {value.shape}")
        if value.dtype.kind not in "fiu":
            raise TypeError(f"params must hold real numbers, got dtype {value.dtype}")
        if not np.isfinite(value).all():
            raise ValueError("params contains NaN or Inf")
        self._theta[...] = value  # copy in: views handed out earlier stay valid

    def _views(self, which):
        out, off = [], 0
        for n_in, n_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            W = self._theta[off:off + n_out * n_in].reshape(n_out, n_in)
            off += n_out * n_in
            out.append(W if which == "W" else self._theta[off:off + n_out])
            off += n_out
        return out

    @property
    def weights(self) -> list:
        """[W_l]: views into θ, W_l of shape (n_{l+1}, n_l)."""
        return self._views("W")

    @property
    def biases(self) -> list:
        """[b_l]: views into θ, b_l of shape (n_{l+1},)."""
        return self._views("b")

    # ---- inputs and buffers --------------------------------------------------------------------------
    def _x(self, X, name="X"):
        return as_batch(X, name, self.layer_sizes[0], self.dtype, self._kernels)

    def _xy(self, X, Y):
        X = self._x(X)
        Y = as_batch(Y, "Y", self.layer_sizes[-1], self.dtype, self._kernels, allow_1d=True)
        same_rows(X, Y)
        return X, Y

    def _workspace(self, rows) -> Workspace:
        ws = self._workspaces.get(rows)
        if ws is None:
            if len(self._workspaces) >= 4:  # bounded: callers cycling through batch sizes
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[rows] = Workspace(self.layer_sizes, rows, self.dtype)
        return ws

    # ---- computing -----------------------------------------------------------------------------------
    def predict(self, X, out=None) -> np.ndarray:
        """ŷ for X: (batch, n_in) -> (batch, n_out). `out`, if given, receives ŷ (no allocation)."""
        X = self._x(X)
        shape = (X.shape[0], self.layer_sizes[-1])
        if out is None:
            out = np.empty(shape, self.dtype)
        elif not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == self.dtype
                  and out.flags.c_contiguous and out.flags.writeable):
            raise ValueError(f"out must be a writeable C-contiguous {self.dtype.name} array of shape {shape}")
        if self._predict_work is None:
            self._predict_work = predict_work(self.layer_sizes, PREDICT_CHUNK, self.dtype)
        self._kernels.predict(self._theta, self._sizes, self._acts, X, out, self._predict_work, PREDICT_CHUNK)
        return out

    def loss(self, X, Y) -> float:
        """L(ŷ(X), Y) as a float. X: (batch, n_in), Y: (batch, n_out)."""
        X, Y = self._xy(X, Y)
        return self._kernels.loss_forward_backward(self._loss, self.predict(X), Y, None)

    def loss_and_grad(self, X, Y):
        """(L, ∂L/∂θ): the loss and a new flat gradient array in θ's layout."""
        X, Y = self._xy(X, Y)
        ws = self._workspace(X.shape[0])
        value = self._kernels.loss_and_grad(self._theta, self._sizes, self._acts, self._loss, X, Y,
                                            ws.hbuf, ws.dbuf, ws.grad)
        return value, ws.grad.copy()

    def train_step(self, X, Y, lr=0.01) -> float:
        """One gradient-descent step θ -= lr ∂L/∂θ on this batch, in one native call; returns L before it."""
        lr = positive_float(lr, "lr")
        X, Y = self._xy(X, Y)
        ws = self._workspace(X.shape[0])
        return self._kernels.train_step(self._theta, self._sizes, self._acts, self._loss, X, Y, lr,
                                        ws.hbuf, ws.dbuf, ws.grad)

    def fit(self, X, Y, epochs=100, batch_size=32, lr=0.01, shuffle=True) -> History:
        """Minibatch SGD for `epochs` passes over (X, Y); batch_size=None is full-batch gradient descent.

        Each epoch is one native call. Returns the History (also kept as self.history_); its loss is the
        configured loss over each epoch's batches (summed for "sse", averaged per element for "mse").
        """
        X, Y = self._xy(X, Y)
        epochs = positive_int(epochs, "epochs", allow_zero=True)
        lr = positive_float(lr, "lr")
        n = X.shape[0]
        batch = n if batch_size is None else min(positive_int(batch_size, "batch_size"), n)
        ws = self._workspace(batch)
        n_batches = -(-n // batch)
        batch_losses = np.empty(n_batches, np.float64)
        batch_rows = np.full(n_batches, batch, np.float64)
        batch_rows[-1] = n - batch * (n_batches - 1)
        no_perm = np.empty(0, np.int64)
        history = History()
        for _ in range(epochs):
            t0 = time.perf_counter()
            perm = self._rng.permutation(n) if shuffle else no_perm
            self._kernels.train_epoch(self._theta, self._sizes, self._acts, self._loss, X, Y, perm, batch,
                                      lr, ws.hbuf, ws.dbuf, ws.grad, ws.xbuf, ws.ybuf, batch_losses)
            if self._loss == losses.MSE:
                epoch_loss = float(batch_losses @ batch_rows) / n
            else:
                epoch_loss = float(batch_losses.sum())
            history.loss.append(epoch_loss)
            history.lr.append(lr)
            history.time.append(time.perf_counter() - t0)
        self.history_ = history
        return history
