/* The schedule-driven samplers of MDLM and SEDD as remasking rules:
 *
 * - mdlm (MDLM diffusion.py _ddpm_caching_update, the ddpm_cache sampler):
 *   at step i of N, t = ts[i], s = t - dt, each masked position unmasks with
 *   probability (t - s)/t (log-linear schedule; 1 - mc(s)/mc(t) with
 *   mc = 1 - e^-sigma otherwise) and takes a draw from softmax of the SUBS
 *   logits (the logits with MASK banned); at the end, noise removal: one
 *   forward at sigma(t_eps) and the argmax for what is still masked.
 * - euler, analytic (SEDD sampling.py with graph_lib.py's absorbing graph):
 *   with S the sum of the scores over the non-mask tokens, a masked position
 *   moves with probability min(1, W), W = dt sigma'(t) S (Euler) or
 *   expm1(sigma(t) - sigma(t - dt)) S (analytic, Tweedie tau-leaping), to a
 *   token drawn with probability proportional to its score; given and
 *   committed tokens never move; the final denoising step at t_eps draws
 *   every position still masked. (When W > 1 the reference's stay weight
 *   1 - W is negative and never wins its categorical draw: min(1, W).)
 *
 * The token is the backend's draw (reduce_params, mask banned): for SEDD the
 * forward returns log scores, so softmax of them is s_y / S and the
 * logsumexp the backend reports is ln S. For an MDLM model the scores are
 * p(y) / expm1(sigma) (diffusion.py get_score), so S = 1/expm1(sigma) is
 * known before the forward.
 *
 * Caching (ddpm_cache): the reference reuses the last forward's p_x0 while
 * the canvas has not changed. Here, when the chance to move does not depend
 * on the forward (the mdlm rule, or any rule on an MDLM model), the
 * scheduler draws which positions move FIRST and asks the backend only
 * about those: a step where nothing moves needs no forward at all (whatever
 * the time conditioning), and a forward runs on exactly the canvas and
 * sigma(t) the reference would use. This is exact in distribution: a
 * position's move is decided by a draw independent of the model, and each
 * position's sampled token is used at most once, at the step it moves, so
 * the tokens it did not use at earlier steps (which the reference computes
 * and throws away) change nothing. The SEDD model needs its S at every
 * step: one forward per step over the masked positions, as the reference.
 *
 * SEDD's uniform graph (graph_lib.py Uniform): every span position starts
 * as a uniformly random token (sample_limit) and may change at every step,
 * to a token whose weight needs all the scores (see enum reduce_mode), so
 * the backend draws it (REDUCE_SEDD_UNIFORM_EULER/ANALYTIC, coef dt
 * sigma'(t) or sigma(t) - sigma(t - dt); the final denoiser is the analytic
 * update with sigma(t_eps)). The positions stay unsettled (masked[] = 1,
 * no text) until that final step commits them all; mdlm needs a mask and
 * is refused.
 *
 * Random numbers: the move draws are rng_u01(seed, step, position,
 * SCHED_RNG_MOVE), the tokens the backend's (seed, step, position, vocab)
 * draws, so a request's canvas does not depend on its batch. */
#include "engine/sched/sched.h"

#include <math.h>
#include <stdio.h>

#define SAMPLER_T_EPS_DEFAULT 1e-5

int sampler_is_schedule(enum remask r)
{
    return r == REMASK_MDLM || r == REMASK_SEDD_EULER || r == REMASK_SEDD_ANALYTIC;
}

static int is_schedule_arch(enum arch a)
{
    return a == ARCH_MDLM || a == ARCH_SEDD;
}

static double t_eps_of(const struct gen_params *p)
{
    return p->t_eps > 0.0f ? (double)p->t_eps : SAMPLER_T_EPS_DEFAULT;
}

double sampler_known_score(enum arch a, const struct noise *n, double t)
{
    if (a == ARCH_MDLM)
        return 1.0 / expm1(noise_sigma(n, t));
    return -1.0;
}

double sampler_move_prob(enum remask rule, const struct noise *n, int i, int N, double t_eps, double S)
{
    double dt = (1.0 - t_eps) / (double)N;
    double t = noise_time(i, N, t_eps), s = t - dt;
    double w;
    if (rule == REMASK_MDLM) {
        /* the log-linear move chance is (1 - eps) t: the ratio is exact in t */
        if (n->kind == NOISE_LOGLINEAR)
            return (t - s) / t;
        double mt = noise_move_chance(n, t), ms = noise_move_chance(n, s);
        return mt > 0.0 ? (mt - ms) / mt : 1.0;
    }
    if (rule == REMASK_SEDD_EULER)
        w = dt * noise_dsigma(n, t) * S;
    else
        w = expm1(noise_sigma(n, t) - noise_sigma(n, s)) * S;
    if (!(w > 0.0)) /* also NaN: a broken score never moves a token */
        return 0.0;
    return w < 1.0 ? w : 1.0;
}

/* Called by canvas_build: what a schedule rule, or a schedule model, needs. */
int sampler_check(const struct gen_params *p, const struct model_config *cfg, int n_masked, char *err,
                  size_t errlen)
{
    int rule = sampler_is_schedule(p->remasking), arch = is_schedule_arch(cfg->arch);
    if (arch && !rule) {
        snprintf(err, errlen, "remasking: a %s model samples with mdlm, euler or analytic",
                 arch_name(cfg->arch));
        return SCHED_EINVAL;
    }
    if (!rule)
        return 0;
    if (!arch) {
        snprintf(err, errlen, "remasking: mdlm, euler and analytic need an MDLM or SEDD model (this is %s)",
                 arch_name(cfg->arch));
        return SCHED_EINVAL;
    }
    if (cfg->graph_uniform && p->remasking == REMASK_MDLM) {
        snprintf(err, errlen, "remasking: mdlm needs a mask; SEDD's uniform graph samples with euler or analytic");
        return SCHED_EINVAL;
    }
    if (!(p->t_eps >= 0.0f && p->t_eps < 1.0f)) {
        snprintf(err, errlen, "t_eps must be in (0, 1) (0: the default, 1e-5)");
        return SCHED_EINVAL;
    }
    if (p->threshold > 0.0f || p->cfg_scale > 0.0f) {
        snprintf(err, errlen, "%s: not with the mdlm, euler and analytic samplers",
                 p->threshold > 0.0f ? "threshold" : "cfg_scale");
        return SCHED_EINVAL;
    }
    if (p->cache != CACHE_OFF) {
        /* Fast-dLLM's caches reuse keys/values across a block's steps; here
         * the noise level (the adaLN modulation of every layer) and the
         * whole canvas change from step to step */
        snprintf(err, errlen, "cache: the mdlm, euler and analytic samplers run without a key/value cache");
        return SCHED_EINVAL;
    }
    if (p->block_length != 0 && p->block_length != n_masked) {
        snprintf(err, errlen, "block_length: the mdlm, euler and analytic samplers denoise every span at once");
        return SCHED_EINVAL;
    }
    struct noise n;
    noise_from_config(&n, cfg);
    return noise_check(&n, err, errlen);
}

int sampler_sched_plan(struct sched_req *r, int n)
{
    const struct canvas *c = &r->cv;
    const struct gen_params *p = &r->p;
    int N = c->steps_per_block, i = c->bstep;
    if (c->uniform) {
        /* every span position may move at every step; the final one commits */
        r->n_query = n;
        r->n_pick = -1;
        return n;
    }
    if (i >= N) {
        /* the final step: every position still masked gets a token */
        r->n_query = n;
        r->n_pick = n;
        return n;
    }
    double t_eps = t_eps_of(p);
    double S = sampler_known_score(r->cfg->arch, &r->noise, noise_time(i, N, t_eps));
    if (p->remasking != REMASK_MDLM && S < 0.0) {
        /* SEDD: the move chance needs this step's scores */
        r->n_query = n;
        r->n_pick = -1;
        return n;
    }
    double pm = sampler_move_prob(p->remasking, &r->noise, i, N, t_eps, S);
    int k = 0;
    for (int j = 0; j < n; j++)
        if (rng_u01(p->seed, (uint64_t)c->step, (uint64_t)r->query[j], SCHED_RNG_MOVE) < pm)
            r->query[k++] = r->query[j];
    r->n_query = k;
    r->n_pick = k;
    return k;
}

void sampler_sched_rows(struct sched_req *r, struct denoise_row *rows)
{
    const struct canvas *c = &r->cv;
    const struct gen_params *p = &r->p;
    int N = c->steps_per_block, i = c->bstep;
    rows[0].sigma = (float)noise_sigma(&r->noise, noise_time(i, N, t_eps_of(p)));
    /* MDLM's noise removal takes the argmax; every other step draws */
    if (i >= N && p->remasking == REMASK_MDLM)
        rows[0].rp.temperature = 0.0f;
    rows[0].rp.banned[0] = r->cfg->mask_id;
    rows[0].rp.banned[1] = p->ban_eos ? r->cfg->eos_id : -1;
    if (c->uniform) {
        double t_eps = t_eps_of(p), dt = (1.0 - t_eps) / (double)N, t = noise_time(i, N, t_eps);
        if (i >= N) {
            rows[0].rp.mode = REDUCE_SEDD_UNIFORM_ANALYTIC;
            rows[0].rp.coef = noise_sigma(&r->noise, t_eps);
        } else if (p->remasking == REMASK_SEDD_EULER) {
            rows[0].rp.mode = REDUCE_SEDD_UNIFORM_EULER;
            rows[0].rp.coef = dt * noise_dsigma(&r->noise, t);
        } else {
            rows[0].rp.mode = REDUCE_SEDD_UNIFORM_ANALYTIC;
            rows[0].rp.coef = noise_sigma(&r->noise, t) - noise_sigma(&r->noise, t - dt);
        }
    }
}

/* The uniform graph's step: every asked position takes its draw; only the
 * final step settles them (rule_commit then commits all). */
static int uniform_select(struct sched_req *r)
{
    struct canvas *c = &r->cv;
    if (c->bstep >= c->steps_per_block)
        return r->n_query;
    for (int j = 0; j < r->n_query; j++) {
        const struct sched_cand *x = &r->cand[j];
        if (x->token < 0)
            continue;
        c->fresh[x->pos] = c->ids[x->pos] != x->token;
        c->ids[x->pos] = x->token;
        c->conf[x->pos] = x->prob;
    }
    return 0;
}

int sampler_sched_select(struct sched_req *r, const struct denoise_pos *out)
{
    const struct canvas *c = &r->cv;
    const struct gen_params *p = &r->p;
    int n = r->n_query;
    if (c->uniform)
        return uniform_select(r);
    if (r->n_pick >= 0)
        return n; /* decided before the forward, or the final step */
    int N = c->steps_per_block, i = c->bstep, k = 0;
    double t_eps = t_eps_of(p);
    for (int j = 0; j < n; j++) {
        struct sched_cand x = r->cand[j];
        double S = exp((double)out[x.src].logsumexp);
        double pm = sampler_move_prob(p->remasking, &r->noise, i, N, t_eps, S);
        if (rng_u01(p->seed, (uint64_t)c->step, (uint64_t)x.pos, SCHED_RNG_MOVE) < pm)
            r->cand[k++] = x;
    }
    return k;
}
