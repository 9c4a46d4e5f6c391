/* Attention over packed canvases, flash style: no score matrix in memory.
 *
 * A block takes ATT_QT queries of one head of one canvas; its ATT_WARPS
 * warps own ATT_QPW queries each. Keys and values stream through shared
 * memory ATT_KT at a time (converted to f32 once per tile). For each query
 * and tile a lane scores one key (a dot product over the head), the warp
 * folds the tile into the query's running max and sum (online softmax), and
 * each lane updates the output dims d = lane, lane + 32, ... it owns. Keys a
 * query may not see (causal, block-causal, past the canvas) score -inf and
 * add nothing; canvases are packed without padding, so nothing else is
 * masked. */
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#define ATT_WARPS 8
#define ATT_QPW 4
#define ATT_QT (ATT_WARPS * ATT_QPW)
#define ATT_KT 32
#define ATT_MAXD 256 /* head dims: a lane owns SLOTS = 4 (up to 128) or 8 */

/* Shared memory rows are padded to a multiple of 4 floats (zeros past the
 * head) so dot products read float4s; a key row is 4 floats longer still, so
 * 8 lanes reading 8 key rows at once hit distinct banks when hp / 4 is even. */
static __host__ __device__ int padded(int hd)
{
    return (hd + 3) & ~3;
}

static size_t smem_bytes(int hd)
{
    size_t hp = (size_t)padded(hd);
    return sizeof(float) * ((size_t)ATT_QT * hp + (size_t)ATT_KT * (hp + 4) + (size_t)ATT_KT * hp +
                            (size_t)ATT_WARPS * ATT_KT);
}

template <int SLOTS>
static __global__ void __launch_bounds__(ATT_WARPS * 32, 2)
    attn_kernel(const bf16 *q, const bf16 *k, const bf16 *v, const struct cuda_row *rows, int nq, int nk, int hd,
                bf16 *out)
{
    extern __shared__ float4 smem4[]; /* float4: 16-byte aligned */
    float *smem = (float *)smem4;
    struct cuda_row row = rows[blockIdx.z];
    int h = blockIdx.y, q0 = blockIdx.x * ATT_QT;
    if (q0 >= row.len)
        return; /* the whole block leaves together, before any barrier */
    int kh = h / (nq / nk);
    size_t qstride = (size_t)nq * hd, kstride = (size_t)nk * hd;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    int hp = padded(hd), kp = hp + 4;
    float *Qs = smem;                       /* [ATT_QT][hp], pre-scaled */
    float *Ks = Qs + (size_t)ATT_QT * hp;   /* [ATT_KT][kp]: lanes read rows */
    float *Vs = Ks + (size_t)ATT_KT * kp;   /* [ATT_KT][hp]: lanes read columns */
    float *Ps = Vs + (size_t)ATT_KT * hp;   /* [ATT_WARPS][ATT_KT] */

    float scale = 1.0f / sqrtf((float)hd);
    for (int e = tid; e < ATT_QT * hp; e += blockDim.x) {
        int qi = e / hp, d = e % hp, iq = q0 + qi;
        Qs[e] = iq < row.len && d < hd
                    ? __bfloat162float(q[(size_t)(row.start + iq) * qstride + (size_t)h * hd + d]) * scale
                    : 0.0f;
    }
    int q_last = min(q0 + ATT_QT, row.len) - 1;
    int kend = dllm_key_limit(row.attn, row.block_len, row.len, q_last); /* limits grow with i */

    float m[ATT_QPW], l[ATT_QPW], acc[ATT_QPW][SLOTS];
#pragma unroll
    for (int qi = 0; qi < ATT_QPW; qi++) {
        m[qi] = -INFINITY;
        l[qi] = 0.0f;
#pragma unroll
        for (int c = 0; c < SLOTS; c++)
            acc[qi][c] = 0.0f;
    }

    for (int kt = 0; kt < kend; kt += ATT_KT) {
        __syncthreads(); /* the previous tile is no longer read */
        for (int e = tid; e < ATT_KT * hp; e += blockDim.x) {
            int j = e / hp, d = e % hp, key = kt + j;
            float kx = 0.0f, vx = 0.0f;
            if (key < row.len && d < hd) {
                size_t off = (size_t)(row.start + key) * kstride + (size_t)kh * hd + d;
                kx = __bfloat162float(k[off]);
                vx = __bfloat162float(v[off]);
            }
            Ks[j * kp + d] = kx;
            Vs[j * hp + d] = vx;
        }
        __syncthreads();
#pragma unroll
        for (int qi = 0; qi < ATT_QPW; qi++) {
            int slot = warp * ATT_QPW + qi, iq = q0 + slot;
            if (iq >= row.len)
                break; /* uniform over the warp */
            int limit = dllm_key_limit(row.attn, row.block_len, row.len, iq);
            int key = kt + lane;
            float s = -INFINITY;
            if (key < limit) {
                const float4 *qr = (const float4 *)(Qs + (size_t)slot * hp);
                const float4 *kr = (const float4 *)(Ks + (size_t)lane * kp);
                float dot = 0.0f;
                for (int d4 = 0; d4 < hp / 4; d4++) {
                    float4 a = qr[d4], b = kr[d4];
                    dot += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
                }
                s = dot;
            }
            float tmax = s;
            for (int o = 16; o > 0; o >>= 1)
                tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, o));
            if (tmax == -INFINITY)
                continue; /* no visible key in this tile; uniform */
            float mnew = fmaxf(m[qi], tmax);
            float corr = dllm_online_rescale(m[qi], mnew);
            float p = s == -INFINITY ? 0.0f : expf(s - mnew);
            float psum = p;
            for (int o = 16; o > 0; o >>= 1)
                psum += __shfl_xor_sync(0xffffffffu, psum, o);
            l[qi] = l[qi] * corr + psum;
            m[qi] = mnew;
            Ps[warp * ATT_KT + lane] = p;
            __syncwarp();
#pragma unroll
            for (int c = 0; c < SLOTS; c++) {
                int d = lane + 32 * c;
                if (d < hd) {
                    float a = acc[qi][c] * corr;
                    for (int j = 0; j < ATT_KT; j++)
                        a += Ps[warp * ATT_KT + j] * Vs[j * hp + d];
                    acc[qi][c] = a;
                }
            }
            __syncwarp(); /* Ps is rewritten by the next query */
        }
    }

#pragma unroll
    for (int qi = 0; qi < ATT_QPW; qi++) {
        int iq = q0 + warp * ATT_QPW + qi;
        if (iq >= row.len)
            break;
        float inv = 1.0f / l[qi]; /* a query always sees at least itself */
        bf16 *o = out + (size_t)(row.start + iq) * qstride + (size_t)h * hd;
#pragma unroll
        for (int c = 0; c < SLOTS; c++) {
            int d = lane + 32 * c;
            if (d < hd)
                o[d] = __float2bfloat16(acc[qi][c] * inv);
        }
    }
}

/* Allows the shared memory a head size needs (past the default 48 KiB). */
int cuk_attention_init(int head_dim)
{
    if (head_dim <= 0 || head_dim > ATT_MAXD)
        return -1;
    int bytes = (int)smem_bytes(head_dim);
    cudaError_t e = head_dim <= 128
                        ? cudaFuncSetAttribute(attn_kernel<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)
                        : cudaFuncSetAttribute(attn_kernel<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    return e == cudaSuccess ? 0 : -1;
}

void cuk_attention(cudaStream_t st, const bf16 *q, const bf16 *k, const bf16 *v, const struct cuda_row *rows,
                   int n_rows, int max_len, int nq, int nk, int hd, bf16 *out)
{
    dim3 grid((max_len + ATT_QT - 1) / ATT_QT, nq, n_rows);
    if (hd <= 128)
        attn_kernel<4><<<grid, ATT_WARPS * 32, smem_bytes(hd), st>>>(q, k, v, rows, nq, nk, hd, out);
    else
        attn_kernel<8><<<grid, ATT_WARPS * 32, smem_bytes(hd), st>>>(q, k, v, rows, nq, nk, hd, out);
}
