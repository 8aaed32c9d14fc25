"""The NumPy reference backend: plain, readable, and the oracle every other backend is tested against.

Kernel table (every backend has these names and signatures; arrays C-contiguous, one float dtype):
    all_finite(a) -> bool
    dense_forward(X, W, b, act, H)                   H = g(X Wᵀ + b)
    activation_backward(act, H, dH, dZ)              dZ = g'(z) ⊙ dH, g' read from H (dZ may be dH)
    dense_backward(dZ, H_prev, W, dW, db, dH_prev)   dW = dZᵀ H_prev, db = Σ_rows dZ, dH_prev = dZ W
    loss_forward_backward(loss, Yhat, Y, sw, dYhat) -> L   dYhat = ∂L/∂ŷ (skipped when dYhat is None)
    sgd_update(theta, grad, lr)                      θ -= lr ∂L/∂θ
    optimizer_update(theta, grad, sizes, opt, hyper, state)   one step of SGD/momentum/Adam + L2/L1
    forward(theta, sizes, acts, X, hbuf)             every layer's output into hbuf
    predict(theta, sizes, acts, X, out, work, chunk) last layer only, `chunk` rows at a time
    loss_and_grad(theta, sizes, acts, loss, X, Y, sw, hbuf, dbuf, grad) -> L
    train_step(theta, sizes, acts, loss, X, Y, sw, opt, hyper, state, hbuf, dbuf, grad) -> L
    train_epoch(theta, sizes, acts, loss, X, Y, sw, perm, batch_size, opt, hyper, state,
                hbuf, dbuf, grad, xbuf, ybuf, wbuf, batch_losses) -> batches done

Shapes: X (n, i), W (o, i), b (o,), H (n, o). theta is [W_0, b_0, W_1, b_1, ...] flat, W_l row-major of
shape (sizes[l+1], sizes[l]); grad has theta's layout. sizes: int64 (L+1,), acts: int64 (L,).
Activation ids: fastmlp.activations (softmax, id 5, only in predict/forward: training passes the logits
to a logit loss). Loss ids: fastmlp.losses; for the logit losses Yhat holds the logits.
sw: (n,) sample weights in the data's dtype, or an empty array for none.
Workspaces are flat 1-D arrays, used from their start (see fastmlp.workspace for their sizes):
    hbuf (≥ n · Σ sizes[1:])         layer l's output H_{l+1} is the (n, sizes[l+1]) block after layer l-1's
    dbuf (≥ 2 · n · max(sizes[1:]))  two ping-pong blocks for ∂L/∂z
    work (≥ 2 · chunk · max(sizes[1:-1]))  ping-pong blocks for predict's hidden layers
    xbuf (≥ batch_size · sizes[0]), ybuf (≥ batch_size · sizes[-1]), wbuf (≥ batch_size when sw is
    given): a minibatch gathered by perm
perm: row order for train_epoch; an empty perm means rows in order. batch_losses: (n_batches,) float64.

Optimizers (opt, hyper, state): opt 0 is SGD (momentum when hyper[MOMENTUM] > 0, Nesterov when
hyper[NESTEROV] is 1; state holds the velocity, (n_params,)), opt 1 is Adam (state holds m then v,
(2 n_params,)). hyper is float64 [lr, momentum, nesterov, beta1, beta2, eps, l2, l1, t]; Adam increments
t, the step count of its bias correction. L2 adds l2·W and L1 adds l1·sign(W) to the gradient of the
weights (not the biases) inside the update. A step whose loss or gradient holds a NaN or ±Inf updates
nothing and returns NaN when the loss itself was finite; train_epoch stops after such a batch: it returns
the number of batches done, the last one the bad one.
"""
from __future__ import annotations

import numpy as np

from .. import activations, losses


def all_finite(a):
    """True when no element of `a` is NaN or ±Inf."""
    return bool(np.isfinite(a).all())


def dense_forward(X, W, b, act, H):
    """H = g(X Wᵀ + b). X: (n, i), W: (o, i), b: (o,), H: (n, o) written."""
    H[...] = activations.apply(act, X @ W.T + b)


def activation_backward(act, H, dH, dZ):
    """dZ = g'(z) ⊙ dH with g'(z) computed from H = g(z). All (n, o); dZ may be dH."""
    dZ[...] = activations.derivative_from_output(act, H) * dH


def dense_backward(dZ, H_prev, W, dW, db, dH_prev):
    """dW = dZᵀ H_prev (the batch's outer products), db = column sums of dZ, dH_prev = dZ W.

    dZ: (n, o), H_prev: (n, i), W: (o, i), dW: (o, i), db: (o,), dH_prev: (n, i) or None (skipped).
    """
    dW[...] = dZ.T @ H_prev
    db[...] = dZ.sum(axis=0)
    if dH_prev is not None:
        dH_prev[...] = dZ @ W


def loss_forward_backward(loss, Yhat, Y, sw, dYhat):
    """L(ŷ, y) as a float; writes ∂L/∂ŷ into dYhat unless it is None. Yhat, Y, dYhat: (n, m);
    sw: (n,) or empty."""
    value, grad = losses.value_and_grad(loss, Yhat, Y, sw)
    if dYhat is not None:
        dYhat[...] = grad
    return value


def sgd_update(theta, grad, lr):
    """θ -= lr · grad, in place. theta, grad: (n_params,)."""
    theta -= theta.dtype.type(lr) * grad


SGD, ADAM = 0, 1
LR, MOMENTUM, NESTEROV, BETA1, BETA2, EPS, L2, L1, T = range(9)


def _weight_mask(sizes, n_params):
    """Boolean (n_params,): True on the weights, False on the biases."""
    mask = np.zeros(n_params, bool)
    off = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        mask[off:off + n_out * n_in] = True
        off += n_out * n_in + n_out
    return mask


def optimizer_update(theta, grad, sizes, opt, hyper, state):
    """One optimizer step on θ from ∂L/∂θ (grad is not modified); see the module docstring."""
    g = grad.astype(np.float64)
    if hyper[L2] or hyper[L1]:
        w = _weight_mask(sizes, theta.size)
        g[w] += hyper[L2] * theta[w] + hyper[L1] * np.sign(theta[w])
    if opt == SGD:
        if hyper[MOMENTUM] > 0:
            velocity = hyper[MOMENTUM] * state[:theta.size] + g
            state[:theta.size] = velocity
            g = g + hyper[MOMENTUM] * velocity if hyper[NESTEROV] else velocity
        step = hyper[LR] * g
    elif opt == ADAM:
        hyper[T] += 1
        m, v = state[:theta.size], state[theta.size:2 * theta.size]
        m[...] = hyper[BETA1] * m + (1 - hyper[BETA1]) * g
        v[...] = hyper[BETA2] * v + (1 - hyper[BETA2]) * g * g
        m_hat = m / (1 - hyper[BETA1] ** hyper[T])
        v_hat = v / (1 - hyper[BETA2] ** hyper[T])
        step = hyper[LR] * m_hat / (np.sqrt(v_hat) + hyper[EPS])
    else:
        raise ValueError(f"unknown optimizer id {opt}")
    theta -= step.astype(theta.dtype)


# ---- whole network -------------------------------------------------------------------------------------

def _layers(theta, sizes):
    """[(W_l, b_l)] as views into theta."""
    out, off = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[off:off + n_out * n_in].reshape(n_out, n_in)
        off += n_out * n_in
        out.append((W, theta[off:off + n_out]))
        off += n_out
    return out


def _outputs(hbuf, sizes, n):
    """[H_1, ..., H_L] as (n, sizes[l]) views into hbuf."""
    out, off = [], 0
    for width in sizes[1:]:
        out.append(hbuf[off:off + n * width].reshape(n, width))
        off += n * width
    return out


def forward(theta, sizes, acts, X, hbuf):
    """Every layer's output H_1 .. H_L into hbuf. X: (n, sizes[0])."""
    H = X
    for (W, b), act, H_next in zip(_layers(theta, sizes), acts, _outputs(hbuf, sizes, X.shape[0])):
        dense_forward(H, W, b, act, H_next)
        H = H_next


def predict(theta, sizes, acts, X, out, work, chunk):
    """out = the network's output for X. X: (n, sizes[0]), out: (n, sizes[-1])."""
    # The reference ignores `work` and `chunk`: clarity over memory.
    H = X
    for (W, b), act in zip(_layers(theta, sizes), acts):
        H = activations.apply(act, H @ W.T + b)
    out[...] = H


def loss_and_grad(theta, sizes, acts, loss, X, Y, sw, hbuf, dbuf, grad):
    """L(X, Y) and ∂L/∂θ into grad (θ's layout), by backpropagation."""
    n = X.shape[0]
    forward(theta, sizes, acts, X, hbuf)
    Hs = [X] + _outputs(hbuf, sizes, n)
    layers, glayers = _layers(theta, sizes), _layers(grad, sizes)
    dZ = np.empty_like(Hs[-1])
    value = loss_forward_backward(loss, Hs[-1], Y, sw, dZ)
    activation_backward(acts[-1], Hs[-1], dZ, dZ)
    for l in range(len(layers) - 1, -1, -1):
        W, _ = layers[l]
        dW, db = glayers[l]
        dH_prev = np.empty_like(Hs[l]) if l > 0 else None
        dense_backward(dZ, Hs[l], W, dW, db, dH_prev)
        if l > 0:
            activation_backward(acts[l - 1], Hs[l], dH_prev, dH_prev)
            dZ = dH_prev
    return value


def train_step(theta, sizes, acts, loss, X, Y, sw, opt, hyper, state, hbuf, dbuf, grad):
    """One optimizer step on (X, Y); returns the loss before it. A non-finite loss or gradient updates
    nothing (and the return value is then NaN or the non-finite loss)."""
    value = loss_and_grad(theta, sizes, acts, loss, X, Y, sw, hbuf, dbuf, grad)
    if not np.isfinite(value):
        return value
    if not all_finite(grad):
        return float("nan")
    optimizer_update(theta, grad, sizes, opt, hyper, state)
    return value


def train_epoch(theta, sizes, acts, loss, X, Y, sw, perm, batch_size, opt, hyper, state,
                hbuf, dbuf, grad, xbuf, ybuf, wbuf, batch_losses):
    """Minibatch training over all rows of (X, Y) in the order perm; batch k's loss into batch_losses[k].
    Returns the number of batches done: it stops after a batch whose loss is not finite."""
    n = X.shape[0]
    order = perm if perm.size else np.arange(n)
    for k, start in enumerate(range(0, n, batch_size)):
        rows = order[start:start + batch_size]
        w = sw[rows] if sw.size else sw
        batch_losses[k] = train_step(theta, sizes, acts, loss, X[rows], Y[rows], w, opt, hyper, state,
                                     hbuf, dbuf, grad)
        if not np.isfinite(batch_losses[k]):
            return k + 1
    return -(-n // batch_size)
