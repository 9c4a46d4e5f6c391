/* MDLM / SEDD on the GPU: the host side of the conditioning (the sigma
 * embedding MLP per canvas, tiny, in f32), the modulation buffers, and the
 * DiT's kernels: adaLN modulation per token, gated residual, GELU (tanh)
 * with bias, and SEDD's log-score transform of a logits chunk. The forward
 * that strings them together is in cuda_backend.cu; see cuda.h. */
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#include <stdio.h>
#include <stdlib.h>

#define ROW_THREADS 256

static int blocks_for(size_t n, int threads)
{
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    return b > 65535 * 8 ? 65535 * 8 : (int)b;
}

/* ------------------------------------------------------------- host side */

int cu_dit_reserve(struct cu_ctx *c, int n_rows, char *err, size_t errlen)
{
    if (n_rows <= c->mod_rows)
        return 0;
    cu_dit_free(c);
    int rows = n_rows < 8 ? 8 : n_rows;
    if (cu_fail(cudaMalloc((void **)&c->mod, sizeof(float) * (size_t)rows * 6 * (size_t)c->D), "cudaMalloc", err,
                errlen) ||
        cu_fail(cudaMalloc((void **)&c->fmod, sizeof(float) * (size_t)rows * 2 * (size_t)c->D), "cudaMalloc", err,
                errlen)) {
        cu_dit_free(c);
        return -1;
    }
    c->mod_rows = rows;
    return 0;
}

void cu_dit_free(struct cu_ctx *c)
{
    cudaFree(c->mod);
    cudaFree(c->fmod);
    c->mod = c->fmod = NULL;
    c->mod_rows = 0;
    c->gen++; /* graphs captured with the old buffers are stale */
}

float cu_dit_sigma(const struct cu_ctx *c, float sigma)
{
    return c->cfg.time_cond ? sigma : 0.0f;
}

float cu_dit_log_scale(const struct cu_ctx *c, float sigma)
{
    if (c->cfg.arch != ARCH_SEDD || !c->cfg.scale_by_sigma)
        return 0.0f;
    return dllm_sedd_log_scale(cu_dit_sigma(c, sigma), c->V);
}

/* c = SiLU(fc2 SiLU(fc1 f + b1) + b2), f the sinusoidal features of sigma. */
void cu_dit_cond(const struct cu_ctx *c, float sigma, uint16_t *out)
{
    int C = c->C, nf = c->n_freq;
    const float *fc1 = c->temb, *b1 = fc1 + (size_t)C * nf, *fc2 = b1 + C, *b2 = fc2 + (size_t)C * C;
    float s = cu_dit_sigma(c, sigma);
    float f[1024], h1[1024];
    for (int i = 0; i < nf; i++)
        f[i] = dllm_sigma_feature(s, i, nf);
    for (int j = 0; j < C; j++) {
        float a = b1[j];
        for (int i = 0; i < nf; i++)
            a += fc1[(size_t)j * nf + i] * f[i];
        h1[j] = dllm_silu(a);
    }
    for (int j = 0; j < C; j++) {
        float a = b2[j];
        for (int i = 0; i < C; i++)
            a += fc2[(size_t)j * C + i] * h1[i];
        out[j] = dllm_f32_to_bf16(dllm_silu(a));
    }
}

/* ---------------------------------------------------------------- kernels */

static __global__ void modulate_kernel(const float *h, const float *w, const float *mod, int ld_mod, int shift_at,
                                       int scale_at, const int32_t *trow, int D, float eps, bf16 *xb)
{
    size_t t = blockIdx.x;
    const float *x = h + t * D;
    const float *m = mod + (size_t)trow[t] * ld_mod;
    const float *shift = m + (size_t)shift_at * D, *scale = m + (size_t)scale_at * D;
    float s = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        s += x[d];
    float mean = block_sum(s) / (float)D;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        ss += (x[d] - mean) * (x[d] - mean);
    float inv = dllm_rms_inv(block_sum(ss), D, eps);
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        xb[t * D + d] = __float2bfloat16(dllm_modulate((x[d] - mean) * inv, w[d], shift[d], scale[d]));
}

void cuk_dit_modulate(cudaStream_t st, const float *h, const float *w, const float *mod, int ld_mod, int shift_at,
                      int scale_at, const int32_t *trow, int T, int D, float eps, bf16 *xb)
{
    modulate_kernel<<<T, ROW_THREADS, 0, st>>>(h, w, mod, ld_mod, shift_at, scale_at, trow, D, eps, xb);
}

static __global__ void gated_add_kernel(float *h, const float *y, const float *mod, int ld_mod, int gate_at,
                                        const int32_t *trow, size_t T, int D)
{
    size_t n = T * D;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        size_t t = e / D;
        int d = (int)(e % D);
        h[e] += mod[(size_t)trow[t] * ld_mod + (size_t)gate_at * D + d] * y[e];
    }
}

void cuk_dit_gated_add(cudaStream_t st, float *h, const float *y, const float *mod, int ld_mod, int gate_at,
                       const int32_t *trow, int T, int D)
{
    gated_add_kernel<<<blocks_for((size_t)T * D, 256), 256, 0, st>>>(h, y, mod, ld_mod, gate_at, trow, (size_t)T,
                                                                      D);
}

static __global__ void bias_gelu_tanh_kernel(const float *x, const float *b, size_t T, int F, bf16 *act)
{
    size_t n = T * F;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        act[e] = __float2bfloat16(dllm_gelu_tanh(x[e] + b[e % F]));
}

void cuk_bias_gelu_tanh(cudaStream_t st, const float *x, const float *b, int T, int F, bf16 *act)
{
    bias_gelu_tanh_kernel<<<blocks_for((size_t)T * F, 256), 256, 0, st>>>(x, b, (size_t)T, F, act);
}

/* One block per logits row: subtract the row's scale, then 0 at its input
 * token (after the subtraction, as the official scatter). */
static __global__ void sedd_post_kernel(float *logits, int V, const float *sub, const int32_t *tok)
{
    size_t g = blockIdx.x;
    float *row = logits + g * V;
    float s = sub[g];
    for (int j = threadIdx.x; j < V; j += blockDim.x)
        row[j] -= s;
    __syncthreads();
    if (threadIdx.x == 0)
        row[tok[g]] = 0.0f;
}

void cuk_sedd_post(cudaStream_t st, float *logits, int V, const float *sub, const int32_t *tok, int n)
{
    if (n > 0)
        sedd_post_kernel<<<n, ROW_THREADS, 0, st>>>(logits, V, sub, tok);
}
