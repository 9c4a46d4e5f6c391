/* The scheduler room's pieces on their own: step schedules, selection rules,
 * canvas checks and the answer text (stop strings, UTF-8 hold-back). */
#include "engine/sched/sched.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_sched_llada_k_formula(void)
{
    /* LLaDA get_num_transfer_tokens: base = M // S, the first M % S steps get one more */
    int want[4] = {3, 3, 2, 2};
    for (int i = 0; i < 4; i++)
        CHECK_INT(sched_llada_k(10, 4, i), want[i]);
    for (int M = 1; M <= 64; M += 7)
        for (int S = 1; S <= M; S += 3) {
            int sum = 0, lo = M, hi = 0;
            for (int i = 0; i < S; i++) {
                int k = sched_llada_k(M, S, i);
                sum += k;
                if (k < lo) lo = k;
                if (k > hi) hi = k;
                CHECK(i == 0 || k <= sched_llada_k(M, S, i - 1));
            }
            CHECK_INT(sum, M);
            CHECK(hi - lo <= 1);
        }
}

void test_sched_dream_counts_match_torch(void)
{
    /* References: torch 1.13, ts = torch.linspace(1, 1e-3, S + 1); per step
     * n = int(mask_index.sum() / 1 * (1 - s / t)) (all at the last step),
     * with the masked count decreasing by n each step (Dream's _sample). */
    static const int s8m7[] = {0, 0, 1, 1, 1, 1, 1, 2};
    static const int s10m32[] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 5};
    static const int s16m100[] = {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 8};
    static const int s32m128[] = {3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                                  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5};
    struct {
        int S, M;
        const int *want;
    } cases[] = {{8, 7, s8m7}, {10, 32, s10m32}, {16, 100, s16m100}, {32, 128, s32m128}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int m = cases[c].M;
        for (int i = 0; i < cases[c].S; i++) {
            int n = sched_dream_n(m, i, cases[c].S, SCHED_DREAM_EPS);
            if (!CHECK_INT(n, cases[c].want[i]))
                break;
            m -= n;
        }
        CHECK_INT(m, 0);
    }
    CHECK_NEAR(sched_dream_t(0, 16, 1e-3f), 1.0, 0);
    CHECK_NEAR(sched_dream_t(16, 16, 1e-3f), 1e-3f, 0);
}

void test_sched_threshold_keeps_one_and_all_above(void)
{
    struct sched_cand c[5] = {
        {.pos = 4, .conf = 0.2f}, {.pos = 1, .conf = 0.95f}, {.pos = 2, .conf = 0.5f},
        {.pos = 0, .conf = 0.91f}, {.pos = 3, .conf = 0.9f},
    };
    sampler_sort(c, 5);
    CHECK_INT(c[0].pos, 1);
    CHECK_INT(c[1].pos, 0);
    CHECK_INT(sampler_threshold_count(c, 5, 0.9f), 3);
    CHECK_INT(sampler_threshold_count(c, 5, 0.99f), 1); /* at least the most confident */
    CHECK_INT(sampler_threshold_count(c, 0, 0.5f), 0);
}

void test_sched_sort_ties_go_to_lower_position(void)
{
    struct sched_cand c[4] = {{.pos = 9, .conf = 0.5f}, {.pos = 3, .conf = 0.5f},
                              {.pos = 5, .conf = 0.7f}, {.pos = 1, .conf = 0.5f}};
    sampler_sort(c, 4);
    CHECK_INT(c[0].pos, 5);
    CHECK_INT(c[1].pos, 1);
    CHECK_INT(c[2].pos, 3);
    CHECK_INT(c[3].pos, 9);
}

void test_sched_random_pick_is_keyed_and_sorted(void)
{
    int32_t pos[20], a[20], b[20], c[20];
    for (int i = 0; i < 20; i++)
        pos[i] = 10 + i;
    CHECK_INT(sampler_llada_random(7, 3, pos, 20, 6, a), 6);
    CHECK_INT(sampler_llada_random(7, 3, pos, 20, 6, b), 6);
    CHECK(memcmp(a, b, sizeof(int32_t) * 6) == 0);
    for (int i = 1; i < 6; i++)
        CHECK(a[i] > a[i - 1]);
    /* the chosen are those with the largest draws */
    for (int i = 0; i < 20; i++) {
        int chosen = 0;
        for (int j = 0; j < 6; j++)
            chosen |= a[j] == pos[i];
        if (chosen)
            continue;
        for (int j = 0; j < 6; j++)
            CHECK(rng_u01(7, 3, (uint64_t)pos[i], SCHED_RNG_RANDOM) <
                  rng_u01(7, 3, (uint64_t)a[j], SCHED_RNG_RANDOM));
    }
    /* another seed picks another set (20 choose 6 = 38760 sets) */
    sampler_llada_random(8, 3, pos, 20, 6, c);
    CHECK(memcmp(a, c, sizeof(int32_t) * 6) != 0);
    /* a subset of the positions keeps each position's draw */
    CHECK_INT(sampler_llada_random(7, 3, pos, 20, 25, c), 20);
}

void test_sched_origin_unmasks_with_one_minus_s_over_t(void)
{
    int32_t pos[4000], out[4000];
    for (int i = 0; i < 4000; i++)
        pos[i] = i;
    int S = 4;
    float t = sched_dream_t(1, S, SCHED_DREAM_EPS), s = sched_dream_t(2, S, SCHED_DREAM_EPS);
    int k = sampler_dream_origin(5, 1, 1, S, pos, 4000, out);
    /* 1 - s/t = 1/3 here; binomial sd over 4000 is 30, so 150 is 5 sigma */
    CHECK_NEAR(k, 4000.0 * (1.0 - s / t), 150);
    CHECK_INT(sampler_dream_origin(5, 3, S - 1, S, pos, 4000, out), 4000);
    for (int j = 1; j < k; j++)
        CHECK(out[j] > out[j - 1]);
}

void test_sched_dream_alg_temp_draws_by_weight(void)
{
    /* one position far more confident than the rest: with a small alg_temp it
     * is nearly always drawn first; with alg_temp 0 it is always first */
    int first = 0;
    for (int trial = 0; trial < 200; trial++) {
        struct sched_cand c[8];
        for (int j = 0; j < 8; j++) {
            c[j].pos = j;
            c[j].conf = j == 5 ? 0.99f : 0.1f;
        }
        CHECK_INT(sampler_dream_choose(c, 8, 2, 0.1f, 42, trial), 2);
        first += c[0].pos == 5 || c[1].pos == 5;
    }
    /* weight of position 5: e^9.9 / (e^9.9 + 7 e^1) ~ 0.9996 per draw */
    CHECK(first >= 195);
    struct sched_cand d[3] = {{.pos = 0, .conf = 0.2f}, {.pos = 1, .conf = 0.7f}, {.pos = 2, .conf = 0.4f}};
    CHECK_INT(sampler_dream_choose(d, 3, 5, 0.0f, 1, 1), 3);
    CHECK_INT(d[0].pos, 1);
    CHECK_INT(d[1].pos, 2);
}

static struct model_config tiny_cfg(void)
{
    struct model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = 64;
    cfg.mask_id = 63;
    cfg.eos_id = 62;
    cfg.eot_id = -1;
    cfg.max_seq = 100;
    return cfg;
}

void test_sched_canvas_infill_and_blocks(void)
{
    struct model_config cfg = tiny_cfg();
    int32_t pre[3] = {1, 2, 3}, suf[2] = {4, 5};
    struct canvas_seg segs[3] = {{pre, 3}, {NULL, 8}, {suf, 2}};
    struct gen_params p = {.steps = 8, .block_length = 4};
    struct canvas c;
    char err[200];
    CHECK_INT(canvas_build(&c, segs, 3, &p, &cfg, 1000, err, sizeof err), 0);
    CHECK_INT(c.len, 13);
    CHECK_INT(c.n_gen, 8);
    CHECK_INT(c.n_given, 5);
    CHECK_INT(c.n_blocks, 2);
    CHECK_INT(c.steps_per_block, 4);
    CHECK_INT(c.ids[3], 63);
    CHECK_INT(c.ids[11], 4);
    CHECK(c.given[12] && !c.given[10] && c.masked[10]);
    int s, e;
    canvas_block_bounds(&c, &s, &e);
    CHECK_INT(s, 3);
    CHECK_INT(e, 7);
    int32_t m[16];
    CHECK_INT(canvas_block_masked(&c, m), 4);
    CHECK_INT(m[0], 3);
    canvas_free(&c);

    /* two blanks: blocks run over the masked positions in order */
    struct canvas_seg fill[4] = {{NULL, 2}, {pre, 3}, {NULL, 2}, {suf, 2}};
    p.block_length = 4;
    p.steps = 6;
    CHECK_INT(canvas_build(&c, fill, 4, &p, &cfg, 1000, err, sizeof err), 0);
    CHECK_INT(c.n_spans, 2);
    canvas_block_bounds(&c, &s, &e);
    CHECK_INT(s, 0);
    CHECK_INT(e, 7);
    /* LLaDA rules never plan more steps in a block than it has positions */
    CHECK_INT(c.steps_per_block, 4);
    canvas_free(&c);

    p.block_length = 2;
    p.steps = 7; /* 8 positions, 4 blocks: 7 steps round down to 1 per block */
    CHECK_INT(canvas_build(&c, segs, 3, &p, &cfg, 1000, err, sizeof err), 0);
    CHECK_INT(c.steps_per_block, 1);
    canvas_free(&c);
}

static void expect_einval(const struct canvas_seg *segs, int n, struct gen_params p, int max_canvas,
                          const char *field)
{
    struct model_config cfg = tiny_cfg();
    struct canvas c;
    char err[200] = "";
    CHECK_INT(canvas_build(&c, segs, n, &p, &cfg, max_canvas, err, sizeof err), SCHED_EINVAL);
    if (!CHECK(strstr(err, field) != NULL))
        printf("    message was: %s (want it to name %s)\n", err, field);
}

void test_sched_canvas_rejects_bad_requests(void)
{
    int32_t pre[3] = {1, 2, 3}, bad[2] = {1, 63}, big[1] = {64};
    struct canvas_seg ok[2] = {{pre, 3}, {NULL, 8}};
    struct gen_params p = {.steps = 8};
    struct gen_params q = p;
    q.block_length = 3;
    expect_einval(ok, 2, q, 1000, "block_length");
    q = p;
    q.gen_length = 16;
    expect_einval(ok, 2, q, 1000, "gen_length");
    q = p;
    q.steps = 0;
    expect_einval(ok, 2, q, 1000, "steps");
    q = p;
    q.steps = SCHED_MAX_STEPS + 1;
    expect_einval(ok, 2, q, 1000, "steps");
    q = p;
    q.remasking = REMASK_MDLM;
    expect_einval(ok, 2, q, 1000, "remasking");
    q = p;
    q.temperature = -1;
    expect_einval(ok, 2, q, 1000, "temperature");
    q = p;
    q.threshold = 1.5f;
    expect_einval(ok, 2, q, 1000, "threshold");
    expect_einval(ok, 2, p, 10, "limit");
    struct canvas_seg nomask[1] = {{pre, 3}};
    expect_einval(nomask, 1, p, 1000, "no masked");
    struct canvas_seg maskid[2] = {{bad, 2}, {NULL, 8}};
    expect_einval(maskid, 2, p, 1000, "segs[0].ids[1]");
    struct canvas_seg outside[2] = {{big, 1}, {NULL, 8}};
    expect_einval(outside, 2, p, 1000, "vocabulary");
    struct canvas_seg toolong[2] = {{pre, 3}, {NULL, 98}};
    expect_einval(toolong, 2, p, 1000, "limit"); /* the model's max_seq is 100 */
    /* a threshold needs no steps */
    q = p;
    q.steps = 0;
    q.threshold = 0.9f;
    struct model_config cfg = tiny_cfg();
    struct canvas c;
    char err[200];
    CHECK_INT(canvas_build(&c, ok, 2, &q, &cfg, 1000, err, sizeof err), 0);
    canvas_free(&c);
}

/* A decoder for tests: id i is the letter 'a' + i % 26, except id 40 which is
 * the two-byte "é" and id 41 which is the three-byte "€". */
static void *letters_open(void *arg)
{
    (void)arg;
    return malloc(1);
}
static char *letters_push(void *st, const int32_t *ids, int n)
{
    (void)st;
    char *s = malloc((size_t)n * 3 + 1), *o = s;
    for (int i = 0; i < n; i++) {
        if (ids[i] == 40) {
            memcpy(o, "\xc3\xa9", 2);
            o += 2;
        } else if (ids[i] == 41) {
            memcpy(o, "\xe2\x82\xac", 3);
            o += 3;
        } else {
            *o++ = (char)('a' + ids[i] % 26);
        }
    }
    *o = 0;
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

/* commits positions [from, to) of c with ids */
static void commit_range(struct canvas *c, int from, int to, const int32_t *ids)
{
    for (int i = from; i < to; i++) {
        c->ids[i] = ids[i];
        c->masked[i] = 0;
    }
}

void test_sched_text_holds_back_what_a_stop_string_could_cut(void)
{
    struct model_config cfg = tiny_cfg();
    int32_t pre[1] = {1};
    struct canvas_seg segs[2] = {{pre, 1}, {NULL, 10}};
    struct gen_params p = {.steps = 10};
    struct canvas c;
    char err[100];
    CHECK_INT(canvas_build(&c, segs, 2, &p, &cfg, 1000, err, sizeof err), 0);
    char *stops[1] = {"xyz"};
    struct text_rules r = {{62, -1}, stops, 1, 3};
    struct sched_text t;
    CHECK_INT(text_init(&t, &letters), 0);
    /* answer ids: h e l x y z ... ('a' + id) */
    int32_t ids[11] = {1, 7, 4, 11, 23, 24, 25, 1, 2, 3, 4};
    size_t from, to;
    commit_range(&c, 1, 5, ids); /* "helx" */
    CHECK_INT(text_update(&t, &letters, &c, &r), 0);
    text_take_delta(&t, &r, &from, &to);
    CHECK_INT((int)from, 0);
    CHECK_INT((int)to, 2); /* "he": a stop string may begin in the last 2 bytes */
    CHECK(!t.final);
    commit_range(&c, 5, 7, ids); /* "helxyz" */
    CHECK_INT(text_update(&t, &letters, &c, &r), 0);
    CHECK(t.final && t.stop_hit);
    CHECK_STR(t.buf, "hel");
    text_take_delta(&t, &r, &from, &to);
    CHECK_INT((int)from, 2);
    CHECK_INT((int)to, 3);
    text_free(&t, &letters);
    canvas_free(&c);
}

void test_sched_text_never_splits_a_character(void)
{
    struct model_config cfg = tiny_cfg();
    struct canvas_seg segs[1] = {{NULL, 6}};
    struct gen_params p = {.steps = 6};
    struct canvas c;
    char err[100];
    CHECK_INT(canvas_build(&c, segs, 1, &p, &cfg, 1000, err, sizeof err), 0);
    char *stops[1] = {"qq"};
    struct text_rules r = {{62, -1}, stops, 1, 2};
    struct sched_text t;
    CHECK_INT(text_init(&t, &letters), 0);
    int32_t ids[6] = {0, 41, 40, 62, 5, 5};
    size_t from, to;
    commit_range(&c, 0, 2, ids); /* "a€": 4 bytes, hold back 1 would split the € */
    CHECK_INT(text_update(&t, &letters, &c, &r), 0);
    text_take_delta(&t, &r, &from, &to);
    CHECK_INT((int)to, 1);
    commit_range(&c, 2, 6, ids); /* then é and EOS: settled, the rest ignored */
    CHECK_INT(text_update(&t, &letters, &c, &r), 0);
    CHECK(t.final && t.eos_hit && !t.stop_hit);
    CHECK_INT(t.n_tokens, 3);
    text_take_delta(&t, &r, &from, &to);
    CHECK_INT((int)from, 1);
    CHECK_INT((int)to, 6);
    CHECK_STR(t.buf, "a\xe2\x82\xac\xc3\xa9");
    text_free(&t, &letters);
    canvas_free(&c);
}

void test_sched_text_settles_at_eos_before_the_tail(void)
{
    struct model_config cfg = tiny_cfg();
    struct canvas_seg segs[1] = {{NULL, 8}};
    struct gen_params p = {.steps = 8};
    struct canvas c;
    char err[100];
    CHECK_INT(canvas_build(&c, segs, 1, &p, &cfg, 1000, err, sizeof err), 0);
    struct text_rules r = {{62, -1}, NULL, 0, 0};
    struct sched_text t;
    CHECK_INT(text_init(&t, &letters), 0);
    int32_t ids[8] = {2, 62, 0, 0, 0, 0, 0, 0};
    commit_range(&c, 1, 2, ids); /* EOS committed, but position 0 still masked */
    CHECK_INT(text_update(&t, &letters, &c, &r), 0);
    CHECK(!t.final);
    commit_range(&c, 0, 1, ids); /* now "c" EOS: positions 2..7 cannot matter */
    CHECK_INT(text_update(&t, &letters, &c, &r), 0);
    CHECK(t.final && t.eos_hit);
    CHECK_STR(t.buf, "c");
    text_free(&t, &letters);
    canvas_free(&c);
}
