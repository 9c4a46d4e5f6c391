/* Every large product of the CPU backend goes through here: cblas_sgemm,
 * timed, and the projections laid out per canvas (see cpu.h on batch
 * invariance). */
#include "engine/cpu/cpu.h"

#include <cblas.h>
#include <stdio.h>
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

int cpu_linear(struct cpu_ctx *c, const struct cpu_mat *w, const float *bias, const float *x, float *y,
               int accumulate, char *err, size_t errlen)
{
    const float *W = cpu_mat_get(c, w);
    if (!W) {
        snprintf(err, errlen, "cpu: tensor %s does not convert to f32", w->t ? w->t->name : "?");
        return -1;
    }
    const struct cpu_rows *r = &c->rows;
    float beta = accumulate ? 1.0f : 0.0f;
    if (c->opts.stack_rows) {
        cpu_sgemm(c, 1, r->total, w->rows, w->cols, 1.0f, x, w->cols, W, w->cols, beta, y, w->rows);
    } else {
        for (int i = 0; i < r->n; i++) {
            size_t o = (size_t)r->off[i];
            cpu_sgemm(c, 1, r->len[i], w->rows, w->cols, 1.0f, x + o * (size_t)w->cols, w->cols, W, w->cols, beta,
                      y + o * (size_t)w->rows, w->rows);
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
