/* CPU against CUDA on the same models: full logits under every attention
 * kind, and the per-position reductions of a mixed batch (greedy, sampled,
 * top-k/top-p, CFG twin, banned ids, top-n logprobs, block-causal and causal
 * rows). Models: the paths given (tiny GGUF/HF reference models, stories260K)
 * plus a model built here with head size 128 and a canvas longer than the
 * output head's chunk, so every tile and chunk boundary is crossed.
 *
 * Tolerances (the CUDA side holds weights and matmul inputs in BF16, 8
 * significant bits, with f32 accumulation; the CPU is f32 throughout):
 *   logits:        max |cpu - gpu| <= TOL_LOGIT * max |cpu logit|
 *   logsumexp, top-1 logprob: same bound
 *   margin, and prob_raw, prob where both chose the same token: |diff| <= TOL_PROB
 *   neg_entropy:              |diff| <= TOL_PROB * (1 + |cpu|)
 *   chosen token: equal wherever the CPU's two best filtered probabilities
 *   differ by more than TOL_PROB (greedy), and for at least MIN_SAME of the
 *   sampled positions (the same Gumbel draws; only near ties may differ).
 *
 * Prints "skip" and exits 0 when built without CUDA or when no GPU is found.
 * Usage: test-cuda [model path]... */
#include "engine/cuda/cuda.h"
#include "engine/engine.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DLLM_CUDA
#define TOL_LOGIT 0.05
#define TOL_PROB 0.05
#define MIN_SAME 0.8

static int n_pass, n_fail, n_skip;

static void ok(const char *name, const char *detail)
{
    printf("ok   %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
    n_pass++;
}

static void fail(const char *name, const char *detail)
{
    printf("FAIL %s: %s\n", name, detail);
    n_fail++;
}

static int summary(void)
{
    printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}

/* ------------------------------------------------- a model built here */

#define BM_MAX 32

struct built {
    struct model m;
    struct tensor t[BM_MAX];
    int n;
    uint64_t rng;
};

static float frand(struct built *b)
{
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((b->rng >> 40) / (double)(1ull << 24)) - 0.5f;
}

static void add(struct built *b, const char *name, int64_t cols, int64_t rows, float scale, float offset)
{
    struct tensor *t = &b->t[b->n++];
    float *d = malloc(sizeof(float) * (size_t)(cols * rows));
    for (int64_t i = 0; i < cols * rows; i++)
        d[i] = offset + scale * frand(b);
    t->name = strdup(name);
    t->type = DT_F32;
    t->n_dims = rows > 1 ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->ne[2] = t->ne[3] = 1;
    t->data = d;
    t->nbytes = sizeof(float) * (size_t)(cols * rows);
    b->m.tensors = b->t;
    b->m.n_tensors = b->n;
}

/* LLaDA-shaped, one layer: d 256, 2 heads of 128, GQA off, vocab 1500. */
static void build_wide(struct built *b)
{
    memset(b, 0, sizeof *b);
    b->rng = 99;
    struct model_config *c = &b->m.cfg;
    c->arch = ARCH_LLADA;
    c->n_layers = 1;
    c->d_model = 256;
    c->n_heads = 2;
    c->n_kv_heads = 2;
    c->head_dim = 128;
    c->rope_dim = 128;
    c->d_ff = 384;
    c->vocab_size = 1500;
    c->max_seq = 2048;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->pad_id = c->bos_id = c->eos_id = c->mask_id = c->eot_id = -1;
    c->unk_id = c->cls_id = c->sep_id = -1;
    b->m.name = "wide";
    add(b, "token_embd.weight", 256, 1500, 1.0f, 0.0f);
    add(b, "output_norm.weight", 256, 1, 0.2f, 1.0f);
    add(b, "output.weight", 256, 1500, 0.5f, 0.0f);
    add(b, "blk.0.attn_norm.weight", 256, 1, 0.2f, 1.0f);
    add(b, "blk.0.attn_q.weight", 256, 256, 0.3f, 0.0f);
    add(b, "blk.0.attn_k.weight", 256, 256, 0.3f, 0.0f);
    add(b, "blk.0.attn_v.weight", 256, 256, 0.3f, 0.0f);
    add(b, "blk.0.attn_output.weight", 256, 256, 0.2f, 0.0f);
    add(b, "blk.0.ffn_norm.weight", 256, 1, 0.2f, 1.0f);
    add(b, "blk.0.ffn_gate.weight", 256, 384, 0.3f, 0.0f);
    add(b, "blk.0.ffn_up.weight", 256, 384, 0.3f, 0.0f);
    add(b, "blk.0.ffn_down.weight", 384, 256, 0.2f, 0.0f);
}

static void built_free(struct built *b)
{
    for (int i = 0; i < b->n; i++) {
        free(b->t[i].name);
        free((void *)b->t[i].data);
    }
}

/* ---------------------------------------------------------- comparing */

struct pair {
    const struct model *m;
    void *cpu, *gpu;
    const char *name;
    int V;
};

/* The noise level of the rows (MDLM/SEDD; others ignore it): each row r of
 * a batch gets g_sigma + 0.25 r, so canvases at different levels share one. */
static float g_sigma;

static int32_t *make_ids(int len, int V, uint64_t seed)
{
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)len);
    for (int i = 0; i < len; i++)
        ids[i] = (int32_t)(rng_hash(seed, 0, 0, (uint64_t)i) % (uint64_t)V);
    return ids;
}

static void check_logits(struct pair *p, const int32_t *ids, int len, enum attn_kind kind, int block_len)
{
    static const char *const kinds[] = {"full", "causal", "block-causal"};
    char name[256], detail[256], err[256] = "";
    snprintf(name, sizeof name, "%s: logits, %s attention, %d tokens", p->name, kinds[kind], len);
    struct denoise_row r;
    memset(&r, 0, sizeof r);
    r.ids = ids;
    r.len = len;
    r.attn = kind;
    r.block_len = block_len;
    r.sigma = g_sigma;
    r.cfg_uncond = -1;
    size_t n = (size_t)len * (size_t)p->V;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    if (backend_cpu()->logits(p->cpu, &r, a, err, sizeof err) != 0 ||
        backend_cuda()->logits(p->gpu, &r, b, err, sizeof err) != 0) {
        fail(name, err);
    } else {
        double scale = 0, diff = 0;
        for (size_t i = 0; i < n; i++) {
            if (fabs(a[i]) > scale)
                scale = fabs(a[i]);
            if (!(fabs((double)a[i] - b[i]) <= diff)) /* NaN counts as a failure */
                diff = isnan(b[i]) ? INFINITY : fabs((double)a[i] - b[i]);
        }
        snprintf(detail, sizeof detail, "max diff %.3g of logit scale %.3g (%.2g relative)", diff, scale,
                 diff / (scale > 0 ? scale : 1));
        if (diff <= TOL_LOGIT * (scale > 0 ? scale : 1))
            ok(name, detail);
        else
            fail(name, detail);
    }
    free(a);
    free(b);
}

static int32_t *all_positions(int len)
{
    int32_t *q = malloc(sizeof(int32_t) * (size_t)len);
    for (int i = 0; i < len; i++)
        q[i] = i;
    return q;
}

/* A mixed batch through denoise on both backends. */
static void check_denoise(struct pair *p, int len)
{
    char name[256], detail[512], err[256] = "";
    snprintf(name, sizeof name, "%s: denoise, 5 rows of %d tokens", p->name, len);
    int V = p->V;
    int32_t *ids[5];
    for (int r = 0; r < 5; r++)
        ids[r] = make_ids(len, V, 100 + (uint64_t)r);
    int32_t *every = all_positions(len);
    int n_even = (len + 1) / 2;
    int32_t *even = malloc(sizeof(int32_t) * (size_t)n_even);
    for (int i = 0; i < n_even; i++)
        even[i] = 2 * i;

    struct denoise_row rows[5];
    memset(rows, 0, sizeof rows);
    for (int r = 0; r < 5; r++) {
        rows[r].ids = ids[r];
        rows[r].len = len;
        rows[r].attn = ATTN_FULL;
        rows[r].sigma = g_sigma + 0.25f * (float)r;
        rows[r].cfg_uncond = -1;
        rows[r].rp.top_p = 1.0f;
        rows[r].rp.banned[0] = rows[r].rp.banned[1] = -1;
        rows[r].rp.seed = 1000 + (uint64_t)r;
        rows[r].rp.step = 3;
    }
    /* 0: greedy, every other position, 5 logprobs, one banned id */
    rows[0].query = even;
    rows[0].n_query = n_even;
    rows[0].rp.n_logprobs = 5;
    rows[0].rp.banned[0] = ids[0][0];
    /* 1: the unconditional twin of row 2, not queried itself */
    /* 2: CFG 1.5, sampled at T 0.8 with top-k 10 and top-p 0.9 */
    rows[2].query = every;
    rows[2].n_query = len;
    rows[2].cfg_uncond = 1;
    rows[2].cfg_scale = 1.5f;
    rows[2].rp.temperature = 0.8f;
    rows[2].rp.top_k = 10;
    rows[2].rp.top_p = 0.9f;
    rows[2].rp.n_logprobs = 3;
    /* 3: block-causal, sampled at T 1 with top-p 0.95 */
    rows[3].attn = ATTN_BLOCK_CAUSAL;
    rows[3].block_len = 4;
    rows[3].query = every;
    rows[3].n_query = len;
    rows[3].rp.temperature = 1.0f;
    rows[3].rp.top_p = 0.95f;
    /* 4: causal, greedy, two banned ids, 20 logprobs */
    rows[4].attn = ATTN_CAUSAL;
    rows[4].query = every;
    rows[4].n_query = len;
    rows[4].rp.banned[0] = 0;
    rows[4].rp.banned[1] = 1;
    rows[4].rp.n_logprobs = REDUCE_MAX_TOP;

    int n_out = n_even + 3 * len;
    struct denoise_pos *a = calloc((size_t)n_out, sizeof *a), *b = calloc((size_t)n_out, sizeof *b);
    struct denoise_batch ba = {rows, 5, a}, bb = {rows, 5, b};
    if (backend_cpu()->denoise(p->cpu, &ba, err, sizeof err) != 0 ||
        backend_cuda()->denoise(p->gpu, &bb, err, sizeof err) != 0) {
        fail(name, err);
        goto out;
    }
    {
        double scale = 0;
        for (int i = 0; i < n_out; i++)
            if (fabs(a[i].logsumexp) > scale)
                scale = fabs(a[i].logsumexp);
        double d_lse = 0, d_prob = 0, d_ent = 0;
        int greedy_bad = 0, sampled = 0, sampled_same = 0, top_bad = 0, k = 0;
        for (int r = 0; r < 5; r++) {
            for (int i = 0; i < rows[r].n_query; i++, k++) {
                const struct denoise_pos *x = &a[k], *y = &b[k];
                double dl = fabs((double)x->logsumexp - y->logsumexp);
                /* probabilities of the chosen token: only where both chose the same */
                double dp = fabs((double)x->margin - y->margin);
                if (x->token == y->token)
                    dp = fmax(dp, fmax(fabs((double)x->prob_raw - y->prob_raw), fabs((double)x->prob - y->prob)));
                double de = fabs((double)x->neg_entropy - y->neg_entropy) / (1 + fabs(x->neg_entropy));
                if (!(dl <= d_lse))
                    d_lse = isnan(dl) ? INFINITY : dl;
                if (!(dp <= d_prob))
                    d_prob = isnan(dp) ? INFINITY : dp;
                if (!(de <= d_ent))
                    d_ent = isnan(de) ? INFINITY : de;
                if (rows[r].rp.temperature > 0) {
                    sampled++;
                    sampled_same += x->token == y->token;
                } else if (x->margin > TOL_PROB && x->token != y->token) {
                    greedy_bad++;
                }
                if (x->n_top != y->n_top)
                    top_bad++;
                else if (x->n_top > 0 && fabs((double)x->top_logprobs[0] - y->top_logprobs[0]) >
                                             TOL_LOGIT * (scale > 0 ? scale : 1))
                    top_bad++;
            }
        }
        double same = sampled ? (double)sampled_same / sampled : 1.0;
        snprintf(detail, sizeof detail,
                 "logsumexp diff %.3g (scale %.3g), prob/margin diff %.3g, entropy diff %.3g, greedy mismatches %d, "
                 "sampled same %.0f%%, top-n mismatches %d",
                 d_lse, scale, d_prob, d_ent, greedy_bad, 100 * same, top_bad);
        if (d_lse <= TOL_LOGIT * (scale > 0 ? scale : 1) && d_prob <= TOL_PROB && d_ent <= TOL_PROB &&
            greedy_bad == 0 && same >= MIN_SAME && top_bad == 0)
            ok(name, detail);
        else
            fail(name, detail);
    }
out:
    free(a);
    free(b);
    free(every);
    free(even);
    for (int r = 0; r < 5; r++)
        free(ids[r]);
}

/* The same row alone and inside a batch: results within BF16 noise (cuBLAS
 * may pick another kernel for another batch shape, so not bit-equal). */
static void check_batch_mix(struct pair *p, int len)
{
    char name[256], detail[256], err[256] = "";
    snprintf(name, sizeof name, "%s: a row alone and in a batch", p->name);
    int32_t *x = make_ids(len, p->V, 7), *y = make_ids(len + 5, p->V, 8);
    int32_t *q = all_positions(len);
    struct denoise_row rows[2];
    memset(rows, 0, sizeof rows);
    rows[0].ids = y;
    rows[0].len = len + 5;
    rows[1].ids = x;
    rows[1].len = len;
    rows[1].query = q;
    rows[1].n_query = len;
    for (int r = 0; r < 2; r++) {
        rows[r].sigma = g_sigma + 0.25f * (float)r;
        rows[r].cfg_uncond = -1;
        rows[r].rp.top_p = 1.0f;
        rows[r].rp.banned[0] = rows[r].rp.banned[1] = -1;
    }
    struct denoise_pos *a = calloc((size_t)len, sizeof *a), *b = calloc((size_t)len, sizeof *b);
    struct denoise_batch alone = {&rows[1], 1, a}, both = {rows, 2, b};
    if (backend_cuda()->denoise(p->gpu, &alone, err, sizeof err) != 0 ||
        backend_cuda()->denoise(p->gpu, &both, err, sizeof err) != 0) {
        fail(name, err);
    } else {
        double d = 0;
        int tok_bad = 0;
        for (int i = 0; i < len; i++) {
            double dl = fabs((double)a[i].logsumexp - b[i].logsumexp);
            if (!(dl <= d))
                d = isnan(dl) ? INFINITY : dl;
            tok_bad += a[i].margin > TOL_PROB && a[i].token != b[i].token;
        }
        snprintf(detail, sizeof detail, "logsumexp diff %.3g, token mismatches %d", d, tok_bad);
        if (d <= 1e-2 * (1 + fabs(a[0].logsumexp)) && tok_bad == 0)
            ok(name, detail);
        else
            fail(name, detail);
    }
    free(a);
    free(b);
    free(q);
    free(x);
    free(y);
}

/* The forward run directly, captured as a graph, and replayed: the same
 * bits each time. */
static void check_graphs(struct pair *p, int len)
{
    char name[256], err[256] = "";
    snprintf(name, sizeof name, "%s: graph capture and replay equal the direct forward", p->name);
    int32_t *x = make_ids(len, p->V, 21), *y = make_ids(len - 1, p->V, 22);
    int32_t *q = all_positions(len - 1);
    struct denoise_row rows[2];
    memset(rows, 0, sizeof rows);
    rows[0].ids = x;
    rows[0].len = len;
    rows[1].ids = y;
    rows[1].len = len - 1;
    rows[1].query = q;
    rows[1].n_query = len - 1;
    for (int r = 0; r < 2; r++) {
        rows[r].sigma = g_sigma + 0.25f * (float)r;
        rows[r].cfg_uncond = -1;
        rows[r].rp.top_p = 1.0f;
        rows[r].rp.temperature = 0.9f;
        rows[r].rp.seed = 5;
        rows[r].rp.banned[0] = rows[r].rp.banned[1] = -1;
    }
    size_t n = (size_t)(len - 1);
    struct denoise_pos *out[3];
    int rc = 0;
    for (int k = 0; k < 3; k++) {
        out[k] = calloc(n, sizeof(struct denoise_pos));
        cuda_set_graphs(p->gpu, k > 0);
        struct denoise_batch b = {rows, 2, out[k]};
        if (rc == 0)
            rc = backend_cuda()->denoise(p->gpu, &b, err, sizeof err);
    }
    if (rc != 0)
        fail(name, err);
    else if (memcmp(out[0], out[1], n * sizeof(struct denoise_pos)) != 0 ||
             memcmp(out[0], out[2], n * sizeof(struct denoise_pos)) != 0)
        fail(name, "outputs differ");
    else
        ok(name, NULL);
    for (int k = 0; k < 3; k++)
        free(out[k]);
    free(q);
    free(x);
    free(y);
}

static void run_pair(const struct model *m, const char *name, int len)
{
    char err[512] = "";
    struct pair p = {m, NULL, NULL, name, m->cfg.vocab_size};
    p.cpu = backend_cpu()->load(m, 1, err, sizeof err);
    if (!p.cpu) {
        fail(name, err);
        return;
    }
    p.gpu = backend_cuda()->load(m, 1, err, sizeof err);
    if (!p.gpu) {
        fail(name, err);
        backend_cpu()->free(p.cpu);
        return;
    }
    struct cuda_meminfo mi;
    cuda_get_meminfo(p.gpu, &mi);
    printf("     %s on %s: weights %.2f MiB, workspace %.1f MiB\n", name, mi.device, mi.weights_bytes / 1048576.0,
           mi.workspace_bytes / 1048576.0);
    /* SEDD's scores are +inf at sigma 0: test away from it */
    g_sigma = m->cfg.arch == ARCH_MDLM || m->cfg.arch == ARCH_SEDD ? 0.5f : 0.0f;
    int32_t *ids = make_ids(len, p.V, 1);
    check_logits(&p, ids, len, ATTN_FULL, 0);
    check_logits(&p, ids, len, ATTN_CAUSAL, 0);
    check_logits(&p, ids, len, ATTN_BLOCK_CAUSAL, 5);
    check_denoise(&p, len);
    check_batch_mix(&p, len < 30 ? len : 30);
    check_graphs(&p, len < 30 ? len : 30);
    free(ids);
    backend_cuda()->free(p.gpu);
    backend_cpu()->free(p.cpu);
}

/* A model's longest usable canvas for these tests (BERT: learned positions;
 * RoBERTa counts from padding_idx + 1). */
static int usable_len(const struct model *m, int want)
{
    if (m->cfg.arch == ARCH_BERT || m->cfg.arch == ARCH_ROBERTA) {
        const struct tensor *pe = model_tensor(m, "position_embd.weight");
        int n = pe ? (int)pe->ne[1] - 3 : 8;
        if (n < want)
            return n;
    }
    return want;
}

int main(int argc, char **argv)
{
    if (cuda_device_count() == 0) {
        printf("skip cuda: no CUDA device\n");
        n_skip++;
        return summary();
    }
    struct built w;
    build_wide(&w);
    run_pair(&w.m, "wide (head 128, 1100 tokens)", 1100);
    built_free(&w);
    for (int i = 1; i < argc; i++) {
        char err[512] = "";
        struct model *m = NULL;
        if (model_open(argv[i], &m, err, sizeof err) != 0) {
            fail(argv[i], err);
            continue;
        }
        run_pair(m, argv[i], usable_len(m, 37));
        model_free(m);
    }
    return summary();
}
#else
int main(void)
{
    printf("skip cuda: built without CUDA=1\n0 passed, 0 failed, 1 skipped\n");
    return 0;
}
#endif
