/* Activation epilogues and their derivatives for fastmlp's Cython kernels, float and double.
 *
 * Why not libm: a scalar tanhf/expf loop costs 13-16 ns an element and blocks vectorization. Here exp
 * and expm1 are a Cody-Waite range reduction plus a Taylor polynomial, written branch-free so GCC
 * vectorizes the loops; each outer loop is compiled for AVX-512, AVX2 and baseline x86-64 and picked at
 * load time (target_clones). Accuracy: a few ulp in double, ~1e-7 relative in float.
 *
 * Activation ids match fastmlp/activations.py: 0 identity, 1 relu, 2 sigmoid, 3 tanh, 4 softplus,
 * 5 softmax (per row; forward only: training hands the logits to the cross-entropy loss).
 * Derivatives are written from the output h = g(z) (see that module's docstring).
 */
#ifndef FASTMLP_ACT_H
#define FASTMLP_ACT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FASTMLP_NO_CLONES)
#define FM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FM_CLONES
#endif

/* ---- double ------------------------------------------------------------------------------------- */

/* For x <= 0: scale = 2^k and p = expm1(r) with x = k ln2 + r, |r| <= ln2/2, so that
 * exp(x) = scale + scale*p and expm1(x) = scale*p + (scale - 1), both without cancellation. */
static inline void fm_exp_parts_d(double x, double *scale, double *p)
{
    const double shift = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    double xc = x < -708.0 ? -708.0 : x;     /* keeps 2^k normal; NaN passes through */
    double kd = xc * 1.4426950408889634 + shift;
    double k = kd - shift;
    double r = (xc - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double q = 1.0 / 6227020800.0;            /* Taylor coefficients 1/13! ... 1/2! */
    q = q * r + 1.0 / 479001600.0;
    q = q * r + 1.0 / 39916800.0;
    q = q * r + 1.0 / 3628800.0;
    q = q * r + 1.0 / 362880.0;
    q = q * r + 1.0 / 40320.0;
    q = q * r + 1.0 / 5040.0;
    q = q * r + 1.0 / 720.0;
    q = q * r + 1.0 / 120.0;
    q = q * r + 1.0 / 24.0;
    q = q * r + 1.0 / 6.0;
    q = q * r + 0.5;
    *p = r + (r * r) * q;
    uint64_t bits;
    memcpy(&bits, &kd, 8);
    bits = (bits + 1023) << 52;                /* low bits of kd hold k */
    memcpy(scale, &bits, 8);
}

static inline double fm_exp_neg_d(double x) /* exp(x) for x <= 0 */
{
    double s, p;
    fm_exp_parts_d(x, &s, &p);
    double e = s + s * p;
    return x < -708.0 ? 0.0 : e;
}

static inline double fm_expm1_neg_d(double x) /* expm1(x) for x <= 0 */
{
    double s, p;
    fm_exp_parts_d(x, &s, &p);
    return s * p + (s - 1.0);
}

static inline double fm_log1p_unit_d(double t) /* log(1 + t) for 0 <= t <= 1 */
{
    /* log1p(t) = 2 atanh(s), s = t/(2+t); above sqrt(2)-1, log(2) + 2 atanh((t-1)/(t+3)): |s| <= 0.1716 */
    int high = t > 0.41421356237309503;
    double s = high ? (t - 1.0) / (t + 3.0) : t / (2.0 + t);
    double s2 = s * s;
    double q = 1.0 / 21.0;
    q = q * s2 + 1.0 / 19.0;
    q = q * s2 + 1.0 / 17.0;
    q = q * s2 + 1.0 / 15.0;
    q = q * s2 + 1.0 / 13.0;
    q = q * s2 + 1.0 / 11.0;
    q = q * s2 + 1.0 / 9.0;
    q = q * s2 + 1.0 / 7.0;
    q = q * s2 + 1.0 / 5.0;
    q = q * s2 + 1.0 / 3.0;
    double v = 2.0 * s + 2.0 * s * s2 * q;
    return high ? v + 0.69314718055994530942 : v;
}

static inline double fm_act_d(int act, double z)
{
    double a = z < 0.0 ? -z : z;
    switch (act) {
    case 1: return z < 0.0 ? 0.0 : z;
    case 2: {
        double e = fm_exp_neg_d(-a);
        double s = 1.0 / (1.0 + e);
        return z < 0.0 ? e * s : s;
    }
    case 3: {
        double e = fm_expm1_neg_d(-2.0 * a);
        double t = -e / (2.0 + e);
        return z < 0.0 ? -t : t;
    }
    case 4: return (z < 0.0 ? 0.0 : z) + fm_log1p_unit_d(fm_exp_neg_d(-a));
    default: return z;
    }
}

static inline double fm_dact_d(int act, double h)
{
    switch (act) {
    case 1: return h > 0.0 ? 1.0 : 0.0;
    case 2: return h * (1.0 - h);
    case 3: return 1.0 - h * h;
    case 4: return -fm_expm1_neg_d(-h);
    default: return 1.0;
    }
}

/* ---- float -------------------------------------------------------------------------------------- */

static inline void fm_exp_parts_f(float x, float *scale, float *p)
{
    const float shift = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x < -87.0f ? -87.0f : x;
    float kd = xc * 1.44269504f + shift;
    float k = kd - shift;
    float r = (xc - k * 0.693145751953125f) - k * 1.428606765330187045e-06f;
    float q = 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    *p = r + (r * r) * q;
    uint32_t bits;
    memcpy(&bits, &kd, 4);
    bits = (bits + 127) << 23;
    memcpy(scale, &bits, 4);
}

static inline float fm_exp_neg_f(float x)
{
    float s, p;
    fm_exp_parts_f(x, &s, &p);
    float e = s + s * p;
    return x < -87.0f ? 0.0f : e;
}

static inline float fm_expm1_neg_f(float x)
{
    float s, p;
    fm_exp_parts_f(x, &s, &p);
    return s * p + (s - 1.0f);
}

static inline float fm_log1p_unit_f(float t)
{
    int high = t > 0.41421356f;
    float s = high ? (t - 1.0f) / (t + 3.0f) : t / (2.0f + t);
    float s2 = s * s;
    float q = 1.0f / 11.0f;
    q = q * s2 + 1.0f / 9.0f;
    q = q * s2 + 1.0f / 7.0f;
    q = q * s2 + 1.0f / 5.0f;
    q = q * s2 + 1.0f / 3.0f;
    float v = 2.0f * s + 2.0f * s * s2 * q;
    return high ? v + 0.69314718f : v;
}

static inline float fm_act_f(int act, float z)
{
    float a = z < 0.0f ? -z : z;
    switch (act) {
    case 1: return z < 0.0f ? 0.0f : z;
    case 2: {
        float e = fm_exp_neg_f(-a);
        float s = 1.0f / (1.0f + e);
        return z < 0.0f ? e * s : s;
    }
    case 3: {
        float e = fm_expm1_neg_f(-2.0f * a);
        float t = -e / (2.0f + e);
        return z < 0.0f ? -t : t;
    }
    case 4: return (z < 0.0f ? 0.0f : z) + fm_log1p_unit_f(fm_exp_neg_f(-a));
    default: return z;
    }
}

static inline float fm_dact_f(int act, float h)
{
    switch (act) {
    case 1: return h > 0.0f ? 1.0f : 0.0f;
    case 2: return h * (1.0f - h);
    case 3: return 1.0f - h * h;
    case 4: return -fm_expm1_neg_f(-h);
    default: return 1.0f;
    }
}

/* ---- the loops ---------------------------------------------------------------------------------- */
/* One loop per activation so that the switch sits outside the vectorized loop (the constant `act`
 * selects a case after inlining). */

/* Narrow rows (a playground's 8 units) are shorter than one AVX-512 vector, so a per-row loop would run
 * the activation scalar: there the bias goes in first and the activation runs over the block flat. */
#define FM_BIAS_ACT_LOOP(T, SUFFIX, ACT)                                                   \
    if (ACT > 1 && cols < 32) {                                                            \
        for (ptrdiff_t i = 0; i < rows; i++) {                                             \
            T *z = Z + i * cols;                                                           \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] += b[j];                             \
        }                                                                                  \
        for (ptrdiff_t k = 0; k < rows * cols; k++) Z[k] = fm_act_##SUFFIX(ACT, Z[k]);     \
    } else {                                                                               \
        for (ptrdiff_t i = 0; i < rows; i++) {                                             \
            T *z = Z + i * cols;                                                           \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = fm_act_##SUFFIX(ACT, z[j] + b[j]); \
        }                                                                                  \
    }

#define FM_DACT_LOOP(T, SUFFIX, ACT) \
    for (ptrdiff_t i = 0; i < n; i++) dZ[i] = fm_dact_##SUFFIX(ACT, H[i]) * dH[i];

#define FM_SOFTMAX_LOOP(T, SUFFIX)                                                          \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                 \
        T *z = Z + i * cols, top = z[0] + b[0], sum = 0;                                   \
        for (ptrdiff_t j = 0; j < cols; j++) {                                             \
            z[j] += b[j];                                                                  \
            top = z[j] > top ? z[j] : top;                                                 \
        }                                                                                  \
        for (ptrdiff_t j = 0; j < cols; j++) {                                             \
            z[j] = fm_exp_neg_##SUFFIX(z[j] - top);                                        \
            sum += z[j];                                                                   \
        }                                                                                  \
        T inv = 1 / sum;                                                                   \
        for (ptrdiff_t j = 0; j < cols; j++) z[j] *= inv;                                  \
    }

#define FM_DEFINE_LOOPS(T, SUFFIX)                                                          \
    /* Z: (rows, cols) in place, Z = g(Z + b) with b: (cols,) */                            \
    FM_CLONES static void fm_bias_act_##SUFFIX(int act, T *Z, const T *b,                    \
                                                ptrdiff_t rows, ptrdiff_t cols)              \
    {                                                                                       \
        switch (act) {                                                                      \
        case 5: FM_SOFTMAX_LOOP(T, SUFFIX) break;                                           \
        case 1: FM_BIAS_ACT_LOOP(T, SUFFIX, 1) break;                                       \
        case 2: FM_BIAS_ACT_LOOP(T, SUFFIX, 2) break;                                       \
        case 3: FM_BIAS_ACT_LOOP(T, SUFFIX, 3) break;                                       \
        case 4: FM_BIAS_ACT_LOOP(T, SUFFIX, 4) break;                                       \
        default: FM_BIAS_ACT_LOOP(T, SUFFIX, 0) break;                                      \
        }                                                                                   \
    }                                                                                       \
    /* dZ = g'(from H) * dH over n elements; dZ may be dH */                                \
    FM_CLONES static void fm_act_backward_##SUFFIX(int act, const T *H, const T *dH, T *dZ,  \
                                                    ptrdiff_t n)                             \
    {                                                                                       \
        switch (act) {                                                                      \
        case 0: if (dZ != dH) memcpy(dZ, dH, (size_t)n * sizeof(T)); break;                 \
        case 1: FM_DACT_LOOP(T, SUFFIX, 1) break;                                           \
        case 2: FM_DACT_LOOP(T, SUFFIX, 2) break;                                           \
        case 3: FM_DACT_LOOP(T, SUFFIX, 3) break;                                           \
        default: FM_DACT_LOOP(T, SUFFIX, 4) break;                                          \
        }                                                                                   \
    }

FM_DEFINE_LOOPS(double, d)
FM_DEFINE_LOOPS(float, f)

/* ---- finiteness -------------------------------------------------------------------------------- */
/* 1 when no element is NaN or ±Inf. An all-ones exponent marks both; testing it on the bits is an
 * integer OR-reduction, which vectorizes (a floating-point reduction would not, without -ffast-math). */

#define FM_DEFINE_ALL_FINITE(T, SUFFIX, U, EXPONENT)                                        \
    FM_CLONES static int fm_all_finite_##SUFFIX(const T *a, ptrdiff_t n)                     \
    {                                                                                       \
        U bad = 0;                                                                          \
        for (ptrdiff_t k = 0; k < n; k++) {                                                 \
            U u;                                                                            \
            memcpy(&u, a + k, sizeof u);                                                    \
            bad |= (u & EXPONENT) == EXPONENT;                                              \
        }                                                                                   \
        return !bad;                                                                        \
    }

FM_DEFINE_ALL_FINITE(float, f, uint32_t, 0x7f800000u)
FM_DEFINE_ALL_FINITE(double, d, uint64_t, 0x7ff0000000000000ull)

#endif
