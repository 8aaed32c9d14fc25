"""fastmlp.estimators: MLPRegressor / MLPClassifier against scikit-learn's own estimator checks, inside
its Pipeline / GridSearchCV / cross_val_score, and against sklearn.neural_network on the same data."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from conftest import BACKENDS
from fastmlp import MLP
from fastmlp.estimators import DataConversionWarning, MLPClassifier, MLPRegressor, NotFittedError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """These problems are tiny: with several BLAS threads on a busy machine, OpenBLAS's thread hand-offs
    (in scipy's L-BFGS-B above all) make a 0.3 s check take 3-12 s. One thread keeps the file fast."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield

# ---- scikit-learn's check_estimator ------------------------------------------------------------------------

# The defaults first, then the other code paths in small networks. Only configurations whose very
# design breaks a check list it, with the reason.
SMALL = dict(hidden_layer_sizes=(16,), max_iter=100)
MINIBATCH = ("with minibatches smaller than the data, a weight of k and k repeated rows land in different "
             "batches, so the two fits take different steps (sklearn's own MLPs pass this check only "
             "with solver='lbfgs')")
CHECK_ESTIMATORS = [
    MLPRegressor(),
    MLPClassifier(),
    MLPRegressor(optimizer="lbfgs", hidden_layer_sizes=(8,), max_iter=30),
    MLPClassifier(optimizer="lbfgs", hidden_layer_sizes=(8,), max_iter=30),
    MLPClassifier(loss="binary_cross_entropy", **SMALL),
    MLPRegressor(optimizer="sgd", lr=0.001, hidden_layer_sizes=(), max_iter=100),
    MLPRegressor(batch_size=4, **SMALL),
    MLPClassifier(early_stopping=True, **SMALL),
    MLPRegressor(dtype="float32", **SMALL),
]


def _expected_failures(est):
    failures = {}
    if est.batch_size == 4:
        failures["check_sample_weight_equivalence_on_dense_data"] = MINIBATCH
    if est.early_stopping:
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "early stopping holds out a random tenth of the rows: weighted and repeated data lose different "
            "samples to the validation set")
    if est.dtype == "float32":
        failures["check_regressor_multioutput"] = (
            "predictions come in the network's dtype by design, float32 here; the check wants float64")
    return failures


with warnings.catch_warnings():
    # "does not inherit from sklearn.base.BaseEstimator": by design, fastmlp does not import sklearn.
    warnings.filterwarnings("ignore", "Estimator .* does not inherit", UserWarning)
    _sklearn_checks = parametrize_with_checks(CHECK_ESTIMATORS, expected_failed_checks=_expected_failures)


@_sklearn_checks
def test_sklearn_check_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "features far from unit scale" on the checks' data
        check(estimator)


# ---- data --------------------------------------------------------------------------------------------------

def spiral(n_per_class=150, n_classes=3, noise=0.2, seed=0):
    """The classic interleaved spirals: n_classes arms of n_per_class points in 2-D."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(n_classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(4.0 * c, 4.0 * (c + 1), n_per_class) + rng.normal(0, noise, n_per_class)
        X.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y.append(np.full(n_per_class, c))
    return np.vstack(X), np.concatenate(y)


def blobs(n=150, seed=0):
    X, y = make_blobs(n_samples=n, centers=3, cluster_std=1.0, random_state=seed)
    return StandardScaler().fit_transform(X), y


# ---- accuracy against sklearn.neural_network ------------------------------------------------------------

def test_spiral_accuracy_comparable_to_sklearn():
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    X, y = spiral()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    ours = MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=300, lr=0.01, random_state=0).fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        theirs = SkMLPClassifier(hidden_layer_sizes=(32, 32), max_iter=300, learning_rate_init=0.01,
                                 random_state=0).fit(Xtr, ytr)
    acc, ref = ours.score(Xte, yte), theirs.score(Xte, yte)
    assert acc >= 0.9, acc
    assert acc >= ref - 0.03, (acc, ref)


def test_digits_accuracy_comparable_to_sklearn():
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    digits = load_digits()
    X = digits.data / 16.0  # pixels 0..16 -> [0, 1]
    Xtr, Xte, ytr, yte = train_test_split(X, digits.target, test_size=0.25, random_state=0,
                                          stratify=digits.target)
    ours = MLPClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0).fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at 30 epochs
        theirs = SkMLPClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0).fit(Xtr, ytr)
    acc, ref = ours.score(Xte, yte), theirs.score(Xte, yte)
    assert acc >= 0.93, acc
    assert acc >= ref - 0.03, (acc, ref)
    assert ours.n_iter_ == len(ours.loss_curve_) <= 30
    assert ours.loss_curve_[-1] < ours.loss_curve_[0]


def test_regression_comparable_to_sklearn():
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    y = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.05 * rng.standard_normal(400)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    ours = MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=300, lr=0.01, random_state=0).fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SkMLPRegressor(hidden_layer_sizes=(32, 32), max_iter=300, learning_rate_init=0.01,
                                random_state=0).fit(Xtr, ytr)
    r2, ref = ours.score(Xte, yte), theirs.score(Xte, yte)
    assert r2 >= 0.9, r2
    assert r2 >= ref - 0.03, (r2, ref)
    pred = ours.predict(Xte)
    assert pred.shape == yte.shape and pred.dtype == np.float64
    from sklearn.metrics import r2_score
    assert r2 == pytest.approx(r2_score(yte, pred), abs=1e-12)


# ---- labels and probabilities ------------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [np.array(["bird", "cat", "dog"]), np.array(["bird", "cat", "dog"], object),
                                    np.array([-7, 3, 10]), np.array([0.0, 1.0, 2.0])],
                         ids=["str", "object", "int", "float"])
def test_labels_round_trip(labels):
    X, y = blobs()
    y_labels = labels[y]
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, lr=0.01, random_state=0).fit(X, y_labels)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == y_labels.dtype and pred.shape == (X.shape[0],)
    assert set(pred.tolist()) <= set(labels.tolist())
    assert clf.score(X, y_labels) > 0.85
    assert clf.score(X, list(y_labels)) == clf.score(X, y_labels)


def test_bool_and_binary_string_labels():
    X, y = blobs()
    X, y = X[y < 2], y[y < 2]
    for labels in (np.array([False, True]), np.array(["no", "yes"])):
        for loss in (None, "binary_cross_entropy"):
            clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, lr=0.01, loss=loss, random_state=0)
            clf.fit(X, labels[y])
            assert clf.model_.layer_sizes[-1] == (1 if loss else 2)
            assert clf.predict(X).dtype == labels.dtype
            assert clf.score(X, labels[y]) > 0.85


@pytest.mark.parametrize("loss", [None, "binary_cross_entropy"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_proba_rows_sum_to_one(loss, n_classes):
    X, y = blobs()
    keep = y < n_classes
    X, y = X[keep], y[keep]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, loss=loss, random_state=0).fit(X, y)
    P = clf.predict_proba(X)
    assert P.shape == (X.shape[0], n_classes)
    assert (P >= 0).all() and (P <= 1).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(X))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P))


def test_single_class_always_predicted():
    X = np.random.default_rng(0).standard_normal((20, 3))
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5).fit(X, ["only"] * 20)
    assert clf.predict(X).tolist() == ["only"] * 20
    np.testing.assert_array_equal(clf.predict_proba(X), 1.0)


def test_unseen_labels_raise_naming_them():
    X, y = blobs()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"not seen in fit.*\[7\]"):
        clf.score(X[:3], [0, 7, 1])
    inc = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        inc.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"not among the classes.*\[2\]"):
        inc.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(inc, "model_")
    inc.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # classes ahead of the labels seen so far
    np.testing.assert_array_equal(inc.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match=r"not among the classes.*\[5\]"):
        inc.partial_fit(X[:2], [0, 5])
    with pytest.raises(ValueError, match="is not the classes_"):
        inc.partial_fit(X, y, classes=[0, 1, 2, 3])
    inc.partial_fit(X, y, classes=[2, 1, 0])  # the same classes, in any order


def test_continuous_target_is_refused_by_the_classifier():
    X, _ = blobs()
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MLPClassifier(max_iter=1).fit(X, np.linspace(0, 1, X.shape[0]))


def test_column_vector_y_warns_and_is_raveled():
    X, y = blobs()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        clf.fit(X, y[:, None])
    import sklearn.exceptions  # with sklearn imported, the warning is also sklearn's class
    with pytest.warns(sklearn.exceptions.DataConversionWarning):
        clone(clf).fit(X, y[:, None])


# ---- sample weights ----------------------------------------------------------------------------------------

def test_sample_weight_zero_on_a_class_changes_predictions():
    X, y = blobs(n=300)
    params = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0)
    plain = MLPClassifier(**params).fit(X, y)
    sw = np.where(y == 2, 0.0, 1.0)
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(weighted.classes_, [0, 1, 2])  # the class stays known
    assert (plain.predict(X) == 2).sum() > 80
    assert (weighted.predict(X) == 2).sum() < 10
    # Zero weight is removal: the same fit as without those rows.
    removed = MLPClassifier(**params).fit(np.vstack([X[y != 2], X[y == 2][:1]]),
                                          np.concatenate([y[y != 2], [2]]),
                                          sample_weight=np.r_[np.ones((y != 2).sum()), 0.0])
    np.testing.assert_allclose(removed.predict_proba(X), weighted.predict_proba(X), atol=1e-12)
    # score is weighted
    pred = weighted.predict(X)
    assert weighted.score(X, y, sample_weight=sw) == pytest.approx(np.mean(pred[y != 2] == y[y != 2]))


def test_sample_weight_validation():
    X, y = blobs()
    est = MLPRegressor(max_iter=1)
    with pytest.raises(ValueError, match="non-negative"):
        est.fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="zero"):
        est.fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="shape"):
        est.fit(X, y, sample_weight=np.ones(3))


# ---- regressor shapes --------------------------------------------------------------------------------------

def test_regressor_1d_and_multi_output():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 3))
    Y = np.c_[X[:, 0] - X[:, 1], 0.5 * X[:, 2]]
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, lr=0.01, random_state=0)
    assert reg.fit(X, Y[:, 0]).predict(X).shape == (120,)
    assert reg.n_outputs_ == 1
    assert reg.fit(X, Y[:, :1]).predict(X).shape == (120, 1)
    reg.fit(X, Y)
    assert reg.predict(X).shape == (120, 2) and reg.n_outputs_ == 2
    assert reg.score(X, Y) > 0.9
    assert [W.shape for W in reg.coefs_] == [(3, 16), (16, 2)]
    assert [b.shape for b in reg.intercepts_] == [(16,), (2,)]


# ---- input validation --------------------------------------------------------------------------------------

def test_input_validation_errors():
    X, y = blobs(n=30)
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2)
    with pytest.raises(ValueError, match="Reshape your data"):
        reg.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="3-D"):
        reg.fit(X[:, :, None], y)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(X, np.where(np.arange(30) == 4, np.inf, y))
    with pytest.raises(ValueError, match="inconsistent numbers of samples: 30 and 29"):
        reg.fit(X, y[:-1])
    with pytest.raises(ValueError, match="requires y"):
        reg.fit(X, None)
    with pytest.raises(TypeError, match="strings"):
        reg.fit(X.astype(str), y)
    import scipy.sparse
    with pytest.raises(TypeError, match="sparse"):
        reg.fit(scipy.sparse.csr_matrix(X), y)
    reg.fit(X, y)
    with pytest.raises(ValueError, match="X has 1 features, but MLPRegressor is expecting 2"):
        reg.predict(X[:, :1])
    with pytest.raises(ValueError, match="inf"):
        reg.predict(np.full((2, 2), np.inf))


def test_not_fitted_error():
    for est in (MLPRegressor(), MLPClassifier()):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            est.predict(np.zeros((2, 2)))
        assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
        from sklearn.exceptions import NotFittedError as SkNotFittedError
        with pytest.raises(SkNotFittedError):
            est.predict(np.zeros((2, 2)))
    assert not hasattr(MLPClassifier(), "coefs_")


@pytest.mark.parametrize("params, match", [
    (dict(optimizer="rmsprop"), "optimizer"), (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
    (dict(max_iter=0), "max_iter"), (dict(activation="swish"), "activation"), (dict(loss="mse"), "loss"),
    (dict(dtype="float16"), "dtype"), (dict(backend="gpu"), "backend"),
    (dict(random_state=-1), "random_state"),
    (dict(batch_size=0), "batch_size"), (dict(lr=-1.0), "lr")])
def test_bad_parameters_fail_in_fit_not_init(params, match):
    X, y = blobs(n=20)
    clf = MLPClassifier(**params)  # constructing validates nothing
    assert clf.get_params()[next(iter(params))] == next(iter(params.values()))
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


def test_params_protocol():
    clf = MLPClassifier(hidden_layer_sizes=(8,), alpha=0.01)
    assert repr(clf) == "MLPClassifier(alpha=0.01, hidden_layer_sizes=(8,))"
    assert repr(MLPRegressor()) == "MLPRegressor()"
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (8,) and params["optimizer"] == "adam" and params["max_iter"] == 200
    assert clf.set_params(max_iter=3, lr=0.1) is clf and clf.max_iter == 3 and clf.lr == 0.1
    with pytest.raises(ValueError, match="Invalid parameter 'epochs'"):
        clf.set_params(epochs=3)
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == clf.get_params()


# ---- training API ------------------------------------------------------------------------------------------

def test_partial_fit_continues_and_counts_epochs():
    X, y = blobs(n=300)
    clf = MLPClassifier(hidden_layer_sizes=(16,), lr=0.01, random_state=0)
    for _ in range(15):
        clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.n_iter_ == 15 and len(clf.loss_curve_) == 15
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert clf.score(X, y) > 0.85
    assert clf.model_.optimizer_.steps == 15 * 10  # 300 rows / 32 per batch -> 10 steps per epoch
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y.astype(float))
    with pytest.raises(ValueError, match="X has 1 features, but MLPRegressor is expecting 2"):
        reg.partial_fit(X[:, :1], y)
    assert not hasattr(MLPClassifier(optimizer="lbfgs"), "partial_fit")
    assert hasattr(MLPClassifier(optimizer="sgd"), "partial_fit")


def test_warm_start_and_early_stopping():
    X, y = blobs(n=300)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, tol=None, random_state=0, warm_start=True)
    first = clf.fit(X, y).model_
    before = clf.loss_curve_[-1]
    assert clf.fit(X, y).model_ is first  # continued
    assert clf.n_iter_ == 5 and clf.loss_curve_[0] < before
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])
    assert clf.set_params(warm_start=False).fit(X, y).model_ is not first
    assert clf.validation_scores_ is None
    es = MLPClassifier(hidden_layer_sizes=(8,), max_iter=500, lr=0.01, early_stopping=True,
                       n_iter_no_change=5, random_state=0).fit(X, y)
    assert es.n_iter_ < 500 and es.history_.stopped == "early_stopping"
    assert len(es.validation_scores_) == es.n_iter_ and max(es.validation_scores_) > 0.85


def test_pickle_keeps_predictions_and_optimizer_state():
    X, y = blobs()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    twin = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    assert isinstance(twin.model_, MLP) and twin.model_.backend == clf.model_.backend
    # The two continue identically: θ, the optimizer state and the generator came along.
    clf.partial_fit(X, y)
    twin.partial_fit(X, y)
    np.testing.assert_array_equal(twin.model_.params, clf.model_.params)


def test_feature_names_of_data_frames():
    class Frame:  # the part of a pandas DataFrame the estimators look at
        def __init__(self, values, columns):
            self.values, self.columns = np.asarray(values), list(columns)

        def __array__(self, dtype=None, copy=None):
            return self.values if dtype is None else self.values.astype(dtype)

    X, y = blobs(n=40)
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(Frame(X, ["a", "b"]), y)
    np.testing.assert_array_equal(reg.feature_names_in_, ["a", "b"])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        reg.predict(X)
    with pytest.raises(ValueError, match="feature names should match"):
        reg.predict(Frame(X, ["b", "a"]))
    reg.fit(X, y)
    assert not hasattr(reg, "feature_names_in_")


# ---- in scikit-learn's tools -------------------------------------------------------------------------------

def test_pipeline_grid_search_and_cross_val_score():
    X, y = blobs(n=150)
    X = 10 * X + 50  # unscaled: the pipeline's scaler fixes it
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, lr=0.01, random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.85
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3).fit(X, y)
    assert grid.best_score_ > 0.85
    assert grid.best_estimator_.predict(X).shape == (150,)
    scores = cross_val_score(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, lr=0.01, random_state=0),
                             StandardScaler().fit_transform(X), y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    Xr = np.random.default_rng(0).standard_normal((90, 3))
    yr = Xr @ [1.0, -2.0, 0.5]
    r2 = cross_val_score(MLPRegressor(hidden_layer_sizes=(8,), max_iter=200, lr=0.01, random_state=0), Xr, yr,
                         cv=3)
    assert r2.min() > 0.8


# ---- no scikit-learn at run time ---------------------------------------------------------------------------

def test_estimators_do_not_import_sklearn():
    code = textwrap.dedent("""
        import pickle, sys
        import numpy as np
        from fastmlp.estimators import MLPClassifier, MLPRegressor, NotFittedError
        X = np.random.default_rng(0).standard_normal((40, 3))
        y = (X[:, 0] > 0).astype(int)
        try:
            MLPClassifier().predict(X)
        except NotFittedError:
            pass
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, np.array(["a", "b"])[y])
        clf.partial_fit(X, np.array(["a", "b"])[y])
        clf.score(X, np.array(["a", "b"])[y]), clf.predict_proba(X), repr(clf), clf.get_params()
        pickle.loads(pickle.dumps(clf)).predict(X)
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, X[:, :2]).score(X, X[:, :2])
        loaded = sorted(m for m in sys.modules if m == "sklearn" or m.startswith("sklearn."))
        assert not loaded, loaded
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


# ---- backends -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_parameter_is_respected(backend):
    X, y = blobs(n=90)
    params = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    clf = MLPClassifier(backend=backend, **params).fit(X, y)
    assert clf.model_.backend == backend
    ref = MLPClassifier(backend="numpy", **params).fit(X, y)
    # Same seed, same data, float64: the backends agree to rounding.
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    reg = MLPRegressor(backend=backend, **params).fit(X, y.astype(float))
    assert reg.model_.backend == backend
    assert pickle.loads(pickle.dumps(reg)).model_.backend == backend
