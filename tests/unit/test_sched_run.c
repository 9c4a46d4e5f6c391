/* The scheduler end to end over a fake backend: a struct backend whose
 * "model" answers each queried position with a token and confidences that
 * depend only on the row (its first id and length), the position, the step
 * and the seed, and which checks the batch contract on every call. */
#include "engine/sched/sched.h"
#include "tests/unit/check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define V 64
#define MASK 63
#define EOS 62

struct fake {
    int eos_from;      /* positions >= this answer EOS (0: never) */
    int fail;          /* denoise returns an error */
    int calls, max_rows, max_tokens, bad;
};

static float fake_score(int32_t first, int len, int pos)
{
    return 0.05f + 0.9f * (float)rng_u01(1234, (uint64_t)first, (uint64_t)pos, (uint64_t)len);
}

static float fake_margin(int32_t first, int len, int pos)
{
    return (float)rng_u01(777, (uint64_t)first, (uint64_t)pos, (uint64_t)len);
}

static float fake_negent(int32_t first, int len, int pos)
{
    return -(float)rng_u01(888, (uint64_t)first, (uint64_t)pos, (uint64_t)len);
}

static int fake_denoise(void *ctx, const struct denoise_batch *b, char *err, size_t errlen)
{
    struct fake *f = ctx;
    f->calls++;
    if (f->fail) {
        snprintf(err, errlen, "fake failure");
        return -1;
    }
    int tokens = 0, at = 0;
    if (b->n_rows > f->max_rows)
        f->max_rows = b->n_rows;
    for (int r = 0; r < b->n_rows; r++) {
        const struct denoise_row *row = &b->rows[r];
        tokens += row->len;
        if (row->cfg_uncond >= 0) {
            const struct denoise_row *u = &b->rows[row->cfg_uncond];
            if (row->cfg_uncond >= b->n_rows || u->len != row->len || u->n_query != 0 || !(row->cfg_scale > 0))
                f->bad++;
            int more = 0;
            for (int i = 0; i < row->len; i++) {
                if (u->ids[i] != row->ids[i] && u->ids[i] != MASK)
                    f->bad++;
                more += u->ids[i] == MASK && row->ids[i] != MASK;
            }
            if (!more)
                f->bad++;
        }
        for (int q = 0; q < row->n_query; q++) {
            int pos = row->query[q];
            if (pos < 0 || pos >= row->len || row->ids[pos] != MASK || (q && pos <= row->query[q - 1]))
                f->bad++;
            struct denoise_pos *o = &b->out[at++];
            memset(o, 0, sizeof *o);
            int jitter = row->rp.temperature > 0
                             ? (int)(rng_u01(row->rp.seed, row->rp.step, (uint64_t)pos, 0) * 5)
                             : 0;
            o->token = 1 + (pos * 7 + (int)row->rp.step * 3 + row->ids[0] + jitter) % (V - 3);
            if (f->eos_from > 0 && pos >= f->eos_from)
                o->token = EOS;
            o->prob_raw = fake_score(row->ids[0], row->len, pos);
            o->prob = o->prob_raw;
            o->logprob_raw = -1.0f - (float)pos;
            o->margin = fake_margin(row->ids[0], row->len, pos);
            o->neg_entropy = fake_negent(row->ids[0], row->len, pos);
            o->n_top = row->rp.n_logprobs;
            for (int i = 0; i < o->n_top; i++) {
                o->top_ids[i] = o->token + i;
                o->top_logprobs[i] = o->logprob_raw - (float)i;
            }
        }
    }
    if (tokens > f->max_tokens)
        f->max_tokens = tokens;
    return 0;
}

static const struct backend fake_backend = {"fake", NULL, fake_denoise, NULL, NULL, NULL, NULL};

static struct model tiny_model(void)
{
    struct model m;
    memset(&m, 0, sizeof m);
    m.cfg.vocab_size = V;
    m.cfg.mask_id = MASK;
    m.cfg.eos_id = EOS;
    m.cfg.eot_id = -1;
    m.cfg.max_seq = 256;
    return m;
}

/* Everything one request was told. */
#define MAXF 128
#define MAXL 96
struct cap {
    char seq[1024];      /* F frame, D delta, X done */
    int n_seq;
    int n_frames;
    int frame_step[MAXF];
    int32_t ids[MAXF][MAXL];
    uint8_t masked[MAXF][MAXL];
    uint8_t fresh[MAXF][MAXL];
    int block_start[MAXF], block_end[MAXF];
    int len;
    char text[4096];
    size_t text_len;
    char done_text[4096];
    int done, finish, prompt_tokens, completion_tokens, steps, total_steps;
    int n_tokens, n_top;
    float first_logprob;
    int done_at_tick;
    int last_step;
    int order_bad;
};

static int tick;

static void on_event(void *cb_user, const struct sched_event *ev)
{
    (void)cb_user;
    struct cap *c = ev->user;
    if (c->done)
        c->order_bad++;
    if (ev->step < c->last_step)
        c->order_bad++;
    c->last_step = ev->step;
    if (c->n_seq < (int)sizeof c->seq - 1)
        c->seq[c->n_seq++] = ev->kind == SCHED_EV_FRAME ? 'F' : ev->kind == SCHED_EV_DELTA ? 'D' : 'X';
    if (ev->kind == SCHED_EV_FRAME && c->n_frames < MAXF && ev->len <= MAXL) {
        int f = c->n_frames++;
        c->frame_step[f] = ev->step;
        memcpy(c->ids[f], ev->canvas, (size_t)ev->len * sizeof(int32_t));
        memcpy(c->masked[f], ev->masked, (size_t)ev->len);
        memcpy(c->fresh[f], ev->fresh, (size_t)ev->len);
        c->block_start[f] = ev->block_start;
        c->block_end[f] = ev->block_end;
        c->len = ev->len;
    } else if (ev->kind == SCHED_EV_DELTA) {
        if (ev->text_len != strlen(ev->text) || c->text_len + ev->text_len >= sizeof c->text)
            c->order_bad++;
        else {
            memcpy(c->text + c->text_len, ev->text, ev->text_len);
            c->text_len += ev->text_len;
        }
    } else if (ev->kind == SCHED_EV_DONE) {
        c->done = 1;
        c->finish = ev->finish;
        c->prompt_tokens = ev->prompt_tokens;
        c->completion_tokens = ev->completion_tokens;
        c->steps = ev->step;
        c->total_steps = ev->total_steps;
        c->done_at_tick = tick;
        c->n_tokens = ev->n_tokens;
        c->n_top = ev->n_top;
        c->first_logprob = ev->n_tokens ? ev->token_logprobs[0] : 0;
        snprintf(c->done_text, sizeof c->done_text, "%.*s", (int)ev->text_len, ev->text);
    }
}

/* id i decodes to the letter 'a' + i % 26 */
static void *letters_open(void *arg)
{
    (void)arg;
    return malloc(1);
}
static char *letters_push(void *st, const int32_t *ids, int n)
{
    (void)st;
    char *s = malloc((size_t)n + 1);
    for (int i = 0; i < n; i++)
        s[i] = (char)('a' + ids[i] % 26);
    s[n] = 0;
    return s;
}
static char *letters_flush(void *st)
{
    (void)st;
    return calloc(1, 1);
}
static void letters_close(void *st)
{
    free(st);
}
static const struct sched_decoder letters = {letters_open, letters_push, letters_flush, letters_close, NULL};

static struct model g_model;

static struct sched *new_sched(struct fake *f, int max_queue, int max_active, int max_tokens)
{
    g_model = tiny_model();
    struct sched_limits lim = {max_queue, max_active, max_tokens, 0};
    struct sched *s = sched_new(&g_model, &fake_backend, f, &lim, on_event, NULL);
    sched_set_decoder(s, &letters);
    tick = 0;
    return s;
}

static int32_t prompt_a[4] = {5, 6, 7, 8};

static int submit(struct sched *s, const int32_t *prompt, int n_prompt, int span, struct gen_params p,
                  struct cap *c, int frames, uint64_t *id)
{
    struct canvas_seg segs[2] = {{prompt, n_prompt}, {NULL, span}};
    struct gen_request r = {segs, 2, p, NULL, 0, frames, c};
    char err[200];
    int rc = sched_submit(s, &r, id, err, sizeof err);
    if (rc)
        printf("    submit: %s\n", err);
    return rc;
}

static void run_until_idle(struct sched *s, int max_ticks)
{
    struct sched_stats st;
    for (int i = 0; i < max_ticks; i++) {
        tick++;
        sched_step(s);
        sched_get_stats(s, &st);
        if (st.active == 0 && st.queued == 0)
            return;
    }
}

static int seq_ok(const struct cap *c, int frames)
{
    /* per step: [F] [D], and X once at the very end */
    if (c->n_seq == 0 || c->seq[c->n_seq - 1] != 'X')
        return 0;
    for (int i = 0; i < c->n_seq - 1; i++) {
        if (c->seq[i] == 'X')
            return 0;
        if (frames && c->seq[i] == 'D' && (i == 0 || c->seq[i - 1] != 'F'))
            return 0;
    }
    return !c->order_bad;
}

void test_sched_low_confidence_commits_the_most_confident(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap c;
    memset(&c, 0, sizeof c);
    struct gen_params p = {.steps = 8, .block_length = 8, .remasking = REMASK_LOW_CONFIDENCE};
    CHECK_INT(submit(s, prompt_a, 4, 24, p, &c, 1, NULL), 0);
    run_until_idle(s, 100);
    CHECK(c.done);
    CHECK_INT(c.finish, FINISH_LENGTH);
    CHECK_INT(c.n_frames, 6);
    CHECK(seq_ok(&c, 1));
    CHECK_INT(f.bad, 0);
    uint8_t prev[MAXL];
    memset(prev, 0, sizeof prev);
    for (int i = 4; i < 28; i++)
        prev[i] = 1;
    for (int fr = 0; fr < c.n_frames; fr++) {
        int bs = c.block_start[fr], be = c.block_end[fr], nfresh = 0;
        float min_fresh = 2, max_left = -1;
        for (int i = 0; i < c.len; i++) {
            if (c.fresh[fr][i]) {
                nfresh++;
                CHECK(i >= bs && i < be && prev[i]);
                float sc = fake_score(5, 28, i);
                if (sc < min_fresh) min_fresh = sc;
            } else if (c.masked[fr][i] && i >= bs && i < be) {
                float sc = fake_score(5, 28, i);
                if (sc > max_left) max_left = sc;
            }
        }
        /* 24 positions, block 8: 3 blocks, 8 steps -> 2 per block (rounded
         * down), so k = 4 each step */
        CHECK_INT(nfresh, sched_llada_k(8, 2, fr % 2));
        CHECK(min_fresh >= max_left);
        memcpy(prev, c.masked[fr], sizeof prev);
    }
    CHECK_INT(c.steps, 6);
    CHECK_INT(c.total_steps, 6);
    sched_free(s);
}

void test_sched_threshold_commits_at_least_one_and_adapts(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap c;
    memset(&c, 0, sizeof c);
    struct gen_params p = {.steps = 32, .block_length = 16, .threshold = 0.7f};
    CHECK_INT(submit(s, prompt_a, 4, 32, p, &c, 1, NULL), 0);
    run_until_idle(s, 100);
    CHECK(c.done);
    CHECK(seq_ok(&c, 1));
    uint8_t prev[MAXL];
    memset(prev, 0, sizeof prev);
    for (int i = 4; i < 36; i++)
        prev[i] = 1;
    int total = 0;
    for (int fr = 0; fr < c.n_frames; fr++) {
        int bs = c.block_start[fr], be = c.block_end[fr], nfresh = 0, best = -1;
        float best_sc = -1;
        for (int i = bs; i < be; i++)
            if (prev[i] && fake_score(5, 36, i) > best_sc) {
                best_sc = fake_score(5, 36, i);
                best = i;
            }
        for (int i = 0; i < c.len; i++) {
            int want = prev[i] && i >= bs && i < be && (i == best || fake_score(5, 36, i) >= 0.7f);
            CHECK_INT(c.fresh[fr][i], want);
            nfresh += c.fresh[fr][i];
        }
        CHECK(nfresh >= 1);
        total += nfresh;
        memcpy(prev, c.masked[fr], sizeof prev);
    }
    CHECK_INT(total, 32);
    /* scores are uniform on [0.05, 0.95]: about a third pass 0.7, so the
     * first step of a block commits several and the steps adapt */
    CHECK(c.steps < 32);
    CHECK_INT(c.steps, c.n_frames);
    struct sched_stats st;
    sched_get_stats(s, &st);
    CHECK(st.tokens_committed == 32 && st.forwards == (uint64_t)c.steps);
    sched_free(s);
}

static void dream_run(enum remask rule, float (*rank)(int32_t, int, int), int S, int span, struct cap *c)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    memset(c, 0, sizeof *c);
    struct gen_params p = {.steps = S, .remasking = rule, .seed = 3};
    CHECK_INT(submit(s, prompt_a, 4, span, p, c, 1, NULL), 0);
    run_until_idle(s, 200);
    CHECK(c->done);
    CHECK(seq_ok(c, 1));
    CHECK_INT(f.bad, 0);
    uint8_t prev[MAXL];
    memset(prev, 0, sizeof prev);
    for (int i = 4; i < 4 + span; i++)
        prev[i] = 1;
    int m = span;
    for (int fr = 0; fr < c->n_frames; fr++) {
        int nfresh = 0;
        float min_fresh = 2, max_left = -2;
        for (int i = 0; i < c->len; i++) {
            nfresh += c->fresh[fr][i];
            if (rank && c->fresh[fr][i] && rank(5, 4 + span, i) < min_fresh)
                min_fresh = rank(5, 4 + span, i);
            if (rank && c->masked[fr][i] && rank(5, 4 + span, i) > max_left)
                max_left = rank(5, 4 + span, i);
        }
        if (rule == REMASK_ORIGIN) {
            int want = 0;
            float t = sched_dream_t(fr, S, SCHED_DREAM_EPS), sn = sched_dream_t(fr + 1, S, SCHED_DREAM_EPS);
            for (int i = 0; i < c->len; i++)
                if (prev[i])
                    want += fr == S - 1 || rng_u01(3, (uint64_t)fr, (uint64_t)i, SCHED_RNG_ORIGIN) <
                                               (double)(1.0f - sn / t);
            CHECK_INT(nfresh, want);
        } else {
            CHECK_INT(nfresh, sched_dream_n(m, fr, S, SCHED_DREAM_EPS));
            if (nfresh)
                CHECK(min_fresh >= max_left);
        }
        m -= nfresh;
        memcpy(prev, c->masked[fr], sizeof prev);
    }
    CHECK_INT(m, 0);
    CHECK(c->steps <= S && c->steps == c->n_frames);
    sched_free(s);
}

static float score_rank(int32_t first, int len, int pos)
{
    return fake_score(first, len, pos);
}

void test_sched_dream_algorithms_follow_the_schedule(void)
{
    static struct cap c;
    dream_run(REMASK_MASKGIT_PLUS, score_rank, 10, 32, &c);
    /* the counts of torch's reference for S = 10, M = 32 */
    static const int want[10] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 5};
    for (int fr = 0; fr < 10 && fr < c.n_frames; fr++) {
        int n = 0;
        for (int i = 0; i < c.len; i++)
            n += c.fresh[fr][i];
        CHECK_INT(n, want[fr]);
    }
    dream_run(REMASK_TOPK_MARGIN, fake_margin, 10, 32, &c);
    dream_run(REMASK_ENTROPY, fake_negent, 16, 20, &c);
    dream_run(REMASK_ORIGIN, NULL, 8, 40, &c);
}

void test_sched_dream_steps_beyond_tokens_skip_forwards(void)
{
    /* 64 steps over 8 positions: most steps commit 0 and need no forward */
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap c;
    memset(&c, 0, sizeof c);
    struct gen_params p = {.steps = 64, .remasking = REMASK_ENTROPY};
    CHECK_INT(submit(s, prompt_a, 4, 8, p, &c, 0, NULL), 0);
    run_until_idle(s, 200);
    CHECK(c.done);
    CHECK_INT(c.steps, 64);
    CHECK(f.calls > 0 && f.calls <= 9);
    sched_free(s);
}

void test_sched_random_remasking_counts_and_seed(void)
{
    static struct cap a, b, d;
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&d, 0, sizeof d);
    struct gen_params p = {.steps = 5, .remasking = REMASK_RANDOM, .seed = 9, .temperature = 1};
    CHECK_INT(submit(s, prompt_a, 4, 12, p, &a, 1, NULL), 0);
    CHECK_INT(submit(s, prompt_a, 4, 12, p, &b, 1, NULL), 0);
    p.seed = 10;
    CHECK_INT(submit(s, prompt_a, 4, 12, p, &d, 1, NULL), 0);
    run_until_idle(s, 100);
    CHECK(a.done && b.done && d.done);
    CHECK_INT(a.n_frames, 5);
    for (int fr = 0; fr < a.n_frames; fr++) {
        int n = 0;
        for (int i = 0; i < a.len; i++)
            n += a.fresh[fr][i];
        CHECK_INT(n, sched_llada_k(12, 5, fr));
    }
    CHECK(memcmp(a.ids[4], b.ids[4], sizeof a.ids[4]) == 0);
    CHECK(memcmp(a.fresh, b.fresh, sizeof a.fresh) == 0);
    CHECK(memcmp(a.fresh, d.fresh, sizeof a.fresh) != 0);
    CHECK_INT(f.bad, 0);
    sched_free(s);
}

void test_sched_cancel_leaves_at_the_next_step_and_frees(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 1, 4096);
    static struct cap a, b, c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    struct gen_params p = {.steps = 16};
    uint64_t ia, ib, ic;
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &a, 0, &ia), 0);
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &b, 0, &ib), 0);
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &c, 0, &ic), 0);
    CHECK(ia != ib && ib != ic);
    tick++;
    CHECK_INT(sched_step(s), 1); /* max_active 1: a runs, b and c wait */
    sched_cancel(s, ia);         /* active */
    sched_cancel(s, ic);         /* waiting */
    sched_cancel(s, 12345);      /* unknown: ignored */
    tick++;
    CHECK_INT(sched_step(s), 1); /* b admitted and stepped */
    CHECK(a.done && a.finish == FINISH_CANCELLED && a.done_at_tick == 2);
    CHECK(c.done && c.finish == FINISH_CANCELLED && c.done_at_tick == 2);
    CHECK_INT(a.steps, 1);
    CHECK_INT(c.steps, 0);
    CHECK(!b.done);
    sched_cancel(s, ia); /* twice: nothing more */
    run_until_idle(s, 100);
    CHECK(b.done && b.finish == FINISH_LENGTH && b.steps == 16);
    CHECK(seq_ok(&a, 0) && seq_ok(&b, 0) && seq_ok(&c, 0));
    struct sched_stats st;
    sched_get_stats(s, &st);
    CHECK_INT(st.active, 0);
    CHECK_INT(st.queued, 0);
    /* requests still held when the scheduler is freed are freed silently
     * (the ASan run checks that nothing leaks) */
    static struct cap d, e;
    memset(&d, 0, sizeof d);
    memset(&e, 0, sizeof e);
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &d, 0, NULL), 0);
    tick++;
    sched_step(s);
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &e, 0, NULL), 0);
    sched_free(s);
    CHECK(!d.done && !e.done);
}

void test_sched_queue_full_is_refused(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 2, 1, 4096);
    static struct cap c[5];
    memset(c, 0, sizeof c);
    struct gen_params p = {.steps = 4};
    CHECK_INT(submit(s, prompt_a, 4, 4, p, &c[0], 0, NULL), 0);
    CHECK_INT(submit(s, prompt_a, 4, 4, p, &c[1], 0, NULL), 0);
    struct canvas_seg segs[2] = {{prompt_a, 4}, {NULL, 4}};
    struct gen_request r = {segs, 2, p, NULL, 0, 0, &c[2]};
    char err[200] = "";
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), SCHED_EFULL);
    CHECK(strstr(err, "queue") != NULL);
    tick++;
    sched_step(s); /* one admitted: a place in the queue frees */
    CHECK_INT(submit(s, prompt_a, 4, 4, p, &c[3], 0, NULL), 0);
    run_until_idle(s, 100);
    CHECK(c[0].done && c[1].done && c[3].done && !c[2].done);
    sched_free(s);
}

void test_sched_submit_rejects_what_can_never_run(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 4, 4, 40);
    static struct cap c;
    struct gen_params p = {.steps = 4, .cfg_scale = 1.0f};
    struct canvas_seg segs[2] = {{prompt_a, 4}, {NULL, 20}};
    struct gen_request r = {segs, 2, p, NULL, 0, 0, &c};
    char err[200] = "";
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), SCHED_EINVAL);
    CHECK(strstr(err, "max_batch_tokens") != NULL);
    const char *stops[1] = {""};
    r.params.cfg_scale = 0;
    r.stop = stops;
    r.n_stop = 1;
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), SCHED_EINVAL);
    CHECK(strstr(err, "stop[0]") != NULL);
    sched_free(s);
}

/* The settings of the seven neighbours in the batch-invariance test. */
static struct gen_params neighbour(int i)
{
    struct gen_params p = {.steps = 8, .seed = (uint64_t)(100 + i)};
    switch (i) {
    case 0: p.remasking = REMASK_RANDOM; break;
    case 1: p.cfg_scale = 1.5f; p.block_length = 4; break;
    case 2: p.remasking = REMASK_MASKGIT_PLUS; p.temperature = 0.5f; break;
    case 3: p.threshold = 0.8f; p.block_length = 8; break;
    case 4: p.remasking = REMASK_ORIGIN; break;
    case 5: p.remasking = REMASK_ENTROPY; p.alg_temp = 0.3f; break;
    default: p.temperature = 1.0f; p.ban_eos = 1; p.n_logprobs = 3; break;
    }
    return p;
}

void test_sched_same_seed_same_canvas_alone_or_among_seven(void)
{
    struct gen_params pa = {.steps = 12, .block_length = 8, .temperature = 0.8f, .seed = 11};
    static struct cap alone, among, others[7];
    int32_t prompts[7][6];
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 6; j++)
            prompts[i][j] = 1 + (i * 5 + j) % 50;

    struct fake f = {0};
    struct sched *s = new_sched(&f, 16, 16, 4096);
    memset(&alone, 0, sizeof alone);
    CHECK_INT(submit(s, prompt_a, 4, 24, pa, &alone, 1, NULL), 0);
    run_until_idle(s, 100);
    sched_free(s);

    s = new_sched(&f, 16, 16, 4096);
    memset(&among, 0, sizeof among);
    memset(others, 0, sizeof others);
    for (int i = 0; i < 3; i++)
        CHECK_INT(submit(s, prompts[i], 6, 8 + 8 * i, neighbour(i), &others[i], 0, NULL), 0);
    tick++;
    sched_step(s);
    CHECK_INT(submit(s, prompt_a, 4, 24, pa, &among, 1, NULL), 0);
    for (int i = 3; i < 7; i++) {
        tick++;
        sched_step(s);
        CHECK_INT(submit(s, prompts[i], 6, 16, neighbour(i), &others[i], 0, NULL), 0);
    }
    run_until_idle(s, 200);
    CHECK(f.max_rows >= 6);
    CHECK_INT(f.bad, 0);
    for (int i = 0; i < 7; i++)
        CHECK(others[i].done && others[i].finish != FINISH_ERROR);
    CHECK(alone.done && among.done);
    CHECK_INT(among.n_frames, alone.n_frames);
    CHECK(memcmp(alone.ids, among.ids, sizeof alone.ids) == 0);
    CHECK(memcmp(alone.fresh, among.fresh, sizeof alone.fresh) == 0);
    CHECK_STR(among.done_text, alone.done_text);
    CHECK_INT(among.steps, alone.steps);
    CHECK(others[6].n_tokens > 0 && others[6].n_top == 3);
    sched_free(s);
}

void test_sched_old_request_keeps_its_pace_as_new_ones_join(void)
{
    struct gen_params p = {.steps = 10, .block_length = 10};
    static struct cap alone, old, late[12];
    struct fake f = {0};
    struct sched *s = new_sched(&f, 32, 4, 4096);
    memset(&alone, 0, sizeof alone);
    CHECK_INT(submit(s, prompt_a, 4, 20, p, &alone, 0, NULL), 0);
    run_until_idle(s, 100);
    sched_free(s);

    s = new_sched(&f, 32, 4, 4096);
    memset(&old, 0, sizeof old);
    memset(late, 0, sizeof late);
    CHECK_INT(submit(s, prompt_a, 4, 20, p, &old, 0, NULL), 0);
    int next = 0;
    for (int t = 0; t < 200; t++) {
        /* two newcomers every tick while they last, more than max_active holds */
        for (int j = 0; j < 2 && next < 12; j++, next++)
            CHECK_INT(submit(s, prompt_a, 4, 20, p, &late[next], 0, NULL), 0);
        tick++;
        sched_step(s);
    }
    CHECK(old.done && old.steps == alone.steps);
    CHECK_INT(old.done_at_tick, alone.done_at_tick);
    /* FIFO: equal requests finish in arrival order, none starves */
    for (int i = 0; i < 12; i++) {
        CHECK(late[i].done);
        if (i)
            CHECK(late[i].done_at_tick >= late[i - 1].done_at_tick);
    }
    CHECK(f.max_rows <= 4);
    sched_free(s);
}

void test_sched_events_text_eos_and_stop(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap a, b, c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    /* a: no EOS, full span: LENGTH, deltas add up to the text */
    struct gen_params p = {.steps = 16, .block_length = 4, .n_logprobs = 2};
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &a, 1, NULL), 0);
    run_until_idle(s, 100);
    CHECK(seq_ok(&a, 1));
    CHECK_INT(a.finish, FINISH_LENGTH);
    CHECK_INT((int)strlen(a.done_text), 16);
    CHECK_STR(a.text, a.done_text);
    CHECK_INT(a.completion_tokens, 16);
    CHECK_INT(a.prompt_tokens, 4);
    CHECK_INT(a.n_tokens, 16);
    CHECK_INT(a.n_top, 2);
    CHECK_NEAR(a.first_logprob, -5.0, 1e-6); /* the fake's logprob at position 4 */
    /* the text is the final canvas's span decoded */
    for (int i = 0; i < 16; i++)
        CHECK_INT(a.done_text[i], 'a' + a.ids[a.n_frames - 1][4 + i] % 26);

    /* b: the model answers EOS from position 10 on: 6 answer tokens, and the
     * request stops as soon as they and the EOS after them are committed */
    f.eos_from = 10;
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &b, 1, NULL), 0);
    run_until_idle(s, 100);
    CHECK(seq_ok(&b, 1));
    CHECK_INT(b.finish, FINISH_STOP);
    CHECK_INT(b.completion_tokens, 6);
    CHECK_INT((int)strlen(b.done_text), 6);
    CHECK_STR(b.text, b.done_text);
    CHECK(b.steps <= 8); /* blocks of 4 over 16: the second block holds the EOS */
    f.eos_from = 0;

    /* c: a stop string cuts the text and nothing past it is ever sent */
    char stop[3];
    stop[0] = a.done_text[5];
    stop[1] = a.done_text[6];
    stop[2] = 0;
    const char *stops[2] = {"zzzzzz", stop};
    struct canvas_seg segs[2] = {{prompt_a, 4}, {NULL, 16}};
    struct gen_request r = {segs, 2, p, stops, 2, 1, &c};
    char err[200];
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
    run_until_idle(s, 100);
    CHECK(seq_ok(&c, 1));
    CHECK_INT(c.finish, FINISH_STOP);
    const char *cut = strstr(a.done_text, stop);
    CHECK(cut != NULL);
    if (cut)
        CHECK_INT((int)strlen(c.done_text), (int)(cut - a.done_text));
    CHECK_STR(c.text, c.done_text);
    sched_free(s);
}

void test_sched_cfg_adds_a_twin_row_counted_in_the_budget(void)
{
    struct fake f = {0};
    /* two CFG canvases of 20 tokens need 80 tokens: a budget of 60 runs one at a time */
    struct sched *s = new_sched(&f, 8, 8, 60);
    static struct cap a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    struct gen_params p = {.steps = 4, .cfg_scale = 2.0f};
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &a, 0, NULL), 0);
    CHECK_INT(submit(s, prompt_a, 4, 16, p, &b, 0, NULL), 0);
    run_until_idle(s, 100);
    CHECK(a.done && b.done);
    CHECK_INT(f.max_rows, 2);
    CHECK(f.max_tokens <= 60);
    CHECK_INT(f.bad, 0);
    CHECK(b.done_at_tick > a.done_at_tick);
    sched_free(s);
}

void test_sched_infill_keeps_the_suffix(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap c;
    memset(&c, 0, sizeof c);
    int32_t suf[3] = {20, 21, 22};
    struct canvas_seg segs[3] = {{prompt_a, 4}, {NULL, 8}, {suf, 3}};
    struct gen_params p = {.steps = 8};
    struct gen_request r = {segs, 3, p, NULL, 0, 1, &c};
    char err[200];
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
    run_until_idle(s, 100);
    CHECK(c.done && c.finish == FINISH_LENGTH);
    CHECK_INT(c.len, 15);
    CHECK_INT(c.ids[c.n_frames - 1][12], 20);
    CHECK_INT(c.ids[c.n_frames - 1][14], 22);
    CHECK_INT((int)strlen(c.done_text), 8);
    CHECK_INT(c.prompt_tokens, 7);
    sched_free(s);
}

void test_sched_backend_error_ends_the_batch(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap a;
    memset(&a, 0, sizeof a);
    struct gen_params p = {.steps = 4};
    CHECK_INT(submit(s, prompt_a, 4, 8, p, &a, 0, NULL), 0);
    f.fail = 1;
    tick++;
    sched_step(s);
    CHECK(a.done && a.finish == FINISH_ERROR);
    struct sched_stats st;
    sched_get_stats(s, &st);
    CHECK_INT(st.active, 0);
    sched_free(s);
}

struct engine_thread {
    struct sched *s;
    int steps, loops;
};

static void *engine_main(void *arg)
{
    struct engine_thread *e = arg;
    while (sched_wait(e->s)) {
        e->loops++;
        e->steps += sched_step(e->s);
    }
    return NULL;
}

static volatile int threaded_done;
static pthread_mutex_t threaded_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_threaded(void *cb_user, const struct sched_event *ev)
{
    (void)cb_user;
    if (ev->kind == SCHED_EV_DONE) {
        pthread_mutex_lock(&threaded_mu);
        threaded_done++;
        pthread_mutex_unlock(&threaded_mu);
    }
}

void test_sched_engine_thread_waits_and_stops(void)
{
    struct fake f = {0};
    g_model = tiny_model();
    struct sched *s = sched_new(&g_model, &fake_backend, &f, NULL, on_threaded, NULL);
    struct engine_thread e = {s, 0, 0};
    pthread_t th;
    threaded_done = 0;
    pthread_create(&th, NULL, engine_main, &e);
    struct gen_params p = {.steps = 8};
    struct canvas_seg segs[2] = {{prompt_a, 4}, {NULL, 8}};
    struct gen_request r = {segs, 2, p, NULL, 0, 0, NULL};
    char err[200];
    for (int i = 0; i < 5; i++)
        CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&threaded_mu);
        int d = threaded_done;
        pthread_mutex_unlock(&threaded_mu);
        if (d == 5)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    sched_stop(s);
    pthread_join(th, NULL);
    CHECK_INT(threaded_done, 5);
    CHECK(e.steps >= 8);
    /* the thread slept while idle: 5 requests of 8 steps need at most 40
     * ticks (a few more for late arrivals), a busy loop makes thousands */
    CHECK(e.loops <= 60);
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), SCHED_EINVAL);
    sched_free(s);
}

void test_sched_fill_in_the_blanks_reads_each_span_to_its_eos(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap c;
    memset(&c, 0, sizeof c);
    /* [prompt 4][blank 8 at 4..11][given 2][blank 6 at 14..19]; the model
     * answers EOS from position 8 on: the first blank gives 4 tokens, the
     * second none (its first position already answers EOS) */
    int32_t mid[2] = {30, 31};
    struct canvas_seg segs[4] = {{prompt_a, 4}, {NULL, 8}, {mid, 2}, {NULL, 6}};
    struct gen_params p = {.steps = 14};
    struct gen_request r = {segs, 4, p, NULL, 0, 1, &c};
    char err[200];
    f.eos_from = 8;
    CHECK_INT(sched_submit(s, &r, NULL, err, sizeof err), 0);
    run_until_idle(s, 100);
    CHECK(c.done && seq_ok(&c, 1));
    CHECK_INT(c.finish, FINISH_STOP);
    CHECK_INT(c.completion_tokens, 4);
    CHECK_INT((int)strlen(c.done_text), 4);
    CHECK_STR(c.text, c.done_text);
    CHECK_INT(c.prompt_tokens, 6);
    /* the frame's span is the first blank */
    int last = c.n_frames - 1;
    CHECK(last >= 0 && c.ids[last][12] == 30 && c.ids[last][13] == 31);
    for (int i = 0; i < 4 && last >= 0; i++)
        CHECK_INT(c.done_text[i], 'a' + c.ids[last][4 + i] % 26);
    sched_free(s);
}

void test_sched_threshold_with_a_dream_rule_and_cancel_keeps_sent_text(void)
{
    struct fake f = {0};
    struct sched *s = new_sched(&f, 8, 8, 4096);
    static struct cap a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    /* a Dream rule under a threshold ranks by the (filtered) probability */
    struct gen_params p = {.steps = 4, .remasking = REMASK_ENTROPY, .threshold = 0.6f};
    CHECK_INT(submit(s, prompt_a, 4, 24, p, &a, 1, NULL), 0);
    run_until_idle(s, 100);
    CHECK(a.done && a.finish == FINISH_LENGTH);
    CHECK(a.steps > 1 && a.steps < 24);
    int n0 = 0;
    for (int i = 0; i < a.len; i++)
        n0 += a.fresh[0][i];
    int want = 0;
    for (int i = 4; i < 28; i++)
        want += fake_score(5, 28, i) >= 0.6f;
    CHECK_INT(n0, want > 0 ? want : 1);

    /* cancelled mid-way: DONE carries exactly the text already sent */
    struct gen_params q = {.steps = 16, .block_length = 4};
    uint64_t id;
    CHECK_INT(submit(s, prompt_a, 4, 16, q, &b, 0, &id), 0);
    for (int i = 0; i < 6; i++) {
        tick++;
        sched_step(s);
    }
    sched_cancel(s, id);
    tick++;
    sched_step(s);
    CHECK(b.done && b.finish == FINISH_CANCELLED);
    CHECK(b.text_len > 0);
    CHECK_STR(b.done_text, b.text);
    sched_free(s);
}
