/* The per-position reduction over the vocabulary, one thread block per
 * queried position, with the CPU engine's semantics (engine/cpu/reduce.c):
 *
 *   l = CFG mix of the row and its twin; banned ids -> -inf ("raw" logits)
 *   raw: logsumexp, prob_raw and logprob_raw of the chosen token, top-n
 *   f = l / T (T > 0) or l; top-p, then top-k, drop entries to -inf
 *   (a greedy position without filters takes two passes over the row:
 *   the first, and the entropy's)
 *   token: argmax f (T = 0) or argmax f + Gumbel(u(seed, step, pos, i))
 *   prob, margin p1 - p2, neg_entropy sum p ln p of softmax(f)
 *
 * Ranking is "larger value, then smaller index" everywhere, as on the CPU.
 * Top-p and top-k do not sort: a bisection over order-preserving integer keys
 * finds the cut (64 and 32 passes over the row, only for positions that ask
 * for a filter). The row stays in global memory (L2); each thread always
 * visits the same entries, so the CFG/ban write of the first pass needs no
 * barrier before later passes read it. */
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#include <limits.h>

#define RED_THREADS 512
#define RED_WARPS (RED_THREADS / 32)
#define FULL_MASK 0xffffffffu

template <class K> struct ranked {
    K v;
    int i;
};

template <class K> static __device__ bool ahead(K va, int ia, K vb, int ib)
{
    return va > vb || (va == vb && ia < ib);
}

/* The first entry in rank order over the block; every thread gets it. */
template <class K> static __device__ ranked<K> block_first(ranked<K> b)
{
    __shared__ K sv[RED_WARPS];
    __shared__ int si[RED_WARPS];
    for (int o = 16; o > 0; o >>= 1) {
        K v = __shfl_xor_sync(FULL_MASK, b.v, o);
        int i = __shfl_xor_sync(FULL_MASK, b.i, o);
        if (ahead(v, i, b.v, b.i)) {
            b.v = v;
            b.i = i;
        }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sv[warp] = b.v;
        si[warp] = b.i;
    }
    __syncthreads();
    ranked<K> r = {sv[0], si[0]};
    for (int w = 1; w < RED_WARPS; w++)
        if (ahead(sv[w], si[w], r.v, r.i)) {
            r.v = sv[w];
            r.i = si[w];
        }
    __syncthreads();
    return r;
}

template <class T> static __device__ T block_sum(T v)
{
    __shared__ T part[RED_WARPS];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    T r = part[0];
    for (int w = 1; w < RED_WARPS; w++)
        r += part[w];
    __syncthreads();
    return r;
}

/* Log-sum-exp over the block from each thread's running (m, s). */
static __device__ float block_lse(float m, float s)
{
    __shared__ float sm[RED_WARPS], ss[RED_WARPS];
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(FULL_MASK, m, o);
        float s2 = __shfl_xor_sync(FULL_MASK, s, o);
        dllm_online_merge(&m, &s, m2, s2);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sm[warp] = m;
        ss[warp] = s;
    }
    __syncthreads();
    float rm = -INFINITY, rs = 0.0f;
    for (int w = 0; w < RED_WARPS; w++)
        dllm_online_merge(&rm, &rs, sm[w], ss[w]);
    __syncthreads();
    return rs > 0.0f ? rm + logf(rs) : -INFINITY;
}

/* The two first entries in rank order (indices INT_MAX when absent). */
struct top2 {
    float v1;
    int i1;
    float v2;
    int i2;
};

static __device__ void top2_push(struct top2 *t, float v, int i)
{
    if (ahead(v, i, t->v1, t->i1)) {
        t->v2 = t->v1;
        t->i2 = t->i1;
        t->v1 = v;
        t->i1 = i;
    } else if (ahead(v, i, t->v2, t->i2)) {
        t->v2 = v;
        t->i2 = i;
    }
}

static __device__ struct top2 block_top2(struct top2 t)
{
    __shared__ struct top2 part[RED_WARPS];
    for (int o = 16; o > 0; o >>= 1) {
        float v1 = __shfl_xor_sync(FULL_MASK, t.v1, o), v2 = __shfl_xor_sync(FULL_MASK, t.v2, o);
        int i1 = __shfl_xor_sync(FULL_MASK, t.i1, o), i2 = __shfl_xor_sync(FULL_MASK, t.i2, o);
        top2_push(&t, v1, i1);
        top2_push(&t, v2, i2);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        part[warp] = t;
    __syncthreads();
    struct top2 r = part[0];
    for (int w = 1; w < RED_WARPS; w++) {
        top2_push(&r, part[w].v1, part[w].i1);
        top2_push(&r, part[w].v2, part[w].i2);
    }
    __syncthreads();
    return r;
}

/* Which entries survive top-p and top-k (cuts as rank keys; 0 = no cut). */
struct cuts {
    uint64_t p_key; /* keep rank_key >= p_key */
    uint32_t k_key; /* keep order_key >= k_key */
};

static __device__ bool kept(float f, int i, const struct cuts *c)
{
    return dllm_kept(f, i, c->p_key, c->k_key);
}

/* Top-p: the smallest rank key K with mass(rank_key > K) <= top_p; an entry
 * is kept when the mass ranked before it is <= top_p, as a sorted cumulative
 * sum that keeps the entry which first passes top_p. */
static __device__ uint64_t top_p_cut(const float *l, int V, float T, float top_p, float lse_f)
{
    uint64_t lo = 0, hi = UINT64_MAX;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        float mass = 0.0f;
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            float f = dllm_temper(l[i], T);
            if (f != -INFINITY && dllm_rank_key(f, i) > mid)
                mass += expf(f - lse_f);
        }
        if (block_sum(mass) <= top_p)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* Top-k: the largest value key K with at least k finite entries >= K (ties
 * with the k-th value stay, as torch.topk's threshold keeps them). */
static __device__ uint32_t top_k_cut(const float *l, int V, float T, int k)
{
    uint64_t lo = 0, hi = (uint64_t)1 << 32;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        int n = 0;
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            float f = dllm_temper(l[i], T);
            n += f != -INFINITY && (uint64_t)dllm_order_key(f) >= mid;
        }
        if (block_sum(n) >= k)
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

static __global__ void __launch_bounds__(RED_THREADS)
    reduce_kernel(float *logits, int V, const struct cuda_job *jobs, struct denoise_pos *outs)
{
    const struct cuda_job *job = &jobs[blockIdx.x];
    const struct reduce_params *rp = &job->rp;
    float *l = logits + (size_t)job->cond * V;
    const float *un = job->uncond >= 0 ? logits + (size_t)job->uncond * V : NULL;
    float T = rp->temperature;
    int tid = threadIdx.x;

    /* pass 1: the raw logits in place, their log-sum-exp, and the same of f
     * with its two first entries (all that is needed when nothing is
     * filtered) */
    float m = -INFINITY, s = 0.0f, mf = -INFINITY, sf = 0.0f;
    struct top2 t2 = {-INFINITY, INT_MAX, -INFINITY, INT_MAX};
    for (int i = tid; i < V; i += blockDim.x) {
        float x = l[i];
        if (un)
            x = dllm_cfg(x, un[i], job->cfg_scale);
        if (i == rp->banned[0] || i == rp->banned[1])
            x = -INFINITY;
        l[i] = x;
        dllm_online_push(&m, &s, x);
        float f = dllm_temper(x, T);
        if (T > 0.0f)
            dllm_online_push(&mf, &sf, f);
        top2_push(&t2, f, i);
    }
    float lse_raw = block_lse(m, s);
    float lse_all = T > 0.0f ? block_lse(mf, sf) : lse_raw;
    t2 = block_top2(t2);

    __shared__ struct denoise_pos o;
    if (tid == 0) {
        memset(&o, 0, sizeof o);
        o.logsumexp = lse_raw;
    }

    /* top-n of the raw logits: n passes, each the first entry ranked after
     * the previous pick */
    int n = rp->n_logprobs < 0 ? 0 : rp->n_logprobs > REDUCE_MAX_TOP ? REDUCE_MAX_TOP : rp->n_logprobs;
    if (n > V)
        n = V;
    float pv = INFINITY;
    int pi = -1;
    for (int j = 0; j < n; j++) {
        ranked<float> b = {-INFINITY, INT_MAX};
        for (int i = tid; i < V; i += blockDim.x)
            if (ahead(pv, pi, l[i], i) && ahead(l[i], i, b.v, b.i)) {
                b.v = l[i];
                b.i = i;
            }
        b = block_first(b);
        if (tid == 0) {
            o.top_ids[j] = b.i;
            o.top_logprobs[j] = b.v - lse_raw;
            o.n_top = j + 1;
        }
        pv = b.v;
        pi = b.i;
    }

    /* filters */
    struct cuts cut = {0, 0};
    if (rp->top_p > 0.0f && rp->top_p < 1.0f && lse_all != -INFINITY)
        cut.p_key = top_p_cut(l, V, T, rp->top_p, lse_all);
    if (rp->top_k > 0 && rp->top_k < V)
        cut.k_key = top_k_cut(l, V, T, rp->top_k);

    /* the filtered distribution: log-normaliser and its two first entries */
    float lse = lse_all;
    if (cut.p_key != 0 || cut.k_key != 0) {
        float mk = -INFINITY, sk = 0.0f;
        struct top2 k2 = {-INFINITY, INT_MAX, -INFINITY, INT_MAX};
        for (int i = tid; i < V; i += blockDim.x) {
            float f = dllm_temper(l[i], T);
            if (!kept(f, i, &cut))
                f = -INFINITY;
            dllm_online_push(&mk, &sk, f);
            top2_push(&k2, f, i);
        }
        lse = block_lse(mk, sk);
        t2 = block_top2(k2);
    }

    if (lse == -INFINITY) { /* every token banned or filtered */
        if (tid == 0) {
            o.token = -1;
            outs[blockIdx.x] = o;
        }
        return;
    }

    int tok = t2.i1;
    if (T > 0.0f) {
        ranked<double> g = {-INFINITY, INT_MAX};
        for (int i = tid; i < V; i += blockDim.x) {
            float f = dllm_temper(l[i], T);
            if (!kept(f, i, &cut))
                continue;
            double key = dllm_gumbel_key(f, dllm_rng_u01(rp->seed, rp->step, (uint64_t)job->position, (uint64_t)i));
            if (ahead(key, i, g.v, g.i)) {
                g.v = key;
                g.i = i;
            }
        }
        g = block_first(g);
        if (g.v != -INFINITY)
            tok = g.i;
    }

    float ent = 0.0f;
    for (int i = tid; i < V; i += blockDim.x) {
        float f = dllm_temper(l[i], T);
        ent += dllm_plogp(kept(f, i, &cut) ? f : -INFINITY, lse);
    }
    ent = block_sum(ent);

    if (tid == 0) {
        float ft = dllm_temper(l[tok], T);
        o.token = tok;
        o.prob = expf(ft - lse);
        o.prob_raw = expf(l[tok] - lse_raw);
        o.logprob_raw = l[tok] - lse_raw;
        float p1 = expf(t2.v1 - lse);
        float p2 = t2.i2 != INT_MAX ? expf(t2.v2 - lse) : 0.0f;
        o.margin = p1 - p2;
        o.neg_entropy = ent;
        outs[blockIdx.x] = o;
    }
}

void cuk_reduce(cudaStream_t st, float *logits, int vocab, const struct cuda_job *jobs, int n,
                struct denoise_pos *out)
{
    if (n > 0)
        reduce_kernel<<<n, RED_THREADS, 0, st>>>(logits, vocab, jobs, out);
}
