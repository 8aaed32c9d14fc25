# Native kernels of fastmlp on raw pointers: `noexcept nogil`, no checks, row-major arrays.
# Other Cython code can `from fastmlp._native cimport ...` these; callers guarantee the sizes.
# Shapes: X (n, i), W (o, i), b (o,), H (n, o); theta [W_0, b_0, W_1, b_1, ...]; sizes (L+1,), acts (L,).
# sw (n,) row weights or NULL; hyper/state: the optimizer layout of fastmlp/backends/numpy_ref.py.
from libc.stdint cimport int64_t
from cython cimport floating

cdef void dense_forward_k(const floating* X, const floating* W, const floating* b, int act, floating* H,
                          Py_ssize_t n, Py_ssize_t i, Py_ssize_t o) noexcept nogil
cdef void activation_backward_k(int act, const floating* H, const floating* dH, floating* dZ,
                                Py_ssize_t count) noexcept nogil
cdef void dense_backward_k(const floating* dZ, const floating* H_prev, const floating* W, floating* dW,
                           floating* db, floating* dH_prev, Py_ssize_t n, Py_ssize_t i,
                           Py_ssize_t o) noexcept nogil
cdef double loss_forward_backward_k(int loss, const floating* Yhat, const floating* Y,
                                    const floating* sw, floating* dYhat, Py_ssize_t n,
                                    Py_ssize_t m) noexcept nogil
cdef void sgd_update_k(floating* theta, const floating* grad, floating lr, Py_ssize_t count) noexcept nogil
cdef void optimizer_update_k(floating* theta, const floating* grad, const int64_t* sizes, Py_ssize_t L,
                             int opt, double* hyper, floating* state) noexcept nogil
cdef void forward_k(const floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                    const floating* X, Py_ssize_t n, floating* hbuf) noexcept nogil
cdef void predict_k(const floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                    const floating* X, Py_ssize_t n, floating* out, floating* work,
                    Py_ssize_t chunk) noexcept nogil
cdef double loss_and_grad_k(const floating* theta, const int64_t* sizes, const int64_t* acts,
                            Py_ssize_t L, int loss, const floating* X, const floating* Y,
                            const floating* sw, Py_ssize_t n, floating* hbuf, floating* dbuf,
                            floating* grad) noexcept nogil
cdef double train_step_k(floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                         int loss, const floating* X, const floating* Y, const floating* sw,
                         Py_ssize_t n, int opt, double* hyper, floating* state, floating* hbuf,
                         floating* dbuf, floating* grad) noexcept nogil
cdef Py_ssize_t train_epoch_k(floating* theta, const int64_t* sizes, const int64_t* acts, Py_ssize_t L,
                              int loss, const floating* X, const floating* Y, const floating* sw,
                              Py_ssize_t n, const int64_t* perm, Py_ssize_t batch_size, int opt,
                              double* hyper, floating* state, floating* hbuf, floating* dbuf,
                              floating* grad, floating* xbuf, floating* ybuf, floating* wbuf,
                              double* batch_losses) noexcept nogil
