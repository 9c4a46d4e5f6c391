/* The reduction of SEDD's uniform graph (graph_lib.py Uniform stepped by
 * sampling.py's Euler, analytic and denoiser updates): every target's
 * weight needs the sum of all the scores, so the backend draws the token
 * itself rather than handing the scheduler one softmax sample.
 *
 * Two passes over the vocabulary: the logsumexp, then the weights
 * (cpu_sedd_uniform_logw) raced with Gumbel noise keyed (seed, step,
 * position, vocab index) like cpu_reduce's draws. argmax(ln w + g) draws
 * w / sum w, as the reference's probs / Exp(1) race does; weights <= 0 are
 * -inf and never win. */
#include "engine/cpu/cpu.h"

#include <string.h>

void cpu_reduce_sedd_uniform(const float *l, int V, const struct reduce_params *rp, int pos, int32_t cur,
                             struct denoise_pos *out)
{
    memset(out, 0, sizeof *out);
    out->token = -1;
    if (cur < 0 || cur >= V)
        return;
    /* no usable score (every logit -inf, or NaN): the token stays */
    out->token = cur;
    float mx = -INFINITY;
    for (int y = 0; y < V; y++)
        if (l[y] > mx)
            mx = l[y];
    if (!(mx > -INFINITY))
        return;
    double sum = 0;
    for (int y = 0; y < V; y++)
        sum += exp((double)l[y] - mx);
    double lse = mx + log(sum);
    out->logsumexp = (float)lse;

    int analytic = rp->mode == REDUCE_SEDD_UNIFORM_ANALYTIC;
    double best = -INFINITY, wmax = -INFINITY, wsum = 0, wtok = -INFINITY;
    int tok = cur;
    for (int y = 0; y < V; y++) {
        if (y != cur && (y == rp->banned[0] || y == rp->banned[1]))
            continue;
        double lw = cpu_sedd_uniform_logw(analytic, rp->coef, V, lse, l[cur], l[y], y == cur);
        if (lw == -INFINITY)
            continue;
        /* running sum of the positive weights against their max */
        if (lw > wmax) {
            wsum = wsum * exp(wmax - lw) + 1.0;
            wmax = lw;
        } else {
            wsum += exp(lw - wmax);
        }
        double g = lw + cpu_gumbel(rng_u01(rp->seed, rp->step, (uint64_t)pos, (uint64_t)y));
        if (g > best) {
            best = g;
            tok = y;
            wtok = lw;
        }
    }
    out->token = tok;
    out->prob = wtok > -INFINITY ? (float)(exp(wtok - wmax) / wsum) : 0.0f;
    out->logprob_raw = (float)((double)l[tok] - lse);
    out->prob_raw = (float)exp((double)l[tok] - lse);
}
