/* bin/bench_bf16 [--threads N] [--reps N]
 *
 * The CPU backend's two products, y = x W^T, on the shapes of the 12-layer
 * LLaDA-shaped model of tests/bench/llamacpp_bench.sh (d 768, SwiGLU 2048,
 * vocabulary 32,000; canvas 128 and 256) and of a Llama-8B layer (d 4096,
 * 8 key/value heads of 128, SwiGLU 14336; canvas 128): OpenBLAS
 * cblas_sgemm on f32 weights against engine/cpu/bf16.c's AVX512-BF16
 * kernel on weights packed as BF16 (activations rounded per call, f32
 * sums), GFLOP/s of the best of --reps (5) calls each, alternating, and the
 * largest difference between the two relative to the largest output.
 * Debian's OpenBLAS 0.3.21 has no cblas_sbgemm (built without BFLOAT16),
 * so it cannot be a third column. Without AVX512-BF16 it says so, exits 0. */
#include "engine/cpu/cpu.h"

#include <cblas.h>
#include <math.h>
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

static float lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) / (double)(1ull << 24)) - 0.5f;
}

struct shape {
    const char *what;
    int M, N, K;
};

int main(int argc, char **argv)
{
    int threads = 2, reps = 5;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
    }
    if (threads < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_bf16 [--threads N] [--reps N]\n");
        return 2;
    }
    if (!cpu_bf16_supported()) {
        printf("bench_bf16: this CPU has no AVX512-BF16; skipped\n");
        return 0;
    }
    static const struct shape shapes[] = {
        {"12L q/k/v/o, L=128", 128, 768, 768},   {"12L gate/up, L=128", 128, 2048, 768},
        {"12L down, L=128", 128, 768, 2048},     {"12L output, L=128", 128, 32000, 768},
        {"12L gate/up, L=256", 256, 2048, 768},  {"12L down, L=256", 256, 768, 2048},
        {"8B q/o, L=128", 128, 4096, 4096},      {"8B k/v, L=128", 128, 1024, 4096},
        {"8B gate/up, L=128", 128, 14336, 4096}, {"8B down, L=128", 128, 4096, 14336},
    };
    openblas_set_num_threads(threads);
    struct cpu_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return 1;
    c->opts.threads = threads;
    printf("bench_bf16: %d thread(s), best of %d calls\n", threads, reps);
    printf("%-20s %6s %6s %6s %14s %14s %8s %14s\n", "shape", "M", "N", "K", "sgemm GFLOP/s", "bf16 GFLOP/s",
           "speedup", "max|diff|/max");
    int rc = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && rc == 0; s++) {
        const struct shape *h = &shapes[s];
        size_t nw = (size_t)h->N * h->K, nx = (size_t)h->M * h->K, ny = (size_t)h->M * h->N;
        float *W = malloc(sizeof(float) * nw), *x = malloc(sizeof(float) * nx);
        float *y1 = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
        uint64_t seed = 42 + s;
        if (!W || !x || !y1 || !y2) {
            rc = 1;
        } else {
            for (size_t i = 0; i < nw; i++)
                W[i] = 0.1f * lcg(&seed);
            for (size_t i = 0; i < nx; i++)
                x[i] = lcg(&seed);
        }
        struct tensor t = {(char *)"w", DT_F32, 2, {h->K, h->N, 1, 1}, W, sizeof(float) * nw};
        struct cpu_mat w = {&t, NULL, NULL, h->N, h->K, NULL};
        char err[128];
        if (rc == 0 && cpu_bf16_pack(&w, err, sizeof err)) {
            printf("bench_bf16: %s\n", err);
            rc = 1;
        }
        double best_s = 1e30, best_b = 1e30;
        for (int r = 0; rc == 0 && r <= reps; r++) { /* r = 0: warm-up */
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, h->M, h->N, h->K, 1.0f, x, h->K, W, h->K, 0.0f, y1,
                        h->N);
            double t1 = now_s();
            if (cpu_bf16_gemm(c, &w, h->M, x, y2, 0)) {
                rc = 1;
                break;
            }
            double t2 = now_s();
            if (r > 0) {
                best_s = t1 - t0 < best_s ? t1 - t0 : best_s;
                best_b = t2 - t1 < best_b ? t2 - t1 : best_b;
            }
        }
        if (rc == 0) {
            double d = 0, mx = 0, flop = 2.0 * h->M * (double)h->N * h->K;
            for (size_t i = 0; i < ny; i++) {
                d = fmax(d, fabs((double)y1[i] - y2[i]));
                mx = fmax(mx, fabs((double)y1[i]));
            }
            printf("%-20s %6d %6d %6d %14.1f %14.1f %7.2fx %14.2e\n", h->what, h->M, h->N, h->K, flop / best_s / 1e9,
                   flop / best_b / 1e9, best_s / best_b, d / mx);
        }
        free(w.bf16);
        free(W);
        free(x);
        free(y1);
        free(y2);
    }
    free(c->xbf);
    free(c);
    return rc;
}
