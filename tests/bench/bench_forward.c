/* bench_forward: dllm's side of the side by side with llama.cpp
 * (tests/bench/llamacpp_bench.sh runs both on the same GGUF). Opens a model
 * file, loads the CPU backend with the given OpenBLAS threads, and times one
 * bidirectional forward over a whole canvas with the logits of every
 * position (backend->logits, the work of one llama_decode with all logits).
 * The canvas ids are the ones llamacpp_forward uses:
 *   id[i] = (i * 7919 + 13) % (vocab - 1).
 * Prints one line per canvas length:
 *   dllm L=128 threads=2 runs=5 median_ms=... min_ms=... max_ms=... in_sgemm=...%
 * and with --out PREFIX writes the logits of the last run, float32
 * [L][vocab] row-major, to PREFIX.L.f32.
 *
 * usage: bench_forward MODEL [--threads N] [--runs N] [--weights auto|f32|stream|bf16] [--out PREFIX] [L...]
 *   (L defaults to 128 256) */
#include "engine/cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One warm-up forward, then `runs` timed ones. Returns 0 on success. */
static int bench_canvas(void *ctx, const struct model *m, int L, int threads, int runs, const char *out_prefix)
{
    int V = m->cfg.vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    float *logits = malloc(sizeof(float) * (size_t)L * (size_t)V);
    double *t = malloc(sizeof(double) * (size_t)runs);
    if (!ids || !logits || !t) {
        fprintf(stderr, "bench_forward: out of memory for L=%d\n", L);
        free(ids);
        free(logits);
        free(t);
        return 1;
    }
    for (int i = 0; i < L; i++)
        ids[i] = (int32_t)(((long)i * 7919 + 13) % (V - 1));
    struct denoise_row row;
    memset(&row, 0, sizeof row);
    row.ids = ids;
    row.len = L;
    row.attn = ATTN_FULL;
    row.cfg_uncond = -1;
    row.rp.top_p = 1.0f;
    row.rp.banned[0] = row.rp.banned[1] = -1;
    char err[512];
    int rc = 0;
    double sgemm_ms = 0;
    for (int r = -1; r < runs && rc == 0; r++) {
        struct cpu_stats st;
        cpu_reset_stats(ctx);
        double t0 = now_ms();
        if (backend_cpu()->logits(ctx, &row, logits, err, sizeof err) != 0) {
            fprintf(stderr, "bench_forward: %s\n", err);
            rc = 1;
            break;
        }
        double dt = now_ms() - t0;
        cpu_get_stats(ctx, &st);
        if (r >= 0) {
            t[r] = dt;
            sgemm_ms += st.sgemm_s * 1e3;
        }
    }
    if (rc == 0) {
        double sum = 0;
        for (int r = 0; r < runs; r++)
            sum += t[r];
        qsort(t, (size_t)runs, sizeof(double), cmp_double);
        printf("dllm L=%d threads=%d runs=%d median_ms=%.1f min_ms=%.1f max_ms=%.1f in_sgemm=%.0f%%\n", L, threads,
               runs, t[runs / 2], t[0], t[runs - 1], 100.0 * sgemm_ms / sum);
        fflush(stdout);
    }
    if (rc == 0 && out_prefix) {
        char path[4096];
        snprintf(path, sizeof path, "%s.%d.f32", out_prefix, L);
        FILE *f = fopen(path, "wb");
        size_t n = (size_t)L * (size_t)V;
        if (!f || fwrite(logits, sizeof(float), n, f) != n) {
            fprintf(stderr, "bench_forward: cannot write %s\n", path);
            rc = 1;
        }
        if (f && fclose(f) != 0)
            rc = 1;
    }
    free(ids);
    free(logits);
    free(t);
    return rc;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *out = NULL;
    int threads = 2, runs = 5;
    int Ls[16] = {128, 256}, nL = 0;
    enum cpu_weights_mode weights = CPU_WEIGHTS_AUTO;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc) {
            if (cpu_weights_parse(argv[++i], &weights)) {
                fprintf(stderr, "bench_forward: --weights takes auto, f32, stream or bf16\n");
                return 2;
            }
        }
        else if (!model_path)
            model_path = argv[i];
        else if (nL < 16 && atoi(argv[i]) > 0)
            Ls[nL++] = atoi(argv[i]);
    }
    if (nL == 0)
        nL = 2;
    if (!model_path || threads < 1 || runs < 1) {
        fprintf(stderr, "usage: bench_forward MODEL [--threads N] [--runs N] [--weights auto|f32|stream|bf16] [--out PREFIX] [L...]\n");
        return 2;
    }
    char err[512];
    struct model *m;
    if (model_open(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "bench_forward: %s\n", err);
        return 1;
    }
    double t0 = now_ms();
    struct cpu_opts o = {threads, weights, 0};
    void *ctx = cpu_load_opts(m, &o, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_forward: %s\n", err);
        model_free(m);
        return 1;
    }
    printf("dllm model %s: %s, %d layers, d_model %d, vocab %d, weights %s (load %.0f ms)\n", model_path,
           arch_name(m->cfg.arch), m->cfg.n_layers, m->cfg.d_model, m->cfg.vocab_size,
           cpu_weights_bf16(ctx)       ? "projections and head packed as bf16 at load"
           : cpu_weights_resident(ctx) ? "converted to f32 at load"
                                       : "streamed as stored",
           now_ms() - t0);
    int rc = 0;
    for (int i = 0; i < nL && rc == 0; i++)
        rc = bench_canvas(ctx, m, Ls[i], threads, runs, out);
    backend_cpu()->free(ctx);
    model_free(m);
    return rc;
}
