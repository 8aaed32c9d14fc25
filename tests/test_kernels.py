"""Every kernel of the table (see fastmlp.backends.numpy_ref's docstring) on every backend, against numpy_ref.

One body per kernel, parametrized over backend × dtype (× activation × loss), shapes and data drawn by
hypothesis: batch 1, odd sizes, n_in = 1, wide layers, 1 to 4 weight layers, with and without sample
weights. Workspaces are filled with NaN before each call, so a kernel that reads a buffer it did not write
fails. Kernels receive C-contiguous arrays only: non-contiguous inputs are the MLP's business
(tests/test_model.py).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import (ACT_IDS, ADAM_ID, ALL_LOSS_IDS, ALL_LOSS_NAMES, LOSS_IDS, RELU_MARGIN, RTOL, SGD_ID,
                      SOFTMAX, T, Buffers, as_acts, as_sizes, assert_close, batch_sizes, draw_net, garbage,
                      hyper, magnitude, no_weights, normal, relu_margin, seeds, state_for, targets, term_scales,
                      uniform, widths)
from fastmlp import activations
from fastmlp.backends import numpy_ref
from fastmlp.workspace import n_params, predict_work

# Whole-network kernels: fewer, bigger examples; whole epochs (many steps each): fewer still. Scaled with
# the loaded hypothesis profile (HYPOTHESIS_PROFILE=thorough runs twelve times as many).
NETWORK = settings(max_examples=max(1, settings().max_examples * 4 // 5))
EPOCH = settings(max_examples=max(1, settings().max_examples // 2))
LOSS_IDS_NAMES = dict(ids=["sse", "mse"])


def _rng(data):
    return np.random.default_rng(data.draw(seeds, label="seed"))


def _optimizer(data, loss, rows, sizes, dtype):
    """(opt, hyper, state) drawn from OPTIMIZERS, with a step size well inside the stable range of every
    drawn network: sse gradients grow with the batch and the outputs, every gradient with the layers'
    widths, and momentum multiplies the step by up to 1 / (1 - μ). (Near the edge of stability, training
    amplifies rounding, and two correct float32 backends drift apart.)"""
    name = data.draw(st.sampled_from(list(OPTIMIZERS)), label="optimizer")
    opt, kw = OPTIMIZERS[name]
    width = max(1.0, max(sizes[:-1]) / 10)
    if opt == SGD_ID:
        lr = (0.05 / (rows * sizes[-1]) if loss == 0 else 0.05) / width * (1 - kw.get("momentum", 0.0))
    else:
        lr = 1e-3 / width
    hyp = hyper(lr, **kw)
    return opt, hyp, state_for(opt, hyp, n_params(sizes), dtype)


def _frozen(*arrays):
    return [a.copy() for a in arrays]


def _assert_unchanged(arrays, copies, what="input"):
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c, err_msg=f"a kernel modified its {what}")


# Optimizer configurations of the training kernels: (name, opt, hyper keywords).
OPTIMIZERS = {
    "sgd": (SGD_ID, {}),
    "momentum": (SGD_ID, dict(momentum=0.9)),
    "nesterov": (SGD_ID, dict(momentum=0.8, nesterov=True)),
    "sgd_l2_l1": (SGD_ID, dict(l2=0.1, l1=0.01)),
    # eps = 1e-3: Adam divides by √v + eps, so a gradient component that is rounding noise would
    # otherwise become a full step, differently on two correct backends
    "adam": (ADAM_ID, dict(eps=1e-3)),
    "adam_l2": (ADAM_ID, dict(eps=1e-3, l2=0.05, beta1=0.8, beta2=0.99)),
}


# ---- elementwise and layer kernels ----------------------------------------------------------------------

@given(data=st.data())
def test_all_finite(kernels, dtype, data):
    rng = _rng(data)
    shape = data.draw(st.one_of(st.tuples(st.integers(1, 50)),
                                st.tuples(st.integers(1, 9), st.integers(1, 40))), label="shape")
    a = normal(rng, shape, dtype, scale=data.draw(st.sampled_from([1.0, 1e30])))
    a.flat[rng.integers(a.size)] = np.finfo(dtype).max  # huge but finite
    assert bool(kernels.all_finite(a)) is True
    assert isinstance(kernels.all_finite(a), (bool, np.bool_))
    for special in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b.flat[data.draw(st.integers(0, a.size - 1), label="position")] = special
        assert bool(kernels.all_finite(b)) is False, f"missed {special}"
        assert bool(numpy_ref.all_finite(b)) is False
    b = a.copy()
    b.flat[-1] = np.nan  # the very last element is checked too
    assert bool(kernels.all_finite(b)) is False


@pytest.mark.parametrize("act", ACT_IDS + [SOFTMAX])
@given(data=st.data())
def test_dense_forward(kernels, dtype, act, data):
    rng = _rng(data)
    n, n_in, n_out = data.draw(batch_sizes), data.draw(widths), data.draw(widths)
    X = uniform(rng, (n, n_in), dtype, -3, 3)
    W = normal(rng, (n_out, n_in), dtype, scale=1 / np.sqrt(n_in))
    b = normal(rng, (n_out,), dtype)
    inputs = (X, W, b)
    copies = _frozen(*inputs)
    H = garbage(np.empty((n, n_out), dtype))
    kernels.dense_forward(X, W, b, act, H)
    expected = np.empty_like(H)
    numpy_ref.dense_forward(X, W, b, act, expected)
    assert np.isfinite(H).all()
    terms = magnitude(np.abs(X.astype(np.float64)) @ np.abs(W.astype(np.float64)).T + np.abs(b))
    assert_close(H, expected, dtype, scale=max(magnitude(expected), terms), what="H")
    if act == SOFTMAX:
        np.testing.assert_allclose(H.sum(axis=1), 1, rtol=RTOL[dtype] * 10)
    _assert_unchanged(inputs, copies)


# The Cython backend multiplies layers of at most 4096 weights through a transposed copy, a (1, n_in) layer
# without one, and applies activations to rows narrower than 32 after the bias, as a flat block; one row
# goes through its own matrix-vector kernel (blocks of 8 rows, 32 and 16 columns, then a scalar tail) up
# to 524,288 weights and to BLAS beyond. The numba backend runs one row through a layer of at most 16 inputs
# and 4096 weights as plain loops. Each side of each boundary, with batches of 1, 2 and more rows.
@pytest.mark.parametrize("n_out, n_in", [(64, 64), (64, 65), (1, 5000), (2, 2048), (2, 2049), (31, 3), (32, 3),
                                         (9, 48), (17, 784), (8, 31), (600, 900), (8, 16), (8, 17), (256, 16),
                                         (257, 16)])
@pytest.mark.parametrize("n", [1, 2, 33])
@pytest.mark.parametrize("act", ACT_IDS + [SOFTMAX])
def test_dense_forward_path_boundaries(kernels, dtype, act, n, n_out, n_in):
    rng = np.random.default_rng(n * 1000 + n_out + n_in)
    X = uniform(rng, (n, n_in), dtype, -3, 3)
    W = normal(rng, (n_out, n_in), dtype, scale=1 / np.sqrt(n_in))
    b = normal(rng, (n_out,), dtype)
    H = garbage(np.empty((n, n_out), dtype))
    kernels.dense_forward(X, W, b, act, H)
    expected = np.empty_like(H)
    numpy_ref.dense_forward(X, W, b, act, expected)
    terms = magnitude(np.abs(X.astype(np.float64)) @ np.abs(W.astype(np.float64)).T + np.abs(b))
    assert_close(H, expected, dtype, scale=max(magnitude(expected), terms), what="H")


@pytest.mark.parametrize("inplace", [False, True], ids=["dZ", "dZ_is_dH"])
@pytest.mark.parametrize("act", ACT_IDS)
@given(data=st.data())
def test_activation_backward(kernels, dtype, act, inplace, data):
    rng = _rng(data)
    n, o = data.draw(batch_sizes), data.draw(widths)
    Z = uniform(rng, (n, o), dtype, -6, 6)
    H = activations.apply(act, Z)  # in the activation's range; relu gives exact zeros
    dH = normal(rng, (n, o), dtype)
    dH_orig = dH.copy()
    expected = np.empty_like(dH)
    numpy_ref.activation_backward(act, H, dH.copy(), expected)
    H_copy = H.copy()
    dZ = dH if inplace else garbage(np.empty_like(dH))
    kernels.activation_backward(act, H, dH, dZ)
    # g'(z) ∈ [0, 1] computed from h: a few roundings of absolute size eps each (1 - h² cancels near
    # |h| = 1), times dH element by element; relative accuracy elsewhere.
    bound = RTOL[dtype] * np.abs(expected) + 8 * np.finfo(dtype).eps * np.abs(dH_orig.astype(np.float64))
    err = np.abs(dZ.astype(np.float64) - expected)
    assert (err <= bound).all(), f"dZ off by up to {err.max():.3g}"
    np.testing.assert_array_equal(H, H_copy)
    if not inplace:
        np.testing.assert_array_equal(dH, dH_orig)


@pytest.mark.parametrize("with_dH_prev", [True, False], ids=["dH_prev", "dH_prev_None"])
@given(data=st.data())
def test_dense_backward(kernels, dtype, with_dH_prev, data):
    rng = _rng(data)
    n, n_in, n_out = data.draw(batch_sizes), data.draw(widths), data.draw(widths)
    dZ = normal(rng, (n, n_out), dtype)
    H_prev = uniform(rng, (n, n_in), dtype, -2, 2)
    W = normal(rng, (n_out, n_in), dtype, scale=1 / np.sqrt(n_in))
    inputs = (dZ, H_prev, W)
    copies = _frozen(*inputs)
    dW, db = garbage(np.empty((n_out, n_in), dtype)), garbage(np.empty(n_out, dtype))
    dH_prev = garbage(np.empty((n, n_in), dtype)) if with_dH_prev else None
    kernels.dense_backward(dZ, H_prev, W, dW, db, dH_prev)
    e_dW, e_db, e_dH = np.empty_like(dW), np.empty_like(db), np.empty((n, n_in), dtype)
    numpy_ref.dense_backward(dZ, H_prev, W, e_dW, e_db, e_dH if with_dH_prev else None)
    assert_close(dW, e_dW, dtype, what="dW")
    assert_close(db, e_db, dtype, what="db")
    if with_dH_prev:
        assert_close(dH_prev, e_dH, dtype, what="dH_prev")
    _assert_unchanged(inputs, copies)


@pytest.mark.parametrize("with_grad", [True, False], ids=["dYhat", "dYhat_None"])
@pytest.mark.parametrize("loss", ALL_LOSS_IDS, ids=ALL_LOSS_NAMES)
@given(data=st.data())
def test_loss_forward_backward(kernels, dtype, loss, with_grad, data):
    rng = _rng(data)
    n, m = data.draw(batch_sizes), data.draw(widths)
    Yhat = normal(rng, (n, m), dtype, scale=data.draw(st.sampled_from([1.0, 3.0])))
    Y = targets(rng, loss, (n, m), dtype)
    sw = uniform(rng, n, dtype, 0.1, 2.0) if data.draw(st.booleans(), label="weighted") else no_weights(dtype)
    copies = _frozen(Yhat, Y, sw)
    dYhat = garbage(np.empty((n, m), dtype)) if with_grad else None
    value = kernels.loss_forward_backward(loss, Yhat, Y, sw, dYhat)
    expected_grad = np.empty_like(Yhat)
    expected = numpy_ref.loss_forward_backward(loss, Yhat, Y, sw, expected_grad)
    assert np.isscalar(value) or np.ndim(value) == 0
    # The loss accumulates in float64 on every backend: only float32 rounding of terms may differ.
    assert float(value) == pytest.approx(expected, rel=RTOL[dtype] * 10, abs=RTOL[dtype] * 10 * abs(expected))
    if with_grad:
        assert_close(dYhat, expected_grad, dtype, factor=10, what="dYhat")
    _assert_unchanged((Yhat, Y, sw), copies)


@pytest.mark.parametrize("loss", ALL_LOSS_IDS, ids=ALL_LOSS_NAMES)
def test_loss_forward_backward_known_values(kernels, dtype, loss):
    """Hand-computed values: ŷ - y = 1 everywhere (4 rows, 3 outputs), then sample weights."""
    Y = np.full((4, 3), 0.25, dtype) if loss in (4, 5) else np.arange(12, dtype=dtype).reshape(4, 3)
    Yhat = Y + 1
    empty = no_weights(dtype)
    ce_row = -np.log(1 / 3)  # equal logits: softmax = 1/3 each, Σ_j y_j = 0.75 per row
    known = {0: (12.0, 2.0), 1: (1.0, 2 / 12), 2: (1.0, 1 / 12), 3: (0.5, 1 / 12)}
    dYhat = garbage(np.empty_like(Y))
    value = kernels.loss_forward_backward(loss, Yhat, Y, empty, dYhat)
    expected_grad = np.empty_like(Y)
    expected = numpy_ref.loss_forward_backward(loss, Yhat, Y, empty, expected_grad)
    if loss in known:
        assert expected == pytest.approx(known[loss][0], rel=1e-12)
        np.testing.assert_allclose(expected_grad, known[loss][1], rtol=RTOL[dtype])
    if loss == 4:
        assert expected == pytest.approx(0.75 * ce_row, rel=1e-6)
    assert value == pytest.approx(expected, rel=RTOL[dtype])
    np.testing.assert_allclose(dYhat, expected_grad, rtol=RTOL[dtype], atol=RTOL[dtype])
    # ŷ = y: zero loss and gradient for the regression losses
    if loss < 4:
        dYhat = garbage(np.empty_like(Y))
        assert kernels.loss_forward_backward(loss, Y.copy(), Y, empty, dYhat) == 0.0
        assert not dYhat.any()
    # sample weights: weight 2 on row 0, 0 on row 3
    sw = np.array([2, 1, 1, 0], dtype)
    Yhat2 = Yhat.copy()
    Yhat2[0] += 1
    dYhat = garbage(np.empty_like(Y))
    value = kernels.loss_forward_backward(loss, Yhat2, Y, sw, dYhat)
    expected = numpy_ref.loss_forward_backward(loss, Yhat2, Y, sw, expected_grad)
    assert value == pytest.approx(expected, rel=RTOL[dtype])
    np.testing.assert_allclose(dYhat, expected_grad, rtol=RTOL[dtype], atol=RTOL[dtype])
    assert not dYhat[3].any()  # a zero weight: no gradient
    # integer weights = repeated rows
    repeated = np.concatenate([Yhat2[:1], Yhat2[:3]])
    Yrep = np.concatenate([Y[:1], Y[:3]])
    assert value == pytest.approx(kernels.loss_forward_backward(loss, repeated, Yrep, empty, None),
                                  rel=RTOL[dtype])


@given(data=st.data())
def test_sgd_update(kernels, dtype, data):
    rng = _rng(data)
    size = data.draw(st.integers(1, 3000), label="n_params")
    lr = data.draw(st.floats(1e-4, 10.0), label="lr")
    theta, grad = normal(rng, size, dtype), normal(rng, size, dtype)
    grad_copy = grad.copy()
    expected = theta.copy()
    numpy_ref.sgd_update(expected, grad, lr)
    kernels.sgd_update(theta, grad, lr)
    # One multiply-add per element: a couple of roundings (an FMA rounds once), nothing more.
    eps = np.finfo(dtype).eps
    bound = 4 * eps * (np.abs(expected.astype(np.float64)) + lr * np.abs(grad.astype(np.float64)))
    assert (np.abs(theta.astype(np.float64) - expected) <= bound).all()
    np.testing.assert_array_equal(grad, grad_copy)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@given(data=st.data())
def test_optimizer_update(kernels, dtype, optimizer, data):
    rng = _rng(data)
    sizes = data.draw(st.lists(st.integers(1, 40), min_size=2, max_size=4).map(tuple), label="sizes")
    size = n_params(sizes)
    opt, kw = OPTIMIZERS[optimizer]
    kw = dict(kw, eps=1e-8) if opt == ADAM_ID else kw  # the same grad on both sides: no noise to amplify
    hyp = hyper(data.draw(st.floats(1e-4, 0.5), label="lr"), t=data.draw(st.integers(0, 5)), **kw)
    theta, grad = normal(rng, size, dtype), normal(rng, size, dtype)
    state = state_for(opt, hyp, size, dtype)
    if state.size:  # a state from earlier steps: velocity, or Adam's m and v ≥ 0
        state[...] = normal(rng, state.size, dtype, scale=0.1)
        if opt == ADAM_ID:
            state[size:] = np.abs(state[size:])
    grad_copy, theta0 = grad.copy(), theta.copy()
    e_theta, e_hyper, e_state = theta.copy(), hyp.copy(), state.copy()
    numpy_ref.optimizer_update(e_theta, grad, as_sizes(sizes), opt, e_hyper, e_state)
    kernels.optimizer_update(theta, grad, as_sizes(sizes), opt, hyp, state)
    np.testing.assert_array_equal(grad, grad_copy)
    np.testing.assert_array_equal(hyp, e_hyper)  # Adam counts its step in hyper[T]
    if opt == ADAM_ID:
        assert hyp[T] == e_hyper[T] and e_hyper[T] >= 1
    assert_close(state, e_state, dtype, factor=10, what="state")
    assert_close(theta, e_theta, dtype, factor=10, what="θ")
    if dtype == np.float64:  # the step itself, which may be much smaller than θ
        e_step = e_theta - theta0
        assert_close(theta - theta0, e_step, dtype, scale=magnitude(e_step), factor=100, what="Δθ")


# ---- whole network --------------------------------------------------------------------------------------

@pytest.mark.parametrize("act", ACT_IDS)
@NETWORK
@given(data=st.data())
def test_forward(kernels, dtype, act, data):
    net = draw_net(data, dtype, act, relu_safe=False, output_acts=ACT_IDS + [SOFTMAX])
    extra = data.draw(st.integers(0, 3), label="spare rows")  # buffers may be larger than needed
    buf = Buffers(net.sizes_t, net.n + extra, dtype)
    copies = _frozen(net.theta, net.X)
    kernels.forward(net.theta, net.sizes, net.acts, net.X, buf.hbuf)
    expected = garbage(np.empty_like(buf.hbuf))
    numpy_ref.forward(net.theta, net.sizes, net.acts, net.X, expected)
    used = net.n * sum(net.sizes_t[1:])
    scales = term_scales(net.theta, net.sizes_t, net.acts_t, net.X)
    for l, (H, E) in enumerate(zip(numpy_ref._outputs(buf.hbuf, net.sizes_t, net.n),
                                   numpy_ref._outputs(expected, net.sizes_t, net.n))):
        assert np.isfinite(H).all(), f"layer {l} output not written"
        assert_close(H, E, dtype, scale=max(magnitude(E), scales[l]), what=f"H_{l + 1}")
    assert np.isnan(buf.hbuf[used:]).all(), "forward wrote past its n · Σ sizes[1:] block of hbuf"
    _assert_unchanged((net.theta, net.X), copies)


@pytest.mark.parametrize("act", ACT_IDS)
@NETWORK
@given(data=st.data())
def test_predict(kernels, dtype, act, data):
    net = draw_net(data, dtype, act, rows=st.integers(1, 17), relu_safe=False, output_acts=ACT_IDS + [SOFTMAX])
    chunk = data.draw(st.sampled_from([3, 1, 2, 5, 1024]), label="chunk")
    work = garbage(predict_work(net.sizes_t, chunk, dtype))
    out = garbage(np.empty((net.n, net.sizes_t[-1]), dtype))
    copies = _frozen(net.theta, net.X)
    kernels.predict(net.theta, net.sizes, net.acts, net.X, out, work, chunk)
    expected = np.empty_like(out)
    numpy_ref.predict(net.theta, net.sizes, net.acts, net.X, expected, None, chunk)
    assert np.isfinite(out).all()
    scale = max(magnitude(expected), term_scales(net.theta, net.sizes_t, net.acts_t, net.X)[-1])
    assert_close(out, expected, dtype, scale=scale, what="predict")
    _assert_unchanged((net.theta, net.X), copies)


@pytest.mark.parametrize("act", ACT_IDS + [SOFTMAX])
def test_predict_chunked_rows_match_forward(kernels, dtype, act):
    """chunk=3 over 10 rows: the last chunk is partial, and predict == the last layer of forward."""
    rng = np.random.default_rng(act)
    sizes = (3, 7, 5, 2)
    hidden = act if act != SOFTMAX else 3
    acts = as_acts([hidden, hidden, act])
    theta = uniform(rng, n_params(sizes), dtype)
    X = uniform(rng, (10, 3), dtype, -2, 2)
    out = garbage(np.empty((10, 2), dtype))
    kernels.predict(theta, as_sizes(sizes), acts, X, out, garbage(predict_work(sizes, 3, dtype)), 3)
    hbuf = garbage(np.empty(10 * sum(sizes[1:]), dtype))
    kernels.forward(theta, as_sizes(sizes), acts, X, hbuf)
    last = hbuf[10 * (7 + 5):].reshape(10, 2)
    assert_close(out, last, dtype, what="predict vs forward")
    # row by row (chunk of one, batch of one) gives the same rows
    for r in range(10):
        row = garbage(np.empty((1, 2), dtype))
        kernels.predict(theta, as_sizes(sizes), acts, X[r:r + 1].copy(), row,
                        garbage(predict_work(sizes, 1, dtype)), 1)
        assert_close(row[0], out[r], dtype, what=f"row {r}")


def _check_loss_and_grad(kernels, net, loss, extra):
    dtype = net.dtype
    buf = Buffers(net.sizes_t, net.n + extra, dtype)
    copies = _frozen(net.theta, net.X, net.Y, net.sw)
    value = kernels.loss_and_grad(net.theta, net.sizes, net.acts, loss, net.X, net.Y, net.sw,
                                  buf.hbuf, buf.dbuf, buf.grad)
    ref = Buffers(net.sizes_t, net.n, dtype)
    expected = numpy_ref.loss_and_grad(net.theta, net.sizes, net.acts, loss, net.X, net.Y, net.sw,
                                       ref.hbuf, ref.dbuf, ref.grad)
    assert float(value) == pytest.approx(expected, rel=RTOL[dtype] * 10)
    assert np.isfinite(buf.grad).all(), "part of grad not written"
    # float32: g' is computed from h, and 1 - h² (h(1 - h)) cancels where tanh (sigmoid) saturates: an
    # output layer at |z| ≈ 3 turns h's rounding into a relative error of ~1e-5 in every gradient component.
    assert_close(buf.grad, ref.grad, dtype, factor=10 if dtype == np.float32 else 1, what="grad")
    if dtype == np.float64:  # layer by layer, each on its own scale
        for l, ((dW, db), (eW, eb)) in enumerate(zip(numpy_ref._layers(buf.grad, net.sizes_t),
                                                     numpy_ref._layers(ref.grad, net.sizes_t))):
            scale = max(magnitude(eW), magnitude(eb))
            assert_close(dW, eW, dtype, scale=scale, what=f"dW_{l}")
            assert_close(db, eb, dtype, scale=scale, what=f"db_{l}")
    _assert_unchanged((net.theta, net.X, net.Y, net.sw), copies)


@pytest.mark.parametrize("loss", LOSS_IDS, **LOSS_IDS_NAMES)
@pytest.mark.parametrize("act", ACT_IDS)
@NETWORK
@given(data=st.data())
def test_loss_and_grad(kernels, dtype, act, loss, data):
    net = draw_net(data, dtype, act, loss)
    _check_loss_and_grad(kernels, net, loss, extra=data.draw(st.integers(0, 3), label="spare rows"))


def _clear_of_loss_kinks(net, loss):
    """mae's sign(r) and huber's |r| = 1 switch: keep r = ŷ - y clear of them (compare relu_margin)."""
    if loss not in (2, 3):
        return True
    out = np.empty((net.n, net.sizes_t[-1]), net.dtype)
    numpy_ref.predict(net.theta, net.sizes, net.acts, net.X, out, None, 1)
    r = np.abs(out.astype(np.float64) - net.Y)
    kink = 0.0 if loss == 2 else 1.0
    return np.abs(r - kink).min() > 1e-4


@pytest.mark.parametrize("loss", ALL_LOSS_IDS, ids=ALL_LOSS_NAMES)
@NETWORK
@given(data=st.data())
def test_loss_and_grad_every_loss(kernels, dtype, loss, data):
    act = data.draw(st.sampled_from(ACT_IDS), label="act")
    net = draw_net(data, dtype, act, loss, max_layers=3)
    assume(_clear_of_loss_kinks(net, loss))
    _check_loss_and_grad(kernels, net, loss, extra=0)


@pytest.mark.parametrize("loss", LOSS_IDS, **LOSS_IDS_NAMES)
@pytest.mark.parametrize("act", ACT_IDS)
@NETWORK
@given(data=st.data())
def test_train_step(kernels, dtype, act, loss, data):
    net = draw_net(data, dtype, act, loss)
    opt, hyp, state = _optimizer(data, loss, net.n, net.sizes_t, dtype)
    buf = Buffers(net.sizes_t, net.n, dtype)
    theta, h, s = net.theta.copy(), hyp.copy(), state.copy()
    copies = _frozen(net.X, net.Y, net.sw)
    value = kernels.train_step(theta, net.sizes, net.acts, loss, net.X, net.Y, net.sw, opt, h, s,
                               buf.hbuf, buf.dbuf, buf.grad)
    e_theta, e_h, e_s = net.theta.copy(), hyp.copy(), state.copy()
    ref = Buffers(net.sizes_t, net.n, dtype)
    with np.errstate(all="ignore"):
        expected = numpy_ref.train_step(e_theta, net.sizes, net.acts, loss, net.X, net.Y, net.sw, opt, e_h, e_s,
                                        ref.hbuf, ref.dbuf, ref.grad)
    assume(np.isfinite(e_theta).all())
    assert float(value) == pytest.approx(expected, rel=RTOL[dtype] * 10)
    assert_close(theta, e_theta, dtype, what="θ after the step")
    np.testing.assert_array_equal(h, e_h)
    assert_close(s, e_s, dtype, factor=10, what="optimizer state")
    if dtype == np.float64:  # the step itself, not only θ
        assert_close(theta - net.theta, e_theta - net.theta, dtype, scale=magnitude(net.theta), what="Δθ")
    _assert_unchanged((net.X, net.Y, net.sw), copies)


def test_train_step_with_a_non_finite_loss_changes_nothing(kernels, dtype):
    """An overflowing forward pass: the loss is not finite, θ and the optimizer state stay as they were."""
    sizes = (2, 3, 1)
    theta = np.full(n_params(sizes), 1.5, dtype)
    X = np.full((2, 2), np.finfo(dtype).max / 2, dtype)  # 1.5 · 2 · max/2 overflows: ŷ = inf
    Y = np.zeros((2, 1), dtype)
    for opt, kw in [(SGD_ID, {}), (SGD_ID, dict(momentum=0.9)), (ADAM_ID, {})]:
        hyp = hyper(0.01, **kw)
        state = state_for(opt, hyp, theta.size, dtype)
        before, hyp_before = theta.copy(), hyp.copy()
        buf = Buffers(sizes, 2, dtype)
        with np.errstate(all="ignore"):
            value = kernels.train_step(theta, as_sizes(sizes), as_acts([0, 0]), 0, X, Y, no_weights(dtype),
                                       opt, hyp, state, buf.hbuf, buf.dbuf, buf.grad)
        assert not np.isfinite(value)
        np.testing.assert_array_equal(theta, before)
        assert not state.any()
        np.testing.assert_array_equal(hyp, hyp_before)  # Adam's t not counted either


def _epoch_is_relu_safe(net, loss, order, batch_size, opt, hyp, state):
    """relu_margin holds for every minibatch at the θ the epoch reaches it with (reference arithmetic)."""
    if 1 not in net.acts_t:
        return True
    theta, hyp, state = net.theta.copy(), hyp.copy(), state.copy()
    buf = Buffers(net.sizes_t, batch_size, net.dtype, fill_nan=False)
    for start in range(0, net.n, batch_size):
        rows = order[start:start + batch_size]
        X, Y = net.X[rows], net.Y[rows]
        sw = net.sw[rows] if net.sw.size else net.sw
        if relu_margin(theta, net.sizes_t, net.acts_t, X) < RELU_MARGIN[net.dtype]:
            return False
        with np.errstate(all="ignore"):
            numpy_ref.train_step(theta, net.sizes, net.acts, loss, X, Y, sw, opt, hyp, state,
                                 buf.hbuf, buf.dbuf, buf.grad)
    return True


def _check_epoch(kernels, data, net, loss, perm, batch_size):
    dtype = net.dtype
    opt, hyp, state = _optimizer(data, loss, batch_size, net.sizes_t, dtype)
    n_batches = -(-net.n // batch_size)
    # Many small SGD steps amplify rounding differences (BLAS summation order): keep the whole epoch's
    # travel comparable to one step's, so the comparison stays tight.
    hyp[0] /= n_batches
    order = perm if perm.size else np.arange(net.n)
    assume(_epoch_is_relu_safe(net, loss, order, batch_size, opt, hyp, state))
    buf = Buffers(net.sizes_t, batch_size, dtype)  # sized for a full batch, as MLP.fit does
    losses = garbage(np.empty(n_batches, np.float64))
    theta, h, s = net.theta.copy(), hyp.copy(), state.copy()
    copies = _frozen(net.X, net.Y, net.sw, perm)
    done = kernels.train_epoch(theta, net.sizes, net.acts, loss, net.X, net.Y, net.sw, perm, batch_size,
                               opt, h, s, buf.hbuf, buf.dbuf, buf.grad, buf.xbuf, buf.ybuf, buf.wbuf, losses)
    e_theta, e_h, e_s = net.theta.copy(), hyp.copy(), state.copy()
    ref = Buffers(net.sizes_t, batch_size, dtype)
    e_losses = np.empty(n_batches, np.float64)
    with np.errstate(all="ignore"):
        e_done = numpy_ref.train_epoch(e_theta, net.sizes, net.acts, loss, net.X, net.Y, net.sw, perm,
                                       batch_size, opt, e_h, e_s, ref.hbuf, ref.dbuf, ref.grad, ref.xbuf,
                                       ref.ybuf, ref.wbuf, e_losses)
    assume(np.isfinite(e_theta).all() and np.isfinite(e_losses).all())
    assert e_done == n_batches
    assert done == n_batches
    assert np.isfinite(losses).all(), "a batch loss was not written"
    np.testing.assert_allclose(losses, e_losses, rtol=RTOL[dtype] * 100, err_msg="batch losses")
    assert_close(theta, e_theta, dtype, factor=10, what="θ after the epoch")
    np.testing.assert_array_equal(h, e_h)
    assert_close(s, e_s, dtype, factor=10, what="optimizer state")
    _assert_unchanged((net.X, net.Y, net.sw, perm), copies)


@pytest.mark.parametrize("perm_kind", ["empty", "random"])
@pytest.mark.parametrize("loss", LOSS_IDS, **LOSS_IDS_NAMES)
@pytest.mark.parametrize("act", ACT_IDS)
@EPOCH
@given(data=st.data())
def test_train_epoch(kernels, dtype, act, loss, perm_kind, data):
    net = draw_net(data, dtype, act, loss, max_layers=3, rows=st.integers(1, 17))
    batch_size = data.draw(st.integers(1, net.n), label="batch_size")
    rng = _rng(data)
    perm = np.empty(0, np.int64) if perm_kind == "empty" else rng.permutation(net.n).astype(np.int64)
    _check_epoch(kernels, data, net, loss, perm, batch_size)


@pytest.mark.parametrize("loss", LOSS_IDS, **LOSS_IDS_NAMES)
@pytest.mark.parametrize("act", ACT_IDS)
@EPOCH
@given(data=st.data())
def test_train_epoch_partial_last_batch(kernels, dtype, act, loss, data):
    batch_size = data.draw(st.integers(2, 6), label="batch_size")
    rows = st.builds(lambda k, r: k * batch_size + r, st.integers(0, 3), st.integers(1, batch_size - 1))
    net = draw_net(data, dtype, act, loss, max_layers=3, rows=rows)
    assert net.n % batch_size != 0
    rng = _rng(data)
    perm = rng.permutation(net.n).astype(np.int64) if data.draw(st.booleans()) else np.empty(0, np.int64)
    _check_epoch(kernels, data, net, loss, perm, batch_size)


def test_train_epoch_is_train_steps_in_perm_order(kernels, dtype):
    """An epoch = train_step on the batches perm[0:b], perm[b:2b], ... (last partial), on one backend."""
    rng = np.random.default_rng(7)
    sizes, acts = (3, 6, 2), as_acts([3, 0])
    theta0 = uniform(rng, n_params(sizes), dtype, -0.8, 0.8)
    X, Y = uniform(rng, (7, 3), dtype, -2, 2), normal(rng, (7, 2), dtype)
    sw = uniform(rng, 7, dtype, 0.5, 1.5)
    perm = rng.permutation(7).astype(np.int64)
    for loss in LOSS_IDS:
        for weights in (no_weights(dtype), sw):
            for opt, kw in [(SGD_ID, {}), (SGD_ID, dict(momentum=0.9)), (ADAM_ID, {})]:
                hyp = hyper(0.01, **kw)
                theta, h, s = theta0.copy(), hyp.copy(), state_for(opt, hyp, theta0.size, dtype)
                buf = Buffers(sizes, 3, dtype)
                losses = np.empty(3)
                done = kernels.train_epoch(theta, as_sizes(sizes), acts, loss, X, Y, weights, perm, 3, opt, h, s,
                                           buf.hbuf, buf.dbuf, buf.grad, buf.xbuf, buf.ybuf, buf.wbuf, losses)
                assert done == 3
                steps, h2, s2 = theta0.copy(), hyp.copy(), state_for(opt, hyp, theta0.size, dtype)
                step_losses = []
                for start in (0, 3, 6):
                    rows = perm[start:start + 3]
                    sbuf = Buffers(sizes, len(rows), dtype)
                    w = weights[rows] if weights.size else weights
                    step_losses.append(kernels.train_step(steps, as_sizes(sizes), acts, loss, X[rows], Y[rows], w,
                                                          opt, h2, s2, sbuf.hbuf, sbuf.dbuf, sbuf.grad))
                np.testing.assert_allclose(losses, step_losses, rtol=RTOL[dtype] * 10)
                assert_close(theta, steps, dtype, what="epoch vs steps")
                assert_close(s, s2, dtype, what="state: epoch vs steps")
                assert not np.array_equal(theta, theta0)


def test_train_epoch_stops_after_a_non_finite_batch(kernels, dtype):
    """Batch 1 (rows 2, 3) overflows: batch 0 is applied, batch 1 is not, batch 2 is never run."""
    sizes = (2, 3, 1)
    rng = np.random.default_rng(3)
    theta0 = uniform(rng, n_params(sizes), dtype, 1.0, 2.0)  # positive weights: the overflow is +inf
    X = uniform(rng, (6, 2), dtype, 0, 1)
    X[3] = np.finfo(dtype).max / 2
    Y = normal(rng, (6, 1), dtype)
    hyp = hyper(1e-3)
    theta = theta0.copy()
    buf = Buffers(sizes, 2, dtype)
    losses = np.full(3, -1.0)
    with np.errstate(all="ignore"):
        done = kernels.train_epoch(theta, as_sizes(sizes), as_acts([0, 0]), 0, X, Y, no_weights(dtype),
                                   np.empty(0, np.int64), 2, SGD_ID, hyp, np.empty(0, dtype),
                                   buf.hbuf, buf.dbuf, buf.grad, buf.xbuf, buf.ybuf, buf.wbuf, losses)
    assert done == 2
    assert np.isfinite(losses[0]) and not np.isfinite(losses[1])
    expected = theta0.copy()
    sbuf = Buffers(sizes, 2, dtype)
    numpy_ref.train_step(expected, as_sizes(sizes), as_acts([0, 0]), 0, X[:2], Y[:2], no_weights(dtype),
                         SGD_ID, hyper(1e-3), np.empty(0, dtype), sbuf.hbuf, sbuf.dbuf, sbuf.grad)
    assert_close(theta, expected, dtype, what="θ after the first batch only")
    assert not np.array_equal(theta, theta0)
