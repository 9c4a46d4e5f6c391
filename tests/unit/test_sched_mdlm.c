/* The MDLM/SEDD samplers (engine/sched/sampler_mdlm.c, noise.c) end to end
 * through the scheduler over a fake backend. Its SEDD "model" reports the
 * ideal absorbing score: a masked position's scores sum to 1/expm1(sigma)
 * (the score of a model that knows the clean token's law: p_t(y)/p_t(MASK)
 * summed over y), i.e. logsumexp = -ln(expm1(sigma)). Under that score every
 * sampler unmasks a position between t and s with probability
 * 1 - mc(s)/mc(t), mc = 1 - e^-sigma, so the expected masked count at grid
 * point t_i is M mc(t_i)/mc(1): M t_i (times (1-eps)/(1-eps)) on the
 * log-linear schedule. Counts are checked against that within 4.5 binomial
 * standard deviations (plus one). */
#include "engine/sched/sched.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MV 64
#define MMASK 63
#define MEOS 62
#define MAXCALLS 1200
#define MAXSTEPS 1100
#define MLEN 600

struct mfake {
    int calls;
    int bad;
    float lse_jitter;            /* > 0: the score sum varies by position */
    float sigma[MAXCALLS];       /* the first row's noise level, per call */
    float temp[MAXCALLS];
    int step[MAXCALLS];
};

static double ideal_lse(float sigma)
{
    return -log(expm1((double)sigma));
}

static int mfake_denoise(void *ctx, const struct denoise_batch *b, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct mfake *f = ctx;
    if (f->calls < MAXCALLS) {
        f->sigma[f->calls] = b->rows[0].sigma;
        f->temp[f->calls] = b->rows[0].rp.temperature;
        f->step[f->calls] = (int)b->rows[0].rp.step;
    }
    f->calls++;
    int at = 0;
    for (int r = 0; r < b->n_rows; r++) {
        const struct denoise_row *row = &b->rows[r];
        if (row->rp.banned[0] != MMASK)
            f->bad++;
        for (int q = 0; q < row->n_query; q++) {
            int pos = row->query[q];
            if (pos < 0 || pos >= row->len || row->ids[pos] != MMASK)
                f->bad++;
            struct denoise_pos *o = &b->out[at++];
            memset(o, 0, sizeof *o);
            if (row->rp.temperature > 0)
                o->token = 1 + (int)(rng_u01(row->rp.seed, row->rp.step, (uint64_t)pos, 0) * 60);
            else
                o->token = 1 + pos % 60;
            o->prob = o->prob_raw = 0.5f;
            double lse = ideal_lse(row->sigma);
            if (f->lse_jitter > 0)
                lse += f->lse_jitter * (rng_u01(99, (uint64_t)pos, 0, 0) - 0.5);
            o->logsumexp = (float)lse;
        }
    }
    return 0;
}

static const struct backend mfake_backend = {"mfake", NULL, mfake_denoise, NULL, NULL, NULL, NULL};

struct mcap {
    int n_frames;
    int masked[MAXSTEPS];        /* masked count after each step */
    int fresh[MAXSTEPS];
    int given_bad;
    int done, finish, n_spans;
    struct canvas_span spans[8];
    int32_t canvas[MLEN];
    int len;
    int32_t given[MLEN];         /* -1 where masked at the start */
};

static void mon_event(void *cb_user, const struct sched_event *ev)
{
    (void)cb_user;
    struct mcap *c = ev->user;
    if (ev->kind == SCHED_EV_FRAME && c->n_frames < MAXSTEPS) {
        int m = 0, fr = 0;
        for (int i = 0; i < ev->len; i++) {
            m += ev->masked[i];
            fr += ev->fresh[i];
            if (c->given[i] >= 0 && (ev->masked[i] || ev->canvas[i] != c->given[i]))
                c->given_bad++;
        }
        c->masked[c->n_frames] = m;
        c->fresh[c->n_frames] = fr;
        c->n_frames++;
    } else if (ev->kind == SCHED_EV_DONE) {
        c->done = 1;
        c->finish = ev->finish;
        c->n_spans = ev->n_spans < 8 ? ev->n_spans : 8;
        if (ev->spans)
            memcpy(c->spans, ev->spans, (size_t)c->n_spans * sizeof *c->spans);
        c->len = ev->len;
        if (ev->canvas && ev->len <= MLEN)
            memcpy(c->canvas, ev->canvas, (size_t)ev->len * sizeof(int32_t));
    }
}

static struct model m_model;

static struct sched *m_sched(struct mfake *f, enum arch a, enum noise_kind nk)
{
    memset(&m_model, 0, sizeof m_model);
    m_model.cfg.arch = a;
    m_model.cfg.vocab_size = MV;
    m_model.cfg.mask_id = MMASK;
    m_model.cfg.eos_id = MEOS;
    m_model.cfg.eot_id = -1;
    m_model.cfg.max_seq = 1024;
    m_model.cfg.noise = nk;
    m_model.cfg.noise_eps = 1e-3f;
    m_model.cfg.sigma_min = 1e-3f;
    m_model.cfg.sigma_max = 20.0f;
    m_model.cfg.time_cond = 1;
    struct sched_limits lim = {16, 16, 16384, 0};
    return sched_new(&m_model, &mfake_backend, f, &lim, mon_event, NULL);
}

static void m_run(struct sched *s)
{
    struct sched_stats st;
    for (int i = 0; i < 5000; i++) {
        sched_step(s);
        sched_get_stats(s, &st);
        if (st.active == 0 && st.queued == 0)
            return;
    }
}

static int32_t m_text[16] = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

/* [text 4][mask M]; the capture knows which positions were given. */
static int m_submit(struct sched *s, int M, struct gen_params p, struct mcap *c)
{
    struct canvas_seg segs[2] = {{m_text, 4}, {NULL, M}};
    memset(c, 0, sizeof *c);
    for (int i = 0; i < 4 + M && i < MLEN; i++)
        c->given[i] = i < 4 ? m_text[i] : -1;
    struct gen_request r = {segs, 2, p, NULL, 0, 1, c};
    char err[200] = "";
    int rc = sched_submit(s, &r, NULL, err, sizeof err);
    if (rc)
        printf("    submit: %s\n", err);
    return rc;
}

void test_noise_schedules_match_their_closed_forms(void)
{
    struct noise ll = {NOISE_LOGLINEAR, 1e-3, 0, 0}, ge = {NOISE_GEOMETRIC, 0, 1e-4, 20};
    char err[160];
    CHECK_INT(noise_check(&ll, err, sizeof err), 0);
    CHECK_INT(noise_check(&ge, err, sizeof err), 0);
    struct noise bad = {NOISE_GEOMETRIC, 0, 2, 1};
    CHECK_INT(noise_check(&bad, err, sizeof err), SCHED_EINVAL);
    CHECK_NEAR(noise_sigma(&ll, 0.5), -log(1 - 0.999 * 0.5), 1e-15);
    CHECK_NEAR(noise_sigma(&ll, 0.0), 0.0, 0.0);
    CHECK_NEAR(noise_sigma(&ge, 0.0), 1e-4, 1e-18);
    CHECK_NEAR(noise_sigma(&ge, 1.0), 20.0, 1e-12);
    CHECK_NEAR(noise_sigma(&ge, 0.25), pow(1e-4, 0.75) * pow(20, 0.25), 1e-15);
    for (double t = 0.05; t < 1.0; t += 0.1) {
        /* the rate is the derivative: central differences */
        double h = 1e-6;
        CHECK_NEAR(noise_dsigma(&ll, t), (noise_sigma(&ll, t + h) - noise_sigma(&ll, t - h)) / (2 * h), 1e-6);
        CHECK_NEAR(noise_dsigma(&ge, t), (noise_sigma(&ge, t + h) - noise_sigma(&ge, t - h)) / (2 * h),
                   1e-6 * noise_dsigma(&ge, t));
        CHECK_NEAR(noise_move_chance(&ll, t), 0.999 * t, 1e-15);
    }
    CHECK_NEAR(noise_time(0, 8, 1e-5), 1.0, 0.0);
    CHECK_NEAR(noise_time(8, 8, 1e-5), 1e-5, 0.0);
    CHECK_NEAR(noise_time(3, 8, 1e-5), 1.0 - 3 * (1 - 1e-5) / 8, 1e-15);
    /* with the ideal score all three rules unmask w.p. (t - s)/t on the log-linear schedule */
    for (int i = 0; i < 8; i++) {
        double t = noise_time(i, 8, 1e-5), want = (1 - 1e-5) / 8 / t;
        double S = 1.0 / expm1(noise_sigma(&ll, t));
        CHECK_NEAR(sampler_move_prob(REMASK_MDLM, &ll, i, 8, 1e-5, -1), want, 1e-12);
        CHECK_NEAR(sampler_move_prob(REMASK_SEDD_EULER, &ll, i, 8, 1e-5, S), want, 1e-9);
        CHECK_NEAR(sampler_move_prob(REMASK_SEDD_ANALYTIC, &ll, i, 8, 1e-5, S), want, 1e-9);
        CHECK_NEAR(sampler_known_score(ARCH_MDLM, &ll, t), S, 1e-9 * S);
    }
    /* W above 1 moves for sure; no score never moves */
    CHECK_NEAR(sampler_move_prob(REMASK_SEDD_EULER, &ll, 0, 8, 1e-5, 1e9), 1.0, 0.0);
    CHECK_NEAR(sampler_move_prob(REMASK_SEDD_ANALYTIC, &ll, 0, 8, 1e-5, 0.0), 0.0, 0.0);
    CHECK_NEAR(sampler_move_prob(REMASK_SEDD_ANALYTIC, &ll, 0, 8, 1e-5, NAN), 0.0, 0.0);
}

/* Masked counts after each step against M mc(t_{i+1}) / mc(1). */
static void check_schedule_counts(enum arch a, enum noise_kind nk, enum remask rule, int N, uint64_t seed)
{
    struct mfake f;
    memset(&f, 0, sizeof f);
    struct sched *s = m_sched(&f, a, nk);
    static struct mcap c;
    int M = 512;
    struct gen_params p = {.steps = N, .remasking = rule, .temperature = 1, .seed = seed};
    CHECK_INT(m_submit(s, M, p, &c), 0);
    m_run(s);
    CHECK(c.done);
    CHECK_INT(c.finish, FINISH_LENGTH);
    CHECK_INT(f.bad, 0);
    CHECK_INT(c.given_bad, 0);
    struct noise n;
    noise_from_config(&n, &m_model.cfg);
    int bad = 0;
    for (int i = 0; i < N && i < c.n_frames; i++) {
        double q = noise_move_chance(&n, noise_time(i + 1, N, 1e-5)) / noise_move_chance(&n, 1.0);
        double mean = M * q, sd = sqrt(M * q * (1 - q));
        if (fabs(c.masked[i] - mean) > 4.5 * sd + 1) {
            printf("    arch %d rule %d step %d: %d masked, expected %.1f +- %.1f\n", (int)a, (int)rule, i,
                   c.masked[i], mean, sd);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
    /* the last frame: nothing masked, after N steps or N + 1 (final denoise) */
    CHECK(c.n_frames == N || c.n_frames == N + 1);
    CHECK_INT(c.masked[c.n_frames - 1], 0);
    if (c.n_frames == N + 1)
        CHECK(c.masked[N - 1] > 0);
    sched_free(s);
}

void test_sched_mdlm_masked_count_follows_the_schedule(void)
{
    check_schedule_counts(ARCH_MDLM, NOISE_LOGLINEAR, REMASK_MDLM, 16, 1);
    check_schedule_counts(ARCH_MDLM, NOISE_LOGLINEAR, REMASK_MDLM, 16, 2);
    check_schedule_counts(ARCH_MDLM, NOISE_GEOMETRIC, REMASK_MDLM, 12, 3);
    /* MDLM models under SEDD's samplers: scores p / expm1(sigma) */
    check_schedule_counts(ARCH_MDLM, NOISE_LOGLINEAR, REMASK_SEDD_ANALYTIC, 16, 4);
    check_schedule_counts(ARCH_MDLM, NOISE_GEOMETRIC, REMASK_SEDD_ANALYTIC, 16, 5);
}

void test_sched_sedd_masked_count_follows_the_schedule(void)
{
    check_schedule_counts(ARCH_SEDD, NOISE_LOGLINEAR, REMASK_SEDD_EULER, 16, 11);
    check_schedule_counts(ARCH_SEDD, NOISE_LOGLINEAR, REMASK_SEDD_ANALYTIC, 16, 12);
    check_schedule_counts(ARCH_SEDD, NOISE_GEOMETRIC, REMASK_SEDD_ANALYTIC, 12, 13);
    check_schedule_counts(ARCH_SEDD, NOISE_LOGLINEAR, REMASK_MDLM, 16, 14);
}

void test_sched_sedd_geometric_euler_uses_the_rate(void)
{
    /* Euler on the geometric schedule is not the exact ratio: each step
     * keeps a position masked w.p. 1 - min(1, dt sigma'(t) / expm1(sigma(t))) */
    struct mfake f;
    memset(&f, 0, sizeof f);
    struct sched *s = m_sched(&f, ARCH_SEDD, NOISE_GEOMETRIC);
    static struct mcap c;
    int M = 512, N = 16;
    struct gen_params p = {.steps = N, .remasking = REMASK_SEDD_EULER, .temperature = 1, .seed = 21};
    CHECK_INT(m_submit(s, M, p, &c), 0);
    m_run(s);
    CHECK(c.done);
    struct noise n;
    noise_from_config(&n, &m_model.cfg);
    double keep = 1.0;
    int bad = 0;
    for (int i = 0; i < N && i < c.n_frames; i++) {
        double t = noise_time(i, N, 1e-5), dt = (1 - 1e-5) / N;
        double w = dt * (log(20.0) - log(1e-3)) * noise_sigma(&n, t) / expm1(noise_sigma(&n, t));
        keep *= 1 - (w < 1 ? w : 1);
        double mean = M * keep, sd = sqrt(M * keep * (1 - keep));
        if (fabs(c.masked[i] - mean) > 4.5 * sd + 1)
            bad++;
    }
    CHECK_INT(bad, 0);
    /* every step needs the forward's scores: one forward per step */
    CHECK_INT(f.calls, c.n_frames);
    sched_free(s);
}

void test_sched_mdlm_steps_without_a_move_skip_the_forward(void)
{
    struct mfake f;
    memset(&f, 0, sizeof f);
    struct sched *s = m_sched(&f, ARCH_MDLM, NOISE_LOGLINEAR);
    static struct mcap c;
    int N = 300;
    struct gen_params p = {.steps = N, .remasking = REMASK_MDLM, .temperature = 1, .seed = 5};
    CHECK_INT(m_submit(s, 8, p, &c), 0);
    m_run(s);
    CHECK(c.done);
    CHECK_INT(f.bad, 0);
    int moved = 0;
    for (int i = 0; i < c.n_frames; i++)
        moved += c.fresh[i] > 0;
    /* a forward only at a step where something unmasks, so at most one per
     * position (8), not one per step (300) */
    CHECK_INT(f.calls, moved);
    CHECK(f.calls <= 9);
    struct noise n;
    noise_from_config(&n, &m_model.cfg);
    for (int k = 0; k < f.calls && k < MAXCALLS; k++) {
        /* each forward at sigma(t) of its own step; noise removal: argmax at sigma(t_eps) */
        CHECK_NEAR(f.sigma[k], (float)noise_sigma(&n, noise_time(f.step[k], N, 1e-5)), 1e-6);
        CHECK_NEAR(f.temp[k], f.step[k] == N ? 0.0 : 1.0, 0.0);
    }
    sched_free(s);

    /* SEDD needs its scores at every step */
    memset(&f, 0, sizeof f);
    s = m_sched(&f, ARCH_SEDD, NOISE_LOGLINEAR);
    p.remasking = REMASK_SEDD_ANALYTIC;
    p.steps = 40;
    CHECK_INT(m_submit(s, 8, p, &c), 0);
    m_run(s);
    CHECK(c.done);
    CHECK_INT(f.calls, c.n_frames);
    CHECK(c.n_frames >= 30);
    for (int k = 0; k < f.calls && k < MAXCALLS; k++)
        CHECK_NEAR(f.temp[k], 1.0, 0.0); /* SEDD's final step draws */
    sched_free(s);
}

void test_sched_schedule_rules_keep_given_tokens_in_every_span_layout(void)
{
    static const enum remask rules[3] = {REMASK_MDLM, REMASK_SEDD_EULER, REMASK_SEDD_ANALYTIC};
    int32_t a[3] = {5, 6, 7}, b[2] = {8, 9}, d[4] = {10, 11, 12, 13};
    for (int k = 0; k < 3; k++) {
        struct mfake f;
        memset(&f, 0, sizeof f);
        f.lse_jitter = 2.0f;
        struct sched *s = m_sched(&f, rules[k] == REMASK_MDLM ? ARCH_MDLM : ARCH_SEDD, NOISE_LOGLINEAR);
        static struct mcap c;
        memset(&c, 0, sizeof c);
        /* mask 2, text 3, mask 5, text 2, mask 7, text 4: starts with a blank */
        struct canvas_seg segs[6] = {{NULL, 2}, {a, 3}, {NULL, 5}, {b, 2}, {NULL, 7}, {d, 4}};
        int at = 0;
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < segs[i].n; j++, at++)
                c.given[at] = segs[i].ids ? segs[i].ids[j] : -1;
        struct gen_params p = {.steps = 10, .remasking = rules[k], .temperature = 1, .seed = 9};
        struct gen_request r = {segs, 6, p, NULL, 0, 1, &c};
        char err[200] = "";
        CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
        m_run(s);
        CHECK(c.done);
        CHECK_INT(f.bad, 0);
        CHECK_INT(c.given_bad, 0);
        CHECK_INT(c.len, 23);
        CHECK_INT(c.n_spans, 3);
        CHECK(c.spans[0].start == 0 && c.spans[0].len == 2);
        CHECK(c.spans[1].start == 5 && c.spans[1].len == 5);
        CHECK(c.spans[2].start == 12 && c.spans[2].len == 7);
        for (int i = 0; i < c.len; i++) {
            if (c.given[i] >= 0)
                CHECK_INT(c.canvas[i], c.given[i]);
            else
                CHECK(c.canvas[i] >= 1 && c.canvas[i] <= 60);
        }
        sched_free(s);
    }
}

void test_sched_schedule_rules_are_batch_invariant(void)
{
    static const enum remask rules[3] = {REMASK_MDLM, REMASK_SEDD_EULER, REMASK_SEDD_ANALYTIC};
    for (int k = 0; k < 3; k++) {
        enum arch a = rules[k] == REMASK_MDLM ? ARCH_MDLM : ARCH_SEDD;
        struct gen_params p = {.steps = 24, .remasking = rules[k], .temperature = 1, .seed = 77};
        static struct mcap alone, among, others[5];
        struct mfake f;
        memset(&f, 0, sizeof f);
        f.lse_jitter = 3.0f;
        struct sched *s = m_sched(&f, a, NOISE_LOGLINEAR);
        CHECK_INT(m_submit(s, 40, p, &alone), 0);
        m_run(s);
        sched_free(s);
        memset(&f, 0, sizeof f);
        f.lse_jitter = 3.0f;
        s = m_sched(&f, a, NOISE_LOGLINEAR);
        for (int i = 0; i < 5; i++) {
            struct gen_params q = p;
            q.seed = 100 + (uint64_t)i;
            q.steps = 10 + 7 * i;
            CHECK_INT(m_submit(s, 8 + 9 * i, q, &others[i]), 0);
            if (i == 2)
                CHECK_INT(m_submit(s, 40, p, &among), 0);
        }
        m_run(s);
        sched_free(s);
        CHECK(alone.done && among.done);
        CHECK_INT(among.len, alone.len);
        CHECK(memcmp(alone.canvas, among.canvas, (size_t)alone.len * sizeof(int32_t)) == 0);
        CHECK_INT(among.n_frames, alone.n_frames);
        CHECK(memcmp(alone.masked, among.masked, (size_t)alone.n_frames * sizeof(int)) == 0);
    }
}

void test_sched_schedule_rules_refuse_other_families_and_bad_noise(void)
{
    struct mfake f;
    memset(&f, 0, sizeof f);
    static struct mcap c;
    struct sched *s = m_sched(&f, ARCH_LLADA, NOISE_LOGLINEAR);
    struct gen_params p = {.steps = 8, .remasking = REMASK_MDLM, .temperature = 1};
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    sched_free(s);
    s = m_sched(&f, ARCH_MDLM, NOISE_LOGLINEAR);
    p.remasking = REMASK_LOW_CONFIDENCE;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.remasking = REMASK_ENTROPY;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.remasking = REMASK_MDLM;
    p.t_eps = 1.0f;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.t_eps = -0.5f;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.t_eps = 1e-3f;
    p.threshold = 0.9f;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.threshold = 0;
    p.cache = CACHE_PREFIX;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.cache = CACHE_OFF;
    p.block_length = 4;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.block_length = 8;
    CHECK_INT(m_submit(s, 8, p, &c), 0);
    sched_free(s);
    s = m_sched(&f, ARCH_SEDD, NOISE_GEOMETRIC);
    m_model.cfg.graph_uniform = 1;
    p.block_length = 0;
    p.remasking = REMASK_MDLM; /* the uniform graph has no mask to unmask */
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    p.remasking = REMASK_SEDD_EULER;
    m_model.cfg.graph_uniform = 0;
    m_model.cfg.sigma_min = 0;
    CHECK_INT(m_submit(s, 8, p, &c), SCHED_EINVAL);
    sched_free(s);
}

/* P(move) of a masked position against tests/ref/sampler_ref.py: graph_lib's
 * Absorbing Euler and analytic steps and MDLM's ddpm update in float64
 * torch, with catsample's clamping (the script also checks the move target's
 * law is s_y / S). Columns: rule, noise (log-linear eps 1e-3; geometric
 * 1e-4 .. 20), N, i, t_eps, S, P(move). */
struct sampler_ref_case {
    enum remask rule;
    enum noise_kind noise;
    int N, i;
    double t_eps, S, move;
};

static const struct sampler_ref_case sampler_ref_cases[] = {
    {REMASK_MDLM, NOISE_LOGLINEAR, 16, 0, 1e-05, 0.001001001001001002, 0.062499375000000024},
    {REMASK_MDLM, NOISE_LOGLINEAR, 16, 5, 1e-05, 0.13679845135293064, 0.09090776860105187},
    {REMASK_MDLM, NOISE_LOGLINEAR, 16, 15, 1e-05, 30.02722794783987, 0.9998400239964009},
    {REMASK_MDLM, NOISE_LOGLINEAR, 7, 3, 0.001, 30.017556902393274, 0.24956282787909045},
    {REMASK_MDLM, NOISE_LOGLINEAR, 100, 99, 1e-05, 99.00109901207908, 0.9990009890208789},
    {REMASK_MDLM, NOISE_LOGLINEAR, 100, 50, 0.01, 0.04910901000009908, 0.01960396039603962},
    {REMASK_MDLM, NOISE_GEOMETRIC, 16, 0, 1e-05, 2.061153626686912e-09, 8.903079006550296e-05},
    {REMASK_MDLM, NOISE_GEOMETRIC, 16, 5, 1e-05, 0.5412059038016004, 0.47874538314234727},
    {REMASK_MDLM, NOISE_GEOMETRIC, 16, 15, 1e-05, 9324.366848803911, 0.5336480557624987},
    {REMASK_MDLM, NOISE_GEOMETRIC, 7, 3, 0.001, 352.4312560756542, 0.816971031379705},
    {REMASK_MDLM, NOISE_GEOMETRIC, 100, 99, 1e-05, 8849.37670676278, 0.11489855560154283},
    {REMASK_MDLM, NOISE_GEOMETRIC, 100, 50, 0.01, 1.0270384797940268, 0.11144165805011874},
    {REMASK_SEDD_EULER, NOISE_LOGLINEAR, 16, 0, 1e-05, 0.001001001001001002, 0.062499375000000024},
    {REMASK_SEDD_EULER, NOISE_LOGLINEAR, 16, 5, 1e-05, 0.13679845135293064, 0.02727233058031553},
    {REMASK_SEDD_EULER, NOISE_LOGLINEAR, 16, 15, 1e-05, 30.02722794783987, 1.0},
    {REMASK_SEDD_EULER, NOISE_LOGLINEAR, 7, 3, 0.001, 30.017556902393274, 1.0},
    {REMASK_SEDD_EULER, NOISE_LOGLINEAR, 100, 99, 1e-05, 99.00109901207908, 0.9990009890208787},
    {REMASK_SEDD_EULER, NOISE_LOGLINEAR, 100, 50, 0.01, 0.04910901000009908, 0.000980198019801981},
    {REMASK_SEDD_EULER, NOISE_GEOMETRIC, 16, 0, 1e-05, 2.061153626686912e-09, 3.144792415366027e-08},
    {REMASK_SEDD_EULER, NOISE_GEOMETRIC, 16, 5, 1e-05, 0.5412059038016004, 0.18209114969439022},
    {REMASK_SEDD_EULER, NOISE_GEOMETRIC, 16, 15, 1e-05, 9324.366848803911, 1.0},
    {REMASK_SEDD_EULER, NOISE_GEOMETRIC, 7, 3, 0.001, 352.4312560756542, 1.0},
    {REMASK_SEDD_EULER, NOISE_GEOMETRIC, 100, 99, 1e-05, 8849.37670676278, 0.12205260986454958},
    {REMASK_SEDD_EULER, NOISE_GEOMETRIC, 100, 50, 0.01, 1.0270384797940268, 0.005899538073884436},
    {REMASK_SEDD_ANALYTIC, NOISE_LOGLINEAR, 16, 0, 1e-05, 0.001001001001001002, 0.0624993749999988},
    {REMASK_SEDD_ANALYTIC, NOISE_LOGLINEAR, 16, 5, 1e-05, 0.13679845135293064, 0.02727233058031553},
    {REMASK_SEDD_ANALYTIC, NOISE_LOGLINEAR, 16, 15, 1e-05, 30.02722794783987, 1.0},
    {REMASK_SEDD_ANALYTIC, NOISE_LOGLINEAR, 7, 3, 0.001, 30.017556902393274, 1.0},
    {REMASK_SEDD_ANALYTIC, NOISE_LOGLINEAR, 100, 99, 1e-05, 99.00109901207908, 0.9990009890208684},
    {REMASK_SEDD_ANALYTIC, NOISE_LOGLINEAR, 100, 50, 0.01, 0.04910901000009908, 0.000980198019801981},
    {REMASK_SEDD_ANALYTIC, NOISE_GEOMETRIC, 16, 0, 1e-05, 2.061153626686912e-09, 8.903079006572501e-05},
    {REMASK_SEDD_ANALYTIC, NOISE_GEOMETRIC, 16, 5, 1e-05, 0.5412059038016004, 0.14362361494270415},
    {REMASK_SEDD_ANALYTIC, NOISE_GEOMETRIC, 16, 15, 1e-05, 9324.366848803911, 1.0},
    {REMASK_SEDD_ANALYTIC, NOISE_GEOMETRIC, 7, 3, 0.001, 352.4312560756542, 1.0},
    {REMASK_SEDD_ANALYTIC, NOISE_GEOMETRIC, 100, 99, 1e-05, 8849.37670676278, 0.11489855560176132},
    {REMASK_SEDD_ANALYTIC, NOISE_GEOMETRIC, 100, 50, 0.01, 1.0270384797940268, 0.0055720829025058816},
};

void test_sched_move_probabilities_match_the_reference_samplers(void)
{
    int n = (int)(sizeof sampler_ref_cases / sizeof sampler_ref_cases[0]);
    for (int k = 0; k < n; k++) {
        const struct sampler_ref_case *c = &sampler_ref_cases[k];
        struct noise nz = {c->noise, 1e-3, 1e-4, 20};
        double S = c->rule == REMASK_MDLM ? -1.0 : c->S;
        double got = sampler_move_prob(c->rule, &nz, c->i, c->N, c->t_eps, S);
        if (!CHECK_NEAR(got, c->move, 1e-9 * c->move + 1e-15))
            printf("    case %d: rule %d noise %d N %d i %d: %.17g, want %.17g\n", k, (int)c->rule, (int)c->noise,
                   c->N, c->i, got, c->move);
    }
}
