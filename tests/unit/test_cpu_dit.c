/* The MDLM/SEDD forward on tiny random DiTs built in memory: canvases of
 * different lengths and noise levels give the same bits alone or batched;
 * without time conditioning the noise level has no effect; SEDD's output is
 * the same network's logits shifted by ln(e^sigma - 1) + ln(V - 1) with 0 at
 * each input token; bad noise levels are errors. Numbers against an
 * independent implementation: tests/suite_dit.sh. */
#include "tests/unit/check.h"
#include "engine/cpu/cpu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TD 16 /* width */
#define TC 8  /* cond */
#define TV 40 /* vocabulary, mask = 39 */
#define TL 2


static void build(struct rmodel *tm, enum arch a, int time_cond, uint64_t seed)
{
    memset(tm, 0, sizeof *tm);
    tm->rng = seed;
    struct model_config *c = &tm->m.cfg;
    c->arch = a;
    c->n_layers = TL;
    c->d_model = TD;
    c->n_heads = 2;
    c->n_kv_heads = 2;
    c->head_dim = TD / 2;
    c->rope_dim = TD / 2;
    c->d_ff = 4 * TD;
    c->vocab_size = TV;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->cond_dim = TC;
    c->time_cond = time_cond;
    c->scale_by_sigma = a == ARCH_SEDD;
    c->mask_id = TV - 1;
    char n[64];
    rmodel_add(tm, "token_embd.weight", TD, TV, 2.0f, 0.0f);
    rmodel_add(tm, "t_embd.fc1.weight", 32, TC, 0.7f, 0.0f);
    rmodel_add(tm, "t_embd.fc1.bias", TC, 1, 0.2f, 0.0f);
    rmodel_add(tm, "t_embd.fc2.weight", TC, TC, 1.0f, 0.0f);
    rmodel_add(tm, "t_embd.fc2.bias", TC, 1, 0.2f, 0.0f);
    for (int l = 0; l < TL; l++) {
        snprintf(n, sizeof n, "blk.%d.attn_norm.weight", l), rmodel_add(tm, n, TD, 1, 0.2f, 1.0f);
        snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", l), rmodel_add(tm, n, TD, 3 * TD, 0.5f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.attn_output.weight", l), rmodel_add(tm, n, TD, TD, 0.5f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_norm.weight", l), rmodel_add(tm, n, TD, 1, 0.2f, 1.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l), rmodel_add(tm, n, TD, 4 * TD, 0.5f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_up.bias", l), rmodel_add(tm, n, 4 * TD, 1, 0.2f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", l), rmodel_add(tm, n, 4 * TD, TD, 0.25f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.ffn_down.bias", l), rmodel_add(tm, n, TD, 1, 0.2f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.adaln.weight", l), rmodel_add(tm, n, TC, 6 * TD, 0.5f, 0.0f);
        snprintf(n, sizeof n, "blk.%d.adaln.bias", l), rmodel_add(tm, n, 6 * TD, 1, 0.2f, 0.0f);
    }
    rmodel_add(tm, "output_norm.weight", TD, 1, 0.2f, 1.0f);
    rmodel_add(tm, "output_adaln.weight", TC, 2 * TD, 0.5f, 0.0f);
    rmodel_add(tm, "output_adaln.bias", 2 * TD, 1, 0.2f, 0.0f);
    rmodel_add(tm, "output.weight", TD, TV, 1.0f, 0.0f);
    rmodel_add(tm, "output.bias", TV, 1, 0.3f, 0.0f);
}

static void *load(struct rmodel *tm)
{
    char err[256];
    struct cpu_opts o = {1, CPU_WEIGHTS_RESIDENT, 0};
    void *ctx = cpu_load_opts(&tm->m, &o, err, sizeof err);
    if (!ctx)
        check_true(0, err, __FILE__, __LINE__);
    return ctx;
}

static const int32_t ids_a[] = {3, 39, 7, 39, 39, 12, 1};
static const int32_t ids_b[] = {5, 6, 39, 39, 30, 2, 8, 39, 9, 39, 11, 0};
static const int32_t ids_c[] = {39, 39, 39, 4, 17};
static const int32_t all_pos[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

static struct denoise_row row_of(const int32_t *ids, int len, float sigma)
{
    struct denoise_row r;
    memset(&r, 0, sizeof r);
    r.ids = ids;
    r.len = len;
    r.attn = ATTN_FULL;
    r.sigma = sigma;
    r.query = all_pos;
    r.n_query = len;
    r.cfg_uncond = -1;
    r.rp.top_p = 1.0f;
    r.rp.n_logprobs = 5;
    r.rp.banned[0] = TV - 1;
    r.rp.banned[1] = -1;
    return r;
}

static int run(void *ctx, const struct denoise_row *rows, int n, struct denoise_pos *out)
{
    char err[256];
    struct denoise_batch b = {rows, n, out};
    int rc = backend_cpu()->denoise(ctx, &b, err, sizeof err);
    if (rc)
        check_true(0, err, __FILE__, __LINE__);
    return rc;
}

static int same_pos(const struct denoise_pos *a, const struct denoise_pos *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i].token != b[i].token || memcmp(&a[i].prob_raw, &b[i].prob_raw, sizeof(float)) ||
            memcmp(&a[i].logsumexp, &b[i].logsumexp, sizeof(float)) ||
            memcmp(a[i].top_logprobs, b[i].top_logprobs, sizeof a[i].top_logprobs))
            return 0;
    return 1;
}

void test_cpu_dit_batch_invariance(void)
{
    for (int a = 0; a < 2; a++) {
        struct rmodel tm;
        build(&tm, a ? ARCH_SEDD : ARCH_MDLM, 1, 7 + a);
        void *ctx = load(&tm);
        if (!ctx) {
            rmodel_free(&tm);
            return;
        }
        struct denoise_row rows[3] = {row_of(ids_a, 7, 0.1f), row_of(ids_b, 12, 2.0f), row_of(ids_c, 5, 0.7f)};
        struct denoise_pos alone[24], batch[24];
        int off = 0;
        for (int r = 0; r < 3; r++) {
            run(ctx, &rows[r], 1, alone + off);
            off += rows[r].len;
        }
        run(ctx, rows, 3, batch);
        CHECK(same_pos(alone, batch, 24));
        /* and in another order, with the first canvas at another noise level */
        struct denoise_row rows2[3] = {row_of(ids_c, 5, 0.7f), rows[1], row_of(ids_a, 7, 3.0f)};
        struct denoise_pos batch2[24];
        run(ctx, rows2, 3, batch2);
        CHECK(same_pos(batch2, alone + 19, 5));
        CHECK(same_pos(batch2 + 5, alone + 7, 12));
        CHECK(!same_pos(batch2 + 17, alone, 7)); /* sigma 3 vs 0.1: another answer */
        backend_cpu()->free(ctx);
        rmodel_free(&tm);
    }
}

void test_cpu_dit_time_conditioning(void)
{
    struct rmodel tm;
    build(&tm, ARCH_MDLM, 0, 3);
    void *ctx = load(&tm);
    if (!ctx) {
        rmodel_free(&tm);
        return;
    }
    float *l0 = malloc(sizeof(float) * 12 * TV), *l1 = malloc(sizeof(float) * 12 * TV);
    char err[256];
    struct denoise_row r0 = row_of(ids_b, 12, 0.0f), r1 = row_of(ids_b, 12, 4.5f);
    CHECK_INT(backend_cpu()->logits(ctx, &r0, l0, err, sizeof err), 0);
    CHECK_INT(backend_cpu()->logits(ctx, &r1, l1, err, sizeof err), 0);
    CHECK(memcmp(l0, l1, sizeof(float) * 12 * TV) == 0);
    /* not even a bad sigma matters when the model ignores it */
    r1.sigma = -1.0f;
    CHECK_INT(backend_cpu()->logits(ctx, &r1, l1, err, sizeof err), 0);
    backend_cpu()->free(ctx);
    rmodel_free(&tm);

    build(&tm, ARCH_MDLM, 1, 3);
    ctx = load(&tm);
    if (ctx) {
        r1.sigma = 4.5f;
        CHECK_INT(backend_cpu()->logits(ctx, &r0, l0, err, sizeof err), 0);
        CHECK_INT(backend_cpu()->logits(ctx, &r1, l1, err, sizeof err), 0);
        CHECK(memcmp(l0, l1, sizeof(float) * 12 * TV) != 0);
        float bad[] = {-0.5f, NAN, INFINITY};
        for (int i = 0; i < 3; i++) {
            r1.sigma = bad[i];
            err[0] = 0;
            CHECK_INT(backend_cpu()->logits(ctx, &r1, l1, err, sizeof err), -1);
            CHECK(strstr(err, "sigma") != NULL);
            struct denoise_pos out[12];
            struct denoise_batch b = {&r1, 1, out};
            CHECK_INT(backend_cpu()->denoise(ctx, &b, err, sizeof err), -1);
        }
        backend_cpu()->free(ctx);
    }
    rmodel_free(&tm);
    free(l0);
    free(l1);
}

void test_cpu_dit_sedd_output(void)
{
    /* the same weights as MDLM (time conditioned) and as SEDD */
    struct rmodel tm, ts;
    build(&tm, ARCH_MDLM, 1, 11);
    build(&ts, ARCH_SEDD, 1, 11);
    void *cm = load(&tm), *cs = load(&ts);
    float *lm = malloc(sizeof(float) * 12 * TV), *ls = malloc(sizeof(float) * 12 * TV);
    char err[256];
    float sigmas[] = {1e-3f, 0.3f, 0.5f, 2.0f};
    for (int k = 0; cm && cs && k < 4; k++) {
        struct denoise_row r = row_of(ids_b, 12, sigmas[k]);
        CHECK_INT(backend_cpu()->logits(cm, &r, lm, err, sizeof err), 0);
        CHECK_INT(backend_cpu()->logits(cs, &r, ls, err, sizeof err), 0);
        float s = sigmas[k];
        float shift = logf(s < 0.5f ? expm1f(s) : expf(s) - 1.0f), lv = logf((float)(TV - 1));
        int bad = 0;
        for (int i = 0; i < 12; i++)
            for (int j = 0; j < TV; j++) {
                float want = j == ids_b[i] ? 0.0f : lm[i * TV + j] - shift - lv;
                bad += fabsf(ls[i * TV + j] - want) > 1e-5f * (1.0f + fabsf(want));
            }
        CHECK_INT(bad, 0);
    }
    /* sigma 0: ln(0) = -inf, so every score off the input token is +inf */
    struct denoise_row r = row_of(ids_c, 5, 0.0f);
    if (cs && backend_cpu()->logits(cs, &r, ls, err, sizeof err) == 0) {
        CHECK(isinf(ls[0]) && ls[0] > 0);
        CHECK(ls[ids_c[3] + 3 * TV] == 0.0f);
    }
    if (cm)
        backend_cpu()->free(cm);
    if (cs)
        backend_cpu()->free(cs);
    rmodel_free(&tm);
    rmodel_free(&ts);
    free(lm);
    free(ls);
}
