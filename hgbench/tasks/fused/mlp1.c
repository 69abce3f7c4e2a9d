/* Loss and gradient of a one-hidden-layer ReLU regressor under squared error, for C sets of
 * weights (C paired inits) on the same rows: hgbench's batched-inits kernel for the UCI MLP
 * [D, H, 1] (hgbench/tasks/fused/__init__.py says when it is used).
 *
 * Each init's flat weights follow torch's nn.Sequential(Linear(D, H), ReLU(), Linear(H, 1))
 * order: W1 [H, D], b1 [H], w2 [1, H], b2 [1]. For one init and rows x_n, y_n (n < N):
 *   pre = W1 x + b1, out = w2 . relu(pre) + b2, loss = mean_n (out - y)^2,
 * and the gradient is the exact reverse-mode one (relu'(0) = 0, as torch's).
 *
 * Two layouts, nothing of size N x H stored in either. The gradient for D <= 16 puts the inits
 * in the SIMD lanes (V inits at a time; "inits in the lanes" below). The HVP, and the gradient
 * for D > 16, take one pass over the rows per init with the rows in the SIMD lanes
 * (blocks of R vectors of V rows, V lanes per vector; R below), the forward of a block keeps
 * its activations in an R*H-vector buffer (relu(pre) > 0 exactly where pre > 0, NaN included, so
 * the backward takes its mask from them: 1-18 % faster than keeping the pre-activations, measured
 * on the UCI shapes at C = 200), and its backward accumulates every weight
 * gradient in per-lane partial sums (one load and store per R FMAs; summed across lanes once
 * per init). GCC/Clang vector extensions (intrinsics only for AVX-512's ReLU and masks, below):
 * the compiler maps them to the machine's SIMD: 64-byte vectors where the compiler targets AVX-512 (measured on a Xeon with
 * AVX-512, float32, C = 200: naval 1.5-1.7x and power 1.5x faster than 32-byte ones, yacht
 * within noise), else 32 bytes (AVX2); -DHG_VBYTES=32 forces the narrower ones. D up to 16 is
 * specialised (loops over D unrolled); larger D takes the generic loop.
 *
 * Build: cc -O3 -march=native -fPIC -shared -DHG_T=float -DHG_TBYTES=4 -DHG_SUFFIX=f32 mlp1.c
 * (and double, 8, f64; hgbench/tasks/fused/build.py does it, once per machine).
 * relu(NaN) is NaN as in torch, so a diverged init's loss stays non-finite.
 */
#include <stdlib.h>
#include <string.h>

#ifndef HG_T
#error "define HG_T (float or double) and HG_SUFFIX (f32 or f64)"
#endif
typedef HG_T T;
#ifndef HG_VBYTES
#if defined(__AVX512F__)
#define HG_VBYTES 64
#else
#define HG_VBYTES 32
#endif
#endif
#ifndef HG_TBYTES
#error "define HG_TBYTES (sizeof HG_T: 4 or 8)"
#endif
#define V (HG_VBYTES / HG_TBYTES)
typedef T vec __attribute__((vector_size(HG_VBYTES)));
typedef long long bits __attribute__((vector_size(HG_VBYTES)));
_Static_assert(sizeof(T) == HG_TBYTES, "HG_TBYTES must be sizeof(HG_T)");
#define ZERO ((vec){0})
/* relu keeping NaN (torch.relu(nan) is nan); the backward mask is pre > 0 (torch's), which
 * WHERE_POS(v, relu(pre)) gives as well; MUL_WHERE_POS(a, b, p) is WHERE_POS(a * b, p). With
 * AVX-512 they are one max and a compare into a mask register taken by the masked op (the
 * vector-extension forms compile to a compare, a mask-to-vector move and a logic op there):
 * max(0, p) returns p where p is NaN (the second operand where unordered), as torch. Side by
 * side on the UCI shapes (2-core Xeon, C = 200, float32), equal bit for bit: the gradient 14 %
 * faster on yacht, 18-21 % on kin8nm and power, 6-8 % on boston, energy and concrete; wine_red
 * and naval within the noise (-7 % and -6 % in one run, +1 % and +6 % in another); the HVP
 * 5-13 % faster on seven sets. */
#if defined(__AVX512F__) && HG_VBYTES == 64
#include <immintrin.h>
#if HG_TBYTES == 4
#define RELU(p) ((vec)_mm512_max_ps(_mm512_setzero_ps(), (__m512)(p)))
#define POS_MASK(p) _mm512_cmp_ps_mask((__m512)(p), _mm512_setzero_ps(), _CMP_GT_OQ)
#define WHERE_POS(v, p) ((vec)_mm512_maskz_mov_ps(POS_MASK(p), (__m512)(v)))
#define MUL_WHERE_POS(a, b, p) ((vec)_mm512_maskz_mul_ps(POS_MASK(p), (__m512)(a), (__m512)(b)))
#else
#define RELU(p) ((vec)_mm512_max_pd(_mm512_setzero_pd(), (__m512d)(p)))
#define POS_MASK(p) _mm512_cmp_pd_mask((__m512d)(p), _mm512_setzero_pd(), _CMP_GT_OQ)
#define WHERE_POS(v, p) ((vec)_mm512_maskz_mov_pd(POS_MASK(p), (__m512d)(v)))
#define MUL_WHERE_POS(a, b, p) ((vec)_mm512_maskz_mul_pd(POS_MASK(p), (__m512d)(a), (__m512d)(b)))
#endif
#else
#define RELU(p) ((vec)((bits)(p) & ~(bits)((p) <= ZERO)))
#define WHERE_POS(v, p) ((vec)((bits)(v) & (bits)((p) > ZERO)))
#define MUL_WHERE_POS(a, b, p) WHERE_POS((a) * (b), p)
#endif
#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
/* the specialised input widths D = 1..16: EACH_D(F) expands F once per D (each layout's
 * functions and its dispatch table by D from the one list) */
#define EACH_D(F) \
    F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13) F(14) F(15) F(16)

static T lanes_sum(vec v) {
    T s = 0;
    for (int k = 0; k < V; k++) s += v[k];
    return s;
}

/* Sums across lanes, V vectors at a time: FOLD(x, y, s) takes vectors made of segments of s
 * lanes (each segment the partial sums of one vector being reduced) and returns one vector of
 * segments of s/2: x's segments halved and added, then y's. log2(V) folds of V/2, V/4, ... pairs
 * leave lane j holding vector j's sum: about 3 vector operations per vector reduced against
 * 2V for lanes_sum, which took about a sixth of the kernel's time on UCI Yacht (C = 200,
 * float32, AVX-512; side by side: yacht 8.9 -> 7.5 us per init, boston 25.5 -> 22.3). */
#define LO(p, s) (((p) >= V / 2 ? V : 0) + (p) % (V / 2) / ((s) / 2) * (s) + (p) % (V / 2) % ((s) / 2))
#define HI(p, s) (LO(p, s) + (s) / 2)
#if V == 2
#define EACH_LANE(F, s) F(0, s), F(1, s)
#elif V == 4
#define EACH_LANE(F, s) F(0, s), F(1, s), F(2, s), F(3, s)
#elif V == 8
#define EACH_LANE(F, s) F(0, s), F(1, s), F(2, s), F(3, s), F(4, s), F(5, s), F(6, s), F(7, s)
#elif V == 16
#define EACH_LANE(F, s)                                                                  \
    F(0, s), F(1, s), F(2, s), F(3, s), F(4, s), F(5, s), F(6, s), F(7, s), F(8, s), F(9, s), \
        F(10, s), F(11, s), F(12, s), F(13, s), F(14, s), F(15, s)
#else
#error "HG_VBYTES / HG_TBYTES must be 2, 4, 8 or 16 lanes"
#endif
#if defined(__clang__)
#define SHUFFLE(x, y, F, s) __builtin_shufflevector(x, y, EACH_LANE(F, s))
#else /* GCC: __builtin_shuffle (GCC 4.7+; __builtin_shufflevector only from GCC 12) */
#if HG_TBYTES == 4
typedef int lane_index __attribute__((vector_size(HG_VBYTES)));
#else
typedef long long lane_index __attribute__((vector_size(HG_VBYTES)));
#endif
#define SHUFFLE(x, y, F, s) __builtin_shuffle(x, y, (lane_index){EACH_LANE(F, s)})
#endif
#define FOLD(x, y, s) (SHUFFLE(x, y, LO, s) + SHUFFLE(x, y, HI, s))

/* g[i] = the sum of acc[i]'s lanes, i < M */
static void sums_of_lanes(int M, const vec* restrict acc, T* restrict g) {
    for (int i0 = 0; i0 < M; i0 += V) {
        vec t[V];
        for (int j = 0; j < V; j++) t[j] = i0 + j < M ? acc[i0 + j] : ZERO;
#if V >= 16
        for (int i = 0; i < 8; i++) t[i] = FOLD(t[2 * i], t[2 * i + 1], 16);
#endif
#if V >= 8
        for (int i = 0; i < 4; i++) t[i] = FOLD(t[2 * i], t[2 * i + 1], 8);
#endif
#if V >= 4
        for (int i = 0; i < 2; i++) t[i] = FOLD(t[2 * i], t[2 * i + 1], 4);
#endif
        t[0] = FOLD(t[0], t[1], 2);
        for (int j = 0; j < V && i0 + j < M; j++) g[i0 + j] = t[0][j];
    }
}

/* row vectors per block (HG_R): 4 with 16 vector registers (AVX2; measured against 2 and 8 on
 * the UCI shapes, 2-core EPYC, C = 200, float32: 1.03-1.37x the GEMM floor against 1.32-1.68x
 * and 1.05-1.62x), 6 with AVX-512's 32 (2-core Xeon, the three builds side by side, 9 rounds,
 * us per init against R = 4: naval 509 -> 460, kin8nm 179 -> 174, concrete 21.7 -> 19.4, energy
 * 18.2 -> 17.3, boston 18.3 -> 17.3, power 130 -> 130; yacht 8.3 -> 8.8, its 222 rows padded
 * to 288 instead of 256; R = 8: naval 450, kin8nm 187, power 132; the HVP: naval 715 -> 614,
 * wine_red 71 -> 64, concrete 39 -> 35, boston 32 -> 29, yacht 12.1 -> 13.7). Where 6 pads a
 * data set to more rows than 4 or 5 do, hgbench/tasks/fused/mlp1.py calls a build with -DHG_R=4
 * or 5 instead (yacht's 222 rows: 240 with 5, gradient 8.0 -> 7.6 us per init against 4). */
#ifndef HG_R
#if defined(__AVX512F__)
#define HG_R 6
#else
#define HG_R 4
#endif
#endif
#define R HG_R
_Static_assert(R >= 1 && R <= 8, "HG_R: 1 to 8 row vectors per block");
static inline __attribute__((always_inline)) void one_init(
    const int D, int N, int H, int NB, const vec* restrict Xb, const vec* restrict yb,
    const vec* restrict valid, const T* restrict w, vec* restrict acc, vec* restrict acts,
    T* restrict loss, T* restrict g) {
    const T* W1 = w;
    const T* b1 = w + H * D;
    const T* w2 = b1 + H;
    const T b2 = w2[H];
    const T scale = (T)2.0 / N;
    vec* gW1 = acc;
    vec* gb1 = acc + H * D;
    vec* gw2 = gb1 + H;
    memset(acc, 0, sizeof(vec) * (size_t)(H * D + 2 * H));
    vec gb2 = ZERO, sq = ZERO;
    for (int b = 0; b < NB; b++) {
        const vec* x = Xb + (size_t)(R * b) * D;
        vec o[R];
        for (int r = 0; r < R; r++) o[r] = ZERO;
        for (int h = 0; h < H; h++) {
            const T* wr = W1 + (size_t)h * D;
            vec p[R];
            for (int r = 0; r < R; r++) p[r] = ZERO + b1[h];
            for (int d = 0; d < D; d++) {
                vec wv = ZERO + wr[d];
                for (int r = 0; r < R; r++) p[r] += wv * x[r * D + d];
            }
            vec w2v = ZERO + w2[h];
            for (int r = 0; r < R; r++) {
                vec act = RELU(p[r]);
                acts[R * h + r] = act;
                o[r] += act * w2v;
            }
        }
        vec dd[R];
        for (int r = 0; r < R; r++) {
            vec res = (o[r] + b2 - yb[R * b + r]) * valid[R * b + r];
            sq += res * res;
            dd[r] = res * scale;
            gb2 += dd[r];
        }
        for (int h = 0; h < H; h++) {
            vec w2v = ZERO + w2[h];
            vec a[R];
            vec s1 = ZERO, s2 = ZERO;
            for (int r = 0; r < R; r++) {
                vec ar = acts[R * h + r];
                a[r] = MUL_WHERE_POS(dd[r], w2v, ar);
                s1 += a[r];
                s2 += ar * dd[r];
            }
            gb1[h] += s1;
            gw2[h] += s2;
            vec* gr = gW1 + (size_t)h * D;
            for (int d = 0; d < D; d++) {
                vec s = gr[d];
                for (int r = 0; r < R; r++) s += a[r] * x[r * D + d];
                gr[d] = s;
            }
        }
    }
    sums_of_lanes(H * D + 2 * H, acc, g);
    g[H * D + 2 * H] = lanes_sum(gb2);
    *loss = lanes_sum(sq) / N;
}

/* The Hessian-vector product of the same loss at w along u (same layout as w): forward-mode
 * tangents of the pre-activations and the output ride along the forward (the buffer keeps the
 * activations and their tangents, masked), and the backward accumulates the tangent of each
 * gradient term (relu'' = 0; the mask is torch's, pre > 0). */
static inline __attribute__((always_inline)) void one_hvp(
    const int D, int N, int H, int NB, const vec* restrict Xb, const vec* restrict yb,
    const vec* restrict valid, const T* restrict w, const T* restrict u, vec* restrict acc,
    vec* restrict acts, T* restrict hv) {
    const T* W1 = w;
    const T* b1 = w + H * D;
    const T* w2 = b1 + H;
    const T b2 = w2[H];
    const T* U1 = u;
    const T* c1 = u + H * D;
    const T* u2 = c1 + H;
    const T c2 = u2[H];
    const T scale = (T)2.0 / N;
    vec* hW1 = acc;
    vec* hb1 = acc + H * D;
    vec* hw2 = hb1 + H;
    vec* dacts = acts + R * H;
    memset(acc, 0, sizeof(vec) * (size_t)(H * D + 2 * H));
    vec hb2 = ZERO;
    for (int b = 0; b < NB; b++) {
        const vec* x = Xb + (size_t)(R * b) * D;
        vec o[R], od[R];
        for (int r = 0; r < R; r++) o[r] = od[r] = ZERO;
        for (int h = 0; h < H; h++) {
            const T* wr = W1 + (size_t)h * D;
            const T* ur = U1 + (size_t)h * D;
            vec p[R], q[R];
            for (int r = 0; r < R; r++) {
                p[r] = ZERO + b1[h];
                q[r] = ZERO + c1[h];
            }
            for (int d = 0; d < D; d++) {
                vec wv = ZERO + wr[d], uv = ZERO + ur[d];
                for (int r = 0; r < R; r++) {
                    p[r] += wv * x[r * D + d];
                    q[r] += uv * x[r * D + d];
                }
            }
            vec w2v = ZERO + w2[h], u2v = ZERO + u2[h];
            for (int r = 0; r < R; r++) {
                vec act = RELU(p[r]), dact = WHERE_POS(q[r], p[r]);
                acts[R * h + r] = act;
                dacts[R * h + r] = dact;
                o[r] += act * w2v;
                od[r] += act * u2v + dact * w2v;
            }
        }
        vec go[R], dgo[R];
        for (int r = 0; r < R; r++) {
            go[r] = (o[r] + b2 - yb[R * b + r]) * valid[R * b + r] * scale;
            dgo[r] = (od[r] + c2) * valid[R * b + r] * scale;
            hb2 += dgo[r];
        }
        for (int h = 0; h < H; h++) {
            vec w2v = ZERO + w2[h], u2v = ZERO + u2[h];
            vec a[R];
            vec s1 = ZERO, s2 = ZERO;
            for (int r = 0; r < R; r++) {
                vec ar = acts[R * h + r], qr = dacts[R * h + r];
                a[r] = WHERE_POS(dgo[r] * w2v + go[r] * u2v, ar);
                s1 += a[r];
                s2 += ar * dgo[r] + qr * go[r];
            }
            hb1[h] += s1;
            hw2[h] += s2;
            vec* gr = hW1 + (size_t)h * D;
            for (int d = 0; d < D; d++) {
                vec s = gr[d];
                for (int r = 0; r < R; r++) s += a[r] * x[r * D + d];
                gr[d] = s;
            }
        }
    }
    sums_of_lanes(H * D + 2 * H, acc, hv);
    hv[H * D + 2 * H] = lanes_sum(hb2);
}

/* The gradient with the inits in the lanes, for D <= HG_IL_MAX_D (16, every specialised D;
 * -DHG_IL_MAX_D=0 gives the rows-in-lanes gradient above for all): V inits per group, their
 * weights transposed into vectors (Wv[p] lane k = init k's weight p; lanes past the last init
 * zero, their results dropped), the rows in tiles of NT = 16 taken as scalars (broadcast), and
 * per tile two passes over the hidden units: the forward keeps W1's row of unit h in D
 * registers across the tile's rows (the tile's outputs in NT registers), the backward keeps
 * unit h's D + 2 gradient sums in registers across them (loaded and stored once per tile). The
 * lanes are inits, so no row is padded and nothing is summed across lanes; init k's loss is lane
 * k's sum. Side by side with the rows-in-lanes gradient (each data set's build of R), real UCI
 * data, 2-core Xeon, AVX-512, float32, C = 200, 9 rounds, time per init: yacht 0.85x, boston
 * 0.84x, energy 0.82x, concrete 0.89x, wine_red 0.87x, kin8nm 0.86x, power 0.98x, naval 0.92x.
 * Tiles of 8 and 12 rows were slower than 16 on yacht, boston, energy, wine_red and power (the
 * same build otherwise, side by side). */
#ifndef HG_IL_MAX_D
#define HG_IL_MAX_D 16
#endif
_Static_assert(HG_IL_MAX_D >= 0 && HG_IL_MAX_D <= 16, "HG_IL_MAX_D: 0 to 16");
#define NT 16
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif
static inline __attribute__((always_inline)) void one_group(
    const int D, int N, int H, const T* restrict X, const T* restrict y, const vec* restrict Wv,
    vec* restrict Gv, vec* restrict acts, vec* restrict sq_out) {
    const vec* W1 = Wv;
    const vec* b1 = Wv + H * D;
    const vec* w2 = b1 + H;
    const vec b2 = w2[H];
    vec* gW1 = Gv;
    vec* gb1 = Gv + H * D;
    vec* gw2 = gb1 + H;
    const T scale = (T)2.0 / N;
    memset(Gv, 0, sizeof(vec) * (size_t)(H * D + 2 * H));
    vec gb2 = ZERO, sq = ZERO;
    T xt[NT * 16], yt[NT], ok[NT];
    for (int n0 = 0; n0 < N; n0 += NT) {
        const T* x = X + (size_t)n0 * D;
        UNROLL for (int r = 0; r < NT; r++) {
            ok[r] = n0 + r < N;
            yt[r] = ok[r] ? y[n0 + r] : 0;
        }
        if (N - n0 < NT) { /* the last tile, its missing rows zero and left out below */
            for (int k = 0; k < NT * D; k++) xt[k] = k < (N - n0) * D ? x[k] : 0;
            x = xt;
        }
        vec o[NT];
        UNROLL for (int r = 0; r < NT; r++) o[r] = b2;
        for (int h = 0; h < H; h++) {
            vec wr[16];
            UNROLL for (int d = 0; d < D; d++) wr[d] = W1[h * D + d];
            const vec bh = b1[h], w2h = w2[h];
            UNROLL for (int r = 0; r < NT; r++) {
                vec p = bh;
                UNROLL for (int d = 0; d < D; d++) p += wr[d] * x[r * D + d];
                vec act = RELU(p);
                acts[h * NT + r] = act;
                o[r] += act * w2h;
            }
        }
        vec e[NT];
        UNROLL for (int r = 0; r < NT; r++) {
            vec res = (o[r] - yt[r]) * ok[r];
            sq += res * res;
            e[r] = res * scale;
            gb2 += e[r];
        }
        for (int h = 0; h < H; h++) {
            vec g[16];
            UNROLL for (int d = 0; d < D; d++) g[d] = gW1[h * D + d];
            vec sb = gb1[h], sw = gw2[h];
            const vec w2h = w2[h];
            UNROLL for (int r = 0; r < NT; r++) {
                vec act = acts[h * NT + r];
                sw += e[r] * act;
                vec delta = MUL_WHERE_POS(e[r], w2h, act);
                sb += delta;
                UNROLL for (int d = 0; d < D; d++) g[d] += delta * x[r * D + d];
            }
            UNROLL for (int d = 0; d < D; d++) gW1[h * D + d] = g[d];
            gb1[h] = sb;
            gw2[h] = sw;
        }
    }
    Gv[H * D + 2 * H] = gb2;
    *sq_out = sq;
}

/* C inits in groups of V: each group's weights in, its losses and gradients out */
#define IL_GROUPS(DD)                                                                             \
    static void CAT(groups, DD)(int C, int N, int H, const T* X, const T* y, const T* W,        \
                                vec* Wv, vec* Gv, vec* acts, T* loss, T* G) {                   \
        const size_t P = (size_t)H * DD + 2 * (size_t)H + 1;                                     \
        for (int c0 = 0; c0 < C; c0 += V) {                                                      \
            const int nc = C - c0 < V ? C - c0 : V;                                              \
            for (size_t p = 0; p < P; p++) {                                                     \
                vec v = ZERO;                                                                    \
                for (int k = 0; k < nc; k++) v[k] = W[(c0 + k) * P + p];                         \
                Wv[p] = v;                                                                       \
            }                                                                                    \
            vec sq;                                                                              \
            one_group(DD, N, H, X, y, Wv, Gv, acts, &sq);                                        \
            for (int k = 0; k < nc; k++) {                                                       \
                loss[c0 + k] = sq[k] / N;                                                        \
                for (size_t p = 0; p < P; p++) G[(c0 + k) * P + p] = Gv[p][k];                   \
            }                                                                                    \
        }                                                                                        \
    }
EACH_D(IL_GROUPS)

typedef void (*groups_fn)(int, int, int, const T*, const T*, const T*, vec*, vec*, vec*, T*, T*);
#define GROUPS_ENTRY(DD) CAT(groups, DD),
static const groups_fn GROUPS[17] = {0, EACH_D(GROUPS_ENTRY)};

static int run_groups(int C, int N, int D, int H, const T* X, const T* y, const T* W, T* loss,
                      T* G) {
    const size_t P = (size_t)H * D + 2 * (size_t)H + 1;
    vec* Wv = aligned_alloc(sizeof(vec), sizeof(vec) * P);
    vec* Gv = aligned_alloc(sizeof(vec), sizeof(vec) * P);
    vec* acts = aligned_alloc(sizeof(vec), sizeof(vec) * (size_t)H * NT);
    int status = 2;
    if (Wv && Gv && acts) {
        GROUPS[D](C, N, H, X, y, W, Wv, Gv, acts, loss, G);
        status = 0;
    }
    free(Wv); free(Gv); free(acts);
    return status;
}

/* C inits one after the other: gradients (U == NULL) or HVPs along U [C, P] */
#define EACH_INIT(DD)                                                                      \
    const size_t P = (size_t)H * DD + 2 * (size_t)H + 1;                                   \
    for (int c = 0; c < C; c++) {                                                          \
        if (U)                                                                             \
            one_hvp(DD, N, H, NB, Xb, yb, valid, W + c * P, U + c * P, acc, acts, G + c * P); \
        else                                                                               \
            one_init(DD, N, H, NB, Xb, yb, valid, W + c * P, acc, acts, loss + c, G + c * P); \
    }
#define SPECIALISED(DD)                                                                     \
    static void CAT(inits, DD)(int C, int N, int H, int NB, const vec* Xb, const vec* yb, \
                               const vec* valid, const T* W, const T* U, vec* acc,        \
                               vec* acts, T* loss, T* G) {                                 \
        EACH_INIT(DD)                                                                      \
    }
EACH_D(SPECIALISED)

typedef void (*inits_fn)(int, int, int, int, const vec*, const vec*, const vec*, const T*,
                         const T*, vec*, vec*, T*, T*);
#define INITS_ENTRY(DD) CAT(inits, DD),
static const inits_fn SPECIALISATIONS[17] = {0, EACH_D(INITS_ENTRY)};

static void inits_any(int C, int N, int D, int H, int NB, const vec* Xb, const vec* yb,
                      const vec* valid, const T* W, const T* U, vec* acc, vec* acts, T* loss,
                      T* G) {
    EACH_INIT(D)
}

static int run(int C, int N, int D, int H, const T* X, const T* y, const T* W, const T* U,
               T* loss, T* G) {
    if (C < 0 || N < 1 || D < 1 || H < 1) return 1;
    if (C == 0) return 0;
    if (!U && D <= HG_IL_MAX_D) return run_groups(C, N, D, H, X, y, W, loss, G);
    const int NB = (N + R * V - 1) / (R * V);
    vec* Xb = aligned_alloc(sizeof(vec), sizeof(vec) * (size_t)NB * R * D);
    vec* yb = aligned_alloc(sizeof(vec), sizeof(vec) * (size_t)NB * R);
    vec* valid = aligned_alloc(sizeof(vec), sizeof(vec) * (size_t)NB * R);
    vec* acc = aligned_alloc(sizeof(vec), sizeof(vec) * ((size_t)H * D + 2 * (size_t)H));
    vec* acts = aligned_alloc(sizeof(vec), sizeof(vec) * 2 * R * (size_t)H);
    int status = 2;
    if (Xb && yb && valid && acc && acts) {
        for (int r = 0; r < R * NB; r++) {
            vec yv = ZERO, ok = ZERO;
            for (int k = 0; k < V; k++) {
                int n = r * V + k;
                if (n < N) { yv[k] = y[n]; ok[k] = 1; }
            }
            yb[r] = yv;
            valid[r] = ok;
            for (int d = 0; d < D; d++) {
                vec xv = ZERO;
                for (int k = 0; k < V; k++) {
                    int n = r * V + k;
                    if (n < N) xv[k] = X[(size_t)n * D + d];
                }
                Xb[(size_t)r * D + d] = xv;
            }
        }
        if (D <= 16)
            SPECIALISATIONS[D](C, N, H, NB, Xb, yb, valid, W, U, acc, acts, loss, G);
        else
            inits_any(C, N, D, H, NB, Xb, yb, valid, W, U, acc, acts, loss, G);
        status = 0;
    }
    free(Xb); free(yb); free(valid); free(acc); free(acts);
    return status;
}

/* this build's SIMD lanes and row vectors per block (a block is their product of rows): the
 * caller picks among builds by the rows each pads a data set to */
int CAT(hg_mlp1_lanes, HG_SUFFIX)(void) { return V; }
int CAT(hg_mlp1_block_vectors, HG_SUFFIX)(void) { return R; }

/* X [N, D] row-major, y [N], W [C, P] with P = H*D + 2H + 1; writes loss [C] and G [C, P].
 * Returns 0, or 1 on bad sizes, 2 when out of memory. */
int CAT(hg_mlp1_value_and_grad, HG_SUFFIX)(int C, int N, int D, int H, const T* X, const T* y,
                                           const T* W, T* loss, T* G) {
    return run(C, N, D, H, X, y, W, 0, loss, G);
}

/* The same rows and weights, and directions U [C, P]; writes the Hessian-vector products
 * HV [C, P] (init c's Hessian times U[c]). Returns as above. */
int CAT(hg_mlp1_hvp, HG_SUFFIX)(int C, int N, int D, int H, const T* X, const T* y, const T* W,
                                const T* U, T* HV) {
    return run(C, N, D, H, X, y, W, U, 0, HV);
}
