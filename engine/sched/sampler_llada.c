/* LLaDA's remasking choices: the k most confident (low_confidence), k at
 * random, and Fast-dLLM's confidence threshold over the current block. */
#include "engine/sched/sched.h"

#include <stdlib.h>

static int cand_cmp(const void *a, const void *b)
{
    const struct sched_cand *x = a, *y = b;
    if (x->conf > y->conf)
        return -1;
    if (x->conf < y->conf)
        return 1;
    /* equal confidences (NaN included) go to the lower position: a stable,
     * batch-independent order, where torch.topk leaves ties unspecified */
    return (x->pos > y->pos) - (x->pos < y->pos);
}

void sampler_sort(struct sched_cand *c, int n)
{
    if (n > 1)
        qsort(c, (size_t)n, sizeof *c, cand_cmp);
}

static int pos_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int sampler_llada_random(uint64_t seed, int step, const int32_t *pos, int n, int k, int32_t *out)
{
    if (k > n)
        k = n;
    if (k <= 0)
        return 0;
    struct sched_cand *c = malloc((size_t)n * sizeof *c);
    if (!c)
        return -1;
    for (int i = 0; i < n; i++) {
        c[i].pos = pos[i];
        c[i].token = -1;
        c[i].conf = (float)rng_u01(seed, (uint64_t)step, (uint64_t)pos[i], SCHED_RNG_RANDOM);
        c[i].prob = 0;
    }
    sampler_sort(c, n);
    for (int i = 0; i < k; i++)
        out[i] = c[i].pos;
    free(c);
    qsort(out, (size_t)k, sizeof *out, pos_cmp);
    return k;
}

int sampler_threshold_count(const struct sched_cand *c, int n, float tau)
{
    if (n <= 0)
        return 0;
    int k = 1;
    while (k < n && c[k].conf >= tau)
        k++;
    return k;
}
