"""MLP: ŷ = g_L(W_L g(W_{L-1} … g(W_0 x + b_0) …) + b_L), its parameters in one flat θ."""
from __future__ import annotations

import math
import numbers
import time
import warnings

import numpy as np

from . import activations, losses, optim
from ._validation import as_batch, as_dtype, positive_float, positive_int, same_rows
from .backends import get_backend
from .init import initial_theta
from .training import Trainer
from .workspace import PREDICT_CHUNK, Workspace, aligned_copy, predict_work


class MLP:
    """A multi-layer perceptron whose parameters live in one flat array θ.

    layer_sizes: (n_in, n_hidden..., n_out). activation: the hidden layers' activation, one name or one
    per hidden layer. output_activation: the last layer's; None picks "softmax" for the cross_entropy
    loss, "sigmoid" for binary_cross_entropy and "identity" otherwise. loss: a name from
    fastmlp.losses ("sse", "mse", "mae", "huber", "cross_entropy", "binary_cross_entropy"). dtype:
    "float32" or "float64". seed: int or None, for the initial θ and fit's shuffling and splits.
    backend: "cython", "numba", "numpy" or None (the fastest available, or $FASTMLP_BACKEND).
    init: "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", or a flat θ array to start from.

    A model is not safe to train or predict from several threads at once: it reuses its workspaces.
    """

    def __init__(self, layer_sizes, activation="tanh", output_activation=None, loss="sse",
                 dtype="float32", seed=None, backend=None, init="glorot_uniform"):
        sizes = tuple(layer_sizes) if not isinstance(layer_sizes, (str, bytes, numbers.Number)) else ()
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least an input and an output size, got {layer_sizes!r}")
        self.layer_sizes = tuple(positive_int(s, f"layer_sizes[{i}]") for i, s in enumerate(sizes))
        n_hidden = len(sizes) - 2
        if isinstance(activation, str):
            hidden = [activation] * n_hidden
        elif isinstance(activation, (list, tuple)):
            hidden = list(activation)
        else:
            raise TypeError(f"activation must be a name (str) or a list of names, got {type(activation).__name__}")
        if len(hidden) != n_hidden:
            raise ValueError(f"activation lists {len(hidden)} names for {n_hidden} hidden layers")
        hidden_ids = [activations.activation_id(a) for a in hidden]
        if activations.SOFTMAX in hidden_ids:
            raise ValueError("softmax can only be the output activation (with the cross_entropy loss)")
        self._loss = losses.loss_id(loss)
        implied = losses.LOGIT_LOSSES.get(self._loss)
        out_id = activations.activation_id(output_activation or implied or "identity")
        if implied is not None and out_id != activations.activation_id(implied):
            raise ValueError(f"the {losses.LOSS_NAMES[self._loss]} loss needs output_activation={implied!r}, "
                             f"got {output_activation!r}")
        if out_id == activations.SOFTMAX and self._loss != losses.CROSS_ENTROPY:
            raise ValueError("output_activation='softmax' needs loss='cross_entropy'")
        self._acts = np.array(hidden_ids + [out_id], dtype=np.int64)
        # Training hands the logits to a logit loss, which applies softmax / sigmoid itself.
        self._train_acts = self._acts.copy()
        if implied is not None:
            self._train_acts[-1] = activations.IDENTITY
        self.dtype = as_dtype(dtype)
        self.backend, self._kernels = get_backend(backend)
        self._sizes = np.array(self.layer_sizes, dtype=np.int64)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._theta = aligned_copy(initial_theta(self.layer_sizes, self._rng, init).astype(self.dtype))
        self._workspaces = {}
        self._predict_work = None
        self._make_predictor = getattr(self._kernels, "Predictor", None)
        self._predictor = None  # the backend's one-call predict, once the work buffer exists
        # _xy passes ready arrays straight through; a logit loss also range-checks Y, so not for it
        ready = getattr(self._kernels, "batch_ready", None)
        self._batch_ready = None if self._loss in losses.LOGIT_LOSSES else ready
        # a backend's one-call train_step that checks X and Y itself (numba's), made at the first step; not
        # for logit losses (as _batch_ready), whose Y also needs the range check in _xy
        self._make_stepper = getattr(self._kernels, "stepper", None) if self._batch_ready is not None else None
        self._step_ready = None
        self._dtype_num = self.dtype.num
        self._no_weights = np.empty(0, self.dtype)
        self._sgd = optim.SGD(lr=0.01)
        self._sgd_lr = 0.01
        self.optimizer_ = None
        self.history_ = None
        self.epochs_done_ = 0
        self._warned_scale = False

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

    def _xy(self, X, Y, names=("X", "Y")):
        ready = self._batch_ready  # None for logit losses, whose Y needs the range check below
        if (ready is not None and ready(X, self._dtype_num, self.layer_sizes[0])
                and ready(Y, self._dtype_num, self.layer_sizes[-1]) and X.shape[0] == Y.shape[0]):
            return X, Y  # the common case: both ready arrays of the model's dtype
        X = self._x(X, names[0])
        Y = as_batch(Y, names[1], self.layer_sizes[-1], self.dtype, self._kernels, allow_1d=True)
        same_rows(X, Y, names)
        if self._loss in losses.LOGIT_LOSSES and (Y.min() < 0 or Y.max() > 1):
            raise ValueError(f"Y for the {self.loss_name} loss must hold probabilities in [0, 1] "
                             "(one-hot rows for cross_entropy)")
        return X, Y

    def _sample_weight(self, sample_weight, n):
        """sample_weight as a (n,) array of the model's dtype, or the empty array for none."""
        if sample_weight is None:
            return self._no_weights
        sw = np.asarray(sample_weight)
        if sw.dtype.kind not in "fiub":
            raise TypeError(f"sample_weight must hold real numbers, got dtype {sw.dtype}")
        sw = np.ascontiguousarray(sw, dtype=self.dtype)
        if sw.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got {sw.shape}")
        if not self._kernels.all_finite(sw) or (sw < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
        if not sw.sum() > 0:
            raise ValueError("sample_weight must not be all zero")
        return sw

    def _workspace(self, rows) -> Workspace:
        ws = self._workspaces.get(rows)
        if ws is None:
            if len(self._workspaces) >= 4:  # bounded: callers cycling through batch sizes
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[rows] = Workspace(self.layer_sizes, rows, self.dtype)
        return ws

    def _run_predict(self, X, out, acts):
        if self._predict_work is None:
            self._predict_work = predict_work(self.layer_sizes, PREDICT_CHUNK, self.dtype)
            if self._make_predictor is not None:
                self._predictor = self._make_predictor(self._theta, self._sizes, self._acts, self._predict_work,
                                                       PREDICT_CHUNK)
        self._kernels.predict(self._theta, self._sizes, acts, X, out, self._predict_work, PREDICT_CHUNK)
        return out

    # ---- computing -----------------------------------------------------------------------------------
    def predict(self, X, out=None) -> np.ndarray:
        """ŷ for X: (batch, n_in) -> (batch, n_out); probabilities for softmax / sigmoid outputs.
        `out`, if given, receives ŷ (no allocation)."""
        if self._predictor is not None:
            # the common case (a ready float array, a matching or absent out) in one native call
            done = self._predictor(X, out)
            if done is not None:
                return done
        X = self._x(X)
        shape = (X.shape[0], self.layer_sizes[-1])
        if out is None:
            out = np.empty(shape, self.dtype)
        elif not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == self.dtype
                  and out.flags.c_contiguous and out.flags.writeable):
            raise ValueError(f"out must be a writeable C-contiguous {self.dtype.name} array of shape {shape}")
        return self._run_predict(X, out, self._acts)

    def loss(self, X, Y, sample_weight=None) -> float:
        """L(ŷ(X), Y) as a float (no regularization term). X: (batch, n_in), Y: (batch, n_out)."""
        X, Y = self._xy(X, Y)
        sw = self._sample_weight(sample_weight, X.shape[0])
        out = self._run_predict(X, np.empty(Y.shape, self.dtype), self._train_acts)
        return self._kernels.loss_forward_backward(self._loss, out, Y, sw, None)

    def loss_and_grad(self, X, Y, sample_weight=None):
        """(L, ∂L/∂θ): the loss and a new flat gradient array in θ's layout."""
        X, Y = self._xy(X, Y)
        sw = self._sample_weight(sample_weight, X.shape[0])
        ws = self._workspace(X.shape[0])
        value = self._kernels.loss_and_grad(self._theta, self._sizes, self._train_acts, self._loss, X, Y, sw,
                                            ws.hbuf, ws.dbuf, ws.grad)
        return value, ws.grad.copy()

    def train_step(self, X, Y, lr=0.01, optimizer=None, sample_weight=None) -> float:
        """One update of θ on this batch in one native call: plain gradient descent θ -= lr ∂L/∂θ, or a
        step of `optimizer` (a fastmlp.optim.Optimizer, whose own lr then applies). Returns the loss
        before the step. A NaN or Inf loss raises FloatingPointError and leaves θ unchanged."""
        # Per-call overhead matters here (a playground step is a few µs): plain SGD keeps its lr as a
        # Python float and has no state to bind.
        if optimizer is None:
            if lr != self._sgd_lr:
                self._sgd.lr = lr
                self._sgd_lr = lr
            optimizer = self._sgd
            state = self._no_weights
        elif isinstance(optimizer, optim.Optimizer):
            state = optimizer.bind(self.n_params, self.dtype)
        else:
            raise TypeError(f"optimizer must be a fastmlp.optim.Optimizer, got {type(optimizer).__name__}")
        if self._step_ready is not None and sample_weight is None and type(X) is np.ndarray and X.ndim == 2:
            ws = self._workspaces.get(X.shape[0])  # a new batch size takes the general path once
            if ws is not None:
                value = self._step_ready(self._theta, self._sizes, self._train_acts, self._loss, X, Y,
                                         optimizer.opt_id, optimizer.hyper, state, ws.hbuf, ws.dbuf, ws.grad)
                if value is not None:
                    if 0.0 <= value < math.inf:  # a finite loss, θ checked: the common case
                        return value
                    return self._checked_step(value, value == self._kernels.THETA_NOT_FINITE)
        X, Y = self._xy(X, Y)
        sw = self._sample_weight(sample_weight, X.shape[0])
        ws = self._workspace(X.shape[0])
        value = self._kernels.train_step(self._theta, self._sizes, self._train_acts, self._loss, X, Y, sw,
                                         optimizer.opt_id, optimizer.hyper, state, ws.hbuf, ws.dbuf, ws.grad)
        if self._make_stepper is not None and self._step_ready is None:
            self._step_ready = self._make_stepper(self.dtype)  # compiles: on the first step, not each later one
        return self._checked_step(value, None)

    def _checked_step(self, value, theta_not_finite):
        """value, or FloatingPointError for a step that updated nothing (non-finite loss or gradient) or left
        θ non-finite (theta_not_finite None: not yet checked)."""
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss or its gradient is {value} on this batch; θ was left unchanged")
        if theta_not_finite or (theta_not_finite is None and not self._kernels.all_finite(self._theta)):
            raise FloatingPointError("the update overflowed: θ now holds NaN or Inf (the learning rate is far "
                                     "too large); set net.params from a saved copy")
        return value

    def fit(self, X, Y, epochs=100, batch_size=32, lr=None, optimizer="sgd", momentum=0.0,
            nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8, schedule="constant", schedule_options=None,
            alpha=0.0, l1=0.0, shuffle=True, sample_weight=None, tol=None, n_iter_no_change=10,
            early_stopping=False, validation_fraction=0.1, validation_data=None, verbose=False,
            callbacks=(), on_divergence="raise", warm_start=False):
        """Train on (X, Y); returns the History (also kept as self.history_).

        X: (n, n_in), Y: (n, n_out) (one-hot rows for cross_entropy). Each epoch is one native call.
        optimizer: "sgd" (momentum, nesterov), "adam" (beta1, beta2, eps), "lbfgs" (scipy, full batch,
        `epochs` iterations) or a fastmlp.optim.Optimizer. lr: γ_0 (default 0.01 for sgd, 0.001 for adam,
        an optimizer object's own lr). schedule: "constant", "invscaling", "step", "cosine", "plateau",
        a fastmlp.optim.Schedule or a callable epoch -> lr, with schedule_options for the named ones.
        alpha / l1: L2 / L1 penalties on the weights. batch_size=None: full-batch gradient descent.
        tol + n_iter_no_change: stop when the monitored loss (validation loss with early_stopping or
        validation_data, else training loss) has not improved by tol for that many epochs.
        early_stopping: hold out validation_fraction of the rows (or use validation_data=(Xv, Yv)),
        stop as above with tol defaulting to 1e-4, and restore the best θ. callbacks: callables
        (epoch, logs) called after each epoch; one returning True stops training. verbose: a progress
        bar (tqdm if installed). on_divergence: "raise" (FloatingPointError) or "warn"; either way θ
        is left at its last finite values. warm_start: keep the optimizer state of the previous fit.
        """
        return Trainer(self).fit(
            X, Y, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, momentum=momentum,
            nesterov=nesterov, beta1=beta1, beta2=beta2, eps=eps, schedule=schedule,
            schedule_options=schedule_options, alpha=alpha, l1=l1, shuffle=shuffle,
            sample_weight=sample_weight, tol=tol, n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            validation_data=validation_data, verbose=verbose, callbacks=callbacks,
            on_divergence=on_divergence, warm_start=warm_start)

    def partial_fit(self, X, Y, sample_weight=None, **options):
        """One pass over (X, Y) that keeps the optimizer state between calls (fit's other options apply,
        `epochs` excepted). Returns the History of that pass."""
        if "epochs" in options:
            raise TypeError("partial_fit makes exactly one pass; use fit for several epochs")
        return self.fit(X, Y, epochs=1, sample_weight=sample_weight, warm_start=True, **options)

    # ---- anatomy (the lecture's notation) ----
    def forward_trace(self, X):
        """The forward pass on X: (batch, n_in) layer by layer: a ForwardTrace with z[l], h[l] (h[0] = x).

        Computed with the reference activations in the net's dtype; trace.h[-1] agrees with predict(X).
        """
        from . import anatomy  # imported here: anatomy imports this module
        return anatomy.forward_trace(self, X)

    def augmented_weights(self) -> list:
        """[W_l | b_l] for each layer: (n_{l+1}, n_l + 1) copies, the bias as the last column."""
        from . import anatomy
        return anatomy.augmented_weights(self)

    @classmethod
    def from_augmented_weights(cls, mats, activation="tanh", output_activation=None, **kw):
        """A model whose layer l is mats[l] = [W_l | b_l]: (n_{l+1}, n_l + 1); shapes must chain.

        dtype defaults to the matrices' (float32/float64, else float64); other keywords (and
        output_activation=None, the loss's default) go to MLP().
        """
        from . import anatomy
        return anatomy.from_augmented_weights(cls, mats, activation=activation,
                                              output_activation=output_activation, **kw)

    # ---- persistence ----
    def save(self, path, include_optimizer=False):
        """Write the model to one .npz at `path`: θ plus a JSON description (and the optimizer state
        when include_optimizer). Atomic: a crash mid-save leaves any old file intact."""
        from . import io
        io.save(self, path, include_optimizer=include_optimizer)

    def __reduce__(self):
        # Pickles carry the same validated description as save(): unpickling checks it.
        from . import io
        return (io.from_state, (io.to_state(self, include_optimizer=True),))
