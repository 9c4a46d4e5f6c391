/* SEDD's uniform graph through the scheduler (sampler_mdlm.c, canvas.c)
 * over a fake backend: its logits are a fixed smooth function of (position,
 * current token, sigma) with the current token's entry 0 (as the SEDD
 * forward gives it), reduced by the real CPU reduction
 * (cpu_reduce_sedd_uniform). Checks the walk: spans start as random tokens,
 * every span position is asked at every step with the step's Euler or
 * analytic coefficient (recomputed here from noise_lib.py's log-linear
 * schedule), given tokens never change, no text before the final step, and
 * the result does not depend on the batch. */
#include "engine/cpu/cpu.h"
#include "engine/sched/sched.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UV 64
#define UEOS 62
#define UCALLS 64
#define ULEN 256
#define UEPS ((double)1e-3f) /* the float a model config holds */

struct ufake {
    int calls, bad;
    int n_query[UCALLS];
    int mode[UCALLS];
    double coef[UCALLS];
    int32_t first_ids[ULEN];
};

static int ufake_denoise(void *ctx, const struct denoise_batch *b, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct ufake *f = ctx;
    int at = 0;
    float l[UV];
    for (int r = 0; r < b->n_rows; r++) {
        const struct denoise_row *row = &b->rows[r];
        if (r == 0 && f->calls < UCALLS) {
            f->n_query[f->calls] = row->n_query;
            f->mode[f->calls] = row->rp.mode;
            f->coef[f->calls] = row->rp.coef;
            if (f->calls == 0)
                memcpy(f->first_ids, row->ids, (size_t)(row->len < ULEN ? row->len : ULEN) * sizeof(int32_t));
        }
        if (row->rp.mode == REDUCE_SOFTMAX)
            f->bad++;
        for (int q = 0; q < row->n_query; q++) {
            int pos = row->query[q];
            int cur = row->ids[pos];
            if (cur < 0 || cur >= UV) {
                f->bad++;
                cur = 0;
            }
            for (int y = 0; y < UV; y++)
                l[y] = 1.5f * sinf(0.37f * (float)y + 0.11f * (float)pos + 0.05f * (float)cur + row->sigma);
            l[cur] = 0.0f;
            cpu_reduce_sedd_uniform(l, UV, &row->rp, pos, cur, &b->out[at++]);
        }
    }
    f->calls++;
    return 0;
}

static const struct backend ufake_backend = {"ufake", NULL, ufake_denoise, NULL, NULL, NULL, NULL};

struct ucap {
    int n_frames, deltas_early, given_bad, frame_masked, moved;
    int done, finish, len, masked_at_end;
    int32_t canvas[ULEN];
    int32_t given[ULEN]; /* -1 in a span */
    int total_steps;
};

static void u_event(void *cb_user, const struct sched_event *ev)
{
    (void)cb_user;
    struct ucap *c = ev->user;
    if (ev->kind == SCHED_EV_FRAME) {
        c->n_frames++;
        c->total_steps = ev->total_steps;
        if (ev->masked)
            c->frame_masked++;
        for (int i = 0; i < ev->len && i < ULEN; i++) {
            if (c->given[i] >= 0 && ev->canvas[i] != c->given[i])
                c->given_bad++;
            c->moved += ev->fresh[i];
        }
    } else if (ev->kind == SCHED_EV_DELTA) {
        if (c->n_frames < c->total_steps)
            c->deltas_early++;
    } else if (ev->kind == SCHED_EV_DONE) {
        c->done = 1;
        c->finish = ev->finish;
        c->len = ev->len;
        for (int i = 0; i < ev->len && i < ULEN; i++) {
            c->canvas[i] = ev->canvas[i];
            c->masked_at_end += ev->masked[i];
        }
    }
}

static struct model u_model;

static struct sched *u_sched(struct ufake *f)
{
    memset(f, 0, sizeof *f);
    memset(&u_model, 0, sizeof u_model);
    u_model.cfg.arch = ARCH_SEDD;
    u_model.cfg.graph_uniform = 1;
    u_model.cfg.vocab_size = UV;
    u_model.cfg.mask_id = -1;
    u_model.cfg.eos_id = UEOS;
    u_model.cfg.eot_id = -1;
    u_model.cfg.max_seq = 1024;
    u_model.cfg.noise = NOISE_LOGLINEAR;
    u_model.cfg.noise_eps = (float)UEPS;
    u_model.cfg.time_cond = 1;
    struct sched_limits lim = {16, 16, 16384, 0};
    return sched_new(&u_model, &ufake_backend, f, &lim, u_event, NULL);
}

static void u_run(struct sched *s)
{
    struct sched_stats st;
    for (int i = 0; i < 2000; i++) {
        sched_step(s);
        sched_get_stats(s, &st);
        if (st.active == 0 && st.queued == 0)
            return;
    }
}

static int32_t u_text[4] = {5, 6, 7, 8};

/* [mask M][text 4][mask 3] */
static int u_submit(struct sched *s, int M, struct gen_params p, struct ucap *c, char *err, size_t errlen)
{
    struct canvas_seg segs[3] = {{NULL, M}, {u_text, 4}, {NULL, 3}};
    memset(c, 0, sizeof *c);
    for (int i = 0; i < M + 7 && i < ULEN; i++)
        c->given[i] = i >= M && i < M + 4 ? u_text[i - M] : -1;
    struct gen_request r = {segs, 3, p, NULL, 0, 1, c};
    return sched_submit(s, &r, NULL, err, errlen);
}

/* noise_lib.py LogLinearNoise, written here from its definition. */
static double ll_sigma(double t)
{
    return -log1p(-(1 - UEPS) * t);
}

static double ll_dsigma(double t)
{
    return (1 - UEPS) / (1 - (1 - UEPS) * t);
}

void test_sched_uniform_walks_every_position_and_settles_at_the_end(void)
{
    for (int analytic = 0; analytic < 2; analytic++) {
        enum { M = 12, N = 10 };
        struct gen_params p = {.steps = N, .temperature = 1, .seed = 41,
                               .remasking = analytic ? REMASK_SEDD_ANALYTIC : REMASK_SEDD_EULER};
        static struct ufake f;
        static struct ucap c;
        char err[200] = "";
        struct sched *s = u_sched(&f);
        CHECK_INT(u_submit(s, M, p, &c, err, sizeof err), 0);
        u_run(s);
        sched_free(s);
        CHECK_INT(f.bad, 0);
        CHECK_INT(f.calls, N + 1);
        double t_eps = 1e-5, dt = (1 - t_eps) / N;
        for (int i = 0; i <= N && i < f.calls; i++) {
            CHECK_INT(f.n_query[i], M + 3);
            double t = 1 - i * dt, want;
            if (i == N)
                want = ll_sigma(t_eps); /* the final denoiser */
            else if (analytic)
                want = ll_sigma(t) - ll_sigma(t - dt);
            else
                want = dt * ll_dsigma(t);
            CHECK_INT(f.mode[i], i == N || analytic ? REDUCE_SEDD_UNIFORM_ANALYTIC : REDUCE_SEDD_UNIFORM_EULER);
            CHECK_NEAR(f.coef[i], want, 1e-12 * (1 + want));
        }
        /* spans start as tokens of the whole vocabulary, not one value */
        int distinct = 0;
        for (int i = 0; i < M; i++) {
            int seen = 0;
            for (int j = 0; j < i; j++)
                seen |= f.first_ids[j] == f.first_ids[i];
            distinct += !seen;
            CHECK(f.first_ids[i] >= 0 && f.first_ids[i] < UV);
        }
        CHECK(distinct >= 6);
        CHECK_INT(c.n_frames, N + 1);
        CHECK_INT(c.frame_masked, 0);
        CHECK_INT(c.given_bad, 0);
        CHECK_INT(c.deltas_early, 0);
        CHECK(c.moved > 0);
        CHECK(c.done);
        CHECK_INT(c.masked_at_end, 0);
        for (int i = M; i < M + 4; i++)
            CHECK_INT(c.canvas[i], u_text[i - M]);
    }
}

void test_sched_uniform_is_batch_invariant(void)
{
    static const enum remask rules[2] = {REMASK_SEDD_EULER, REMASK_SEDD_ANALYTIC};
    for (int k = 0; k < 2; k++) {
        struct gen_params p = {.steps = 16, .remasking = rules[k], .temperature = 1, .seed = 77};
        static struct ucap alone, among, others[4];
        static struct ufake f;
        char err[200] = "";
        struct sched *s = u_sched(&f);
        CHECK_INT(u_submit(s, 20, p, &alone, err, sizeof err), 0);
        u_run(s);
        sched_free(s);
        s = u_sched(&f);
        for (int i = 0; i < 4; i++) {
            struct gen_params q = p;
            q.seed = 200 + (uint64_t)i;
            q.steps = 5 + 6 * i;
            CHECK_INT(u_submit(s, 7 + 11 * i, q, &others[i], err, sizeof err), 0);
            if (i == 1)
                CHECK_INT(u_submit(s, 20, p, &among, err, sizeof err), 0);
        }
        u_run(s);
        sched_free(s);
        CHECK(alone.done && among.done);
        CHECK_INT(among.len, alone.len);
        CHECK(memcmp(alone.canvas, among.canvas, (size_t)alone.len * sizeof(int32_t)) == 0);
        CHECK_INT(among.moved, alone.moved);
    }
}

void test_sched_uniform_refuses_mdlm_naming_remasking(void)
{
    struct gen_params p = {.steps = 8, .remasking = REMASK_MDLM, .temperature = 1, .seed = 1};
    static struct ufake f;
    static struct ucap c;
    char err[200] = "";
    struct sched *s = u_sched(&f);
    CHECK_INT(u_submit(s, 8, p, &c, err, sizeof err), SCHED_EINVAL);
    CHECK(strncmp(err, "remasking", 9) == 0);
    p.remasking = REMASK_LOW_CONFIDENCE;
    CHECK_INT(u_submit(s, 8, p, &c, err, sizeof err), SCHED_EINVAL);
    CHECK(strncmp(err, "remasking", 9) == 0);
    sched_free(s);
}
