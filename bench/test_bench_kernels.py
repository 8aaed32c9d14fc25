"""Every kernel of the table × backend × three sizes, float32, each group against the NumPy reference.

Per-layer kernels use one layer of a workload:     whole-network kernels use the workload itself:
    small   32 × 8 → 8      (playground's hidden)       small   playground 2-8-8-1 tanh, batch 32
    medium  128 × 784 → 256 (mnist's first)             medium  mnist 784-256-128-10 relu, batch 128
    large   512 × 2048 → 2048 (wide's middle)           large   wide 1024-2048-2048-1024 relu, batch 512
(rows × inputs → outputs). Quick mode shrinks them (see QUICK_LAYERS and conftest.QUICK_WORKLOADS).
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import agree, kernels_of

from fastmlp import activations, losses, optim
from fastmlp.backends import numpy_ref as ref
from fastmlp.workspace import PREDICT_CHUNK, Workspace, predict_work

F32 = np.dtype(np.float32)
LAYERS = {"small": (32, 8, 8), "medium": (128, 784, 256), "large": (512, 2048, 2048)}
QUICK_LAYERS = {"small": (32, 8, 8), "medium": (32, 64, 64), "large": (64, 256, 256)}
NETS = {"small": "playground", "medium": "mnist", "large": "wide"}
ACTS = {"relu": activations.RELU, "tanh": activations.TANH}


@pytest.fixture(params=list(LAYERS))
def size(request):
    return request.param


def layer(size, quick):
    n, i, o = (QUICK_LAYERS if quick else LAYERS)[size]
    rng = np.random.default_rng(0)
    limit = np.sqrt(6.0 / (i + o))
    X = rng.standard_normal((n, i)).astype(F32)
    W = rng.uniform(-limit, limit, (o, i)).astype(F32)
    b = rng.uniform(-0.1, 0.1, o).astype(F32)
    return (n, i, o), X, W, b, rng


def tag(size, shape):
    n, i, o = shape
    return f"[{size} {n}x{i}->{o}]"


# ---- per-layer kernels ---------------------------------------------------------------------------------------

def test_all_finite(bench, backend, size, quick):
    k = kernels_of(backend, ["all_finite"])
    shape, X, *_ = layer(size, quick)
    bad = X.copy()
    bad[-1, -1] = np.nan
    if not bool(k.all_finite(X)) or bool(k.all_finite(bad)):
        pytest.fail("all_finite disagrees with the NumPy reference", pytrace=False)
    bench(f"all_finite [{size} {shape[0]}x{shape[1]}]", k.all_finite, X)


@pytest.mark.parametrize("act", list(ACTS))
def test_dense_forward(bench, backend, size, act, quick):
    k = kernels_of(backend, ["dense_forward"])
    (n, i, o), X, W, b, _ = layer(size, quick)
    H = np.empty((n, o), F32)
    if backend != "numpy":
        expected = np.empty_like(H)
        ref.dense_forward(X, W, b, ACTS[act], expected)
        k.dense_forward(X, W, b, ACTS[act], H)
        agree(H, expected, F32, "H")
    bench(f"dense_forward {act} {tag(size, (n, i, o))}", k.dense_forward, X, W, b, ACTS[act], H)


@pytest.mark.parametrize("act", list(ACTS))
def test_activation_backward(bench, backend, size, act, quick):
    k = kernels_of(backend, ["activation_backward"])
    (n, i, o), X, W, b, rng = layer(size, quick)
    H = np.empty((n, o), F32)
    ref.dense_forward(X, W, b, ACTS[act], H)
    dH = rng.standard_normal((n, o)).astype(F32)
    dZ = np.empty_like(dH)
    if backend != "numpy":
        expected = np.empty_like(dZ)
        ref.activation_backward(ACTS[act], H, dH, expected)
        k.activation_backward(ACTS[act], H, dH, dZ)
        agree(dZ, expected, F32, "dZ")
    bench(f"activation_backward {act} {tag(size, (n, i, o))}", k.activation_backward, ACTS[act], H, dH, dZ)


def test_dense_backward(bench, backend, size, quick):
    k = kernels_of(backend, ["dense_backward"])
    (n, i, o), X, W, b, rng = layer(size, quick)
    dZ = rng.standard_normal((n, o)).astype(F32)
    dW, db, dX = np.empty_like(W), np.empty_like(b), np.empty_like(X)
    if backend != "numpy":
        eW, eb, eX = np.empty_like(W), np.empty_like(b), np.empty_like(X)
        ref.dense_backward(dZ, X, W, eW, eb, eX)
        k.dense_backward(dZ, X, W, dW, db, dX)
        for got, want, what in ((dW, eW, "dW"), (db, eb, "db"), (dX, eX, "dH_prev")):
            agree(got, want, F32, what)
    bench(f"dense_backward {tag(size, (n, i, o))}", k.dense_backward, dZ, X, W, dW, db, dX)


# ---- loss and updates (the workload's output / θ) -------------------------------------------------------------

def test_loss_forward_backward(bench, backend, size, case):
    k = kernels_of(backend, ["loss_forward_backward"])
    c = case(NETS[size])
    n, m = c.w.batch, c.w.sizes[-1]
    rng = np.random.default_rng(1)
    Yhat = rng.standard_normal((n, m)).astype(F32)
    Y = c.Y[:n]
    dY = np.empty_like(Yhat)
    if backend != "numpy":
        e = np.empty_like(Yhat)
        value_ref = ref.loss_forward_backward(losses.SSE, Yhat, Y, c.sw, e)
        value = k.loss_forward_backward(losses.SSE, Yhat, Y, c.sw, dY)
        agree(value, value_ref, F32, "L")
        agree(dY, e, F32, "dYhat")
    bench(f"loss_forward_backward sse [{size} {n}x{m}]", k.loss_forward_backward, losses.SSE, Yhat, Y, c.sw, dY)


def test_sgd_update(bench, backend, size, case):
    k = kernels_of(backend, ["sgd_update"])
    c = case(NETS[size])
    theta = c.theta0.copy()
    grad = np.random.default_rng(2).standard_normal(theta.size).astype(F32)
    if backend != "numpy":
        expected = c.theta0.copy()
        ref.sgd_update(expected, grad, 0.01)
        k.sgd_update(theta, grad, 0.01)
        agree(theta - c.theta0, expected - c.theta0, F32, "θ update")
    bench(f"sgd_update [{size} {theta.size:,} params]", k.sgd_update, theta, grad, 1e-6)


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
def test_optimizer_update(bench, backend, size, opt, case):
    k = kernels_of(backend, ["optimizer_update"])
    c = case(NETS[size])
    make = {"sgd": lambda: optim.SGD(lr=1e-3), "momentum": lambda: optim.SGD(lr=1e-3, momentum=0.9),
            "adam": lambda: optim.Adam(lr=1e-3)}[opt]
    grad = np.random.default_rng(3).standard_normal(c.theta0.size).astype(F32)

    def fresh():
        o = make()
        return o, c.theta0.copy(), o.bind(c.theta0.size, F32)

    o, theta, state = fresh()
    if backend != "numpy":
        eo, etheta, estate = fresh()
        ref.optimizer_update(etheta, grad, c.sizes, eo.opt_id, eo.hyper, estate)
        k.optimizer_update(theta, grad, c.sizes, o.opt_id, o.hyper, state)
        agree(theta - c.theta0, etheta - c.theta0, F32, "θ update")
        agree(state, estate, F32, "optimizer state")
    bench(f"optimizer_update {opt} [{size} {theta.size:,} params]", k.optimizer_update, theta, grad, c.sizes,
          o.opt_id, o.hyper, state)


# ---- whole network ---------------------------------------------------------------------------------------------

def net_tag(size, c):
    return f"[{size} {c.w.name} {'-'.join(map(str, c.w.sizes))} batch {c.w.batch}]"


def test_forward(bench, backend, size, case):
    k = kernels_of(backend, ["forward"])
    c = case(NETS[size])
    X, _ = c.batch()
    hbuf = np.empty_like(c.ws.hbuf)
    if backend != "numpy":
        expected = np.empty_like(hbuf)
        ref.forward(c.theta0, c.sizes, c.acts, X, expected)
        k.forward(c.theta0, c.sizes, c.acts, X, hbuf)
        agree(hbuf, expected, F32, "hbuf")
    bench(f"forward {net_tag(size, c)}", k.forward, c.theta0, c.sizes, c.acts, X, hbuf)


def test_predict(bench, backend, size, case):
    k = kernels_of(backend, ["predict"])
    c = case(NETS[size])
    X, _ = c.batch()
    out = np.empty((X.shape[0], c.w.sizes[-1]), F32)
    work = predict_work(c.w.sizes, PREDICT_CHUNK, F32)
    if backend != "numpy":
        expected = np.empty_like(out)
        ref.predict(c.theta0, c.sizes, c.acts, X, expected, work, PREDICT_CHUNK)
        k.predict(c.theta0, c.sizes, c.acts, X, out, work, PREDICT_CHUNK)
        agree(out, expected, F32, "predictions")
    bench(f"predict {net_tag(size, c)}", k.predict, c.theta0, c.sizes, c.acts, X, out, work, PREDICT_CHUNK)


def test_loss_and_grad(bench, backend, size, case):
    k = kernels_of(backend, ["loss_and_grad"])
    c = case(NETS[size])
    X, Y = c.batch()
    ws = Workspace(c.w.sizes, c.w.batch, F32)
    args = (c.theta0, c.sizes, c.acts, losses.SSE, X, Y, c.sw)
    if backend != "numpy":
        e = Workspace(c.w.sizes, c.w.batch, F32)
        value_ref = ref.loss_and_grad(*args, e.hbuf, e.dbuf, e.grad)
        value = k.loss_and_grad(*args, ws.hbuf, ws.dbuf, ws.grad)
        agree(value, value_ref, F32, "L")
        agree(ws.grad, e.grad, F32, "∂L/∂θ")
    bench(f"loss_and_grad sse {net_tag(size, c)}", k.loss_and_grad, *args, ws.hbuf, ws.dbuf, ws.grad)


def test_train_step(bench, backend, size, case):
    k = kernels_of(backend, ["train_step"])
    c = case(NETS[size])
    X, Y = c.batch()
    ws = Workspace(c.w.sizes, c.w.batch, F32)
    theta = c.theta0.copy()
    state = c.sgd.bind(theta.size, F32)
    if backend != "numpy":
        e, etheta = Workspace(c.w.sizes, c.w.batch, F32), c.theta0.copy()
        value_ref = ref.train_step(etheta, c.sizes, c.acts, losses.SSE, X, Y, c.sw, c.sgd.opt_id, c.sgd.hyper,
                                   state, e.hbuf, e.dbuf, e.grad)
        value = k.train_step(theta, c.sizes, c.acts, losses.SSE, X, Y, c.sw, c.sgd.opt_id, c.sgd.hyper, state,
                             ws.hbuf, ws.dbuf, ws.grad)
        agree(value, value_ref, F32, "L")
        agree(theta - c.theta0, etheta - c.theta0, F32, "θ update")
    bench(f"train_step sgd {net_tag(size, c)}", k.train_step, theta, c.sizes, c.acts, losses.SSE, X, Y, c.sw,
          c.sgd.opt_id, c.sgd.hyper, state, ws.hbuf, ws.dbuf, ws.grad)


def test_train_epoch(bench, backend, size, case):
    k = kernels_of(backend, ["train_epoch"])
    c = case(NETS[size])
    perm = np.random.default_rng(4).permutation(c.X.shape[0]).astype(np.int64)
    ws = Workspace(c.w.sizes, c.w.batch, F32)
    state = c.sgd.bind(c.theta0.size, F32)
    theta = c.theta0.copy()
    bl = np.empty(c.n_batches, np.float64)

    def args(th, w, losses_out):
        return (th, c.sizes, c.acts, losses.SSE, c.X, c.Y, c.sw, perm, c.w.batch, c.sgd.opt_id, c.sgd.hyper, state,
                w.hbuf, w.dbuf, w.grad, w.xbuf, w.ybuf, w.wbuf, losses_out)

    if backend != "numpy":
        e, etheta, ebl = Workspace(c.w.sizes, c.w.batch, F32), c.theta0.copy(), np.empty_like(bl)
        done_ref = ref.train_epoch(*args(etheta, e, ebl))
        done = k.train_epoch(*args(theta, ws, bl))
        if done != done_ref:
            pytest.fail(f"train_epoch did {done} batches, the reference {done_ref}", pytrace=False)
        agree(bl, ebl, F32, "batch losses")
        agree(theta - c.theta0, etheta - c.theta0, F32, "θ update", epoch=True)
    bench(f"train_epoch sgd {net_tag(size, c)} {c.X.shape[0]:,} rows", k.train_epoch, *args(theta, ws, bl))
