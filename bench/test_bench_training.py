"""Whole training steps and epochs on the four workloads, float32 and float64, each against the reference.

    step  net.train_step  the public call: validation + one native train_step
    step  kernel          the raw train_step kernel (θ, workspace and optimizer state passed in)
    epoch kernel          the raw train_epoch kernel over the workload's samples in a fixed shuffled order
    epoch net.fit         net.fit(X, Y, epochs=1, batch_size, lr): shuffling, the kernel, the epoch's bookkeeping

Steps take consecutive batches of the workload's data, cycling (as training would); plain SGD at
fastmlp.bench.learning_rate(workload), SSE loss, identity output, θ0 = fastmlp's glorot init with seed 0.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import agree, kernels_of

from fastmlp import losses
from fastmlp.bench import WORKLOADS
from fastmlp.bench_peers import KERNELS
from fastmlp.workspace import Workspace


@pytest.fixture(params=list(WORKLOADS))
def wname(request):
    return request.param


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


def batches(c):
    """Endless consecutive full batches of the case's data."""
    full = c.X.shape[0] // c.w.batch
    return itertools.cycle([c.batch(k) for k in range(full)])


def test_net_train_step(bench, backend, wname, dtype, case):
    kernels_of(backend, KERNELS)  # an MLP uses the whole table
    c = case(wname, dtype)
    net = c.net(backend)
    if backend != "numpy":
        r = c.net("numpy")
        X, Y = c.batch(0)
        agree(net.train_step(X, Y, lr=c.lr), r.train_step(X, Y, lr=c.lr), dtype, "L")
        agree(net.params - c.theta0, r.params - c.theta0, dtype, "θ update")
    it, lr = batches(c), c.lr

    def step():
        X, Y = next(it)
        net.train_step(X, Y, lr=lr)

    bench(f"step net.train_step [{wname} {dtype.name}]", step)


def test_kernel_train_step(bench, backend, wname, dtype, case):
    k = kernels_of(backend, ["train_step"])
    c = case(wname, dtype)
    from fastmlp.backends import numpy_ref as ref
    theta = c.theta0.copy()
    opt = c.sgd
    state = opt.bind(theta.size, dtype)
    ws = Workspace(c.w.sizes, c.w.batch, dtype)

    def call(kern, th, w, X, Y):
        return kern.train_step(th, c.sizes, c.acts, losses.SSE, X, Y, c.sw, opt.opt_id, opt.hyper, state,
                               w.hbuf, w.dbuf, w.grad)

    if backend != "numpy":
        etheta, e = c.theta0.copy(), Workspace(c.w.sizes, c.w.batch, dtype)
        X, Y = c.batch(0)
        agree(call(k, theta, ws, X, Y), call(ref, etheta, e, X, Y), dtype, "L")
        agree(theta - c.theta0, etheta - c.theta0, dtype, "θ update")
    it = batches(c)

    def step():
        X, Y = next(it)
        call(k, theta, ws, X, Y)

    bench(f"step kernel train_step [{wname} {dtype.name}]", step)


def test_kernel_train_epoch(bench, backend, wname, dtype, case):
    k = kernels_of(backend, ["train_epoch"])
    c = case(wname, dtype)
    from fastmlp.backends import numpy_ref as ref
    perm = np.random.default_rng(4).permutation(c.X.shape[0]).astype(np.int64)
    opt = c.sgd
    state = opt.bind(c.theta0.size, dtype)

    def args(th, w, bl):
        return (th, c.sizes, c.acts, losses.SSE, c.X, c.Y, c.sw, perm, c.w.batch, opt.opt_id, opt.hyper, state,
                w.hbuf, w.dbuf, w.grad, w.xbuf, w.ybuf, w.wbuf, bl)

    theta, ws, bl = c.theta0.copy(), Workspace(c.w.sizes, c.w.batch, dtype), np.empty(c.n_batches)
    if backend != "numpy":
        etheta, e, ebl = c.theta0.copy(), Workspace(c.w.sizes, c.w.batch, dtype), np.empty(c.n_batches)
        done, done_ref = k.train_epoch(*args(theta, ws, bl)), ref.train_epoch(*args(etheta, e, ebl))
        if done != done_ref:
            pytest.fail(f"train_epoch did {done} batches, the reference {done_ref}", pytrace=False)
        agree(bl, ebl, dtype, "batch losses")
        agree(theta - c.theta0, etheta - c.theta0, dtype, "θ update", epoch=True)
    bench(f"epoch kernel train_epoch [{wname} {dtype.name}, {c.X.shape[0]:,} rows]", k.train_epoch,
          *args(theta, ws, bl))


def test_net_fit_epoch(bench, backend, wname, dtype, case):
    kernels_of(backend, KERNELS)
    c = case(wname, dtype)
    net = c.net(backend)
    kw = dict(epochs=1, batch_size=c.w.batch, lr=c.lr)
    if backend != "numpy":
        r = c.net("numpy")  # same seed: the same shuffles
        h, hr = net.fit(c.X, c.Y, **kw), r.fit(c.X, c.Y, **kw)
        agree(h.loss[-1], hr.loss[-1], dtype, "epoch loss")
        agree(net.params - c.theta0, r.params - c.theta0, dtype, "θ update", epoch=True)
    bench(f"epoch net.fit(epochs=1) [{wname} {dtype.name}, {c.X.shape[0]:,} rows]", net.fit, c.X, c.Y, **kw)
