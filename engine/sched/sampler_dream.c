/* Dream's remasking choices: origin (each masked position unmasks with
 * probability 1 - s/t) and the ranked algorithms (maskgit_plus, topk_margin,
 * entropy), deterministic top-n or drawn with alg_temp. */
#include "engine/sched/sched.h"

#include <math.h>

int sampler_dream_origin(uint64_t seed, int step, int i, int S, const int32_t *pos, int n, int32_t *out)
{
    float p_transfer = 1.0f;
    if (i < S - 1) {
        float t = sched_dream_t(i, S, SCHED_DREAM_EPS);
        float s = sched_dream_t(i + 1, S, SCHED_DREAM_EPS);
        p_transfer = 1.0f - s / t;
    }
    int k = 0;
    for (int j = 0; j < n; j++)
        if (rng_u01(seed, (uint64_t)step, (uint64_t)pos[j], SCHED_RNG_ORIGIN) < (double)p_transfer)
            out[k++] = pos[j];
    return k;
}

int sampler_dream_choose(struct sched_cand *c, int n_cand, int n, float alg_temp, uint64_t seed, int step)
{
    if (n > n_cand)
        n = n_cand;
    if (n <= 0)
        return 0;
    if (alg_temp > 0.0f) {
        /* torch.multinomial(softmax(conf / alg_temp), n) without replacement
         * has the law of the top n of conf / alg_temp + Gumbel noise
         * (Gumbel-top-k), which needs one draw per position, keyed by it. */
        for (int j = 0; j < n_cand; j++) {
            double u = rng_u01(seed, (uint64_t)step, (uint64_t)c[j].pos, SCHED_RNG_ALG_TEMP);
            if (u < 1e-300)
                u = 1e-300;
            c[j].conf = (float)((double)c[j].conf / alg_temp - log(-log(u)));
        }
    }
    sampler_sort(c, n_cand);
    return n;
}
