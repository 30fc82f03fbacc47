"""The C source of the CPU selective-scan kernel, compiled on first use by :mod:`.scan_c`.

It lives in a Python module (not a ``.c`` file) so that transformers' remote-code machinery, which copies the
``.py`` files a model imports, ships it with every checkpoint saved with ``register_for_auto_class``.
"""

C_SOURCE = r"""/*
 * CPU kernels of bytevid_hf's Mamba layer (fp32): the fused selective scan and the causal depthwise convolution.
 *
 * Plain C (no Python or torch headers): compiled on first use by bytevid_hf.modeling.scan_c and called through
 * ctypes.
 *
 * Selective scan, for every channel e and state index n (Gu & Dao 2023, Alg. 2):
 *     dt_t[e]   = softplus(delta_t[e] + bias[e])        (delta_t[e] + bias[e] without softplus)
 *     h_t[e, n] = exp(dt_t[e] * A[e, n]) * h_{t-1}[e, n] + dt_t[e] * B_t[n] * u_t[e]
 *     y_t[e]    = (sum_n C_t[n] * h_t[e, n] + D[e] * u_t[e]) * silu(z_t[e])
 * with softplus, bias, D and the gate fused into the one pass over the sequence.
 *
 * Layout: time-major. u, delta, z (and grad_y) are read as rows of E channels, element (b, t, e) at
 * b * s_b + t * s_t + e (any batch and row strides, channels contiguous), so the in_proj, dt_proj and conv outputs of a
 * Mamba layer are read in place; B and C as rows of N (b * s_b + t * s_t + n). Outputs are contiguous (batch, L, E)
 * (y, grad_u, grad_delta, grad_z), (batch, L, N) (grad_B, grad_C), (batch, E, N) (states), (E, N) (A, grad_A).
 *
 * Vectorisation: a tile of VL channels (16 with AVX-512, else 8: one vector) holds its N states in N vectors; every
 * position updates them with a vectorised exp and FMAs; B_t[n] and C_t[n] are broadcast. No horizontal sums in the
 * forward. Threads: OpenMP over (batch row, tile) pairs in the forward; over tiles in the backward.
 *
 * Checkpoints: the forward stores the state before every K positions (ckpt, (batch, ceil(L/K), N, E)). The backward
 * walks the sequence in reverse, K positions at a time: a tile recomputes the block's decays and states from its
 * checkpoint into per-thread scratch (2 * K * N vectors) and runs the adjoint recurrence
 *     lambda_t = C_t * ds_t + a_{t+1} * lambda_{t+1}        (plus grad_hT at t = L)
 * backwards through it. grad_B and grad_C sum over channels: each tile reduces its lanes (a fixed shuffle tree) into
 * per-tile partial rows for a super-block of BV_SUPER blocks; after a barrier the partials are summed over tiles in
 * tile order, positions split among threads. grad_A, grad_D and grad_bias are per-channel sums kept per tile. So the
 * results are bitwise identical for any number of threads.
 *
 * exp() is a branch-free polynomial (Cephes expf, ~1 ulp); arguments below ln(FLT_MIN) ~ -87.3 return exactly 0
 * (the decay underflows, as in the reference), never NaN; NaN propagates.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define BV_ABI_VERSION 2

#if defined(__GNUC__) || defined(__clang__)
#define BV_INLINE static inline __attribute__((always_inline))
#define BV_EXPORT __attribute__((visibility("default")))
#else
#define BV_INLINE static inline
#define BV_EXPORT
#endif

/* Instruction set of this build: 2 = AVX-512 (16-lane vectors), 1 = AVX2 + FMA (8 lanes), 0 = portable C (8-lane
 * vector extensions, lowered to whatever the target has). */
#if defined(__AVX512F__)
#define VL 16
#define BV_ISA 2
#elif defined(__AVX2__) && defined(__FMA__)
#define VL 8
#define BV_ISA 1
#else
#define VL 8
#define BV_ISA 0
#endif

#define BV_NMAX 256 /* largest state size */
#define BV_SUPER 8 /* checkpoint blocks per super-block of the backward */

typedef float vf __attribute__((vector_size(VL * 4)));
typedef int32_t vi __attribute__((vector_size(VL * 4)));
typedef float vf_u __attribute__((vector_size(VL * 4), aligned(4), may_alias)); /* unaligned memory access */

BV_INLINE vf vload(const float *p) { return *(const vf_u *)p; }
BV_INLINE void vstore(float *p, vf v) { *(vf_u *)p = v; }
BV_INLINE vf vsplat(float x) { return (vf){0} + x; }
BV_INLINE vf vselect(vi mask, vf if_true, vf if_false) {
    return (vf)((mask & (vi)if_true) | (~mask & (vi)if_false));
}
/* the first nv lanes of p, zeros after (nv == VL: one vector load) */
BV_INLINE vf vload_n(const float *p, int nv) {
    if (nv == VL) return vload(p);
    vf v = vsplat(0.0f);
    for (int i = 0; i < nv; i++) v[i] = p[i];
    return v;
}
BV_INLINE void vstore_n(float *p, vf v, int nv) {
    if (nv == VL) {
        vstore(p, v);
        return;
    }
    for (int i = 0; i < nv; i++) p[i] = v[i];
}
BV_INLINE vf vmax(vf a, vf b) { return vselect(a > b, a, b); }

/* ------------------------------------------------------------------------------------------------------------ */
/* exp, log1p, softplus, sigmoid                                                                                 */
/* ------------------------------------------------------------------------------------------------------------ */

/* exp(x) in fp32, ~1 ulp, branch-free: exp(x) = 2^k * exp(r), k = round(x / ln 2), r = x - k ln 2 by a two-constant
 * (Cody-Waite) reduction, exp(r) = 1 + r + r^2 q(r) with q a degree-4 minimax fit on |r| <= ln(2)/2 (relative error
 * 3e-9 before rounding; ~1 ulp evaluated in fp32). x < ln(FLT_MIN) returns exactly 0 (the decay underflows, as in the
 * reference), never NaN; x > 88 is clamped to exp(88); NaN propagates. Rounding x / ln 2 to an integer uses the
 * 1.5 * 2^23 trick: t = z + M holds round(z) in its low mantissa bits, so t - M is round(z) as a float and
 * (bits(t) + 127) << 23 is 2^round(z). Both this and the range reduction need the source order of the additions:
 * compile with -fno-associative-math (also under -ffast-math). */
#define BV_EXP_LO (-87.33654475f) /* ln(FLT_MIN) */
#define BV_EXP_HI 88.0f
#define BV_LOG2E 1.44269504088896341f
#define BV_ROUND_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define BV_LN2_HI 0.693359375f     /* ln 2 = BV_LN2_HI + BV_LN2_LO, BV_LN2_HI with few bits: k * BV_LN2_HI is exact */
#define BV_LN2_LO (-2.12194440e-4f)
#define BV_EXP_Q4 1.3814612757e-3f /* q(r) = (((Q4 r + Q3) r + Q2) r + Q1) r + Q0 */
#define BV_EXP_POLY(p, r)                                                                                            \
    do {                                                                                                             \
        p = p * r + 8.3687100559e-3f;                                                                                \
        p = p * r + 4.1668388993e-2f;                                                                                \
        p = p * r + 1.6666521132e-1f;                                                                                \
        p = p * r + 4.9999994040e-1f;                                                                                \
        p = p * r + 1.0f;                                                                                            \
        p = p * r + 1.0f; /* = 1 + r + r^2 q(r) */                                                                   \
    } while (0)

#if BV_ISA == 2
/* AVX-512: vscalefps multiplies by 2^k, and a zero-masked result gives the exact 0 below ln(FLT_MIN) (whatever the
 * reduction computed there: no lower clamp is needed). min takes x second, so a NaN x propagates. */
BV_INLINE vf vexp(vf x) {
    const __m512 xv = (__m512)x, lo = _mm512_set1_ps(BV_EXP_LO);
    const __m512 xc = _mm512_min_ps(_mm512_set1_ps(BV_EXP_HI), xv);
    const __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(BV_LOG2E), _mm512_set1_ps(BV_ROUND_MAGIC));
    const __m512 kf = _mm512_sub_ps(t, _mm512_set1_ps(BV_ROUND_MAGIC));
    __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(BV_LN2_HI), xc);
    r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(BV_LN2_LO), r);
    vf p = vsplat(BV_EXP_Q4), rv = (vf)r;
    BV_EXP_POLY(p, rv);
    const __mmask16 under = _mm512_cmp_ps_mask(xv, lo, _CMP_LT_OQ);
    return (vf)_mm512_maskz_scalef_ps((__mmask16)~under, (__m512)p, kf);
}
#else
BV_INLINE vf vexp(vf x) {
    const vf lo = vsplat(BV_EXP_LO), hi = vsplat(BV_EXP_HI);
    const vi under = x < lo;
    vf xc = vselect(under, lo, x);
    xc = vselect(xc > hi, hi, xc);
    const vf t = xc * vsplat(BV_LOG2E) + vsplat(BV_ROUND_MAGIC);
    const vf kf = t - vsplat(BV_ROUND_MAGIC);
    vf r = xc - kf * vsplat(BV_LN2_HI);
    r = r - kf * vsplat(BV_LN2_LO);
    vf p = vsplat(BV_EXP_Q4);
    BV_EXP_POLY(p, r);
    const vf scale = (vf)(((vi)t + 127) << 23);
    return (vf)((vi)(p * scale) & ~under);
}
#endif

/* x[i] = exp(x[i]) for i < BV_ILP, the same arithmetic as vexp, step by step across the BV_ILP vectors: independent
 * instructions side by side keep the FP pipes busy (one exp alone is a chain of ~15 dependent instructions, and the
 * out-of-order window holds too few of them to overlap by itself). */
#if BV_ISA == 2
#define BV_ILP 4
BV_INLINE void vexp_ilp(vf *x) {
    const __m512 lo = _mm512_set1_ps(BV_EXP_LO), magic = _mm512_set1_ps(BV_ROUND_MAGIC);
    __m512 xc[BV_ILP], kf[BV_ILP], r[BV_ILP];
    __mmask16 keep[BV_ILP];
    vf p[BV_ILP];
    for (int i = 0; i < BV_ILP; i++) {
        keep[i] = (__mmask16)~_mm512_cmp_ps_mask((__m512)x[i], lo, _CMP_LT_OQ);
        xc[i] = _mm512_min_ps(_mm512_set1_ps(BV_EXP_HI), (__m512)x[i]);
    }
    for (int i = 0; i < BV_ILP; i++) kf[i] = _mm512_sub_ps(_mm512_fmadd_ps(xc[i], _mm512_set1_ps(BV_LOG2E), magic), magic);
    for (int i = 0; i < BV_ILP; i++) r[i] = _mm512_fnmadd_ps(kf[i], _mm512_set1_ps(BV_LN2_HI), xc[i]);
    for (int i = 0; i < BV_ILP; i++) r[i] = _mm512_fnmadd_ps(kf[i], _mm512_set1_ps(BV_LN2_LO), r[i]);
    for (int i = 0; i < BV_ILP; i++) p[i] = vsplat(BV_EXP_Q4) * (vf)r[i] + 8.3687100559e-3f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * (vf)r[i] + 4.1668388993e-2f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * (vf)r[i] + 1.6666521132e-1f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * (vf)r[i] + 4.9999994040e-1f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * (vf)r[i] + 1.0f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * (vf)r[i] + 1.0f;
    for (int i = 0; i < BV_ILP; i++) x[i] = (vf)_mm512_maskz_scalef_ps(keep[i], (__m512)p[i], kf[i]);
}
#else
#define BV_ILP 2
BV_INLINE void vexp_ilp(vf *x) {
    const vf lo = vsplat(BV_EXP_LO), hi = vsplat(BV_EXP_HI);
    vi under[BV_ILP];
    vf xc[BV_ILP], t[BV_ILP], kf[BV_ILP], r[BV_ILP], p[BV_ILP];
    for (int i = 0; i < BV_ILP; i++) {
        under[i] = x[i] < lo;
        xc[i] = vselect(under[i], lo, x[i]);
        xc[i] = vselect(xc[i] > hi, hi, xc[i]);
    }
    for (int i = 0; i < BV_ILP; i++) t[i] = xc[i] * vsplat(BV_LOG2E) + vsplat(BV_ROUND_MAGIC);
    for (int i = 0; i < BV_ILP; i++) kf[i] = t[i] - vsplat(BV_ROUND_MAGIC);
    for (int i = 0; i < BV_ILP; i++) r[i] = xc[i] - kf[i] * vsplat(BV_LN2_HI);
    for (int i = 0; i < BV_ILP; i++) r[i] = r[i] - kf[i] * vsplat(BV_LN2_LO);
    for (int i = 0; i < BV_ILP; i++) p[i] = vsplat(BV_EXP_Q4) * r[i] + 8.3687100559e-3f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * r[i] + 4.1668388993e-2f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * r[i] + 1.6666521132e-1f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * r[i] + 4.9999994040e-1f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * r[i] + 1.0f;
    for (int i = 0; i < BV_ILP; i++) p[i] = p[i] * r[i] + 1.0f;
    for (int i = 0; i < BV_ILP; i++) x[i] = (vf)((vi)(p[i] * (vf)(((vi)t[i] + 127) << 23)) & ~under[i]);
}
#endif

/* log1p(w) for w in [0, 1]: log(m) + (w - (m - 1)) / m with m = 1 + w rounded (the second term restores what the
 * rounding of m lost, so tiny w give w), log(m) by Cephes logf on m or m / 2 (both subtractions exact). */
BV_INLINE vf vlog1p01(vf w) {
    const vf one = vsplat(1.0f);
    const vf m = one + w;
    const vi big = m >= vsplat(1.41421356237f);
    const vf x = vselect(big, m * vsplat(0.5f), m) - one;
    const vf e = vselect(big, one, vsplat(0.0f));
    const vf z = x * x;
    vf y = vsplat(7.0376836292E-2f);
    y = y * x - vsplat(1.1514610310E-1f);
    y = y * x + vsplat(1.1676998740E-1f);
    y = y * x - vsplat(1.2420140846E-1f);
    y = y * x + vsplat(1.4249322787E-1f);
    y = y * x - vsplat(1.6668057665E-1f);
    y = y * x + vsplat(2.0000714765E-1f);
    y = y * x - vsplat(2.4999993993E-1f);
    y = y * x + vsplat(3.3333331174E-1f);
    y = y * x * z;
    y = y + e * vsplat(BV_LN2_LO);
    y = y - vsplat(0.5f) * z;
    vf res = x + y;
    res = res + e * vsplat(BV_LN2_HI);
    return res + (w - (m - one)) / m;
}

/* e = exp(-|x|) and the logistic sigmoid (x >= 0 ? 1 : e) / (1 + e), exact in both tails */
BV_INLINE vf vsigmoid_e(vf x, vf e) { return vselect(x >= vsplat(0.0f), vsplat(1.0f), e) / (vsplat(1.0f) + e); }
BV_INLINE vf vexp_neg_abs(vf x) { return vexp(-vmax(x, -x)); }
BV_INLINE vf vsigmoid(vf x) { return vsigmoid_e(x, vexp_neg_abs(x)); }
/* softplus(x) = max(x, 0) + log1p(exp(-|x|)) (= x above 20 to fp32 precision, as torch's threshold) */
BV_INLINE vf vsoftplus_e(vf x, vf e) { return vmax(x, vsplat(0.0f)) + vlog1p01(e); }

/* ------------------------------------------------------------------------------------------------------------ */
/* lane sums: r[i] = sum of the lanes of v[i], i < VL, by a fixed shuffle tree                                    */
/* ------------------------------------------------------------------------------------------------------------ */

#if defined(__clang__)
#define BV_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define BV_SHUF(a, b, ...) __builtin_shuffle(a, b, (vi){__VA_ARGS__})
#endif

#if VL == 16
/* v holds 16 vectors in bit-reversed order (v[j] is the vector of rev4(j)): the tree then yields natural order */
BV_INLINE vf lane_sums(const vf *v) {
    vf w[8], x[4], y[2];
    for (int i = 0; i < 8; i++)
        w[i] = BV_SHUF(v[2 * i], v[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
               BV_SHUF(v[2 * i], v[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int i = 0; i < 4; i++)
        x[i] = BV_SHUF(w[2 * i], w[2 * i + 1], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
               BV_SHUF(w[2 * i], w[2 * i + 1], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int i = 0; i < 2; i++)
        y[i] = BV_SHUF(x[2 * i], x[2 * i + 1], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
               BV_SHUF(x[2 * i], x[2 * i + 1], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    return BV_SHUF(y[0], y[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
           BV_SHUF(y[0], y[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
}
static const int bv_rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
#else
BV_INLINE vf lane_sums(const vf *v) {
    vf w[4], x[2];
    for (int i = 0; i < 4; i++)
        w[i] = BV_SHUF(v[2 * i], v[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
               BV_SHUF(v[2 * i], v[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15);
    for (int i = 0; i < 2; i++)
        x[i] = BV_SHUF(w[2 * i], w[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               BV_SHUF(w[2 * i], w[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    return BV_SHUF(x[0], x[1], 0, 8, 2, 10, 4, 12, 6, 14) + BV_SHUF(x[0], x[1], 1, 9, 3, 11, 5, 13, 7, 15);
}
static const int bv_rev[8] = {0, 4, 2, 6, 1, 5, 3, 7};
#endif

/* out[n] = sum of the lanes of v[n], n < N */
BV_INLINE void reduce_lanes(const vf *v, float *out, const int N) {
    for (int g = 0; g < N; g += VL) {
        vf in[VL];
        for (int j = 0; j < VL; j++) {
            const int n = g + bv_rev[j];
            in[j] = n < N ? v[n] : vsplat(0.0f);
        }
        const vf r = lane_sums(in);
        vstore_n(out + g, r, N - g < VL ? N - g : VL);
    }
}

/* Touch the pages of out[0, n) that this thread (tid of nthr) owns, a contiguous share. Outputs written by channel
 * tiles are touched by every thread at once; a freshly mapped buffer is then page-faulted in by threads contending for
 * the same pages. Faulting it in contiguous shares first is about twice as fast. */
static void touch_pages(float *out, int64_t n, int tid, int nthr) {
    const int64_t page = 1024; /* floats per 4 KiB page */
    const int64_t lo = n * tid / nthr, hi = n * (tid + 1) / nthr;
    for (int64_t i = (lo + page - 1) / page * page; i < hi; i += page) ((volatile float *)out)[i] = 0.0f;
}

/* threads the last call ran on (diagnostics for the tests) */
static volatile int bv_last_threads = 1;

/* ------------------------------------------------------------------------------------------------------------ */
/* selective scan: forward                                                                                       */
/* ------------------------------------------------------------------------------------------------------------ */

/* Strided inputs of the scan: u, delta, z, B, C ((batch, row) strides), and grad_y for the backward. */
typedef struct {
    const float *u, *dl, *z, *Bm, *Cm, *gy;
    int64_t u_sb, u_st, d_sb, d_st, z_sb, z_st, B_sb, B_st, C_sb, C_st, g_sb, g_st;
} bv_rows;

/* per-tile constants: A (N vectors), D, bias */
typedef struct {
    vf D, bias;
    int nv, hasD, softplus;
} bv_tile;

static void tile_setup(bv_tile *tp, vf *At, const float *A, const float *D, const float *bias, int64_t e0, int nv,
                       int N, int softplus) {
    for (int n = 0; n < N; n++) {
        vf a = vsplat(0.0f);
        for (int i = 0; i < nv; i++) a[i] = A[(e0 + i) * N + n];
        At[n] = a;
    }
    tp->D = D ? vload_n(D + e0, nv) : vsplat(0.0f);
    tp->bias = bias ? vload_n(bias + e0, nv) : vsplat(0.0f);
    tp->nv = nv;
    tp->hasD = D != NULL;
    tp->softplus = softplus;
}

/* state lanes from / to a (E, N) row block: h[n][i] = src[i * N + n] */
static void states_in(vf *h, const float *src, int nv, int N) {
    for (int n = 0; n < N; n++) {
        vf v = vsplat(0.0f);
        if (src)
            for (int i = 0; i < nv; i++) v[i] = src[(int64_t)i * N + n];
        h[n] = v;
    }
}
static void states_out(const vf *h, float *dst, int nv, int N) {
    for (int n = 0; n < N; n++)
        for (int i = 0; i < nv; i++) dst[(int64_t)i * N + n] = h[n][i];
}

#define BV_STAGE 64 /* positions per stage of fwd_positions */

/* dt = softplus(delta + bias) (or delta + bias) of positions [t0, t1) into dt[], and with dsp its derivative. The
 * positions are independent, so the out-of-order core overlaps them (in the recurrence each would be a long chain). */
BV_INLINE void time_steps(const bv_tile *tp, const float *restrict dl, int64_t sd, int64_t t0, int64_t t1,
                          vf *restrict dt, vf *restrict dsp) {
    const int nv = tp->nv;
    for (int64_t t = t0; t < t1; t++) {
        const vf x = vload_n(dl + t * sd, nv) + tp->bias;
        if (!tp->softplus) {
            dt[t - t0] = x;
            if (dsp) dsp[t - t0] = vsplat(1.0f);
            continue;
        }
        const vf e = vexp_neg_abs(x);
        dt[t - t0] = vsoftplus_e(x, e);
        if (dsp) dsp[t - t0] = vsigmoid_e(x, e);
    }
}

/* Positions [t0, t1) of one tile (u, dl, z, y point at the tile's first channel of batch row b), in stages of
 * BV_STAGE positions: the time steps, then the recurrence (exps side by side, BV_ILP at a time), then the output
 * (D skip and gate); only the middle pass is sequential in time. */
BV_INLINE void fwd_positions(const bv_tile *tp, const vf *restrict At, vf *restrict h, const float *restrict u,
                             int64_t su, const float *restrict dl, int64_t sd, const float *restrict z, int64_t sz,
                             const float *restrict Bm, int64_t sB, const float *restrict Cm, int64_t sC,
                             float *restrict y, int64_t sy, int64_t t0, int64_t t1, const int N) {
    const int nv = tp->nv;
    vf dt[BV_STAGE], s[BV_STAGE];
    for (int64_t s0 = t0; s0 < t1; s0 += BV_STAGE) {
        const int64_t s1 = s0 + BV_STAGE < t1 ? s0 + BV_STAGE : t1;
        time_steps(tp, dl, sd, s0, s1, dt, NULL);
        for (int64_t t = s0; t < s1; t++) {
            const vf d = dt[t - s0], du = d * vload_n(u + t * su, nv);
            const float *restrict Bt = Bm + t * sB;
            const float *restrict Ct = Cm + t * sC;
            vf out = vsplat(0.0f);
            int n = 0;
            for (; n + BV_ILP <= N; n += BV_ILP) { /* in order of n, one accumulator: the order a plain loop sums in */
                vf a[BV_ILP];
                for (int i = 0; i < BV_ILP; i++) a[i] = d * At[n + i];
                vexp_ilp(a);
                for (int i = 0; i < BV_ILP; i++) {
                    h[n + i] = a[i] * h[n + i] + du * Bt[n + i];
                    out += Ct[n + i] * h[n + i];
                }
            }
            for (; n < N; n++) {
                const vf a = vexp(d * At[n]);
                h[n] = a * h[n] + du * Bt[n];
                out += Ct[n] * h[n];
            }
            s[t - s0] = out;
        }
        for (int64_t t = s0; t < s1; t++) {
            vf out = s[t - s0];
            if (tp->hasD) out += tp->D * vload_n(u + t * su, nv);
            if (z) {
                const vf zz = vload_n(z + t * sz, nv);
                out = out * (zz * vsigmoid(zz));
            }
            vstore_n(y + t * sy, out, nv);
        }
    }
}

BV_INLINE void fwd_tile(const bv_rows *r, const float *A, const float *D, const float *bias, const float *h0,
                        float *y, float *hT, float *ckpt, int64_t b, int64_t e0, int64_t E, int64_t L, int64_t K,
                        int softplus, const int N) {
    vf At[N], h[N];
    bv_tile tp;
    const int nv = (int)(E - e0 < VL ? E - e0 : VL);
    tile_setup(&tp, At, A, D, bias, e0, nv, N, softplus);
    states_in(h, h0 ? h0 + (b * E + e0) * N : NULL, nv, N);
    const int64_t nchunks = (L + K - 1) / K;
    const float *u = r->u + b * r->u_sb + e0, *dl = r->dl + b * r->d_sb + e0;
    const float *z = r->z ? r->z + b * r->z_sb + e0 : NULL;
    const float *Bm = r->Bm + b * r->B_sb, *Cm = r->Cm + b * r->C_sb;
    float *yb = y + b * L * E + e0;
    for (int64_t c = 0; c < nchunks; c++) {
        const int64_t t0 = c * K, t1 = t0 + K < L ? t0 + K : L;
        if (ckpt) {
            for (int n = 0; n < N; n++) vstore_n(ckpt + ((b * nchunks + c) * N + n) * E + e0, h[n], nv);
        }
        fwd_positions(&tp, At, h, u, r->u_st, dl, r->d_st, z, r->z_st, Bm, r->B_st, Cm, r->C_st, yb, E, t0, t1, N);
    }
    states_out(h, hT + (b * E + e0) * N, nv, N);
}

static void fwd_tile_any(const bv_rows *r, const float *A, const float *D, const float *bias, const float *h0,
                         float *y, float *hT, float *ckpt, int64_t b, int64_t e0, int64_t E, int64_t L, int64_t K,
                         int softplus, int N) {
    /* compile-time state sizes for the common cases: the states then live in registers */
    switch (N) {
    case 16: fwd_tile(r, A, D, bias, h0, y, hT, ckpt, b, e0, E, L, K, softplus, 16); break;
    case 8: fwd_tile(r, A, D, bias, h0, y, hT, ckpt, b, e0, E, L, K, softplus, 8); break;
    case 32: fwd_tile(r, A, D, bias, h0, y, hT, ckpt, b, e0, E, L, K, softplus, 32); break;
    default: fwd_tile(r, A, D, bias, h0, y, hT, ckpt, b, e0, E, L, K, softplus, N); break;
    }
}

static int bv_threads_for(int nthreads, double work) {
#ifdef _OPENMP
    if (nthreads < 1) nthreads = omp_get_max_threads();
    if (work < 32768.0) nthreads = 1; /* not worth waking threads */
    return nthreads;
#else
    (void)nthreads;
    (void)work;
    return 1;
#endif
}

/* strides: u_sb, u_st, d_sb, d_st, z_sb, z_st, B_sb, B_st, C_sb, C_st. z, D, bias, h0, ckpt may be NULL.
 * Returns 0, or -1 on bad arguments. */
BV_EXPORT int bv_scan_fwd(const float *u, const float *dl, const float *z, const float *Bm, const float *Cm,
                          const int64_t *strides, const float *A, const float *D, const float *bias, const float *h0,
                          float *y, float *hT, float *ckpt, int64_t batch, int64_t E, int64_t L, int64_t N, int64_t K,
                          int softplus, int nthreads) {
    if (batch < 0 || E < 0 || L < 0 || N < 1 || N > BV_NMAX || K < 1) return -1;
    const bv_rows r = {u, dl, z, Bm, Cm, NULL, strides[0], strides[1], strides[2], strides[3], strides[4],
                       strides[5], strides[6], strides[7], strides[8], strides[9], 0, 0};
    const int64_t ntiles = (E + VL - 1) / VL, pairs = batch * ntiles;
    nthreads = bv_threads_for(nthreads, (double)pairs * VL * L * N);
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
        const int tid = 0, nthr = 1;
#endif
        if (tid == 0) bv_last_threads = nthr;
        touch_pages(y, batch * L * E, tid, nthr);
        if (ckpt) touch_pages(ckpt, batch * ((L + K - 1) / K) * N * E, tid, nthr);
#ifdef _OPENMP
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t p = 0; p < pairs; p++)
            fwd_tile_any(&r, A, D, bias, h0, y, hT, ckpt, p / ntiles, (p % ntiles) * VL, E, L, K, softplus, (int)N);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* selective scan: backward                                                                                      */
/* ------------------------------------------------------------------------------------------------------------ */

/* Per-thread scratch: the block's decays and states (K * N vectors each); its dt, dsoftplus, gated output gradient
 * and gate derivative (K vectors each). */
typedef struct {
    vf *a, *h, *dt, *dsp, *ds, *gzf;
} bv_scratch;
#define BV_SCRATCH(K, N) (2 * (K) * (N) + 4 * (K)) /* vectors */

/* One tile over one block [t0, t1) of one batch row, in reverse. g (N vectors): dL/dh_{t1-1} from later positions,
 * left holding dL/dh_{t0-1}. gA, gD, gb: the tile's running sums. gu, gd, gz: the tile's output rows (row stride E);
 * pB, pC: the tile's partial rows of grad_B and grad_C ((t1 - t0) rows of N, lane sums of this tile). */
/* One state index n of one position of the adjoint recurrence: lambda = g + C_t[n] ds, the contributions of
 * position t to the sums over n (sA: dL/d(dt) through the decay, sB: through the input, sy: the output C_t . h_t)
 * and to grad_A; the lane contributions to grad_B and grad_C; g becomes a_t lambda, the gradient for h_{t-1}. */
BV_INLINE void adjoint_step(int n, vf ds, vf dt, vf du, const float *restrict Bt, const float *restrict Ct,
                            const vf *restrict at, const vf *restrict ht, const vf *restrict hp,
                            const vf *restrict At, vf *restrict g, vf *restrict gA, vf *restrict pb,
                            vf *restrict pc, vf *sA, vf *sB, vf *sy) {
    const vf a = at[n], hn = ht[n];
    const vf lam = g[n] + Ct[n] * ds;
    const vf q = lam * a * hp[n]; /* dL/d(dt * A) */
    *sA += q * At[n];
    gA[n] += q * dt;
    *sB += lam * Bt[n];
    *sy += Ct[n] * hn;
    pb[n] = lam * du;
    pc[n] = ds * hn;
    g[n] = a * lam;
}

BV_INLINE void bwd_block(const bv_tile *tp, const vf *restrict At, const vf *restrict hstart, vf *restrict g,
                         vf *restrict gA, vf *restrict gD, vf *restrict gb, const float *restrict u, int64_t su,
                         const float *restrict dl, int64_t sd, const float *restrict z, int64_t sz,
                         const float *restrict Bm, int64_t sB, const float *restrict Cm, int64_t sC,
                         const float *restrict gy, int64_t sg, float *restrict gu, float *restrict gd,
                         float *restrict gz, int64_t E, float *restrict pB, float *restrict pC,
                         const bv_scratch *s, int64_t t0, int64_t t1, const int N) {
    const int nv = tp->nv;
    vf *restrict abuf = s->a, *restrict hbuf = s->h, *restrict dtbuf = s->dt, *restrict dspbuf = s->dsp;
    vf *restrict dsbuf = s->ds, *restrict gzfbuf = s->gzf;
    /* recompute the block's time steps, decays and states (the same arithmetic as the forward) */
    time_steps(tp, dl, sd, t0, t1, dtbuf, dspbuf);
    {
        vf h[N];
        for (int n = 0; n < N; n++) h[n] = hstart[n];
        for (int64_t t = t0; t < t1; t++) {
            const int64_t tt = t - t0;
            const vf dt = dtbuf[tt], du = dt * vload_n(u + t * su, nv);
            const float *restrict Bt = Bm + t * sB;
            int n = 0;
            for (; n + BV_ILP <= N; n += BV_ILP) {
                vf a[BV_ILP];
                for (int i = 0; i < BV_ILP; i++) a[i] = dt * At[n + i];
                vexp_ilp(a);
                for (int i = 0; i < BV_ILP; i++) {
                    h[n + i] = a[i] * h[n + i] + du * Bt[n + i];
                    abuf[tt * N + n + i] = a[i];
                    hbuf[tt * N + n + i] = h[n + i];
                }
            }
            for (; n < N; n++) {
                const vf a = vexp(dt * At[n]);
                h[n] = a * h[n] + du * Bt[n];
                abuf[tt * N + n] = a;
                hbuf[tt * N + n] = h[n];
            }
        }
    }
    /* the gate: ds = gy * silu(z) (the scan's output gradient) and gy * silu'(z) (grad_z per unit pre-gate output) */
    for (int64_t t = t0; t < t1; t++) {
        const vf gyv = vload_n(gy + t * sg, nv);
        if (!z) {
            dsbuf[t - t0] = gyv;
            continue;
        }
        const vf zz = vload_n(z + t * sz, nv), sg_ = vsigmoid(zz);
        dsbuf[t - t0] = gyv * (zz * sg_);
        gzfbuf[t - t0] = gyv * (sg_ * (vsplat(1.0f) + zz * (vsplat(1.0f) - sg_)));
    }
    /* adjoint recurrence, backwards through the block */
    for (int64_t t = t1 - 1; t >= t0; t--) {
        const int64_t tt = t - t0;
        const vf uu = vload_n(u + t * su, nv);
        const vf dt = dtbuf[tt], ds = dsbuf[tt];
        const vf du = dt * uu;
        const float *restrict Bt = Bm + t * sB;
        const float *restrict Ct = Cm + t * sC;
        const vf *restrict at = abuf + tt * N;
        const vf *restrict ht = hbuf + tt * N;
        const vf *restrict hp = tt > 0 ? hbuf + (tt - 1) * N : hstart;
        /* sums over n in two interleaved accumulator sets (named scalars: kept in registers) */
        vf sA0 = vsplat(0.0f), sA1 = sA0, sB0 = sA0, sB1 = sA0, sy0 = sA0, sy1 = sA0;
        vf pb[N], pc[N];
        int n = 0;
        for (; n + 2 <= N; n += 2) {
            adjoint_step(n, ds, dt, du, Bt, Ct, at, ht, hp, At, g, gA, pb, pc, &sA0, &sB0, &sy0);
            adjoint_step(n + 1, ds, dt, du, Bt, Ct, at, ht, hp, At, g, gA, pb, pc, &sA1, &sB1, &sy1);
        }
        if (n < N) adjoint_step(n, ds, dt, du, Bt, Ct, at, ht, hp, At, g, gA, pb, pc, &sA0, &sB0, &sy0);
        reduce_lanes(pb, pB + tt * N, N);
        reduce_lanes(pc, pC + tt * N, N);
        const vf sBv = sB0 + sB1, sAv = sA0 + sA1;
        const vf gdt = (sAv + uu * sBv) * dspbuf[tt];
        vstore_n(gu + t * E, dt * sBv + tp->D * ds, nv);
        vstore_n(gd + t * E, gdt, nv);
        if (z) vstore_n(gz + t * E, gzfbuf[tt] * ((sy0 + sy1) + tp->D * uu), nv);
        *gD += ds * uu;
        *gb += gdt;
    }
}

BV_INLINE void bwd_tile(const bv_rows *r, const float *A, const float *D, const float *bias, const float *ckpt,
                        const float *ghT, float *gu, float *gd, float *gz, float *gh0, float *partB, float *partC,
                        vf *Gt, vf *accA, vf *accD, vf *accB, const bv_scratch *s, int64_t b, int64_t tile,
                        int64_t E, int64_t L, int64_t K, int64_t c_first, int64_t c_last, int64_t S, int softplus,
                        const int N) {
    vf At[N], g[N], gA[N], hstart[N];
    bv_tile tp;
    const int64_t e0 = tile * VL;
    const int nv = (int)(E - e0 < VL ? E - e0 : VL);
    tile_setup(&tp, At, A, D, bias, e0, nv, N, softplus);
    const int64_t nchunks = (L + K - 1) / K;
    if (c_last == nchunks) {
        states_in(g, ghT ? ghT + (b * E + e0) * N : NULL, nv, N);
    } else {
        for (int n = 0; n < N; n++) g[n] = Gt[tile * N + n];
    }
    for (int n = 0; n < N; n++) gA[n] = accA[tile * N + n];
    vf gDv = accD[tile], gbv = accB[tile];
    const float *u = r->u + b * r->u_sb + e0, *dl = r->dl + b * r->d_sb + e0, *gy = r->gy + b * r->g_sb + e0;
    const float *z = r->z ? r->z + b * r->z_sb + e0 : NULL;
    const float *Bm = r->Bm + b * r->B_sb, *Cm = r->Cm + b * r->C_sb;
    const int64_t out = b * L * E + e0;
    const int64_t T0 = c_first * K;
    float *pB = partB + tile * S * N, *pC = partC + tile * S * N;
    for (int64_t c = c_last - 1; c >= c_first; c--) {
        const int64_t t0 = c * K, t1 = t0 + K < L ? t0 + K : L;
        for (int n = 0; n < N; n++) hstart[n] = vload_n(ckpt + ((b * nchunks + c) * N + n) * E + e0, nv);
        bwd_block(&tp, At, hstart, g, gA, &gDv, &gbv, u, r->u_st, dl, r->d_st, z, r->z_st, Bm, r->B_st, Cm, r->C_st,
                  gy, r->g_st, gu + out, gd + out, z ? gz + out : NULL, E, pB + (t0 - T0) * N, pC + (t0 - T0) * N,
                  s, t0, t1, N);
    }
    if (c_first == 0 && gh0) states_out(g, gh0 + (b * E + e0) * N, nv, N);
    for (int n = 0; n < N; n++) {
        Gt[tile * N + n] = g[n];
        accA[tile * N + n] = gA[n];
    }
    accD[tile] = gDv;
    accB[tile] = gbv;
}

static void bwd_tile_any(const bv_rows *r, const float *A, const float *D, const float *bias, const float *ckpt,
                         const float *ghT, float *gu, float *gd, float *gz, float *gh0, float *partB, float *partC,
                         vf *Gt, vf *accA, vf *accD, vf *accB, const bv_scratch *s, int64_t b, int64_t tile,
                         int64_t E, int64_t L, int64_t K, int64_t c_first, int64_t c_last, int64_t S, int softplus,
                         int N) {
#define BV_BWD_TILE(NN)                                                                                              \
    bwd_tile(r, A, D, bias, ckpt, ghT, gu, gd, gz, gh0, partB, partC, Gt, accA, accD, accB, s, b, tile, E, L, K,     \
             c_first, c_last, S, softplus, NN)
    switch (N) {
    case 16: BV_BWD_TILE(16); break;
    case 8: BV_BWD_TILE(8); break;
    case 32: BV_BWD_TILE(32); break;
    default: BV_BWD_TILE(N); break;
    }
#undef BV_BWD_TILE
}

static void *bv_alloc(size_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}

/* Scratch memory kept between calls (grown to the largest request, never shrunk): a fresh allocation of this size
 * would be mmap-ed and page-faulted in on every call. A call that finds it in use (another thread) allocates its own. */
static void *bv_ws = NULL;
static size_t bv_ws_size = 0;
static volatile int bv_ws_busy = 0;

static void *ws_acquire(size_t bytes, int *owned) {
    if (__sync_lock_test_and_set(&bv_ws_busy, 1) == 0) {
        if (bv_ws_size < bytes) {
            free(bv_ws);
            bv_ws = bv_alloc(bytes);
            bv_ws_size = bv_ws ? bytes : 0;
        }
        if (bv_ws) {
            *owned = 0;
            return bv_ws;
        }
        __sync_lock_release(&bv_ws_busy);
    }
    *owned = 1;
    return bv_alloc(bytes);
}

static void ws_release(void *p, int owned) {
    if (owned)
        free(p);
    else
        __sync_lock_release(&bv_ws_busy);
}

/* Gradients of bv_scan_fwd. strides: those of bv_scan_fwd, then grad_y's (g_sb, g_st). ckpt: what bv_scan_fwd stored
 * with the same K. ghT may be NULL (zero); z, D, bias as in the forward; gz (when z), gB, gC, gD, gbias, gh0 may be
 * NULL (not wanted). Returns 0, -1 on bad arguments, -2 when out of memory. */
BV_EXPORT int bv_scan_bwd(const float *u, const float *dl, const float *z, const float *Bm, const float *Cm,
                          const float *gy, const int64_t *strides, const float *A, const float *D, const float *bias,
                          const float *ckpt, const float *ghT, float *gu, float *gd, float *gz, float *gA, float *gB,
                          float *gC, float *gD, float *gbias, float *gh0, int64_t batch, int64_t E, int64_t L,
                          int64_t N, int64_t K, int softplus, int nthreads) {
    if (batch < 0 || E < 0 || L < 0 || N < 1 || N > BV_NMAX || K < 1) return -1;
    memset(gA, 0, (size_t)(E * N) * sizeof(float));
    if (gD) memset(gD, 0, (size_t)E * sizeof(float));
    if (gbias) memset(gbias, 0, (size_t)E * sizeof(float));
    if (batch == 0 || E == 0 || L == 0) {
        if (gB) memset(gB, 0, (size_t)(batch * L * N) * sizeof(float));
        if (gC) memset(gC, 0, (size_t)(batch * L * N) * sizeof(float));
        if (gh0)
            for (int64_t i = 0; i < batch * E * N; i++) gh0[i] = ghT ? ghT[i] : 0.0f;
        return 0;
    }
    const bv_rows r = {u, dl, z, Bm, Cm, gy, strides[0], strides[1], strides[2], strides[3], strides[4], strides[5],
                       strides[6], strides[7], strides[8], strides[9], strides[10], strides[11]};
    const int64_t ntiles = (E + VL - 1) / VL, nchunks = (L + K - 1) / K;
    const int64_t S = K * BV_SUPER < L ? K * BV_SUPER : L; /* rows of a super-block's partial sums */
    const int64_t nsuper = (nchunks + BV_SUPER - 1) / BV_SUPER;
    nthreads = bv_threads_for(nthreads, (double)batch * ntiles * VL * L * N);
    const size_t part = (size_t)(ntiles * S * N), nacc = (size_t)(ntiles * (2 * N + 2));
    const size_t nscratch = (size_t)nthreads * (size_t)BV_SCRATCH(K, N);
    int owned;
    vf *acc = (vf *)ws_acquire((nacc + nscratch) * sizeof(vf) + 2 * part * sizeof(float), &owned);
    if (!acc) return -2;
    vf *scratch = acc + nacc;
    float *parts = (float *)(scratch + nscratch);
    memset(acc, 0, nacc * sizeof(vf));
    vf *Gt = acc, *accA = Gt + ntiles * N, *accD = accA + ntiles * N, *accB = accD + ntiles;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
        const int tid = 0, nthr = 1;
#endif
        if (tid == 0) bv_last_threads = nthr;
        vf *mine = scratch + (size_t)tid * (size_t)BV_SCRATCH(K, N);
        const bv_scratch sc = {mine, mine + K * N, mine + 2 * K * N, mine + 2 * K * N + K, mine + 2 * K * N + 2 * K,
                               mine + 2 * K * N + 3 * K};
        for (int64_t b = 0; b < batch; b++) {
            for (int64_t sb = nsuper - 1; sb >= 0; sb--) {
                const int64_t c_first = sb * BV_SUPER;
                const int64_t c_last = c_first + BV_SUPER < nchunks ? c_first + BV_SUPER : nchunks;
                const int64_t T0 = c_first * K, T1 = c_last * K < L ? c_last * K : L;
                const int64_t rows = (b * L + T0) * E;
                touch_pages(gu + rows, (T1 - T0) * E, tid, nthr);
                touch_pages(gd + rows, (T1 - T0) * E, tid, nthr);
                if (gz) touch_pages(gz + rows, (T1 - T0) * E, tid, nthr);
#ifdef _OPENMP
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
#endif
                for (int64_t tile = 0; tile < ntiles; tile++)
                    bwd_tile_any(&r, A, D, bias, ckpt, ghT, gu, gd, gz, gh0, parts, parts + part, Gt, accA, accD,
                                 accB, &sc, b, tile, E, L, K, c_first, c_last, S, softplus, (int)N);
                /* implicit barrier: the partial sums of this super-block are complete; sum them in tile order */
                if (gB || gC) {
                    const int64_t T = T1 - T0, lo = T * tid / nthr, hi = T * (tid + 1) / nthr;
                    for (int w = 0; w < 2; w++) {
                        float *dst = w ? gC : gB;
                        if (!dst || hi <= lo) continue;
                        const float *src = parts + (size_t)w * part;
                        float *restrict o = dst + (b * L + T0 + lo) * N;
                        const int64_t len = (hi - lo) * N;
                        memcpy(o, src + lo * N, (size_t)len * sizeof(float));
                        for (int64_t tile = 1; tile < ntiles; tile++) {
                            const float *restrict p = src + (tile * S + lo) * N;
                            for (int64_t i = 0; i < len; i++) o[i] += p[i];
                        }
                    }
#ifdef _OPENMP
#pragma omp barrier
#endif
                }
            }
        }
    }
    for (int64_t e = 0; e < E; e++) {
        const int64_t tile = e / VL, lane = e % VL;
        for (int64_t n = 0; n < N; n++) gA[e * N + n] = accA[tile * N + n][lane];
        if (gD) gD[e] = accD[tile][lane];
        if (gbias) gbias[e] = accB[tile][lane];
    }
    ws_release(acc, owned);
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* causal depthwise convolution + bias + SiLU                                                                    */
/* ------------------------------------------------------------------------------------------------------------ */

/*   pre_t[e] = bias[e] + sum_k w[e, k] * xp_{t + k - (K - 1)}[e],   u_t[e] = silu(pre_t[e])
 * with xp_s = x_s for s >= 0 and state[e, K - 1 + s] before (the last K - 1 inputs of the previous segment).
 * x rows at b * x_sb + t * x_st (channels contiguous); w (E, K); state (batch, E, K - 1) or NULL (zeros). */

/* rows per unit of work (at most 64 units); fixed by T only, so that the weight gradients' summation order does not
 * depend on the number of threads */
static int64_t conv_segment(int64_t T) {
    const int64_t seg = (T + 63) / 64;
    return seg < 64 ? 64 : seg;
}

/* the last K - 1 inputs of [state, x] (the state after x): new_state (batch, E, K - 1) */
static void conv_last_inputs(const float *x, int64_t x_sb, int64_t x_st, const float *state, float *new_state,
                             int64_t batch, int64_t E, int64_t T, int64_t K) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t j = 0; j < K - 1; j++) {
            const int64_t s = T - (K - 1) + j; /* input index: x_s when s >= 0, else state column K - 1 + s */
            for (int64_t e = 0; e < E; e++)
                new_state[(b * E + e) * (K - 1) + j] =
                    s >= 0 ? x[b * x_sb + s * x_st + e] : (state ? state[(b * E + e) * (K - 1) + (K - 1) + s] : 0.0f);
        }
}

BV_INLINE vf conv_in(const float *x, int64_t x_st, const float *state_b, int64_t s, int64_t e0, int nv, int64_t K) {
    if (s >= 0) return vload_n(x + s * x_st + e0, nv);
    vf v = vsplat(0.0f);
    if (state_b)
        for (int i = 0; i < nv; i++) v[i] = state_b[(e0 + i) * (K - 1) + (K - 1) + s];
    return v;
}

BV_INLINE vf conv_pre(const float *x, int64_t x_st, const float *state_b, const float *wt, const float *bias,
                      int64_t t, int64_t e0, int nv, int64_t E, int64_t K) {
    vf acc = bias ? vload_n(bias + e0, nv) : vsplat(0.0f);
    for (int64_t k = 0; k < K; k++) acc += vload_n(wt + k * E + e0, nv) * conv_in(x, x_st, state_b, t + k - (K - 1), e0, nv, K);
    return acc;
}

static float *transpose_weight(const float *w, int64_t E, int64_t K) {
    float *wt = (float *)malloc((size_t)(E * K + 1) * sizeof(float));
    if (wt)
        for (int64_t e = 0; e < E; e++)
            for (int64_t k = 0; k < K; k++) wt[k * E + e] = w[e * K + k];
    return wt;
}

/* u: (batch, T, E) contiguous; new_state (batch, E, K - 1) or NULL: the last K - 1 inputs. Returns 0, -1 on bad
 * arguments, -2 when out of memory. */
BV_EXPORT int bv_conv_fwd(const float *x, int64_t x_sb, int64_t x_st, const float *w, const float *bias,
                          const float *state, float *u, float *new_state, int64_t batch, int64_t E, int64_t T,
                          int64_t K, int nthreads) {
    if (batch < 0 || E < 0 || T < 0 || K < 1) return -1;
    float *wt = transpose_weight(w, E, K);
    if (!wt) return -2;
    if (new_state) conv_last_inputs(x, x_sb, x_st, state, new_state, batch, E, T, K);
    const int64_t seg = conv_segment(T), nseg = (T + seg - 1) / seg, units = batch * nseg;
    nthreads = bv_threads_for(nthreads, (double)batch * T * E * 4);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
#endif
    for (int64_t p = 0; p < units; p++) {
        const int64_t b = p / nseg, t0 = (p % nseg) * seg, t1 = t0 + seg < T ? t0 + seg : T;
        const float *xb = x + b * x_sb, *sb = state ? state + b * E * (K - 1) : NULL;
        for (int64_t t = t0; t < t1; t++)
            for (int64_t e0 = 0; e0 < E; e0 += VL) {
                const int nv = (int)(E - e0 < VL ? E - e0 : VL);
                const vf pre = conv_pre(xb, x_st, sb, wt, bias, t, e0, nv, E, K);
                vstore_n(u + (b * T + t) * E + e0, pre * vsigmoid(pre), nv);
            }
    }
    free(wt);
    return 0;
}

/* Gradients of bv_conv_fwd: gu (batch, T, E) contiguous and gnew (batch, E, K - 1) (the new state's; NULL: zero)
 * -> gx (batch, T, E), gw (E, K), gb (E) and gstate (batch, E, K - 1) (gb, gstate may be NULL). Returns 0, -1 on bad
 * arguments, -2 when out of memory. */
BV_EXPORT int bv_conv_bwd(const float *x, int64_t x_sb, int64_t x_st, const float *w, const float *bias,
                          const float *state, const float *gu, const float *gnew, float *gx, float *gw, float *gb,
                          float *gstate, int64_t batch, int64_t E, int64_t T, int64_t K, int nthreads) {
    if (batch < 0 || E < 0 || T < 0 || K < 1) return -1;
    const int64_t seg = conv_segment(T), units = (T + seg - 1) / seg, ntiles = (E + VL - 1) / VL;
    nthreads = bv_threads_for(nthreads, (double)batch * T * E * 8);
    float *wt = transpose_weight(w, E, K);
    const size_t nparts = (size_t)(units * (K + 1) * E), ngp = (size_t)nthreads * (size_t)(seg + K);
    int owned;
    vf *gp_all = (vf *)ws_acquire(ngp * sizeof(vf) + (nparts + 1) * sizeof(float), &owned);
    if (!wt || !gp_all) {
        free(wt);
        if (gp_all) ws_release(gp_all, owned);
        return -2;
    }
    float *parts = (float *)(gp_all + ngp);
    memset(parts, 0, nparts * sizeof(float));
    if (gstate) memset(gstate, 0, (size_t)(batch * E * (K - 1)) * sizeof(float));
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
#ifdef _OPENMP
        vf *gp = gp_all + (size_t)omp_get_thread_num() * (size_t)(seg + K);
#pragma omp for schedule(dynamic, 1)
#else
        vf *gp = gp_all;
#endif
        for (int64_t p = 0; p < units; p++) {
            const int64_t t0 = p * seg, t1 = t0 + seg < T ? t0 + seg : T;
            const int64_t t2 = t1 + K - 1 < T ? t1 + K - 1 : T; /* gp is needed up to here */
            float *pw = parts + p * (K + 1) * E; /* (K, E) weight partials, then (E) bias partials */
            for (int64_t be = 0; be < batch * ntiles; be++) { /* batch rows in order: a fixed summation order */
                const int64_t b = be / ntiles, e0 = (be % ntiles) * VL;
                const float *xb = x + b * x_sb, *sb = state ? state + b * E * (K - 1) : NULL;
                const int nv = (int)(E - e0 < VL ? E - e0 : VL);
                for (int64_t t = t0; t < t2; t++) {
                    const vf pre = conv_pre(xb, x_st, sb, wt, bias, t, e0, nv, E, K);
                    const vf sg = vsigmoid(pre);
                    gp[t - t0] = vload_n(gu + (b * T + t) * E + e0, nv) * (sg * (vsplat(1.0f) + pre * (vsplat(1.0f) - sg)));
                }
                for (int64_t t = t0; t < t1; t++) {
                    vf acc = vsplat(0.0f);
                    for (int64_t k = 0; k < K; k++) {
                        const int64_t o = t + (K - 1) - k;
                        if (o < T) acc += vload_n(wt + k * E + e0, nv) * gp[o - t0];
                    }
                    vstore_n(gx + (b * T + t) * E + e0, acc, nv);
                }
                for (int64_t k = 0; k < K; k++) {
                    vf acc = vload_n(pw + k * E + e0, nv);
                    for (int64_t t = t0; t < t1; t++) acc += gp[t - t0] * conv_in(xb, x_st, sb, t + k - (K - 1), e0, nv, K);
                    vstore_n(pw + k * E + e0, acc, nv);
                }
                vf accb = vload_n(pw + K * E + e0, nv);
                for (int64_t t = t0; t < t1; t++) accb += gp[t - t0];
                vstore_n(pw + K * E + e0, accb, nv);
                if (gstate && t0 == 0) {
                    for (int64_t j = 0; j < K - 1; j++) {
                        vf acc = vsplat(0.0f);
                        for (int64_t k = 0; k <= j; k++)
                            if (j - k < T) acc += vload_n(wt + k * E + e0, nv) * gp[j - k];
                        for (int i = 0; i < nv; i++) gstate[(b * E + e0 + i) * (K - 1) + j] = acc[i];
                    }
                }
            }
        }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t e = 0; e < E; e++) {
            float sb_ = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                float s = 0.0f;
                for (int64_t p = 0; p < units; p++) s += parts[p * (K + 1) * E + k * E + e];
                gw[e * K + k] = s;
            }
            for (int64_t p = 0; p < units; p++) sb_ += parts[p * (K + 1) * E + K * E + e];
            if (gb) gb[e] = sb_;
        }
    }
    /* the new state's gradient: its column j is input T - (K - 1) + j, a row of x or a column of the old state */
    if (gnew)
        for (int64_t b = 0; b < batch; b++)
            for (int64_t j = 0; j < K - 1; j++) {
                const int64_t s = T - (K - 1) + j;
                for (int64_t e = 0; e < E; e++) {
                    const float g = gnew[(b * E + e) * (K - 1) + j];
                    if (s >= 0)
                        gx[(b * T + s) * E + e] += g;
                    else if (gstate)
                        gstate[(b * E + e) * (K - 1) + (K - 1) + s] += g;
                }
            }
    free(wt);
    ws_release(gp_all, owned);
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* introspection                                                                                                 */
/* ------------------------------------------------------------------------------------------------------------ */

BV_EXPORT int bv_abi_version(void) { return BV_ABI_VERSION; }
BV_EXPORT int bv_isa(void) { return BV_ISA; }
BV_EXPORT int bv_vector_lanes(void) { return VL; }

/* 1 when this CPU runs the instructions this build was compiled for */
BV_EXPORT int bv_cpu_supports(void) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && BV_ISA > 0
    __builtin_cpu_init();
#if BV_ISA == 2
    if (!__builtin_cpu_supports("avx512f")) return 0;
#endif
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 1;
#endif
}

BV_EXPORT int bv_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

BV_EXPORT int bv_last_num_threads(void) { return bv_last_threads; }

BV_EXPORT int bv_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
"""
