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
    assert "train step" in proc.stdout and "agreement check: passed" in proc.stdout


def test_pytest_benchmark_suites_quick():
    proc = _run([sys.executable, "-m", "pytest", "bench/", "-q", "-rs", "-p", "no:cacheprovider",
                 "-k", "playground or (dense_forward and small)"], FASTMLP_BENCH_QUICK="1")
    assert " passed" in proc.stdout and "failed" not in proc.stdout and " error" not in proc.stdout, proc.stdout
