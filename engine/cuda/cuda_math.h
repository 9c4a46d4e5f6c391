/* engine/cuda/cuda_math.h: the per-element math of the CUDA kernels.
 *
 * Small functions that the kernels call on the device and that the host unit
 * tests (tests/unit/test_cuda_math.c) compile as plain C11 and check against
 * double-precision formulas and the CPU engine's rng. Without a GPU in CI this
 * header is the part of the CUDA path that is actually exercised, so every
 * formula a kernel needs lives here and the kernels only add indexing and
 * reductions around it.
 */
#ifndef DLLM_CUDA_MATH_H
#define DLLM_CUDA_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define DLLM_HD __host__ __device__
#else
#define DLLM_HD
#endif

/* ------------------------------------------------------------ bfloat16 */

/* Round to nearest even, as the hardware conversion does; NaN stays NaN. */
DLLM_HD static inline uint16_t dllm_f32_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

DLLM_HD static inline float dllm_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* ---------------------------------------------------------------- norms */

/* RMSNorm: y_i = x_i * dllm_rms_inv(sum x^2, n, eps) * w_i */
DLLM_HD static inline float dllm_rms_inv(float sumsq, int n, float eps)
{
    return 1.0f / sqrtf(sumsq / (float)n + eps);
}

/* LayerNorm: the same inverse over the centred sum of squares,
 * y_i = (x_i - mean) * dllm_rms_inv(sum (x - mean)^2, n, eps) * w_i + b_i
 * (biased variance, as torch's LayerNorm). */

/* ----------------------------------------------------------------- RoPE */

/* The two dims of a head that rotate together as pair i (i < rope_dim / 2):
 * interleaved (llama.cpp's permuted GGUF, llama2.c) pairs (2i, 2i+1);
 * Hugging Face rotate-half pairs (i, i + rope_dim/2). */
DLLM_HD static inline void dllm_rope_dims(int i, int rope_dim, int interleaved, int *a, int *b)
{
    if (interleaved) {
        *a = 2 * i;
        *b = 2 * i + 1;
    } else {
        *a = i;
        *b = i + rope_dim / 2;
    }
}

/* Angle of pair i at position pos: pos * theta^(-2i / rope_dim), in double
 * as the CPU engine's table, so long canvases keep their precision. */
DLLM_HD static inline double dllm_rope_angle(int pos, int i, int rope_dim, float theta)
{
    double freq = pow((double)theta, -2.0 * i / rope_dim);
    return pos * freq;
}

DLLM_HD static inline void dllm_rope_rotate(float x0, float x1, float c, float s, float *y0, float *y1)
{
    *y0 = x0 * c - x1 * s;
    *y1 = x0 * s + x1 * c;
}

/* ------------------------------------------------------------ attention */

/* Keys [0, limit) of its canvas are visible to query i; kind is enum
 * attn_kind's value (0 full, 1 causal, 2 block-causal), as the CPU engine's
 * rule. Limits never shrink as i grows. */
DLLM_HD static inline int dllm_key_limit(int kind, int block_len, int len, int i)
{
    if (kind == 1)
        return i + 1;
    if (kind == 2 && block_len > 0) {
        int end = (i / block_len + 1) * block_len;
        return end < len ? end : len;
    }
    return len;
}

/* ---------------------------------------------------------- activations */

DLLM_HD static inline float dllm_silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* BERT's GELU (the exact one, with erf). */
DLLM_HD static inline float dllm_gelu(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

/* The DiT's MLP (MDLM/SEDD): nn.GELU(approximate='tanh'). */
DLLM_HD static inline float dllm_gelu_tanh(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* -------------------------------------------------- DiT (MDLM / SEDD) */

/* adaLN: a LayerNorm'd value (no bias) times its weight, modulated by the
 * canvas's shift and scale: xn w (1 + scale) + shift. */
DLLM_HD static inline float dllm_modulate(float xn, float w, float shift, float scale)
{
    return xn * w * (1.0f + scale) + shift;
}

/* Entry i of the sinusoidal embedding of the noise level (TimestepEmbedder,
 * width dim): i < dim/2 is cos(sigma w_i), the next dim/2 are sin(sigma w_k),
 * w_k = exp(-ln(10000) k / (dim/2)), in float32 as the official code; an
 * odd width ends in 0. */
DLLM_HD static inline float dllm_sigma_feature(float sigma, int i, int dim)
{
    int half = dim / 2;
    if (i >= 2 * half)
        return 0.0f;
    int k = i < half ? i : i - half;
    float w = expf(-9.21034037198f * (float)k / (float)half);
    float a = sigma * w;
    return i < half ? cosf(a) : sinf(a);
}

/* What SEDD's scale_by_sigma subtracts from every logit: ln(e^sigma - 1) +
 * ln(V - 1), with e^sigma - 1 as expm1 below sigma 0.5 and exp - 1 above, in
 * float32, as the official forward; sigma 0 gives -inf (the scores +inf). */
DLLM_HD static inline float dllm_sedd_log_scale(float sigma, int vocab)
{
    float e = sigma < 0.5f ? expm1f(sigma) : expf(sigma) - 1.0f;
    return logf(e) + logf((float)(vocab - 1));
}

/* ------------------------------------------------------ online softmax */

/* A running (max m, sum s of exp(x - m)) over a stream of values, so a
 * softmax or log-sum-exp needs one pass and partial results merge. Start
 * from m = -INFINITY, s = 0; log-sum-exp = m + log(s). Values of -inf (masked
 * keys, banned tokens) add nothing. */
DLLM_HD static inline void dllm_online_merge(float *m, float *s, float m2, float s2)
{
    if (m2 == -INFINITY)
        return;
    if (*m == -INFINITY) {
        *m = m2;
        *s = s2;
    } else if (m2 > *m) {
        *s = *s * expf(*m - m2) + s2;
        *m = m2;
    } else {
        *s += s2 * expf(m2 - *m);
    }
}

DLLM_HD static inline void dllm_online_push(float *m, float *s, float x)
{
    dllm_online_merge(m, s, x, 1.0f);
}

/* Factor that rescales sums taken against an old max to a new one (>= old). */
DLLM_HD static inline float dllm_online_rescale(float m_old, float m_new)
{
    return m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
}

/* ---------------------------------------------------- the vocabulary pass */

/* Classifier-free guidance: un + (scale + 1) (cond - un). */
DLLM_HD static inline float dllm_cfg(float cond, float un, float scale)
{
    return un + (scale + 1.0f) * (cond - un);
}

/* The logit the sampler sees: divided by the temperature when sampling. */
DLLM_HD static inline float dllm_temper(float logit, float temperature)
{
    return temperature > 0.0f ? logit / temperature : logit;
}

/* An unsigned key with the order of the floats (-inf lowest, +inf highest),
 * for threshold searches over bit patterns. NaN is not expected. */
DLLM_HD static inline uint32_t dllm_order_key(float x)
{
    uint32_t u;
    if (x == 0.0f)
        x = 0.0f; /* -0 and +0 compare equal: one key */
    memcpy(&u, &x, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* A key with the rank order of (value, index): larger value first, then
 * smaller index, so every entry has its own key and a threshold on it cuts
 * the ranking exactly where a sort would. */
DLLM_HD static inline uint64_t dllm_rank_key(float x, int index)
{
    return ((uint64_t)dllm_order_key(x) << 32) | (uint64_t)(0xffffffffu - (uint32_t)index);
}

/* Whether tempered logit f at index i survives top-p and top-k, given the
 * cuts found by bisection: top-p keeps rank keys >= p_key (entries whose
 * preceding mass is <= top_p), top-k keeps value keys >= k_key (the k-th
 * value and its ties). 0 means no cut. */
DLLM_HD static inline int dllm_kept(float f, int i, uint64_t p_key, uint32_t k_key)
{
    return f != -INFINITY && dllm_rank_key(f, i) >= p_key && dllm_order_key(f) >= k_key;
}

/* (value, index) a before b in "largest first, lowest index on ties". */
DLLM_HD static inline int dllm_ranks_before(float va, int ia, float vb, int ib)
{
    return va > vb || (va == vb && ia < ib);
}

/* One term of sum p ln p (the neg_entropy confidence) for a logit x under
 * the log-normaliser lse, as the CPU engine's; -inf (filtered) adds 0. */
DLLM_HD static inline float dllm_plogp(float x, float lse)
{
    if (x == -INFINITY)
        return 0.0f;
    float lp = x - lse;
    return expf(lp) * lp;
}

/* Counter RNG, the same function as engine/rng.c (rng_hash/rng_u01), so a
 * draw on the device equals the CPU engine's draw bit for bit. */
DLLM_HD static inline uint64_t dllm_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

DLLM_HD static inline double dllm_rng_u01(uint64_t seed, uint64_t step, uint64_t pos, uint64_t index)
{
    uint64_t h = dllm_mix64(seed);
    h = dllm_mix64(h ^ step);
    h = dllm_mix64(h ^ pos);
    h = dllm_mix64(h ^ index);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* Gumbel-max key of one vocabulary entry: the argmax over entries of
 * l/T - ln(-ln u) is a sample of softmax(l/T); LLaDA's form
 * exp(l) / (-ln u)^T is T times this key, so both pick the same token.
 * In double, as the reference; u = 0 gives -inf (never chosen). */
DLLM_HD static inline double dllm_gumbel_key(float scaled_logit, double u)
{
    return (double)scaled_logit - log(-log(u));
}

#endif
