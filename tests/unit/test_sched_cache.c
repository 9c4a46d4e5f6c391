/* The scheduler's block caches on the default model (models/dllm-kjv.gguf,
 * or $DLLM_SCHED_TEST_MODEL; skipped when absent) and the CPU backend,
 * seen through a counting backend that forwards every call to the CPU one:
 * which forwards fill, which windows later steps get, how many tokens each
 * forward computes, how many caches are alive; a cached request gives the
 * same canvas alone or among others; failures and cancellations free. */
#include "engine/sched/sched.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_MAXF 160

static struct counting {
    const struct backend *cpu;
    int live;                /* caches made and not freed */
    int fail_new;            /* cache_new refuses */
    long computed;           /* tokens computed: whole canvases or windows */
    int forwards, fills, windowed;
    int ws[KV_MAXF], we[KV_MAXF], fill[KV_MAXF]; /* row 0 of each forward */
} cnt;

static int cnt_denoise(void *ctx, const struct denoise_batch *b, char *err, size_t errlen)
{
    for (int r = 0; r < b->n_rows; r++) {
        const struct denoise_row *row = &b->rows[r];
        int win = row->cache && !row->cache_fill;
        cnt.computed += win ? row->win_end - row->win_start : row->len;
        cnt.fills += row->cache && row->cache_fill;
        cnt.windowed += win;
    }
    if (cnt.forwards < KV_MAXF && b->n_rows > 0) {
        cnt.ws[cnt.forwards] = b->rows[0].win_start;
        cnt.we[cnt.forwards] = b->rows[0].win_end;
        cnt.fill[cnt.forwards] = !b->rows[0].cache || b->rows[0].cache_fill;
    }
    cnt.forwards++;
    return cnt.cpu->denoise(ctx, b, err, errlen);
}

static void *cnt_cache_new(void *ctx, int len, char *err, size_t errlen)
{
    if (cnt.fail_new) {
        snprintf(err, errlen, "test: no cache today");
        return NULL;
    }
    void *c = cnt.cpu->cache_new(ctx, len, err, errlen);
    cnt.live += c != NULL;
    return c;
}

static void cnt_cache_free(void *ctx, void *cache)
{
    cnt.live -= cache != NULL;
    cnt.cpu->cache_free(ctx, cache);
}

static const struct backend counting_backend = {"counting", NULL, cnt_denoise, NULL, NULL, cnt_cache_new,
                                                cnt_cache_free};

struct result {
    int32_t ids[256];
    int len, done, finish, steps;
    char text[1024];
    char error[200];
};

static void on_event(void *cb_user, const struct sched_event *ev)
{
    (void)cb_user;
    struct result *res = ev->user;
    if (ev->kind == SCHED_EV_FRAME && ev->len <= 256) {
        memcpy(res->ids, ev->canvas, (size_t)ev->len * sizeof(int32_t));
        res->len = ev->len;
    }
    if (ev->kind != SCHED_EV_DONE)
        return;
    res->done = 1;
    res->finish = ev->finish;
    res->steps = ev->step;
    snprintf(res->text, sizeof res->text, "%.*s", (int)ev->text_len, ev->text ? ev->text : "");
    snprintf(res->error, sizeof res->error, "%s", ev->error ? ev->error : "");
}

struct kfix {
    struct model *m;
    void *ctx;
    int32_t *ids;
    int n;
};

static int kopen(struct kfix *fx, const char *prompt)
{
    const char *path = getenv("DLLM_SCHED_TEST_MODEL");
    if (!path)
        path = "models/dllm-kjv.gguf";
    memset(fx, 0, sizeof *fx);
    memset(&cnt, 0, sizeof cnt);
    cnt.cpu = backend_cpu();
    FILE *f = fopen(path, "rb");
    if (!f) {
        char why[300];
        snprintf(why, sizeof why, "%s not found", path);
        check_skip(why);
        return -1;
    }
    fclose(f);
    char err[256];
    if (!CHECK(model_open(path, &fx->m, err, sizeof err) == 0)) {
        printf("    %s\n", err);
        return -1;
    }
    fx->ctx = cnt.cpu->load(fx->m, 1, err, sizeof err);
    if (!CHECK(fx->ctx != NULL) ||
        !CHECK(tok_encode(fx->m->tok, prompt, strlen(prompt), fx->m->cfg.add_bos, &fx->ids, &fx->n, err,
                          sizeof err) == 0)) {
        printf("    %s\n", err);
        if (fx->ctx)
            cnt.cpu->free(fx->ctx);
        model_free(fx->m);
        return -1;
    }
    return 0;
}

static void kclose(struct kfix *fx)
{
    free(fx->ids);
    cnt.cpu->free(fx->ctx);
    model_free(fx->m);
}

static int ksubmit(struct sched *s, struct kfix *fx, int span, struct gen_params p, struct result *res,
                   uint64_t *id)
{
    char err[200] = "";
    memset(res, 0, sizeof *res);
    struct canvas_seg segs[2] = {{fx->ids, fx->n}, {NULL, span}};
    struct gen_request r = {segs, 2, p, NULL, 0, 1, res}; /* frames: the canvas */
    int rc = sched_submit(s, &r, id, err, sizeof err);
    if (rc)
        printf("    submit: %s\n", err);
    return rc;
}

/* gen 64, block 32, 64 steps, greedy: 32 forwards a block, the first fills;
 * dual then computes the block (32 tokens), prefix the rest of the canvas;
 * the computed-token count drops accordingly, and every cache is freed. */
void test_sched_cache_windows_and_computed_tokens(void)
{
    struct kfix fx;
    if (kopen(&fx, "And the LORD said unto Moses,"))
        return;
    int P = fx.n, L = P + 64;
    enum cache_mode modes[3] = {CACHE_OFF, CACHE_PREFIX, CACHE_DUAL};
    long want[3] = {64L * L, 2L * L + 31L * (L - P) + 31L * (L - P - 32), 2L * L + 62L * 32};
    static struct result res[3];
    for (int m = 0; m < 3; m++) {
        memset(&cnt, 0, sizeof cnt);
        cnt.cpu = backend_cpu();
        struct sched *s = sched_new(fx.m, &counting_backend, fx.ctx, NULL, on_event, NULL);
        struct gen_params p = {.steps = 64, .block_length = 32, .cache = modes[m]};
        CHECK_INT(ksubmit(s, &fx, 64, p, &res[m], NULL), 0);
        while (sched_step(s) > 0)
            ;
        CHECK(res[m].done && res[m].finish != FINISH_ERROR);
        CHECK_INT(cnt.forwards, 64);
        CHECK_INT(cnt.computed, want[m]);
        CHECK_INT(cnt.fills, m ? 2 : 0);
        CHECK_INT(cnt.windowed, m ? 62 : 0);
        if (m) {
            CHECK(cnt.fill[0] && cnt.fill[32]);
            int end0 = modes[m] == CACHE_DUAL ? P + 32 : L;
            for (int i = 1; i < 32; i++) {
                CHECK(!cnt.fill[i] && cnt.ws[i] == P && cnt.we[i] == end0);
                CHECK(!cnt.fill[32 + i] && cnt.ws[32 + i] == P + 32 && cnt.we[32 + i] == L);
            }
        }
        CHECK_INT(cnt.live, 0);
        sched_free(s);
    }
    /* the answers are real text of the same length (agreement with the
     * uncached answer is a benchmark figure, not checked here) */
    for (int m = 0; m < 3; m++)
        CHECK_INT(res[m].len, L);
    kclose(&fx);
}

/* A request alone and among others (uncached, prefix with CFG, Dream rule
 * with dual): the same canvas, bit for bit. */
void test_sched_cache_same_canvas_alone_or_in_a_batch(void)
{
    struct kfix fx;
    if (kopen(&fx, "The LORD is my shepherd;"))
        return;
    struct gen_params p = {.steps = 16, .block_length = 8, .temperature = 0.7f, .seed = 5, .cache = CACHE_DUAL};
    static struct result alone, among, o[3];
    struct sched *s = sched_new(fx.m, &counting_backend, fx.ctx, NULL, on_event, NULL);
    CHECK_INT(ksubmit(s, &fx, 16, p, &alone, NULL), 0);
    while (sched_step(s) > 0)
        ;
    sched_free(s);
    CHECK_INT(cnt.live, 0);

    s = sched_new(fx.m, &counting_backend, fx.ctx, NULL, on_event, NULL);
    struct gen_params op[3] = {{.steps = 8},
                               {.steps = 16, .block_length = 8, .cfg_scale = 1.0f, .cache = CACHE_PREFIX},
                               {.steps = 24, .block_length = 8, .remasking = REMASK_ENTROPY, .temperature = 1.0f,
                                .seed = 9, .cache = CACHE_DUAL}};
    int olen[3] = {8, 16, 24};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(ksubmit(s, &fx, olen[i], op[i], &o[i], NULL), 0);
        if (i == 1) {
            sched_step(s);
            CHECK_INT(cnt.live, 2); /* the CFG twin has its own */
            CHECK_INT(ksubmit(s, &fx, 16, p, &among, NULL), 0);
        }
    }
    while (sched_step(s) > 0)
        ;
    sched_free(s);
    for (int i = 0; i < 3; i++)
        CHECK(o[i].done && o[i].finish != FINISH_ERROR);
    CHECK(alone.done && among.done && alone.finish != FINISH_ERROR);
    CHECK(alone.len > 0);
    CHECK_INT(among.len, alone.len);
    CHECK(memcmp(among.ids, alone.ids, sizeof alone.ids) == 0);
    CHECK_STR(among.text, alone.text);
    CHECK_INT(cnt.live, 0);
    kclose(&fx);
}

/* Cancelled requests free their caches at the next step; sched_free frees
 * those still active; a backend that cannot make a cache fails only that
 * request, with its reason. */
void test_sched_cache_freed_on_cancel_error_and_free(void)
{
    struct kfix fx;
    if (kopen(&fx, "In the beginning"))
        return;
    struct gen_params p = {.steps = 32, .block_length = 8, .cache = CACHE_PREFIX};
    static struct result a, b, c;
    uint64_t ida, idb;
    struct sched *s = sched_new(fx.m, &counting_backend, fx.ctx, NULL, on_event, NULL);
    CHECK_INT(ksubmit(s, &fx, 32, p, &a, &ida), 0);
    p.cfg_scale = 0.5f;
    CHECK_INT(ksubmit(s, &fx, 32, p, &b, &idb), 0);
    for (int i = 0; i < 3; i++)
        sched_step(s);
    CHECK_INT(cnt.live, 3);
    sched_cancel(s, ida);
    sched_step(s);
    CHECK(a.done && a.finish == FINISH_CANCELLED);
    CHECK_INT(cnt.live, 2);
    cnt.fail_new = 1;
    p.cfg_scale = 0.0f;
    CHECK_INT(ksubmit(s, &fx, 32, p, &c, NULL), 0);
    sched_step(s);
    CHECK(c.done && c.finish == FINISH_ERROR);
    CHECK(strstr(c.error, "no cache today") != NULL);
    CHECK(!b.done);
    CHECK_INT(cnt.live, 2);
    sched_free(s); /* b still active */
    CHECK_INT(cnt.live, 0);
    kclose(&fx);
}

/* Which requests cache, and the window of a Dream-shifted model: one
 * position before the block, so the state predicting its first position is
 * fresh. Plain logic on a built canvas, no backend calls. */
void test_sched_cache_policy_and_dream_window(void)
{
    struct model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = 50;
    cfg.mask_id = 49;
    cfg.eos_id = cfg.eot_id = -1;
    cfg.max_seq = 128;
    cfg.shift_logits = 1;
    struct sched_req r;
    memset(&r, 0, sizeof r);
    r.p.steps = 8;
    r.p.block_length = 4;
    r.p.remasking = REMASK_ENTROPY;
    r.p.cache = CACHE_DUAL;
    r.n_rows = 1;
    int32_t prompt[5] = {1, 2, 3, 4, 5};
    struct canvas_seg segs[2] = {{prompt, 5}, {NULL, 8}};
    char err[200];
    CHECK_INT(canvas_build(&r.cv, segs, 2, &r.p, &cfg, 128, err, sizeof err), 0);
    const struct backend *be = backend_cpu();
    CHECK(kv_wanted(&r, &cfg, be));
    r.p.remasking = REMASK_MDLM;
    CHECK(!kv_wanted(&r, &cfg, be));
    r.p.remasking = REMASK_ENTROPY;
    cfg.time_cond = 1;
    CHECK(!kv_wanted(&r, &cfg, be));
    cfg.time_cond = 0;
    r.p.cache = CACHE_OFF;
    CHECK(!kv_wanted(&r, &cfg, be));
    r.p.cache = CACHE_DUAL;
    struct backend none = *be;
    none.cache_new = NULL;
    CHECK(!kv_wanted(&r, &cfg, &none));

    int dummy;
    r.kv[0] = &dummy; /* kv_rows only hands the pointer on */
    r.kv_block = -1;
    struct denoise_row row;
    memset(&row, 0, sizeof row);
    kv_rows(&r, &cfg, &row);
    CHECK(row.cache == &dummy && row.cache_fill);
    kv_rows(&r, &cfg, &row);
    CHECK(!row.cache_fill);
    CHECK_INT(row.win_start, 4);
    CHECK_INT(row.win_end, 9);
    r.p.cache = CACHE_PREFIX;
    r.cv.block = 1;
    kv_rows(&r, &cfg, &row);
    CHECK(row.cache_fill);
    kv_rows(&r, &cfg, &row);
    CHECK_INT(row.win_start, 8);
    CHECK_INT(row.win_end, 13);
    cfg.shift_logits = 0;
    kv_rows(&r, &cfg, &row);
    CHECK_INT(row.win_start, 9);
    r.kv[0] = NULL;
    canvas_free(&r.cv);
}
