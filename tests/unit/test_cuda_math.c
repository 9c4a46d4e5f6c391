/* The CUDA kernels' per-element math (engine/cuda/cuda_math.h), compiled
 * here as plain C and checked against double-precision formulas and the
 * engine's counter RNG. Runs without a GPU. */
#include "engine/cuda/cuda_math.h"
#include "engine/cpu/cpu.h"
#include "engine/engine.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A fixed pseudo-random stream for inputs (not the engine's RNG). */
static double input(int i)
{
    return rng_u01(7, 0, 0, (uint64_t)i) * 2.0 - 1.0;
}

void test_cuda_bf16_rounding(void)
{
    CHECK_INT(dllm_f32_to_bf16(1.0f), 0x3f80);
    CHECK_INT(dllm_f32_to_bf16(-2.0f), 0xc000);
    /* halfway cases round to even */
    CHECK_INT(dllm_f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
    CHECK_INT(dllm_f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    CHECK_INT(dllm_f32_to_bf16(INFINITY), 0x7f80);
    CHECK(isnan(dllm_bf16_to_f32(dllm_f32_to_bf16(NAN))));
    double worst = 0;
    for (int i = 0; i < 10000; i++) {
        float x = (float)(input(i) * 1000.0);
        float y = dllm_bf16_to_f32(dllm_f32_to_bf16(x));
        double rel = fabs((double)y - x) / fabs((double)x);
        if (rel > worst)
            worst = rel;
    }
    /* 8 significant bits: half an ulp is at most 2^-8 of the value */
    CHECK(worst <= 1.0 / 256 && worst > 1.0 / 1024);
}

void test_cuda_rmsnorm_and_layernorm(void)
{
    enum { N = 300 };
    float x[N], w[N], b[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(input(i) * 3.0 + 0.5);
        w[i] = (float)(1.0 + 0.5 * input(1000 + i));
        b[i] = (float)input(2000 + i);
    }
    float eps = 1e-5f;
    double ss = 0, mean = 0;
    for (int i = 0; i < N; i++) {
        ss += (double)x[i] * x[i];
        mean += x[i];
    }
    mean /= N;
    double var = 0;
    for (int i = 0; i < N; i++)
        var += (x[i] - mean) * (x[i] - mean);
    float sumsq = 0, csum = 0, s = 0;
    for (int i = 0; i < N; i++) {
        sumsq += x[i] * x[i];
        s += x[i];
    }
    float fmean = s / N;
    for (int i = 0; i < N; i++)
        csum += (x[i] - fmean) * (x[i] - fmean);
    float rinv = dllm_rms_inv(sumsq, N, eps), linv = dllm_rms_inv(csum, N, eps);
    for (int i = 0; i < N; i += 7) {
        double want = x[i] / sqrt(ss / N + eps) * w[i];
        CHECK_NEAR(x[i] * rinv * w[i], want, 1e-5 * (1 + fabs(want)));
        double lwant = (x[i] - mean) / sqrt(var / N + eps) * w[i] + b[i];
        CHECK_NEAR((x[i] - fmean) * linv * w[i] + b[i], lwant, 1e-5 * (1 + fabs(lwant)));
    }
}

/* Both layouts cover the rotated dims exactly once, and they are the same
 * rotation once the dims are permuted the way llama.cpp permutes Q/K rows
 * (rotate-half dim i <-> interleaved dim 2i, dim i + d/2 <-> 2i + 1). */
void test_cuda_rope_layouts(void)
{
    enum { D = 16 };
    float theta = 10000.0f;
    for (int inter = 0; inter < 2; inter++) {
        int seen[D] = {0};
        for (int i = 0; i < D / 2; i++) {
            int a, b;
            dllm_rope_dims(i, D, inter, &a, &b);
            CHECK(a >= 0 && a < D && b >= 0 && b < D);
            seen[a]++;
            seen[b]++;
        }
        for (int d = 0; d < D; d++)
            CHECK_INT(seen[d], 1);
    }
    int pos = 37;
    float half[D], inter[D];
    for (int d = 0; d < D; d++)
        half[d] = (float)input(3000 + d);
    for (int i = 0; i < D / 2; i++) {
        inter[2 * i] = half[i];
        inter[2 * i + 1] = half[i + D / 2];
    }
    for (int i = 0; i < D / 2; i++) {
        double ang = pos * pow(theta, -2.0 * i / D);
        CHECK_NEAR(dllm_rope_angle(pos, i, D, theta), ang, 1e-12 * (1 + ang));
        float c = (float)cos(ang), s = (float)sin(ang);
        int a, b;
        float h0, h1, i0, i1;
        dllm_rope_dims(i, D, 0, &a, &b);
        dllm_rope_rotate(half[a], half[b], c, s, &h0, &h1);
        dllm_rope_dims(i, D, 1, &a, &b);
        dllm_rope_rotate(inter[a], inter[b], c, s, &i0, &i1);
        CHECK(h0 == i0 && h1 == i1);
        double r0 = half[i] * cos(ang) - half[i + D / 2] * sin(ang);
        double r1 = half[i] * sin(ang) + half[i + D / 2] * cos(ang);
        CHECK_NEAR(h0, r0, 1e-6);
        CHECK_NEAR(h1, r1, 1e-6);
    }
}

void test_cuda_activations(void)
{
    for (int i = 0; i < 200; i++) {
        float x = (float)(input(4000 + i) * 8.0);
        double silu = x / (1.0 + exp(-(double)x));
        double gelu = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        CHECK_NEAR(dllm_silu(x), silu, 1e-6 * (1 + fabs(silu)));
        CHECK_NEAR(dllm_gelu(x), gelu, 1e-6 * (1 + fabs(gelu)));
    }
}

/* The DiT's per-element math: GELU tanh, the adaLN modulation, the noise
 * level's sinusoidal features and SEDD's log scale, against double formulas. */
void test_cuda_dit_math(void)
{
    for (int i = 0; i < 200; i++) {
        double x = input(5000 + i) * 8.0;
        double g = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        CHECK_NEAR(dllm_gelu_tanh((float)x), g, 2e-6 * (1 + fabs(g)));
    }
    CHECK_NEAR(dllm_modulate(0.5f, 2.0f, 0.25f, -0.5f), 0.75, 1e-7);
    float sigmas[] = {0.0f, 1e-4f, 0.01f, 1.0f, 5.0f, 20.0f};
    for (int k = 0; k < 6; k++) {
        double s = sigmas[k];
        int worst = 0;
        for (int i = 0; i < 256; i++) {
            int j = i < 128 ? i : i - 128;
            double a = s * exp(-log(10000.0) * j / 128.0);
            double want = i < 128 ? cos(a) : sin(a);
            /* float32 arguments: the error grows with the angle (|a| <= 20) */
            worst += fabs(dllm_sigma_feature(sigmas[k], i, 256) - want) > 4e-6;
        }
        CHECK_INT(worst, 0);
        CHECK_NEAR(dllm_sigma_feature(sigmas[k], 4, 9), sin(s), 4e-6); /* half 4: entry 4 is sin(sigma w_0) */
        CHECK(dllm_sigma_feature(sigmas[k], 8, 9) == 0.0f); /* odd width: a zero last */
    }
    CHECK(dllm_sigma_feature(0.0f, 0, 256) == 1.0f && dllm_sigma_feature(0.0f, 128, 256) == 0.0f);
    double sl[] = {1e-6, 1e-3, 0.3, 0.49, 0.5, 0.7, 3.0, 20.0};
    for (int k = 0; k < 8; k++) {
        double want = log(expm1(sl[k])) + log(50257.0);
        CHECK_NEAR(dllm_sedd_log_scale((float)sl[k], 50258), want, 2e-6 * fabs(want) + 1e-6);
    }
    float z = dllm_sedd_log_scale(0.0f, 50258);
    CHECK(isinf(z) && z < 0);
}

/* Pushing values one by one and merging partials in another grouping both
 * give the log-sum-exp; -inf entries add nothing. */
void test_cuda_online_softmax(void)
{
    enum { N = 1000 };
    float v[N];
    double mx = -INFINITY;
    for (int i = 0; i < N; i++) {
        v[i] = i % 97 == 5 ? -INFINITY : (float)(input(5000 + i) * 30.0);
        if (v[i] > mx)
            mx = v[i];
    }
    double s = 0;
    for (int i = 0; i < N; i++)
        s += exp(v[i] - mx);
    double want = mx + log(s);
    float m1 = -INFINITY, s1 = 0;
    for (int i = 0; i < N; i++)
        dllm_online_push(&m1, &s1, v[i]);
    CHECK_NEAR(m1 + logf(s1), want, 1e-4);
    float pm[7], ps[7];
    for (int k = 0; k < 7; k++) {
        pm[k] = -INFINITY;
        ps[k] = 0;
    }
    for (int i = N - 1; i >= 0; i--)
        dllm_online_push(&pm[i % 7], &ps[i % 7], v[i]);
    float m2 = -INFINITY, s2 = 0;
    for (int k = 6; k >= 0; k--)
        dllm_online_merge(&m2, &s2, pm[k], ps[k]);
    CHECK_NEAR(m2 + logf(s2), want, 1e-4);
    CHECK(dllm_online_rescale(-INFINITY, 3.0f) == 0.0f);
    CHECK_NEAR(dllm_online_rescale(1.0f, 3.0f), exp(-2.0), 1e-7);
}

/* The device copy of the counter RNG is the engine's, bit for bit, and the
 * Gumbel-max draw samples softmax(l / T). */
void test_cuda_gumbel_draw(void)
{
    for (int i = 0; i < 2000; i++) {
        uint64_t seed = (uint64_t)i * 2654435761u, step = (uint64_t)(i % 13), pos = (uint64_t)(i % 101);
        CHECK(dllm_rng_u01(seed, step, pos, (uint64_t)i) == rng_u01(seed, step, pos, (uint64_t)i));
    }
    CHECK(dllm_gumbel_key(1.0f, 0.0) == -INFINITY);
    CHECK_NEAR(dllm_gumbel_key(0.5f, 0.25), 0.5 - log(-log(0.25)), 1e-12);

    enum { V = 5, DRAWS = 20000 };
    float l[V] = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f};
    float T = 0.7f;
    int count[V] = {0};
    for (int d = 0; d < DRAWS; d++) {
        int best = 0;
        double top = -INFINITY;
        for (int i = 0; i < V; i++) {
            double key = dllm_gumbel_key(dllm_temper(l[i], T), dllm_rng_u01(42, (uint64_t)d, 3, (uint64_t)i));
            if (key > top) {
                top = key;
                best = i;
            }
        }
        count[best]++;
    }
    double z = 0;
    for (int i = 0; i < V; i++)
        z += exp(l[i] / T);
    /* binomial sd at most 0.0036 over 20000 draws: 0.02 is > 5 sd */
    for (int i = 0; i < V; i++)
        CHECK_NEAR((double)count[i] / DRAWS, exp(l[i] / T) / z, 0.02);
}

void test_cuda_margin_entropy_cfg(void)
{
    enum { V = 6 };
    float f[V] = {2.0f, -1.0f, 0.5f, -INFINITY, 1.5f, 0.0f};
    double z = 0;
    for (int i = 0; i < V; i++)
        z += exp((double)f[i]);
    double lse = log(z), want = 0;
    for (int i = 0; i < V; i++)
        if (f[i] != -INFINITY)
            want += exp(f[i] - lse) * (f[i] - lse);
    float got = 0;
    for (int i = 0; i < V; i++)
        got += dllm_plogp(f[i], (float)lse);
    CHECK_NEAR(got, want, 1e-6);
    CHECK(got <= 0.0f);
    /* margin: p1 - p2 of the two largest */
    CHECK_NEAR(expf(f[0] - (float)lse) - expf(f[4] - (float)lse), exp(2.0 - lse) - exp(1.5 - lse), 1e-6);
    CHECK_NEAR(dllm_cfg(2.0f, 1.0f, 0.0f), 2.0, 0);
    CHECK_NEAR(dllm_cfg(2.0f, 1.0f, 1.5f), 1.0 + 2.5 * 1.0, 1e-6);
    CHECK_NEAR(dllm_temper(3.0f, 0.0f), 3.0, 0);
    CHECK_NEAR(dllm_temper(3.0f, 2.0f), 1.5, 0);
}

/* The integer keys sort as the floats (and as the rank order). */
void test_cuda_order_keys(void)
{
    float x[] = {-INFINITY, -1e30f, -2.5f, -1e-30f, -0.0f, 0.0f, 1e-30f, 1.0f, 3.5e20f, INFINITY};
    int n = (int)(sizeof x / sizeof x[0]);
    for (int i = 1; i < n; i++)
        CHECK(dllm_order_key(x[i - 1]) <= dllm_order_key(x[i]));
    CHECK(dllm_order_key(-0.0f) == dllm_order_key(0.0f));
    for (int i = 0; i < 500; i++) {
        float va = (float)input(6000 + i), vb = i % 5 == 0 ? va : (float)input(7000 + i);
        int ia = i % 17, ib = (i * 7) % 19;
        if (ia == ib)
            continue;
        int before = dllm_ranks_before(va, ia, vb, ib);
        CHECK(before == (dllm_rank_key(va, ia) > dllm_rank_key(vb, ib)));
    }
}

/* The reduction kernel's algorithm (engine/cuda/cuda_reduce.cu) run
 * sequentially: the same passes, the same online sums, the same bisections
 * over rank keys for top-p and top-k instead of a sort. */
static void emulate_reduce(float *l, int V, const struct reduce_params *rp, int pos, struct denoise_pos *o)
{
    float T = rp->temperature;
    float m = -INFINITY, s = 0, mf = -INFINITY, sf = 0, v1 = -INFINITY, v2 = -INFINITY;
    int i1 = 0x7fffffff, i2 = 0x7fffffff;
    for (int i = 0; i < V; i++) {
        if (i == rp->banned[0] || i == rp->banned[1])
            l[i] = -INFINITY;
        dllm_online_push(&m, &s, l[i]);
        float f = dllm_temper(l[i], T);
        if (T > 0)
            dllm_online_push(&mf, &sf, f);
        if (dllm_ranks_before(f, i, v1, i1)) {
            v2 = v1;
            i2 = i1;
            v1 = f;
            i1 = i;
        } else if (dllm_ranks_before(f, i, v2, i2)) {
            v2 = f;
            i2 = i;
        }
    }
    float lse_raw = s > 0 ? m + logf(s) : -INFINITY;
    float lse_all = T > 0 ? (sf > 0 ? mf + logf(sf) : -INFINITY) : lse_raw;
    memset(o, 0, sizeof *o);
    o->logsumexp = lse_raw;
    int n = rp->n_logprobs < 0 ? 0 : rp->n_logprobs > REDUCE_MAX_TOP ? REDUCE_MAX_TOP : rp->n_logprobs;
    if (n > V)
        n = V;
    float pv = INFINITY;
    int pi = -1;
    for (int j = 0; j < n; j++) {
        float bv = -INFINITY;
        int bi = 0x7fffffff;
        for (int i = 0; i < V; i++)
            if (dllm_ranks_before(pv, pi, l[i], i) && dllm_ranks_before(l[i], i, bv, bi)) {
                bv = l[i];
                bi = i;
            }
        o->top_ids[j] = bi;
        o->top_logprobs[j] = bv - lse_raw;
        o->n_top = j + 1;
        pv = bv;
        pi = bi;
    }
    uint64_t p_key = 0;
    uint32_t k_key = 0;
    if (rp->top_p > 0.0f && rp->top_p < 1.0f && lse_all != -INFINITY) {
        uint64_t lo = 0, hi = UINT64_MAX;
        while (hi - lo > 1) {
            uint64_t mid = lo + (hi - lo) / 2;
            float mass = 0;
            for (int i = 0; i < V; i++) {
                float f = dllm_temper(l[i], T);
                if (f != -INFINITY && dllm_rank_key(f, i) > mid)
                    mass += expf(f - lse_all);
            }
            if (mass <= rp->top_p)
                hi = mid;
            else
                lo = mid;
        }
        p_key = hi;
    }
    if (rp->top_k > 0 && rp->top_k < V) {
        uint64_t lo = 0, hi = (uint64_t)1 << 32;
        while (hi - lo > 1) {
            uint64_t mid = lo + (hi - lo) / 2;
            int cnt = 0;
            for (int i = 0; i < V; i++) {
                float f = dllm_temper(l[i], T);
                cnt += f != -INFINITY && (uint64_t)dllm_order_key(f) >= mid;
            }
            if (cnt >= rp->top_k)
                lo = mid;
            else
                hi = mid;
        }
        k_key = (uint32_t)lo;
    }
    float lse = lse_all;
    if (p_key != 0 || k_key != 0) {
        float mk = -INFINITY, sk = 0;
        v1 = v2 = -INFINITY;
        i1 = i2 = 0x7fffffff;
        for (int i = 0; i < V; i++) {
            float f = dllm_temper(l[i], T);
            if (!dllm_kept(f, i, p_key, k_key))
                f = -INFINITY;
            dllm_online_push(&mk, &sk, f);
            if (dllm_ranks_before(f, i, v1, i1)) {
                v2 = v1;
                i2 = i1;
                v1 = f;
                i1 = i;
            } else if (dllm_ranks_before(f, i, v2, i2)) {
                v2 = f;
                i2 = i;
            }
        }
        lse = sk > 0 ? mk + logf(sk) : -INFINITY;
    }
    if (lse == -INFINITY) {
        o->token = -1;
        return;
    }
    int tok = i1;
    if (T > 0) {
        double gv = -INFINITY;
        for (int i = 0; i < V; i++) {
            float f = dllm_temper(l[i], T);
            if (!dllm_kept(f, i, p_key, k_key))
                continue;
            double key = dllm_gumbel_key(f, dllm_rng_u01(rp->seed, rp->step, (uint64_t)pos, (uint64_t)i));
            if (key > gv) {
                gv = key;
                tok = i;
            }
        }
    }
    float ent = 0;
    for (int i = 0; i < V; i++) {
        float f = dllm_temper(l[i], T);
        ent += dllm_plogp(dllm_kept(f, i, p_key, k_key) ? f : -INFINITY, lse);
    }
    o->token = tok;
    o->prob = expf(dllm_temper(l[tok], T) - lse);
    o->prob_raw = expf(l[tok] - lse_raw);
    o->logprob_raw = l[tok] - lse_raw;
    o->margin = expf(v1 - lse) - (i2 != 0x7fffffff ? expf(v2 - lse) : 0.0f);
    o->neg_entropy = ent;
}

/* Against the CPU engine's sort-based reduction, on logits with many exact
 * ties (multiples of 1/4), every filter combination: the kept sets must be
 * the same (token and prob exact up to summation order). */
void test_cuda_reduce_algorithm_matches_cpu(void)
{
    enum { V = 300 };
    static const float temps[] = {0.0f, 0.7f, 1.3f};
    static const int ks[] = {0, 1, 5, 17, 299, 400};
    static const float ps[] = {1.0f, 0.3f, 0.9f, 0.999f};
    float base[V], a[V], b[V];
    struct cpu_reduce_scratch sc;
    CHECK(cpu_reduce_scratch_init(&sc, V) == 0);
    int cases = 0, bad = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < V; i++)
            base[i] = floorf((float)input(9000 + 1000 * round + i) * 4.0f * (2 + round)) / 4.0f;
        for (size_t ti = 0; ti < sizeof temps / sizeof temps[0]; ti++)
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
                for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
                    struct reduce_params rp;
                    memset(&rp, 0, sizeof rp);
                    rp.temperature = temps[ti];
                    rp.top_k = ks[ki];
                    rp.top_p = ps[pi];
                    rp.n_logprobs = (int)(ki % 3) * 4;
                    rp.seed = 11 + (uint64_t)round;
                    rp.step = (uint32_t)pi;
                    rp.banned[0] = round == 1 ? 7 : -1;
                    rp.banned[1] = -1;
                    struct denoise_pos x, y;
                    memcpy(a, base, sizeof a);
                    memcpy(b, base, sizeof b);
                    cpu_reduce(a, V, &rp, 5, &sc, &x);
                    emulate_reduce(b, V, &rp, 5, &y);
                    cases++;
                    int same = x.token == y.token && fabsf(x.prob - y.prob) < 1e-5f &&
                               fabsf(x.prob_raw - y.prob_raw) < 1e-5f && fabsf(x.margin - y.margin) < 1e-5f &&
                               fabsf(x.neg_entropy - y.neg_entropy) < 1e-4f &&
                               fabsf(x.logsumexp - y.logsumexp) < 1e-4f && x.n_top == y.n_top;
                    for (int j = 0; same && j < x.n_top; j++)
                        same = x.top_ids[j] == y.top_ids[j] && fabsf(x.top_logprobs[j] - y.top_logprobs[j]) < 1e-4f;
                    bad += !same;
                }
    }
    cpu_reduce_scratch_free(&sc);
    CHECK_INT(bad, 0);
    CHECK_INT(cases, 3 * 3 * 6 * 4);
}

/* The attention kernel's algorithm (engine/cuda/cuda_attn.cu) run
 * sequentially: blocks of 32 queries, the key range of the block's last
 * query, tiles of 32 keys folded into each query's running max, sum and
 * output with the online rescale. Against a direct softmax in double. */
void test_cuda_attention_tiling(void)
{
    enum { LEN = 70, HD = 20, QT = 32, KT = 32 };
    static float q[LEN][HD], k[LEN][HD], v[LEN][HD];
    for (int i = 0; i < LEN; i++)
        for (int d = 0; d < HD; d++) {
            q[i][d] = (float)input(20000 + i * HD + d) * 2.0f;
            k[i][d] = (float)input(30000 + i * HD + d) * 2.0f;
            v[i][d] = (float)input(40000 + i * HD + d);
        }
    CHECK_INT(ATTN_FULL, 0);
    CHECK_INT(ATTN_CAUSAL, 1);
    CHECK_INT(ATTN_BLOCK_CAUSAL, 2);
    float scale = 1.0f / sqrtf((float)HD);
    double worst = 0;
    for (int kind = 0; kind < 3; kind++) {
        int bl = 5;
        for (int q0 = 0; q0 < LEN; q0 += QT) {
            int q_last = (q0 + QT < LEN ? q0 + QT : LEN) - 1;
            int kend = dllm_key_limit(kind, bl, LEN, q_last);
            for (int iq = q0; iq <= q_last; iq++) {
                float m = -INFINITY, l = 0, acc[HD] = {0};
                int limit = dllm_key_limit(kind, bl, LEN, iq);
                for (int kt = 0; kt < kend; kt += KT) {
                    float s[KT], tmax = -INFINITY;
                    for (int j = 0; j < KT; j++) {
                        int key = kt + j;
                        s[j] = -INFINITY;
                        if (key < limit) {
                            float dot = 0;
                            for (int d = 0; d < HD; d++)
                                dot += q[iq][d] * scale * k[key][d];
                            s[j] = dot;
                        }
                        tmax = fmaxf(tmax, s[j]);
                    }
                    if (tmax == -INFINITY)
                        continue;
                    float mnew = fmaxf(m, tmax), corr = dllm_online_rescale(m, mnew), psum = 0, p[KT];
                    for (int j = 0; j < KT; j++) {
                        p[j] = s[j] == -INFINITY ? 0.0f : expf(s[j] - mnew);
                        psum += p[j];
                    }
                    l = l * corr + psum;
                    m = mnew;
                    for (int d = 0; d < HD; d++) {
                        float a = acc[d] * corr;
                        for (int j = 0; j < KT && kt + j < LEN; j++)
                            a += p[j] * v[kt + j][d];
                        acc[d] = a;
                    }
                }
                /* direct, in double */
                double w[LEN], mx = -INFINITY, z = 0;
                for (int j = 0; j < limit; j++) {
                    double dot = 0;
                    for (int d = 0; d < HD; d++)
                        dot += (double)q[iq][d] * k[j][d];
                    w[j] = dot / sqrt((double)HD);
                    if (w[j] > mx)
                        mx = w[j];
                }
                for (int j = 0; j < limit; j++)
                    z += (w[j] = exp(w[j] - mx));
                for (int d = 0; d < HD; d++) {
                    double o = 0;
                    for (int j = 0; j < limit; j++)
                        o += w[j] / z * v[j][d];
                    double diff = fabs(acc[d] / l - o);
                    if (diff > worst)
                        worst = diff;
                }
            }
        }
    }
    CHECK(worst < 1e-5);
}
