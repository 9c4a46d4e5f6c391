/* Every large product of the CPU backend goes through here: cblas_sgemm,
 * timed, and the projections laid out per canvas (see cpu.h on batch
 * invariance). */
#include "engine/cpu/cpu.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cpu_sgemm(struct cpu_ctx *c, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
    c->st.sgemm_s += now_s() - t0;
    c->st.sgemm_flop += 2.0 * M * N * K;
    c->st.sgemm_calls++;
}

/* CPU_WEIGHTS_BF16: the same layouts through the BF16 kernel, whose rows
 * are the same bits whatever the number of rows (bf16.c). */
static int linear_bf16(struct cpu_ctx *c, const struct cpu_mat *w, const float *x, float *y, int accumulate,
                       char *err, size_t errlen)
{
    const struct cpu_rows *r = &c->rows;
    int rc = 0;
    if (c->opts.stack_rows != CPU_STACK_NONE)
        rc = cpu_bf16_gemm(c, w, r->total, x, y, accumulate);
    for (int i = 0; rc == 0 && c->opts.stack_rows == CPU_STACK_NONE && i < r->n; i++) {
        size_t o = (size_t)r->off[i];
        rc = cpu_bf16_gemm(c, w, r->len[i], x + o * (size_t)w->cols, y + o * (size_t)w->rows, accumulate);
    }
    if (rc)
        snprintf(err, errlen, "cpu: out of memory in the bf16 product (%s)", w->t ? w->t->name : "?");
    return rc;
}

int cpu_linear(struct cpu_ctx *c, const struct cpu_mat *w, const float *bias, const float *x, float *y,
               int accumulate, char *err, size_t errlen)
{
    const struct cpu_rows *r = &c->rows;
    if (w->bf16) {
        if (linear_bf16(c, w, x, y, accumulate, err, errlen))
            return -1;
    } else {
        const float *W = cpu_mat_get(c, w);
        if (!W) {
            snprintf(err, errlen, "cpu: tensor %s does not convert to f32", w->t ? w->t->name : "?");
            return -1;
        }
        float beta = accumulate ? 1.0f : 0.0f;
        if (c->opts.stack_rows != CPU_STACK_NONE) {
            /* padded: r->total counts each canvas's pad rows too */
            cpu_sgemm(c, 1, r->total, w->rows, w->cols, 1.0f, x, w->cols, W, w->cols, beta, y, w->rows);
        } else {
            for (int i = 0; i < r->n; i++) {
                size_t o = (size_t)r->off[i];
                cpu_sgemm(c, 1, r->len[i], w->rows, w->cols, 1.0f, x + o * (size_t)w->cols, w->cols, W, w->cols,
                          beta, y + o * (size_t)w->rows, w->rows);
            }
        }
    }
    if (bias) {
        for (int t = 0; t < r->total; t++) {
            float *yt = y + (size_t)t * (size_t)w->rows;
            for (int j = 0; j < w->rows; j++)
                yt[j] += bias[j];
        }
    }
    return 0;
}

/* One probe: canvases of the given lengths, each padded to pad rows, through
 * x W^T alone and stacked; 1 when every canvas's rows are the same bits. */
static int probe_once(const float *W, int N, int K, const int *lens, int n, int pad, uint64_t *rng)
{
    int off[16], tot = 0;
    for (int i = 0; i < n; i++) {
        off[i] = tot;
        tot += (lens[i] + pad - 1) / pad * pad;
    }
    float *A = calloc((size_t)tot * K, sizeof(float));
    float *Cs = malloc(sizeof(float) * (size_t)tot * N);
    float *Ca = malloc(sizeof(float) * (size_t)tot * N);
    int same = A && Cs && Ca;
    for (size_t i = 0; same && i < (size_t)tot * K; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        A[i] = (float)((*rng >> 40) / (double)(1ull << 24)) - 0.5f;
    }
    if (same)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tot, N, K, 1.0f, A, K, W, K, 0.0f, Cs, N);
    for (int i = 0; same && i < n; i++) {
        int rows = (lens[i] + pad - 1) / pad * pad;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, K, 1.0f, A + (size_t)off[i] * K, K, W, K,
                    0.0f, Ca, N);
        same = memcmp(Ca, Cs + (size_t)off[i] * N, sizeof(float) * (size_t)lens[i] * N) == 0;
    }
    free(A);
    free(Cs);
    free(Ca);
    return same;
}

/* Measured on Haswell kernels (OpenBLAS 0.3.21): unpadded, most canvases
 * differ in the last bits from their rows in a stacked call; padded to 24
 * rows (1 thread) or 48 (2 threads) none of 1,792 random layouts did. The
 * probe tries unit x threads rows for a few units, each on the model's own
 * layer-0 matrices with random canvases, small and large. */
void cpu_stack_probe(struct cpu_ctx *c)
{
    static const int units[] = {4, 8, 16, 24, 32};
    static const int lens[2][12] = {{1, 7, 33, 2, 64, 5, 17, 90, 3, 40, 11, 128},
                                    {32, 32, 31, 1, 200, 48, 9, 16, 77, 300, 6, 25}};
    int threads = openblas_get_num_threads();
    c->pad = 1;
    if (c->bf16)
        return; /* the BF16 kernel's rows are the same bits stacked or not: no pad needed */
    if (c->cfg.n_layers < 1 || !c->layers || threads < 1)
        goto none;
    const struct cpu_mat *mats[2] = {&c->layers[0].wq, &c->layers[0].w_down};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        int pad = units[u] * threads, ok = 1;
        uint64_t rng = 12345;
        for (int m = 0; ok && m < 2; m++) {
            if (!mats[m]->t && !mats[m]->f32)
                continue;
            const float *W = cpu_mat_get(c, mats[m]);
            if (!W)
                goto none;
            for (int t = 0; ok && t < 2; t++)
                ok = probe_once(W, mats[m]->rows, mats[m]->cols, lens[t], 12, pad, &rng);
        }
        if (ok) {
            c->pad = pad;
            return;
        }
    }
none:
    c->pad = 1;
    c->opts.stack_rows = CPU_STACK_NONE;
}
