/* One thread's float32 FMA peak, for scripts/bench_roofline.py --fma-peak: 12 independent
 * chains of vector multiply-adds (enough to cover two FMA pipes of 4-5 cycles' latency), in
 * the vectors the fused kernel uses (64 bytes where the compiler targets AVX-512, else 32).
 * Built like the kernel (hgbench/tasks/fused/build.py: -O3 -march=native, which contracts
 * a * x + y to one FMA). Returns the flops done (2 per lane per FMA). */
#if defined(__AVX512F__)
#define VB 64
#else
#define VB 32
#endif
typedef float vec __attribute__((vector_size(VB)));
#define LANES (VB / 4)
#define CHAINS 12
volatile float hg_fma_sink;

double hg_fma_flops(long iterations) {
    vec a[CHAINS];
    const vec x = (vec){0} + 1.0000001f, y = (vec){0} + 1e-7f;
    for (int i = 0; i < CHAINS; i++) a[i] = (vec){0} + (float)i;
    for (long k = 0; k < iterations; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = a[i] * x + y;
    }
    float s = 0;
    for (int i = 0; i < CHAINS; i++)
        for (int l = 0; l < LANES; l++) s += a[i][l];
    hg_fma_sink = s; /* the chains are used: nothing is optimised away */
    return 2.0 * LANES * CHAINS * (double)iterations;
}
