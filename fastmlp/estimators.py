"""scikit-learn-style estimators around fastmlp.MLP, for users who start from data, not layer sizes.

    from fastmlp.estimators import MLPClassifier, MLPRegressor
    clf = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=100, random_state=0).fit(X, y)
    clf.predict(X_test), clf.predict_proba(X_test), clf.score(X_test, y_test)

The network's input and output sizes come from the data: n_features_in_ inputs; for the regressor one
output per target column, for the classifier one output per class (see MLPClassifier). Labels may be
integers, bools or strings: `predict` returns labels of the type that `fit` was given.

They follow scikit-learn's estimator protocol (get_params / set_params, clone-able constructor
parameters stored verbatim and validated in fit, fitted attributes ending in "_", n_features_in_,
feature_names_in_ for data frames, partial_fit, pickling, tags) without importing scikit-learn: they
work in Pipelines, GridSearchCV and cross_val_score and pass sklearn's check_estimator. Only
`__sklearn_tags__`, which only scikit-learn itself calls, imports it.

Inputs are not standardized: put a scaler in front (e.g. sklearn's StandardScaler in a Pipeline).
"""
from __future__ import annotations

import inspect
import numbers
import sys

import numpy as np

from . import io as model_io
from ._validation import as_dtype
from .model import MLP

__all__ = ["MLPRegressor", "MLPClassifier", "NotFittedError", "DataConversionWarning"]

OPTIMIZERS = ("adam", "sgd", "lbfgs")
CLASSIFIER_LOSSES = {"cross_entropy": "cross_entropy", "log_loss": "cross_entropy",
                     "binary_cross_entropy": "binary_cross_entropy", "bce": "binary_cross_entropy"}


# ---- errors and warnings (scikit-learn's names, without importing it) -------------------------------------

class NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before it was fitted (as sklearn.exceptions.NotFittedError,
    a ValueError and an AttributeError). When scikit-learn is imported in the process, the raised
    exception is also an instance of sklearn.exceptions.NotFittedError."""


class DataConversionWarning(UserWarning):
    """Warns that the target was converted (as sklearn.exceptions.DataConversionWarning; when
    scikit-learn is imported in the process, the warning is also an instance of sklearn's class)."""


_INTEROP = {}


def _interop(cls):
    """cls, or, when scikit-learn is already imported, a subclass of both cls and sklearn's class of the
    same name: `except` clauses and warning filters written for either then match."""
    exceptions = sys.modules.get("sklearn.exceptions")
    theirs = getattr(exceptions, cls.__name__, None) if exceptions is not None else None
    if not (isinstance(theirs, type) and all(issubclass(theirs, base) for base in cls.__bases__)):
        return cls
    key = (cls, theirs)
    if key not in _INTEROP:
        _INTEROP[key] = type(cls.__name__, (cls, theirs), {
            "__module__": __name__, "__doc__": cls.__doc__,
            "__reduce__": lambda self: (cls, self.args)})  # unpickles as fastmlp's class
    return _INTEROP[key]


def _warn(cls, message):
    """Warn with the caller's line outside fastmlp as the location."""
    import warnings
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("fastmlp."):
        frame, level = frame.f_back, level + 1
    warnings.warn(_interop(cls)(message), stacklevel=level)


# ---- small helpers --------------------------------------------------------------------------------------

def _is_sparse(A) -> bool:
    sparse = sys.modules.get("scipy.sparse")  # not imported: then A is no scipy sparse matrix
    return sparse is not None and sparse.issparse(A)


def _feature_names(X):
    """The column names of a data frame X as an object array when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    try:
        names = list(columns)
    except TypeError:
        return None
    kinds = {isinstance(name, str) for name in names}
    if kinds == {True}:
        return np.asarray(names, dtype=object)
    if kinds == {True, False}:
        raise TypeError("Feature names are only supported if all input features have string names, got "
                        f"names of types {sorted({type(n).__name__ for n in names})}; convert them with "
                        "X.columns = X.columns.astype(str)")
    return None


def _as_numeric(A, name):
    """np.asarray(A) with a real numeric dtype, or a clear error."""
    if _is_sparse(A):
        raise TypeError(f"{name} is a sparse matrix, and sparse input is not supported: convert it with "
                        f"{name}.toarray() (a dense copy)")
    if A is None:
        raise ValueError(f"Expected a 2-D array-like {name}, got None")
    A = np.asarray(A)
    kind = A.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {A.dtype}")
    if kind == "O":
        A = A.astype(np.float64)  # numbers stored as objects; TypeError/ValueError names the bad entry
    elif kind in "US":
        raise TypeError(f"{name} must hold numbers, got strings (dtype {A.dtype}); encode categorical "
                        "features first (e.g. with sklearn's OneHotEncoder)")
    elif kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    return A


def _check_2d(A, name):
    if A.ndim == 1:
        raise ValueError(f"Expected a 2-D array {name} of shape (n_samples, n_features), got a 1-D array of "
                         f"shape {A.shape}. Reshape your data either using array.reshape(-1, 1) if it has "
                         "a single feature or array.reshape(1, -1) if it contains a single sample.")
    if A.ndim != 2:
        raise ValueError(f"Expected a 2-D array {name} of shape (n_samples, n_features), got a "
                         f"{A.ndim}-D array of shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={A.shape}) while a minimum of 1 is required.")
    if A.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={A.shape}) while a minimum of 1 is required.")


def _finite(A, name):
    if not np.isfinite(A).all():
        raise ValueError(f"Input {name} contains NaN or infinity (inf)")


def _sample_weight(sample_weight, n, dtype):
    if sample_weight is None:
        return None
    sw = _as_numeric(sample_weight, "sample_weight")
    if sw.ndim == 0:  # one number for every sample
        sw = np.full(n, float(sw))
    if sw.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) (one weight per sample), got {sw.shape}")
    sw = np.ascontiguousarray(sw, dtype=dtype)
    _finite(sw, "sample_weight")
    if (sw < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if not sw.sum() > 0:
        raise ValueError("sample_weight must contain at least one non-zero weight (all weights are zero)")
    return sw


def _seed(random_state):
    """An int seed (or None) for MLP from an int, None, a numpy RandomState or Generator."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        if not 0 <= random_state < 2**32:
            raise ValueError(f"random_state must be in [0, 2**32), got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32))
    raise ValueError(f"random_state must be None, an int, or a numpy RandomState / Generator, "
                     f"got {random_state!r}")


def _hidden_sizes(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"hidden_layer_sizes must be a sequence of positive ints, got {value!r}")
    sizes = tuple(value)
    for s in sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"hidden_layer_sizes must hold positive ints, got {value!r}")
    return tuple(int(s) for s in sizes)


def _bool(value, name):
    if not isinstance(value, (bool, np.bool_, numbers.Integral)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _r2(Y, P, sw):
    """R² per column averaged (sklearn's r2_score, multioutput='uniform_average', force_finite)."""
    w = np.ones(Y.shape[0]) if sw is None else sw.astype(np.float64)
    Y = Y.astype(np.float64)
    mean = (w @ Y) / w.sum()
    num = w @ (Y - P) ** 2
    den = w @ (Y - mean) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(den != 0, 1 - num / den, np.where(num == 0, 1.0, 0.0))
    return float(scores.mean())


class _AvailableIf:
    """A method that exists (hasattr is True) only while check(instance) holds, as sklearn's available_if:
    partial_fit with optimizer="lbfgs" is not a method, rather than one that always fails."""

    def __init__(self, check, why):
        self.check, self.why = check, why

    def __call__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        return self

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.fn
        if not self.check(obj):
            raise AttributeError(f"{type(obj).__name__} has no {self.fn.__name__}: {self.why(obj)}")
        return self.fn.__get__(obj, owner)


def _incremental(est):
    return not (isinstance(est.optimizer, str) and est.optimizer == "lbfgs")


def _no_incremental(est):
    return "optimizer='lbfgs' trains full-batch; use fit, or optimizer='adam' / 'sgd'"


# ---- the shared base ---------------------------------------------------------------------------------------

class _MLPEstimator:
    """Parameters, fitting and validation shared by MLPRegressor and MLPClassifier."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, loss=None, optimizer="adam", lr=None,
                 batch_size=32, max_iter=200, momentum=0.9, nesterov=False, alpha=1e-4, l1=0.0,
                 schedule="constant", schedule_options=None, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, shuffle=True, dtype="float64", backend=None,
                 random_state=None, warm_start=False, verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.momentum = momentum
        self.nesterov = nesterov
        self.alpha = alpha
        self.l1 = l1
        self.schedule = schedule
        self.schedule_options = schedule_options
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.dtype = dtype
        self.backend = backend
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ---- the estimator protocol ----------------------------------------------------------------------------
    @classmethod
    def _param_names(cls):
        params = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in params if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """The constructor parameters as a dict (`deep` is accepted for scikit-learn; nothing nests)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters (validated by the next fit); returns self."""
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {valid!r}.")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if type(value) is not type(defaults.get(name)) or repr(value) != repr(defaults.get(name))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def __getstate__(self):
        # The network travels as fastmlp.io's validated state (θ, optimizer state, generator), with the
        # backend it ran on: unpickled, it trains and predicts on the same one where that one loads.
        state = self.__dict__.copy()
        net = state.get("model_")
        if isinstance(net, MLP):
            state["model_"] = {"state": model_io.to_state(net, include_optimizer=True), "backend": net.backend}
        return state

    def __setstate__(self, state):
        saved = state.get("model_")
        if isinstance(saved, dict):
            try:
                net = model_io.from_state(saved["state"], backend=saved["backend"])
            except ImportError:  # that backend does not load here: the fastest that does
                net = model_io.from_state(saved["state"])
            net.history_ = state.get("history_")
            state = dict(state, model_=net)
        self.__dict__.update(state)

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise _interop(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator.")

    # ---- validation -------------------------------------------------------------------------------------
    def _validate_X(self, X, reset, dtype):
        """(X as a C-contiguous 2-D array of `dtype`, its feature names or None); unless `reset`, checks
        the number of features and the names against the fit's."""
        names = _feature_names(X)
        A = _as_numeric(X, "X")
        _check_2d(A, "X")
        cls = type(self).__name__
        if not reset:
            if A.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {A.shape[1]} features, but {cls} is expecting "
                                 f"{self.n_features_in_} features as input.")
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and names is None:
                _warn(UserWarning, f"X does not have valid feature names, but {cls} was fitted with "
                                   "feature names")
            elif fitted is None and names is not None:
                _warn(UserWarning, f"X has feature names, but {cls} was fitted without feature names")
            elif fitted is not None and (len(fitted) != len(names) or (fitted != names).any()):
                raise ValueError(f"The feature names should match those that were passed during fit: "
                                 f"fitted with {list(fitted)}, got {list(names)}")
        A = np.ascontiguousarray(A, dtype=dtype)
        _finite(A, "X")
        return A, names

    def _require_y(self, y):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")

    def _architecture(self):
        """The parameters that shape the network, validated: (hidden sizes, activation, loss, dtype,
        backend)."""
        activation = self.activation
        if not isinstance(activation, str):
            activation = tuple(activation)
        return (_hidden_sizes(self.hidden_layer_sizes), activation, self._loss_name(),
                as_dtype(self.dtype).name, self.backend)

    def _fit_options(self, n):
        if not isinstance(self.optimizer, str) or self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral) \
                or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive int, got {self.max_iter!r}")
        batch = self.batch_size
        if isinstance(batch, str) and batch == "auto":
            batch = min(200, n)
        return dict(batch_size=batch, lr=self.lr, optimizer=self.optimizer, momentum=self.momentum,
                    nesterov=_bool(self.nesterov, "nesterov"), schedule=self.schedule,
                    schedule_options=self.schedule_options, alpha=self.alpha, l1=self.l1,
                    shuffle=_bool(self.shuffle, "shuffle"), tol=self.tol,
                    n_iter_no_change=self.n_iter_no_change,
                    early_stopping=_bool(self.early_stopping, "early_stopping"),
                    validation_fraction=self.validation_fraction, verbose=_bool(self.verbose, "verbose"))

    # ---- training ------------------------------------------------------------------------------------------
    def _train(self, X, y, sample_weight, incremental, classes=None):
        """fit (incremental=False) or partial_fit (True)."""
        self._require_y(y)
        arch = self._architecture()
        continuing = hasattr(self, "model_") and (
            incremental or (_bool(self.warm_start, "warm_start") and arch == self._arch_))
        if continuing:
            arch = self._arch_  # the network's own, whatever the parameters say now
        dtype = np.dtype(arch[3])
        X, names = self._validate_X(X, reset=not continuing, dtype=dtype)
        Y, targets = self._validate_targets(y, X.shape[0], dtype, continuing, incremental, classes)
        sw = _sample_weight(sample_weight, X.shape[0], dtype)
        n_features = X.shape[1]
        if sw is not None and not sw.all():
            # Rows of weight 0 add nothing to the loss: train without them, so that a weight of 0 is
            # exactly the row's removal (and no minibatch has weights summing to 0).
            keep = sw > 0
            X, Y, sw = X[keep], Y[keep], sw[keep]
        options = self._fit_options(X.shape[0])
        if options["early_stopping"] and not incremental and X.shape[0] < 2:
            raise ValueError(f"early_stopping needs at least 2 samples to split off a validation set, got "
                             f"{X.shape[0]} sample(s)")
        if continuing:
            net = self.model_
        else:
            hidden, activation, loss, dtype_name, backend = arch
            net = MLP((n_features, *hidden, Y.shape[1]), activation=activation, loss=loss, dtype=dtype_name,
                      seed=_seed(self.random_state), backend=backend)
        if incremental:
            options.update(early_stopping=False, tol=None)
            history = net.fit(X, Y, epochs=1, sample_weight=sw, warm_start=True, **options)
        else:
            history = net.fit(X, Y, epochs=int(self.max_iter), sample_weight=sw, warm_start=continuing,
                              **options)
        # The fitted attributes, set once training went through.
        if not continuing:
            self.n_features_in_ = n_features
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self._set_targets(targets)
        self.model_ = net
        self._arch_ = arch
        self.history_ = history
        if incremental and continuing:
            self.n_iter_ += history.epochs
            self.loss_curve_ = self.loss_curve_ + list(history.loss)
        else:
            self.n_iter_ = history.epochs
            self.loss_curve_ = list(history.loss)
        self.validation_scores_ = list(history.val_metric) if history.val_metric else None
        return self

    def fit(self, X, y, sample_weight=None):
        """Train on X: (n_samples, n_features) and y; returns self.

        A new network each call (from random_state), unless warm_start is set and the previous fit's
        network has the same parameters and data shape: that one then trains on (and keeps its
        optimizer state). Training runs max_iter epochs (L-BFGS iterations for optimizer="lbfgs"),
        fewer when the loss stops improving (tol, n_iter_no_change, early_stopping).
        sample_weight: (n_samples,) non-negative weights, or None."""
        return self._train(X, y, sample_weight, incremental=False)

    @property
    def coefs_(self):
        """[W_l.T]: the weight matrices as sklearn lays them out, (n_in, n_out) copies."""
        self._check_fitted()
        return [W.T.copy() for W in self.model_.weights]

    @property
    def intercepts_(self):
        """[b_l]: the bias vectors (copies)."""
        self._check_fitted()
        return [b.copy() for b in self.model_.biases]

    def _raw_predict(self, X):
        self._check_fitted()
        X, _ = self._validate_X(X, reset=False, dtype=self.model_.dtype)
        return self.model_.predict(X)


_PARAMS_DOC = """
    Parameters (stored as given; validated by fit)
    ----------
    hidden_layer_sizes : tuple of int, default (100,). Hidden layer widths; () for none.
    activation : str, default "relu". The hidden layers' activation ("relu", "tanh", "sigmoid" /
        "logistic", "softplus", "identity"), or one name per hidden layer.
    loss : str or None. {loss}
    optimizer : "adam" (default), "sgd" (with momentum, nesterov) or "lbfgs" (scipy's L-BFGS-B,
        full batch; no partial_fit). sklearn calls this `solver`.
    lr : float or None. The initial learning rate (sklearn: learning_rate_init); None: 0.001 for adam,
        0.01 for sgd.
    batch_size : int, "auto" or None, default 32. Minibatch rows, capped at n_samples (min(32, n));
        "auto": min(200, n_samples) as in sklearn; None: full batch.
    max_iter : int, default 200. Epochs for adam / sgd (passes over the data; MLP.fit's `epochs`),
        iterations for lbfgs, as in sklearn.
    momentum : float, default 0.9; nesterov : bool, default False. For optimizer="sgd" (PyTorch's
        convention); sklearn calls the latter nesterovs_momentum.
    alpha : float, default 1e-4. L2 penalty on the weights as weight decay in each step
        (g += alpha * W, PyTorch's weight_decay; (alpha / 2) ||W||^2 added to the loss for lbfgs).
        sklearn divides its alpha by the batch size (by n_samples for lbfgs): sklearn's alpha
        corresponds to alpha / batch_size here.
    l1 : float, default 0. L1 penalty on the weights.
    schedule : "constant" (default), "invscaling", "step", "cosine", "plateau" or a callable
        epoch -> lr; schedule_options : dict or None, the named schedule's options (fastmlp.optim).
    tol : float or None, default 1e-4; n_iter_no_change : int, default 10. Stop when the training loss
        (the validation loss with early_stopping) has not improved by tol for n_iter_no_change epochs;
        tol=None: never stop before max_iter (except early_stopping).
    early_stopping : bool, default False. Hold out validation_fraction (default 0.1) of the rows,
        monitor their loss, and keep the best network. Not used by partial_fit.
    shuffle : bool, default True. Shuffle the rows each epoch.
    dtype : "float64" (default) or "float32". The network's floating type; predictions come back in
        it. float64 is the default for the numerical agreement scikit-learn's checks expect; float32
        trains faster.
    backend : "cython", "numba", "numpy" or None (the fastest available, or $FASTMLP_BACKEND).
    random_state : int, None, numpy RandomState or Generator. Seeds the initial weights, the shuffling
        and the validation split; an int makes fit reproducible.
    warm_start : bool, default False. Let fit continue from the previous fit's network.
    verbose : bool, default False. A progress bar.

    Fitted attributes
    -----------------
    model_ : the trained fastmlp.MLP. n_features_in_, feature_names_in_ (data frames with string column
    names only). history_ : the last fit / partial_fit call's fastmlp.History. loss_curve_ : the
    training loss per epoch (without the penalty; partial_fit appends). n_iter_ : epochs (iterations)
    run by fit, or summed over partial_fit calls. validation_scores_ : the validation metric per epoch
    with early_stopping, else None. coefs_, intercepts_ : the weights and biases in sklearn's layout.
"""


class MLPRegressor(_MLPEstimator):
    __doc__ = """A multi-layer perceptron regressor (fastmlp.MLP with an identity output layer).

    y: (n_samples,) gives 1-D predictions; (n_samples, n_targets) gives one output per target
    (multi-output), 2-D predictions. score: R² (averaged over targets), with sample_weight.
""" + _PARAMS_DOC.format(loss='None means "mse"; "sse", "mae", "huber" or any fastmlp loss.')

    _estimator_type = "regressor"  # scikit-learn < 1.6 reads this

    def _loss_name(self):
        return "mse" if self.loss is None else self.loss

    def _validate_targets(self, y, n, dtype, continuing, incremental, classes):
        Y = _as_numeric(y, "y")
        if Y.ndim == 0 or Y.ndim > 2:
            raise ValueError(f"y must be 1-D (n_samples,) or 2-D (n_samples, n_targets), got shape {Y.shape}")
        one_d = Y.ndim == 1
        Y = Y.reshape(-1, 1) if one_d else Y
        if Y.shape[0] != n:
            raise ValueError(f"X and y have inconsistent numbers of samples: {n} and {Y.shape[0]}")
        if Y.shape[1] == 0:
            raise ValueError("y has 0 target columns")
        if continuing and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} target column(s), but {type(self).__name__} was fitted "
                             f"with {self.n_outputs_}")
        Y = np.ascontiguousarray(Y, dtype=dtype)
        _finite(Y, "y")
        return Y, (one_d, Y.shape[1])

    def _set_targets(self, targets):
        self._y_1d, self.n_outputs_ = targets

    @_AvailableIf(_incremental, _no_incremental)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on (X, y), continuing the network (and optimizer state) of earlier calls or of fit;
        the first call builds the network. Returns self."""
        return self._train(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """ŷ: (n_samples,) for a 1-D y at fit, else (n_samples, n_targets), in the network's dtype."""
        P = self._raw_predict(X)
        return P[:, 0].copy() if self._y_1d else P

    def score(self, X, y, sample_weight=None):
        """R² of predict(X) against y (sklearn's r2_score, averaged over targets)."""
        P = self._raw_predict(X).astype(np.float64)
        self._require_y(y)
        Y = _as_numeric(y, "y")
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if Y.shape != P.shape:
            raise ValueError(f"y has shape {np.shape(y)}, the predictions {P.shape}")
        _finite(Y, "y")
        return _r2(Y, P, _sample_weight(sample_weight, P.shape[0], np.float64))

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags
        return Tags(estimator_type="regressor",
                    target_tags=TargetTags(required=True, multi_output=True, single_output=True),
                    regressor_tags=RegressorTags(), input_tags=InputTags(two_d_array=True))

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}


def _labels(y, name="y"):
    """y as a 1-D array of class labels (integers, bools, strings or other orderable objects)."""
    if _is_sparse(y):
        raise TypeError(f"{name} is sparse; pass the class labels as a 1-D array")
    Y = np.asarray(y)
    if Y.ndim == 2 and Y.shape[1] == 1:
        _warn(DataConversionWarning, "A column-vector y was passed when a 1d array was expected. Please "
                                     "change the shape of y to (n_samples, ), for example using ravel().")
        Y = Y[:, 0]
    if Y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class label per sample), got shape {Y.shape}; "
                         "multi-output and multi-label targets are not supported")
    kind = Y.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {Y.dtype}")
    if kind == "O":
        numeric = [v for v in Y if isinstance(v, numbers.Number)]
        if any(isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real) for v in numeric):
            raise ValueError(f"Unknown label type: complex labels in {name}")
        if numeric and len(numeric) < Y.size:
            raise ValueError(f"Unknown label type: {name} mixes numbers and other objects")
        if numeric:
            values = np.asarray(numeric, dtype=np.float64)
            _finite(values, name)
            if (values != np.floor(values)).any():
                raise ValueError(f"Unknown label type: continuous. {name} holds non-integer numbers; "
                                 "MLPClassifier needs class labels (for real-valued targets use MLPRegressor)")
    elif kind == "f":
        _finite(Y, name)
        if (Y != np.floor(Y)).any():
            raise ValueError(f"Unknown label type: continuous. {name} holds non-integer numbers; "
                             "MLPClassifier needs class labels (for real-valued targets use MLPRegressor)")
    elif kind not in "biuUS":
        raise ValueError(f"Unknown label type: {name} has dtype {Y.dtype}")
    return Y


def _unique(Y, name="y"):
    try:
        return np.unique(Y)
    except TypeError:
        raise ValueError(f"Unknown label type: the labels in {name} cannot be sorted "
                         f"(mixed types: {sorted({type(v).__name__ for v in Y})})") from None


def _unseen(Y, classes):
    """The distinct labels of Y that are not in classes."""
    try:
        known = np.isin(Y, classes)
    except TypeError:
        allowed = set(classes.tolist())
        known = np.array([v in allowed for v in Y.tolist()], bool)
    return list(dict.fromkeys(Y[~known].tolist()))


class MLPClassifier(_MLPEstimator):
    __doc__ = """A multi-layer perceptron classifier.

    One output per class with a softmax output layer and the cross_entropy loss (loss=None), for two
    classes as for more: predict_proba is the softmax, predict its arg max. loss="binary_cross_entropy"
    instead uses sigmoid outputs: one for two classes (logistic regression's layout, predict_proba
    [1 - p, p]), one per class (one-vs-rest, rows normalized to sum to 1) for more.
    y: class labels (ints, bools, strings, ...), 1-D; the targets are one-hot rows of np.unique(y)
    (classes_). predict returns labels of classes_' type. score: accuracy, with sample_weight.
    Labels not among classes_ (in partial_fit after the first call, in score) raise ValueError.
    A y with a single class trains a network that always predicts it.
""" + _PARAMS_DOC.format(loss='None means "cross_entropy" (alias "log_loss"); or '
                              '"binary_cross_entropy" (alias "bce").')

    _estimator_type = "classifier"  # scikit-learn < 1.6 reads this

    def _loss_name(self):
        loss = "cross_entropy" if self.loss is None else self.loss
        if not isinstance(loss, str) or loss.lower() not in CLASSIFIER_LOSSES:
            raise ValueError(f"MLPClassifier's loss must be one of {', '.join(CLASSIFIER_LOSSES)} or None, "
                             f"got {self.loss!r}")
        return CLASSIFIER_LOSSES[loss.lower()]

    def _validate_targets(self, y, n, dtype, continuing, incremental, classes):
        Y = _labels(y)
        if Y.shape[0] != n:
            raise ValueError(f"X and y have inconsistent numbers of samples: {n} and {Y.shape[0]}")
        if continuing:
            known = self.classes_
            if classes is not None and not np.array_equal(_unique(_labels(classes, "classes"), "classes"),
                                                          known):
                raise ValueError(f"classes={list(classes)!r} is not the classes_ of the earlier fit / "
                                 f"partial_fit, {known.tolist()!r}")
        elif classes is not None:
            known = _unique(_labels(classes, "classes"), "classes")
        else:
            known = _unique(Y)
        unseen = _unseen(Y, known)
        if unseen:
            raise ValueError(f"y contains labels that are not among the classes {known.tolist()!r}: "
                             f"{unseen!r}")
        if continuing and not incremental and not np.array_equal(_unique(Y), known):
            raise ValueError("warm_start can only be used where y has the same classes as in the previous "
                             f"fit: previous classes {known.tolist()!r}, now {_unique(Y).tolist()!r}")
        index = np.searchsorted(known, Y) if known.size > 1 else np.zeros(Y.shape[0], np.intp)
        k = known.size
        loss = self._arch_[2] if continuing else self._loss_name()
        binary_bce = loss == "binary_cross_entropy" and k == 2
        if binary_bce:
            T = (index == 1).astype(dtype).reshape(-1, 1)
        else:
            T = np.zeros((Y.shape[0], k), dtype)
            T[np.arange(Y.shape[0]), index] = 1
        return T, known

    def _set_targets(self, classes):
        self.classes_ = classes

    @_AvailableIf(_incremental, _no_incremental)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on (X, y), continuing the network (and optimizer state) of earlier calls or of fit.
        classes: every label y may ever hold, required on the first call (which builds the network);
        later calls may repeat it. Labels outside classes_ raise ValueError. Returns self."""
        if not hasattr(self, "model_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit: every label y may "
                             "hold, e.g. classes=np.unique(y_all)")
        return self._train(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """(n_samples, n_classes) class probabilities, columns in classes_' order; rows sum to 1."""
        P = self._raw_predict(X)
        k = self.classes_.size
        if self._arch_[2] == "binary_cross_entropy":
            if k == 2:
                return np.hstack([1 - P, P])
            total = P.sum(axis=1, keepdims=True)
            return np.divide(P, total, out=np.full_like(P, 1.0 / k), where=total > 0)
        return P

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class label per sample: (n_samples,), of classes_' type."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of predict(X) against y, weighted by sample_weight. Labels that are not in classes_
        raise ValueError."""
        self._check_fitted()
        self._require_y(y)
        Y = _labels(y)
        unseen = _unseen(Y, self.classes_)
        if unseen:
            raise ValueError(f"y contains labels not seen in fit (classes_ {self.classes_.tolist()!r}): "
                             f"{unseen!r}")
        pred = self.predict(X)
        if Y.shape[0] != pred.shape[0]:
            raise ValueError(f"X and y have inconsistent numbers of samples: {pred.shape[0]} and {Y.shape[0]}")
        sw = _sample_weight(sample_weight, Y.shape[0], np.float64)
        hits = (pred == Y).astype(np.float64)
        return float(hits.mean() if sw is None else hits @ sw / sw.sum())

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags
        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_class=True, multi_label=False),
                    input_tags=InputTags(two_d_array=True))

    def _more_tags(self):  # scikit-learn < 1.6
        return {"binary_only": False}
