/* The canvas of one request: given tokens frozen, masked spans to fill, the
 * blocks over the masked positions, and the checks that make a request
 * runnable before it is accepted. */
#include "engine/sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_dream_rule(enum remask r)
{
    return r == REMASK_ORIGIN || r == REMASK_MASKGIT_PLUS || r == REMASK_TOPK_MARGIN ||
           r == REMASK_ENTROPY;
}

static int check_params(const struct gen_params *p, char *err, size_t errlen)
{
    if (!(p->remasking == REMASK_LOW_CONFIDENCE || p->remasking == REMASK_RANDOM ||
          is_dream_rule(p->remasking) || sampler_is_schedule(p->remasking))) {
        snprintf(err, errlen, "remasking: unknown rule %d", (int)p->remasking);
        return SCHED_EINVAL;
    }
    if (!(p->temperature >= 0.0f)) {
        snprintf(err, errlen, "temperature must be >= 0");
        return SCHED_EINVAL;
    }
    if (!(p->top_p >= 0.0f)) {
        snprintf(err, errlen, "top_p must be in (0, 1] (0: off)");
        return SCHED_EINVAL;
    }
    if (p->top_k < 0) {
        snprintf(err, errlen, "top_k must be >= 0");
        return SCHED_EINVAL;
    }
    if (!(p->alg_temp >= 0.0f)) {
        snprintf(err, errlen, "alg_temp must be >= 0");
        return SCHED_EINVAL;
    }
    if (!(p->threshold >= 0.0f && p->threshold <= 1.0f)) {
        snprintf(err, errlen, "threshold must be in [0, 1]");
        return SCHED_EINVAL;
    }
    if (!(p->cfg_scale >= 0.0f)) {
        snprintf(err, errlen, "cfg_scale must be >= 0");
        return SCHED_EINVAL;
    }
    if (p->n_logprobs < 0 || p->n_logprobs > REDUCE_MAX_TOP) {
        snprintf(err, errlen, "n_logprobs must be in [0, %d]", REDUCE_MAX_TOP);
        return SCHED_EINVAL;
    }
    if (p->steps <= 0 && p->threshold <= 0.0f) {
        snprintf(err, errlen, "steps must be >= 1");
        return SCHED_EINVAL;
    }
    if (p->steps > SCHED_MAX_STEPS) {
        snprintf(err, errlen, "steps must be <= %d", SCHED_MAX_STEPS);
        return SCHED_EINVAL;
    }
    if (p->block_length < 0 || p->gen_length < 0) {
        snprintf(err, errlen, "%s must be >= 0", p->block_length < 0 ? "block_length" : "gen_length");
        return SCHED_EINVAL;
    }
    return 0;
}

static int alloc_arrays(struct canvas *c)
{
    size_t n = (size_t)c->len;
    c->ids = malloc(n * sizeof *c->ids);
    c->masked = calloc(n, 1);
    c->given = calloc(n, 1);
    c->fresh = calloc(n, 1);
    c->conf = calloc(n, sizeof *c->conf);
    c->order = malloc(n * sizeof *c->order);
    return c->ids && c->masked && c->given && c->fresh && c->conf && c->order ? 0 : -1;
}

int32_t canvas_uniform_token(uint64_t seed, int pos, int vocab)
{
    int32_t y = (int32_t)(rng_u01(seed, 0, (uint64_t)pos, SCHED_RNG_UNIFORM_START) * (double)vocab);
    return y < vocab ? y : vocab - 1;
}

int canvas_build(struct canvas *c, const struct canvas_seg *segs, int n_segs,
                 const struct gen_params *p, const struct model_config *cfg, int max_canvas,
                 char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int rc = check_params(p, err, errlen);
    if (rc)
        return rc;
    /* SEDD's uniform graph has no mask: its spans start as random tokens */
    int uniform = cfg->graph_uniform && cfg->arch == ARCH_SEDD;
    if (!uniform && (cfg->mask_id < 0 || cfg->mask_id >= cfg->vocab_size)) {
        snprintf(err, errlen, "model: no mask token, it cannot denoise");
        return SCHED_EINVAL;
    }
    if (!segs || n_segs <= 0) {
        snprintf(err, errlen, "segs: the canvas is empty");
        return SCHED_EINVAL;
    }
    long long total = 0, n_masked = 0;
    int n_spans = 0;
    for (int i = 0; i < n_segs; i++) {
        if (segs[i].n < 0) {
            snprintf(err, errlen, "segs[%d].n is negative", i);
            return SCHED_EINVAL;
        }
        if (segs[i].ids) {
            for (int j = 0; j < segs[i].n; j++) {
                int32_t id = segs[i].ids[j];
                if (id < 0 || id >= cfg->vocab_size) {
                    snprintf(err, errlen, "segs[%d].ids[%d] = %d is outside the vocabulary (%d)", i,
                             j, (int)id, cfg->vocab_size);
                    return SCHED_EINVAL;
                }
                if (id == cfg->mask_id) {
                    snprintf(err, errlen, "segs[%d].ids[%d] is the mask token; give a masked span", i, j);
                    return SCHED_EINVAL;
                }
            }
        } else if (segs[i].n > 0) {
            n_masked += segs[i].n;
            n_spans++;
        }
        total += segs[i].n;
    }
    if (n_masked == 0) {
        snprintf(err, errlen, "segs: no masked position to generate");
        return SCHED_EINVAL;
    }
    long long limit = max_canvas;
    if (cfg->max_seq > 0 && cfg->max_seq < limit)
        limit = cfg->max_seq;
    if (total > limit) {
        snprintf(err, errlen, "canvas of %lld tokens is longer than the limit (%lld)", total, limit);
        return SCHED_EINVAL;
    }
    if (p->gen_length != 0 && p->gen_length != n_masked) {
        snprintf(err, errlen, "gen_length (%d) differs from the masked spans' total (%lld)",
                 p->gen_length, n_masked);
        return SCHED_EINVAL;
    }
    rc = sampler_check(p, cfg, (int)n_masked, err, errlen);
    if (rc)
        return rc;
    int block_len = p->block_length ? p->block_length : (int)n_masked;
    if (n_masked % block_len != 0) {
        snprintf(err, errlen, "gen_length (%lld) is not a multiple of block_length (%d)", n_masked,
                 block_len);
        return SCHED_EINVAL;
    }

    c->len = (int)total;
    c->uniform = uniform;
    c->n_gen = (int)n_masked;
    c->block_len = block_len;
    c->n_blocks = c->n_gen / block_len;
    c->spans = calloc((size_t)n_spans, sizeof *c->spans);
    if (alloc_arrays(c) || !c->spans) {
        canvas_free(c);
        snprintf(err, errlen, "out of memory for a canvas of %d tokens", c->len);
        return -1;
    }
    int at = 0, g = 0;
    for (int i = 0; i < n_segs; i++) {
        if (segs[i].ids) {
            memcpy(c->ids + at, segs[i].ids, (size_t)segs[i].n * sizeof *c->ids);
            memset(c->given + at, 1, (size_t)segs[i].n);
            c->n_given += segs[i].n;
        } else if (segs[i].n > 0) {
            c->spans[c->n_spans].start = at;
            c->spans[c->n_spans].len = segs[i].n;
            c->n_spans++;
            for (int j = 0; j < segs[i].n; j++) {
                c->ids[at + j] = uniform ? canvas_uniform_token(p->seed, at + j, cfg->vocab_size) : cfg->mask_id;
                c->masked[at + j] = 1;
                c->order[g++] = at + j;
            }
        }
        at += segs[i].n;
    }

    int steps = p->steps;
    int spb = steps / c->n_blocks;
    if (spb < 1)
        spb = 1;
    if ((p->remasking == REMASK_LOW_CONFIDENCE || p->remasking == REMASK_RANDOM) && spb > block_len)
        spb = block_len;
    c->steps_per_block = spb;
    canvas_block_bounds(c, &c->shown_start, &c->shown_end);
    return 0;
}

void canvas_free(struct canvas *c)
{
    free(c->ids);
    free(c->masked);
    free(c->given);
    free(c->fresh);
    free(c->conf);
    free(c->order);
    free(c->spans);
    memset(c, 0, sizeof *c);
}

void canvas_block_bounds(const struct canvas *c, int *start, int *end)
{
    int b = c->block < c->n_blocks ? c->block : c->n_blocks - 1;
    *start = c->order[b * c->block_len];
    *end = c->order[(b + 1) * c->block_len - 1] + 1;
}

int canvas_block_masked(const struct canvas *c, int32_t *out)
{
    int n = 0;
    if (c->block >= c->n_blocks)
        return 0;
    for (int j = c->block * c->block_len; j < (c->block + 1) * c->block_len; j++)
        if (c->masked[c->order[j]])
            out[n++] = c->order[j];
    return n;
}

int canvas_n_masked(const struct canvas *c)
{
    int n = 0;
    for (int j = 0; j < c->n_gen; j++)
        n += c->masked[c->order[j]];
    return n;
}
