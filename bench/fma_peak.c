/* One core's float32 FMA peak: 12 independent AVX-512 FMA chains (enough to cover the FMA latency on
 * both ports), 200 M iterations, 5 repeats. The ceiling for any gemm on this core.
 *
 *   gcc -O2 -mavx512f -o /tmp/fma_peak bench/fma_peak.c && /tmp/fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    enum { CHAINS = 12 };
    const long iterations = 200000000;
    __m512 acc[CHAINS];
    const __m512 scale = _mm512_set1_ps(0.999999f), shift = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (int repeat = 0; repeat < 5; repeat++) {
        double start = seconds();
        for (long k = 0; k < iterations; k++) {
#pragma GCC unroll 12
            for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], scale, shift);
        }
        double elapsed = seconds() - start;
        float sink = 0;  /* uses every chain, so none is optimized away */
        for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(acc[i]);
        printf("float32 AVX-512 FMA peak: %.1f GFLOP/s (checksum %g)\n",
               iterations * CHAINS * 16 * 2.0 / elapsed / 1e9, sink);
    }
    return 0;
}
