/* y = W x for one sample, W row-major (o, i): the forward product of a single row (predict(x) latency).
 *
 * Why not BLAS: for one row, every weight is read once, so the product is a stream of W through the core.
 * OpenBLAS's sgemv_t streamed mnist's 940 KB of weights (L2-resident) at ~60-80 GB/s here, while a plain read
 * of the same bytes runs at ~110-120 GB/s. This kernel keeps 8 rows in flight, two 64-byte vectors per row
 * per step (16 independent accumulators), and reduces each row with a shuffle tree: ~1.4x faster than
 * sgemv on mnist's three layers (8.4 vs 11.6 us, measured interleaved in one process). GCC vector
 * extensions keep it portable: each clone (AVX-512, AVX2, baseline) lowers the 64-byte vectors itself.
 * The summation order differs from BLAS's: results agree to rounding.
 */
#ifndef FASTMLP_GEMV_H
#define FASTMLP_GEMV_H

#include <stddef.h>
#include <string.h>

/* The 64-byte vector helpers below are always inlined, so no vector crosses a call boundary in the
 * clones without AVX-512: GCC's note about that ABI does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FASTMLP_NO_CLONES)
#define FM_GEMV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FM_GEMV_CLONES
#endif

#define FM_GEMV_ROWS 8 /* rows per block */

typedef float fm_vf __attribute__((vector_size(64)));
typedef float fm_vf8 __attribute__((vector_size(32)));
typedef float fm_vf4 __attribute__((vector_size(16)));
typedef double fm_vd __attribute__((vector_size(64)));
typedef double fm_vd4 __attribute__((vector_size(32)));
typedef double fm_vd2 __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) fm_vf fm_loadf(const float *p)
{
    fm_vf v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}

static inline __attribute__((always_inline)) fm_vd fm_loadd(const double *p)
{
    fm_vd v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) float fm_hsumf(fm_vf v)
{
    fm_vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
    fm_vf8 b = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    a += b;
    fm_vf4 c = __builtin_shufflevector(a, a, 0, 1, 2, 3), d = __builtin_shufflevector(a, a, 4, 5, 6, 7);
    c += d;
    return (c[0] + c[2]) + (c[1] + c[3]);
}

static inline __attribute__((always_inline)) double fm_hsumd(fm_vd v)
{
    fm_vd4 a = __builtin_shufflevector(v, v, 0, 1, 2, 3), b = __builtin_shufflevector(v, v, 4, 5, 6, 7);
    a += b;
    fm_vd2 c = __builtin_shufflevector(a, a, 0, 1), d = __builtin_shufflevector(a, a, 2, 3);
    c += d;
    return c[0] + c[1];
}

/* R rows starting at row j; L lanes per vector. Two accumulators per row hide the add latency. */
#define FM_GEMV_BLOCK(T, V, L, LOAD, HSUM, R)                                               \
    {                                                                                       \
        V acc[R], acc2[R];                                                                  \
        for (int r = 0; r < R; r++) {                                                       \
            acc[r] = (V){0};                                                                \
            acc2[r] = (V){0};                                                               \
        }                                                                                   \
        ptrdiff_t k = 0;                                                                    \
        for (; k + 2 * L <= i; k += 2 * L) {                                                \
            V xa = LOAD(x + k), xb = LOAD(x + k + L);                                       \
            for (int r = 0; r < R; r++) {                                                   \
                acc[r] += LOAD(W + (j + r) * i + k) * xa;                                   \
                acc2[r] += LOAD(W + (j + r) * i + k + L) * xb;                              \
            }                                                                               \
        }                                                                                   \
        if (k + L <= i) {                                                                   \
            V xa = LOAD(x + k);                                                             \
            for (int r = 0; r < R; r++) acc[r] += LOAD(W + (j + r) * i + k) * xa;           \
            k += L;                                                                         \
        }                                                                                   \
        for (int r = 0; r < R; r++) {                                                       \
            T s = HSUM(acc[r] + acc2[r]);                                                   \
            for (ptrdiff_t t = k; t < i; t++) s += W[(j + r) * i + t] * x[t];               \
            y[j + r] = s;                                                                   \
        }                                                                                   \
    }

#define FM_DEFINE_GEMV(T, SUFFIX, V, L, LOAD, HSUM)                                         \
    /* y (o,) = W (o, i) x (i,); y must not overlap W or x */                               \
    FM_GEMV_CLONES static void fm_gemv_rows_##SUFFIX(const T *W, const T *x, T *y,           \
                                                     ptrdiff_t o, ptrdiff_t i)               \
    {                                                                                       \
        ptrdiff_t j = 0;                                                                    \
        for (; j + FM_GEMV_ROWS <= o; j += FM_GEMV_ROWS)                                    \
            FM_GEMV_BLOCK(T, V, L, LOAD, HSUM, FM_GEMV_ROWS)                                \
        for (; j < o; j++)                                                                  \
            FM_GEMV_BLOCK(T, V, L, LOAD, HSUM, 1)                                           \
    }

FM_DEFINE_GEMV(float, f, fm_vf, 16, fm_loadf, fm_hsumf)
FM_DEFINE_GEMV(double, d, fm_vd, 8, fm_loadd, fm_hsumd)

#endif
