"""Training allocates nothing per step or epoch: workspaces are made once and reused."""
import tracemalloc

import numpy as np
import pytest

from fastmlp import MLP


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _data(n, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, n_in)).astype(np.float32),
            (0.5 * rng.normal(size=(n, n_out))).astype(np.float32))


@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_more_epochs_allocate_nothing_of_workspace_size(backend):
    X, Y = _data(4096, 64, 1)
    net = MLP([64, 128, 128, 1], activation="relu", backend=backend, seed=0)
    net.fit(X, Y, epochs=1, batch_size=256, lr=1e-4)  # warm: workspaces built, kernels compiled
    workspace = net._workspace(256)
    one = _peak(lambda: net.fit(X, Y, epochs=1, batch_size=256, lr=1e-4))
    six = _peak(lambda: net.fit(X, Y, epochs=6, batch_size=256, lr=1e-4))
    # five more epochs may add a few history entries, never a buffer of a workspace's size
    assert six - one < workspace.hbuf.nbytes // 8, (one, six, workspace.hbuf.nbytes)


@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_train_step_allocates_nothing_of_workspace_size(backend):
    X, Y = _data(256, 64, 1)
    net = MLP([64, 128, 128, 1], activation="relu", backend=backend, seed=0)
    net.train_step(X, Y, lr=1e-4)
    workspace = net._workspace(256)
    peak = _peak(lambda: [net.train_step(X, Y, lr=1e-4) for _ in range(20)])
    assert peak < workspace.hbuf.nbytes // 8, (peak, workspace.hbuf.nbytes)


@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_mnist_epoch_peak_memory_not_above_the_numpy_reference(backend):
    X, Y = _data(2048, 784, 10)
    peaks = {}
    for name in (backend, "numpy"):
        # compile (numba) and load the extension on another model: the epoch is measured, not the JIT
        MLP([3, 2, 1], backend=name).fit(X[:4, :3], Y[:4, :1], epochs=1, batch_size=2)
        net = MLP([784, 256, 128, 10], activation="relu", backend=name, seed=0)
        peaks[name] = _peak(lambda: net.fit(X, Y, epochs=1, batch_size=128, lr=1e-4))
    assert peaks[backend] <= peaks["numpy"], peaks


def test_theta_and_workspaces_are_cache_line_aligned():
    # The vector kernels stream θ and the workspaces 64 bytes at a time; numpy alone aligns to 16, and a
    # straddling load costs two (mnist's one-row predict was 1.5x slower misaligned).
    from fastmlp.workspace import Workspace, aligned_empty, predict_work

    for dtype in ("float32", "float64"):
        net = MLP((5, 7, 3), dtype=dtype, seed=0)
        assert net.params.ctypes.data % 64 == 0 and net.params.flags.c_contiguous
        ws = Workspace((5, 7, 3), 9, dtype)
        for name in ("hbuf", "dbuf", "grad", "xbuf", "ybuf", "wbuf"):
            assert getattr(ws, name).ctypes.data % 64 == 0, name
        assert not ws.grad.any()
        assert predict_work((5, 7, 3), 16, dtype).ctypes.data % 64 == 0
    assert aligned_empty(0, np.float64).shape == (0,)
    for count in (1, 17):
        a = aligned_empty(count, np.float64)
        assert a.shape == (count,) and a.dtype == np.float64 and a.ctypes.data % 64 == 0
