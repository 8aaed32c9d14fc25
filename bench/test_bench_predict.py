"""Predict: single-sample latency (playground, mnist) and batch throughput (every workload), float32.

    predict 1 row    net.predict(x, out=buf) with x of shape (1, n_in): the call overhead, all of it
    predict N rows   net.predict(X, out=buf) on 100,000 rows (quick mode: 1,000)
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import PREDICT_ROWS, QUICK_PREDICT_ROWS, agree, kernels_of

from fastmlp.bench import LATENCY_WORKLOADS, WORKLOADS, make_data
from fastmlp.bench_peers import KERNELS

F32 = np.dtype(np.float32)


@pytest.mark.parametrize("wname", LATENCY_WORKLOADS)
def test_predict_latency(bench, backend, wname, case):
    kernels_of(backend, KERNELS)
    c = case(wname)
    net = c.net(backend)
    x = c.X[:1]
    out = np.empty((1, c.w.sizes[-1]), F32)
    if backend != "numpy":
        agree(net.predict(c.X[:64]), c.net("numpy").predict(c.X[:64]), F32, "predictions")
    bench(f"predict 1 row [{wname} float32]", net.predict, x, out=out)


@pytest.mark.parametrize("wname", list(WORKLOADS))
def test_predict_throughput(bench, backend, wname, case, quick):
    kernels_of(backend, KERNELS)
    c = case(wname)
    rows = QUICK_PREDICT_ROWS if quick else PREDICT_ROWS
    X = make_data(c.w, F32, rows=rows, seed=2)[0]
    net = c.net(backend)
    out = np.empty((rows, c.w.sizes[-1]), F32)
    if backend != "numpy":
        agree(net.predict(X[:256]), c.net("numpy").predict(X[:256]), F32, "predictions")
    bench(f"predict {rows:,} rows [{wname} float32]", net.predict, X, out=out)
