/* bin/bench_cuda: the CUDA backend on an LLaDA-8B-shaped model with random
 * BF16 weights (32 layers, d 4096, 32 heads, MLP 12288, vocab 126464).
 *
 * 1. cuBLAS peak: an 8192^3 BF16 x BF16 -> f32 product (f32 compute), the
 *    figure the step's efficiency is measured against;
 * 2. per canvas length 256 and 1024 and batch 1, 8, 32: time of one denoise
 *    step (wall, and GPU time between events), TFLOP/s of the step (matmuls,
 *    attention and the output head at the queried positions) and its share of
 *    the measured peak; and generated tokens/s for LLaDA's fixed schedule with
 *    steps = gen_length (one token per canvas per step), which is
 *    batch / step time. Half of each canvas is queried (the mean masked share
 *    over a generation).
 * Threshold decoding's tokens/s is that step rate times its tokens per step,
 * which depends on a trained model's confidences; random weights cannot
 * give it. So
 * 3. with the trained model given as the argument (the bench runner passes
 *    models/dllm-kjv.gguf), 8 requests through the scheduler on the CUDA
 *    backend, fixed LLaDA schedule against Fast-dLLM threshold 0.9: wall
 *    time, forwards, committed tokens per second and per forward.
 *
 * DLLM_BENCH_LAYERS=n shrinks the 8B-shaped model for a quick look. Built
 * in every build; without CUDA=1 or without a GPU it says so and exits 0. */
#include "engine/engine.h"
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef DLLM_CUDA
#define L_LAYERS 32
#define L_D 4096
#define L_HEADS 32
#define L_FF 12288
#define L_VOCAB 126464
#define MAX_TENSORS (3 + 9 * L_LAYERS)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct bench_model {
    struct model m;
    struct tensor t[MAX_TENSORS];
    char names[MAX_TENSORS][48];
    uint16_t *pool; /* every tensor reads from this one random buffer */
};

static void add(struct bench_model *b, const char *name, int64_t cols, int64_t rows)
{
    struct tensor *t = &b->t[b->m.n_tensors];
    snprintf(b->names[b->m.n_tensors], sizeof b->names[0], "%s", name);
    t->name = b->names[b->m.n_tensors];
    t->type = DT_BF16;
    t->n_dims = rows > 1 ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->ne[2] = t->ne[3] = 1;
    t->data = b->pool;
    t->nbytes = (size_t)cols * (size_t)rows * 2;
    b->m.n_tensors++;
}

static int build(struct bench_model *b, int layers)
{
    memset(b, 0, sizeof *b);
    size_t n = (size_t)L_VOCAB * L_D;
    b->pool = malloc(n * 2);
    if (!b->pool)
        return -1;
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)((s >> 40) / (double)(1ull << 24)) - 0.5f;
        b->pool[i] = dllm_f32_to_bf16(0.04f * u);
    }
    struct model_config *c = &b->m.cfg;
    c->arch = ARCH_LLADA;
    c->n_layers = layers;
    c->d_model = L_D;
    c->n_heads = L_HEADS;
    c->n_kv_heads = L_HEADS;
    c->head_dim = L_D / L_HEADS;
    c->rope_dim = c->head_dim;
    c->d_ff = L_FF;
    c->vocab_size = L_VOCAB;
    c->max_seq = 4096;
    c->norm_eps = 1e-5f;
    c->rope_theta = 500000.0f;
    c->pad_id = c->bos_id = c->eos_id = c->eot_id = c->unk_id = c->cls_id = c->sep_id = -1;
    c->mask_id = 126336;
    b->m.name = "llada-8b-shaped (random BF16)";
    b->m.tensors = b->t;
    add(b, "token_embd.weight", L_D, L_VOCAB);
    add(b, "output.weight", L_D, L_VOCAB);
    add(b, "output_norm.weight", L_D, 1);
    char name[48];
    for (int l = 0; l < layers; l++) {
#define T(s, cols, rows) (snprintf(name, sizeof name, "blk.%d." s, l), add(b, name, cols, rows))
        T("attn_norm.weight", L_D, 1);
        T("attn_q.weight", L_D, L_D);
        T("attn_k.weight", L_D, L_D);
        T("attn_v.weight", L_D, L_D);
        T("attn_output.weight", L_D, L_D);
        T("ffn_norm.weight", L_D, 1);
        T("ffn_gate.weight", L_D, L_FF);
        T("ffn_up.weight", L_D, L_FF);
        T("ffn_down.weight", L_FF, L_D);
#undef T
    }
    return 0;
}

/* Floating-point work of one step: 2 flops per multiply-add. */
static double step_flops(int layers, int batch, int len, int n_query)
{
    double tokens = (double)batch * len;
    double per_layer = 2.0 * tokens * ((double)L_D * 3 * L_D + (double)L_D * L_D + 3.0 * L_D * L_FF);
    double attn = 4.0 * batch * (double)len * len * L_D; /* q k^T and p v */
    double head = 2.0 * batch * (double)n_query * L_D * L_VOCAB;
    return layers * (per_layer + attn) + head;
}

static const char *const prompts[] = {
    "In the beginning", "And the LORD said unto Moses,", "The LORD is my shepherd;", "Blessed are the",
    "And it came to pass,", "For God so loved the world,", "Hear, O Israel:", "And God said,",
};

static void count_done(void *cb_user, const struct sched_event *ev)
{
    int *done = cb_user;
    if (ev->kind != SCHED_EV_DONE)
        return;
    done[0]++;
    if (ev->finish == FINISH_ERROR)
        done[1]++;
}

/* n requests at once through the scheduler; 0 when all finished cleanly. */
static int sched_run(struct model *m, void *ctx, int n, struct gen_params p, double *secs, struct sched_stats *st)
{
    char err[256];
    int done[2] = {0, 0};
    struct sched_limits lim = {n, n, 1 << 20, 0};
    struct sched *s = sched_new(m, backend_cuda(), ctx, &lim, count_done, done);
    if (!s)
        return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *pr = prompts[i % (int)(sizeof prompts / sizeof prompts[0])];
        int32_t *ids = NULL;
        int n_ids = 0;
        rc = tok_encode(m->tok, pr, strlen(pr), m->cfg.add_bos, &ids, &n_ids, err, sizeof err);
        if (rc == 0) {
            struct canvas_seg segs[2] = {{ids, n_ids}, {NULL, p.gen_length}};
            struct gen_request r = {segs, 2, p, NULL, 0, 0, NULL};
            r.params.seed = (uint64_t)i;
            rc = sched_submit(s, &r, NULL, err, sizeof err);
        }
        free(ids);
    }
    double t0 = now_s();
    while (rc == 0 && done[0] < n)
        sched_step(s);
    *secs = now_s() - t0;
    sched_get_stats(s, st);
    sched_free(s);
    if (rc != 0)
        printf("bench_cuda: scheduler: %s\n", err);
    return rc != 0 || done[1] != 0 ? -1 : 0;
}

static void bench_sched_model(const char *path)
{
    char err[512] = "";
    struct model *m = NULL;
    if (model_open(path, &m, err, sizeof err) != 0) {
        printf("\nscheduler on a trained model: %s; skipped\n", err);
        return;
    }
    void *ctx = backend_cuda()->load(m, 1, err, sizeof err);
    if (!ctx) {
        printf("\nscheduler on a trained model: %s; skipped\n", err);
        model_free(m);
        return;
    }
    struct gen_params fixed = {.gen_length = 64, .steps = 64, .block_length = 32};
    struct gen_params thr = fixed;
    thr.threshold = 0.9f;
    printf("\nscheduler, %s, 8 requests, gen 64, block 32, CUDA backend\n", path);
    printf("%-22s %8s %9s %10s %12s %18s\n", "schedule", "seconds", "forwards", "committed", "committed/s",
           "tokens/forward");
    const struct gen_params *modes[2] = {&fixed, &thr};
    const char *names[2] = {"fixed (steps = gen)", "threshold 0.9"};
    for (int k = 0; k < 2; k++) {
        double secs = 0;
        struct sched_stats st;
        memset(&st, 0, sizeof st);
        if (sched_run(m, ctx, 8, *modes[k], &secs, &st) != 0) {
            printf("%-22s failed\n", names[k]);
            continue;
        }
        printf("%-22s %8.2f %9llu %10llu %12.0f %18.2f\n", names[k], secs, (unsigned long long)st.forwards,
               (unsigned long long)st.tokens_committed, st.tokens_committed / secs,
               st.forwards ? (double)st.tokens_committed / st.forwards : 0.0);
    }
    backend_cuda()->free(ctx);
    model_free(m);
}

int main(int argc, char **argv)
{
    if (cuda_device_count() == 0) {
        printf("bench_cuda: no CUDA device, skipped\n");
        return 0;
    }
    char err[512] = "";
    double peak = 0;
    if (cuda_gemm_peak(8192, 20, &peak, err, sizeof err) != 0) {
        printf("bench_cuda: peak: %s\n", err);
        return 1;
    }
    printf("cuBLAS BF16 8192^3 (f32 compute): %.0f TFLOP/s\n", peak);

    int layers = L_LAYERS;
    const char *env = getenv("DLLM_BENCH_LAYERS");
    if (env && atoi(env) > 0 && atoi(env) <= L_LAYERS)
        layers = atoi(env);
    static struct bench_model b;
    if (build(&b, layers) != 0) {
        printf("bench_cuda: out of host memory\n");
        return 1;
    }
    double t0 = now_s();
    void *ctx = backend_cuda()->load(&b.m, 1, err, sizeof err);
    if (!ctx) {
        printf("bench_cuda: load: %s\n", err);
        return 1;
    }
    printf("model: %s, %d layers, loaded in %.1f s\n", b.m.name, layers, now_s() - t0);

    static const int lens[] = {256, 1024}, batches[] = {1, 8, 32};
    printf("%6s %5s %10s %10s %9s %8s %12s\n", "canvas", "batch", "step ms", "gpu ms", "TFLOP/s", "of peak",
           "fixed tok/s");
    for (int li = 0; li < 2; li++) {
        for (int bi = 0; bi < 3; bi++) {
            int len = lens[li], B = batches[bi], nq = len / 2;
            int32_t *ids = malloc(sizeof(int32_t) * (size_t)len * B);
            int32_t *query = malloc(sizeof(int32_t) * (size_t)nq);
            struct denoise_row *rows = calloc((size_t)B, sizeof *rows);
            struct denoise_pos *out = calloc((size_t)B * nq, sizeof *out);
            for (int i = 0; i < len * B; i++)
                ids[i] = (i % len) < len / 2 ? (int32_t)(rng_hash(1, 0, 0, (uint64_t)i) % 126000) : 126336;
            for (int i = 0; i < nq; i++)
                query[i] = len / 2 + i;
            for (int r = 0; r < B; r++) {
                rows[r].ids = ids + (size_t)r * len;
                rows[r].len = len;
                rows[r].attn = ATTN_FULL;
                rows[r].query = query;
                rows[r].n_query = nq;
                rows[r].cfg_uncond = -1;
                rows[r].rp.top_p = 1.0f;
                rows[r].rp.banned[0] = rows[r].rp.banned[1] = -1;
            }
            struct denoise_batch batch = {rows, B, out};
            int reps = 3;
            double wall = 0, gpu = 0;
            int rc = backend_cuda()->denoise(ctx, &batch, err, sizeof err); /* warm-up, workspace growth */
            for (int k = 0; k < reps && rc == 0; k++) {
                double s = now_s();
                rc = backend_cuda()->denoise(ctx, &batch, err, sizeof err);
                wall += now_s() - s;
                gpu += cuda_last_step_seconds(ctx);
            }
            if (rc != 0) {
                printf("%6d %5d  %s\n", len, B, err);
            } else {
                wall /= reps;
                gpu /= reps;
                double tf = step_flops(layers, B, len, nq) / gpu / 1e12;
                printf("%6d %5d %10.2f %10.2f %9.0f %7.0f%% %12.0f\n", len, B, 1e3 * wall, 1e3 * gpu, tf,
                       100 * tf / peak, B / wall);
            }
            free(ids);
            free(query);
            free(rows);
            free(out);
        }
    }
    backend_cuda()->free(ctx);
    free(b.pool);
    bench_sched_model(argc > 1 ? argv[1] : "models/dllm-kjv.gguf");
    return 0;
}
#else
int main(void)
{
    printf("bench_cuda: built without CUDA=1, skipped\n");
    return 0;
}
#endif
