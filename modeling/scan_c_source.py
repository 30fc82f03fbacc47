"""The C source of the CPU selective-scan kernel, compiled on first use by :mod:`.scan_c`.

It lives in a Python module (not a ``.c`` file) so that transformers' remote-code machinery, which copies the
``.py`` files a model imports, ships it with every checkpoint saved with ``register_for_auto_class``.
"""

C_SOURCE = r"""/*
 * CPU kernels of the selective scan (Mamba's S6 recurrence) for bytevid_hf.
 *
 * Plain C (no Python or torch headers): compiled on first use by bytevid_hf.modeling.scan_c and called through
 * ctypes on contiguous fp32 buffers.
 *
 *     h_t[e, n] = exp(dt_t[e] * A[e, n]) * h_{t-1}[e, n] + dt_t[e] * B_t[n] * u_t[e]
 *     y_t[e]    = sum_n C_t[n] * h_t[e, n]
 *
 * Layouts (all contiguous, row-major):
 *     u, delta, y, grad_y, grad_u, grad_delta : (batch, E, L)
 *     A, grad_A                               : (E, N)
 *     Bm, Cm, grad_B, grad_C                  : (batch, L, N)   <- note: time-major, state index innermost
 *     h0, hT, grad_hT, grad_h0                : (batch, E, N)
 *     ckpt                                    : (batch, E, ceil(L / K), N), the state *before* each block of K steps
 *
 * Forward: parallel over (batch, channel) pairs; each pair walks L sequentially with its N states in registers
 * (8-lane vectors for N = 8, 16, 32, 64; a scalar loop otherwise). When ckpt is given it stores the state every K
 * positions, so the memory kept for the backward is O(B*E*N*L/K).
 *
 * Backward: for each batch row, the sequence is walked in reverse in blocks of K positions. For a block, a channel
 * recomputes its K states from the checkpoint into a per-thread buffer (K*N floats) and runs the adjoint recurrence
 *     lambda_t = C_t * gy_t + a_{t+1} * lambda_{t+1}        (plus grad_hT at t = L)
 * backwards through it, writing grad_u, grad_delta and adding to grad_A[e]. grad_B and grad_C sum over channels;
 * to keep that race-free *and* independent of the thread count, channels are split into fixed groups of BV_GROUP: a
 * group (handled by one thread, channels in order) accumulates its partial sums over a super-block of BV_SUPER
 * blocks, then the partial sums are reduced over the groups in a fixed order, positions split among threads.
 * Threads meet twice per super-block (BV_SUPER * K positions), and results are bitwise identical for any number of
 * threads. Extra memory: 2 * ceil(E / BV_GROUP) * BV_SUPER * K * N floats, independent of L.
 *
 * exp() is a branch-free polynomial (Cephes expf, ~1 ulp); arguments below ln(FLT_MIN) ~ -87.3 return exactly 0
 * (the decay underflows, as in the reference), never NaN.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define BV_ABI_VERSION 1

#if defined(__GNUC__) || defined(__clang__)
#define BV_INLINE static inline __attribute__((always_inline))
#define BV_EXPORT __attribute__((visibility("default")))
#else
#define BV_INLINE static inline
#define BV_EXPORT
#endif

/* exp(x) in fp32, ~1 ulp, written without branches so that it vectorises (Cephes expf).
 * x < ln(FLT_MIN) returns exactly 0 (the decay underflows, as in the reference, never NaN); x > 88 is clamped to
 * exp(88) (cannot happen for delta >= 0, A < 0). Rounding z to an integer uses the 1.5 * 2^23 trick: t = z + M holds
 * round(z) in its low mantissa bits, so t - M is round(z) as a float and (bits(t) + 127) << 23 is 2^round(z).
 * Both this and the two-constant range reduction need the source order of the additions: compile with
 * -fno-associative-math (also under -ffast-math). */
#define BV_EXP_LO (-87.33654475f) /* ln(FLT_MIN) */
#define BV_EXP_HI 88.0f
#define BV_LOG2E 1.44269504088896341f
#define BV_ROUND_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define BV_LN2_HI 0.693359375f     /* ln 2 = BV_LN2_HI + BV_LN2_LO, BV_LN2_HI with few bits: k * BV_LN2_HI is exact */
#define BV_LN2_LO (-2.12194440e-4f)
#define BV_EXP_POLY(p, r)                                                                                            \
    do {                                                                                                             \
        p = p * r + 1.3981999507e-3f;                                                                                \
        p = p * r + 8.3334519073e-3f;                                                                                \
        p = p * r + 4.1665795894e-2f;                                                                                \
        p = p * r + 1.6666665459e-1f;                                                                                \
        p = p * r + 5.0000001201e-1f;                                                                                \
        p = p * r + 1.0f;                                                                                            \
        p = p * r + 1.0f; /* = 1 + r + r^2 * P(r) */                                                                 \
    } while (0)

BV_INLINE float bv_exp(float x) {
    float xc = x < BV_EXP_LO ? BV_EXP_LO : x;
    xc = xc > BV_EXP_HI ? BV_EXP_HI : xc;
    union {
        float f;
        int32_t i;
    } t;
    t.f = xc * BV_LOG2E + BV_ROUND_MAGIC;
    const float kf = t.f - BV_ROUND_MAGIC; /* round(xc / ln 2), in [-126, 127] */
    float r = xc - kf * BV_LN2_HI;
    r = r - kf * BV_LN2_LO;
    float p = 1.9875691500e-4f;
    BV_EXP_POLY(p, r);
    t.i = (t.i + 127) << 23; /* 2^k, a normal number */
    const float res = p * t.f;
    return x < BV_EXP_LO ? 0.0f : res;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* 8-lane vectors (GCC/clang vector extensions: AVX/AVX2 registers with -march=native, pairs of SSE registers        */
/* without it). State sizes that are a multiple of 8 (Mamba uses 16) take this path; others take the scalar code.   */
/* ------------------------------------------------------------------------------------------------------------ */

#define VW 8
typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
typedef float vf_u __attribute__((vector_size(32), aligned(4), may_alias)); /* unaligned memory access */

BV_INLINE vf vload(const float *p) { return *(const vf_u *)p; }
BV_INLINE void vstore(float *p, vf v) { *(vf_u *)p = v; }
BV_INLINE vf vsplat(float x) {
    const vf v = {x, x, x, x, x, x, x, x};
    return v;
}
BV_INLINE vi vsplati(int32_t x) {
    const vi v = {x, x, x, x, x, x, x, x};
    return v;
}
BV_INLINE vf vselect(vi mask, vf if_true, vf if_false) {
    return (vf)((mask & (vi)if_true) | (~mask & (vi)if_false));
}
BV_INLINE float vsum(vf v) { return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])); }

/* bv_exp on 8 lanes */
BV_INLINE vf vexp(vf x) {
    const vf lo = vsplat(BV_EXP_LO), hi = vsplat(BV_EXP_HI);
    const vi under = x < lo;
    vf xc = vselect(under, lo, x);
    xc = vselect(xc > hi, hi, xc);
    const vf t = xc * vsplat(BV_LOG2E) + vsplat(BV_ROUND_MAGIC);
    const vf kf = t - vsplat(BV_ROUND_MAGIC);
    vf r = xc - kf * vsplat(BV_LN2_HI);
    r = r - kf * vsplat(BV_LN2_LO);
    vf p = vsplat(1.9875691500e-4f);
    BV_EXP_POLY(p, r);
    const vf scale = (vf)(((vi)t + vsplati(127)) << 23);
    return (vf)((vi)(p * scale) & ~under);
}

/* threads the last forward/backward call ran on (diagnostics for the tests) */
static volatile int bv_last_threads = 1;

/* ------------------------------------------------------------------------------------------------------------ */
/* forward                                                                                                       */
/* ------------------------------------------------------------------------------------------------------------ */

/* One (batch, channel) pair over the whole sequence. Bm, Cm point at this batch row ((L, N)); u, dl, y at the
 * pair's row ((L,)); h0/hT/Ae at the pair's N values; ck at the pair's (nblocks, N) checkpoints or NULL.
 * Vector version: N = NV * 8. */
BV_INLINE void fwd_pair_vec(const float *restrict u, const float *restrict dl, const float *restrict Ae,
                            const float *restrict Bm, const float *restrict Cm, const float *restrict h0,
                            float *restrict y, float *restrict hT, float *restrict ck, int64_t L, int64_t K,
                            const int NV) {
    const int N = NV * VW;
    vf h[NV], a_row[NV];
    for (int v = 0; v < NV; v++) {
        h[v] = h0 ? vload(h0 + v * VW) : vsplat(0.0f);
        a_row[v] = vload(Ae + v * VW);
    }
    for (int64_t t0 = 0; t0 < L; t0 += K) {
        if (ck) {
            for (int v = 0; v < NV; v++) vstore(ck + (t0 / K) * N + v * VW, h[v]);
        }
        const int64_t t1 = t0 + K < L ? t0 + K : L;
        for (int64_t t = t0; t < t1; t++) {
            const float d = dl[t];
            const vf dv = vsplat(d), duv = vsplat(d * u[t]);
            const float *restrict Bt = Bm + t * N;
            const float *restrict Ct = Cm + t * N;
            vf acc = vsplat(0.0f);
            for (int v = 0; v < NV; v++) {
                const vf a = vexp(dv * a_row[v]);
                h[v] = a * h[v] + duv * vload(Bt + v * VW);
                acc += vload(Ct + v * VW) * h[v];
            }
            y[t] = vsum(acc);
        }
    }
    for (int v = 0; v < NV; v++) vstore(hT + v * VW, h[v]);
}

/* Scalar version for any N. */
static void fwd_pair_scalar(const float *restrict u, const float *restrict dl, const float *restrict Ae,
                            const float *restrict Bm, const float *restrict Cm, const float *restrict h0,
                            float *restrict y, float *restrict hT, float *restrict ck, int64_t L, int64_t K,
                            const int N) {
    float *h = hT; /* the state lives in the output row */
    for (int n = 0; n < N; n++) h[n] = h0 ? h0[n] : 0.0f;
    for (int64_t t0 = 0; t0 < L; t0 += K) {
        if (ck) {
            float *dst = ck + (t0 / K) * N;
            for (int n = 0; n < N; n++) dst[n] = h[n];
        }
        const int64_t t1 = t0 + K < L ? t0 + K : L;
        for (int64_t t = t0; t < t1; t++) {
            const float d = dl[t];
            const float du = d * u[t];
            const float *restrict Bt = Bm + t * N;
            const float *restrict Ct = Cm + t * N;
            float acc = 0.0f;
            for (int n = 0; n < N; n++) {
                const float a = bv_exp(d * Ae[n]);
                h[n] = a * h[n] + du * Bt[n];
                acc += Ct[n] * h[n];
            }
            y[t] = acc;
        }
    }
}

static void fwd_pair_dispatch(const float *u, const float *dl, const float *Ae, const float *Bm, const float *Cm,
                              const float *h0, float *y, float *hT, float *ck, int64_t L, int64_t K, int N) {
    /* compile-time sizes for the common state sizes: the states then live in registers */
    switch (N) {
    case 8: fwd_pair_vec(u, dl, Ae, Bm, Cm, h0, y, hT, ck, L, K, 1); break;
    case 16: fwd_pair_vec(u, dl, Ae, Bm, Cm, h0, y, hT, ck, L, K, 2); break;
    case 32: fwd_pair_vec(u, dl, Ae, Bm, Cm, h0, y, hT, ck, L, K, 4); break;
    case 64: fwd_pair_vec(u, dl, Ae, Bm, Cm, h0, y, hT, ck, L, K, 8); break;
    default: fwd_pair_scalar(u, dl, Ae, Bm, Cm, h0, y, hT, ck, L, K, N); break;
    }
}

/* Returns 0 on success, a negative number on bad arguments. ckpt and h0 may be NULL. */
BV_EXPORT int bv_scan_fwd(const float *u, const float *delta, const float *A, const float *Bm, const float *Cm,
                          const float *h0, float *y, float *hT, float *ckpt, int64_t batch, int64_t E, int64_t L,
                          int64_t N, int64_t K, int nthreads) {
    if (batch < 0 || E < 0 || L < 0 || N < 1 || K < 1) return -1;
    const int64_t pairs = batch * E;
    const int64_t nblocks = (L + K - 1) / K;
#ifdef _OPENMP
    if (nthreads < 1) nthreads = omp_get_max_threads();
#pragma omp parallel num_threads(nthreads)
#endif
    {
#ifdef _OPENMP
        if (omp_get_thread_num() == 0) bv_last_threads = omp_get_num_threads();
#pragma omp for schedule(dynamic, 4)
#endif
        for (int64_t p = 0; p < pairs; p++) {
            const int64_t b = p / E, e = p % E;
            fwd_pair_dispatch(u + p * L, delta + p * L, A + e * N, Bm + b * L * N, Cm + b * L * N,
                              h0 ? h0 + p * N : NULL, y + p * L, hT + p * N, ckpt ? ckpt + p * nblocks * N : NULL,
                              L, K, (int)N);
        }
    }
    (void)nthreads;
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* backward                                                                                                      */
/* ------------------------------------------------------------------------------------------------------------ */

/* One channel over one block [t0, t1) of one batch row. g (N) holds dL/dh_{t1-1} coming from later positions
 * (a_{t1} * lambda_{t1}, or grad_hT for the last block) and leaves holding a_{t0} * lambda_{t0}.
 * abuf, hbuf: per-thread scratch of K*N floats. bB, bC: the (K, N) slices of the channel group's partial sums of
 * grad_B and grad_C, to which this channel's contributions are added. gA: this channel's grad_A, added to.
 * Vector version: N = NV * 8. */
BV_INLINE void bwd_block_vec(const float *restrict u, const float *restrict dl, const float *restrict Ae,
                             const float *restrict Bm, const float *restrict Cm, const float *restrict gy,
                             const float *restrict hstart, float *restrict g, float *restrict gu,
                             float *restrict gd, float *restrict gA, float *restrict bB, float *restrict bC,
                             float *restrict abuf, float *restrict hbuf, int64_t t0, int64_t t1, const int NV) {
    const int N = NV * VW;
    vf h[NV], a_row[NV], gA_acc[NV], gv[NV];
    for (int v = 0; v < NV; v++) {
        h[v] = vload(hstart + v * VW);
        a_row[v] = vload(Ae + v * VW);
        gA_acc[v] = vsplat(0.0f);
        gv[v] = vload(g + v * VW);
    }
    /* recompute the block's decays and states (same arithmetic as the forward) */
    for (int64_t t = t0; t < t1; t++) {
        const float d = dl[t];
        const vf dv = vsplat(d), duv = vsplat(d * u[t]);
        const float *restrict Bt = Bm + t * N;
        float *restrict at = abuf + (t - t0) * N;
        float *restrict ht = hbuf + (t - t0) * N;
        for (int v = 0; v < NV; v++) {
            const vf a = vexp(dv * a_row[v]);
            h[v] = a * h[v] + duv * vload(Bt + v * VW);
            vstore(at + v * VW, a);
            vstore(ht + v * VW, h[v]);
        }
    }
    /* adjoint recurrence, backwards through the block */
    for (int64_t t = t1 - 1; t >= t0; t--) {
        const int64_t tt = t - t0;
        const float gyt = gy ? gy[t] : 0.0f;
        const float d = dl[t];
        const float ut = u[t];
        const vf gyv = vsplat(gyt), dv = vsplat(d), duv = vsplat(d * ut);
        const float *restrict Bt = Bm + t * N;
        const float *restrict Ct = Cm + t * N;
        const float *restrict at = abuf + tt * N;
        const float *restrict ht = hbuf + tt * N;
        const float *restrict hp = tt > 0 ? hbuf + (tt - 1) * N : hstart;
        float *restrict bBt = bB + tt * N;
        float *restrict bCt = bC + tt * N;
        vf sB = vsplat(0.0f), sA = vsplat(0.0f);
        for (int v = 0; v < NV; v++) {
            const vf a = vload(at + v * VW);
            const vf lam = gv[v] + vload(Ct + v * VW) * gyv;
            const vf q = lam * a * vload(hp + v * VW); /* dL/d(delta_t * A) */
            sB += lam * vload(Bt + v * VW);
            sA += q * a_row[v];
            gA_acc[v] += q * dv;
            vstore(bBt + v * VW, vload(bBt + v * VW) + lam * duv);
            vstore(bCt + v * VW, vload(bCt + v * VW) + gyv * vload(ht + v * VW));
            gv[v] = a * lam;
        }
        const float sBs = vsum(sB);
        gu[t] = d * sBs;
        gd[t] = vsum(sA) + ut * sBs;
    }
    for (int v = 0; v < NV; v++) {
        vstore(g + v * VW, gv[v]);
        vstore(gA + v * VW, vload(gA + v * VW) + gA_acc[v]);
    }
}

/* Scalar version for any N. */
static void bwd_block_scalar(const float *restrict u, const float *restrict dl, const float *restrict Ae,
                             const float *restrict Bm, const float *restrict Cm, const float *restrict gy,
                             const float *restrict hstart, float *restrict g, float *restrict gu,
                             float *restrict gd, float *restrict gA, float *restrict bB, float *restrict bC,
                             float *restrict abuf, float *restrict hbuf, int64_t t0, int64_t t1, const int N) {
    for (int64_t t = t0; t < t1; t++) {
        const float d = dl[t];
        const float du = d * u[t];
        const float *restrict Bt = Bm + t * N;
        const float *restrict hprev = t > t0 ? hbuf + (t - t0 - 1) * N : hstart;
        float *restrict at = abuf + (t - t0) * N;
        float *restrict ht = hbuf + (t - t0) * N;
        for (int n = 0; n < N; n++) {
            const float a = bv_exp(d * Ae[n]);
            at[n] = a;
            ht[n] = a * hprev[n] + du * Bt[n];
        }
    }
    for (int64_t t = t1 - 1; t >= t0; t--) {
        const int64_t tt = t - t0;
        const float gyt = gy ? gy[t] : 0.0f;
        const float d = dl[t];
        const float ut = u[t];
        const float du = d * ut;
        const float *restrict Bt = Bm + t * N;
        const float *restrict Ct = Cm + t * N;
        const float *restrict at = abuf + tt * N;
        const float *restrict ht = hbuf + tt * N;
        const float *restrict hp = tt > 0 ? hbuf + (tt - 1) * N : hstart;
        float *restrict bBt = bB + tt * N;
        float *restrict bCt = bC + tt * N;
        float sB = 0.0f, sA = 0.0f;
        for (int n = 0; n < N; n++) {
            const float lam = g[n] + Ct[n] * gyt;
            const float q = lam * at[n] * hp[n];
            sB += lam * Bt[n];
            sA += q * Ae[n];
            gA[n] += q * d;
            bBt[n] += lam * du;
            bCt[n] += gyt * ht[n];
            g[n] = at[n] * lam;
        }
        gu[t] = d * sB;
        gd[t] = sA + ut * sB;
    }
}

static void bwd_block_dispatch(const float *u, const float *dl, const float *Ae, const float *Bm, const float *Cm,
                               const float *gy, const float *hstart, float *g, float *gu, float *gd, float *gA,
                               float *bB, float *bC, float *abuf, float *hbuf, int64_t t0, int64_t t1, int N) {
    switch (N) {
    case 8: bwd_block_vec(u, dl, Ae, Bm, Cm, gy, hstart, g, gu, gd, gA, bB, bC, abuf, hbuf, t0, t1, 1); break;
    case 16: bwd_block_vec(u, dl, Ae, Bm, Cm, gy, hstart, g, gu, gd, gA, bB, bC, abuf, hbuf, t0, t1, 2); break;
    case 32: bwd_block_vec(u, dl, Ae, Bm, Cm, gy, hstart, g, gu, gd, gA, bB, bC, abuf, hbuf, t0, t1, 4); break;
    case 64: bwd_block_vec(u, dl, Ae, Bm, Cm, gy, hstart, g, gu, gd, gA, bB, bC, abuf, hbuf, t0, t1, 8); break;
    default: bwd_block_scalar(u, dl, Ae, Bm, Cm, gy, hstart, g, gu, gd, gA, bB, bC, abuf, hbuf, t0, t1, N); break;
    }
}

/* Channels are processed in fixed groups of BV_GROUP (whatever the thread count), and the sequence in super-blocks of
 * BV_SUPER checkpoint blocks: threads synchronise twice per super-block only. */
#define BV_GROUP 16
#define BV_SUPER 16

/* out[tt * N + n] = sum over groups (in order) of part[grp][tt][n], for tt in [lo, hi). */
static void reduce_groups(const float *restrict part, float *restrict out, int64_t ngroups, int64_t S, int64_t N,
                          int64_t lo, int64_t hi) {
    float *restrict dst = out + lo * N;
    const int64_t len = (hi - lo) * N;
    const float *restrict first = part + lo * N;
    for (int64_t i = 0; i < len; i++) dst[i] = first[i];
    for (int64_t grp = 1; grp < ngroups; grp++) {
        const float *restrict src = part + (grp * S + lo) * N;
        for (int64_t i = 0; i < len; i++) dst[i] += src[i];
    }
}

/* Gradients of the scan. gy and ghT may be NULL (zero); grad_B, grad_C, grad_h0 may be NULL (not wanted).
 * ckpt is what bv_scan_fwd stored with the same K. Returns 0, or -1 on bad arguments, -2 when out of memory. */
BV_EXPORT int bv_scan_bwd(const float *u, const float *delta, const float *A, const float *Bm, const float *Cm,
                          const float *ckpt, const float *gy, const float *ghT, float *grad_u, float *grad_delta,
                          float *grad_A, float *grad_B, float *grad_C, float *grad_h0, int64_t batch, int64_t E,
                          int64_t L, int64_t N, int64_t K, int nthreads) {
    if (batch < 0 || E < 0 || L < 0 || N < 1 || K < 1) return -1;
#ifdef _OPENMP
    if (nthreads < 1) nthreads = omp_get_max_threads();
#else
    nthreads = 1;
#endif
    memset(grad_A, 0, (size_t)(E * N) * sizeof(float));
    if (batch == 0 || E == 0 || L == 0) {
        if (grad_B) memset(grad_B, 0, (size_t)(batch * L * N) * sizeof(float));
        if (grad_C) memset(grad_C, 0, (size_t)(batch * L * N) * sizeof(float));
        if (grad_h0) {
            for (int64_t i = 0; i < batch * E * N; i++) grad_h0[i] = ghT ? ghT[i] : 0.0f;
        }
        return 0;
    }
    const int64_t nblocks = (L + K - 1) / K;
    const int64_t Kb = K < L ? K : L;                                /* block length actually used */
    const int64_t S = K * BV_SUPER < L ? K * BV_SUPER : L;          /* super-block length actually used */
    const int64_t blocks_per_super = (S + K - 1) / K;
    const int64_t nsuper = (nblocks + blocks_per_super - 1) / blocks_per_super;
    const int64_t ngroups = (E + BV_GROUP - 1) / BV_GROUP;
    const size_t part_size = (size_t)(ngroups * S * N);
    const size_t scratch = (size_t)(2 * Kb * N);
    float *mem = (float *)malloc((2 * part_size + (size_t)(E * N) + scratch * (size_t)nthreads) * sizeof(float));
    if (!mem) return -2;
    float *partB = mem;         /* (ngroups, S, N): per-group partial sums of grad_B over the current super-block */
    float *partC = partB + part_size;
    float *G = partC + part_size; /* (E, N): dL/dh flowing into the current block from later positions */
    float *thread_scratch = G + E * N;

#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
        const int nthr = omp_get_num_threads();
        if (tid == 0) bv_last_threads = nthr;
#else
        const int tid = 0, nthr = 1;
#endif
        float *abuf = thread_scratch + (size_t)tid * scratch;
        float *hbuf = abuf + Kb * N;
        for (int64_t b = 0; b < batch; b++) {
            const float *ub = u + b * E * L, *db = delta + b * E * L;
            const float *Bb = Bm + b * L * N, *Cb = Cm + b * L * N;
            const float *gyb = gy ? gy + b * E * L : NULL;
            for (int64_t sb = nsuper - 1; sb >= 0; sb--) {
                const int64_t c_first = sb * blocks_per_super;
                const int64_t c_last = c_first + blocks_per_super < nblocks ? c_first + blocks_per_super : nblocks;
                const int64_t T0 = c_first * K;
                const int64_t T1 = c_last * K < L ? c_last * K : L;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
                for (int64_t grp = 0; grp < ngroups; grp++) {
                    float *pB = partB + grp * S * N, *pC = partC + grp * S * N;
                    memset(pB, 0, (size_t)((T1 - T0) * N) * sizeof(float));
                    memset(pC, 0, (size_t)((T1 - T0) * N) * sizeof(float));
                    const int64_t e0 = grp * BV_GROUP, e1 = e0 + BV_GROUP < E ? e0 + BV_GROUP : E;
                    for (int64_t c = c_last - 1; c >= c_first; c--) {
                        const int64_t t0 = c * K;
                        const int64_t t1 = t0 + K < L ? t0 + K : L;
                        for (int64_t e = e0; e < e1; e++) {
                            const int64_t p = b * E + e;
                            float *g = G + e * N;
                            if (c == nblocks - 1) {
                                for (int64_t n = 0; n < N; n++) g[n] = ghT ? ghT[p * N + n] : 0.0f;
                            }
                            bwd_block_dispatch(ub + e * L, db + e * L, A + e * N, Bb, Cb, gyb ? gyb + e * L : NULL,
                                               ckpt + (p * nblocks + c) * N, g, grad_u + p * L, grad_delta + p * L,
                                               grad_A + e * N, pB + (t0 - T0) * N, pC + (t0 - T0) * N, abuf, hbuf,
                                               t0, t1, (int)N);
                            if (c == 0 && grad_h0) {
                                for (int64_t n = 0; n < N; n++) grad_h0[p * N + n] = g[n];
                            }
                        }
                    }
                }
                /* implicit barrier: the partial sums of this super-block are complete */
                if (grad_B || grad_C) {
                    const int64_t T = T1 - T0;
                    const int64_t lo = T * tid / nthr, hi = T * (tid + 1) / nthr;
                    if (hi > lo) {
                        if (grad_B) reduce_groups(partB, grad_B + (b * L + T0) * N, ngroups, S, N, lo, hi);
                        if (grad_C) reduce_groups(partC, grad_C + (b * L + T0) * N, ngroups, S, N, lo, hi);
                    }
#ifdef _OPENMP
#pragma omp barrier
#endif
                }
            }
        }
    }
    free(mem);
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* introspection                                                                                                 */
/* ------------------------------------------------------------------------------------------------------------ */

BV_EXPORT int bv_abi_version(void) { return BV_ABI_VERSION; }

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
