"""The Numba backend: the kernel table of `numpy_ref`, compiled with @njit.

Same names, argument order, shapes and semantics as `numpy_ref` (see its docstring); results in the input
dtype, losses and optimizer arithmetic in float64. Each whole-network function is one compiled call that
checks its arguments in O(layers), then works on views into theta/grad and the flat workspaces: matmuls
by BLAS (`np.dot` with `out`), elementwise work in flat loops, nothing allocated per step. Optional
arguments (dH_prev, dYhat = None) get their own compiled variant: numba drops `is None` branches when
compiling. Kernels compile lazily per dtype on first call and are cached on disk (cache=True).
"""
from __future__ import annotations

import math

import numpy as np
from numba import carray, njit, types
from numba.extending import overload

from ..activations import IDENTITY, RELU, SIGMOID, SOFTMAX, SOFTPLUS, TANH
from ..losses import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, HUBER, MAE, MSE, SSE
from ..workspace import SMALL_LAYER
from .numba_borrow import borrowed, flat, matrix, pointer

SGD, ADAM = 0, 1  # optimizer ids, and the layout of `hyper` (see numpy_ref's docstring)
LR, MOMENTUM, NESTEROV, BETA1, BETA2, EPS, L2, L1, T = range(9)
TINY_ROW = 16  # inputs: a one-row product through a layer this narrow (and SMALL_LAYER small) is a loop

# error_model="numpy": x/0 gives ±Inf/NaN as in numpy_ref, and loops with a division can vectorize
# (the default "python" model adds a ZeroDivisionError check to every division).
_jit = njit(cache=True, nogil=True, error_model="numpy")
# For the exp helpers only: fused multiply-adds make the polynomials twice as fast and no less accurate.
# Being separate functions (not inlined by numba), they keep the flag when LLVM inlines them.
_jit_fma = njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

# Matmuls always go to BLAS. Measured against hand-written njit loops (n·i·o from 256 to 4e6, float32 and
# float64, 1 thread): OpenBLAS's small-matrix kernels won at every shape (up to 5x at 32x8x8) except
# matrix·vector, where loops saved under 0.1 µs a call: not worth their code.


# ---- exp without libm ---------------------------------------------------------------------------------
# numba calls libm's scalar exp/tanh (~30 ns each, never vectorized), which made tanh layers several times
# slower than numpy's SIMD ufuncs. These helpers are plain arithmetic, so the loops around them vectorize:
# e^-y = 2^-k e^x with x = k ln2 − y in [−ln2/2, ln2/2] (ln 2 split in two so k·ln2 loses nothing), e^x − 1
# by its Taylor series, 2^-k from exponent bits. One set per dtype: float64 to < 1e-15, float32 (twice the
# vector lanes, half the terms) to < 3e-7, both relative.

_INV_LN2 = 1.0 / math.log(2.0)
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k·_LN2_HI is exact for k < 2^20
_LN2_LO = 1.90821492927058770002e-10  # ln 2 − _LN2_HI
_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(14, 1, -1))  # 1/14!, ..., 1/2!

_INV_LN2_32 = np.float32(_INV_LN2)
_LN2_HI_32 = np.float32(0.693359375)  # 355/512: k·_LN2_HI_32 is exact in float32 for k < 2^15
_LN2_LO_32 = np.float32(math.log(2.0) - 0.693359375)
_TAYLOR_32 = tuple(np.float32(1.0 / math.factorial(n)) for n in range(8, 1, -1))  # 1/8!, ..., 1/2!


@_jit_fma
def _pow2_neg(k):
    """2^-k for 0 ≤ k ≤ 1022, built from its exponent bits."""
    return np.int64((1023 - k) << 52).view(np.float64)


@_jit_fma
def _exp_reduced(y):
    """(k, p) with e^-y = 2^-k (1 + p), |p| < 0.42, for 0 ≤ y ≤ 1400."""
    k = np.int64(y * _INV_LN2 + 0.5)
    x = (k * _LN2_HI - y) + k * _LN2_LO
    q = 0.0
    for c in _TAYLOR:
        q = q * x + c
    return k, x + x * x * q


@_jit_fma
def _exp_neg(y):
    """e^-y for y ≥ 0 (0 for y ≥ 1400 and for NaN: callers handle NaN)."""
    y = y if y < 1400.0 else 1400.0
    k, p = _exp_reduced(y)
    half = k >> 1  # two factors keep each 2^-k normal: tiny results round like libm's
    return (_pow2_neg(half) * (1.0 + p)) * _pow2_neg(k - half)


@_jit_fma
def _expm1_neg(y):
    """e^-y − 1 for y ≥ 0, accurate near 0 (−1 for y ≥ 40, where e^-y < 2^-54, and for NaN)."""
    y = y if y < 40.0 else 40.0
    k, p = _exp_reduced(y)
    s = _pow2_neg(k)
    return s * p + (s - 1.0)


@_jit_fma
def _pow2_neg32(k):
    """2^-k in float32 for 0 ≤ k ≤ 126."""
    return np.int32((127 - k) << 23).view(np.float32)


@_jit_fma
def _exp_reduced32(y):
    """_exp_reduced in float32, for 0 ≤ y ≤ 110."""
    k = np.int32(y * _INV_LN2_32 + np.float32(0.5))
    x = (np.float32(k) * _LN2_HI_32 - y) + np.float32(k) * _LN2_LO_32
    q = np.float32(0)
    for c in _TAYLOR_32:
        q = q * x + c
    return k, x + x * x * q


@_jit_fma
def _exp_neg32(y):
    """e^-y in float32 for y ≥ 0 (0 from y = 110, beyond float32's smallest subnormal, and for NaN)."""
    y = y if y < np.float32(110) else np.float32(110)
    k, p = _exp_reduced32(y)
    half = k >> 1
    return (_pow2_neg32(half) * (np.float32(1) + p)) * _pow2_neg32(k - half)


@_jit_fma
def _expm1_neg32(y):
    """e^-y − 1 in float32 for y ≥ 0 (−1 for y ≥ 20 and for NaN)."""
    y = y if y < np.float32(20) else np.float32(20)
    k, p = _exp_reduced32(y)
    s = _pow2_neg32(k)
    return s * p + (s - np.float32(1))


@_jit_fma
def _tanh(z):
    """tanh z = −m / (2 + m) with m = e^-2|z| − 1: no cancellation near 0. float64."""
    z = np.float64(z)
    m = _expm1_neg(2.0 * abs(z))
    t = np.copysign(abs(m / (2.0 + m)), z)
    return t if z == z else z


@_jit_fma
def _sigmoid(z):
    """1 / (1 + e^-z) from e = e^-|z| ≤ 1, as the reference. float64."""
    z = np.float64(z)
    e = _exp_neg(abs(z))
    s = (1.0 if z >= 0.0 else e) / (1.0 + e)
    return s if z == z else z


@_jit_fma
def _tanh32(z):
    """_tanh in float32."""
    z = np.float32(z)
    m = _expm1_neg32(np.float32(2) * abs(z))
    t = np.copysign(abs(m / (np.float32(2) + m)), z)
    return t if z == z else z


@_jit_fma
def _sigmoid32(z):
    """_sigmoid in float32."""
    z = np.float32(z)
    e = _exp_neg32(abs(z))
    s = (np.float32(1) if z >= np.float32(0) else e) / (np.float32(1) + e)
    return s if z == z else z


def _tanh_of(z):
    """tanh z by _tanh32 or _tanh, after z's type; chosen when compiling (see the overload)."""


def _sigmoid_of(z):
    """sigmoid z by _sigmoid32 or _sigmoid, after z's type; chosen when compiling."""


def _exp_neg_of(y):
    """e^-y by _exp_neg32 or _exp_neg, after y's type; chosen when compiling."""


# An overload picks the helper from the type while compiling, so each dtype compiles one of the two
# (a runtime branch on the dtype would compile both: a third more compile time).
@overload(_tanh_of)
def _tanh_of_typed(z):
    helper = _tanh32 if z == types.float32 else _tanh
    return lambda z: helper(z)


@overload(_sigmoid_of)
def _sigmoid_of_typed(z):
    helper = _sigmoid32 if z == types.float32 else _sigmoid
    return lambda z: helper(z)


@overload(_exp_neg_of)
def _exp_neg_of_typed(y):
    helper = _exp_neg32 if y == types.float32 else _exp_neg
    return lambda y: helper(y)


# ---- checks -------------------------------------------------------------------------------------------

@_jit
def _check_act(act, allow_softmax):
    if act < IDENTITY or act > SOFTMAX:
        raise ValueError("unknown activation id")
    if act == SOFTMAX and not allow_softmax:
        raise ValueError("softmax has no derivative here: train on the logits with a cross-entropy loss")


@_jit
def _check_loss(loss):
    if loss < SSE or loss > BINARY_CROSS_ENTROPY:
        raise ValueError("unknown loss id")


# ---- elementwise loops (flat, one loop per activation so each vectorizes) ------------------------------

@_jit
def _activate(act, h):
    """h = g(h) in place for the elementwise activations. h: flat (n·o,)."""
    zero = h.dtype.type(0)
    if act == RELU:
        for k in range(h.size):
            h[k] = zero if h[k] < zero else h[k]  # NaN < 0 is False: NaN passes through
    elif act == SIGMOID:
        for k in range(h.size):
            h[k] = _sigmoid_of(h[k])
    elif act == TANH:
        for k in range(h.size):
            h[k] = _tanh_of(h[k])
    elif act == SOFTPLUS:  # libm's log1p: rarely used, kept simple
        for k in range(h.size):
            z = h[k]
            h[k] = max(z, zero) + np.log1p(np.exp(-abs(z)))


@_jit
def _nan_max(row):
    """max(row), NaN if any element is NaN (as np.max)."""
    top = row[0]
    for j in range(row.size):
        if row[j] > top or row[j] != row[j]:
            top = row[j]
            if top != top:
                break
    return top


@_jit
def _softmax_rows(H):
    """Each row of H: e^(z - max z) / Σ e^(z - max z), the sum in float64. H: (n, o), in place."""
    for r in range(H.shape[0]):
        row = H[r]
        top = _nan_max(row)
        if not np.isfinite(top):  # NaN, or an infinite logit: NaN throughout, as the reference gets
            for j in range(row.size):
                row[j] = np.nan
            continue
        total = 0.0
        for j in range(row.size):
            row[j] = _exp_neg_of(top - row[j])
            total += row[j]
        for j in range(row.size):
            row[j] = row[j] / total


@_jit
def _activation_grad(act, h, dh, dz):
    """dz = g'(z) ⊙ dh with g' from h = g(z). All flat (n·o,); dz may be dh."""
    zero, one = h.dtype.type(0), h.dtype.type(1)
    if act == IDENTITY:
        for k in range(h.size):
            dz[k] = dh[k]
    elif act == RELU:
        for k in range(h.size):
            dz[k] = (one if h[k] > zero else zero) * dh[k]  # a product, so 0 · Inf is NaN as in numpy
    elif act == SIGMOID:
        for k in range(h.size):
            dz[k] = h[k] * (one - h[k]) * dh[k]
    elif act == TANH:
        for k in range(h.size):
            dz[k] = (one - h[k] * h[k]) * dh[k]
    elif act == SOFTPLUS:
        for k in range(h.size):
            dz[k] = -np.expm1(-h[k]) * dh[k]


def _flat(A):
    """A C-contiguous array as a 1-D view (a borrowed one for C-layout types; see the overload)."""


@overload(_flat)
def _flat_typed(A):
    if A.layout == "C":  # known contiguous when compiling: no reshape helper call
        return lambda A: flat(A)
    return lambda A: A.reshape(A.size)


# Loops over (n, o) arrays: along rows, except for narrow ones (o ≤ 2, e.g. a regression output) where a
# loop down each column is up to 40x faster: a row loop of 1 or 2 elements pays its vector setup per row.

@_jit
def _add_bias(H, b):
    """H += b on every row. H: (n, o), b: (o,)."""
    n, o = H.shape
    if o <= 2:
        for j in range(o):
            for r in range(n):
                H[r, j] += b[j]
    else:
        for r in range(n):
            for j in range(o):
                H[r, j] += b[j]


@_jit
def _column_sums(dZ, db):
    """db = Σ_rows dZ, summed row after row (numpy's order for a sum over axis 0). dZ: (n, o)."""
    n, o = dZ.shape
    if o <= 2:
        for j in range(o):
            total = dZ.dtype.type(0)
            for r in range(n):
                total += dZ[r, j]
            db[j] = total
    else:
        db[:] = 0
        for r in range(n):
            for j in range(o):
                db[j] += dZ[r, j]


# ---- unchecked layer kernels (shapes trusted) ---------------------------------------------------------

@_jit
def _is_tiny(o, i):
    """A one-row product through this (o, i) layer is a loop: short dots, each a serial chain of adds."""
    return i <= TINY_ROW and o * i <= SMALL_LAYER


@_jit
def _tiny_row_product(W, x, z):
    """z = W x by loops. W: (o, i), x: (i,), z: (o,). For one row through a tiny layer (a control loop's
    predict), where a BLAS call costs several times the arithmetic."""
    for j in range(W.shape[0]):
        total = z.dtype.type(0)
        for k in range(W.shape[1]):
            total += W[j, k] * x[k]
        z[j] = total


@_jit
def _product(X, W, H, scratch):
    """H = X Wᵀ by BLAS. OpenBLAS runs X·Wᵀ with W as stored ("TN") through a copying driver that is 2-5x
    slower on small shapes than its "NN" small-matrix kernel: a (1, i) W is its own transpose, and a layer
    of at most SMALL_LAYER weights that fits in `scratch` is multiplied through a C-contiguous copy of Wᵀ."""
    o, i = W.shape
    if X.shape[0] == 1 and _is_tiny(o, i):
        _tiny_row_product(W, X[0], H[0])
    elif o == 1:
        np.dot(X, W.reshape(i, 1), H)
    elif X.shape[0] > 1 and o * i <= SMALL_LAYER and o * i <= scratch.size:
        Wt = matrix(scratch[:o * i], i, o)
        for j in range(o):
            for k in range(i):
                Wt[k, j] = W[j, k]
        np.dot(X, Wt, H)
    else:
        np.dot(X, W.T, H)


@_jit
def _dense_forward(X, W, b, act, H, scratch):
    """H = g(X Wᵀ + b). H must be C-contiguous; scratch: room for a small layer's Wᵀ (may be empty)."""
    _product(X, W, H, scratch)
    _add_bias(H, b)
    if act == SOFTMAX:
        _softmax_rows(H)
    else:
        _activate(act, _flat(H))


@_jit
def _weight_grads(dZ, H_prev, dW, db):
    """dW = dZᵀ H_prev, db = column sums of dZ."""
    np.dot(dZ.T, H_prev, dW)
    _column_sums(dZ, db)


# ---- losses (float64, as losses.value_and_grad) -------------------------------------------------------

@_jit
def _sign(r):
    return 1.0 if r > 0.0 else (-1.0 if r < 0.0 else r)  # 0 stays 0, NaN stays NaN (np.sign)


@_jit
def _elementwise_loss(loss, z, t):
    """(ℓ, ∂ℓ/∂z) of one output for every loss but cross_entropy, before weighting and normalizing."""
    r = z - t
    if loss == MAE:
        return abs(r), _sign(r)
    if loss == HUBER:
        a = abs(r)
        clipped = -1.0 if r < -1.0 else (1.0 if r > 1.0 else r)
        return (0.5 * r * r if a <= 1.0 else a - 0.5), clipped
    if loss == BINARY_CROSS_ENTROPY:  # from the logit z: softplus(z) − t z and σ(z) − t
        e = np.exp(-abs(z))
        sigmoid = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
        return max(z, 0.0) + np.log1p(e) - t * z, sigmoid - t
    return r * r, 2.0 * r  # sse, mse


@_jit
def _cross_entropy_row(z, t, dz, scale):
    """−Σ_j t_j log softmax(z)_j of one row of logits; dz = scale · (softmax(z) − t) unless dz is None."""
    top = np.float64(_nan_max(z))
    total = 0.0
    for j in range(z.size):
        total += np.exp(np.float64(z[j]) - top)
    log_total = np.log(total)
    value = 0.0
    for j in range(z.size):
        log_p = (np.float64(z[j]) - top) - log_total
        value -= np.float64(t[j]) * log_p
        if dz is not None:
            dz[j] = (np.exp(log_p) - np.float64(t[j])) * scale
    return value


@_jit
def _loss(loss, Yhat, Y, sw, dYhat):
    """L in float64 and, unless dYhat is None, ∂L/∂ŷ into dYhat. Yhat, Y, dYhat: (n, m); sw: (n,) or empty."""
    n, m = Yhat.shape
    weight_sum = 0.0
    for i in range(sw.size):
        weight_sum += np.float64(sw[i])
    if sw.size == 0:
        weight_sum = np.float64(n)
    if weight_sum == 0.0:  # only zero-weight rows: loss 0, gradient 0 (not 0/0)
        weight_sum = 1.0
    norm = 1.0 if loss == SSE else (weight_sum if loss == CROSS_ENTROPY else weight_sum * m)
    value = 0.0
    for i in range(n):
        w = 1.0 if sw.size == 0 else np.float64(sw[i])
        scale = w / norm
        if loss == CROSS_ENTROPY:
            row = _cross_entropy_row(Yhat[i], Y[i], None if dYhat is None else dYhat[i], scale)
        else:
            row = 0.0
            for j in range(m):
                ell, slope = _elementwise_loss(loss, np.float64(Yhat[i, j]), np.float64(Y[i, j]))
                row += ell
                if dYhat is not None:
                    dYhat[i, j] = slope * scale
        value += row * w
    return value / norm


# ---- optimizers (float64 arithmetic, θ and state stored in their dtypes) -------------------------------

@_jit
def _sgd(theta, grad, lr):
    step = theta.dtype.type(lr)  # lr rounded to the dtype first, as numpy_ref does
    for k in range(theta.size):
        theta[k] -= step * grad[k]


# The range helpers get same-length slices (one layer's weights or biases): loops over range(size)
# vectorize, where indexing from a runtime start would not (numba must allow for negative indices).

@_jit
def _decayed(g, w, l2, l1, decay):
    """g + l2·w + l1·sign(w) when decay (weights, with l2 or l1 set), else g: float64."""
    w = np.float64(w)
    return g + (l2 * w + l1 * _sign(w)) if decay else g


@_jit
def _sgd_range(theta, grad, velocity, hyper, decay):
    """SGD, with momentum when hyper[MOMENTUM] > 0 (velocity then has theta's length)."""
    lr, mu, l2, l1 = hyper[LR], hyper[MOMENTUM], hyper[L2], hyper[L1]
    if mu > 0.0:
        nesterov = hyper[NESTEROV] != 0.0
        for k in range(theta.size):
            g = _decayed(np.float64(grad[k]), theta[k], l2, l1, decay)
            v = mu * np.float64(velocity[k]) + g
            velocity[k] = v
            g = g + mu * v if nesterov else v
            theta[k] -= theta.dtype.type(lr * g)
    else:
        for k in range(theta.size):
            g = _decayed(np.float64(grad[k]), theta[k], l2, l1, decay)
            theta[k] -= theta.dtype.type(lr * g)


@_jit
def _adam_range(theta, grad, m, v, hyper, decay):
    """Adam on a range: m, v its first and second moments (hyper[T] already counts this step)."""
    lr, beta1, beta2, eps, l2, l1 = hyper[LR], hyper[BETA1], hyper[BETA2], hyper[EPS], hyper[L2], hyper[L1]
    # Multiplying by 1 / (1 − β^t) rather than dividing: within an ulp of the reference, and divisions
    # are what this loop spends its time on.
    undo_bias1, undo_bias2 = 1.0 / (1.0 - beta1 ** hyper[T]), 1.0 / (1.0 - beta2 ** hyper[T])
    for k in range(theta.size):
        g = _decayed(np.float64(grad[k]), theta[k], l2, l1, decay)
        m[k] = beta1 * np.float64(m[k]) + (1.0 - beta1) * g
        v[k] = beta2 * np.float64(v[k]) + (1.0 - beta2) * g * g
        m_hat = np.float64(m[k]) * undo_bias1  # from the stored m and v, as the reference
        v_hat = np.float64(v[k]) * undo_bias2
        theta[k] -= theta.dtype.type(lr * m_hat / (np.sqrt(v_hat) + eps))


@_jit
def _optimizer_range(theta, grad, state, start, stop, opt, hyper, decay):
    """One optimizer step on θ[start:stop]."""
    th, g = theta[start:stop], grad[start:stop]
    if opt == ADAM:
        n = theta.size
        _adam_range(th, g, state[start:stop], state[n + start:n + stop], hyper, decay)
    else:
        _sgd_range(th, g, state[start:stop], hyper, decay)


@_jit
def _optimizer_step(theta, grad, sizes, opt, hyper, state):
    """One SGD/momentum/Adam step, layer by layer: L2/L1 on the weights, never on the biases."""
    if opt == ADAM:
        hyper[T] += 1.0
    decay = hyper[L2] != 0.0 or hyper[L1] != 0.0
    start = 0
    for l in range(sizes.size - 1):
        weights_end = start + sizes[l + 1] * sizes[l]
        stop = weights_end + sizes[l + 1]
        _optimizer_range(theta, grad, state, start, weights_end, opt, hyper, decay)
        _optimizer_range(theta, grad, state, weights_end, stop, opt, hyper, False)
        start = stop


@_jit
def _check_optimizer(n_params, grad, opt, hyper, state):
    if grad.size != n_params:
        raise ValueError("grad's length does not match theta")
    if opt != SGD and opt != ADAM:
        raise ValueError("unknown optimizer id")
    if hyper.size < 9:
        raise ValueError("hyper must hold [lr, momentum, nesterov, beta1, beta2, eps, l2, l1, t]")
    if opt == ADAM and state.size < 2 * n_params:
        raise ValueError("Adam's state must hold m and v: 2 · n_params")
    if opt == SGD and hyper[MOMENTUM] > 0.0 and state.size < n_params:
        raise ValueError("momentum's state must hold the velocity: n_params")


# ---- single kernels -----------------------------------------------------------------------------------

@_jit
def _all_finite(a):
    for start in range(0, a.size, 2048):  # blocks: vector loops, and an early exit
        block = a[start:start + 2048]
        bad = 0
        for k in range(block.size):
            bad += not np.isfinite(block[k])
        if bad:
            return False
    return True


def all_finite(a):
    """True when no element of `a` (any shape) is NaN or ±Inf."""
    return _all_finite(np.ravel(a))


def batch_ready(A, typenum, columns):
    """True when A is a C-contiguous 2-D ndarray of dtype number `typenum` with `columns` columns, at
    least one row, and no NaN or Inf (the Python boundary then passes it on untouched): one compiled
    call where the general path (fastmlp._validation.as_batch) makes several."""
    return (type(A) is np.ndarray and A.ndim == 2 and A.dtype.num == typenum and A.shape[1] == columns
            and A.shape[0] > 0 and A.flags.c_contiguous and _all_finite(A.reshape(-1)))


@_jit
def dense_forward(X, W, b, act, H):
    """H = g(X Wᵀ + b). X: (n, i), W: (o, i), b: (o,), H: (n, o) written."""
    _check_act(act, True)
    if W.shape[1] != X.shape[1] or b.size != W.shape[0] or H.shape != (X.shape[0], W.shape[0]):
        raise ValueError("dense_forward: shapes of X, W, b, H do not match")
    _dense_forward(X, W, b, act, H, H.reshape(H.size)[:0])


@_jit
def activation_backward(act, H, dH, dZ):
    """dZ = g'(z) ⊙ dH with g'(z) computed from H = g(z). All (n, o); dZ may be dH."""
    _check_act(act, False)
    if dH.shape != H.shape or dZ.shape != H.shape:
        raise ValueError("activation_backward: H, dH, dZ must have one shape")
    _activation_grad(act, _flat(H), _flat(dH), _flat(dZ))


@_jit
def dense_backward(dZ, H_prev, W, dW, db, dH_prev):
    """dW = dZᵀ H_prev (the batch's outer products), db = column sums of dZ, dH_prev = dZ W.

    dZ: (n, o), H_prev: (n, i), W: (o, i), dW: (o, i), db: (o,), dH_prev: (n, i) or None (skipped).
    """
    n, o = dZ.shape
    if H_prev.shape[0] != n or W.shape != (o, H_prev.shape[1]) or dW.shape != W.shape or db.size != o:
        raise ValueError("dense_backward: shapes of dZ, H_prev, W, dW, db do not match")
    if dH_prev is not None and dH_prev.shape != H_prev.shape:
        raise ValueError("dense_backward: dH_prev must have H_prev's shape")
    _weight_grads(dZ, H_prev, dW, db)
    if dH_prev is not None:
        np.dot(dZ, W, dH_prev)


@_jit
def loss_forward_backward(loss, Yhat, Y, sw, dYhat):
    """L(ŷ, y) as a float; writes ∂L/∂ŷ into dYhat unless it is None. Yhat, Y, dYhat: (n, m);
    sw: (n,) or empty."""
    _check_loss(loss)
    if Y.shape != Yhat.shape or (dYhat is not None and dYhat.shape != Yhat.shape):
        raise ValueError("loss_forward_backward: Yhat, Y, dYhat must have one shape")
    if sw.size != 0 and sw.size != Yhat.shape[0]:
        raise ValueError("sw must be empty or hold one weight per row")
    return _loss(loss, Yhat, Y, sw, dYhat)


@_jit
def sgd_update(theta, grad, lr):
    """θ -= lr · grad, in place. theta, grad: (n_params,)."""
    if grad.size != theta.size:
        raise ValueError("sgd_update: theta and grad differ in length")
    _sgd(theta, grad, lr)


@_jit
def optimizer_update(theta, grad, sizes, opt, hyper, state):
    """One optimizer step on θ from ∂L/∂θ (grad is not modified); see numpy_ref's docstring.
    theta, grad: (n_params,), hyper: float64 (9,), state: (0,), (n_params,) or (2 n_params,)."""
    _check_sizes(theta, sizes)
    _check_optimizer(theta.size, grad, opt, hyper, state)
    _optimizer_step(theta, grad, sizes, opt, hyper, state)


# ---- whole network: views and checks ------------------------------------------------------------------

@_jit
def _params(theta, sizes, l):
    """W_l: (sizes[l+1], sizes[l]) and b_l: (sizes[l+1],) as views into theta (or grad)."""
    off = 0
    for k in range(l):
        off += sizes[k + 1] * (sizes[k] + 1)
    n_in, n_out = sizes[l], sizes[l + 1]
    end_W = off + n_out * n_in
    return matrix(theta[off:end_W], n_out, n_in), theta[end_W:end_W + n_out]


@_jit
def _output(hbuf, sizes, n, l):
    """H_{l+1}, layer l's output: an (n, sizes[l+1]) view into hbuf."""
    off = 0
    for k in range(1, l + 1):
        off += n * sizes[k]
    return matrix(hbuf[off:off + n * sizes[l + 1]], n, sizes[l + 1])


@_jit
def _block(buf, k, stride, rows, cols):
    """Ping-pong block k (0 or 1) of buf as a (rows, cols) view."""
    return matrix(buf[k * stride:k * stride + rows * cols], rows, cols)


@_jit
def _check_sizes(theta, sizes):
    """Checks that sizes is a valid layer list and θ has its length; returns max(sizes[1:])."""
    if sizes.size < 2:
        raise ValueError("sizes must have at least 2 entries")
    n_params, widest = 0, 0
    for l in range(sizes.size - 1):
        if sizes[l] < 1 or sizes[l + 1] < 1:
            raise ValueError("layer sizes must be positive")
        n_params += sizes[l + 1] * (sizes[l] + 1)
        widest = max(widest, sizes[l + 1])
    if theta.size != n_params:
        raise ValueError("theta's length does not match sizes")
    return widest


@_jit
def _check_net(theta, sizes, acts, training):
    """_check_sizes, and one valid activation per layer (softmax only outside training)."""
    widest = _check_sizes(theta, sizes)
    if acts.size != sizes.size - 1:
        raise ValueError("acts must have one activation per layer")
    for l in range(acts.size):
        _check_act(acts[l], not training)
    return widest


@_jit
def _check_batch(sizes, X, Y, sw):
    if X.shape[1] != sizes[0] or Y.shape[1] != sizes[-1]:
        raise ValueError("X or Y has the wrong number of columns")
    if Y.shape[0] != X.shape[0]:
        raise ValueError("X and Y have different numbers of rows")
    if sw.size != 0 and sw.size != X.shape[0]:
        raise ValueError("sw must be empty or hold one weight per row")


@_jit
def _check_train(theta, sizes, acts, loss, X, Y, sw, rows, hbuf, dbuf, grad):
    """Checks for training on batches of up to `rows` rows of (X, Y); returns max(sizes[1:])."""
    widest = _check_net(theta, sizes, acts, True)
    _check_loss(loss)
    _check_batch(sizes, X, Y, sw)
    if grad.size != theta.size:
        raise ValueError("grad's length does not match theta")
    if hbuf.size < rows * sizes[1:].sum():
        raise ValueError("hbuf is too small")
    if dbuf.size < 2 * rows * widest:
        raise ValueError("dbuf is too small")
    return widest


# ---- whole network: unchecked passes ------------------------------------------------------------------

@_jit
def _forward(theta, sizes, acts, X, hbuf, scratch):
    """Every layer's output into hbuf; scratch: spare room for small layers' Wᵀ (may be empty)."""
    n = X.shape[0]
    W, b = _params(theta, sizes, 0)
    _dense_forward(X, W, b, acts[0], _output(hbuf, sizes, n, 0), scratch)
    for l in range(1, acts.size):
        W, b = _params(theta, sizes, l)
        _dense_forward(_output(hbuf, sizes, n, l - 1), W, b, acts[l], _output(hbuf, sizes, n, l), scratch)


@_jit
def _loss_and_grad(theta, sizes, acts, loss, X, Y, sw, hbuf, dbuf, grad, widest):
    """Forward, loss, backward; ∂L/∂z ping-pongs between the two dbuf blocks."""
    n, L = X.shape[0], acts.size
    stride = n * widest
    _forward(theta, sizes, acts, X, hbuf, dbuf)  # dbuf is free until the loss: room for Wᵀ copies
    Yhat = _output(hbuf, sizes, n, L - 1)
    dZ = _block(dbuf, 0, stride, n, sizes[L])
    value = _loss(loss, Yhat, Y, sw, dZ)
    _activation_grad(acts[L - 1], _flat(Yhat), _flat(dZ), _flat(dZ))
    for l in range(L - 1, 0, -1):
        W, _ = _params(theta, sizes, l)
        dW, db = _params(grad, sizes, l)
        H_prev = _output(hbuf, sizes, n, l - 1)
        _weight_grads(dZ, H_prev, dW, db)
        dH_prev = _block(dbuf, (L - l) % 2, stride, n, sizes[l])
        np.dot(dZ, W, dH_prev)
        _activation_grad(acts[l - 1], _flat(H_prev), _flat(dH_prev), _flat(dH_prev))
        dZ = dH_prev
    dW, db = _params(grad, sizes, 0)
    _weight_grads(dZ, X, dW, db)  # nothing flows into X
    return value


@_jit
def _train_step(theta, sizes, acts, loss, X, Y, sw, opt, hyper, state, hbuf, dbuf, grad, widest):
    """loss_and_grad, then the optimizer step only when the loss and the gradient are finite."""
    value = _loss_and_grad(theta, sizes, acts, loss, X, Y, sw, hbuf, dbuf, grad, widest)
    if not np.isfinite(value):
        return value
    if not _all_finite(grad):
        return np.nan
    _optimizer_step(theta, grad, sizes, opt, hyper, state)
    return value


# ---- whole network: public ----------------------------------------------------------------------------

@_jit
def forward(theta, sizes, acts, X, hbuf):
    """Every layer's output H_1 .. H_L into hbuf. X: (n, sizes[0])."""
    _check_net(theta, sizes, acts, False)
    if X.shape[1] != sizes[0]:
        raise ValueError("X has the wrong number of columns")
    if hbuf.size < X.shape[0] * sizes[1:].sum():
        raise ValueError("hbuf is too small")
    hbuf = borrowed(hbuf)
    # no scratch (hbuf[:0]): hbuf beyond its block is not ours
    _forward(borrowed(theta), borrowed(sizes), borrowed(acts), borrowed(X), hbuf, hbuf[:0])


@_jit
def predict(theta, sizes, acts, X, out, work, chunk):
    """out = the network's output for X, `chunk` rows at a time. X: (n, sizes[0]), out: (n, sizes[-1]).

    Hidden layers ping-pong through two blocks of work, each min(chunk, n) · max(hidden widths).
    """
    _check_net(theta, sizes, acts, False)
    n, L = X.shape[0], acts.size
    if X.shape[1] != sizes[0] or out.shape != (n, sizes[L]):
        raise ValueError("X or out has the wrong shape")
    if chunk < 1:
        raise ValueError("chunk must be positive")
    rows_max = min(chunk, n)
    stride = rows_max * (sizes[1:L].max() if L > 1 else 0)
    if work.size < 2 * stride:
        raise ValueError("work is too small")
    _predict_checked(theta, sizes, acts, X, out, work, rows_max, stride)


@_jit
def _predict_checked(theta, sizes, acts, X, out, work, rows_max, stride):
    """predict's passes once its arguments are checked."""
    n = X.shape[0]
    if n == 1:
        _predict_row(borrowed(theta), borrowed(sizes), borrowed(acts), borrowed(X)[0], borrowed(out)[0],
                     borrowed(work), stride)
    else:
        _predict(borrowed(theta), borrowed(sizes), borrowed(acts), borrowed(X), borrowed(out),
                 borrowed(work), rows_max, stride)


@_jit
def _predict_row(theta, sizes, acts, x, y, work, stride):
    """predict for one row x: (sizes[0],) into y: (sizes[-1],), on flat slices of θ and work: a one-row
    predict (a control loop's call) is mostly overhead, and each 2-D view costs a reshape."""
    L = acts.size
    h = x
    off = 0
    for l in range(L):
        i, o = sizes[l], sizes[l + 1]
        z = y if l == L - 1 else work[(l % 2) * stride:(l % 2) * stride + o]
        W = matrix(theta[off:off + o * i], o, i)
        if _is_tiny(o, i):
            _tiny_row_product(W, h, z)
        else:
            np.dot(W, h, z)
        off += o * i
        for j in range(o):
            z[j] += theta[off + j]
        off += o
        if acts[l] == SOFTMAX:
            _softmax_rows(z.reshape(1, o))
        else:
            _activate(acts[l], z)
        h = z


@_jit
def _predict(theta, sizes, acts, X, out, work, rows_max, stride):
    """predict's passes, arguments checked; work: two ping-pong blocks of `stride` elements, then scratch."""
    n, L = X.shape[0], acts.size
    scratch = work[2 * stride:]  # work's tail, if any: room for small layers' Wᵀ
    for start in range(0, n, max(rows_max, 1)):
        stop = min(start + rows_max, n)
        H = X[start:stop]
        for l in range(L - 1):
            W, b = _params(theta, sizes, l)
            H_next = _block(work, l % 2, stride, stop - start, sizes[l + 1])
            _dense_forward(H, W, b, acts[l], H_next, scratch)
            H = H_next
        W, b = _params(theta, sizes, L - 1)
        _dense_forward(H, W, b, acts[L - 1], out[start:stop], scratch)


@_jit
def loss_and_grad(theta, sizes, acts, loss, X, Y, sw, hbuf, dbuf, grad):
    """L(X, Y) and ∂L/∂θ into grad (θ's layout), by backpropagation. X: (n, sizes[0]), Y: (n, sizes[-1]),
    sw: (n,) or empty."""
    widest = _check_train(theta, sizes, acts, loss, X, Y, sw, X.shape[0], hbuf, dbuf, grad)
    return _loss_and_grad(borrowed(theta), borrowed(sizes), borrowed(acts), loss, borrowed(X), borrowed(Y),
                          borrowed(sw), borrowed(hbuf), borrowed(dbuf), borrowed(grad), widest)


@_jit
def train_step(theta, sizes, acts, loss, X, Y, sw, opt, hyper, state, hbuf, dbuf, grad):
    """One optimizer step on (X, Y); returns the loss before it. A non-finite loss or gradient updates
    nothing (and the return value is then NaN or the non-finite loss)."""
    widest = _check_train(theta, sizes, acts, loss, X, Y, sw, X.shape[0], hbuf, dbuf, grad)
    _check_optimizer(theta.size, grad, opt, hyper, state)
    return _train_step(borrowed(theta), borrowed(sizes), borrowed(acts), loss, borrowed(X), borrowed(Y),
                       borrowed(sw), opt, borrowed(hyper), borrowed(state), borrowed(hbuf), borrowed(dbuf),
                       borrowed(grad), widest)


@_jit
def _check_perm(perm, n):
    if perm.size != 0 and perm.size != n:
        raise ValueError("perm must be empty or have one entry per row")
    for k in range(perm.size):
        if perm[k] < 0 or perm[k] >= n:
            raise ValueError("perm has an entry outside 0 .. n-1")


@_jit
def _gather(A, perm, start, stop, buf):
    """Rows perm[start:stop] of A as a (stop - start, cols) view into buf."""
    cols = A.shape[1]
    out = matrix(buf[:(stop - start) * cols], stop - start, cols)
    for r in range(stop - start):
        row = perm[start + r]
        for c in range(cols):  # elementwise: a row assignment costs seconds of compile time
            out[r, c] = A[row, c]
    return out


@_jit
def _gather_weights(sw, perm, start, stop, wbuf):
    """The weights of the batch's rows: a slice of sw in order, gathered into wbuf with a perm, and sw
    itself (empty) when there are no weights."""
    if sw.size == 0:
        return sw
    if perm.size == 0:
        return sw[start:stop]
    out = wbuf[:stop - start]
    for r in range(stop - start):
        out[r] = sw[perm[start + r]]
    return out


@_jit
def train_epoch(theta, sizes, acts, loss, X, Y, sw, perm, batch_size, opt, hyper, state,
                hbuf, dbuf, grad, xbuf, ybuf, wbuf, batch_losses):
    """Minibatch training over all rows of (X, Y) in the order perm (empty: in order), batches of
    batch_size rows (the last may be smaller); batch k's loss into batch_losses[k]. Returns the number of
    batches done: it stops after a batch whose loss is not finite. xbuf, ybuf, wbuf: used with a perm."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    n = X.shape[0]
    rows = min(batch_size, n)
    widest = _check_train(theta, sizes, acts, loss, X, Y, sw, rows, hbuf, dbuf, grad)
    _check_optimizer(theta.size, grad, opt, hyper, state)
    _check_perm(perm, n)
    if perm.size and (xbuf.size < rows * sizes[0] or ybuf.size < rows * sizes[-1]
                      or (sw.size and wbuf.size < rows)):
        raise ValueError("xbuf, ybuf or wbuf is too small")
    n_batches = (n + batch_size - 1) // batch_size
    if batch_losses.size < n_batches:
        raise ValueError("batch_losses is too short")
    return _train_epoch(borrowed(theta), borrowed(sizes), borrowed(acts), loss, borrowed(X), borrowed(Y),
                        borrowed(sw), borrowed(perm), batch_size, opt, borrowed(hyper), borrowed(state),
                        borrowed(hbuf), borrowed(dbuf), borrowed(grad), borrowed(xbuf), borrowed(ybuf),
                        borrowed(wbuf), borrowed(batch_losses), widest, n_batches)


@_jit
def _train_epoch(theta, sizes, acts, loss, X, Y, sw, perm, batch_size, opt, hyper, state,
                 hbuf, dbuf, grad, xbuf, ybuf, wbuf, batch_losses, widest, n_batches):
    """train_epoch's batches, arguments checked."""
    n = X.shape[0]
    for k in range(n_batches):
        start = k * batch_size
        stop = min(start + batch_size, n)
        if perm.size:
            Xb, Yb = _gather(X, perm, start, stop, xbuf), _gather(Y, perm, start, stop, ybuf)
        else:
            Xb, Yb = X[start:stop], Y[start:stop]  # rows in order: views, no copy
        swb = _gather_weights(sw, perm, start, stop, wbuf)
        batch_losses[k] = _train_step(theta, sizes, acts, loss, Xb, Yb, swb, opt, hyper, state,
                                      hbuf, dbuf, grad, widest)
        if not np.isfinite(batch_losses[k]):
            return k + 1
    return n_batches


# ---- one-call entries for the Python API --------------------------------------------------------------
# A numba call costs 0.3-0.6 µs, plus 0.05-0.1 µs of type dispatch and unboxing per array argument. Checking
# X and Y in calls of their own cost 1.8 µs of a 12 µs playground step, and 0.9 µs of a 4.3 µs one-row predict.
# These entries check the data themselves and are compiled for exactly the model's types (explicit
# signatures), so the dispatcher's own type match is the dtype, dimension and layout check: an array of
# another dtype, a non-C-contiguous or read-only one raises TypeError there and never compiles a variant.

NOT_READY = -1.0  # train_step_ready: X or Y is not ready; nothing was done
THETA_NOT_FINITE = -2.0  # train_step_ready: the update left NaN or Inf in θ


@_jit
def _finite_rows(A, columns):
    """True when A: (n, columns) has n ≥ 1 rows, all finite."""
    if A.shape[0] == 0 or A.shape[1] != columns:
        return False
    A = borrowed(A)
    for r in range(A.shape[0]):  # rows, not a reshape: a reshape calls a C helper (~30 ns)
        if not _all_finite(A[r]):
            return False
    return True


# A Predictor's fixed arrays travel as one address (of its int64 descriptor): each array argument of a
# numba call costs its own type dispatch and unboxing (a reference-counted wrapper, malloc'd per call).
THETA, N_PARAMS, SIZES, N_SIZES, ACTS, WORK, WORK_SIZE, CHUNK, MAX_HIDDEN = range(9)


def _predict_ready(model, X, out):
    """predict, returning True, when X: (n, sizes[0]) is finite and out is (n, sizes[-1]); else False and
    nothing written. model: the address of a Predictor's descriptor."""
    X, out = borrowed(X), borrowed(out)
    d = carray(pointer(model), 9, np.int64)
    theta = carray(pointer(d[THETA]), d[N_PARAMS], X.dtype)
    sizes = carray(pointer(d[SIZES]), d[N_SIZES], np.int64)
    acts = carray(pointer(d[ACTS]), d[N_SIZES] - 1, np.int64)
    work = carray(pointer(d[WORK]), d[WORK_SIZE], X.dtype)
    if not _finite_rows(X, sizes[0]) or out.shape[0] != X.shape[0] or out.shape[1] != sizes[-1]:
        return False
    # The descriptor was checked when the Predictor was made, and its sizes and acts are the Predictor's
    # own copies: only X's rows decide the passes here.
    rows_max = min(d[CHUNK], X.shape[0])
    _predict_checked(theta, sizes, acts, X, out, work, rows_max, rows_max * d[MAX_HIDDEN])
    return True


def _train_step_ready(theta, sizes, acts, loss, X, Y, opt, hyper, state, hbuf, dbuf, grad):
    """train_step without sample weights when X and Y are finite with the model's columns and one row count
    (NOT_READY and nothing done otherwise); THETA_NOT_FINITE when the update leaves NaN or Inf in θ."""
    if not (_finite_rows(X, sizes[0]) and _finite_rows(Y, sizes[-1]) and X.shape[0] == Y.shape[0]):
        return NOT_READY
    value = train_step(theta, sizes, acts, loss, X, Y, theta[:0], opt, hyper, state,
                       hbuf, dbuf, grad)
    if np.isfinite(value) and not _all_finite(borrowed(theta)):
        return THETA_NOT_FINITE
    return value


_typed_entries: dict = {}


def _entry(name, dtype):
    """The entry `name` compiled for float arrays of dtype (once per process; cached on disk)."""
    key = (name, dtype.num)
    fn = _typed_entries.get(key)
    if fn is None:
        f = types.float32 if dtype == np.float32 else types.float64
        vec, mat = types.Array(f, 1, "C"), types.Array(f, 2, "C")
        ints, f64 = types.Array(types.int64, 1, "C"), types.Array(types.float64, 1, "C")
        if name == "predict":
            sig = types.boolean(types.intp, mat, mat)
            py_func = _predict_ready
        else:
            sig = types.float64(vec, ints, ints, types.intp, mat, mat, types.intp, f64, vec, vec, vec, vec)
            py_func = _train_step_ready
        fn = _typed_entries[key] = njit(sig, cache=True, nogil=True, error_model="numpy")(py_func)
    return fn


def Predictor(theta, sizes, acts, work, chunk):  # noqa: N802 (the name of fastmlp._native's class)
    """predict() for one model in one compiled call: fastmlp._native.Predictor's interface, as a closure
    (calling a closure costs ~0.2 µs less than calling an instance's __call__).

    Predictor(theta, sizes, acts, work, chunk) keeps references to its arguments (writes into theta take
    effect) and returns predictor(X, out): out, or None when X is not a finite C-contiguous (n, sizes[0])
    array of θ's dtype or out is neither None (then allocated here) nor a writeable C-contiguous
    (n, sizes[-1]) array of that dtype: the caller then converts or names the problem.
    """
    if not (isinstance(theta, np.ndarray) and theta.dtype in (np.float32, np.float64)
            and isinstance(work, np.ndarray) and work.dtype == theta.dtype):
        raise TypeError("theta and work must be arrays of one dtype, float32 or float64")
    _check_net(theta, sizes, acts, False)
    if chunk < 1:
        raise ValueError("chunk must be positive")
    max_hidden = int(sizes[1:-1].max()) if sizes.size > 2 else 0
    if work.size < 2 * chunk * max_hidden:
        raise ValueError("work is too small")
    if not (sizes.dtype == acts.dtype == np.int64 and sizes.flags.c_contiguous and acts.flags.c_contiguous
            and theta.flags.c_contiguous and work.flags.c_contiguous):
        raise TypeError("sizes and acts must be C-contiguous int64 arrays, theta and work C-contiguous")
    run = _entry("predict", theta.dtype)
    arrays = (theta, sizes.copy(), acts.copy(), work)  # private copies: checked once, for good
    descriptor = np.empty(9, np.int64)
    descriptor[[THETA, SIZES, ACTS, WORK]] = [a.ctypes.data for a in arrays]
    descriptor[[N_PARAMS, N_SIZES, WORK_SIZE, CHUNK, MAX_HIDDEN]] = [theta.size, sizes.size, work.size, chunk,
                                                                      max_hidden]
    address, n_out, dtype = descriptor.ctypes.data, int(sizes[-1]), theta.dtype

    def predictor(X, out):
        if out is None:
            if type(X) is not np.ndarray or X.ndim != 2:
                return None
            out = np.empty((X.shape[0], n_out), dtype)
        try:
            ready = run(address, X, out)
        except TypeError:  # X or out not an array, of another dtype or layout, or out read-only
            return None
        return out if ready else None

    predictor.holds = (descriptor, arrays)  # alive as long as the closure: `address` points into them
    return predictor


def stepper(dtype):
    """train_step_ready(theta, sizes, acts, loss, X, Y, opt, hyper, state, hbuf, dbuf, grad) for θ of dtype:
    train_step without sample weights in one compiled call that also checks X and Y. It returns None, with
    nothing done, when X or Y is not a finite C-contiguous 2-D array of dtype with the model's columns and
    one row count; else the loss, as train_step, or THETA_NOT_FINITE when the update left NaN or Inf in θ."""
    run = _entry("train_step", np.dtype(dtype))  # compiled here, or loaded from the disk cache

    def train_step_ready(theta, sizes, acts, loss, X, Y, opt, hyper, state, hbuf, dbuf, grad):
        if type(X) is not np.ndarray or type(Y) is not np.ndarray:
            return None
        try:
            value = run(theta, sizes, acts, loss, X, Y, opt, hyper, state, hbuf, dbuf, grad)
        except TypeError:  # an array of another dtype or layout
            return None
        return None if value == NOT_READY else value

    return train_step_ready
