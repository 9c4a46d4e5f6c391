/* The small kernels of a forward: embedding gather, norms, Q/K/V split with
 * bias and RoPE, activations, bias adds, row gathers. One thread block per
 * token row for the ones that reduce over a row; grid-stride loops for the
 * elementwise ones. The math per element is in cuda_math.h. */
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#define ROW_THREADS 256

static int blocks_for(size_t n, int threads)
{
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    return b > 65535 * 8 ? 65535 * 8 : (int)b;
}

static __global__ void embed_kernel(const bf16 *tok, const bf16 *pos_tab, const bf16 *type0, const int32_t *ids,
                                    const int32_t *pos, int pos_offset, int D, float *h)
{
    size_t t = blockIdx.x;
    const bf16 *e = tok + (size_t)ids[t] * D;
    const bf16 *p = pos_tab ? pos_tab + (size_t)(pos[t] + pos_offset) * D : NULL;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float x = __bfloat162float(e[d]);
        if (p)
            x += __bfloat162float(p[d]);
        if (type0)
            x += __bfloat162float(type0[d]);
        h[t * D + d] = x;
    }
}

void cuk_embed(cudaStream_t st, const bf16 *tok, const bf16 *pos_tab, const bf16 *type0, const int32_t *ids,
               const int32_t *pos, int pos_offset, int T, int D, float *h)
{
    embed_kernel<<<T, ROW_THREADS, 0, st>>>(tok, pos_tab, type0, ids, pos, pos_offset, D, h);
}

static __global__ void rmsnorm_kernel(const float *h, const float *w, int D, float eps, bf16 *xb)
{
    size_t t = blockIdx.x;
    const float *x = h + t * D;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        ss += x[d] * x[d];
    float inv = dllm_rms_inv(block_sum(ss), D, eps);
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        xb[t * D + d] = __float2bfloat16(x[d] * inv * w[d]);
}

void cuk_rmsnorm(cudaStream_t st, const float *h, const float *w, int T, int D, float eps, bf16 *xb)
{
    rmsnorm_kernel<<<T, ROW_THREADS, 0, st>>>(h, w, D, eps, xb);
}

/* Each thread reads and writes only its own elements of the row, so the
 * update in place needs no copy. */
static __global__ void layernorm_kernel(float *h, const float *bias, const float *w, const float *b, int D,
                                        float eps, bf16 *xb)
{
    size_t t = blockIdx.x;
    float *x = h + t * D;
    float s = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        s += x[d] + (bias ? bias[d] : 0.0f);
    float mean = block_sum(s) / (float)D;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float c = x[d] + (bias ? bias[d] : 0.0f) - mean;
        ss += c * c;
    }
    float inv = dllm_rms_inv(block_sum(ss), D, eps);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float y = (x[d] + (bias ? bias[d] : 0.0f) - mean) * inv * w[d] + b[d];
        x[d] = y;
        xb[t * D + d] = __float2bfloat16(y);
    }
}

void cuk_layernorm(cudaStream_t st, float *h, const float *bias, const float *w, const float *b, int T, int D,
                   float eps, bf16 *xb)
{
    layernorm_kernel<<<T, ROW_THREADS, 0, st>>>(h, bias, w, b, D, eps, xb);
}

static __global__ void rope_table_kernel(int len, int half, int rope_dim, float theta, float *cs, float *sn)
{
    size_t n = (size_t)len * half;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        int p = (int)(e / half), i = (int)(e % half);
        double a = dllm_rope_angle(p, i, rope_dim, theta);
        cs[e] = (float)cos(a);
        sn[e] = (float)sin(a);
    }
}

void cuk_rope_table(cudaStream_t st, int len, int rope_dim, float theta, float *cs, float *sn)
{
    size_t n = (size_t)len * (rope_dim / 2);
    if (n == 0)
        return;
    rope_table_kernel<<<blocks_for(n, 256), 256, 0, st>>>(len, rope_dim / 2, rope_dim, theta, cs, sn);
}

/* Block (token t, head slot): slots [0, nq) are query heads, [nq, nq + nk)
 * key heads, then value heads; one thread per dim of the head. A thread
 * d < rope_dim / 2 rotates pair d (both of its dims); threads of rotated
 * dims past that write nothing, since each pair has one owner. */
static __global__ void qkv_kernel(const float *qkv, const float *bias, const int32_t *pos, int nq, int nk, int hd,
                                  int rope_dim, int interleaved, const float *cs, const float *sn, bf16 *q, bf16 *k,
                                  bf16 *v)
{
    size_t t = blockIdx.x;
    int slot = blockIdx.y, d = threadIdx.x;
    size_t width = (size_t)(nq + 2 * nk) * hd;
    const float *src = qkv + t * width + (size_t)slot * hd;
    const float *bs = bias ? bias + (size_t)slot * hd : NULL;
    bf16 *dst;
    if (slot < nq)
        dst = q + (t * nq + slot) * hd;
    else if (slot < nq + nk)
        dst = k + (t * nk + (slot - nq)) * hd;
    else
        dst = v + (t * nk + (slot - nq - nk)) * hd;
    int roped = rope_dim > 0 && slot < nq + nk;
    if (roped && d < rope_dim) {
        int half = rope_dim / 2;
        if (d < half) {
            int a, b;
            dllm_rope_dims(d, rope_dim, interleaved, &a, &b);
            float x0 = src[a] + (bs ? bs[a] : 0.0f);
            float x1 = src[b] + (bs ? bs[b] : 0.0f);
            size_t e = (size_t)pos[t] * half + d;
            float y0, y1;
            dllm_rope_rotate(x0, x1, cs[e], sn[e], &y0, &y1);
            dst[a] = __float2bfloat16(y0);
            dst[b] = __float2bfloat16(y1);
        }
    } else {
        dst[d] = __float2bfloat16(src[d] + (bs ? bs[d] : 0.0f));
    }
}

void cuk_qkv(cudaStream_t st, const float *qkv, const float *bias, const int32_t *pos, int T, int nq, int nk,
             int hd, int rope_dim, int interleaved, const float *cs, const float *sn, bf16 *q, bf16 *k, bf16 *v)
{
    dim3 grid(T, nq + 2 * nk);
    qkv_kernel<<<grid, hd, 0, st>>>(qkv, bias, pos, nq, nk, hd, rope_dim, interleaved, cs, sn, q, k, v);
}

static __global__ void swiglu_kernel(const float *ff, size_t T, int F, bf16 *act)
{
    size_t n = T * F;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        size_t t = e / F, j = e % F;
        const float *row = ff + t * 2 * F;
        act[e] = __float2bfloat16(dllm_silu(row[j]) * row[F + j]);
    }
}

void cuk_swiglu(cudaStream_t st, const float *ff, int T, int F, bf16 *act)
{
    swiglu_kernel<<<blocks_for((size_t)T * F, 256), 256, 0, st>>>(ff, (size_t)T, F, act);
}

static __global__ void bias_gelu_kernel(float *x, const float *b, size_t T, int F, bf16 *act)
{
    size_t n = T * F;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float y = dllm_gelu(x[e] + (b ? b[e % F] : 0.0f));
        if (act)
            act[e] = __float2bfloat16(y);
        else
            x[e] = y;
    }
}

void cuk_bias_gelu(cudaStream_t st, float *x, const float *b, int T, int F, bf16 *act)
{
    bias_gelu_kernel<<<blocks_for((size_t)T * F, 256), 256, 0, st>>>(x, b, (size_t)T, F, act);
}

static __global__ void add_bias_kernel(float *y, const float *b, size_t T, int n)
{
    size_t total = T * n;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x)
        y[e] += b[e % n];
}

void cuk_add_bias(cudaStream_t st, float *y, const float *b, int T, int n)
{
    add_bias_kernel<<<blocks_for((size_t)T * n, 256), 256, 0, st>>>(y, b, (size_t)T, n);
}

static __global__ void gather_kernel(const bf16 *src, const int32_t *idx, int D, bf16 *dst)
{
    size_t g = blockIdx.x;
    const bf16 *s = src + (size_t)idx[g] * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dst[g * D + d] = s[d];
}

void cuk_gather(cudaStream_t st, const bf16 *src, const int32_t *idx, int n, int D, bf16 *dst)
{
    gather_kernel<<<n, ROW_THREADS, 0, st>>>(src, idx, D, dst);
}
