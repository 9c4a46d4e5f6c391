/* The CPU forward on tiny random models built in memory: batch invariance
 * (bit-identical alone or in a batch), attention masks, the two RoPE
 * layouts, Dream's shift, stacked vs per-canvas GEMMs, streamed vs resident
 * weights, BF16 products. Numbers against an independent implementation are the job of
 * tests/suite_ref.sh. */
#include "tests/unit/check.h"
#include "engine/cpu/cpu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void build_llama(struct rmodel *tm, enum arch a, uint64_t seed)
{
    memset(tm, 0, sizeof *tm);
    tm->rng = seed;
    struct model_config *c = &tm->m.cfg;
    c->arch = a;
    c->n_layers = 2;
    c->d_model = 32;
    c->n_heads = 4;
    c->n_kv_heads = a == ARCH_LLADA ? 4 : 2;
    c->head_dim = 8;
    c->d_ff = 48;
    c->vocab_size = 40;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->shift_logits = a == ARCH_DREAM;
    c->pad_id = c->bos_id = c->eos_id = c->mask_id = -1;
    int kv = c->n_kv_heads * c->head_dim;
    rmodel_add(tm, "token_embd.weight", 32, 40, 1.0f, 0.0f);
    rmodel_add(tm, "output_norm.weight", 32, 1, 0.2f, 1.0f);
    if (a != ARCH_LLAMA)
        rmodel_add(tm, "output.weight", 32, 40, 0.5f, 0.0f);
    char n[64];
    for (int l = 0; l < 2; l++) {
#define T(s, cols, rows, sc, off) (snprintf(n, sizeof n, "blk.%d." s, l), rmodel_add(tm, n, cols, rows, sc, off))
        T("attn_norm.weight", 32, 1, 0.2f, 1.0f);
        T("attn_q.weight", 32, 32, 0.4f, 0.0f);
        T("attn_k.weight", 32, kv, 0.4f, 0.0f);
        T("attn_v.weight", 32, kv, 0.4f, 0.0f);
        T("attn_output.weight", 32, 32, 0.3f, 0.0f);
        if (a == ARCH_DREAM) {
            T("attn_q.bias", 32, 1, 0.2f, 0.0f);
            T("attn_k.bias", kv, 1, 0.2f, 0.0f);
            T("attn_v.bias", kv, 1, 0.2f, 0.0f);
        }
        T("ffn_norm.weight", 32, 1, 0.2f, 1.0f);
        T("ffn_gate.weight", 32, 48, 0.4f, 0.0f);
        T("ffn_up.weight", 32, 48, 0.4f, 0.0f);
        T("ffn_down.weight", 48, 32, 0.3f, 0.0f);
#undef T
    }
}

static void build_bert(struct rmodel *tm, enum arch a, uint64_t seed)
{
    memset(tm, 0, sizeof *tm);
    tm->rng = seed;
    struct model_config *c = &tm->m.cfg;
    c->arch = a;
    c->n_layers = 2;
    c->d_model = 32;
    c->n_heads = 4;
    c->n_kv_heads = 4;
    c->head_dim = 8;
    c->d_ff = 64;
    c->vocab_size = 40;
    c->norm_eps = 1e-12f;
    c->pad_id = 1;
    c->bos_id = c->eos_id = c->mask_id = -1;
    rmodel_add(tm, "token_embd.weight", 32, 40, 1.0f, 0.0f);
    rmodel_add(tm, "position_embd.weight", 32, 40, 0.5f, 0.0f);
    rmodel_add(tm, "token_types.weight", 32, 2, 0.5f, 0.0f);
    rmodel_add(tm, "token_embd_norm.weight", 32, 1, 0.2f, 1.0f);
    rmodel_add(tm, "token_embd_norm.bias", 32, 1, 0.2f, 0.0f);
    char n[64];
    for (int l = 0; l < 2; l++) {
#define T(s, cols, rows, sc, off) (snprintf(n, sizeof n, "blk.%d." s, l), rmodel_add(tm, n, cols, rows, sc, off))
        T("attn_q.weight", 32, 32, 0.4f, 0.0f);
        T("attn_q.bias", 32, 1, 0.2f, 0.0f);
        T("attn_k.weight", 32, 32, 0.4f, 0.0f);
        T("attn_k.bias", 32, 1, 0.2f, 0.0f);
        T("attn_v.weight", 32, 32, 0.4f, 0.0f);
        T("attn_v.bias", 32, 1, 0.2f, 0.0f);
        T("attn_output.weight", 32, 32, 0.3f, 0.0f);
        T("attn_output.bias", 32, 1, 0.2f, 0.0f);
        T("attn_output_norm.weight", 32, 1, 0.2f, 1.0f);
        T("attn_output_norm.bias", 32, 1, 0.2f, 0.0f);
        T("ffn_up.weight", 32, 64, 0.4f, 0.0f);
        T("ffn_up.bias", 64, 1, 0.2f, 0.0f);
        T("ffn_down.weight", 64, 32, 0.3f, 0.0f);
        T("ffn_down.bias", 32, 1, 0.2f, 0.0f);
        T("layer_output_norm.weight", 32, 1, 0.2f, 1.0f);
        T("layer_output_norm.bias", 32, 1, 0.2f, 0.0f);
#undef T
    }
    rmodel_add(tm, "mlm.dense.weight", 32, 32, 0.4f, 0.0f);
    rmodel_add(tm, "mlm.dense.bias", 32, 1, 0.2f, 0.0f);
    rmodel_add(tm, "mlm.norm.weight", 32, 1, 0.2f, 1.0f);
    rmodel_add(tm, "mlm.norm.bias", 32, 1, 0.2f, 0.0f);
    rmodel_add(tm, "output.bias", 40, 1, 0.2f, 0.0f);
}

static void *load(struct rmodel *tm, enum cpu_weights_mode w, int stack)
{
    char err[256] = "";
    struct cpu_opts o = {1, w, stack};
    void *ctx = cpu_load_opts(&tm->m, &o, err, sizeof err);
    if (!CHECK(ctx != NULL))
        fprintf(stderr, "    load: %s\n", err);
    return ctx;
}

static struct denoise_row row_of(const int32_t *ids, int len, enum attn_kind k)
{
    struct denoise_row r;
    memset(&r, 0, sizeof r);
    r.ids = ids;
    r.len = len;
    r.attn = k;
    r.block_len = 3;
    r.cfg_uncond = -1;
    r.rp.top_p = 1.0f;
    r.rp.banned[0] = r.rp.banned[1] = -1;
    return r;
}

/* Full logits of one row through the backend table. */
static float *logits_of(void *ctx, const struct denoise_row *r)
{
    char err[256] = "";
    float *out = malloc(sizeof(float) * 40 * (size_t)r->len);
    if (!CHECK(backend_cpu()->logits(ctx, r, out, err, sizeof err) == 0))
        fprintf(stderr, "    logits: %s\n", err);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > m)
            m = fabs((double)a[i] - b[i]);
    return m;
}

static const int32_t ids_a[] = {3, 17, 5, 39, 0, 22, 8};
static const int32_t ids_b[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const int32_t ids_c[] = {30, 31, 32, 33, 34};

static void check_invariance(struct rmodel *tm, enum cpu_weights_mode w)
{
    void *ctx = load(tm, w, 0);
    if (!ctx)
        return;
    const struct backend *be = backend_cpu();
    char err[256] = "";
    int32_t qa[7] = {0, 1, 2, 3, 4, 5, 6};
    struct denoise_row a = row_of(ids_a, 7, ATTN_FULL);
    a.query = qa;
    a.n_query = 7;
    a.rp.temperature = 0.7f;
    a.rp.top_k = 10;
    a.rp.n_logprobs = 4;
    a.rp.seed = 99;
    struct denoise_pos alone[7], inbatch[7 + 12 + 5];
    struct denoise_batch b1 = {&a, 1, alone};
    CHECK(be->denoise(ctx, &b1, err, sizeof err) == 0);

    int32_t qb[12], qc[5];
    for (int i = 0; i < 12; i++)
        qb[i] = i;
    for (int i = 0; i < 5; i++)
        qc[i] = i;
    struct denoise_row rows[3];
    rows[0] = row_of(ids_b, 12, ATTN_CAUSAL);
    rows[0].query = qb;
    rows[0].n_query = 12;
    rows[1] = a;
    rows[2] = row_of(ids_c, 5, ATTN_BLOCK_CAUSAL);
    rows[2].query = qc;
    rows[2].n_query = 5;
    struct denoise_batch b3 = {rows, 3, inbatch};
    CHECK(be->denoise(ctx, &b3, err, sizeof err) == 0);
    CHECK(memcmp(alone, inbatch + 12, sizeof alone) == 0);
    for (int i = 0; i < 7; i++)
        CHECK(alone[i].token >= 0 && alone[i].token < 40);

    /* the backend's logits of the same row agree with its reduction */
    float *l = logits_of(ctx, &a);
    for (int i = 0; i < 7; i++) {
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < 40; v++)
            mx = fmax(mx, l[i * 40 + v]);
        for (int v = 0; v < 40; v++)
            s += exp(l[i * 40 + v] - mx);
        CHECK_NEAR(alone[i].logsumexp, mx + log(s), 1e-4);
    }
    free(l);
    be->free(ctx);
}

void test_cpu_batch_invariance_llada(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_LLADA, 1);
    check_invariance(&tm, CPU_WEIGHTS_AUTO);
    rmodel_free(&tm);
}

void test_cpu_batch_invariance_dream(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_DREAM, 2);
    check_invariance(&tm, CPU_WEIGHTS_AUTO);
    rmodel_free(&tm);
}

void test_cpu_batch_invariance_bert(void)
{
    struct rmodel tm;
    build_bert(&tm, ARCH_ROBERTA, 3);
    check_invariance(&tm, CPU_WEIGHTS_AUTO);
    rmodel_free(&tm);
}

/* Causal: a prefix's logits do not depend on what follows. Full: they do.
 * Block-causal (block 3): positions 0..5 ignore tokens from 6 on, but see
 * later tokens of their own block. */
void test_cpu_attention_masks(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_LLAMA, 4);
    void *ctx = load(&tm, CPU_WEIGHTS_AUTO, 0);
    if (!ctx) {
        rmodel_free(&tm);
        return;
    }
    int32_t x[9] = {5, 9, 1, 30, 2, 7, 11, 4, 6}, y[9];
    memcpy(y, x, sizeof x);
    y[8] = 20;
    y[7] = 21;
    y[6] = 22;
    enum attn_kind kinds[3] = {ATTN_CAUSAL, ATTN_FULL, ATTN_BLOCK_CAUSAL};
    for (int k = 0; k < 3; k++) {
        struct denoise_row rx = row_of(x, 9, kinds[k]), ry = row_of(y, 9, kinds[k]);
        float *lx = logits_of(ctx, &rx), *ly = logits_of(ctx, &ry);
        double d_prefix = max_diff(lx, ly, 6 * 40);
        if (kinds[k] == ATTN_FULL)
            CHECK(d_prefix > 1e-3);
        else
            CHECK(d_prefix < 1e-5);
        free(lx);
        free(ly);
    }
    /* within a block: position 3 sees position 5 under block-causal */
    memcpy(y, x, sizeof x);
    y[5] = 33;
    struct denoise_row rx = row_of(x, 9, ATTN_BLOCK_CAUSAL), ry = row_of(y, 9, ATTN_BLOCK_CAUSAL);
    float *lx = logits_of(ctx, &rx), *ly = logits_of(ctx, &ry);
    CHECK(max_diff(lx + 3 * 40, ly + 3 * 40, 40) > 1e-3);
    CHECK(max_diff(lx, ly, 3 * 40) < 1e-5);
    free(lx);
    free(ly);
    backend_cpu()->free(ctx);
    rmodel_free(&tm);
}

/* llama.cpp's converter permutes Q/K rows so that rotate-half pairs become
 * adjacent; with rope_interleaved set the permuted model must give the same
 * numbers as the original with rotate-half. */
static void permute_rows(float *w, int n_head, int hd, int cols)
{
    int rows = n_head * hd;
    float *tmp = malloc(sizeof(float) * (size_t)rows * cols);
    for (int h = 0; h < n_head; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(tmp + (size_t)(h * hd + 2 * i + j) * cols, w + (size_t)(h * hd + j * hd / 2 + i) * cols,
                       sizeof(float) * cols);
    memcpy(w, tmp, sizeof(float) * (size_t)rows * cols);
    free(tmp);
}

void test_cpu_rope_layouts(void)
{
    struct rmodel a, b;
    build_llama(&a, ARCH_LLAMA, 5);
    build_llama(&b, ARCH_LLAMA, 5);
    b.m.cfg.rope_interleaved = 1;
    for (int i = 0; i < b.n; i++) {
        if (strstr(b.t[i].name, "attn_q.weight"))
            permute_rows((float *)b.t[i].data, 4, 8, 32);
        if (strstr(b.t[i].name, "attn_k.weight"))
            permute_rows((float *)b.t[i].data, 2, 8, 32);
    }
    void *ca = load(&a, CPU_WEIGHTS_AUTO, 0), *cb = load(&b, CPU_WEIGHTS_AUTO, 0);
    if (ca && cb) {
        int32_t x[9] = {5, 9, 1, 30, 2, 7, 11, 4, 6};
        struct denoise_row r = row_of(x, 9, ATTN_FULL);
        float *la = logits_of(ca, &r), *lb = logits_of(cb, &r);
        CHECK(max_diff(la, lb, 9 * 40) < 1e-4);
        /* and the layouts are not the same thing: the unpermuted model read
         * as interleaved differs */
        a.m.cfg.rope_interleaved = 1;
        void *cw = load(&a, CPU_WEIGHTS_AUTO, 0);
        float *lw = logits_of(cw, &r);
        CHECK(max_diff(la, lw, 9 * 40) > 1e-3);
        free(lw);
        backend_cpu()->free(cw);
        free(la);
        free(lb);
    }
    if (ca)
        backend_cpu()->free(ca);
    if (cb)
        backend_cpu()->free(cb);
    rmodel_free(&a);
    rmodel_free(&b);
}

/* Dream: logits at i are the unshifted model's at i - 1; position 0 its own. */
void test_cpu_dream_shift(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_DREAM, 6);
    void *cs = load(&tm, CPU_WEIGHTS_AUTO, 0);
    tm.m.cfg.shift_logits = 0;
    void *cn = load(&tm, CPU_WEIGHTS_AUTO, 0);
    if (cs && cn) {
        int32_t x[6] = {5, 9, 1, 30, 2, 7};
        struct denoise_row r = row_of(x, 6, ATTN_FULL);
        float *ls = logits_of(cs, &r), *ln = logits_of(cn, &r);
        CHECK(max_diff(ls, ln, 40) < 1e-5);
        CHECK(max_diff(ls + 40, ln, 5 * 40) < 1e-5);
        CHECK(max_diff(ls + 40, ln + 40, 40) > 1e-3);
        free(ls);
        free(ln);
    }
    if (cs)
        backend_cpu()->free(cs);
    if (cn)
        backend_cpu()->free(cn);
    rmodel_free(&tm);
}

/* One sgemm over all canvases gives the same numbers up to rounding. */
void test_cpu_stacked_rows_close(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_LLADA, 7);
    void *c1 = load(&tm, CPU_WEIGHTS_AUTO, 0), *c2 = load(&tm, CPU_WEIGHTS_AUTO, 1);
    if (c1 && c2) {
        int32_t q[12];
        for (int i = 0; i < 12; i++)
            q[i] = i;
        struct denoise_row rows[2] = {row_of(ids_b, 12, ATTN_FULL), row_of(ids_a, 7, ATTN_FULL)};
        rows[0].query = rows[1].query = q;
        rows[0].n_query = 12;
        rows[1].n_query = 7;
        struct denoise_pos o1[19], o2[19];
        struct denoise_batch b1 = {rows, 2, o1}, b2 = {rows, 2, o2};
        char err[256];
        CHECK(backend_cpu()->denoise(c1, &b1, err, sizeof err) == 0);
        CHECK(backend_cpu()->denoise(c2, &b2, err, sizeof err) == 0);
        for (int i = 0; i < 19; i++) {
            CHECK_INT(o1[i].token, o2[i].token);
            CHECK_NEAR(o1[i].logsumexp, o2[i].logsumexp, 1e-4);
        }
    }
    if (c1)
        backend_cpu()->free(c1);
    if (c2)
        backend_cpu()->free(c2);
    rmodel_free(&tm);
}

/* CFG: a row with an unconditional twin reduces un + (s+1)(cond - un). */
void test_cpu_cfg(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_LLADA, 8);
    void *ctx = load(&tm, CPU_WEIGHTS_AUTO, 0);
    if (ctx) {
        int32_t un[7];
        memcpy(un, ids_a, sizeof un);
        un[0] = un[1] = 39;
        int32_t q[2] = {4, 6};
        struct denoise_row rows[2] = {row_of(ids_a, 7, ATTN_FULL), row_of(un, 7, ATTN_FULL)};
        rows[0].query = q;
        rows[0].n_query = 2;
        rows[0].cfg_uncond = 1;
        rows[0].cfg_scale = 1.5f;
        struct denoise_pos o[2];
        struct denoise_batch b = {rows, 2, o};
        char err[256];
        CHECK(backend_cpu()->denoise(ctx, &b, err, sizeof err) == 0);
        float *lc = logits_of(ctx, &rows[0]), *lu = logits_of(ctx, &rows[1]);
        for (int k = 0; k < 2; k++) {
            double mx = -INFINITY, s = 0;
            int best = 0;
            for (int v = 0; v < 40; v++) {
                double m = cpu_cfg_mix(lc[q[k] * 40 + v], lu[q[k] * 40 + v], 1.5f);
                if (m > mx) {
                    mx = m;
                    best = v;
                }
            }
            for (int v = 0; v < 40; v++)
                s += exp(cpu_cfg_mix(lc[q[k] * 40 + v], lu[q[k] * 40 + v], 1.5f) - mx);
            CHECK_INT(o[k].token, best);
            CHECK_NEAR(o[k].logsumexp, mx + log(s), 1e-4);
        }
        free(lc);
        free(lu);
        /* a twin of another length is refused, not read out of bounds */
        rows[1].len = 5;
        CHECK(backend_cpu()->denoise(ctx, &b, err, sizeof err) != 0);
        backend_cpu()->free(ctx);
    }
    rmodel_free(&tm);
}

void test_cpu_bad_input(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_LLADA, 9);
    void *ctx = load(&tm, CPU_WEIGHTS_AUTO, 0);
    if (ctx) {
        char err[256] = "";
        int32_t bad[3] = {1, 40, 2};
        struct denoise_row r = row_of(bad, 3, ATTN_FULL);
        float out[3 * 40];
        CHECK(backend_cpu()->logits(ctx, &r, out, err, sizeof err) != 0);
        CHECK(strstr(err, "vocabulary") != NULL);
        int32_t q[1] = {3};
        r = row_of(ids_a, 3, ATTN_FULL);
        r.query = q;
        r.n_query = 1;
        struct denoise_pos o;
        struct denoise_batch b = {&r, 1, &o};
        CHECK(backend_cpu()->denoise(ctx, &b, err, sizeof err) != 0);
        backend_cpu()->free(ctx);
    }
    /* a missing tensor is a load error naming it */
    free(tm.t[tm.n - 1].name);
    tm.t[tm.n - 1].name = strdup("blk.1.renamed");
    char err[256] = "";
    struct cpu_opts o = {1, CPU_WEIGHTS_AUTO, 0};
    CHECK(cpu_load_opts(&tm.m, &o, err, sizeof err) == NULL);
    CHECK(strstr(err, "blk.1.ffn_down.weight") != NULL);
    rmodel_free(&tm);
}

/* The fast F16/BF16/Q8_0 conversions give the same bits as tensor_rows_f32. */
void test_cpu_dequant_fast_paths(void)
{
    static uint16_t h[65536 + 3];
    for (int i = 0; i < 65536 + 3; i++)
        h[i] = (uint16_t)(i * 40503u);
    float *a = malloc(sizeof(float) * 65536), *b = malloc(sizeof(float) * 65536);
    enum dtype types[2] = {DT_F16, DT_BF16};
    for (int k = 0; k < 2; k++) {
        /* 1 byte in, so the rows are not 2-byte aligned */
        struct tensor t = {"x", types[k], 2, {1021, 64, 1, 1}, (const uint8_t *)h + 1, 1021 * 64 * 2};
        CHECK(cpu_rows_f32(&t, 3, 61, a) == 0);
        CHECK(tensor_rows_f32(&t, 3, 61, b) == 0);
        int same = 1;
        for (int i = 0; i < 1021 * 61; i++)
            same &= memcmp(&a[i], &b[i], 4) == 0 || (isnan(a[i]) && isnan(b[i]));
        CHECK(same);
        CHECK(cpu_rows_f32(&t, 60, 5, a) != 0);
        t.nbytes -= 1;
        CHECK(cpu_rows_f32(&t, 0, 64, a) != 0);
    }
    /* Q8_0: rows of 256 = 8 blocks of 34 bytes; scales kept finite */
    static uint8_t q[40 * 8 * 34 + 1];
    for (int i = 0; i < (int)sizeof q; i++)
        q[i] = (uint8_t)(i * 77u + 3);
    for (int blk = 0; blk < 40 * 8; blk++)
        q[1 + blk * 34 + 1] &= 0x3b; /* f16 exponent below 31: no inf/nan scales */
    struct tensor t8 = {"q", DT_Q8_0, 2, {256, 40, 1, 1}, q + 1, 40 * 8 * 34};
    CHECK(cpu_rows_f32(&t8, 2, 37, a) == 0);
    CHECK(tensor_rows_f32(&t8, 2, 37, b) == 0);
    CHECK(memcmp(a, b, sizeof(float) * 256 * 37) == 0);
    CHECK(cpu_rows_f32(&t8, 39, 2, a) != 0);
    free(a);
    free(b);
}

static uint16_t to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 112;
    if (e <= 0)
        return (uint16_t)sign;
    return (uint16_t)(sign | ((uint32_t)e << 10) | ((x & 0x7fffff) >> 13));
}

/* F16 weights streamed (dequantized per layer per step) and converted at
 * load give the same bits. */
void test_cpu_stream_matches_resident(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_DREAM, 10);
    for (int i = 0; i < tm.n; i++) {
        struct tensor *t = &tm.t[i];
        if (t->ne[1] == 1)
            continue;
        size_t n = (size_t)(t->ne[0] * t->ne[1]);
        uint16_t *h = malloc(2 * n);
        for (size_t j = 0; j < n; j++)
            h[j] = to_f16(((const float *)t->data)[j]);
        free((void *)t->data);
        t->data = h;
        t->type = DT_F16;
        t->nbytes = 2 * n;
    }
    void *cr = load(&tm, CPU_WEIGHTS_RESIDENT, 0), *cs = load(&tm, CPU_WEIGHTS_STREAM, 0);
    if (cr && cs) {
        CHECK(cpu_weights_resident(cr) == 1);
        CHECK(cpu_weights_resident(cs) == 0);
        struct denoise_row r = row_of(ids_b, 12, ATTN_FULL);
        float *lr = logits_of(cr, &r), *ls = logits_of(cs, &r);
        CHECK(memcmp(lr, ls, sizeof(float) * 12 * 40) == 0);
        struct cpu_stats st;
        cpu_get_stats(cs, &st);
        CHECK(st.dequant_s > 0);
        free(lr);
        free(ls);
    }
    if (cr)
        backend_cpu()->free(cr);
    if (cs)
        backend_cpu()->free(cs);
    rmodel_free(&tm);
}

/* CPU_WEIGHTS_BF16 (where the CPU has AVX512-BF16; else loading it must
 * fail naming the feature): batch invariance as above, stacked and padded
 * layouts the same bits as per canvas (the kernel sums every row in one
 * order whatever the row count), and logits near the f32 ones (both
 * operands rounded to 8 significant bits: 2e-2 of the logit scale). */
void test_cpu_bf16_weights(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_LLADA, 11);
    if (!cpu_bf16_supported()) {
        char err[256] = "";
        struct cpu_opts o = {1, CPU_WEIGHTS_BF16, 0};
        void *ctx = cpu_load_opts(&tm.m, &o, err, sizeof err);
        CHECK(ctx == NULL);
        CHECK(strstr(err, "AVX512-BF16") != NULL);
        rmodel_free(&tm);
        fprintf(stderr, "    (no AVX512-BF16 here: only the refusal checked)\n");
        return;
    }
    check_invariance(&tm, CPU_WEIGHTS_BF16);
    void *cf = load(&tm, CPU_WEIGHTS_RESIDENT, 0), *cb = load(&tm, CPU_WEIGHTS_BF16, 0);
    void *cp = load(&tm, CPU_WEIGHTS_BF16, CPU_STACK_PLAIN), *cq = load(&tm, CPU_WEIGHTS_BF16, CPU_STACK_PADDED);
    if (cf && cb && cp && cq) {
        int pad = 0;
        CHECK(cpu_stack_mode(cq, &pad) == CPU_STACK_PADDED && pad == 1); /* no probe needed */
        CHECK(cpu_weights_bf16(cb) == 1 && cpu_weights_bf16(cf) == 0);
        struct denoise_row r = row_of(ids_b, 12, ATTN_FULL);
        float *lf = logits_of(cf, &r), *lb = logits_of(cb, &r);
        double scale = 0;
        for (int i = 0; i < 12 * 40; i++)
            scale = fmax(scale, fabs(lf[i]));
        double d = max_diff(lf, lb, 12 * 40);
        CHECK(d < 2e-2 * scale);
        CHECK(d > 0); /* the BF16 path did run */
        free(lf);
        free(lb);
        int32_t q[12];
        for (int i = 0; i < 12; i++)
            q[i] = i;
        struct denoise_row rows[2] = {row_of(ids_b, 12, ATTN_FULL), row_of(ids_a, 7, ATTN_FULL)};
        rows[0].query = rows[1].query = q;
        rows[0].n_query = 12;
        rows[1].n_query = 7;
        struct denoise_pos o1[19], o2[19], o3[19];
        struct denoise_batch b1 = {rows, 2, o1}, b2 = {rows, 2, o2}, b3 = {rows, 2, o3};
        char err[256];
        CHECK(backend_cpu()->denoise(cb, &b1, err, sizeof err) == 0);
        CHECK(backend_cpu()->denoise(cp, &b2, err, sizeof err) == 0);
        CHECK(backend_cpu()->denoise(cq, &b3, err, sizeof err) == 0);
        CHECK(memcmp(o1, o2, sizeof o1) == 0);
        CHECK(memcmp(o1, o3, sizeof o1) == 0);
    }
    if (cf)
        backend_cpu()->free(cf);
    if (cb)
        backend_cpu()->free(cb);
    if (cp)
        backend_cpu()->free(cp);
    if (cq)
        backend_cpu()->free(cq);
    rmodel_free(&tm);
    build_bert(&tm, ARCH_BERT, 12);
    check_invariance(&tm, CPU_WEIGHTS_BF16);
    rmodel_free(&tm);
}

/* AUTO takes BF16 only for BF16/quantized projections on a CPU with the
 * feature; an F32 model stays f32. */
void test_cpu_bf16_auto(void)
{
    struct rmodel tm;
    build_llama(&tm, ARCH_LLADA, 13);
    void *c = load(&tm, CPU_WEIGHTS_AUTO, 0);
    if (c) {
        CHECK(cpu_weights_bf16(c) == 0);
        backend_cpu()->free(c);
    }
    for (int i = 0; i < tm.n; i++) {
        struct tensor *t = &tm.t[i];
        if (t->ne[1] == 1)
            continue;
        size_t n = (size_t)(t->ne[0] * t->ne[1]);
        uint16_t *h = malloc(2 * n);
        for (size_t j = 0; j < n; j++) { /* truncation: exact BF16 values */
            uint32_t u;
            memcpy(&u, &((const float *)t->data)[j], 4);
            h[j] = (uint16_t)(u >> 16);
        }
        free((void *)t->data);
        t->data = h;
        t->type = DT_BF16;
        t->nbytes = 2 * n;
    }
    c = load(&tm, CPU_WEIGHTS_AUTO, 0);
    if (c) {
        CHECK(cpu_weights_bf16(c) == cpu_bf16_supported());
        backend_cpu()->free(c);
    }
    rmodel_free(&tm);
}
