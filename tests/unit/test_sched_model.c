/* The scheduler on a real model and the CPU backend: the default KJV model
 * (models/dllm-kjv.gguf, or $DLLM_SCHED_TEST_MODEL), skipped when absent.
 * Each step of the scheduler is checked against LLaDA's rule computed here
 * from the backend's full logits (argmax token, softmax probability, the k_i
 * most confident of the current block), and a request must give the same
 * canvas alone and among others. */
#include "engine/sched/sched.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXF 64
#define MAXL 128

struct frames {
    int n, len;
    int32_t ids[MAXF][MAXL];
    uint8_t masked[MAXF][MAXL];
    uint8_t fresh[MAXF][MAXL];
    int bs[MAXF], be[MAXF];
    char text[2048];
    size_t text_len;
    char done_text[2048];
    int done, finish, steps;
};

static void on_event(void *cb_user, const struct sched_event *ev)
{
    (void)cb_user;
    struct frames *f = ev->user;
    if (ev->kind == SCHED_EV_FRAME && f->n < MAXF && ev->len <= MAXL) {
        memcpy(f->ids[f->n], ev->canvas, (size_t)ev->len * sizeof(int32_t));
        memcpy(f->masked[f->n], ev->masked, (size_t)ev->len);
        memcpy(f->fresh[f->n], ev->fresh, (size_t)ev->len);
        f->bs[f->n] = ev->block_start;
        f->be[f->n] = ev->block_end;
        f->len = ev->len;
        f->n++;
    } else if (ev->kind == SCHED_EV_DELTA && f->text_len + ev->text_len < sizeof f->text) {
        memcpy(f->text + f->text_len, ev->text, ev->text_len);
        f->text_len += ev->text_len;
    } else if (ev->kind == SCHED_EV_DONE) {
        f->done = 1;
        f->finish = ev->finish;
        f->steps = ev->step;
        snprintf(f->done_text, sizeof f->done_text, "%.*s", (int)ev->text_len, ev->text);
    }
}

struct fixture {
    struct model *m;
    const struct backend *be;
    void *ctx;
};

static int open_model(struct fixture *fx)
{
    const char *path = getenv("DLLM_SCHED_TEST_MODEL");
    if (!path)
        path = "models/dllm-kjv.gguf";
    char err[256];
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) {
        char why[300];
        snprintf(why, sizeof why, "%s not found", path);
        check_skip(why);
        return -1;
    }
    fclose(f);
    if (!CHECK(model_open(path, &fx->m, err, sizeof err) == 0)) {
        printf("    %s\n", err);
        return -1;
    }
    fx->be = backend_cpu();
    fx->ctx = fx->be ? fx->be->load(fx->m, 1, err, sizeof err) : NULL;
    if (!CHECK(fx->ctx != NULL)) {
        printf("    %s\n", err);
        model_free(fx->m);
        return -1;
    }
    return 0;
}

static void close_model(struct fixture *fx)
{
    fx->be->free(fx->ctx);
    model_free(fx->m);
}

static int encode(struct fixture *fx, const char *text, int32_t **ids)
{
    int n = 0;
    char err[200];
    if (tok_encode(fx->m->tok, text, strlen(text), fx->m->cfg.add_bos, ids, &n, err, sizeof err))
        return -1;
    return n;
}

void test_sched_model_steps_follow_llada_low_confidence(void)
{
    struct fixture fx;
    if (open_model(&fx))
        return;
    int32_t *ids;
    int n = encode(&fx, "And the LORD said unto Moses,", &ids);
    CHECK(n > 0);
    const int gen = 32, block = 16, steps = 16;
    struct sched *s = sched_new(fx.m, fx.be, fx.ctx, NULL, on_event, NULL);
    static struct frames f;
    memset(&f, 0, sizeof f);
    struct canvas_seg segs[2] = {{ids, n}, {NULL, gen}};
    struct gen_request r = {segs, 2, {.steps = steps, .block_length = block}, NULL, 0, 1, &f};
    char err[200];
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
    while (sched_step(s) > 0)
        ;
    CHECK(f.done);
    CHECK(f.n > 0);

    /* replay: before frame i the canvas is frame i-1's (or the initial one) */
    int L = n + gen, V = fx.m->cfg.vocab_size, mask = fx.m->cfg.mask_id;
    float *logits = malloc((size_t)L * V * sizeof *logits);
    int32_t cur[MAXL];
    uint8_t was_masked[MAXL];
    for (int i = 0; i < L; i++) {
        cur[i] = i < n ? ids[i] : mask;
        was_masked[i] = i >= n;
    }
    int worst_rank_gap_fail = 0;
    for (int fr = 0; fr < f.n; fr++) {
        struct denoise_row row = {.ids = cur, .len = L, .attn = ATTN_FULL, .cfg_uncond = -1};
        CHECK_INT(fx.be->logits(fx.ctx, &row, logits, err, sizeof err), 0);
        double conf[MAXL];
        int nfresh = 0;
        for (int i = 0; i < L; i++) {
            conf[i] = -1;
            if (!was_masked[i])
                continue;
            const float *l = logits + (size_t)i * V;
            int best = 0;
            double mx = l[0], sum = 0;
            for (int v = 1; v < V; v++)
                if (l[v] > mx) {
                    mx = l[v];
                    best = v;
                }
            for (int v = 0; v < V; v++)
                sum += exp((double)l[v] - mx);
            conf[i] = 1.0 / sum;
            if (f.fresh[fr][i]) {
                nfresh++;
                /* the committed token is the argmax, up to a near tie */
                const float *lt = logits + (size_t)i * V;
                CHECK(f.ids[fr][i] == best || fabs(lt[f.ids[fr][i]] - mx) < 1e-4);
                CHECK(i >= f.bs[fr] && i < f.be[fr]);
            }
        }
        CHECK_INT(nfresh, sched_llada_k(block, steps / (gen / block), fr % (steps / (gen / block))));
        /* no left-behind position of the block was clearly more confident */
        double min_fresh = 2, max_left = -1;
        for (int i = f.bs[fr]; i < f.be[fr]; i++) {
            if (f.fresh[fr][i] && conf[i] < min_fresh)
                min_fresh = conf[i];
            if (was_masked[i] && !f.fresh[fr][i] && conf[i] > max_left)
                max_left = conf[i];
        }
        if (!(min_fresh >= max_left - 1e-5))
            worst_rank_gap_fail++;
        for (int i = 0; i < L; i++) {
            cur[i] = f.ids[fr][i];
            was_masked[i] = f.masked[fr][i];
        }
    }
    CHECK_INT(worst_rank_gap_fail, 0);
    CHECK_STR(f.text, f.done_text);
    free(logits);
    free(ids);
    sched_free(s);
    close_model(&fx);
}

void test_sched_model_same_canvas_alone_or_in_a_batch(void)
{
    struct fixture fx;
    if (open_model(&fx))
        return;
    static const char *const others[3] = {"In the beginning", "Blessed are the", "And it came to pass,"};
    int32_t *ids, *oid[3];
    int n = encode(&fx, "The LORD is my shepherd;", &ids), on[3];
    for (int i = 0; i < 3; i++)
        on[i] = encode(&fx, others[i], &oid[i]);
    struct gen_params pa = {.steps = 16, .block_length = 8, .temperature = 0.7f, .seed = 5};
    static struct frames alone, among, o[3];
    char err[200];
    memset(&alone, 0, sizeof alone);
    struct canvas_seg segs[2] = {{ids, n}, {NULL, 16}};
    struct gen_request r = {segs, 2, pa, NULL, 0, 1, &alone};

    struct sched *s = sched_new(fx.m, fx.be, fx.ctx, NULL, on_event, NULL);
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
    while (sched_step(s) > 0)
        ;
    sched_free(s);

    s = sched_new(fx.m, fx.be, fx.ctx, NULL, on_event, NULL);
    memset(&among, 0, sizeof among);
    memset(o, 0, sizeof o);
    struct gen_params op[3] = {{.steps = 8, .cfg_scale = 1.0f},
                               {.steps = 24, .remasking = REMASK_ENTROPY, .temperature = 1.0f, .seed = 9},
                               {.steps = 8, .threshold = 0.5f, .block_length = 8}};
    int olen[3] = {8, 24, 16};
    for (int i = 0; i < 3; i++) {
        struct canvas_seg os[2] = {{oid[i], on[i]}, {NULL, olen[i]}};
        struct gen_request q = {os, 2, op[i], NULL, 0, 0, &o[i]};
        CHECK_INT(sched_submit(s, &q, NULL, err, sizeof err), 0);
        if (i == 1) {
            sched_step(s);
            r.user = &among;
            CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
        }
    }
    while (sched_step(s) > 0)
        ;
    sched_free(s);
    for (int i = 0; i < 3; i++)
        CHECK(o[i].done && o[i].finish != FINISH_ERROR);
    CHECK(alone.done && among.done);
    CHECK_INT(among.n, alone.n);
    CHECK(memcmp(among.ids, alone.ids, sizeof alone.ids) == 0);
    CHECK_STR(among.done_text, alone.done_text);
    CHECK(alone.done_text[0] != 0 || alone.finish == FINISH_STOP);
    free(ids);
    for (int i = 0; i < 3; i++)
        free(oid[i]);
    close_model(&fx);
}
