/* Key/value caches of the CPU backend on tiny random models built in memory:
 * a filling forward is the plain forward bit for bit; a windowed forward
 * after a fill on an unchanged canvas gives the uncached logits of the window
 * (within 1e-5 of the largest logit: only the sgemm shapes differ); with
 * causal attention the prefix cache stays exact after the window changes;
 * cached rows are bit-identical alone or in a batch; bad windows are
 * refused. Architectures: LLaDA, Dream (shift, GQA, biases), Llama (causal),
 * BERT and RoBERTa (learned positions, post-LN). */
#include "tests/unit/check.h"
#include "engine/cpu/cpu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_V 40
#define KV_D 32


static void build(struct rmodel *km, enum arch a, uint64_t seed)
{
    memset(km, 0, sizeof *km);
    km->rng = seed;
    struct model_config *c = &km->m.cfg;
    int bert = a == ARCH_BERT || a == ARCH_ROBERTA;
    c->arch = a;
    c->n_layers = 2;
    c->d_model = KV_D;
    c->n_heads = 4;
    c->n_kv_heads = a == ARCH_DREAM ? 2 : 4;
    c->head_dim = 8;
    c->d_ff = 48;
    c->vocab_size = KV_V;
    c->norm_eps = bert ? 1e-12f : 1e-5f;
    c->rope_theta = 10000.0f;
    c->shift_logits = a == ARCH_DREAM;
    c->causal = a == ARCH_LLAMA;
    c->pad_id = bert ? 1 : -1;
    c->bos_id = c->eos_id = c->mask_id = -1;
    int kv = c->n_kv_heads * c->head_dim;
    char n[64];
    rmodel_add(km, "token_embd.weight", KV_D, KV_V, 1.0f, 0.0f);
    if (bert) {
        rmodel_add(km, "position_embd.weight", KV_D, 64, 0.5f, 0.0f);
        rmodel_add(km, "token_types.weight", KV_D, 2, 0.5f, 0.0f);
        rmodel_add(km, "token_embd_norm.weight", KV_D, 1, 0.2f, 1.0f);
        rmodel_add(km, "token_embd_norm.bias", KV_D, 1, 0.2f, 0.0f);
    } else {
        rmodel_add(km, "output_norm.weight", KV_D, 1, 0.2f, 1.0f);
        rmodel_add(km, "output.weight", KV_D, KV_V, 0.5f, 0.0f);
    }
    for (int l = 0; l < 2; l++) {
#define T(s, cols, rows, sc, off) (snprintf(n, sizeof n, "blk.%d." s, l), rmodel_add(km, n, cols, rows, sc, off))
        T("attn_q.weight", KV_D, KV_D, 0.4f, 0.0f);
        T("attn_k.weight", KV_D, kv, 0.4f, 0.0f);
        T("attn_v.weight", KV_D, kv, 0.4f, 0.0f);
        T("attn_output.weight", KV_D, KV_D, 0.3f, 0.0f);
        if (a == ARCH_DREAM || bert) {
            T("attn_q.bias", KV_D, 1, 0.2f, 0.0f);
            T("attn_k.bias", kv, 1, 0.2f, 0.0f);
            T("attn_v.bias", kv, 1, 0.2f, 0.0f);
        }
        if (bert) {
            T("attn_output.bias", KV_D, 1, 0.2f, 0.0f);
            T("attn_output_norm.weight", KV_D, 1, 0.2f, 1.0f);
            T("attn_output_norm.bias", KV_D, 1, 0.2f, 0.0f);
            T("ffn_up.weight", KV_D, 48, 0.4f, 0.0f);
            T("ffn_up.bias", 48, 1, 0.2f, 0.0f);
            T("ffn_down.weight", 48, KV_D, 0.3f, 0.0f);
            T("ffn_down.bias", KV_D, 1, 0.2f, 0.0f);
            T("layer_output_norm.weight", KV_D, 1, 0.2f, 1.0f);
            T("layer_output_norm.bias", KV_D, 1, 0.2f, 0.0f);
        } else {
            T("attn_norm.weight", KV_D, 1, 0.2f, 1.0f);
            T("ffn_norm.weight", KV_D, 1, 0.2f, 1.0f);
            T("ffn_gate.weight", KV_D, 48, 0.4f, 0.0f);
            T("ffn_up.weight", KV_D, 48, 0.4f, 0.0f);
            T("ffn_down.weight", 48, KV_D, 0.3f, 0.0f);
        }
#undef T
    }
    if (bert) {
        rmodel_add(km, "mlm.dense.weight", KV_D, KV_D, 0.4f, 0.0f);
        rmodel_add(km, "mlm.dense.bias", KV_D, 1, 0.2f, 0.0f);
        rmodel_add(km, "mlm.norm.weight", KV_D, 1, 0.2f, 1.0f);
        rmodel_add(km, "mlm.norm.bias", KV_D, 1, 0.2f, 0.0f);
        rmodel_add(km, "output.bias", KV_V, 1, 0.2f, 0.0f);
    }
}

static void *kload(struct rmodel *km)
{
    char err[256] = "";
    struct cpu_opts o = {1, CPU_WEIGHTS_AUTO, 0};
    void *ctx = cpu_load_opts(&km->m, &o, err, sizeof err);
    if (!CHECK(ctx != NULL))
        fprintf(stderr, "    load: %s\n", err);
    return ctx;
}

static struct denoise_row krow(const int32_t *ids, int len, enum attn_kind k)
{
    struct denoise_row r;
    memset(&r, 0, sizeof r);
    r.ids = ids;
    r.len = len;
    r.attn = k;
    r.block_len = 4;
    r.cfg_uncond = -1;
    r.rp.top_p = 1.0f;
    r.rp.banned[0] = r.rp.banned[1] = -1;
    return r;
}

/* Full logits of a row (a windowed row: its window's positions; the rest stay 0). */
static float *klogits(void *ctx, const struct denoise_row *r)
{
    char err[256] = "";
    float *out = calloc((size_t)KV_V * (size_t)r->len, sizeof(float));
    if (!CHECK(backend_cpu()->logits(ctx, r, out, err, sizeof err) == 0))
        fprintf(stderr, "    logits: %s\n", err);
    return out;
}

/* max |a - b| over positions [p0, p1), relative to max |a| there. */
static double rel_diff(const float *a, const float *b, int p0, int p1)
{
    double m = 0, big = 1e-30;
    for (size_t i = (size_t)p0 * KV_V; i < (size_t)p1 * KV_V; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        big = fmax(big, fabs((double)a[i]));
    }
    return m / big;
}

#define KL 20
static const int32_t canvas0[KL] = {3, 17, 5, 39, 0, 22, 8, 11, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

static const enum arch archs[] = {ARCH_LLADA, ARCH_DREAM, ARCH_LLAMA, ARCH_BERT, ARCH_ROBERTA};
#define N_ARCHS ((int)(sizeof archs / sizeof archs[0]))

static enum attn_kind kind_of(enum arch a, int variant)
{
    if (a == ARCH_LLAMA)
        return ATTN_CAUSAL;
    return variant ? ATTN_BLOCK_CAUSAL : ATTN_FULL;
}

/* Filling is the plain forward (bit for bit); then, on the same canvas, the
 * prefix window [8 - shift, 20) and the dual window [8 - shift, 12) give the
 * uncached logits of their positions within 1e-5 relative. */
void test_cpu_cache_window_matches_uncached(void)
{
    const struct backend *be = backend_cpu();
    for (int ai = 0; ai < N_ARCHS; ai++) {
        for (int variant = 0; variant < 2; variant++) {
            struct rmodel km;
            build(&km, archs[ai], 100 + (uint64_t)ai);
            void *ctx = kload(&km);
            if (!ctx) {
                rmodel_free(&km);
                continue;
            }
            char err[256] = "";
            void *kc = be->cache_new(ctx, KL, err, sizeof err);
            CHECK(kc != NULL);
            struct denoise_row plain = krow(canvas0, KL, kind_of(archs[ai], variant));
            float *want = klogits(ctx, &plain);
            struct denoise_row fill = plain;
            fill.cache = kc;
            fill.cache_fill = 1;
            float *got = klogits(ctx, &fill);
            CHECK(memcmp(want, got, sizeof(float) * KV_V * KL) == 0);
            free(got);
            int shift = km.m.cfg.shift_logits;
            int ends[2] = {KL, 12};
            for (int w = 0; w < 2; w++) {
                struct denoise_row win = fill;
                win.cache_fill = 0;
                win.win_start = 8 - shift;
                win.win_end = ends[w];
                got = klogits(ctx, &win);
                double d = rel_diff(want, got, 8, ends[w]);
                if (!CHECK(d < 1e-5))
                    fprintf(stderr, "    %s variant %d window %d: rel diff %g\n", arch_name(archs[ai]), variant, w,
                            d);
                free(got);
            }
            free(want);
            be->cache_free(ctx, kc);
            be->free(ctx);
            rmodel_free(&km);
        }
    }
}

/* Causal attention: keys before the window never depend on the window, so
 * the prefix cache is exact even after the window's tokens change (this
 * checks the fresh keys/values land in the right slots and the mask uses
 * absolute positions). Bidirectional: the stale prefix makes a difference. */
void test_cpu_cache_prefix_exact_when_causal(void)
{
    const struct backend *be = backend_cpu();
    enum arch as[2] = {ARCH_LLAMA, ARCH_LLADA};
    for (int i = 0; i < 2; i++) {
        struct rmodel km;
        build(&km, as[i], 7 + (uint64_t)i);
        void *ctx = kload(&km);
        if (!ctx) {
            rmodel_free(&km);
            continue;
        }
        char err[256] = "";
        void *kc = be->cache_new(ctx, KL, err, sizeof err);
        struct denoise_row fill = krow(canvas0, KL, as[i] == ARCH_LLAMA ? ATTN_CAUSAL : ATTN_FULL);
        fill.cache = kc;
        fill.cache_fill = 1;
        free(klogits(ctx, &fill));
        int32_t changed[KL];
        memcpy(changed, canvas0, sizeof changed);
        changed[9] = 30;
        changed[13] = 31;
        changed[19] = 4;
        struct denoise_row plain = krow(changed, KL, fill.attn);
        float *want = klogits(ctx, &plain);
        struct denoise_row win = fill;
        win.ids = changed;
        win.cache_fill = 0;
        win.win_start = 8;
        win.win_end = KL;
        /* twice: the second step reads the keys/values the first one wrote */
        for (int rep = 0; rep < 2; rep++) {
            float *got = klogits(ctx, &win);
            double d = rel_diff(want, got, 8, KL);
            if (as[i] == ARCH_LLAMA)
                CHECK(d < 1e-5);
            else
                CHECK(d > 1e-4);
            free(got);
        }
        free(want);
        be->cache_free(ctx, kc);
        be->free(ctx);
        rmodel_free(&km);
    }
}

/* A cached row's answers are the same bits alone and among other rows
 * (uncached, filling, windowed), for each cache state. */
void test_cpu_cache_batch_invariance(void)
{
    const struct backend *be = backend_cpu();
    enum arch as[3] = {ARCH_LLADA, ARCH_DREAM, ARCH_ROBERTA};
    for (int i = 0; i < 3; i++) {
        struct rmodel km;
        build(&km, as[i], 31 + (uint64_t)i);
        void *ctx = kload(&km);
        if (!ctx) {
            rmodel_free(&km);
            continue;
        }
        char err[256] = "";
        void *k1 = be->cache_new(ctx, KL, err, sizeof err), *k2 = be->cache_new(ctx, KL, err, sizeof err);
        void *k3 = be->cache_new(ctx, 12, err, sizeof err);
        int32_t other[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        int32_t q[4] = {9, 10, 11, 12};
        int32_t qo[3] = {5, 6, 7};
        /* fill both caches of the canvas the same way */
        struct denoise_row a = krow(canvas0, KL, ATTN_FULL);
        a.cache = k1;
        a.cache_fill = 1;
        a.query = q;
        a.n_query = 4;
        a.rp.temperature = 0.8f;
        a.rp.seed = 3;
        a.rp.n_logprobs = 3;
        struct denoise_pos alone[4], batch[3 + 4 + 3];
        struct denoise_batch b1 = {&a, 1, alone};
        CHECK(be->denoise(ctx, &b1, err, sizeof err) == 0);
        struct denoise_row o = krow(other, 12, ATTN_FULL);
        o.cache = k3;
        o.cache_fill = 1;
        o.query = qo;
        o.n_query = 3;
        struct denoise_row rows[3] = {o, a, krow(other, 12, ATTN_CAUSAL)};
        rows[1].cache = k2;
        rows[2].query = qo;
        rows[2].n_query = 3;
        struct denoise_batch b3 = {rows, 3, batch};
        CHECK(be->denoise(ctx, &b3, err, sizeof err) == 0);
        CHECK(memcmp(alone, batch + 3, sizeof alone) == 0);
        /* then a windowed step of each, the others windowed too */
        a.cache_fill = 0;
        a.win_start = 8;
        a.win_end = 16;
        a.rp.step = 1;
        CHECK(be->denoise(ctx, &b1, err, sizeof err) == 0);
        rows[0].cache_fill = 0;
        rows[0].win_start = 4;
        rows[0].win_end = 12;
        rows[1] = a;
        rows[1].cache = k2;
        CHECK(be->denoise(ctx, &b3, err, sizeof err) == 0);
        if (!CHECK(memcmp(alone, batch + 3, sizeof alone) == 0))
            fprintf(stderr, "    %s: windowed step differs in a batch\n", arch_name(as[i]));
        be->cache_free(ctx, k1);
        be->cache_free(ctx, k2);
        be->cache_free(ctx, k3);
        be->free(ctx);
        rmodel_free(&km);
    }
}

/* Windows outside the canvas, queries outside the window (with Dream's
 * shift: the state before the first position), a cache of another canvas
 * length, twins with different windows: refused with a reason. */
void test_cpu_cache_bad_windows(void)
{
    const struct backend *be = backend_cpu();
    struct rmodel km;
    build(&km, ARCH_DREAM, 5);
    void *ctx = kload(&km);
    if (!ctx) {
        rmodel_free(&km);
        return;
    }
    char err[256] = "";
    CHECK(be->cache_new(ctx, 0, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    void *kc = be->cache_new(ctx, KL, err, sizeof err), *k2 = be->cache_new(ctx, KL, err, sizeof err);
    void *ks = be->cache_new(ctx, 10, err, sizeof err);
    int32_t q[2] = {8, 9};
    struct denoise_row r = krow(canvas0, KL, ATTN_FULL);
    r.cache = kc;
    r.query = q;
    r.n_query = 2;
    r.win_start = 7;
    r.win_end = 12;
    struct denoise_pos out[2];
    struct denoise_batch b = {&r, 1, out};
    CHECK(be->denoise(ctx, &b, err, sizeof err) == 0);
    r.win_start = 8; /* Dream: position 8 is predicted from 7, outside */
    err[0] = 0;
    CHECK(be->denoise(ctx, &b, err, sizeof err) != 0);
    CHECK(strstr(err, "window") != NULL);
    r.win_start = 7;
    r.win_end = 9; /* query 9 outside */
    CHECK(be->denoise(ctx, &b, err, sizeof err) != 0);
    r.win_end = KL + 1;
    CHECK(be->denoise(ctx, &b, err, sizeof err) != 0);
    r.win_start = r.win_end = 7;
    CHECK(be->denoise(ctx, &b, err, sizeof err) != 0);
    r.win_start = 7;
    r.win_end = 12;
    r.cache = ks; /* a cache of 10 positions for a canvas of 20 */
    err[0] = 0;
    CHECK(be->denoise(ctx, &b, err, sizeof err) != 0);
    CHECK(strstr(err, "cache") != NULL);
    /* a CFG twin must step on its own cache with the same window */
    struct denoise_row rows[2] = {r, r};
    rows[0].cache = kc;
    rows[0].cfg_uncond = 1;
    rows[0].cfg_scale = 1.0f;
    rows[1].cache = k2;
    rows[1].query = NULL;
    rows[1].n_query = 0;
    rows[1].win_start = 6;
    struct denoise_batch b2 = {rows, 2, out};
    CHECK(be->denoise(ctx, &b2, err, sizeof err) != 0);
    rows[1].win_start = 7;
    CHECK(be->denoise(ctx, &b2, err, sizeof err) == 0);
    be->cache_free(ctx, kc);
    be->cache_free(ctx, k2);
    be->cache_free(ctx, ks);
    be->cache_free(ctx, NULL);
    be->free(ctx);
    rmodel_free(&km);
}

/* Padded stacking (CPU_STACK_PADDED): one sgemm over every canvas, each
 * padded to the probe's pad, keeps a canvas's answers bit-identical alone
 * or batched, plain and cached, and close to the per-canvas layout. Where
 * the probe finds no such pad the backend falls back to per-canvas calls,
 * which are bit-identical too: the checks hold either way. */
void test_cpu_stack_padded_bit_identical(void)
{
    const struct backend *be = backend_cpu();
    enum arch as[3] = {ARCH_LLADA, ARCH_DREAM, ARCH_ROBERTA};
    for (int i = 0; i < 3; i++) {
        struct rmodel km;
        build(&km, as[i], 71 + (uint64_t)i);
        char err[256] = "";
        struct cpu_opts o = {1, CPU_WEIGHTS_AUTO, CPU_STACK_PADDED};
        void *ctx = cpu_load_opts(&km.m, &o, err, sizeof err);
        void *ref = kload(&km);
        if (!CHECK(ctx != NULL) || !ref) {
            if (ctx)
                be->free(ctx);
            if (ref)
                be->free(ref);
            rmodel_free(&km);
            continue;
        }
        int pad = 0;
        enum cpu_stack mode = cpu_stack_mode(ctx, &pad);
        CHECK(mode == CPU_STACK_PADDED || mode == CPU_STACK_NONE);
        CHECK(mode != CPU_STACK_PADDED || pad > 1);
        int32_t other[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        int32_t q[5] = {8, 9, 10, 11, 12}, qo[3] = {5, 6, 7};
        void *k1 = be->cache_new(ctx, KL, err, sizeof err), *k2 = be->cache_new(ctx, KL, err, sizeof err);
        struct denoise_row a = krow(canvas0, KL, ATTN_FULL);
        a.query = q;
        a.n_query = 5;
        a.rp.temperature = 0.5f;
        a.rp.seed = 11;
        struct denoise_pos alone[5], batch[3 + 5 + 3], perc[5];
        for (int step = 0; step < 3; step++) {
            /* step 0: uncached; 1: filling; 2: windowed */
            a.cache = step ? k1 : NULL;
            a.cache_fill = step == 1;
            a.win_start = 7;
            a.win_end = 14;
            struct denoise_batch b1 = {&a, 1, alone};
            CHECK(be->denoise(ctx, &b1, err, sizeof err) == 0);
            struct denoise_row rows[3] = {krow(other, 12, ATTN_FULL), a, krow(other, 9, ATTN_CAUSAL)};
            rows[0].query = qo;
            rows[0].n_query = 3;
            rows[1].cache = step ? k2 : NULL;
            rows[2].query = qo;
            rows[2].n_query = 3;
            struct denoise_batch b3 = {rows, 3, batch};
            CHECK(be->denoise(ctx, &b3, err, sizeof err) == 0);
            if (!CHECK(memcmp(alone, batch + 3, sizeof alone) == 0))
                fprintf(stderr, "    %s step %d: padded stacking not bit-identical (pad %d)\n",
                        arch_name(as[i]), step, pad);
            if (step == 0) {
                struct denoise_batch bp = {&a, 1, perc};
                CHECK(be->denoise(ref, &bp, err, sizeof err) == 0);
                for (int j = 0; j < 5; j++)
                    CHECK_NEAR(alone[j].logsumexp, perc[j].logsumexp, 1e-4);
            }
        }
        be->cache_free(ctx, k1);
        be->cache_free(ctx, k2);
        be->free(ctx);
        be->free(ref);
        rmodel_free(&km);
    }
}
