/* Fast-dLLM block caches on the scheduler's side: which requests step on
 * key/value caches, their allocation and release, and each step's window.
 * The backend does the computing (engine.h, struct denoise_row). */
#include "engine/sched/sched.h"

#include <stdio.h>

static int time_conditioned(enum remask rule)
{
    return rule == REMASK_MDLM || rule == REMASK_SEDD_EULER || rule == REMASK_SEDD_ANALYTIC;
}

int kv_wanted(const struct sched_req *r, const struct model_config *cfg, const struct backend *be)
{
    return r->p.cache != CACHE_OFF && be->cache_new && be->cache_free && !cfg->time_cond &&
           !time_conditioned(r->p.remasking);
}

int kv_open(struct sched_req *r, const struct backend *be, void *be_ctx, char *err, size_t errlen)
{
    r->kv_block = -1;
    for (int i = 0; i < r->n_rows; i++) {
        if (r->kv[i])
            continue;
        r->kv[i] = be->cache_new(be_ctx, r->cv.len, err, errlen);
        if (!r->kv[i]) {
            if (!err[0])
                snprintf(err, errlen, "the backend has no key/value cache for this request");
            kv_close(r, be, be_ctx);
            return -1;
        }
    }
    return 0;
}

void kv_close(struct sched_req *r, const struct backend *be, void *be_ctx)
{
    for (int i = 0; i < 2; i++) {
        if (r->kv[i] && be->cache_free)
            be->cache_free(be_ctx, r->kv[i]);
        r->kv[i] = NULL;
    }
}

void kv_rows(struct sched_req *r, const struct model_config *cfg, struct denoise_row *rows)
{
    if (!r->kv[0])
        return;
    const struct canvas *c = &r->cv;
    /* the first forward of a block fills; Dream's rules may skip a block's
     * first steps (nothing to commit), so go by the block, not the step */
    int fill = r->kv_block != c->block;
    int start, end;
    canvas_block_bounds(c, &start, &end);
    if (cfg->shift_logits && start > 0)
        start--;
    if (r->p.cache == CACHE_PREFIX)
        end = c->len;
    for (int i = 0; i < r->n_rows; i++) {
        rows[i].cache = r->kv[i];
        rows[i].cache_fill = fill;
        rows[i].win_start = fill ? 0 : start;
        rows[i].win_end = fill ? c->len : end;
    }
    r->kv_block = c->block;
}
