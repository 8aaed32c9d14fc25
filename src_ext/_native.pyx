# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The Cython backend: fastmlp's kernel table on raw pointers, matmuls through scipy's BLAS.

The `*_k` functions (declared in _native.pxd) are `noexcept nogil` and trust their sizes. The Python-level
functions below check dtypes, contiguity and sizes in O(layers) time, then release the GIL and call them.
The kernel table and the workspace layout are documented in fastmlp/backends/numpy_ref.py.
"""
from libc.stdint cimport int64_t
from libc.string cimport memcpy
from libc.math cimport exp, log, log1p, fabs, sqrt, pow, isfinite, NAN
from cython cimport floating
cimport numpy as cnp
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

cnp.import_array()

cdef extern from "fastmlp_act.h" nogil:
    void fm_bias_act_f(int act, float* Z, const float* b, Py_ssize_t rows, Py_ssize_t cols)
    void fm_bias_act_d(int act, double* Z, const double* b, Py_ssize_t rows, Py_ssize_t cols)
    void fm_act_backward_f(int act, const float* H, const float* dH, float* dZ, Py_ssize_t n)
    void fm_act_backward_d(int act, const double* H, const double* dH, double* dZ, Py_ssize_t n)
    bint fm_all_finite_f(const float* a, Py_ssize_t n)
    bint fm_all_finite_d(const double* a, Py_ssize_t n)

cdef extern from "fastmlp_gemv.h" nogil:
    void fm_gemv_rows_f(const float* W, const float* x, float* y, Py_ssize_t o, Py_ssize_t i)
    void fm_gemv_rows_d(const double* W, const double* x, double* y, Py_ssize_t o, Py_ssize_t i)

# Ids and layouts shared with fastmlp/activations.py, fastmlp/losses.py and the kernel table.
cdef enum:
    N_ACTIVATIONS = 6
    SOFTMAX = 5
    N_LOSSES = 6
    SSE = 0
    MSE = 1
    MAE = 2
    HUBER = 3
    CROSS_ENTROPY = 4
    SGD = 0
    ADAM = 1
    N_HYPER = 9
    LR = 0
    MOMENTUM = 1
    NESTEROV = 2
    BETA1 = 3
    BETA2 = 4
    EPS = 5
    L2 = 6
    L1 = 7
    T = 8
cdef Py_ssize_t BLAS_INT_MAX = 2147483647
# Layers with at most this many weights are multiplied through a transposed copy on the stack (16 KiB of
# float32, 32 KiB of float64): see dense_forward_k.
cdef enum:
    SMALL_LAYER = 4096
    GEMV_OWN_MAX = 524288  # weights (2 MiB of float32): up to about one core's L2


# ---- BLAS, row-major ---------------------------------------------------------------------------------
# Fortran BLAS is column-major: a row-major (r, c) array is its column-major (c, r) transpose, so each
# row-major product C = A·B below is issued as Cᵀ = Bᵀ·Aᵀ with the operands swapped.

cdef inline void _gemm(char* ta, char* tb, int M, int N, int K, const floating* A, int lda,
                       const floating* B, int ldb, floating beta, floating* C, int ldc) noexcept nogil:
    cdef floating one = 1
    if floating is float:
        sgemm(ta, tb, &M, &N, &K, &one, <float*>A, &lda, <float*>B, &ldb, &beta, C, &ldc)
    else:
        dgemm(ta, tb, &M, &N, &K, &one, <double*>A, &lda, <double*>B, &ldb, &beta, C, &ldc)


# ---- layer kernels -------------------------------------------------------------------------------------

cdef void forward_product_k(const floating* X, const floating* W, floating* H, Py_ssize_t n, Py_ssize_t i,
                            Py_ssize_t o) noexcept nogil:
    """H (n, o) = X (n, i) · Wᵀ (i, o), by the BLAS call that is fastest for the shape."""
    cdef int M = <int>i, N = <int>o, inc = 1
    cdef floating one = 1, zero = 0
    cdef floating wt[SMALL_LAYER]
    cdef Py_ssize_t j, k
    if n == 1 and o * i <= GEMV_OWN_MAX:  # one sample, W likely cache-resident: fastmlp_gemv.h
        if floating is float:
            fm_gemv_rows_f(W, X, H, o, i)
        else:
            fm_gemv_rows_d(W, X, H, o, i)
    elif n == 1:  # a big W streams from memory, where OpenBLAS may use several threads
        if floating is float:
            sgemv(b"T", &M, &N, &one, <float*>W, &M, <float*>X, &inc, &zero, H, &inc)
        else:
            dgemv(b"T", &M, &N, &one, <double*>W, &M, <double*>X, &inc, &zero, H, &inc)
    elif o == 1:  # a (1, i) row is also its own transpose: the "NN" form needs no copy
        _gemm(b"N", b"N", 1, <int>n, <int>i, W, 1, X, <int>i, <floating>0, H, 1)
    elif o * i <= SMALL_LAYER:
        # OpenBLAS runs "TN" (W as stored) on small shapes through its copying driver, 2-5x slower than
        # its "NN" small-matrix kernel (8x32x8: 383 vs 140 ns); W's transpose costs o*i copies.
        for j in range(o):
            for k in range(i):
                wt[k * o + j] = W[j * i + k]
        _gemm(b"N", b"N", <int>o, <int>n, <int>i, wt, <int>o, X, <int>i, <floating>0, H, <int>o)
    else:
        _gemm(b"T", b"N", <int>o, <int>n, <int>i, W, <int>i, X, <int>i, <floating>0, H, <int>o)


cdef void dense_forward_k(const floating* X, const floating* W, const floating* b, int act, floating* H,
                          Py_ssize_t n, Py_ssize_t i, Py_ssize_t o) noexcept nogil:
    """H (n, o) = g(X (n, i) · Wᵀ (i, o) + b (o,)); bias and activation fused in one pass over H."""
    forward_product_k(X, W, H, n, i, o)
    if floating is float:
        fm_bias_act_f(act, H, b, n, o)
    else:
        fm_bias_act_d(act, H, b, n, o)


cdef void activation_backward_k(int act, const floating* H, const floating* dH, floating* dZ,
                                Py_ssize_t count) noexcept nogil:
    """dZ = g'(z) ⊙ dH over `count` elements, g' read from H = g(z); dZ may be dH."""
    if floating is float:
        fm_act_backward_f(act, H, dH, dZ, count)
    else:
        fm_act_backward_d(act, H, dH, dZ, count)


cdef inline void backward_products_k(const floating* dZ, const floating* H_prev, const floating* W,
                                     floating* dW, floating* dH_prev, Py_ssize_t n, Py_ssize_t i,
                                     Py_ssize_t o) noexcept nogil:
    """dW (o, i) = dZᵀ · H_prev and dH_prev (n, i) = dZ · W unless NULL: the backward pass's BLAS calls."""
    _gemm(b"N", b"T", <int>i, <int>o, <int>n, H_prev, <int>i, dZ, <int>o, <floating>0, dW, <int>i)
    if dH_prev != NULL:
        _gemm(b"N", b"N", <int>i, <int>n, <int>o, W, <int>i, dZ, <int>o, <floating>0, dH_prev, <int>i)


cdef void dense_backward_k(const floating* dZ, const floating* H_prev, const floating* W, floating* dW,
                           floating* db, floating* dH_prev, Py_ssize_t n, Py_ssize_t i,
                           Py_ssize_t o) noexcept nogil:
    """dW (o, i) = dZᵀ · H_prev, db (o,) = Σ_rows dZ, dH_prev (n, i) = dZ · W unless NULL."""
    cdef Py_ssize_t r, j
    cdef const floating* row
    backward_products_k(dZ, H_prev, W, dW, dH_prev, n, i, o)
    for j in range(o):
        db[j] = 0
    for r in range(n):
        row = dZ + r * o
        for j in range(o):
            db[j] += row[j]


cdef double loss_forward_backward_k(int loss, const floating* Yhat, const floating* Y,
                                    const floating* sw, floating* dYhat, Py_ssize_t n,
                                    Py_ssize_t m) noexcept nogil:
    """L over Yhat, Y (n, m) with row weights sw (NULL: all 1), in double; ∂L/∂ŷ into dYhat unless
    NULL. For the cross-entropies Yhat holds logits. Definitions: fastmlp/losses.py."""
    cdef Py_ssize_t r, j
    cdef double total = 0.0, norm, w, z, y, d, a, g, top, lse, per_row, acc = 0.0
    cdef const floating* zr
    cdef const floating* yr
    cdef floating* gr
    if sw != NULL:
        for r in range(n):
            total += sw[r]
    else:
        total = n
    if total == 0.0:                           # a batch of zero-weight rows: loss 0, gradient 0
        total = 1.0
    norm = 1.0 if loss == SSE else (total if loss == CROSS_ENTROPY else total * m)
    for r in range(n):
        w = sw[r] if sw != NULL else 1.0
        zr = Yhat + r * m
        yr = Y + r * m
        gr = dYhat + r * m
        per_row = 0.0
        if loss == CROSS_ENTROPY:
            top = zr[0]
            for j in range(m):
                top = max(top, <double>zr[j])
            lse = 0.0
            for j in range(m):
                lse += exp(zr[j] - top)
            lse = top + log(lse)
            for j in range(m):
                per_row += yr[j] * (lse - zr[j])
                if dYhat != NULL:
                    gr[j] = <floating>((exp(zr[j] - lse) - yr[j]) * (w / norm))
        else:
            for j in range(m):
                z = zr[j]
                y = yr[j]
                d = z - y
                a = fabs(d)
                if loss == SSE or loss == MSE:
                    per_row += d * d
                    g = 2.0 * d
                elif loss == MAE:
                    per_row += a
                    g = (d > 0) - (d < 0)
                elif loss == HUBER:
                    per_row += 0.5 * d * d if a <= 1.0 else a - 0.5
                    g = min(1.0, max(-1.0, d))
                else:                                      # binary cross-entropy on logits
                    per_row += max(z, 0.0) + log1p(exp(-fabs(z))) - y * z
                    g = (1.0 / (1.0 + exp(-z)) if z >= 0 else exp(z) / (1.0 + exp(z))) - y
                if dYhat != NULL:
                    gr[j] = <floating>(g * (w / norm))
        acc += w * per_row
    return acc / norm


cdef void sgd_update_k(floating* theta, const floating* grad, floating lr, Py_ssize_t count) noexcept nogil:
    """θ -= lr · grad over `count` elements."""
    cdef Py_ssize_t k
    for k in range(count):
        theta[k] -= lr * grad[k]


cdef void _update_segment(floating* theta, const floating* grad, floating* s1, floating* s2,
                          Py_ssize_t count, int opt, const double* hyper, double bc1, double bc2,
                          bint regularize) noexcept nogil:
    # One pass over a weight or bias segment; momentum and Adam state live at the same offsets. Each
    # case is its own loop, with no branch inside, so that it vectorizes.
    cdef Py_ssize_t k
    cdef floating lr = <floating>hyper[LR], mu = <floating>hyper[MOMENTUM]
    cdef floating b1 = <floating>hyper[BETA1], b2 = <floating>hyper[BETA2], eps = <floating>hyper[EPS]
    cdef floating l2 = <floating>hyper[L2] if regularize else 0, l1 = <floating>hyper[L1] if regularize else 0
    cdef floating a1 = <floating>(hyper[LR] / bc1), c2 = <floating>(1.0 / bc2)
    cdef floating g, t, v
    if opt == ADAM:
        for k in range(count):
            t = theta[k]
            g = grad[k] + l2 * t + l1 * ((t > 0) - (t < 0))
            s1[k] = b1 * s1[k] + (1 - b1) * g
            s2[k] = b2 * s2[k] + (1 - b2) * g * g
            theta[k] = t - a1 * s1[k] / (sqrt(s2[k] * c2) + eps)
    elif mu > 0 and hyper[NESTEROV] != 0:
        for k in range(count):
            t = theta[k]
            g = grad[k] + l2 * t + l1 * ((t > 0) - (t < 0))
            v = mu * s1[k] + g
            s1[k] = v
            theta[k] = t - lr * (g + mu * v)
    elif mu > 0:
        for k in range(count):
            t = theta[k]
            g = grad[k] + l2 * t + l1 * ((t > 0) - (t < 0))
            v = mu * s1[k] + g
            s1[k] = v
            theta[k] = t - lr * v
    elif regularize:
        for k in range(count):
            t = theta[k]
            theta[k] = t - lr * (grad[k] + l2 * t + l1 * ((t > 0) - (t < 0)))
    else:
        sgd_update_k(theta, grad, lr, count)


cdef void optimizer_update_k(floating* theta, const floating* grad, const int64_t* sizes, Py_ssize_t L,
                             int opt, double* hyper, floating* state) noexcept nogil:
    """One step of SGD / momentum / Adam with L2 and L1 on the weights; hyper and state as in the
    kernel table (fastmlp/backends/numpy_ref.py)."""
    cdef Py_ssize_t l, off = 0, w_count, count = 0
    cdef double bc1 = 1.0, bc2 = 1.0
    cdef bint regularize = hyper[L2] != 0 or hyper[L1] != 0
    cdef floating* s2 = NULL
    for l in range(L):
        count += sizes[l + 1] * sizes[l] + sizes[l + 1]
    if opt == ADAM:
        hyper[T] += 1
        bc1 = 1.0 - pow(hyper[BETA1], hyper[T])
        bc2 = 1.0 - pow(hyper[BETA2], hyper[T])
        s2 = state + count
    for l in range(L):
        w_count = sizes[l + 1] * sizes[l]
        _update_segment(theta + off, grad + off, state + off if state != NULL else NULL,
                        s2 + off if s2 != NULL else NULL, w_count, opt, hyper, bc1, bc2, regularize)
        off += w_count
        _update_segment(theta + off, grad + off, state + off if state != NULL else NULL,
                        s2 + off if s2 != NULL else NULL, sizes[l + 1], opt, hyper, bc1, bc2, False)
        off += sizes[l + 1]


# ---- whole network -----------------------------------------------------------------------------------

cdef void forward_k(const floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                    const floating* X, Py_ssize_t n, floating* hbuf) noexcept nogil:
    """Every layer's output H_1 .. H_L, packed (n, sizes[l]) blocks, into hbuf."""
    cdef Py_ssize_t l, i, o
    cdef const floating* H = X
    cdef const floating* W = theta
    cdef floating* out = hbuf
    for l in range(L):
        i = sizes[l]
        o = sizes[l + 1]
        dense_forward_k(H, W, W + o * i, <int>acts[l], out, n, i, o)
        W += o * i + o
        H = out
        out += n * o


cdef void predict_k(const floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                    const floating* X, Py_ssize_t n, floating* out, floating* work,
                    Py_ssize_t chunk) noexcept nogil:
    """out (n, sizes[L]) = the network on X (n, sizes[0]), `chunk` rows at a time; hidden layers
    ping-pong between the two halves of work (2 · chunk · max hidden width)."""
    cdef Py_ssize_t start = 0, rows, l, i, o, half = 0
    cdef const floating* H
    cdef const floating* W
    cdef floating* dst
    for l in range(1, L):
        if sizes[l] > half:
            half = sizes[l]
    half *= chunk
    while start < n:
        rows = min(chunk, n - start)
        H = X + start * sizes[0]
        W = theta
        for l in range(L):
            i = sizes[l]
            o = sizes[l + 1]
            dst = out + start * o if l == L - 1 else work + (l % 2) * half
            dense_forward_k(H, W, W + o * i, <int>acts[l], dst, rows, i, o)
            W += o * i + o
            H = dst
        start += chunk


cdef double loss_and_grad_k(const floating* theta, const int64_t* sizes, const int64_t* acts,
                            Py_ssize_t L, int loss, const floating* X, const floating* Y,
                            const floating* sw, Py_ssize_t n, floating* hbuf, floating* dbuf,
                            floating* grad) noexcept nogil:
    """L(X, Y) and ∂L/∂θ into grad by backpropagation; hbuf and dbuf as in forward_k / the table."""
    cdef Py_ssize_t l, i, o, maxw = 0, p_off = 0, h_off = 0
    cdef double value
    cdef floating* dZ = dbuf
    cdef floating* dH
    cdef floating* swap
    cdef const floating* H_prev
    for l in range(L):
        p_off += sizes[l + 1] * sizes[l] + sizes[l + 1]
        h_off += n * sizes[l + 1]
        if sizes[l + 1] > maxw:
            maxw = sizes[l + 1]
    dH = dbuf + n * maxw
    forward_k(theta, sizes, acts, L, X, n, hbuf)
    o = sizes[L]
    h_off -= n * o                             # hbuf + h_off is now H_L = ŷ
    value = loss_forward_backward_k(loss, hbuf + h_off, Y, sw, dZ, n, o)
    activation_backward_k(<int>acts[L - 1], hbuf + h_off, dZ, dZ, n * o)
    for l in range(L - 1, -1, -1):
        i = sizes[l]
        o = sizes[l + 1]
        p_off -= o * i + o                     # theta + p_off is W_l
        if l > 0:
            h_off -= n * i                     # hbuf + h_off is H_l, the layer's input
            H_prev = hbuf + h_off
            dense_backward_k(dZ, H_prev, theta + p_off, grad + p_off, grad + p_off + o * i, dH, n, i, o)
            activation_backward_k(<int>acts[l - 1], H_prev, dH, dH, n * i)
            swap = dZ
            dZ = dH
            dH = swap
        else:                                  # the input needs no gradient
            dense_backward_k(dZ, X, theta + p_off, grad + p_off, grad + p_off + o * i,
                             <floating*>NULL, n, i, o)
    return value


cdef double train_step_k(floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                         int loss, const floating* X, const floating* Y, const floating* sw,
                         Py_ssize_t n, int opt, double* hyper, floating* state, floating* hbuf,
                         floating* dbuf, floating* grad) noexcept nogil:
    """One optimizer step on (X, Y); returns the loss before it. A non-finite loss or gradient updates
    nothing (the return value is then that loss, or NaN when only the gradient overflowed)."""
    cdef double value = loss_and_grad_k(theta, sizes, acts, L, loss, X, Y, sw, n, hbuf, dbuf, grad)
    cdef Py_ssize_t k, count = 0
    if not isfinite(value):
        return value
    for k in range(L):
        count += sizes[k + 1] * sizes[k] + sizes[k + 1]
    if not _all_finite_k(grad, count):
        return NAN
    optimizer_update_k(theta, grad, sizes, L, opt, hyper, state)
    return value


cdef void _gather(const floating* src, const int64_t* rows, Py_ssize_t count, Py_ssize_t width,
                  floating* dst) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(count):
        memcpy(dst + r * width, src + rows[r] * width, width * sizeof(floating))


cdef Py_ssize_t train_epoch_k(floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                              int loss, const floating* X, const floating* Y, const floating* sw,
                              Py_ssize_t n, const int64_t* perm, Py_ssize_t batch_size, int opt,
                              double* hyper, floating* state, floating* hbuf, floating* dbuf,
                              floating* grad, floating* xbuf, floating* ybuf, floating* wbuf,
                              double* batch_losses) noexcept nogil:
    """Minibatch training over X (n, sizes[0]), Y (n, sizes[L]) in the row order perm (NULL: in
    order); returns the batches done, stopping after a batch whose loss is not finite."""
    cdef Py_ssize_t start = 0, rows, k = 0
    cdef Py_ssize_t i = sizes[0], m = sizes[L]
    cdef const floating* xb
    cdef const floating* yb
    cdef const floating* wb
    while start < n:
        rows = min(batch_size, n - start)
        if perm != NULL:
            _gather(X, perm + start, rows, i, xbuf)
            _gather(Y, perm + start, rows, m, ybuf)
            xb = xbuf
            yb = ybuf
            wb = NULL
            if sw != NULL:
                _gather(sw, perm + start, rows, 1, wbuf)
                wb = wbuf
        else:
            xb = X + start * i
            yb = Y + start * m
            wb = sw + start if sw != NULL else NULL
        batch_losses[k] = train_step_k(theta, sizes, acts, L, loss, xb, yb, wb, rows, opt, hyper, state,
                                       hbuf, dbuf, grad)
        k += 1
        if not isfinite(batch_losses[k - 1]):
            break
        start += batch_size
    return k


# ---- Python-level entry points: check, then run without the GIL ----------------------------------------
# Each entry point checks its arguments, then calls a fused `_run_*` helper once with a dummy scalar of
# the data's type, so the float and double paths share one body.

cdef int _typenum(cnp.ndarray a, str name) except -1:
    cdef int t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    return t


cdef int _check(cnp.ndarray a, int typenum, Py_ssize_t need, str name, bint write=False) except -1:
    """a has dtype `typenum`, is C-contiguous (writeable if `write`) and holds at least `need` elements."""
    if cnp.PyArray_TYPE(a) != typenum:
        raise TypeError(f"{name} has dtype {a.dtype}, expected {cnp.PyArray_DescrFromType(typenum)}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name} must be C-contiguous")
    if write and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{name} must be writeable")
    if cnp.PyArray_SIZE(a) < need:
        raise ValueError(f"{name} holds {cnp.PyArray_SIZE(a)} elements, needs {need}")
    return 0


cdef int _check_2d(cnp.ndarray a, int typenum, Py_ssize_t rows, Py_ssize_t cols, str name,
                   bint write=False) except -1:
    if cnp.PyArray_NDIM(a) != 2 or a.shape[0] != rows or a.shape[1] != cols:
        raise ValueError(f"{name} must have shape ({rows}, {cols}), got {(<object>a).shape}")
    return _check(a, typenum, 0, name, write)


cdef int _check_dim(Py_ssize_t d, str name) except -1:
    if d <= 0 or d > BLAS_INT_MAX:
        raise ValueError(f"{name} must be between 1 and {BLAS_INT_MAX}, got {d}")
    return 0


cdef int _check_act(long act, bint training=False) except -1:
    if act < 0 or act >= N_ACTIVATIONS:
        raise ValueError(f"unknown activation id {act}")
    if training and act == SOFTMAX:
        raise ValueError("softmax has no elementwise derivative: train with the cross_entropy loss on logits")
    return 0


cdef int _check_loss(long loss) except -1:
    if loss < 0 or loss >= N_LOSSES:
        raise ValueError(f"unknown loss id {loss}")
    return 0


cdef int _check_optimizer(_Net net, long opt, cnp.ndarray hyper, cnp.ndarray state, int t) except -1:
    if opt != SGD and opt != ADAM:
        raise ValueError(f"unknown optimizer id {opt}")
    if cnp.PyArray_SIZE(hyper) != N_HYPER:
        raise ValueError(f"hyper must hold {N_HYPER} float64 values")
    _check(hyper, cnp.NPY_FLOAT64, N_HYPER, "hyper", True)
    cdef const double* h = <const double*>cnp.PyArray_DATA(hyper)
    cdef Py_ssize_t need = 2 * net.n_params if opt == ADAM else (net.n_params if h[MOMENTUM] > 0 else 0)
    return _check(state, t, need, "state", True)


cdef void* _opt_ptr(cnp.ndarray a):
    """The data of `a`, or NULL for an empty array (an absent sample weight, perm or state)."""
    return cnp.PyArray_DATA(a) if cnp.PyArray_SIZE(a) else NULL


cdef class _Net:
    """The checked description of a network: layer count, θ length and workspace sizes."""
    cdef Py_ssize_t L, n_params, sum_out, max_out, max_hidden
    cdef const int64_t* sizes
    cdef const int64_t* acts


cdef _Net _net(cnp.ndarray sizes, cnp.ndarray acts, bint training=False):
    cdef _Net net = _Net.__new__(_Net)
    cdef Py_ssize_t l, s
    if cnp.PyArray_NDIM(sizes) != 1 or cnp.PyArray_SIZE(sizes) < 2:
        raise ValueError("sizes must be a 1-D array of at least 2 layer sizes")
    _check(sizes, cnp.NPY_INT64, 0, "sizes")
    net.L = cnp.PyArray_SIZE(sizes) - 1
    if cnp.PyArray_NDIM(acts) != 1 or cnp.PyArray_SIZE(acts) != net.L:
        raise ValueError(f"acts must be a 1-D array of {net.L} activation ids")
    _check(acts, cnp.NPY_INT64, 0, "acts")
    net.sizes = <const int64_t*>cnp.PyArray_DATA(sizes)
    net.acts = <const int64_t*>cnp.PyArray_DATA(acts)
    net.n_params = net.sum_out = net.max_out = net.max_hidden = 0
    for l in range(net.L + 1):
        _check_dim(net.sizes[l], "a layer size")
    for l in range(net.L):
        _check_act(net.acts[l], training or l < net.L - 1)
        s = net.sizes[l + 1]
        net.n_params += s * net.sizes[l] + s
        net.sum_out += s
        net.max_out = max(net.max_out, s)
        if l < net.L - 1:
            net.max_hidden = max(net.max_hidden, s)
    return net


cdef int _check_theta(_Net net, cnp.ndarray theta, bint write=False) except -1:
    if cnp.PyArray_SIZE(theta) != net.n_params:
        raise ValueError(f"theta has {cnp.PyArray_SIZE(theta)} elements, the layer sizes need {net.n_params}")
    return _check(theta, _typenum(theta, "theta"), net.n_params, "theta", write)


cdef Py_ssize_t _check_xy(_Net net, int t, cnp.ndarray X, cnp.ndarray Y, cnp.ndarray sw) except -1:
    if cnp.PyArray_NDIM(X) != 2:
        raise ValueError("X must be 2-D")
    cdef Py_ssize_t n = X.shape[0]
    _check_dim(n, "rows of X")
    _check_2d(X, t, n, net.sizes[0], "X")
    if Y is not None:
        _check_2d(Y, t, n, net.sizes[net.L], "Y")
    if sw is not None and cnp.PyArray_SIZE(sw):
        if cnp.PyArray_NDIM(sw) != 1 or cnp.PyArray_SIZE(sw) != n:
            raise ValueError(f"sw must be empty or hold one weight per row ({n})")
        _check(sw, t, n, "sw")
    return n


cdef int _check_train(_Net net, int t, Py_ssize_t rows, cnp.ndarray hbuf, cnp.ndarray dbuf,
                      cnp.ndarray grad) except -1:
    _check(hbuf, t, rows * net.sum_out, "hbuf", True)
    _check(dbuf, t, 2 * rows * net.max_out, "dbuf", True)
    if cnp.PyArray_SIZE(grad) != net.n_params:
        raise ValueError(f"grad has {cnp.PyArray_SIZE(grad)} elements, expected {net.n_params}")
    return _check(grad, t, net.n_params, "grad", True)


cdef inline bint _all_finite_k(const floating* a, Py_ssize_t count) noexcept nogil:
    if floating is float:
        return fm_all_finite_f(a, count)
    else:
        return fm_all_finite_d(a, count)


cdef bint _finite(cnp.ndarray a) noexcept:
    """No NaN or Inf in the C-contiguous float32/float64 array a."""
    cdef Py_ssize_t count = cnp.PyArray_SIZE(a)
    cdef bint ok
    with nogil:
        if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
            ok = fm_all_finite_f(<const float*>cnp.PyArray_DATA(a), count)
        else:
            ok = fm_all_finite_d(<const double*>cnp.PyArray_DATA(a), count)
    return ok


def all_finite(cnp.ndarray a):
    """True when no element of the float array `a` is NaN or ±Inf (any layout)."""
    _typenum(a, "a")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        a = cnp.PyArray_GETCONTIGUOUS(a)
    return _finite(a)


def batch_ready(A, int typenum, Py_ssize_t columns):
    """True when A is a C-contiguous 2-D ndarray of dtype number `typenum` (float32 or float64) with
    `columns` columns, at least one row, and no NaN or Inf: the case the Python boundary can pass on
    untouched. False means 'take the slow path', which converts or names the problem."""
    if type(A) is not cnp.ndarray:
        return False
    cdef cnp.ndarray a = <cnp.ndarray>A
    if ((typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64) or cnp.PyArray_TYPE(a) != typenum
            or cnp.PyArray_NDIM(a) != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or a.shape[1] != columns or a.shape[0] < 1):
        return False
    return _finite(a)


cdef void _run_dense_forward(floating kind, cnp.ndarray X, cnp.ndarray W, cnp.ndarray b, int act,
                             cnp.ndarray H):
    cdef Py_ssize_t n = X.shape[0], i = X.shape[1], o = W.shape[0]
    cdef const floating* x = <floating*>cnp.PyArray_DATA(X)
    cdef const floating* w = <floating*>cnp.PyArray_DATA(W)
    cdef const floating* bb = <floating*>cnp.PyArray_DATA(b)
    cdef floating* h = <floating*>cnp.PyArray_DATA(H)
    with nogil:
        dense_forward_k(x, w, bb, act, h, n, i, o)


def dense_forward(cnp.ndarray X, cnp.ndarray W, cnp.ndarray b, long act, cnp.ndarray H):
    """H = g(X Wᵀ + b). X: (n, i), W: (o, i), b: (o,), H: (n, o) written."""
    cdef int t = _typenum(X, "X")
    _check_act(act)
    if cnp.PyArray_NDIM(X) != 2 or cnp.PyArray_NDIM(W) != 2:
        raise ValueError("X and W must be 2-D")
    cdef Py_ssize_t n = X.shape[0], i = X.shape[1], o = W.shape[0]
    _check_dim(n, "rows")
    _check_dim(i, "inputs")
    _check_dim(o, "outputs")
    _check_2d(X, t, n, i, "X")
    _check_2d(W, t, o, i, "W")
    _check(b, t, o, "b")
    _check_2d(H, t, n, o, "H", True)
    if t == cnp.NPY_FLOAT32:
        _run_dense_forward(<float>0, X, W, b, act, H)
    else:
        _run_dense_forward(<double>0, X, W, b, act, H)


cdef void _run_activation_backward(floating kind, int act, cnp.ndarray H, cnp.ndarray dH,
                                   cnp.ndarray dZ):
    cdef Py_ssize_t count = cnp.PyArray_SIZE(H)
    cdef const floating* h = <floating*>cnp.PyArray_DATA(H)
    cdef const floating* dh = <floating*>cnp.PyArray_DATA(dH)
    cdef floating* dz = <floating*>cnp.PyArray_DATA(dZ)
    with nogil:
        activation_backward_k(act, h, dh, dz, count)


def activation_backward(long act, cnp.ndarray H, cnp.ndarray dH, cnp.ndarray dZ):
    """dZ = g'(z) ⊙ dH with g' read from H = g(z). All the same shape; dZ may be dH."""
    cdef int t = _typenum(H, "H")
    _check_act(act, True)
    cdef Py_ssize_t count = cnp.PyArray_SIZE(H)
    if cnp.PyArray_SIZE(dH) != count or cnp.PyArray_SIZE(dZ) != count:
        raise ValueError("H, dH and dZ must have the same size")
    _check(H, t, count, "H")
    _check(dH, t, count, "dH")
    _check(dZ, t, count, "dZ", True)
    if t == cnp.NPY_FLOAT32:
        _run_activation_backward(<float>0, act, H, dH, dZ)
    else:
        _run_activation_backward(<double>0, act, H, dH, dZ)


cdef void _run_dense_backward(floating kind, cnp.ndarray dZ, cnp.ndarray H_prev, cnp.ndarray W,
                              cnp.ndarray dW, cnp.ndarray db, void* dH_prev):
    cdef Py_ssize_t n = dZ.shape[0], o = dZ.shape[1], i = W.shape[1]
    cdef const floating* dz = <floating*>cnp.PyArray_DATA(dZ)
    cdef const floating* hp = <floating*>cnp.PyArray_DATA(H_prev)
    cdef const floating* w = <floating*>cnp.PyArray_DATA(W)
    cdef floating* dw = <floating*>cnp.PyArray_DATA(dW)
    cdef floating* dbb = <floating*>cnp.PyArray_DATA(db)
    with nogil:
        dense_backward_k(dz, hp, w, dw, dbb, <floating*>dH_prev, n, i, o)


def dense_backward(cnp.ndarray dZ, cnp.ndarray H_prev, cnp.ndarray W, cnp.ndarray dW, cnp.ndarray db,
                   dH_prev):
    """dW = dZᵀ H_prev, db = Σ_rows dZ, dH_prev = dZ W (skipped when None).
    dZ: (n, o), H_prev: (n, i), W: (o, i), dW: (o, i), db: (o,), dH_prev: (n, i)."""
    cdef int t = _typenum(dZ, "dZ")
    if cnp.PyArray_NDIM(dZ) != 2 or cnp.PyArray_NDIM(W) != 2:
        raise ValueError("dZ and W must be 2-D")
    cdef Py_ssize_t n = dZ.shape[0], o = dZ.shape[1], i = W.shape[1]
    _check_dim(n, "rows")
    _check_dim(i, "inputs")
    _check_dim(o, "outputs")
    _check_2d(dZ, t, n, o, "dZ")
    _check_2d(H_prev, t, n, i, "H_prev")
    _check_2d(W, t, o, i, "W")
    _check_2d(dW, t, o, i, "dW", True)
    _check(db, t, o, "db", True)
    cdef void* dH_ptr = NULL
    if dH_prev is not None:
        _check_2d(dH_prev, t, n, i, "dH_prev", True)
        dH_ptr = cnp.PyArray_DATA(dH_prev)
    if t == cnp.NPY_FLOAT32:
        _run_dense_backward(<float>0, dZ, H_prev, W, dW, db, dH_ptr)
    else:
        _run_dense_backward(<double>0, dZ, H_prev, W, dW, db, dH_ptr)


cdef double _run_loss(floating kind, int loss, cnp.ndarray Yhat, cnp.ndarray Y, cnp.ndarray sw,
                      void* dYhat):
    cdef Py_ssize_t n = Yhat.shape[0], m = Yhat.shape[1]
    cdef const floating* yh = <floating*>cnp.PyArray_DATA(Yhat)
    cdef const floating* y = <floating*>cnp.PyArray_DATA(Y)
    cdef const floating* w = <floating*>_opt_ptr(sw)
    cdef double value
    with nogil:
        value = loss_forward_backward_k(loss, yh, y, w, <floating*>dYhat, n, m)
    return value


def loss_forward_backward(long loss, cnp.ndarray Yhat, cnp.ndarray Y, cnp.ndarray sw, dYhat):
    """L(ŷ, y) as a float; ∂L/∂ŷ into dYhat unless it is None. Yhat, Y, dYhat: (n, m); sw: (n,) or
    empty."""
    cdef int t = _typenum(Yhat, "Yhat")
    _check_loss(loss)
    if cnp.PyArray_NDIM(Yhat) != 2:
        raise ValueError("Yhat must be 2-D")
    cdef Py_ssize_t n = Yhat.shape[0], m = Yhat.shape[1]
    _check_dim(n, "rows")
    _check_dim(m, "outputs")
    _check_2d(Yhat, t, n, m, "Yhat")
    _check_2d(Y, t, n, m, "Y")
    if cnp.PyArray_SIZE(sw):
        if cnp.PyArray_NDIM(sw) != 1 or cnp.PyArray_SIZE(sw) != n:
            raise ValueError(f"sw must be empty or hold one weight per row ({n})")
        _check(sw, t, n, "sw")
    cdef void* d_ptr = NULL
    if dYhat is not None:
        _check_2d(dYhat, t, n, m, "dYhat", True)
        d_ptr = cnp.PyArray_DATA(dYhat)
    if t == cnp.NPY_FLOAT32:
        return _run_loss(<float>0, loss, Yhat, Y, sw, d_ptr)
    return _run_loss(<double>0, loss, Yhat, Y, sw, d_ptr)


def sgd_update(cnp.ndarray theta, cnp.ndarray grad, double lr):
    """θ -= lr · grad, in place. theta, grad: (n_params,)."""
    cdef int t = _typenum(theta, "theta")
    cdef Py_ssize_t count = cnp.PyArray_SIZE(theta)
    if cnp.PyArray_SIZE(grad) != count:
        raise ValueError("theta and grad must have the same size")
    _check(theta, t, count, "theta", True)
    _check(grad, t, count, "grad")
    with nogil:
        if t == cnp.NPY_FLOAT32:
            sgd_update_k(<float*>cnp.PyArray_DATA(theta), <float*>cnp.PyArray_DATA(grad), <float>lr, count)
        else:
            sgd_update_k(<double*>cnp.PyArray_DATA(theta), <double*>cnp.PyArray_DATA(grad), lr, count)


cdef void _run_optimizer(floating kind, _Net net, cnp.ndarray theta, cnp.ndarray grad, int opt,
                         cnp.ndarray hyper, cnp.ndarray state):
    cdef floating* th = <floating*>cnp.PyArray_DATA(theta)
    cdef const floating* g = <floating*>cnp.PyArray_DATA(grad)
    cdef double* h = <double*>cnp.PyArray_DATA(hyper)
    cdef floating* s = <floating*>_opt_ptr(state)
    with nogil:
        optimizer_update_k(th, g, net.sizes, net.L, opt, h, s)


def optimizer_update(cnp.ndarray theta, cnp.ndarray grad, cnp.ndarray sizes, long opt, cnp.ndarray hyper,
                     cnp.ndarray state):
    """One optimizer step on θ from ∂L/∂θ; see the kernel table in fastmlp/backends/numpy_ref.py."""
    cdef _Net net = _net(sizes, np_zeros_acts(cnp.PyArray_SIZE(sizes) - 1))
    _check_theta(net, theta, True)
    cdef int t = cnp.PyArray_TYPE(theta)
    _check(grad, t, net.n_params, "grad")
    _check_optimizer(net, opt, hyper, state, t)
    if t == cnp.NPY_FLOAT32:
        _run_optimizer(<float>0, net, theta, grad, opt, hyper, state)
    else:
        _run_optimizer(<double>0, net, theta, grad, opt, hyper, state)


cdef cnp.ndarray np_zeros_acts(Py_ssize_t L):
    cdef cnp.npy_intp dims = max(L, 0)
    return cnp.PyArray_ZEROS(1, &dims, cnp.NPY_INT64, 0)


cdef void _run_forward(floating kind, _Net net, cnp.ndarray theta, cnp.ndarray X, cnp.ndarray hbuf):
    cdef const floating* th = <floating*>cnp.PyArray_DATA(theta)
    cdef const floating* x = <floating*>cnp.PyArray_DATA(X)
    cdef floating* hb = <floating*>cnp.PyArray_DATA(hbuf)
    cdef Py_ssize_t n = X.shape[0]
    with nogil:
        forward_k(th, net.sizes, net.acts, net.L, x, n, hb)


def forward(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, cnp.ndarray X, cnp.ndarray hbuf):
    """Every layer's output H_1 .. H_L into hbuf. X: (n, sizes[0])."""
    cdef _Net net = _net(sizes, acts)
    _check_theta(net, theta)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, None, None)
    _check(hbuf, t, n * net.sum_out, "hbuf", True)
    if t == cnp.NPY_FLOAT32:
        _run_forward(<float>0, net, theta, X, hbuf)
    else:
        _run_forward(<double>0, net, theta, X, hbuf)


cdef void _run_predict(floating kind, _Net net, cnp.ndarray theta, cnp.ndarray X, cnp.ndarray out,
                       cnp.ndarray work, Py_ssize_t chunk):
    cdef const floating* th = <floating*>cnp.PyArray_DATA(theta)
    cdef const floating* x = <floating*>cnp.PyArray_DATA(X)
    cdef floating* o = <floating*>cnp.PyArray_DATA(out)
    cdef floating* w = <floating*>cnp.PyArray_DATA(work)
    cdef Py_ssize_t n = X.shape[0]
    with nogil:
        predict_k(th, net.sizes, net.acts, net.L, x, n, o, w, chunk)


def predict(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, cnp.ndarray X, cnp.ndarray out,
            cnp.ndarray work, Py_ssize_t chunk):
    """out (n, sizes[-1]) = the network on X (n, sizes[0]), `chunk` rows at a time."""
    cdef _Net net = _net(sizes, acts)
    _check_theta(net, theta)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, None, None)
    _check_dim(chunk, "chunk")
    _check_2d(out, t, n, net.sizes[net.L], "out", True)
    _check(work, t, 2 * chunk * net.max_hidden, "work", True)
    if t == cnp.NPY_FLOAT32:
        _run_predict(<float>0, net, theta, X, out, work, chunk)
    else:
        _run_predict(<double>0, net, theta, X, out, work, chunk)


cdef double _run_loss_and_grad(floating kind, _Net net, cnp.ndarray theta, int loss, cnp.ndarray X,
                               cnp.ndarray Y, cnp.ndarray sw, cnp.ndarray hbuf, cnp.ndarray dbuf,
                               cnp.ndarray grad, int opt, object hyper, object state):
    # opt < 0: gradient only; otherwise one optimizer step too (train_step)
    cdef floating* th = <floating*>cnp.PyArray_DATA(theta)
    cdef const floating* x = <floating*>cnp.PyArray_DATA(X)
    cdef const floating* y = <floating*>cnp.PyArray_DATA(Y)
    cdef const floating* w = <floating*>_opt_ptr(sw)
    cdef floating* hb = <floating*>cnp.PyArray_DATA(hbuf)
    cdef floating* db = <floating*>cnp.PyArray_DATA(dbuf)
    cdef floating* g = <floating*>cnp.PyArray_DATA(grad)
    cdef double* h = NULL
    cdef floating* s = NULL
    cdef Py_ssize_t n = X.shape[0]
    cdef double value
    if opt >= 0:
        h = <double*>cnp.PyArray_DATA(<cnp.ndarray>hyper)
        s = <floating*>_opt_ptr(<cnp.ndarray>state)
    with nogil:
        if opt < 0:
            value = loss_and_grad_k(th, net.sizes, net.acts, net.L, loss, x, y, w, n, hb, db, g)
        else:
            value = train_step_k(th, net.sizes, net.acts, net.L, loss, x, y, w, n, opt, h, s, hb, db, g)
    return value


cdef void step_matmuls_k(const floating* theta, const int64_t* sizes, Py_ssize_t L, const floating* X,
                         Py_ssize_t n, floating* hbuf, floating* dbuf, floating* grad) noexcept nogil:
    """The matrix products of loss_and_grad_k alone, the same BLAS calls on the same shapes: the floor of a
    training step (the benchmark's reference). dbuf's contents stand in for ∂L/∂Z."""
    cdef Py_ssize_t l, i, o, maxw = 0, p_off = 0, h_off = 0
    cdef const floating* H = X
    cdef floating* dZ = dbuf
    cdef floating* dH
    for l in range(L):
        i = sizes[l]
        o = sizes[l + 1]
        forward_product_k(H, theta + p_off, hbuf + h_off, n, i, o)
        H = hbuf + h_off
        p_off += o * i + o
        h_off += n * o
        maxw = max(maxw, o)
    dH = dbuf + n * maxw
    h_off -= n * sizes[L]
    for l in range(L - 1, -1, -1):
        i = sizes[l]
        o = sizes[l + 1]
        p_off -= o * i + o
        if l > 0:
            h_off -= n * i
            H = hbuf + h_off
        else:
            H = X
        backward_products_k(dZ, H, theta + p_off, grad + p_off, dH if l > 0 else <floating*>NULL, n, i, o)


def step_matmuls(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray X, cnp.ndarray hbuf, cnp.ndarray dbuf,
                 cnp.ndarray grad):
    """Only the BLAS calls of one training step on X (bench's floor: fastmlp.bench); buffers as for
    loss_and_grad, their contents overwritten with meaningless values."""
    cdef cnp.ndarray acts = np_zeros_acts(cnp.PyArray_SIZE(sizes) - 1)  # identity: any id would do
    cdef _Net net = _net(sizes, acts, True)
    _check_theta(net, theta)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, None, None)
    _check_train(net, t, n, hbuf, dbuf, grad)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            step_matmuls_k(<const float*>cnp.PyArray_DATA(theta), net.sizes, net.L,
                           <const float*>cnp.PyArray_DATA(X), n, <float*>cnp.PyArray_DATA(hbuf),
                           <float*>cnp.PyArray_DATA(dbuf), <float*>cnp.PyArray_DATA(grad))
        else:
            step_matmuls_k(<const double*>cnp.PyArray_DATA(theta), net.sizes, net.L,
                           <const double*>cnp.PyArray_DATA(X), n, <double*>cnp.PyArray_DATA(hbuf),
                           <double*>cnp.PyArray_DATA(dbuf), <double*>cnp.PyArray_DATA(grad))


def loss_and_grad(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, long loss, cnp.ndarray X,
                  cnp.ndarray Y, cnp.ndarray sw, cnp.ndarray hbuf, cnp.ndarray dbuf, cnp.ndarray grad):
    """L(X, Y) and ∂L/∂θ into grad (θ's layout), by backpropagation."""
    cdef _Net net = _net(sizes, acts, True)
    _check_loss(loss)
    _check_theta(net, theta)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, Y, sw)
    _check_train(net, t, n, hbuf, dbuf, grad)
    if t == cnp.NPY_FLOAT32:
        return _run_loss_and_grad(<float>0, net, theta, loss, X, Y, sw, hbuf, dbuf, grad, -1, None, None)
    return _run_loss_and_grad(<double>0, net, theta, loss, X, Y, sw, hbuf, dbuf, grad, -1, None, None)


def train_step(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, long loss, cnp.ndarray X,
               cnp.ndarray Y, cnp.ndarray sw, long opt, cnp.ndarray hyper, cnp.ndarray state,
               cnp.ndarray hbuf, cnp.ndarray dbuf, cnp.ndarray grad):
    """One optimizer step on (X, Y); returns the loss before it (no step when it is not finite)."""
    cdef _Net net = _net(sizes, acts, True)
    _check_loss(loss)
    _check_theta(net, theta, True)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, Y, sw)
    _check_train(net, t, n, hbuf, dbuf, grad)
    _check_optimizer(net, opt, hyper, state, t)
    if t == cnp.NPY_FLOAT32:
        return _run_loss_and_grad(<float>0, net, theta, loss, X, Y, sw, hbuf, dbuf, grad, opt, hyper, state)
    return _run_loss_and_grad(<double>0, net, theta, loss, X, Y, sw, hbuf, dbuf, grad, opt, hyper, state)


cdef Py_ssize_t _run_epoch(floating kind, _Net net, cnp.ndarray theta, int loss, cnp.ndarray X,
                           cnp.ndarray Y, cnp.ndarray sw, cnp.ndarray perm, Py_ssize_t batch_size,
                           int opt, cnp.ndarray hyper, cnp.ndarray state, cnp.ndarray hbuf,
                           cnp.ndarray dbuf, cnp.ndarray grad, cnp.ndarray xbuf, cnp.ndarray ybuf,
                           cnp.ndarray wbuf, cnp.ndarray batch_losses):
    cdef floating* th = <floating*>cnp.PyArray_DATA(theta)
    cdef const floating* x = <floating*>cnp.PyArray_DATA(X)
    cdef const floating* y = <floating*>cnp.PyArray_DATA(Y)
    cdef const floating* w = <floating*>_opt_ptr(sw)
    cdef const int64_t* p = <int64_t*>_opt_ptr(perm)
    cdef double* h = <double*>cnp.PyArray_DATA(hyper)
    cdef floating* s = <floating*>_opt_ptr(state)
    cdef floating* hb = <floating*>cnp.PyArray_DATA(hbuf)
    cdef floating* db = <floating*>cnp.PyArray_DATA(dbuf)
    cdef floating* g = <floating*>cnp.PyArray_DATA(grad)
    cdef floating* xb = <floating*>cnp.PyArray_DATA(xbuf)
    cdef floating* yb = <floating*>cnp.PyArray_DATA(ybuf)
    cdef floating* wb = <floating*>cnp.PyArray_DATA(wbuf)
    cdef double* bl = <double*>cnp.PyArray_DATA(batch_losses)
    cdef Py_ssize_t n = X.shape[0], done
    with nogil:
        done = train_epoch_k(th, net.sizes, net.acts, net.L, loss, x, y, w, n, p, batch_size, opt, h, s,
                             hb, db, g, xb, yb, wb, bl)
    return done


def train_epoch(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, long loss, cnp.ndarray X,
                cnp.ndarray Y, cnp.ndarray sw, cnp.ndarray perm, Py_ssize_t batch_size, long opt,
                cnp.ndarray hyper, cnp.ndarray state, cnp.ndarray hbuf, cnp.ndarray dbuf, cnp.ndarray grad,
                cnp.ndarray xbuf, cnp.ndarray ybuf, cnp.ndarray wbuf, cnp.ndarray batch_losses):
    """Minibatch training over all rows of (X, Y) in the order perm (empty: in order); batch k's loss
    into batch_losses[k]. Returns the batches done (it stops after a non-finite loss)."""
    cdef _Net net = _net(sizes, acts, True)
    _check_loss(loss)
    _check_theta(net, theta, True)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, Y, sw)
    cdef Py_ssize_t k, p, n_perm = cnp.PyArray_SIZE(perm)
    _check_dim(batch_size, "batch_size")
    batch_size = min(batch_size, n)
    _check_train(net, t, batch_size, hbuf, dbuf, grad)
    _check_optimizer(net, opt, hyper, state, t)
    _check(batch_losses, cnp.NPY_FLOAT64, (n + batch_size - 1) // batch_size, "batch_losses", True)
    cdef const int64_t* perm_ptr
    if n_perm:
        if n_perm != n:
            raise ValueError(f"perm has {n_perm} entries for {n} rows")
        _check(perm, cnp.NPY_INT64, n, "perm")
        perm_ptr = <const int64_t*>cnp.PyArray_DATA(perm)
        for k in range(n):
            p = perm_ptr[k]
            if p < 0 or p >= n:
                raise ValueError(f"perm[{k}] = {p} is not a row index below {n}")
        _check(xbuf, t, batch_size * net.sizes[0], "xbuf", True)
        _check(ybuf, t, batch_size * net.sizes[net.L], "ybuf", True)
        if cnp.PyArray_SIZE(sw):
            _check(wbuf, t, batch_size, "wbuf", True)
    if t == cnp.NPY_FLOAT32:
        return _run_epoch(<float>0, net, theta, loss, X, Y, sw, perm, batch_size, opt, hyper, state, hbuf,
                          dbuf, grad, xbuf, ybuf, wbuf, batch_losses)
    return _run_epoch(<double>0, net, theta, loss, X, Y, sw, perm, batch_size, opt, hyper, state, hbuf,
                      dbuf, grad, xbuf, ybuf, wbuf, batch_losses)



cdef class Predictor:
    """predict() for one model in one call, its fixed arguments checked once.

    Predictor(theta, sizes, acts, work, chunk) keeps references to theta, sizes, acts and work (writes into
    theta take effect). predictor(X, out) returns out, or None when X is not a finite C-contiguous
    (n, sizes[0]) array of θ's dtype or out is neither None (then allocated here) nor a writeable
    C-contiguous (n, sizes[-1]) array of that dtype: the caller then converts or names the problem.
    """
    cdef _Net net
    cdef cnp.ndarray theta, sizes, acts, work
    cdef Py_ssize_t chunk
    cdef int t

    def __init__(self, cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, cnp.ndarray work,
                 Py_ssize_t chunk):
        self.net = _net(sizes, acts)
        _check_theta(self.net, theta)
        self.t = cnp.PyArray_TYPE(theta)
        _check_dim(chunk, "chunk")
        _check(work, self.t, 2 * chunk * self.net.max_hidden, "work", True)
        self.theta, self.sizes, self.acts, self.work, self.chunk = theta, sizes, acts, work, chunk

    def __call__(self, X, out):
        cdef int t = self.t
        cdef _Net net = self.net
        if not batch_ready(X, t, net.sizes[0]):
            return None
        cdef cnp.ndarray x = <cnp.ndarray>X
        cdef Py_ssize_t n = x.shape[0]
        cdef cnp.npy_intp dims[2]
        if out is None:
            dims[0] = n
            dims[1] = net.sizes[net.L]
            out = cnp.PyArray_EMPTY(2, dims, t, 0)
        elif (type(out) is not cnp.ndarray or cnp.PyArray_TYPE(<cnp.ndarray>out) != t
              or cnp.PyArray_NDIM(<cnp.ndarray>out) != 2 or (<cnp.ndarray>out).shape[0] != n
              or (<cnp.ndarray>out).shape[1] != net.sizes[net.L]
              or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>out)
              or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)):
            return None
        cdef cnp.ndarray o = <cnp.ndarray>out
        if t == cnp.NPY_FLOAT32:
            _run_predict(<float>0, net, self.theta, x, o, self.work, self.chunk)
        else:
            _run_predict(<double>0, net, self.theta, x, o, self.work, self.chunk)
        return o
