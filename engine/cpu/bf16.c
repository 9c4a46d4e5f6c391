/* CPU_WEIGHTS_BF16: the projections as BF16 products with f32 accumulation,
 * on the AVX512-BF16 dot-product instruction (vdpbf16ps).
 *
 * Why our own kernel: Debian's OpenBLAS 0.3.21 is built without BFLOAT16,
 * so cblas_sbgemm is declared in cblas.h but not in the library (a link
 * fails). On this project's build machine (AMD EPYC, Zen 5) this kernel
 * runs the model's shapes at about 4x cblas_sgemm's GFLOP/s per thread
 * (tests/bench/bench_bf16.c prints both).
 *
 * Layout: y[M][N] = x[M][K] . W[N][K]^T. W is packed once at load in panels
 * of 16 output columns: panel p holds, for each pair of inputs kk, the 16
 * columns' (W[n][2kk], W[n][2kk+1]) side by side, 64 bytes, one vector.
 * x is rounded to BF16 per call (round to nearest even), so a pair of
 * inputs is one 32-bit lane to broadcast. One vdpbf16ps adds
 * x[2kk] W[n][2kk] + x[2kk+1] W[n][2kk+1] to 16 f32 sums.
 *
 * Numerics and batch invariance: every output element is summed in the
 * same order (k pairs in blocks of BF16_KC, each block's partial added to
 * the f32 result in order) whatever M, the canvas's row or the thread
 * split (threads split the columns), so a canvas's rows are the same bits
 * alone or batched, stacked or not. Error: both operands carry BF16's 8
 * significant bits (relative rounding 2^-9), about 4e-3 of the largest
 * product on random data; see README "CPU weights". */
#include "engine/cpu/cpu.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BF16_MR 8   /* rows of x per tile */
#define BF16_NP 3   /* 16-column panels per tile: 24 accumulators of 32 */
#define BF16_KC 256 /* input pairs per block: a tile's W slice stays in L2 */

static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) /* inf/nan: truncate, keep a nan a nan */
        return (uint16_t)((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u));
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#include <immintrin.h>
#define BF16_X86 1

int cpu_bf16_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
}

/* One tile: rows [0, mr) of x (mr <= BF16_MR; missing rows repeat the last
 * one and are not stored), BF16_NP panels, input pairs [kk0, kk0 + nk).
 * first: the block starts the sum (else adds to y). The constant loops are
 * unrolled so that the 24 sums live in registers. */
__attribute__((target("avx512f,avx512bf16"))) static void tile(const uint32_t *xb, int ldx, int mr,
                                                              const uint16_t *w, size_t pstride, int kk0, int nk,
                                                              float *y, int ldy, int n0, int N, int first)
{
    __m512 acc[BF16_MR][BF16_NP];
#pragma GCC unroll 8
    for (int r = 0; r < BF16_MR; r++)
#pragma GCC unroll 4
        for (int q = 0; q < BF16_NP; q++)
            acc[r][q] = _mm512_setzero_ps();
    const uint32_t *xr[BF16_MR];
#pragma GCC unroll 8
    for (int r = 0; r < BF16_MR; r++)
        xr[r] = xb + (size_t)(r < mr ? r : mr - 1) * (size_t)ldx + kk0;
    const uint16_t *wk = w + (size_t)kk0 * 32;
    for (int kk = 0; kk < nk; kk++) {
        __m512bh b[BF16_NP];
#pragma GCC unroll 4
        for (int q = 0; q < BF16_NP; q++)
            b[q] = (__m512bh)_mm512_load_si512((const void *)(wk + q * pstride + (size_t)kk * 32));
#pragma GCC unroll 8
        for (int r = 0; r < BF16_MR; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)xr[r][kk]);
#pragma GCC unroll 4
            for (int q = 0; q < BF16_NP; q++)
                acc[r][q] = _mm512_dpbf16_ps(acc[r][q], a, b[q]);
        }
    }
    for (int r = 0; r < mr; r++) {
        for (int q = 0; q < BF16_NP; q++) {
            int c0 = n0 + q * 16;
            if (c0 >= N)
                break;
            int nv = N - c0 < 16 ? N - c0 : 16;
            __mmask16 m = (__mmask16)((1u << nv) - 1u);
            float *yp = y + (size_t)r * (size_t)ldy + c0;
            __m512 v = acc[r][q];
            if (!first)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yp));
            _mm512_mask_storeu_ps(yp, m, v);
        }
    }
}

/* x rows to BF16 pairs (round to nearest even, as f32_to_bf16). */
__attribute__((target("avx512f,avx512bf16"))) static void round_rows(const float *x, int M, int K, int kp,
                                                                    uint32_t *xb)
{
    for (int m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * (size_t)K;
        uint16_t *o = (uint16_t *)(xb + (size_t)m * (size_t)kp);
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xm + k + 16), _mm512_loadu_ps(xm + k));
            _mm512_storeu_si512((void *)(o + k), (__m512i)v);
        }
        for (; k < K; k++)
            o[k] = f32_to_bf16(xm[k]);
        if (K & 1)
            o[K] = 0;
    }
}

struct bf16_job {
    const struct cpu_mat *w;
    const uint32_t *xb;
    int M;
    float *y;
    int first;
    int g0, g1; /* tile columns (groups of BF16_NP panels) of this thread */
};

static void *bf16_work(void *arg)
{
    const struct bf16_job *j = arg;
    const struct cpu_mat *w = j->w;
    int kp = (w->cols + 1) / 2;
    size_t ps = (size_t)kp * 32;
    for (int g = j->g0; g < j->g1; g++) {
        const uint16_t *wg = w->bf16 + (size_t)g * BF16_NP * ps;
        for (int kk0 = 0; kk0 < kp; kk0 += BF16_KC) {
            int nk = kp - kk0 < BF16_KC ? kp - kk0 : BF16_KC;
            for (int m0 = 0; m0 < j->M; m0 += BF16_MR) {
                int mr = j->M - m0 < BF16_MR ? j->M - m0 : BF16_MR;
                tile(j->xb + (size_t)m0 * (size_t)kp, kp, mr, wg, ps, kk0, nk, j->y + (size_t)m0 * (size_t)w->rows,
                     w->rows, g * BF16_NP * 16, w->rows, j->first && kk0 == 0);
            }
        }
    }
    return NULL;
}

int cpu_bf16_gemm(struct cpu_ctx *c, const struct cpu_mat *w, int M, const float *x, float *y, int accumulate)
{
    if (M <= 0)
        return 0;
    int kp = (w->cols + 1) / 2;
    size_t need = (size_t)M * (size_t)kp;
    if (need > c->xbf_n) {
        uint32_t *nb = realloc(c->xbf, sizeof(uint32_t) * need);
        if (!nb)
            return -1;
        c->xbf = nb;
        c->xbf_n = need;
    }
    double t0 = now_s();
    round_rows(x, M, w->cols, kp, c->xbf);
    int groups = ((w->rows + 15) / 16 + BF16_NP - 1) / BF16_NP;
    int nt = c->opts.threads > 0 ? c->opts.threads : openblas_get_num_threads();
    if (nt < 1)
        nt = 1;
    if (nt > groups)
        nt = groups;
    if (nt > 64)
        nt = 64;
    struct bf16_job jobs[64];
    pthread_t th[64];
    int started[64] = {0};
    for (int t = 0; t < nt; t++)
        jobs[t] = (struct bf16_job){w, c->xbf, M, y, !accumulate, (int)((long)groups * t / nt),
                                    (int)((long)groups * (t + 1) / nt)};
    /* A thread that cannot start leaves its columns to the caller. */
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, bf16_work, &jobs[t]) == 0;
    bf16_work(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            bf16_work(&jobs[t]);
    }
    c->st.sgemm_s += now_s() - t0;
    c->st.sgemm_flop += 2.0 * M * (double)w->rows * w->cols;
    c->st.sgemm_calls++;
    return 0;
}

#else

int cpu_bf16_supported(void)
{
    return 0;
}

int cpu_bf16_gemm(struct cpu_ctx *c, const struct cpu_mat *w, int M, const float *x, float *y, int accumulate)
{
    (void)c, (void)w, (void)M, (void)x, (void)y, (void)accumulate;
    return -1;
}

#endif

/* Packs w's tensor into the panel layout above (zero padding to whole tile
 * columns and an even input count), converting a row at a time. */
int cpu_bf16_pack(struct cpu_mat *w, char *err, size_t errlen)
{
    int kp = (w->cols + 1) / 2;
    size_t npan = (size_t)(((w->rows + 15) / 16 + BF16_NP - 1) / BF16_NP * BF16_NP);
    size_t bytes = npan * (size_t)kp * 32 * sizeof(uint16_t);
    w->bf16 = aligned_alloc(64, (bytes + 63) / 64 * 64);
    float *row = malloc(sizeof(float) * (size_t)w->cols);
    if (!w->bf16 || !row) {
        free(row);
        snprintf(err, errlen, "cpu: out of memory packing %s as bf16", w->t ? w->t->name : "?");
        return -1;
    }
    memset(w->bf16, 0, bytes);
    for (int n = 0; n < w->rows; n++) {
        if (cpu_rows_f32(w->t, n, 1, row) != 0) {
            free(row);
            snprintf(err, errlen, "cpu: tensor %s (%s) does not convert to f32", w->t->name, dtype_name(w->t->type));
            return -1;
        }
        uint16_t *p = w->bf16 + (size_t)(n / 16) * (size_t)kp * 32 + (size_t)(n % 16) * 2;
        for (int k = 0; k < w->cols; k++)
            p[(size_t)(k / 2) * 32 + (k & 1)] = f32_to_bf16(row[k]);
    }
    free(row);
    return 0;
}
