/* The BF16 product of engine/cpu/bf16.c against a float64 sum of the same
 * BF16-rounded operands (rounding written here from the format: keep the
 * top 16 bits of the float32, round to nearest, ties to even), on shapes
 * that are not multiples of the kernel's tiles (odd inputs, a partial
 * column panel, a partial row tile, several input blocks), and the rows of
 * one call against the same rows computed alone (the same bits). Skipped
 * where the CPU has no AVX512-BF16. */
#include "tests/unit/check.h"
#include "engine/cpu/cpu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t lower = u & 0xffffu, upper = u >> 16;
    if (lower > 0x8000u || (lower == 0x8000u && (upper & 1u)))
        upper++;
    u = upper << 16;
    float r;
    memcpy(&r, &u, 4);
    return (double)r;
}

static float lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) / (double)(1ull << 24)) - 0.5f;
}

static void check_shape(int M, int N, int K, int threads)
{
    uint64_t s = (uint64_t)(M * 131 + N * 7 + K);
    float *W = malloc(sizeof(float) * (size_t)N * K), *x = malloc(sizeof(float) * (size_t)M * K);
    float *y = malloc(sizeof(float) * (size_t)M * N), *y1 = malloc(sizeof(float) * (size_t)N);
    for (size_t i = 0; i < (size_t)N * K; i++)
        W[i] = lcg(&s);
    for (size_t i = 0; i < (size_t)M * K; i++)
        x[i] = 3.0f * lcg(&s);
    struct tensor t = {(char *)"w", DT_F32, 2, {K, N, 1, 1}, W, sizeof(float) * (size_t)N * K};
    struct cpu_ctx *c = calloc(1, sizeof *c);
    c->opts.threads = threads;
    struct cpu_mat w = {&t, NULL, NULL, N, K, NULL};
    char err[128] = "";
    if (!CHECK(cpu_bf16_pack(&w, err, sizeof err) == 0))
        goto out;
    for (size_t i = 0; i < (size_t)M * N; i++)
        y[i] = 0.25f; /* accumulate: added to */
    CHECK(cpu_bf16_gemm(c, &w, M, x, y, 1) == 0);
    double worst = 0;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double ref = 0.25, mag = 0.25;
            for (int k = 0; k < K; k++) {
                double p = bf16_round(x[(size_t)m * K + k]) * bf16_round(W[(size_t)n * K + k]);
                ref += p;
                mag += fabs(p);
            }
            /* f32 sums of K products: a few ulps of the magnitude */
            double e = fabs((double)y[(size_t)m * N + n] - ref) / mag;
            worst = e > worst ? e : worst;
        }
    }
    if (!CHECK(worst < 1e-5))
        fprintf(stderr, "    M=%d N=%d K=%d: worst %.3g of the magnitude\n", M, N, K, worst);
    /* each row alone: the same bits as in the call of M rows */
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++)
            y1[n] = 0.25f;
        CHECK(cpu_bf16_gemm(c, &w, 1, x + (size_t)m * K, y1, 1) == 0);
        if (!CHECK(memcmp(y1, y + (size_t)m * N, sizeof(float) * (size_t)N) == 0))
            break;
    }
out:
    free(w.bf16);
    free(c->xbf);
    free(c);
    free(W);
    free(x);
    free(y);
    free(y1);
}

void test_cpu_bf16_gemm(void)
{
    if (!cpu_bf16_supported()) {
        check_skip("this CPU has no AVX512-BF16");
        return;
    }
    check_shape(1, 16, 2, 1);
    check_shape(11, 37, 75, 1);    /* partial tile, panel, odd inputs */
    check_shape(9, 100, 1100, 2);  /* several input blocks, two threads */
    check_shape(20, 49, 33, 3);
}
