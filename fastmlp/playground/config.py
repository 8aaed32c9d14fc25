"""The playground's configuration: its fields, defaults, limits, validation and URL (query) form.

A configuration is everything that decides a run (the data, the features, the network, the training
hyper-parameters), so that one link or one command line reproduces a set-up. The same query string the page
keeps in its URL hash parses here (`from_query`), which is how `fastmlp playground --headless --url ...`
reproduces a link.

    dataset         circle | xor | gaussians | spiral (classification) | plane | multi_gaussian (regression)
                    | custom (an uploaded CSV; never from a URL alone)
    problem         classification | regression; must suit the data set
    noise           0..50, percent as in TF Playground (mapped to each data set's own noise parameter)
    train_ratio     10..90, percent of the points used for training (the rest is the test set)
    batch_size      1..30
    samples         50..2000 points generated (ignored for custom data)
    seed            0..2**31-1: the data, the train/test split, the initial weights and the shuffling
    features        a non-empty subset of x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2 (in that order)
    layers          0..6 hidden layers of 1..8 neurons each, e.g. [4, 2]
    activation      relu | tanh | sigmoid | softplus | linear (the hidden layers')
    lr              learning rate in (0, 10]
    regularization  none | l1 | l2
    reg_rate        0..10
    backend         null (the fastest available) | cython | numba | numpy
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from urllib.parse import parse_qsl, urlencode

from .errors import PlaygroundError
from .features import FEATURE_ORDER

CLASSIFICATION_SETS = ("circle", "xor", "gaussians", "spiral")
REGRESSION_SETS = ("plane", "multi_gaussian")
DATASETS = CLASSIFICATION_SETS + REGRESSION_SETS + ("custom",)
PROBLEMS = ("classification", "regression")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "linear")
REGULARIZATIONS = ("none", "l1", "l2")
BACKENDS = ("cython", "numba", "numpy")
MAX_LAYERS = 6
MAX_NEURONS = 8
MAX_SEED = 2**31 - 1

# Changing one of these carries on training the same network (as in TF Playground); any other change
# builds a new one.
LIVE_KEYS = frozenset({"lr", "regularization", "reg_rate", "batch_size"})
# Keys the page keeps in its URL for itself (view options): accepted and ignored by from_query.
VIEW_KEYS = frozenset({"show_test", "discretize", "speed"})


@dataclasses.dataclass(frozen=True)
class Config:
    """One validated configuration; build it with `validate` (the defaults are TF Playground's)."""

    dataset: str = "circle"
    problem: str = "classification"
    noise: int = 0
    train_ratio: int = 50
    batch_size: int = 10
    samples: int = 500
    seed: int = 0
    features: tuple = ("x1", "x2")
    layers: tuple = (4, 2)
    activation: str = "tanh"
    lr: float = 0.03
    regularization: str = "none"
    reg_rate: float = 0.0
    backend: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready: tuples become lists."""
        d = dataclasses.asdict(self)
        d["features"], d["layers"] = list(self.features), list(self.layers)
        return d

    def changed_keys(self, other: "Config") -> set:
        return {f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)}

    @property
    def layer_sizes(self) -> tuple:
        """(n_features, hidden..., 1): the MLP's layer sizes."""
        return (len(self.features),) + tuple(self.layers) + (1,)


FIELDS = tuple(f.name for f in dataclasses.fields(Config))


# ---- field checks: each returns the clean value or raises PlaygroundError naming the field ----------------

def whole_number(value, name, lo, hi):
    # JSON has one number type: 10.0 is accepted as 10, 10.5 and True are not.
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or int(value) != value:
        raise PlaygroundError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise PlaygroundError(f"{name} must be from {lo} to {hi}, got {value!r}")
    return int(value)


def _float(value, name, lo, hi, open_low=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise PlaygroundError(f"{name} must be a number, got {value!r}")
    if value < lo or value > hi or (open_low and value == lo):
        low = f"above {lo}" if open_low else f"from {lo}"
        raise PlaygroundError(f"{name} must be {low} to {hi}, got {value!r}")
    return float(value)


def _choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise PlaygroundError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    return value


def _features(value):
    if not isinstance(value, (list, tuple)) or not value:
        raise PlaygroundError(f"features must be a non-empty list of feature names ({', '.join(FEATURE_ORDER)}), "
                              f"got {value!r}")
    for v in value:
        _choice(v, "feature", FEATURE_ORDER)
    if len(set(value)) != len(value):
        raise PlaygroundError(f"features lists a feature twice: {list(value)!r}")
    return tuple(f for f in FEATURE_ORDER if f in value)  # canonical order: one link per set-up


def _layers(value):
    if not isinstance(value, (list, tuple)) or len(value) > MAX_LAYERS:
        raise PlaygroundError(f"layers must be a list of at most {MAX_LAYERS} layer widths, got {value!r}")
    return tuple(whole_number(v, f"layers[{i}] (neurons)", 1, MAX_NEURONS) for i, v in enumerate(value))


def _backend(value):
    if value is None:
        return None
    _choice(value, "backend", BACKENDS)
    from ..backends import available_backends  # here: importing a backend may be slow (numba)

    if value not in available_backends():
        raise PlaygroundError(f"backend {value!r} is not available on this machine; available: "
                              f"{', '.join(available_backends())}")
    return value


_CHECKS = {
    "dataset": lambda v: _choice(v, "dataset", DATASETS),
    "problem": lambda v: _choice(v, "problem", PROBLEMS),
    "noise": lambda v: whole_number(v, "noise", 0, 50),
    "train_ratio": lambda v: whole_number(v, "train_ratio", 10, 90),
    "batch_size": lambda v: whole_number(v, "batch_size", 1, 30),
    "samples": lambda v: whole_number(v, "samples", 50, 2000),
    "seed": lambda v: whole_number(v, "seed", 0, MAX_SEED),
    "features": _features,
    "layers": _layers,
    "activation": lambda v: _choice(v, "activation", ACTIVATIONS),
    "lr": lambda v: _float(v, "lr", 0.0, 10.0, open_low=True),
    "regularization": lambda v: _choice(v, "regularization", REGULARIZATIONS),
    "reg_rate": lambda v: _float(v, "reg_rate", 0.0, 10.0),
    "backend": _backend,
}


def validate(raw, base: Config | None = None) -> Config:
    """A Config from `raw` (a dict of some of the fields) on top of `base` (default: the defaults).

    Unknown keys, wrong types and out-of-range values raise PlaygroundError; so does a data set that does
    not suit the problem type. (Whether custom data exists is the session's business, not checked here.)
    """
    if not isinstance(raw, dict):
        raise PlaygroundError(f"the configuration must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise PlaygroundError(f"unknown configuration key(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(FIELDS)}")
    clean = {key: _CHECKS[key](value) for key, value in raw.items()}
    config = dataclasses.replace(base or Config(), **clean)
    if config.problem == "classification" and config.dataset in REGRESSION_SETS:
        raise PlaygroundError(f"{config.dataset!r} is a regression data set: set problem to 'regression' "
                              f"or pick one of {', '.join(CLASSIFICATION_SETS)}")
    if config.problem == "regression" and config.dataset in CLASSIFICATION_SETS:
        raise PlaygroundError(f"{config.dataset!r} is a classification data set: set problem to "
                              f"'classification' or pick one of {', '.join(REGRESSION_SETS)}")
    return config


# ---- the URL form: key=value pairs, lists comma-separated (what the page keeps after '#') -----------------

def to_query(config: Config) -> str:
    """'dataset=circle&noise=0&...&layers=4,2' (backend omitted when it is the default)."""
    pairs = []
    for key, value in config.to_dict().items():
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, float):
            value = repr(value)
        pairs.append((key, str(value)))
    return urlencode(pairs, safe=",")


def _parse_value(key, text):
    if key in ("features", "layers"):
        items = [t for t in text.split(",") if t != ""]
        if key == "layers":
            try:
                return [int(t) for t in items]
            except ValueError:
                raise PlaygroundError(f"layers must be comma-separated whole numbers, got {text!r}") from None
        return items
    if key in ("lr", "reg_rate", "noise", "train_ratio", "batch_size", "samples", "seed"):
        try:
            number = float(text)
        except ValueError:
            raise PlaygroundError(f"{key} must be a number, got {text!r}") from None
        return int(number) if key not in ("lr", "reg_rate") and number.is_integer() else number
    if key == "backend" and text in ("", "auto"):
        return None
    return text


def from_query(query: str, base: Config | None = None) -> Config:
    """A Config from the page's URL hash or a whole URL ('...#dataset=xor&layers=8,8'); view-only keys
    (show_test, discretize, speed) are ignored, anything else unknown is an error."""
    if "#" in query:
        query = query.split("#", 1)[1]
    elif "?" in query:
        query = query.split("?", 1)[1]
    raw = {}
    for key, text in parse_qsl(query, keep_blank_values=True):
        if key in VIEW_KEYS:
            continue
        if key not in FIELDS:
            raise PlaygroundError(f"unknown configuration key {key!r} in the link; known: {', '.join(FIELDS)}")
        raw[key] = _parse_value(key, text)
    return validate(raw, base)
