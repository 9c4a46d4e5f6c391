/* bench_cpu: the CPU denoiser on a Llama-8B-shaped layer stack (d_model 4096,
 * 32 heads of 128, d_ff 12288, random weights) at canvas lengths 64/256/1024
 * and batch 1 and 8: time per forward per layer, the share of it inside
 * sgemm, and GFLOP/s against this machine's sgemm peak measured here. Also:
 * the cost of batch invariance (one sgemm per canvas vs stacked), streamed
 * F16 weights (dequantized per layer per step) vs resident f32, and the
 * vocabulary reduction per position at LLaDA's vocabulary size.
 *
 * usage: bench_cpu [--layers N] [--all] [--quick]
 *   --all  adds batch 8 x 1024 (minutes on 2 cores); --quick only L = 64/256. */
#include "engine/cpu/cpu.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D 4096
#define HEADS 32
#define HD 128
#define FF 12288
#define VOCAB 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24)) - 0.5f;
}

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffff;
    if (e <= 0)
        return (uint16_t)sign; /* the weights here are never that small */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    if ((m & 0x1fff) > 0x1000 || ((m & 0x1fff) == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)h;
}

struct bmodel {
    struct model m;
    struct tensor t[16 * 12 + 8];
    int n;
};

static void add(struct bmodel *b, const char *name, int cols, int rows, float scale, float offset, int f16)
{
    struct tensor *t = &b->t[b->n++];
    size_t n = (size_t)cols * rows;
    t->name = strdup(name);
    t->n_dims = rows > 1 ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->ne[2] = t->ne[3] = 1;
    if (f16 && rows > 1) {
        uint16_t *d = malloc(2 * n);
        for (size_t i = 0; i < n; i++)
            d[i] = f32_to_f16(offset + scale * frand());
        t->type = DT_F16;
        t->data = d;
        t->nbytes = 2 * n;
    } else {
        float *d = malloc(4 * n);
        for (size_t i = 0; i < n; i++)
            d[i] = offset + scale * frand();
        t->type = DT_F32;
        t->data = d;
        t->nbytes = 4 * n;
    }
    b->m.tensors = b->t;
    b->m.n_tensors = b->n;
}

static void build(struct bmodel *b, int layers, int f16)
{
    memset(b, 0, sizeof *b);
    struct model_config *c = &b->m.cfg;
    c->arch = ARCH_LLADA;
    c->n_layers = layers;
    c->d_model = D;
    c->n_heads = c->n_kv_heads = HEADS;
    c->head_dim = HD;
    c->d_ff = FF;
    c->vocab_size = VOCAB;
    c->norm_eps = 1e-5f;
    c->rope_theta = 500000.0f;
    c->mask_id = VOCAB - 1;
    c->bos_id = c->eos_id = c->pad_id = -1;
    float s = 0.03f;
    add(b, "token_embd.weight", D, VOCAB, 1.0f, 0.0f, f16);
    add(b, "output.weight", D, VOCAB, s, 0.0f, f16);
    add(b, "output_norm.weight", D, 1, 0.1f, 1.0f, 0);
    char n[64];
    for (int l = 0; l < layers; l++) {
#define T(nm, cols, rows, sc, off) (snprintf(n, sizeof n, "blk.%d." nm, l), add(b, n, cols, rows, sc, off, f16))
        T("attn_norm.weight", D, 1, 0.1f, 1.0f);
        T("attn_q.weight", D, D, s, 0.0f);
        T("attn_k.weight", D, D, s, 0.0f);
        T("attn_v.weight", D, D, s, 0.0f);
        T("attn_output.weight", D, D, s, 0.0f);
        T("ffn_norm.weight", D, 1, 0.1f, 1.0f);
        T("ffn_gate.weight", D, FF, s, 0.0f);
        T("ffn_up.weight", D, FF, s, 0.0f);
        T("ffn_down.weight", FF, D, s, 0.0f);
#undef T
    }
}

static void unbuild(struct bmodel *b)
{
    for (int i = 0; i < b->n; i++) {
        free(b->t[i].name);
        free((void *)b->t[i].data);
    }
}

static double sgemm_peak(void)
{
    int M = 1024, N = 4096, K = 4096;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C = malloc(sizeof(float) * M * N);
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = frand();
    for (size_t i = 0; i < (size_t)N * K; i++)
        B[i] = frand();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N);
        double g = 2.0 * M * N * K / (now_s() - t0) / 1e9;
        if (g > best)
            best = g;
    }
    free(A);
    free(B);
    free(C);
    return best;
}

/* One denoise over B canvases of L tokens, no queried positions (the
 * output head is not part of a layer). Returns seconds; stats in *st. */
static double run(void *ctx, int L, int B, struct cpu_stats *st)
{
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    for (int i = 0; i < L; i++)
        ids[i] = (int32_t)(i * 7919 % (VOCAB - 1));
    struct denoise_row *rows = calloc((size_t)B, sizeof *rows);
    for (int b = 0; b < B; b++) {
        rows[b].ids = ids;
        rows[b].len = L;
        rows[b].attn = ATTN_FULL;
        rows[b].cfg_uncond = -1;
    }
    struct denoise_batch batch = {rows, B, NULL};
    char err[256];
    cpu_reset_stats(ctx);
    double t0 = now_s();
    if (backend_cpu()->denoise(ctx, &batch, err, sizeof err) != 0)
        fprintf(stderr, "bench_cpu: %s\n", err);
    double t = now_s() - t0;
    cpu_get_stats(ctx, st);
    free(rows);
    free(ids);
    return t;
}

/* Model FLOPs of one layer over B canvases of L: projections + MLP + attention. */
static double layer_flop(int L, int B)
{
    double proj = 2.0 * L * B * (4.0 * D * D + 3.0 * D * FF);
    double att = 4.0 * (double)L * L * D * B;
    return proj + att;
}

static void table_row(const char *what, int L, int B, int layers, double t, const struct cpu_stats *st, double peak)
{
    double per_layer = t / layers;
    double share = st->sgemm_s / t;
    double gf_sgemm = st->sgemm_flop / st->sgemm_s / 1e9;
    double gf_all = layer_flop(L, B) * layers / t / 1e9;
    printf("%-10s %5d %3d %10.3f %8.1f%% %9.1f %9.1f %7.0f%% %8.1f%%\n", what, L, B, per_layer * 1e3, share * 100,
           gf_sgemm, gf_all, gf_all / peak * 100, (1 - share) * 100);
}

int main(int argc, char **argv)
{
    int layers = 1, all = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--layers") == 0 && i + 1 < argc)
            layers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
    }
    if (layers < 1)
        layers = 1;
    setvbuf(stdout, NULL, _IOLBF, 0); /* rows as they come: a run takes minutes */
    char err[256];
    double peak = sgemm_peak();
    printf("sgemm peak (1024x4096x4096, %d threads): %.1f GFLOP/s\n", openblas_get_num_threads(), peak);
    printf("Llama-8B-shaped stack: d_model %d, %d heads x %d, d_ff %d, %d layer(s), f32 weights\n", D, HEADS, HD, FF,
           layers);
    printf("%-10s %5s %3s %10s %9s %9s %9s %8s %9s\n", "mode", "L", "B", "ms/layer", "in sgemm", "sgemm GF",
           "model GF", "of peak", "non-GEMM");

    struct bmodel bm;
    build(&bm, layers, 0);
    struct cpu_opts o = {0, CPU_WEIGHTS_RESIDENT, 0};
    void *ctx = cpu_load_opts(&bm.m, &o, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_cpu: %s\n", err);
        return 1;
    }
    struct cpu_stats st;
    run(ctx, 64, 1, &st); /* warm up: buffers, threads */
    int Ls[3] = {64, 256, 1024};
    int nL = quick ? 2 : 3;
    for (int b = 0; b < 2; b++) {
        int B = b ? 8 : 1;
        for (int i = 0; i < nL; i++) {
            if (B == 8 && Ls[i] == 1024 && !all) {
                printf("%-10s %5d %3d   skipped (about 20 s per layer here; --all runs it)\n", "per-canvas", 1024, 8);
                continue;
            }
            double t = run(ctx, Ls[i], B, &st);
            table_row("per-canvas", Ls[i], B, layers, t, &st, peak);
        }
    }
    backend_cpu()->free(ctx);

    /* the price of batch invariance: the same batches with one stacked sgemm */
    o.stack_rows = 1;
    ctx = cpu_load_opts(&bm.m, &o, err, sizeof err);
    if (ctx) {
        run(ctx, 64, 1, &st);
        for (int i = 0; i < 2; i++) {
            double t = run(ctx, Ls[i], 8, &st);
            table_row("stacked", Ls[i], 8, layers, t, &st, peak);
        }
        backend_cpu()->free(ctx);
    }
    unbuild(&bm);

    /* F16 weights: dequantized per layer per step vs converted at load */
    build(&bm, layers, 1);
    for (int mode = 0; mode < 2; mode++) {
        struct cpu_opts of = {0, mode ? CPU_WEIGHTS_STREAM : CPU_WEIGHTS_RESIDENT, 0};
        double t0 = now_s();
        ctx = cpu_load_opts(&bm.m, &of, err, sizeof err);
        double load = now_s() - t0;
        if (!ctx) {
            fprintf(stderr, "bench_cpu: %s\n", err);
            continue;
        }
        run(ctx, 64, 1, &st);
        for (int i = 0; i < 2; i++) {
            double t = run(ctx, Ls[i], 1, &st);
            table_row(mode ? "f16-stream" : "f16-load", Ls[i], 1, layers, t, &st, peak);
            if (mode)
                printf("%-10s       dequantizing: %.1f ms/layer (%.0f%% of the step)\n", "", st.dequant_s / layers * 1e3,
                       st.dequant_s / t * 100);
        }
        if (!mode)
            printf("%-10s       conversion at load: %.1f ms/layer\n", "", load / layers * 1e3);
        backend_cpu()->free(ctx);
    }
    unbuild(&bm);

    /* the reduction over a LLaDA-sized vocabulary, per position */
    int V = 126464, npos = 32;
    struct cpu_reduce_scratch rs;
    float *l = malloc(sizeof(float) * (size_t)V), *w = malloc(sizeof(float) * (size_t)V);
    for (int i = 0; i < V; i++)
        l[i] = 4.0f * frand();
    cpu_reduce_scratch_init(&rs, V);
    struct reduce_params rp;
    memset(&rp, 0, sizeof rp);
    rp.banned[0] = rp.banned[1] = -1;
    const char *names[3] = {"argmax", "T=1 sample", "T=1 p=.9 k=50"};
    for (int k = 0; k < 3; k++) {
        rp.temperature = k ? 1.0f : 0.0f;
        rp.top_p = k == 2 ? 0.9f : 1.0f;
        rp.top_k = k == 2 ? 50 : 0;
        rp.n_logprobs = 5;
        double t0 = now_s();
        for (int p = 0; p < npos; p++) {
            struct denoise_pos out;
            memcpy(w, l, sizeof(float) * (size_t)V);
            cpu_reduce(w, V, &rp, p, &rs, &out);
        }
        printf("reduce V=%d %-14s %.2f ms/position\n", V, names[k], (now_s() - t0) / npos * 1e3);
    }
    cpu_reduce_scratch_free(&rs);
    free(l);
    free(w);
    return 0;
}
