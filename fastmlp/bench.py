"""`python -m fastmlp.bench`: fastmlp's backends against the NumPy reference, PyTorch and scikit-learn.

    python -m fastmlp.bench                       # every workload, float32, 1 BLAS thread
    python -m fastmlp.bench --quick               # a smoke run: under a minute
    python -m fastmlp.bench --threads 2 --workloads playground,mnist --dtype float64 --json out.json

What is measured, per workload (see WORKLOADS), after every engine has been checked to compute the same
thing (see `agreement`):
    step      one SGD step on one minibatch of the workload's batch size, through each engine's public
              API (fastmlp: net.train_step; torch: zero_grad/forward/backward/step; sklearn: partial_fit
              on one batch; sklearn-core: sklearn's private _backprop + update, its arithmetic alone).
              Consecutive calls take consecutive batches of the data set.
    epoch     one shuffled pass over the workload's samples in minibatches (fastmlp: fit(epochs=1);
              torch: randperm + indexing + the step above per batch; sklearn: partial_fit on all rows
              with shuffle=True).
    predict1  single-sample latency (playground and mnist): net.predict(x, out=buf), torch under
              inference_mode, sklearn predict.
    predictN  batch predict throughput on N rows (100,000; fewer in --quick).
Engines are interleaved: each round runs every engine once (a block of calls sized to ~0.1 s, rotated so
no engine always goes first), and ratios are taken within a round, then their median reported. That is
what survives a machine whose speed drifts: quote the ratios, not the absolute times.
"""
from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple
    activation: str
    batch: int
    samples: int

    @property
    def label(self) -> str:
        return f"{'-'.join(map(str, self.sizes))} {self.activation}, batch {self.batch}"


WORKLOADS = {w.name: w for w in (
    Workload("playground", (2, 8, 8, 1), "tanh", 32, 1024),
    Workload("tabular", (64, 128, 128, 1), "relu", 256, 16384),
    Workload("mnist", (784, 256, 128, 10), "relu", 128, 8192),
    Workload("wide", (1024, 2048, 2048, 1024), "relu", 512, 4096),
)}
LATENCY_WORKLOADS = ("playground", "mnist")
ENGINES = ("cython", "numba", "numpy", "torch", "sklearn", "sklearn-core")
MATMULS = "matmuls alone"  # the step-floor reference row (not an engine)
PREDICT_ROWS = 100_000
# --quick proves the command works, it is no measurement: fewer rows, and no epoch on "wide" (its epoch
# is 8 of the steps already timed).
QUICK_PREDICT_ROWS = {"wide": 512}  # else QUICK_PREDICT_ROWS_DEFAULT
QUICK_PREDICT_ROWS_DEFAULT = 10_000
QUICK_EPOCH_ROWS = {"wide": 0, "tabular": 1024, "mnist": 512}  # 0: skipped
METRIC_TITLES = {"step": "train step", "epoch": "epoch", "predict1": "predict 1 row", "predictN": "predict"}

# Agreement tolerances per dtype: losses (relative), predictions (relative to the reference's largest |ŷ|), and
# updates Δθ: the relative 2-norm of the difference, plus a loose bound on its largest element. The 2-norm
# is what tolerates a relu kink: a pre-activation within rounding of 0 can take the other side in another
# engine (different summation order), changing one sample's contribution to one row of ∂W, about
# 1/batch of that row; a wrong kernel (a factor, a transpose, a missed bias) moves the 2-norm by far more.
TOLERANCE = {np.dtype(np.float32): dict(loss=2e-4, predict=1e-4, update_l2=1e-3, update_max=5e-2),
             np.dtype(np.float64): dict(loss=1e-9, predict=1e-10, update_l2=1e-8, update_max=1e-6)}


def learning_rate(workload) -> float:
    """SSE sums over the batch: lr = 0.01 / batch is SGD at 0.02 on the per-row squared error, which keeps
    random-target training finite for as long as a benchmark runs."""
    return 0.01 / workload.batch


def make_data(workload, dtype, rows=None, seed=0):
    """X ~ N(0, 1) (rows, n_in), Y ~ N(0, 0.25) (rows, n_out), C-contiguous, of dtype."""
    rng = np.random.default_rng(seed)
    n = rows or workload.samples
    X = rng.standard_normal((n, workload.sizes[0])).astype(dtype)
    Y = (0.5 * rng.standard_normal((n, workload.sizes[-1]))).astype(dtype)
    return X, Y


def initial_theta(workload, dtype) -> np.ndarray:
    from .model import MLP
    return MLP(workload.sizes, activation=workload.activation, dtype=dtype, seed=0, backend="numpy").params.copy()


def forward_flops(sizes, rows) -> int:
    """Multiply-adds of the layers' matmuls, ×2: 2 · n · Σ i·o."""
    return 2 * rows * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))


def train_flops(sizes, rows) -> int:
    """Forward + backward matmul FLOPs of one step: forward 2nΣio, ∂W 2nΣio, ∂H_prev 2nΣio without the
    input layer's (skipped). Bias, activation and update passes are O(n Σo + Σio): not counted."""
    fwd = forward_flops(sizes, rows)
    return 3 * fwd - 2 * rows * sizes[0] * sizes[1]


# ---- environment --------------------------------------------------------------------------------------------

def load_libraries(engine_names):
    """Import everything that brings a thread pool (numpy's and scipy's OpenBLAS, torch's OpenMP) BEFORE
    threadpoolctl limits them: a library loaded later would run at its default thread count."""
    from .backends import available_backends
    backends = available_backends()  # imports fastmlp._native: scipy's OpenBLAS
    import scipy.linalg.cython_blas  # noqa: F401  (even without the extension: numba's BLAS too)
    if "torch" in engine_names:
        try:
            import torch  # noqa: F401
        except ImportError:
            pass
    if "sklearn" in engine_names or "sklearn-core" in engine_names:
        try:
            import sklearn.neural_network  # noqa: F401
        except ImportError:
            pass
    return backends


def pools_report(threads):
    """(threadpool_info entries, problems): every BLAS must run at `threads`, and both numpy's and scipy's
    OpenBLAS must be there (scipy's is the one fastmlp._native calls)."""
    from threadpoolctl import threadpool_info
    info = threadpool_info()
    problems = []
    blas = [p for p in info if p["user_api"] == "blas"]
    for p in blas:
        if p["num_threads"] != threads:
            problems.append(f"{p['filepath']} runs {p['num_threads']} threads, not {threads}")
    paths = " ".join(p["filepath"] for p in blas)
    if "numpy" not in paths:
        problems.append("numpy's BLAS is not among the loaded thread pools")
    if "scipy" not in paths:
        problems.append("scipy's OpenBLAS (fastmlp._native's BLAS) is not loaded")
    return info, problems


def machine_info():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__}


# ---- timing --------------------------------------------------------------------------------------------------

class Timing:
    """Interleaved timing of several no-argument callables."""

    def __init__(self, target, rounds, slow_rounds, max_call, log, warmup_counts_over=1.0):
        self.target, self.rounds, self.slow_rounds = target, rounds, slow_rounds
        self.max_call, self.log, self.warmup_counts_over = max_call, log, warmup_counts_over

    def run(self, calls: dict):
        """{name: callable} -> (times {name: [s per call, one per round]}, reps {name: calls per block},
        dropped {name: reason})."""
        reps, dropped, first, per_call = {}, {}, {}, {}
        for name, fn in calls.items():
            try:
                t0 = time.perf_counter()
                fn()  # warm-up: first-call compilation, allocations, caches
                first[name] = t1 = time.perf_counter() - t0
                if t1 > self.max_call:
                    dropped[name] = f"one call takes {t1:.1f} s (limit {self.max_call:.0f} s): not timed"
                    continue
                if t1 >= self.target:
                    reps[name], per_call[name] = 1, t1
                    continue
                n = 1
                while True:
                    t0 = time.perf_counter()
                    for _ in range(n):
                        fn()
                    dt = time.perf_counter() - t0
                    if dt >= self.target / 5 or n >= 1 << 20:
                        break
                    n *= 4
                reps[name] = max(1, round(self.target * n / max(dt, 1e-9)))
                per_call[name] = dt / n
            except Exception as exc:  # noqa: BLE001 - reported per engine
                dropped[name] = f"raised {type(exc).__name__}: {exc}"
        names = list(reps)
        # Rounds of more than ~2 s (big workloads): slow_rounds of them; over 20 s: 3.
        per_round = sum(per_call[n] * reps[n] for n in names)
        rounds = (self.rounds if per_round < 2.0 else min(self.rounds, self.slow_rounds) if per_round < 20.0
                  else min(self.rounds, self.slow_rounds, 3))
        times = {name: [] for name in names}
        if names and all(reps[n] == 1 and first[n] > self.warmup_counts_over for n in names):
            # Long calls (over a second): the warm-up pass (one call of each engine, in turn) is a round too.
            for n in names:
                times[n].append(first[n])
            rounds -= 1
        offset = len(times[names[0]]) if names else 0
        for r in range(offset, offset + rounds):
            gc.collect()
            k = r % len(names) if names else 0
            for name in names[k:] + names[:k]:
                if name in dropped:
                    continue
                fn, count = calls[name], reps[name]
                try:
                    t0 = time.perf_counter()
                    for _ in range(count):
                        fn()
                    times[name].append((time.perf_counter() - t0) / count)
                except Exception as exc:  # noqa: BLE001
                    dropped[name] = f"raised {type(exc).__name__} while timed: {exc}"
        for name in dropped:
            times.pop(name, None)
            reps.pop(name, None)
        return times, reps, dropped


def summarize(times, base, numpy_name):
    """Per engine: median seconds, and the medians of the same-round ratios t/t_base and t_numpy/t."""
    out = {}
    for name, ts in times.items():
        row = {"median_s": statistics.median(ts), "min_s": min(ts), "times_s": ts}
        if base in times:
            row["ratio_to_base"] = statistics.median(t / b for t, b in zip(ts, times[base]))
        if numpy_name in times:
            row["numpy_speedup"] = statistics.median(r / t for t, r in zip(ts, times[numpy_name]))
        out[name] = row
    return out


def measure_gemm(dtype, timing):
    """Rate of a 2048³ numpy matmul (numpy's own OpenBLAS) at the pinned thread count: ~the machine's peak."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((2048, 2048)).astype(dtype)
    B = rng.standard_normal((2048, 2048)).astype(dtype)
    C = np.empty((2048, 2048), dtype)
    fn = functools.partial(np.matmul, A, B, out=C)
    times, _, _ = timing.run({"gemm": fn})
    med = statistics.median(times["gemm"])
    return {"what": f"numpy.matmul 2048x2048 @ 2048x2048 {np.dtype(dtype).name}", "flops": 2 * 2048 ** 3,
            "median_s": med, "gflops": 2 * 2048 ** 3 / med / 1e9, "times_s": times["gemm"]}, fn


def matmuls_of_step(workload, dtype):
    """(call, how): a no-argument call doing one training step's matrix products and nothing else, and
    what it runs. Forward H_{l+1} = H_l W_lᵀ; backward ∂W_l = ∂Z_lᵀ H_l, and ∂H_l = ∂Z_l W_l for all but
    the input layer. With the extension: fastmlp._native.step_matmuls, the very BLAS calls (scipy's
    OpenBLAS) of the Cython backend's step; else numpy.matmul into preallocated arrays. No engine doing
    these products at this BLAS's rate beats it: it is the step's floor (bias, activations, loss and
    update come on top)."""
    rng = np.random.default_rng(3)
    n, sizes = workload.batch, workload.sizes
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    try:
        from . import _native
    except ImportError:
        _native = None
    if _native is not None:
        from .workspace import Workspace
        ws = Workspace(sizes, n, dtype)
        ws.dbuf[...] = rng.standard_normal(ws.dbuf.size)  # stands in for ∂L/∂Z: normal numbers, no NaN
        theta = initial_theta(workload, dtype)
        call = functools.partial(_native.step_matmuls, theta, np.array(sizes, np.int64), X, ws.hbuf, ws.dbuf,
                                 ws.grad)
        return call, "fastmlp._native.step_matmuls: the Cython backend's own BLAS calls (scipy's OpenBLAS)"
    H = [X] + [np.empty((n, s), dtype) for s in sizes[1:]]
    dZ = [rng.standard_normal((n, s)).astype(dtype) for s in sizes]  # dZ[l + 1]: ∂L/∂Z of layer l
    W = [(rng.standard_normal((o, i)) / np.sqrt(i)).astype(dtype) for i, o in zip(sizes[:-1], sizes[1:])]
    dW = [np.empty_like(w) for w in W]
    dH = [np.empty_like(h) for h in H]

    def call():
        for l, w in enumerate(W):
            np.matmul(H[l], w.T, out=H[l + 1])
        for l in range(len(W) - 1, -1, -1):
            np.matmul(dZ[l + 1].T, H[l], out=dW[l])
            if l:
                np.matmul(dZ[l + 1], W[l], out=dH[l])
    return call, "numpy.matmul into preallocated arrays (numpy's OpenBLAS)"


# ---- agreement ---------------------------------------------------------------------------------------------

def _rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return float(np.max(np.abs(a - b))) / scale if scale > 0 else float(np.max(np.abs(a - b)))


def probe(engine, workload, dtype, theta0, lr, X, Y, Xp, steps=2):
    """Run the agreement probe on `engine`: predictions at θ0 on Xp, then `steps` steps on the first
    batches: their losses (the second one's shows the first update), and the first update Δθ itself.
    Returns a dict of numpy results. (--quick: one step; the update is still compared.)"""
    engine.load(workload, dtype, theta0, lr)
    out = {"predict": engine.to_numpy(engine.predict(engine.prepare(Xp))).astype(np.float64)} \
        if "predict1" in engine.metrics else {}
    b = workload.batch
    losses = []
    for k in range(steps):
        Xb, Yb = engine.prepare(X[k * b:(k + 1) * b]), engine.prepare_y(Y[k * b:(k + 1) * b])
        losses.append(engine.step_loss(Xb, Yb))
        if k == 0:
            out["update"] = engine.theta() - theta0.astype(np.float64)
    out["losses"] = np.array(losses)
    if engine.kind == "fastmlp":
        # fit(epochs=1) runs the train_epoch kernel, not train_step: check it too, on one batch's rows in a
        # shuffled order (the backends shuffle alike: same seed, same permutation). One batch: after two,
        # a one-ulp difference of the first update can already move a relu kink (seen on "wide").
        engine.load(workload, dtype, theta0, lr)
        engine.epoch(X[:b], Y[:b])
        out["epoch_update"] = engine.theta() - theta0.astype(np.float64)
    return out


def update_error(actual, expected):
    """(relative 2-norm, largest element relative to the reference's largest) of actual - expected."""
    diff = np.asarray(actual, np.float64) - np.asarray(expected, np.float64)
    expected = np.asarray(expected, np.float64)
    norm, top = float(np.linalg.norm(expected)), float(np.max(np.abs(expected)))
    return (float(np.linalg.norm(diff)) / norm if norm else float(np.linalg.norm(diff)),
            float(np.max(np.abs(diff))) / top if top else float(np.max(np.abs(diff))))


def compare(res, ref, dtype):
    """(ok, details, message) of one engine's probe results against the reference's."""
    tol = TOLERANCE[np.dtype(dtype)]
    details = {"loss_rel_err": float(np.max(np.abs(res["losses"] - ref["losses"]) / np.abs(ref["losses"])))}
    bad = []
    if not np.all(np.isfinite(res["losses"])) or details["loss_rel_err"] > tol["loss"]:
        bad.append(f"losses {np.array2string(res['losses'], precision=8)} vs the reference's "
                   f"{np.array2string(ref['losses'], precision=8)} (rel. err {details['loss_rel_err']:.1e} "
                   f"> {tol['loss']:.0e})")
    for key, what in (("update", "the first step's update Δθ"), ("epoch_update", "fit(epochs=1)'s update")):
        if key in res and key in ref:
            l2, mx = update_error(res[key], ref[key])
            details[f"{key}_rel_l2"], details[f"{key}_rel_max"] = l2, mx
            if not (l2 <= tol["update_l2"] and mx <= tol["update_max"]):
                bad.append(f"{what} is off by {l2:.1e} in 2-norm (> {tol['update_l2']:.0e}) or {mx:.1e} of its "
                           f"largest element (> {tol['update_max']:.0e}), relative to the reference's")
    if "predict" in res:
        details["predict_rel_err"] = _rel(res["predict"], ref["predict"])
        if details["predict_rel_err"] > tol["predict"]:
            bad.append(f"predictions off by {details['predict_rel_err']:.1e} of max|ŷ| (> {tol['predict']:.0e})")
    return not bad, details, "; ".join(bad)


# ---- one workload ------------------------------------------------------------------------------------------

_told = set()  # engines whose unavailability was logged already


def _stepper(engine, batches):
    """A no-argument call: one step of `engine` on the next batch."""
    def call():
        engine.step(*next(batches))
    return call


def run_workload(workload, engines, dtype, args, timing, gemm_fn, log):
    from .bench_peers import Unavailable, cycle_batches
    dtype = np.dtype(dtype)
    lr = learning_rate(workload)
    theta0 = initial_theta(workload, dtype)
    X, Y = make_data(workload, dtype)
    Xp = X[:min(64, X.shape[0])]
    result = {"workload": asdict(workload), "dtype": dtype.name, "lr": lr, "sklearn_lr": 2 * workload.batch * lr,
              "agreement": {}, "metrics": {}}

    # ---- agreement: every engine from θ0 on the same batches, against the NumPy reference
    log(f"[{workload.name}] agreement check")
    ref_engine = dict(engines).get("numpy")
    if ref_engine is None or isinstance(ref_engine, Exception):
        raise SystemExit(f"the NumPy reference is needed as the oracle: {ref_engine}")
    steps = 1 if args.quick else 2
    ref = probe(ref_engine, workload, dtype, theta0, lr, X, Y, Xp, steps)
    live = []
    for name, engine in engines:
        if isinstance(engine, Exception):
            result["agreement"][name] = {"status": "unavailable", "message": str(engine)}
            continue
        try:
            res = ref if name == "numpy" else probe(engine, workload, dtype, theta0, lr, X, Y, Xp, steps)
            ok, details, message = compare(res, ref, dtype)
            status = "ok" if ok else "disagrees"
            result["agreement"][name] = {"status": status, "message": message, **details}
        except Exception as exc:  # noqa: BLE001
            kind = "unavailable" if isinstance(exc, Unavailable) else "error"
            msg = str(exc) if kind == "unavailable" else f"{type(exc).__name__}: {exc}"
            result["agreement"][name] = {"status": kind, "message": msg}
            if kind == "error" and args.verbose:
                traceback.print_exc()
            continue
        if ok:
            live.append((name, engine))
        else:
            log(f"  {engine.name}: DISAGREES with the NumPy reference, not timed: {message}")
    for name, a in result["agreement"].items():
        if a["status"] == "error" or (a["status"] == "unavailable" and name not in _told):
            _told.add(name)
            log(f"  {name}: {a['status']}: {a['message']}")
    names = {name: engine.name for name, engine in live}
    base = next((n for n in ("cython", "numba", "numpy") if n in names), None)
    result["base"] = names.get(base)

    # ---- timing
    quick = args.quick
    n_pred = args.predict_rows or (QUICK_PREDICT_ROWS.get(workload.name, QUICK_PREDICT_ROWS_DEFAULT)
                                   if quick else PREDICT_ROWS)
    n_epoch = QUICK_EPOCH_ROWS.get(workload.name, workload.samples) if quick else workload.samples
    Xe, Ye = X[:n_epoch], Y[:n_epoch]
    metrics = ["step", "epoch"] if n_epoch else ["step"]
    if workload.name in LATENCY_WORKLOADS:
        metrics.append("predict1")
    metrics.append("predictN")
    Xn = make_data(workload, dtype, rows=n_pred, seed=2)[0] if "predictN" in metrics else None
    for metric in metrics:
        calls = {}
        for name, engine in live:
            if metric not in engine.metrics:
                continue
            engine.load(workload, dtype, theta0, lr)  # fresh at θ0 for every metric
            if metric == "step":
                batches = cycle_batches(engine.prepare(X), engine.prepare_y(Y), workload.batch)
                calls[name] = _stepper(engine, batches)
            elif metric == "epoch":
                Xq, Yq = engine.prepare(Xe), engine.prepare_y(Ye)
                calls[name] = functools.partial(engine.epoch, Xq, Yq)
            elif metric == "predict1":
                calls[name] = engine.predict_call(engine.prepare(X[:1]))
            else:
                calls[name] = engine.predict_call(engine.prepare(Xn))
        if metric == "step" and calls:
            calls[MATMULS], floor_how = matmuls_of_step(workload, dtype)  # the step's floor, same rounds
            if workload.name == "wide" and gemm_fn is not None:
                calls["gemm"] = gemm_fn  # the machine's gemm rate, in the same rounds
        log(f"[{workload.name}] {metric}: timing {', '.join(names.get(n, n) for n in calls)}")
        times, reps, dropped = timing.run(calls)
        gemm_times = times.pop("gemm", None)
        reps.pop("gemm", None)
        floor_times = times.pop(MATMULS, None)
        reps.pop(MATMULS, None)
        flops = {"step": train_flops(workload.sizes, workload.batch),
                 "epoch": train_flops(workload.sizes, n_epoch),
                 "predict1": forward_flops(workload.sizes, 1),
                 "predictN": forward_flops(workload.sizes, n_pred)}[metric]
        rows = {}
        for n, r in summarize(times, base, "numpy").items():
            r["reps"] = reps[n]
            r["gflops"] = flops / r["median_s"] / 1e9
            if gemm_times:
                gemm_flops = 2 * 2048 ** 3
                r["pct_of_gemm"] = 100 * statistics.median(
                    (flops / t) / (gemm_flops / g) for t, g in zip(times[n], gemm_times))
            rows[names[n]] = r
        entry = {"engines": rows, "flops": flops, "dropped": {names.get(n, n): why for n, why in dropped.items()}}
        if floor_times:
            entry["matmuls_alone"] = floor = {"median_s": statistics.median(floor_times), "times_s": floor_times,
                                              "gflops": flops / statistics.median(floor_times) / 1e9,
                                              "how": floor_how}
            if base in times:
                floor["ratio_to_base"] = statistics.median(f / b for f, b in zip(floor_times, times[base]))
            if gemm_times:
                floor["pct_of_gemm"] = 100 * statistics.median(
                    (flops / f) / (2 * 2048 ** 3 / g) for f, g in zip(floor_times, gemm_times))
            for n, r in rows.items():  # the most any engine doing these matmuls could gain over this one
                key = next(k for k, v in names.items() if v == n)
                r["over_matmuls_alone"] = statistics.median(t / f for t, f in zip(times[key], floor_times))
        if metric == "epoch":
            entry["rows"] = n_epoch
        if metric == "predictN":
            entry["rows"] = n_pred
        if gemm_times:
            entry["gemm_gflops_same_rounds"] = 2 * 2048 ** 3 / statistics.median(gemm_times) / 1e9
        for n, why in dropped.items():
            log(f"  {names.get(n, n)}: {why}")
        result["metrics"][metric] = entry
    return result


# ---- output ------------------------------------------------------------------------------------------------

def gemm_name(dtype) -> str:
    return "sgemm" if np.dtype(dtype) == np.float32 else "dgemm"


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:8.1f} µs"
    if s < 1:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.2f} s "


def table(report) -> str:
    lines = []
    unavailable = {}
    for w in report["workloads"].values():
        for name, a in w["agreement"].items():
            if a["status"] == "unavailable":
                unavailable.setdefault(name, a["message"])
    for name, message in unavailable.items():
        lines.append(f"not run: {name}: {message}")
    for wname, w in report["workloads"].items():
        wl = WORKLOADS[wname]
        lines.append("")
        lines.append(f"== {wname}: {wl.label}, {w['dtype']}, {report['threads']} thread(s); "
                     f"ratios vs {w.get('base')} ==")
        lines.append(f"  {'metric':<22} {'engine':<15} {'median':>11} {'t/base':>8} {'numpy/t':>8} "
                     f"{'rounds':>6}  {'extra'}")
        for metric, m in w["metrics"].items():
            title = METRIC_TITLES[metric]
            if metric == "predictN":
                title = f"predict {m['rows']:,} rows"
            elif metric == "epoch":
                title = f"epoch ({m['rows']:,} rows)"
            for name, r in sorted(m["engines"].items(), key=lambda kv: kv[1]["median_s"]):
                extra = ""
                if metric == "predictN":
                    extra = f"{m['rows'] / r['median_s']:,.0f} rows/s"
                if wname == "wide" and metric in ("step", "epoch", "predictN"):
                    extra += f"{'  ' if extra else ''}{r['gflops']:.1f} GFLOP/s"
                    if "pct_of_gemm" in r:
                        extra += f" = {r['pct_of_gemm']:.0f}% of {gemm_name(w['dtype'])}"
                if "over_matmuls_alone" in r:
                    extra += f"{'  ' if extra else ''}{r['over_matmuls_alone']:.2f} × floor"
                ratio = f"{r['ratio_to_base']:8.2f}" if "ratio_to_base" in r else f"{'-':>8}"
                sp = f"{r['numpy_speedup']:8.2f}" if "numpy_speedup" in r else f"{'-':>8}"
                lines.append(f"  {title:<22} {name:<15} {fmt_time(r['median_s']):>11} {ratio} {sp} "
                             f"{len(r['times_s']):>6}  {extra}")
                title = ""
            floor = m.get("matmuls_alone")
            if floor:
                ratio = f"{floor['ratio_to_base']:8.2f}" if "ratio_to_base" in floor else f"{'-':>8}"
                lines.append(f"  {'':<22} {'(floor)':<15} {fmt_time(floor['median_s']):>11} {ratio} {'-':>8} "
                             f"{len(floor['times_s']):>6}  the step's matmuls alone, "
                             f"{floor['gflops']:.1f} GFLOP/s"
                             + (f" = {floor['pct_of_gemm']:.0f}% of {gemm_name(w['dtype'])}"
                                if "pct_of_gemm" in floor else ""))
            for name, why in m["dropped"].items():
                lines.append(f"  {title:<22} {name:<15} not timed: {why}")
                title = ""
        for name, a in w["agreement"].items():
            if a["status"] not in ("ok", "unavailable"):
                lines.append(f"  ! {name}: {a['status']}: {a['message']}")
    return "\n".join(lines)


HOW = {
    "agreement": "before timing, every engine starts from the same θ0 (fastmlp's glorot init, seed 0), "
                 "predicts 64 rows and takes 2 SGD steps (1 in --quick) on the same batches; its losses (SSE "
                 "units), predictions and first update Δθ (and, for fastmlp's backends, the update of "
                 "fit(epochs=1) on the first batch's rows) must match the NumPy reference (float32: losses 2e-4 "
                 "relative, predictions 1e-4 of the largest |ŷ|, Δθ 1e-3 in relative 2-norm and 5e-2 of its "
                 "largest element; float64: 1e-9, 1e-10, 1e-8, 1e-6; the 2-norm tolerates a relu kink taken "
                 "differently). An engine that disagrees is not timed.",
    "step": "one SGD step on one batch through the public API: fastmlp net.train_step(X, Y, lr); torch "
            "zero_grad + F.mse_loss(reduction='sum') + backward + SGD.step; sklearn MLPRegressor.partial_fit "
            "on one batch (input validation included); sklearn-core: sklearn's private _backprop + "
            "_optimizer.update_params (its arithmetic alone). sklearn runs at learning_rate_init = 2·batch·lr: "
            "its gradient is ∂(Σ‖r‖²)/∂θ / (2·batch), so its update equals θ -= lr·∂L/∂θ.",
    "epoch": "one shuffled pass in minibatches: fastmlp fit(epochs=1) (one native call per epoch); torch "
             "randperm + tensor indexing + the step above per batch; sklearn partial_fit(all rows, shuffle=True).",
    "predict1": "one row: fastmlp predict(x, out=buf); torch model(x) under inference_mode; sklearn predict(x).",
    "predictN": "all rows in one call: fastmlp predict(X, out=buf); torch model(X) under inference_mode; "
                "sklearn predict(X).",
    "ratios": "engines run round-robin: each round times one block of calls (~0.1 s) of every engine, "
              "rotating the order. t/base = median over rounds of (engine's time / base's time in the same "
              "round); numpy/t = median of (NumPy reference's time / engine's time): the speedup over the "
              "reference.",
    "floor": "(floor): one step's matrix products alone (H Wᵀ per layer, ∂Zᵀ H and ∂Z W: the Cython "
             "backend's own BLAS calls through fastmlp._native.step_matmuls, or numpy.matmul without the "
             "extension), timed in the same rounds as the steps; 'k × floor' is an engine's step "
             "time over it (median of same-round ratios). No engine doing these products at this BLAS's rate "
             "is faster than the floor, so an engine at k × floor can be beaten by at most k×.",
    "flops": "true matmul FLOPs: forward 2·n·Σ i·o, backward 2·n·Σ i·o (∂W) + 2·n·Σ i·o without the input "
             "layer (∂H_prev); gemm = numpy.matmul of two 2048×2048 matrices of the run's dtype, timed in the "
             "same rounds as the wide step.",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastmlp.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: few rounds, fewer rows (< 1 minute)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP / torch threads (default 1)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated, from {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated, from {', '.join(ENGINES)} (default: all; numpy is always run: "
                        "it is the oracle)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--json", metavar="PATH", help="write every measurement to PATH as JSON")
    p.add_argument("--rounds", type=int, help="rounds per measurement (default 9, or 3 when a round takes "
                                              "over 20 s; --quick 3, or 2 over 2 s)")
    p.add_argument("--predict-rows", type=int, help=f"rows of the batch predict (default {PREDICT_ROWS:,}; "
                                                     "--quick: 10,000, wide 512)")
    p.add_argument("--max-call", type=float, help="seconds one call may take before an engine is dropped "
                                                  "from a measurement (default 60; --quick 5)")
    p.add_argument("--verbose", action="store_true", help="tracebacks of engines that raise")
    args = p.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in args.engines if e not in ENGINES]
    if unknown:
        p.error(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    if "numpy" not in args.engines:
        args.engines.append("numpy")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    from threadpoolctl import threadpool_limits

    from . import __version__
    from .bench_peers import make_engines

    backends = load_libraries(args.engines)
    torch_info = None
    with threadpool_limits(limits=args.threads):
        info, problems = pools_report(args.threads)
        if "torch" in args.engines:
            try:
                import torch
                torch.set_num_threads(args.threads)
                torch_info = {"version": torch.__version__, "num_threads": torch.get_num_threads(),
                              "mkl": torch.backends.mkl.is_available(),
                              "openmp": torch.backends.openmp.is_available()}
            except ImportError:
                pass
        for problem in problems:
            log(f"WARNING: threads: {problem}")
        engines = make_engines(args.engines, backends)
        rounds = args.rounds or (3 if args.quick else 9)
        timing = Timing(target=0.02 if args.quick else 0.1, rounds=rounds,
                        slow_rounds=args.rounds or (2 if args.quick else 9),
                        max_call=args.max_call or (5.0 if args.quick else 60.0), log=log,
                        warmup_counts_over=0.1 if args.quick else 1.0)
        dtype = np.dtype(args.dtype)
        log(f"gemm rate ({dtype.name} 2048³)")
        gemm, gemm_fn = measure_gemm(dtype, timing)
        report = {
            "fastmlp_version": __version__, "argv": sys.argv[1:] if argv is None else list(argv),
            "quick": args.quick, "threads": args.threads, "dtype": dtype.name, "machine": machine_info(),
            "threadpools": info, "threads_ok": not problems, "thread_problems": problems, "torch": torch_info,
            "sklearn": _version("sklearn"), "backends_available": backends, "gemm": gemm, "how_measured": HOW,
            "workloads": {},
        }
        for wname in args.workloads:
            report["workloads"][wname] = run_workload(WORKLOADS[wname], engines, dtype, args, timing,
                                                      gemm_fn, log)
    statuses = [a["status"] for w in report["workloads"].values() for a in w["agreement"].values()]
    # A disagreement is a wrong answer: the run fails. Engines that could not run are reported, not failed.
    report["agreement_passed"] = "disagrees" not in statuses
    report["seconds"] = time.perf_counter() - t_start

    print(f"fastmlp {__version__} bench: {dtype.name}, {args.threads} thread(s), "
          f"{'quick' if args.quick else 'full'} run; {report['machine']['cpu']}, "
          f"{report['machine']['cores']} cores")
    for p in info:
        print(f"  {p['user_api']:<6} {p['internal_api']:<9} {p.get('version') or '':<12} "
              f"{p['num_threads']} thread(s)  {os.path.basename(p['filepath'])}"
              f"{'  (' + p['architecture'] + ')' if p.get('architecture') else ''}")
    if torch_info:
        print(f"  torch {torch_info['version']}: {torch_info['num_threads']} thread(s) "
              f"(torch.set_num_threads; its BLAS: {'MKL, built in' if torch_info['mkl'] else 'its own'})")
    print(f"  {gemm_name(dtype)}: {gemm['what']}: {gemm['gflops']:.1f} GFLOP/s (median of {len(gemm['times_s'])})")
    for problem in problems:
        print(f"  WARNING: {problem}")
    print(table(report))
    print("\nHow measured:")
    for key in ("agreement", "step", "epoch", "predict1", "predictN", "ratios", "floor", "flops"):
        print(f"  {key}: {HOW[key]}")
    print(f"\nagreement check: {'passed' if report['agreement_passed'] else 'FAILED'}; "
          f"{report['seconds']:.0f} s in all")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=_json_default)
        print(f"JSON: {args.json}")
    return 0 if report["agreement_passed"] else 2


def _version(module):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
