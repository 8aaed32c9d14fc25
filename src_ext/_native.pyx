# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The Cython backend: fastmlp's kernel table on raw pointers, matmuls through scipy's BLAS.

The `*_k` functions (declared in _native.pxd) are `noexcept nogil` and trust their sizes. The Python-level
functions below check dtypes, contiguity and sizes in O(layers) time, then release the GIL and call them.
The kernel table and the workspace layout are documented in fastmlp/backends/numpy_ref.py.
"""
from libc.stdint cimport int64_t
from libc.string cimport memcpy
from cython cimport floating
cimport numpy as cnp
from scipy.linalg.cython_blas cimport sgemm, dgemm

cnp.import_array()

cdef extern from "fastmlp_act.h" nogil:
    void fm_bias_act_f(int act, float* Z, const float* b, Py_ssize_t rows, Py_ssize_t cols)
    void fm_bias_act_d(int act, double* Z, const double* b, Py_ssize_t rows, Py_ssize_t cols)
    void fm_act_backward_f(int act, const float* H, const float* dH, float* dZ, Py_ssize_t n)
    void fm_act_backward_d(int act, const double* H, const double* dH, double* dZ, Py_ssize_t n)

cdef int N_ACTIVATIONS = 5
cdef int N_LOSSES = 2
cdef int MSE = 1
cdef Py_ssize_t BLAS_INT_MAX = 2147483647


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

cdef void dense_forward_k(const floating* X, const floating* W, const floating* b, int act, floating* H,
                          Py_ssize_t n, Py_ssize_t i, Py_ssize_t o) noexcept nogil:
    """H (n, o) = g(X (n, i) · Wᵀ (i, o) + b (o,)); bias and activation fused in one pass over H."""
    _gemm(b"T", b"N", <int>o, <int>n, <int>i, W, <int>i, X, <int>i, <floating>0, H, <int>o)
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


cdef void dense_backward_k(const floating* dZ, const floating* H_prev, const floating* W, floating* dW,
                           floating* db, floating* dH_prev, Py_ssize_t n, Py_ssize_t i,
                           Py_ssize_t o) noexcept nogil:
    """dW (o, i) = dZᵀ · H_prev, db (o,) = Σ_rows dZ, dH_prev (n, i) = dZ · W unless NULL."""
    cdef Py_ssize_t r, j
    cdef const floating* row
    _gemm(b"N", b"T", <int>i, <int>o, <int>n, H_prev, <int>i, dZ, <int>o, <floating>0, dW, <int>i)
    for j in range(o):
        db[j] = 0
    for r in range(n):
        row = dZ + r * o
        for j in range(o):
            db[j] += row[j]
    if dH_prev != NULL:
        _gemm(b"N", b"N", <int>i, <int>n, <int>o, W, <int>i, dZ, <int>o, <floating>0, dH_prev, <int>i)


cdef double loss_forward_backward_k(int loss, const floating* Yhat, const floating* Y, floating* dYhat,
                                    Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """L over Yhat, Y (n, m), accumulated in double; ∂L/∂ŷ into dYhat unless NULL."""
    cdef Py_ssize_t k, count = n * m
    cdef double scale = 1.0 / count if loss == MSE else 1.0
    cdef floating g = <floating>(2.0 * scale)
    cdef floating r
    cdef double acc = 0.0
    if dYhat != NULL:
        for k in range(count):
            r = Yhat[k] - Y[k]
            acc += <double>r * <double>r
            dYhat[k] = r * g
    else:
        for k in range(count):
            r = Yhat[k] - Y[k]
            acc += <double>r * <double>r
    return acc * scale


cdef void sgd_update_k(floating* theta, const floating* grad, floating lr, Py_ssize_t count) noexcept nogil:
    """θ -= lr · grad over `count` elements."""
    cdef Py_ssize_t k
    for k in range(count):
        theta[k] -= lr * grad[k]


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
    cdef Py_ssize_t start, rows, l, i, o, half = 0
    cdef const floating* H
    cdef const floating* W
    cdef floating* dst
    for l in range(1, L):
        if sizes[l] > half:
            half = sizes[l]
    half *= chunk
    start = 0
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
                            Py_ssize_t L, int loss, const floating* X, const floating* Y, Py_ssize_t n,
                            floating* hbuf, floating* dbuf, floating* grad) noexcept nogil:
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
    value = loss_forward_backward_k(loss, hbuf + h_off, Y, dZ, n, o)
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


cdef void _gather(const floating* src, const int64_t* rows, Py_ssize_t count, Py_ssize_t width,
                  floating* dst) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(count):
        memcpy(dst + r * width, src + rows[r] * width, width * sizeof(floating))


cdef void train_epoch_k(floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                        int loss, const floating* X, const floating* Y, Py_ssize_t n,
                        const int64_t* perm, Py_ssize_t batch_size, floating lr, floating* hbuf,
                        floating* dbuf, floating* grad, floating* xbuf, floating* ybuf,
                        double* batch_losses) noexcept nogil:
    """Minibatch SGD over X (n, sizes[0]), Y (n, sizes[L]) in the row order perm (NULL: in order)."""
    cdef Py_ssize_t start = 0, rows, l, k = 0, count = 0
    cdef Py_ssize_t i = sizes[0], m = sizes[L]
    cdef const floating* xb
    cdef const floating* yb
    for l in range(L):
        count += sizes[l + 1] * sizes[l] + sizes[l + 1]
    while start < n:
        rows = min(batch_size, n - start)
        if perm != NULL:
            _gather(X, perm + start, rows, i, xbuf)
            _gather(Y, perm + start, rows, m, ybuf)
            xb = xbuf
            yb = ybuf
        else:
            xb = X + start * i
            yb = Y + start * m
        batch_losses[k] = loss_and_grad_k(theta, sizes, acts, L, loss, xb, yb, rows, hbuf, dbuf, grad)
        sgd_update_k(theta, grad, lr, count)
        k += 1
        start += batch_size


# ---- Python-level entry points: check, then run without the GIL ----------------------------------------

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


cdef int _check_act(long act) except -1:
    if act < 0 or act >= N_ACTIVATIONS:
        raise ValueError(f"unknown activation id {act}")
    return 0


cdef int _check_loss(long loss) except -1:
    if loss < 0 or loss >= N_LOSSES:
        raise ValueError(f"unknown loss id {loss}")
    return 0


cdef class _Net:
    """The checked description of a network: layer count, θ length and workspace sizes."""
    cdef Py_ssize_t L, n_params, sum_out, max_out, max_hidden
    cdef const int64_t* sizes
    cdef const int64_t* acts


cdef _Net _net(cnp.ndarray sizes, cnp.ndarray acts):
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
        _check_act(net.acts[l])
        s = net.sizes[l + 1]
        net.n_params += s * net.sizes[l] + s
        net.sum_out += s
        net.max_out = max(net.max_out, s)
        if l < net.L - 1:
            net.max_hidden = max(net.max_hidden, s)
    return net


def all_finite(cnp.ndarray a):
    """True when no element of the float array `a` is NaN or ±Inf (any layout)."""
    cdef int t = _typenum(a, "a")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        a = cnp.PyArray_GETCONTIGUOUS(a)
    cdef Py_ssize_t k, count = cnp.PyArray_SIZE(a)
    cdef const float* f
    cdef const double* d
    cdef float facc = 0
    cdef double dacc = 0
    # x - x is 0 for finite x and NaN otherwise; summing keeps the loop branch-free and vectorized.
    with nogil:
        if t == cnp.NPY_FLOAT32:
            f = <const float*>cnp.PyArray_DATA(a)
            for k in range(count):
                facc += f[k] - f[k]
        else:
            d = <const double*>cnp.PyArray_DATA(a)
            for k in range(count):
                dacc += d[k] - d[k]
    return facc == 0 and dacc == 0


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
    with nogil:
        if t == cnp.NPY_FLOAT32:
            dense_forward_k(<float*>cnp.PyArray_DATA(X), <float*>cnp.PyArray_DATA(W),
                            <float*>cnp.PyArray_DATA(b), act, <float*>cnp.PyArray_DATA(H), n, i, o)
        else:
            dense_forward_k(<double*>cnp.PyArray_DATA(X), <double*>cnp.PyArray_DATA(W),
                            <double*>cnp.PyArray_DATA(b), act, <double*>cnp.PyArray_DATA(H), n, i, o)


def activation_backward(long act, cnp.ndarray H, cnp.ndarray dH, cnp.ndarray dZ):
    """dZ = g'(z) ⊙ dH with g' read from H = g(z). All the same shape; dZ may be dH."""
    cdef int t = _typenum(H, "H")
    _check_act(act)
    cdef Py_ssize_t count = cnp.PyArray_SIZE(H)
    if cnp.PyArray_SIZE(dH) != count or cnp.PyArray_SIZE(dZ) != count:
        raise ValueError("H, dH and dZ must have the same size")
    _check(H, t, count, "H")
    _check(dH, t, count, "dH")
    _check(dZ, t, count, "dZ", True)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            activation_backward_k(act, <float*>cnp.PyArray_DATA(H), <float*>cnp.PyArray_DATA(dH),
                                  <float*>cnp.PyArray_DATA(dZ), count)
        else:
            activation_backward_k(act, <double*>cnp.PyArray_DATA(H), <double*>cnp.PyArray_DATA(dH),
                                  <double*>cnp.PyArray_DATA(dZ), count)


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
    cdef cnp.ndarray dHp
    cdef void* dH_ptr = NULL
    if dH_prev is not None:
        dHp = dH_prev
        _check_2d(dHp, t, n, i, "dH_prev", True)
        dH_ptr = cnp.PyArray_DATA(dHp)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            dense_backward_k(<float*>cnp.PyArray_DATA(dZ), <float*>cnp.PyArray_DATA(H_prev),
                             <float*>cnp.PyArray_DATA(W), <float*>cnp.PyArray_DATA(dW),
                             <float*>cnp.PyArray_DATA(db), <float*>dH_ptr, n, i, o)
        else:
            dense_backward_k(<double*>cnp.PyArray_DATA(dZ), <double*>cnp.PyArray_DATA(H_prev),
                             <double*>cnp.PyArray_DATA(W), <double*>cnp.PyArray_DATA(dW),
                             <double*>cnp.PyArray_DATA(db), <double*>dH_ptr, n, i, o)


def loss_forward_backward(long loss, cnp.ndarray Yhat, cnp.ndarray Y, dYhat):
    """L(ŷ, y) as a float; ∂L/∂ŷ into dYhat unless it is None. Yhat, Y, dYhat: (n, m)."""
    cdef int t = _typenum(Yhat, "Yhat")
    _check_loss(loss)
    if cnp.PyArray_NDIM(Yhat) != 2:
        raise ValueError("Yhat must be 2-D")
    cdef Py_ssize_t n = Yhat.shape[0], m = Yhat.shape[1]
    _check_dim(n, "rows")
    _check_dim(m, "outputs")
    _check_2d(Yhat, t, n, m, "Yhat")
    _check_2d(Y, t, n, m, "Y")
    cdef cnp.ndarray dY
    cdef void* d_ptr = NULL
    if dYhat is not None:
        dY = dYhat
        _check_2d(dY, t, n, m, "dYhat", True)
        d_ptr = cnp.PyArray_DATA(dY)
    cdef double value
    with nogil:
        if t == cnp.NPY_FLOAT32:
            value = loss_forward_backward_k(loss, <float*>cnp.PyArray_DATA(Yhat),
                                            <float*>cnp.PyArray_DATA(Y), <float*>d_ptr, n, m)
        else:
            value = loss_forward_backward_k(loss, <double*>cnp.PyArray_DATA(Yhat),
                                            <double*>cnp.PyArray_DATA(Y), <double*>d_ptr, n, m)
    return value


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


cdef int _check_theta(_Net net, cnp.ndarray theta, bint write=False) except -1:
    if cnp.PyArray_SIZE(theta) != net.n_params:
        raise ValueError(f"theta has {cnp.PyArray_SIZE(theta)} elements, the layer sizes need {net.n_params}")
    _typenum(theta, "theta")
    return _check(theta, cnp.PyArray_TYPE(theta), net.n_params, "theta", write)


cdef Py_ssize_t _check_xy(_Net net, int t, cnp.ndarray X, cnp.ndarray Y) except -1:
    if cnp.PyArray_NDIM(X) != 2:
        raise ValueError("X must be 2-D")
    cdef Py_ssize_t n = X.shape[0]
    _check_dim(n, "rows of X")
    _check_2d(X, t, n, net.sizes[0], "X")
    if Y is not None:
        _check_2d(Y, t, n, net.sizes[net.L], "Y")
    return n


def forward(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, cnp.ndarray X, cnp.ndarray hbuf):
    """Every layer's output H_1 .. H_L into hbuf. X: (n, sizes[0])."""
    cdef _Net net = _net(sizes, acts)
    _check_theta(net, theta)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, None)
    _check(hbuf, t, n * net.sum_out, "hbuf", True)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            forward_k(<float*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L,
                      <float*>cnp.PyArray_DATA(X), n, <float*>cnp.PyArray_DATA(hbuf))
        else:
            forward_k(<double*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L,
                      <double*>cnp.PyArray_DATA(X), n, <double*>cnp.PyArray_DATA(hbuf))


def predict(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, cnp.ndarray X, cnp.ndarray out,
            cnp.ndarray work, Py_ssize_t chunk):
    """out (n, sizes[-1]) = the network on X (n, sizes[0]), `chunk` rows at a time."""
    cdef _Net net = _net(sizes, acts)
    _check_theta(net, theta)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, None)
    _check_dim(chunk, "chunk")
    _check_2d(out, t, n, net.sizes[net.L], "out", True)
    _check(work, t, 2 * chunk * net.max_hidden, "work", True)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            predict_k(<float*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L,
                      <float*>cnp.PyArray_DATA(X), n, <float*>cnp.PyArray_DATA(out),
                      <float*>cnp.PyArray_DATA(work), chunk)
        else:
            predict_k(<double*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L,
                      <double*>cnp.PyArray_DATA(X), n, <double*>cnp.PyArray_DATA(out),
                      <double*>cnp.PyArray_DATA(work), chunk)


cdef int _check_train(_Net net, int t, Py_ssize_t rows, cnp.ndarray hbuf, cnp.ndarray dbuf,
                      cnp.ndarray grad) except -1:
    _check(hbuf, t, rows * net.sum_out, "hbuf", True)
    _check(dbuf, t, 2 * rows * net.max_out, "dbuf", True)
    if cnp.PyArray_SIZE(grad) != net.n_params:
        raise ValueError(f"grad has {cnp.PyArray_SIZE(grad)} elements, expected {net.n_params}")
    return _check(grad, t, net.n_params, "grad", True)


def loss_and_grad(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, long loss, cnp.ndarray X,
                  cnp.ndarray Y, cnp.ndarray hbuf, cnp.ndarray dbuf, cnp.ndarray grad):
    """L(X, Y) and ∂L/∂θ into grad (θ's layout), by backpropagation."""
    cdef _Net net = _net(sizes, acts)
    _check_loss(loss)
    _check_theta(net, theta)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, Y)
    _check_train(net, t, n, hbuf, dbuf, grad)
    cdef double value
    with nogil:
        if t == cnp.NPY_FLOAT32:
            value = loss_and_grad_k(<float*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L, loss,
                                    <float*>cnp.PyArray_DATA(X), <float*>cnp.PyArray_DATA(Y), n,
                                    <float*>cnp.PyArray_DATA(hbuf), <float*>cnp.PyArray_DATA(dbuf),
                                    <float*>cnp.PyArray_DATA(grad))
        else:
            value = loss_and_grad_k(<double*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L, loss,
                                    <double*>cnp.PyArray_DATA(X), <double*>cnp.PyArray_DATA(Y), n,
                                    <double*>cnp.PyArray_DATA(hbuf), <double*>cnp.PyArray_DATA(dbuf),
                                    <double*>cnp.PyArray_DATA(grad))
    return value


def train_step(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, long loss, cnp.ndarray X,
               cnp.ndarray Y, double lr, cnp.ndarray hbuf, cnp.ndarray dbuf, cnp.ndarray grad):
    """One gradient-descent step on (X, Y); returns the loss before the step."""
    cdef _Net net = _net(sizes, acts)
    _check_loss(loss)
    _check_theta(net, theta, True)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, Y)
    _check_train(net, t, n, hbuf, dbuf, grad)
    cdef double value
    with nogil:
        if t == cnp.NPY_FLOAT32:
            value = loss_and_grad_k(<float*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L, loss,
                                    <float*>cnp.PyArray_DATA(X), <float*>cnp.PyArray_DATA(Y), n,
                                    <float*>cnp.PyArray_DATA(hbuf), <float*>cnp.PyArray_DATA(dbuf),
                                    <float*>cnp.PyArray_DATA(grad))
            sgd_update_k(<float*>cnp.PyArray_DATA(theta), <float*>cnp.PyArray_DATA(grad), <float>lr,
                         net.n_params)
        else:
            value = loss_and_grad_k(<double*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L, loss,
                                    <double*>cnp.PyArray_DATA(X), <double*>cnp.PyArray_DATA(Y), n,
                                    <double*>cnp.PyArray_DATA(hbuf), <double*>cnp.PyArray_DATA(dbuf),
                                    <double*>cnp.PyArray_DATA(grad))
            sgd_update_k(<double*>cnp.PyArray_DATA(theta), <double*>cnp.PyArray_DATA(grad), lr,
                         net.n_params)
    return value


def train_epoch(cnp.ndarray theta, cnp.ndarray sizes, cnp.ndarray acts, long loss, cnp.ndarray X,
                cnp.ndarray Y, cnp.ndarray perm, Py_ssize_t batch_size, double lr, cnp.ndarray hbuf,
                cnp.ndarray dbuf, cnp.ndarray grad, cnp.ndarray xbuf, cnp.ndarray ybuf,
                cnp.ndarray batch_losses):
    """Minibatch SGD over all rows of (X, Y) in the order perm (empty: in order); batch k's loss into
    batch_losses[k]."""
    cdef _Net net = _net(sizes, acts)
    _check_loss(loss)
    _check_theta(net, theta, True)
    cdef int t = cnp.PyArray_TYPE(theta)
    cdef Py_ssize_t n = _check_xy(net, t, X, Y)
    cdef Py_ssize_t k, p, n_perm = cnp.PyArray_SIZE(perm)
    _check_dim(batch_size, "batch_size")
    batch_size = min(batch_size, n)
    _check_train(net, t, batch_size, hbuf, dbuf, grad)
    _check(batch_losses, cnp.NPY_FLOAT64, (n + batch_size - 1) // batch_size, "batch_losses", True)
    cdef const int64_t* perm_ptr = NULL
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
    with nogil:
        if t == cnp.NPY_FLOAT32:
            train_epoch_k(<float*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L, loss,
                          <float*>cnp.PyArray_DATA(X), <float*>cnp.PyArray_DATA(Y), n, perm_ptr,
                          batch_size, <float>lr, <float*>cnp.PyArray_DATA(hbuf),
                          <float*>cnp.PyArray_DATA(dbuf), <float*>cnp.PyArray_DATA(grad),
                          <float*>cnp.PyArray_DATA(xbuf), <float*>cnp.PyArray_DATA(ybuf),
                          <double*>cnp.PyArray_DATA(batch_losses))
        else:
            train_epoch_k(<double*>cnp.PyArray_DATA(theta), net.sizes, net.acts, net.L, loss,
                          <double*>cnp.PyArray_DATA(X), <double*>cnp.PyArray_DATA(Y), n, perm_ptr,
                          batch_size, lr, <double*>cnp.PyArray_DATA(hbuf),
                          <double*>cnp.PyArray_DATA(dbuf), <double*>cnp.PyArray_DATA(grad),
                          <double*>cnp.PyArray_DATA(xbuf), <double*>cnp.PyArray_DATA(ybuf),
                          <double*>cnp.PyArray_DATA(batch_losses))
