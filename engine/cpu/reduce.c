/* The per-position reduction over the vocabulary: what the samplers need
 * from one position's logits, so full logits need not be kept.
 *
 * Order as in Dream's sampler: temperature, then top-p, then top-k, then
 * softmax. banned ids are -inf before anything (LLaDA's logits_eos_inf also
 * changes the confidence it computes from the same logits), so the "raw"
 * figures are of the logits after banning and after CFG. */
#include "engine/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>

int cpu_reduce_scratch_init(struct cpu_reduce_scratch *s, int vocab)
{
    s->vocab = vocab;
    s->f = malloc(sizeof(float) * (size_t)vocab);
    s->vi = malloc(sizeof(*s->vi) * (size_t)vocab);
    if (!s->f || !s->vi) {
        cpu_reduce_scratch_free(s);
        return -1;
    }
    return 0;
}

void cpu_reduce_scratch_free(struct cpu_reduce_scratch *s)
{
    free(s->f);
    free(s->vi);
    s->f = NULL;
    s->vi = NULL;
}

/* a ranks before b: larger value, then smaller index. */
static int before(const struct cpu_vi *a, const struct cpu_vi *b)
{
    return a->v > b->v || (a->v == b->v && a->i < b->i);
}

static int cmp_vi(const void *pa, const void *pb)
{
    const struct cpu_vi *a = pa, *b = pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap_vi(struct cpu_vi *a, struct cpu_vi *b)
{
    struct cpu_vi t = *a;
    *a = *b;
    *b = t;
}

/* Reorders a[0..n) so that a[0..k) are the k first in rank order (any order
 * among themselves). Quickselect on the strict order of `before`, which has
 * no ties (indices differ), with a median-of-three pivot. */
static void select_top(struct cpu_vi *a, int n, int k)
{
    int lo = 0, hi = n - 1;
    if (k <= 0 || k >= n)
        return;
    while (hi > lo) {
        int mid = lo + (hi - lo) / 2;
        if (before(&a[mid], &a[lo]))
            swap_vi(&a[mid], &a[lo]);
        if (before(&a[hi], &a[lo]))
            swap_vi(&a[hi], &a[lo]);
        if (before(&a[hi], &a[mid]))
            swap_vi(&a[hi], &a[mid]);
        struct cpu_vi p = a[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (before(&a[i], &p))
                i++;
            while (before(&p, &a[j]))
                j--;
            if (i <= j) {
                swap_vi(&a[i], &a[j]);
                i++;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            return;
    }
}

static double lse_of(const float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    if (mx == -INFINITY)
        return -INFINITY;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += expf(x[i] - mx);
    return mx + log(s);
}

static int gather_finite(const float *f, int n, struct cpu_vi *vi)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (f[i] != -INFINITY)
            vi[m++] = (struct cpu_vi){f[i], i};
    return m;
}

/* Nucleus: keep the most probable tokens up to and including the first whose
 * cumulative probability passes top_p. Sorting all the vocabulary per
 * position is too slow, so the top m are selected and sorted, m growing
 * until the cut falls inside them. */
static void filter_top_p(float *f, int n, float top_p, struct cpu_vi *vi)
{
    double lse = lse_of(f, n);
    int nf = gather_finite(f, n, vi);
    int cut = nf;
    for (int m = 64;; m *= 4) {
        if (m > nf)
            m = nf;
        select_top(vi, nf, m);
        qsort(vi, (size_t)m, sizeof *vi, cmp_vi);
        double cum = 0;
        int found = 0;
        for (int j = 0; j < m; j++) {
            cum += exp((double)vi[j].v - lse);
            if (cum > top_p) {
                cut = j + 1;
                found = 1;
                break;
            }
        }
        if (found || m == nf)
            break;
    }
    for (int i = 0; i < n; i++)
        f[i] = -INFINITY;
    for (int j = 0; j < cut; j++)
        f[vi[j].i] = vi[j].v;
}

/* Drops logits below the k-th largest (ties with it stay, as torch.topk's
 * threshold comparison keeps them). */
static void filter_top_k(float *f, int n, int k, struct cpu_vi *vi)
{
    int nf = gather_finite(f, n, vi);
    if (k >= nf)
        return;
    select_top(vi, nf, k);
    float kth = vi[0].v;
    for (int j = 1; j < k; j++)
        if (vi[j].v < kth)
            kth = vi[j].v;
    for (int i = 0; i < n; i++)
        if (f[i] < kth)
            f[i] = -INFINITY;
}

/* Keeps the n best of the raw logits, in rank order, by insertion. */
static int top_n(const float *l, int V, int n, struct cpu_vi *top)
{
    int have = 0;
    for (int i = 0; i < V; i++) {
        struct cpu_vi e = {l[i], i};
        if (have == n && !before(&e, &top[n - 1]))
            continue;
        int j = have < n ? have++ : n - 1;
        while (j > 0 && before(&e, &top[j - 1])) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = e;
    }
    return have;
}

/* One pass for the best two, one for the softmax sums (cpu_softmax_acc). */
struct lstats {
    int best, second;
    double s, q;
};

static void stats_of(const float *x, int n, struct lstats *st)
{
    int best = 0, second = -1;
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            second = best;
            best = i;
        } else if (second < 0 || x[i] > x[second]) {
            second = i;
        }
    }
    double s = 0, q = 0;
    float m = x[best];
    if (m != -INFINITY)
        for (int i = 0; i < n; i++)
            cpu_softmax_acc(x[i], m, &s, &q);
    st->best = best;
    st->second = second;
    st->s = s;
    st->q = q;
}

void cpu_reduce(float *l, int V, const struct reduce_params *rp, int pos, struct cpu_reduce_scratch *s,
                struct denoise_pos *out)
{
    memset(out, 0, sizeof *out);
    for (int b = 0; b < 2; b++)
        if (rp->banned[b] >= 0 && rp->banned[b] < V)
            l[rp->banned[b]] = -INFINITY;

    struct lstats raw, flt;
    stats_of(l, V, &raw);
    double lse_raw = raw.s > 0 ? l[raw.best] + log(raw.s) : -INFINITY;
    out->logsumexp = (float)lse_raw;
    if (lse_raw == -INFINITY) {
        /* every token banned: nothing to choose from */
        out->token = -1;
        return;
    }
    int n = rp->n_logprobs < 0 ? 0 : rp->n_logprobs > REDUCE_MAX_TOP ? REDUCE_MAX_TOP : rp->n_logprobs;
    if (n > V)
        n = V;
    if (n > 0) {
        struct cpu_vi top[REDUCE_MAX_TOP];
        out->n_top = top_n(l, V, n, top);
        for (int j = 0; j < out->n_top; j++) {
            out->top_ids[j] = top[j].i;
            out->top_logprobs[j] = (float)(top[j].v - lse_raw);
        }
    }

    /* the sampler's logits: the raw ones unless tempered or filtered */
    float T = rp->temperature;
    int top_p = rp->top_p > 0.0f && rp->top_p < 1.0f, top_k = rp->top_k > 0 && rp->top_k < V;
    float *f = l;
    flt = raw;
    if ((T > 0.0f && T != 1.0f) || top_p || top_k) {
        f = s->f;
        for (int i = 0; i < V; i++)
            f[i] = cpu_temper(l[i], T);
        if (top_p)
            filter_top_p(f, V, rp->top_p, s->vi);
        if (top_k)
            filter_top_k(f, V, rp->top_k, s->vi);
        stats_of(f, V, &flt);
    }
    double lse = f[flt.best] + log(flt.s);

    int tok = flt.best;
    if (T > 0.0f) {
        double top = -INFINITY;
        for (int i = 0; i < V; i++) {
            if (f[i] == -INFINITY)
                continue;
            double g = (double)f[i] + cpu_gumbel(rng_u01(rp->seed, rp->step, (uint64_t)pos, (uint64_t)i));
            if (g > top) {
                top = g;
                tok = i;
            }
        }
    }
    out->token = tok;
    out->prob = (float)exp((double)f[tok] - lse);
    out->prob_raw = (float)exp((double)l[tok] - lse_raw);
    out->logprob_raw = (float)((double)l[tok] - lse_raw);
    double p1 = exp((double)f[flt.best] - lse);
    double p2 = flt.second >= 0 ? exp((double)f[flt.second] - lse) : 0.0;
    out->margin = (float)(p1 - p2);
    out->neg_entropy = (float)(flt.q / flt.s - log(flt.s));
}
