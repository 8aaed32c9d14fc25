"""One playground session (one browser tab): its configuration, data, network and training, and the state
the page draws. No HTTP here: the server only routes requests to these methods, and tests drive them
directly.

A session's `state()` is one JSON-ready dict:

    config     the Config as a dict
    version    bumped whenever a new network is built (reset, new configuration, upload)
    epoch      epochs trained so far
    loss       {"train": ½·MSE on the training points, "test": ½·MSE on the test points}; null where
               the outputs overflowed (a diverging net)
    history    [[epoch, train loss, test loss], ...]: all points (state) or those added by this step
    network    {"layer_sizes": [k, hidden..., 1], "features": [...], "weights": [W_l as (n_{l+1}, n_l)
               nested lists], "biases": [b_l lists]}
    grids      {"extent": 6, "output_size": 64, "output": base64 bytes of the output over the plane,
                "neuron_size": 24, "neurons": [one base64 string per layer l = 1..L+1 holding its n_l
                heatmaps one after the other]}; layout and quantization as in grids.py
    data       {"train": [[x1, x2, y], ...], "test": [...]} (only when asked for: it changes only on reset)
    custom     the uploaded data's description, or null
    backend    the backend the network runs on
    diverged   null, or the message of the divergence that stopped training
    timing     {"train_seconds", "samples", "state_seconds"} of the last step
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import tempfile
import threading
import time

import numpy as np

from . import data, features, grids, training
from .config import LIVE_KEYS, Config, validate, whole_number
from .errors import PlaygroundError
from .snippet import make_snippet

MAX_EPOCHS_PER_STEP = 500  # bounds the time one request may hold a session
MAX_HISTORY = 2000  # loss-curve points kept; beyond, every other old point is dropped


@dataclasses.dataclass
class _Run:
    """Everything that a new network for a configuration is built from: replaced whole, never patched."""

    config: Config
    points: data.Points
    train_idx: np.ndarray
    test_idx: np.ndarray
    F_train: np.ndarray  # (n_train, k) float32 features
    y_train: np.ndarray  # (n_train, 1) float32 targets
    F_test: np.ndarray
    y_test: np.ndarray
    F_output: np.ndarray  # features over the OUTPUT_SIZE² grid
    F_neuron: np.ndarray  # features over the NEURON_SIZE² grid
    net: object


def _build(config: Config, custom: data.CustomData | None) -> _Run:
    if config.dataset == "custom":
        if custom is None:
            raise PlaygroundError("dataset 'custom' needs an uploaded CSV first (x1,x2,label rows)")
        if config.problem == "classification" and custom.problem != "classification":
            raise PlaygroundError("the uploaded data has real-valued labels: it needs problem 'regression' "
                                  "(classification needs labels ±1 or 0/1)")
        points = custom.points
    else:
        points = data.generate(config.dataset, config.samples, config.noise, config.seed)
    train_idx, test_idx = data.split(len(points.y), config.train_ratio, config.seed)
    F = features.transform(points.X, config.features).astype(np.float32)
    y = points.y.astype(np.float32)[:, None]

    def grid_features(n):
        return features.transform(grids.plane(n), config.features).astype(np.float32)

    return _Run(config=config, points=points, train_idx=train_idx, test_idx=test_idx,
                F_train=np.ascontiguousarray(F[train_idx]), y_train=np.ascontiguousarray(y[train_idx]),
                F_test=np.ascontiguousarray(F[test_idx]), y_test=np.ascontiguousarray(y[test_idx]),
                F_output=grid_features(grids.OUTPUT_SIZE), F_neuron=grid_features(grids.NEURON_SIZE),
                net=training.make_net(config))


def _rounded(a, decimals=5):
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def _finite(value):
    """value as a float, or None (JSON null) when it is NaN or infinite: a net blown up by a huge
    learning rate can have finite weights whose outputs overflow."""
    value = float(value)
    return value if np.isfinite(value) else None


class Session:
    """A network training on one configuration's data; not thread-safe by itself: hold `lock` around
    calls when several threads share it (the server does)."""

    def __init__(self, config: Config | dict | None = None):
        self.lock = threading.Lock()
        self.custom: data.CustomData | None = None
        self.version = 0
        self._install(_build(self._config(config), None))

    @staticmethod
    def _config(config):
        if isinstance(config, Config):
            return config
        return validate(config or {})

    def _install(self, run: _Run):
        self.run = run
        self.version += 1
        self.epoch = 0
        self.history = []
        self.diverged = None
        self.changed_during_training = False
        self.timing = {"train_seconds": 0.0, "samples": 0, "state_seconds": 0.0}
        self._record()

    @property
    def config(self) -> Config:
        return self.run.config

    @property
    def net(self):
        return self.run.net

    # ---- changes ---------------------------------------------------------------------------------------
    def configure(self, raw: dict) -> bool:
        """Apply (some) configuration fields. Learning rate, regularization and batch size change in place
        and training goes on; any other change builds a new network. Returns True when it did. A bad
        configuration raises PlaygroundError and changes nothing."""
        new = validate(raw, self.config)
        changed = new.changed_keys(self.config)
        if not changed:
            return False
        if changed <= LIVE_KEYS:
            self.run = dataclasses.replace(self.run, config=new)
            self.diverged = None  # a smaller learning rate may well train again
            self.changed_during_training |= self.epoch > 0
            return False
        self._install(_build(new, self.custom))
        return True

    def reset(self):
        """Start again from the same initial weights (the seed decides them) on the same data."""
        self._install(_build(self.config, self.custom))

    def upload_csv(self, text: str) -> str:
        """Train on uploaded points (see data.parse_csv): switches to dataset 'custom' and the problem the
        labels imply, with a new network. Returns a description of the data; PlaygroundError if malformed."""
        custom = data.parse_csv(text)
        config = dataclasses.replace(self.config, dataset="custom", problem=custom.problem)
        self._install(_build(config, custom))
        self.custom = custom
        return custom.message

    # ---- training --------------------------------------------------------------------------------------
    def step(self, epochs=1) -> None:
        """Train `epochs` (1..MAX_EPOCHS_PER_STEP) more epochs; a divergence is recorded in `diverged`."""
        epochs = whole_number(epochs, "epochs", 1, MAX_EPOCHS_PER_STEP)
        if self.diverged:
            return
        run = self.run
        t0 = time.perf_counter()
        try:
            done = training.train(run.net, run.F_train, run.y_train, run.config, epochs)
        except FloatingPointError as exc:
            done = run.net.history_.epochs
            self.diverged = str(exc)
        seconds = time.perf_counter() - t0
        self.epoch += done
        self.timing = {"train_seconds": seconds, "samples": done * len(run.y_train), "state_seconds": 0.0}
        self._record()

    def losses(self) -> dict:
        """{"train": loss, "test": loss}, each ½·MSE or None when it overflowed."""
        run = self.run
        with np.errstate(all="ignore"):
            return {"train": _finite(training.shown_loss(run.net, run.F_train, run.y_train)),
                    "test": _finite(training.shown_loss(run.net, run.F_test, run.y_test))}

    def _record(self):
        loss = self.losses()
        self.history.append([self.epoch, loss["train"], loss["test"]])
        if len(self.history) > MAX_HISTORY:
            # thin the older half: the curve keeps its shape, memory stays bounded
            half = len(self.history) // 2
            self.history = self.history[:half:2] + self.history[half:]

    # ---- what the page draws ------------------------------------------------------------------------------
    def grids(self) -> dict:
        """The output over the plane and every neuron's heatmap (see grids.py for the layout)."""
        run = self.run
        with np.errstate(all="ignore"):  # overflowing values are clamped into the colour scale anyway
            output = run.net.predict(run.F_output)[:, 0]
            trace = run.net.forward_trace(run.F_neuron)
        # h[l]: (cells, n_l) -> (n_l, cells): each neuron's heatmap contiguous
        neurons = [grids.encode(h.T) for h in trace.h[1:]]
        return {"extent": data.EXTENT, "output_size": grids.OUTPUT_SIZE, "output": grids.encode(output),
                "neuron_size": grids.NEURON_SIZE, "neurons": neurons}

    def network(self) -> dict:
        return {"layer_sizes": list(self.config.layer_sizes), "features": list(self.config.features),
                "weights": [_rounded(W) for W in self.net.weights],
                "biases": [_rounded(b) for b in self.net.biases]}

    def points(self) -> dict:
        run = self.run
        table = np.column_stack([run.points.X, run.points.y])
        return {"train": _rounded(table[run.train_idx], 4), "test": _rounded(table[run.test_idx], 4)}

    def state(self, include_data=False, history_since=None) -> dict:
        """The JSON-ready state (module docstring). history_since: only history points after that epoch."""
        t0 = time.perf_counter()
        history = self.history if history_since is None else [p for p in self.history if p[0] > history_since]
        out = {"config": self.config.to_dict(), "version": self.version, "epoch": self.epoch,
               "loss": {"train": self.history[-1][1], "test": self.history[-1][2]},
               "history": history, "network": self.network(), "grids": self.grids(),
               "custom": self.custom.message if self.custom else None, "backend": self.net.backend,
               "diverged": self.diverged}
        if include_data:
            out["data"] = self.points()
        self.timing["state_seconds"] = time.perf_counter() - t0
        out["timing"] = dict(self.timing)
        return out

    # ---- export -------------------------------------------------------------------------------------------
    def export_npz(self) -> bytes:
        """The trained model as the bytes of a .npz that fastmlp.load reads (its inputs are the features)."""
        with tempfile.TemporaryDirectory(prefix="fastmlp-playground-") as tmp:
            path = os.path.join(tmp, "model.npz")
            self.net.save(path)
            with open(path, "rb") as f:
                return f.read()

    def snippet(self) -> str:
        """Python source that recreates and trains this network with fastmlp (see snippet.py)."""
        return make_snippet(self.config, self.epoch, len(self.run.train_idx),
                            custom_header=self.custom.has_header if self.custom else None,
                            changed_during_training=self.changed_during_training)


class SessionStore:
    """Sessions by id, bounded in number (the least recently used goes first) and in idle time (ttl
    seconds). Thread-safe. clock: injectable for tests."""

    def __init__(self, ttl: float = 1800.0, max_sessions: int = 32, clock=time.monotonic):
        if not ttl > 0 or max_sessions < 1:
            raise ValueError("ttl must be positive and max_sessions at least 1")
        self.ttl, self.max_sessions, self.clock = float(ttl), int(max_sessions), clock
        self._sessions: dict = {}  # id -> [session, last use]; insertion order = least recently used first
        self._lock = threading.Lock()

    def __len__(self):
        with self._lock:
            self._purge()
            return len(self._sessions)

    def _purge(self):
        now = self.clock()
        for sid in [s for s, (_, last) in self._sessions.items() if now - last > self.ttl]:
            del self._sessions[sid]

    def create(self, config=None) -> tuple:
        """(id, session) for a new session; PlaygroundError for a bad configuration (nothing is stored)."""
        session = Session(config)  # built outside the lock: it may take a moment
        sid = secrets.token_urlsafe(18)
        with self._lock:
            self._purge()
            while len(self._sessions) >= self.max_sessions:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[sid] = [session, self.clock()]
        return sid, session

    def get(self, sid) -> Session:
        """The live session `sid` (its idle time restarts); PlaygroundError for an unknown or expired id."""
        if not isinstance(sid, str) or not sid:
            raise PlaygroundError(f"session must be a session id (string), got {sid!r}")
        with self._lock:
            self._purge()
            entry = self._sessions.pop(sid, None)
            if entry is None:
                raise PlaygroundError("unknown or expired session; reload the page to start a new one")
            entry[1] = self.clock()
            self._sessions[sid] = entry  # re-inserted: now the most recently used
            return entry[0]

    def drop(self, sid) -> bool:
        with self._lock:
            return self._sessions.pop(sid, None) is not None
