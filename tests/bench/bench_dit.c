/* bench_dit: the CPU engine on a GPT-2-small-shaped MDLM/SEDD DiT (width 768,
 * 12 blocks of 12 heads, cond 128, vocabulary 50258, random f32 weights) at
 * canvas 1024, batch 1 and 8: the time of one denoising step (the batched
 * forward, the output head at the queried positions, the reduction over the
 * vocabulary), the share inside sgemm, steps per second and generated
 * tokens per second.
 *
 * How a step and a token are counted: MDLM's and SEDD's samplers query every
 * still-masked position, and with the log-linear schedule the masked count
 * falls linearly from 1024 to 0 over the run, so an average step queries
 * 512 positions (the first queries 1024, also shown). Generated tokens per
 * second = batch x 1024 tokens / (128 steps x the average step time): a
 * 1024-token canvas filled in 128 steps (MDLM's default step count).
 *
 * usage: bench_dit [--reps N] [--batch8-reps N] [--quick] (--quick: batch 1 only) */
#include "engine/cpu/cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D 768
#define LAYERS 12
#define HEADS 12
#define COND 128
#define NFREQ 256
#define VOCAB 50258
#define LEN 1024
#define STEPS 128
#define MAXT 160

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

struct bm {
    struct model m;
    struct tensor t[MAXT];
    int n;
};

static void add(struct bm *b, const char *name, int64_t cols, int64_t rows, float scale, float offset)
{
    struct tensor *t = &b->t[b->n++];
    size_t n = (size_t)(cols * rows);
    float *d = malloc(sizeof(float) * n);
    if (!d) {
        fprintf(stderr, "bench_dit: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        d[i] = offset + scale * frand();
    t->name = strdup(name);
    t->type = DT_F32;
    t->n_dims = rows > 1 ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->ne[2] = t->ne[3] = 1;
    t->data = d;
    t->nbytes = sizeof(float) * n;
    b->m.tensors = b->t;
    b->m.n_tensors = b->n;
}

static void build(struct bm *b)
{
    memset(b, 0, sizeof *b);
    struct model_config *c = &b->m.cfg;
    c->arch = ARCH_MDLM;
    c->n_layers = LAYERS;
    c->d_model = D;
    c->n_heads = c->n_kv_heads = HEADS;
    c->head_dim = c->rope_dim = D / HEADS;
    c->d_ff = 4 * D;
    c->vocab_size = VOCAB;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->cond_dim = COND;
    c->time_cond = 1; /* conditioning computed per canvas, as SEDD does */
    c->mask_id = VOCAB - 1;
    char n[64];
    float s = 0.036f; /* ~ 1/sqrt(768) */
    add(b, "token_embd.weight", D, VOCAB, 1.0f, 0.0f);
    add(b, "t_embd.fc1.weight", NFREQ, COND, 0.1f, 0.0f);
    add(b, "t_embd.fc1.bias", COND, 1, 0.1f, 0.0f);
    add(b, "t_embd.fc2.weight", COND, COND, 0.1f, 0.0f);
    add(b, "t_embd.fc2.bias", COND, 1, 0.1f, 0.0f);
    for (int l = 0; l < LAYERS; l++) {
        snprintf(n, sizeof n, "blk.%d.attn_norm.weight", l), add(b, n, D, 1, 0.1f, 1.0f);
        snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", l), add(b, n, D, 3 * D, s, 0.0f);
        snprintf(n, sizeof n, "blk.%d.attn_output.weight", l), add(b, n, D, D, s, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_norm.weight", l), add(b, n, D, 1, 0.1f, 1.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l), add(b, n, D, 4 * D, s, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_up.bias", l), add(b, n, 4 * D, 1, 0.1f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", l), add(b, n, 4 * D, D, s / 2, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_down.bias", l), add(b, n, D, 1, 0.1f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.adaln.weight", l), add(b, n, COND, 6 * D, 0.05f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.adaln.bias", l), add(b, n, 6 * D, 1, 0.05f, 0.0f);
    }
    add(b, "output_norm.weight", D, 1, 0.1f, 1.0f);
    add(b, "output_adaln.weight", COND, 2 * D, 0.05f, 0.0f);
    add(b, "output_adaln.bias", 2 * D, 1, 0.05f, 0.0f);
    add(b, "output.weight", D, VOCAB, s, 0.0f);
    add(b, "output.bias", VOCAB, 1, 0.1f, 0.0f);
}

/* Mean seconds of one denoise call over reps, batch canvases of LEN tokens,
 * each querying its first nq positions; stats of the last call in *st. */
static double step_time(void *ctx, int batch, int nq, int reps, struct cpu_stats *st)
{
    static int32_t ids[LEN], query[LEN];
    for (int i = 0; i < LEN; i++) {
        ids[i] = i % 2 ? VOCAB - 1 : (int32_t)((i * 7919) % (VOCAB - 1)); /* half masked */
        query[i] = i;
    }
    struct denoise_row rows[8];
    struct denoise_pos *out = malloc(sizeof *out * (size_t)batch * LEN);
    for (int r = 0; r < batch; r++) {
        memset(&rows[r], 0, sizeof rows[r]);
        rows[r].ids = ids;
        rows[r].len = LEN;
        rows[r].attn = ATTN_FULL;
        rows[r].sigma = 0.1f + 0.3f * (float)r; /* every canvas at its own noise level */
        rows[r].query = query;
        rows[r].n_query = nq;
        rows[r].cfg_uncond = -1;
        rows[r].rp.top_p = 1.0f;
        rows[r].rp.banned[0] = VOCAB - 1;
        rows[r].rp.banned[1] = -1;
    }
    struct denoise_batch b = {rows, batch, out};
    char err[256];
    double total = 0;
    for (int k = 0; k < reps; k++) {
        cpu_reset_stats(ctx);
        double t0 = now_s();
        if (backend_cpu()->denoise(ctx, &b, err, sizeof err) != 0) {
            fprintf(stderr, "bench_dit: %s\n", err);
            exit(1);
        }
        total += now_s() - t0;
        cpu_get_stats(ctx, st);
    }
    free(out);
    return total / reps;
}

int main(int argc, char **argv)
{
    int reps = 2, reps8 = 1, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch8-reps") && i + 1 < argc)
            reps8 = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
    }
    if (reps < 1 || reps8 < 1) {
        fprintf(stderr, "usage: bench_dit [--reps N] [--batch8-reps N] [--quick]\n");
        return 2;
    }
    struct bm b;
    build(&b);
    char err[256];
    struct cpu_opts o = {0, CPU_WEIGHTS_RESIDENT, 0};
    void *ctx = cpu_load_opts(&b.m, &o, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_dit: %s\n", err);
        return 1;
    }
    printf("GPT-2-small-shaped DiT (d 768, 12 blocks x 12 heads, cond 128, V 50258, f32), canvas %d\n", LEN);
    printf("tokens/s = batch x %d tokens / (%d steps x average step); average step queries %d positions\n", LEN,
           STEPS, LEN / 2);
    printf("%-6s %-8s %12s %10s %10s %12s %12s\n", "batch", "queried", "step (s)", "sgemm %", "GFLOP/s", "steps/s",
           "tokens/s");
    struct cpu_stats st;
    step_time(ctx, 1, 64, 1, &st); /* warm-up: buffers, pages */
    int batches[2] = {1, 8};
    for (int bi = 0; bi < (quick ? 1 : 2); bi++) {
        int B = batches[bi];
        int nqs[2] = {LEN, LEN / 2};
        for (int k = B == 1 ? 0 : 1; k < 2; k++) {
            double t = step_time(ctx, B, nqs[k], B == 1 ? reps : reps8, &st);
            double tok = k == 1 ? (double)B * LEN / (STEPS * t) : 0;
            printf("%-6d %-8d %12.3f %10.1f %10.1f %12.3f ", B, nqs[k], t, 100.0 * st.sgemm_s / st.forward_s,
                   st.sgemm_flop / st.forward_s * 1e-9, 1.0 / t);
            if (k == 1)
                printf("%12.2f\n", tok);
            else
                printf("%12s\n", "(first step)");
            fflush(stdout);
        }
    }
    backend_cpu()->free(ctx);
    for (int i = 0; i < b.n; i++) {
        free(b.t[i].name);
        free((void *)b.t[i].data);
    }
    return 0;
}
