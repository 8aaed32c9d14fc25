"""Smoke tests of the benchmarks: they run, agree, and report. No timing is asserted anywhere.

    python -m fastmlp.bench --quick --workloads playground --json PATH   (the comparison command)
    FASTMLP_BENCH_QUICK=1 pytest bench/ -k "playground or (dense_forward and small)"   (a few groups)
Both run in a subprocess, as a user would run them (~15 s together on an idle 2-core machine).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # generous: the machine may be busy, and numba compiles its kernels on a cold cache

import threadpoolctl  # noqa: E402,F401  (the test extra installs it; the benchmarks pin threads with it)


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("FASTMLP_BACKEND", None)
    env.update(extra)
    return env


def _run(cmd, **env):
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert proc.returncode == 0, (f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
                                  f"\n--- stderr\n{proc.stderr[-6000:]}")
    return proc


def test_compare_command_quick(tmp_path):
    out = tmp_path / "bench.json"
    proc = _run([sys.executable, "-m", "fastmlp.bench", "--quick", "--workloads", "playground",
                 "--json", str(out)])
    report = json.loads(out.read_text())
    for key in ("fastmlp_version", "quick", "threads", "dtype", "machine", "threadpools", "threads_ok", "gemm",
                "how_measured", "workloads", "agreement_passed"):
        assert key in report, f"the JSON report lacks {key!r}"
    assert report["quick"] is True and report["threads"] == 1 and report["dtype"] == "float32"
    assert report["threads_ok"], report["thread_problems"]
    assert report["agreement_passed"] is True
    assert report["gemm"]["gflops"] > 0
    assert list(report["workloads"]) == ["playground"]

    w = report["workloads"]["playground"]
    agreement = w["agreement"]
    # Every engine either agreed with the reference or could not run here (not installed, a backend not
    # built or not yet implementing the kernel table); none disagreed or crashed.
    for name, a in agreement.items():
        assert a["status"] in ("ok", "unavailable"), f"{name}: {a['status']}: {a['message']}"
    assert agreement["numpy"]["status"] == "ok"
    assert agreement["cython"]["status"] == "ok", agreement["cython"]["message"]
    for name, module in (("torch", "torch"), ("sklearn", "sklearn")):
        if importlib.util.find_spec(module) is not None:
            assert agreement[name]["status"] == "ok", agreement[name]["message"]

    assert set(w["metrics"]) == {"step", "epoch", "predict1", "predictN"}
    for metric, m in w["metrics"].items():
        rows = m["engines"]
        assert "numpy-ref" in rows and "fastmlp-cython" in rows, (metric, list(rows), m["dropped"])
        for name, r in rows.items():
            assert r["median_s"] > 0 and len(r["times_s"]) >= 2 and r["ratio_to_base"] > 0, (metric, name)
    assert w["base"] == "fastmlp-cython"
    floor = w["metrics"]["step"]["matmuls_alone"]  # the step's floor, timed in the same rounds
    assert floor["median_s"] > 0 and len(floor["times_s"]) >= 2 and "step_matmuls" in floor["how"]
    assert all(r["over_matmuls_alone"] > 0 for r in w["metrics"]["step"]["engines"].values())
    assert "train step" in proc.stdout and "agreement check: passed" in proc.stdout
    assert "(floor)" in proc.stdout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_matmuls_are_the_steps_products(dtype):
    # The floor row must time the same products a step computes: hbuf gets X·W0ᵀ then (X·W0ᵀ)·W1ᵀ (no
    # bias, no activation), grad's weight blocks ∂Z_lᵀ H_l with dbuf's contents standing in for ∂Z.
    from fastmlp import _native
    from fastmlp.workspace import Workspace

    sizes, n = (70, 64, 3), 4  # 64·70 > 4096 weights: the plain "TN" gemm; 3·64: the transposed copy
    rng = np.random.default_rng(0)
    n0, n1 = 64 * 70, 64 * 70 + 64  # W0 = theta[:n0], W1 = theta[n1:n1 + 192]
    theta = rng.standard_normal(n1 + 3 * 64 + 3).astype(dtype)
    X = rng.standard_normal((n, 70)).astype(dtype)
    ws = Workspace(sizes, n, dtype)
    ws.dbuf[...] = rng.standard_normal(ws.dbuf.size)
    dZ1 = ws.dbuf[:n * 3].reshape(n, 3).copy()  # the first block is the output layer's ∂Z
    _native.step_matmuls(theta, np.array(sizes, np.int64), X, ws.hbuf, ws.dbuf, ws.grad)
    W0, W1 = theta[:n0].reshape(64, 70), theta[n1:n1 + 192].reshape(3, 64)
    H1 = X.astype(np.float64) @ W0.T
    tol = 1e-4 if dtype == np.float32 else 1e-12
    scale = np.abs(H1).max()
    np.testing.assert_allclose(ws.hbuf[:n * 64].reshape(n, 64), H1, rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(ws.hbuf[n * 64:n * 67].reshape(n, 3), H1 @ W1.T, rtol=tol, atol=tol * scale * 10)
    np.testing.assert_allclose(ws.grad[n1:n1 + 192].reshape(3, 64), dZ1.T @ H1, rtol=tol, atol=tol * scale * 10)
    with pytest.raises(ValueError, match="X"):
        _native.step_matmuls(theta, np.array(sizes, np.int64), X[:, :69].copy(), ws.hbuf, ws.dbuf, ws.grad)


def test_pytest_benchmark_suites_quick():
    proc = _run([sys.executable, "-m", "pytest", "bench/", "-q", "-rs", "-p", "no:cacheprovider",
                 "-k", "playground or (dense_forward and small)"], FASTMLP_BENCH_QUICK="1")
    assert " passed" in proc.stdout and "failed" not in proc.stdout and " error" not in proc.stdout, proc.stdout
