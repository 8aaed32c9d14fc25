"""pytest-benchmark suites of fastmlp: every kernel of the table, whole training steps and epochs, predict.

    pytest bench/ --benchmark-group-by=group                 # full run, 1 BLAS thread
    pytest bench/ --threads 2                                # 2 BLAS threads
    FASTMLP_BENCH_QUICK=1 pytest bench/ -q                   # tiny sizes, 3 rounds: a smoke run
    pytest bench/ -k "playground" --benchmark-disable        # each benchmark body once, no timing

Every benchmark is parametrized over the backends (cython, numba, numpy) and grouped (`benchmark.group`)
with the NumPy reference: pytest-benchmark's table shows each statistic's ratio to the group's fastest
in parentheses. Before timing, each backend's result is compared with the reference's on the same input
(a wrong answer fails the test: it is not a result). A backend that cannot load, or whose module does not
yet implement the kernel table's signature for that kernel, fails with the reason.

BLAS threads are pinned with threadpoolctl for the whole session. fastmlp._native (scipy's OpenBLAS) and
the numba backend are imported BEFORE the limit is set, and the session aborts unless numpy's and scipy's
OpenBLAS both run at the requested count. No test asserts a timing.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from fastmlp.bench import WORKLOADS, load_libraries, pools_report
from fastmlp.bench_peers import kernel_table_problems

BACKENDS = ("numpy", "cython", "numba")
QUICK_ENV = "FASTMLP_BENCH_QUICK"
THREADS_ENV = "FASTMLP_BENCH_THREADS"

# Agreement with the reference before timing: the relative 2-norm of the difference, and its largest element
# relative to the reference's largest (fastmlp.bench.TOLERANCE explains the two: relu kinks).
AGREE = {np.dtype(np.float32): (1e-3, 5e-2), np.dtype(np.float64): (1e-8, 1e-6)}
# After several steps (an epoch), a one-ulp difference of an early update can move a relu kink and the
# difference grows from there: looser, still far below what a wrong kernel (a factor, a wrong row) gives.
# The batch losses, which kinks barely move, are compared at AGREE.
AGREE_EPOCH = {np.dtype(np.float32): (2e-2, 2e-1), np.dtype(np.float64): (1e-8, 1e-6)}

def pytest_addoption(parser):
    group = parser.getgroup("fastmlp bench")
    group.addoption("--threads", type=int, default=None,
                    help=f"BLAS/OpenMP threads, pinned with threadpoolctl (default ${THREADS_ENV} or 1)")
    group.addoption("--quick", action="store_true", default=False,
                    help=f"tiny sizes and 3 rounds (also {QUICK_ENV}=1): proves the suites run, measures nothing")


def _quick(config) -> bool:
    return bool(config.getoption("--quick")) or os.environ.get(QUICK_ENV, "") not in ("", "0")


def pytest_configure(config):
    from threadpoolctl import threadpool_limits
    threads = config.getoption("--threads") or int(os.environ.get(THREADS_ENV, "1"))
    if threads < 1:
        raise pytest.UsageError("--threads must be at least 1")
    load_libraries(())  # fastmlp._native brings scipy's OpenBLAS: load it before limiting
    config._fastmlp_limiter = threadpool_limits(limits=threads)
    info, problems = pools_report(threads)
    if problems:
        raise pytest.UsageError("BLAS threads are not pinned: " + "; ".join(problems))
    config._fastmlp_bench = {"threads": threads, "pools": info, "quick": _quick(config)}


def pytest_unconfigure(config):
    limiter = getattr(config, "_fastmlp_limiter", None)
    if limiter is not None:
        limiter.restore_original_limits()


def pytest_report_header(config):
    state = getattr(config, "_fastmlp_bench", None)
    if state is None:
        return None
    mode = "QUICK (tiny sizes; not a measurement)" if state["quick"] else "full sizes"
    lines = [f"fastmlp bench: {state['threads']} BLAS thread(s), {mode}"]
    for p in state["pools"]:
        lines.append(f"  {p['internal_api']} {p.get('version') or ''} {p['num_threads']} thread(s): "
                     f"{os.path.basename(p['filepath'])}")
    return lines


# ---- sizes -------------------------------------------------------------------------------------------------

# Quick mode keeps the names (so -k selects the same tests) but shrinks everything.
QUICK_WORKLOADS = {
    "playground": dict(samples=256),
    "tabular": dict(batch=64, samples=256),
    "mnist": dict(batch=32, samples=128),
    "wide": dict(sizes=(128, 256, 256, 128), batch=64, samples=256),
}
PREDICT_ROWS, QUICK_PREDICT_ROWS = 100_000, 1_000


def workload(name, quick):
    w = WORKLOADS[name]
    return dataclasses.replace(w, **QUICK_WORKLOADS[name]) if quick else w


@pytest.fixture(scope="session")
def quick(pytestconfig) -> bool:
    return _quick(pytestconfig)


# ---- backends ----------------------------------------------------------------------------------------------

def kernels_of(backend, needed):
    """The kernel table module of `backend`; fails (a benchmark of a missing backend proves nothing) when it
    cannot load or when one of the `needed` kernels does not follow the table's signature."""
    from fastmlp.backends import get_backend
    try:
        _, module = get_backend(backend)
    except ImportError as exc:
        pytest.fail(f"{backend} backend not available: {exc}")
    problems = kernel_table_problems(module, needed)
    if problems:
        pytest.fail(f"{backend} backend does not implement the kernel table: "
                    + "; ".join(f"{k}: {v}" for k, v in problems.items()))
    return module


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


# ---- benchmark and agreement helpers -----------------------------------------------------------------------

@pytest.fixture
def bench(benchmark, quick):
    """bench(group, fn, *args, **kwargs): time fn(*args, **kwargs) in `group` (3 rounds in quick mode)."""
    def run(group, fn, *args, **kwargs):
        benchmark.group = group
        if quick:
            return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=3, iterations=1, warmup_rounds=1)
        return benchmark(fn, *args, **kwargs)
    return run


def agree(actual, expected, dtype, what, epoch=False):
    """Fail (a faster wrong answer is not a result) unless actual ≈ expected (see AGREE; AGREE_EPOCH for the
    parameters after several steps)."""
    from fastmlp.bench import update_error
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != reference {expected.shape}"
    if not expected.size:
        return
    l2_tol, max_tol = (AGREE_EPOCH if epoch else AGREE)[np.dtype(dtype)]
    l2, mx = update_error(actual, expected)
    if not (l2 <= l2_tol and mx <= max_tol):
        pytest.fail(f"{what} disagrees with the NumPy reference: relative error {l2:.2g} in 2-norm (tolerance "
                    f"{l2_tol:.0e}), {mx:.2g} of the largest element (tolerance {max_tol:.0e}); not timed",
                    pytrace=False)


# ---- whole-network cases -----------------------------------------------------------------------------------

class Case:
    """A workload's network and data in one dtype, in the kernels' argument forms: θ0 (fastmlp's glorot
    init, seed 0), sizes / acts (int64; identity output), X, Y (the workload's samples), no sample weights,
    an SGD optimizer at the workload's learning rate, and a Workspace for one batch."""

    def __init__(self, w, dtype):
        from fastmlp import activations, optim
        from fastmlp.bench import initial_theta, learning_rate, make_data
        from fastmlp.workspace import Workspace
        self.w, self.dtype = w, np.dtype(dtype)
        self.theta0 = initial_theta(w, self.dtype)
        self.sizes = np.array(w.sizes, np.int64)
        hidden = activations.activation_id(w.activation)
        self.acts = np.array([hidden] * (len(w.sizes) - 2) + [activations.IDENTITY], np.int64)
        self.X, self.Y = make_data(w, self.dtype)
        self.sw = np.empty(0, self.dtype)
        self.lr = learning_rate(w)
        self.sgd = optim.SGD(lr=self.lr)
        self.ws = Workspace(w.sizes, w.batch, self.dtype)
        self.n_batches = -(-w.samples // w.batch)

    def batch(self, k=0):
        b = self.w.batch
        return self.X[k * b:(k + 1) * b], self.Y[k * b:(k + 1) * b]

    def net(self, backend):
        from fastmlp import MLP
        net = MLP(self.w.sizes, activation=self.w.activation, loss="sse", dtype=self.dtype, seed=0,
                  backend=backend)
        net.params = self.theta0
        return net


_cases = {}


@pytest.fixture
def case(quick):
    """case(workload name, dtype) -> Case, cached for the session (building wide's data costs)."""
    def get(name, dtype=np.float32):
        key = (name, np.dtype(dtype).name, quick)
        if key not in _cases:
            if len(_cases) >= 3:  # wide's arrays are large: keep a few
                _cases.pop(next(iter(_cases)))
            _cases[key] = Case(workload(name, quick), dtype)
        return _cases[key]
    return get
