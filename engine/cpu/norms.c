/* Elementwise parts of a transformer block: RMSNorm, LayerNorm, GELU,
 * SwiGLU, rotary position embeddings. Sums in double so the result does not
 * drift with the width. */
#include "engine/cpu/cpu.h"

#include <math.h>
#include <stdlib.h>

void cpu_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

void cpu_layernorm_stats(const float *x, int n, float eps, float *mu, float *inv)
{
    double mean = 0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    double var = 0;
    for (int i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= n;
    *inv = (float)(1.0 / sqrt(var + eps));
    *mu = (float)mean;
}

void cpu_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps)
{
    float mu, inv;
    cpu_layernorm_stats(x, n, eps, &mu, &inv);
    for (int i = 0; i < n; i++)
        out[i] = (x[i] - mu) * inv * w[i] + b[i];
}

/* The exact (erf) GELU of BERT, not the tanh approximation. */
void cpu_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void cpu_swiglu(float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* cos/sin of pos * theta^(-2i/rope_dim) for positions < len, i < rope_dim/2;
 * angles in double, so long canvases keep their precision. */
int cpu_rope_table(struct cpu_ctx *c, int len)
{
    if (len <= c->rope_len)
        return 0;
    int half = c->cfg.rope_dim / 2;
    float *cs = realloc(c->rope_cos, sizeof(float) * (size_t)len * (size_t)half);
    if (!cs)
        return -1;
    c->rope_cos = cs;
    float *sn = realloc(c->rope_sin, sizeof(float) * (size_t)len * (size_t)half);
    if (!sn)
        return -1;
    c->rope_sin = sn;
    for (int p = 0; p < len; p++) {
        for (int i = 0; i < half; i++) {
            double freq = pow((double)c->cfg.rope_theta, -2.0 * i / c->cfg.rope_dim);
            double a = p * freq;
            c->rope_cos[(size_t)p * half + i] = (float)cos(a);
            c->rope_sin[(size_t)p * half + i] = (float)sin(a);
        }
    }
    c->rope_len = len;
    return 0;
}

/* Pair layout as stored: interleaved pairs (2i, 2i+1) (llama.cpp's permuted
 * GGUF, llama2.c) or rotate-half pairs (i, i + rope_dim/2) (Hugging Face). */
void cpu_rope_at(const struct cpu_ctx *c, float *x, int pos0, int n, int ld, int n_heads)
{
    int hd = c->cfg.head_dim, half = c->cfg.rope_dim / 2;
    int inter = c->cfg.rope_interleaved;
    for (int t = 0; t < n; t++) {
        int p = pos0 + t;
        const float *cs = c->rope_cos + (size_t)p * half;
        const float *sn = c->rope_sin + (size_t)p * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * ld + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                int a = inter ? 2 * i : i;
                int b = inter ? 2 * i + 1 : i + half;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * cs[i] - x1 * sn[i];
                v[b] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

void cpu_rope(const struct cpu_ctx *c, float *x, int len, int ld, int n_heads)
{
    cpu_rope_at(c, x, 0, len, ld, n_heads);
}
