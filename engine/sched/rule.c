/* One denoising step of one request: which positions to ask the backend
 * about (plan), how its rows look (rows), and which answers to keep (commit). */
#include "engine/sched/sched.h"

#include <math.h>
#include <string.h>

static int is_llada_rule(enum remask r)
{
    return r == REMASK_LOW_CONFIDENCE || r == REMASK_RANDOM;
}

int rule_plan(struct sched_req *r)
{
    struct canvas *c = &r->cv;
    const struct gen_params *p = &r->p;
    memset(c->fresh, 0, (size_t)c->len);
    r->n_query = 0;
    r->n_pick = 0;
    if (c->block >= c->n_blocks)
        return 0;
    canvas_block_bounds(c, &c->shown_start, &c->shown_end);
    int n = canvas_block_masked(c, r->query);
    if (sampler_is_schedule(p->remasking))
        return sampler_sched_plan(r, n);
    int S = c->steps_per_block;
    int last = c->bstep >= S - 1;
    if (p->threshold > 0.0f) {
        r->n_query = n;
    } else if (p->remasking == REMASK_LOW_CONFIDENCE) {
        /* every position of a block is masked at its start, so M = block_len */
        r->n_pick = last ? n : sched_llada_k(c->block_len, S, c->bstep);
        r->n_query = n;
    } else if (p->remasking == REMASK_RANDOM) {
        /* the choice needs no model output: ask only about the chosen */
        int k = last ? n : sched_llada_k(c->block_len, S, c->bstep);
        int q = sampler_llada_random(p->seed, c->step, r->query, n, k, r->query);
        if (q < 0)
            return -1;
        r->n_query = q;
        r->n_pick = q;
    } else if (p->remasking == REMASK_ORIGIN) {
        r->n_query = sampler_dream_origin(p->seed, c->step, c->bstep, S, r->query, n, r->query);
        r->n_pick = r->n_query;
    } else {
        r->n_pick = sched_dream_n(n, c->bstep, S, SCHED_DREAM_EPS);
        /* a step that commits nothing needs no answers */
        r->n_query = r->n_pick > 0 ? n : 0;
    }
    return r->n_query;
}

void rule_rows(struct sched_req *r, const struct model_config *cfg, struct denoise_row *rows, int first_row)
{
    const struct gen_params *p = &r->p;
    struct denoise_row *row = &rows[0];
    memset(row, 0, sizeof *row);
    row->ids = r->cv.ids;
    row->len = r->cv.len;
    row->attn = cfg->causal ? ATTN_CAUSAL : ATTN_FULL;
    row->query = r->query;
    row->n_query = r->n_query;
    row->cfg_uncond = r->n_rows == 2 ? first_row + 1 : -1;
    row->cfg_scale = p->cfg_scale;
    row->rp.temperature = p->temperature;
    row->rp.top_k = p->top_k;
    row->rp.top_p = p->top_p > 0.0f ? p->top_p : 1.0f;
    row->rp.n_logprobs = p->n_logprobs;
    row->rp.seed = p->seed;
    row->rp.step = (uint32_t)r->cv.step;
    row->rp.banned[0] = p->ban_eos ? cfg->eos_id : -1;
    row->rp.banned[1] = -1;
    if (r->n_rows == 2) {
        /* LLaDA's unconditional row: the canvas with every given token masked */
        for (int i = 0; i < r->cv.len; i++)
            r->uncond[i] = r->cv.given[i] ? cfg->mask_id : r->cv.ids[i];
        rows[1] = rows[0];
        rows[1].ids = r->uncond;
        rows[1].query = NULL;
        rows[1].n_query = 0;
        rows[1].cfg_uncond = -1;
        rows[1].cfg_scale = 0.0f;
    }
    if (sampler_is_schedule(p->remasking))
        sampler_sched_rows(r, rows);
}

static float rank_conf(enum remask rule, const struct denoise_pos *o)
{
    switch (rule) {
    case REMASK_LOW_CONFIDENCE:
        return o->prob_raw;
    case REMASK_TOPK_MARGIN:
        return o->margin;
    case REMASK_ENTROPY:
        return o->neg_entropy;
    default:
        return o->prob;
    }
}

static void keep_logprobs(struct sched_req *r, int pos, const struct denoise_pos *o)
{
    int n = r->p.n_logprobs;
    r->lp[pos] = o->logprob_raw;
    for (int i = 0; i < n; i++) {
        int have = i < o->n_top;
        r->top_ids[(size_t)pos * n + i] = have ? o->top_ids[i] : -1;
        r->top_lp[(size_t)pos * n + i] = have ? o->top_logprobs[i] : -INFINITY;
    }
}

int rule_commit(struct sched_req *r, const struct denoise_pos *out)
{
    struct canvas *c = &r->cv;
    const struct gen_params *p = &r->p;
    int llada = is_llada_rule(p->remasking);
    int n = r->n_query, k;
    for (int j = 0; j < n; j++) {
        struct sched_cand *x = &r->cand[j];
        x->pos = r->query[j];
        x->token = out[j].token;
        x->src = j;
        x->prob = llada ? out[j].prob_raw : out[j].prob;
        x->conf = p->threshold > 0.0f ? x->prob : rank_conf(p->remasking, &out[j]);
    }
    if (sampler_is_schedule(p->remasking)) {
        k = sampler_sched_select(r, out);
    } else if (p->threshold > 0.0f) {
        sampler_sort(r->cand, n);
        k = sampler_threshold_count(r->cand, n, p->threshold);
    } else if (p->remasking == REMASK_RANDOM || p->remasking == REMASK_ORIGIN) {
        k = n;
    } else if (p->remasking == REMASK_LOW_CONFIDENCE) {
        sampler_sort(r->cand, n);
        k = r->n_pick < n ? r->n_pick : n;
    } else {
        k = sampler_dream_choose(r->cand, n, r->n_pick, p->alg_temp, p->seed, c->step);
    }
    for (int j = 0; j < k; j++) {
        int pos = r->cand[j].pos;
        c->ids[pos] = r->cand[j].token;
        c->masked[pos] = 0;
        c->fresh[pos] = 1;
        c->conf[pos] = r->cand[j].prob;
        if (r->lp)
            keep_logprobs(r, pos, &out[r->cand[j].src]);
    }
    c->step++;
    c->bstep++;
    int32_t *left = r->query; /* the answers are used: reuse the buffer */
    if (c->block < c->n_blocks && canvas_block_masked(c, left) == 0) {
        c->block++;
        c->bstep = 0;
    }
    return k;
}
