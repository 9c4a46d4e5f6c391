/* engine/cuda/cuda.h: the CUDA denoiser room's door inside the engine.
 *
 * backend_cuda() (engine/engine.h) runs the same batched forward and the same
 * per-position vocabulary reduction as the CPU backend, on one GPU with
 * cuBLAS for every large product and a few kernels of our own. This header
 * is what the tests and the benchmark reach beyond the backend table, and
 * (for the .cu files only) the kernels' launchers.
 *
 * Status: compiled and linked on a machine without a GPU; not yet run on one.
 *
 * Precision. Weights are uploaded once as BF16: BF16 tensors as stored, F32
 * and F16 rounded to BF16 (nearest even), Q8_0 / Q4_0 / K-quants dequantized
 * to f32 on the host with tensor_rows_f32 and then rounded to BF16, all at
 * load (no on-the-fly dequantization). Norm weights and biases stay f32.
 * Matmul inputs (normed activations, attention output, MLP activation) are
 * BF16; every product accumulates in f32 (CUBLAS_COMPUTE_32F) and writes f32.
 * The residual stream, norms, softmax and the vocabulary reduction are f32
 * (the Gumbel keys and RoPE angles in double, as on the CPU).
 *
 * Layouts. Everything is row-major as the CPU engine's: the canvases of a
 * batch are packed one after another without padding (row r owns tokens
 * [start_r, start_r + len_r)), an activation is [tokens][width], a weight
 * [out][in] as GGUF stores it (ne[0] = in is contiguous). cuBLAS is
 * column-major, so Y[T][out] = X[T][in] W^T is issued as the column-major
 * product Y^T (out x T, ld out) = op(W) (out x in) * X^T (in x T) with
 * op = transpose on W's buffer (which cuBLAS reads as in x out, ld in) and
 * no transpose on X's (in x T, ld in): cublasGemmEx(OP_T, OP_N, m = out,
 * n = T, k = in, W, lda = in, X, ldb = in, Y, ldc = out). The Q/K/V weights of a
 * layer are stacked at load into one [q + k + v][in] matrix, and gate/up
 * into one [2 d_ff][in] (gate first), so each is one product; their outputs
 * are [T][q|k|v] and [T][gate|up]. The attention output and MLP-down
 * products accumulate into the f32 residual (beta = 1), which is the
 * residual add. Attention never stores a score matrix: one thread block
 * takes 32 queries of one head of one canvas and streams the canvas's keys
 * through shared memory with an online softmax; only keys of the canvas
 * itself are visited, so there is no padding to mask. Logits are computed
 * only at queried positions (plus the CFG twins' same positions), in chunks
 * of CUDA_HEAD_CHUNK positions, and each position's reduction is one thread
 * block that returns a struct denoise_pos; full logits never leave the GPU
 * except through backend->logits.
 *
 * Streams and graphs. One stream per context; every call stages its inputs
 * in one pinned buffer (one copy up), and its outputs (struct denoise_pos per
 * queried position) come back in one copy into another. The forward of a
 * batch shape (packed tokens, rows, longest canvas) is captured as a CUDA
 * graph on first use and replayed after (up to 8 shapes kept): a diffusion
 * request repeats its shape every step. The output head and the reduction
 * depend on how many positions are still masked, which changes every step,
 * so they are issued directly. cuBLAS gets an explicit 32 MiB workspace so
 * that capture never allocates; a capture failure turns graphs off for the
 * context and the step runs directly.
 *
 * MDLM / SEDD (the DiT, cuda_dit.cu): the conditioning vector of each
 * canvas (the sigma embedding MLP, 256 -> cond -> cond, SiLU) is computed on
 * the host in f32 from the canvas's sigma and staged as BF16 with the
 * inputs; each block's adaLN modulation is one product [rows][6d] = cond
 * Wada^T + b per batch, and one small kernel applies it per token
 * (LayerNorm without bias, times weight, (1 + scale), + shift, to BF16)
 * with the token's canvas from a staged token -> row table; the gated
 * residuals are a second one (the attention-out and MLP-down products go
 * to an f32 scratch, then h += gate * y). The fused qkv weight is already
 * [q ; k ; v]. The final adaLN runs for every token in the forward, so the
 * head only gathers; SEDD's log-score transform (minus ln(e^sigma - 1) +
 * ln(V - 1), 0 at the input token) is a kernel on each logits chunk. The
 * per-element math (GELU tanh, modulation, sigma features, SEDD's scale) is
 * in cuda_math.h, checked on the host.
 *
 * Left out for now (stated, not hidden): prefix KV caching (the CPU engine
 * has none to mirror yet), tensor-core attention (the attention kernel uses
 * f32 FMAs).
 */
#ifndef DLLM_CUDA_H
#define DLLM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#define CUDA_HEAD_CHUNK 1024 /* logits rows per output-head product */

#ifdef __cplusplus
extern "C" {
#endif

/* Device memory as seen at load and after the last denoise call. */
struct cuda_meminfo {
    size_t weights_bytes;    /* uploaded weights (BF16 matrices, f32 vectors) */
    size_t workspace_bytes;  /* activations and the logits chunk */
    int workspace_tokens;    /* tokens one forward can hold without growing */
    size_t free_bytes;       /* cudaMemGetInfo after allocation */
    size_t total_bytes;
    char device[128];
};

/* ctx is a context returned by backend_cuda()->load. */
void cuda_get_meminfo(void *ctx, struct cuda_meminfo *mi);
/* Number of CUDA devices (0 when none or no driver); never fails loudly. */
int cuda_device_count(void);
/* Forward passes through CUDA graphs (default on): 0 issues every kernel
 * and product directly; results are the same either way. */
void cuda_set_graphs(void *ctx, int on);
/* Time of the last denoise/logits call on the GPU (events around the work). */
double cuda_last_step_seconds(void *ctx);
/* cuBLAS BF16 x BF16 -> f32 (f32 compute) square product of size n, iters
 * times: achieved TFLOP/s, for the benchmark's peak figure. */
int cuda_gemm_peak(int n, int iters, double *tflops, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
/* ------------------------------------------- private to the .cu files of engine/cuda */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

extern "C" {
#include "engine/engine.h"
}

typedef __nv_bfloat16 bf16;

/* Sum over the block (blockDim.x a multiple of 32, at most 1024). Every
 * thread gets the result. Shared by the norm kernels of every .cu file. */
static __device__ __forceinline__ float block_sum(float v)
{
    __shared__ float part[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        int nw = (int)(blockDim.x >> 5);
        float w = lane < nw ? part[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1)
            w += __shfl_xor_sync(0xffffffffu, w, o);
        if (lane == 0)
            total = w;
    }
    __syncthreads();
    float r = total;
    __syncthreads(); /* part/total may be reused by the next call */
    return r;
}

#define CUDA_RESERVE_BYTES ((size_t)256 << 20) /* CUDA context, cuBLAS workspace */
#define CUDA_MAX_GRAPHS 8                      /* forward shapes kept as graphs */

struct cu_layer {
    bf16 *wqkv;  /* [q + k + v][d_model] */
    bf16 *wo;    /* [d_model][q] */
    bf16 *wff1;  /* Llama: [gate ; up][d_model]; BERT: up [d_ff][d_model] */
    bf16 *wdown; /* [d_model][d_ff] */
    float *bqkv, *bo, *b_up, *b_down; /* NULL when absent */
    float *norm1, *norm1_b, *norm2, *norm2_b;
    bf16 *wada;  /* DiT: adaLN modulation [6 d_model][cond] */
    float *bada;
};

struct cu_chunk {
    int job0, n_jobs;  /* jobs of this output-head product */
    int g0, n_g;       /* hidden-state rows it gathers */
};

/* The forward of one batch shape, captured once and replayed: kernel
 * arguments are baked in, so the key is everything they depend on: the
 * packed token count, rows, longest canvas, and the buffers' generation. */
struct cu_graph {
    int T, n_rows, max_len;
    unsigned gen;
    cudaGraphExec_t exec;
};

struct cu_ctx {
    const struct model *m;
    struct model_config cfg;
    int bert, roberta;
    int D, F, V, nq, nk, hd, qdim, kvdim, nqkv, ff1;
    cudaStream_t st;
    cublasHandle_t blas;
    cublasStatus_t blas_status; /* first failure since the last check */
    cudaEvent_t ev0, ev1;
    float last_ms;

    bf16 *tok, *out_w, *pos_tab, *type0, *mlm_dense;
    int n_pos;
    float *embd_norm, *embd_norm_b, *out_norm, *out_bias, *mlm_dense_b, *mlm_norm, *mlm_norm_b;
    struct cu_layer *layers;
    /* DiT (MDLM/SEDD): final adaLN, the host's f32 copy of the sigma MLP
     * (fc1 [C][n_freq], b1 [C], fc2 [C][C], b2 [C]), modulations of the
     * rows of the last forward ([rows][6d] per block, reused; [rows][2d]) */
    int dit, C, n_freq;
    bf16 *fada_w;
    float *fada_b;
    float *temb;
    float *mod, *fmod;
    int mod_rows;
    void **allocs; /* every weight buffer, for freeing */
    int n_allocs;
    size_t weights_bytes;

    /* activations for cap_tokens tokens */
    int cap_tokens;
    float *h, *qkv, *ff, *rope_cs, *rope_sn;
    bf16 *xb, *q, *k, *v, *att, *act;
    /* output head, CUDA_HEAD_CHUNK rows */
    bf16 *xg;
    float *hg, *logits;
    size_t workspace_bytes;

    /* per-call inputs (pinned host, and their device copy) and outputs */
    void *stage_host, *stage_dev;
    size_t stage_cap;
    struct denoise_pos *out_host, *out_dev;
    int out_cap;
    struct cu_chunk *chunks;
    int chunk_cap;

    void *blas_ws;
    struct cu_graph graphs[CUDA_MAX_GRAPHS];
    int n_graphs, next_graph;
    unsigned gen;   /* bumped when a buffer a graph points into moves */
    int use_graphs;
};

/* cuda_weights.cu */
int cu_load_weights(struct cu_ctx *c, char *err, size_t errlen);
/* Device bytes the weights will take (an upper bound: every tensor). */
size_t cu_weights_estimate(const struct model *m);

/* cuda_memory.cu */
/* 0 on cudaSuccess; else -1 with "cuda: what: reason" in err. */
int cu_fail(cudaError_t e, const char *what, char *err, size_t errlen);
size_t cu_workspace_bytes(const struct cu_ctx *c, size_t tokens);
void cu_workspace_free(struct cu_ctx *c);
/* Activations for at least `tokens` tokens (bumps c->gen when they move). */
int cu_workspace_reserve(struct cu_ctx *c, int tokens, char *err, size_t errlen);
/* Staging for `bytes` of inputs, n_out outputs and n_chunks head chunks. */
int cu_stage_reserve(struct cu_ctx *c, size_t bytes, int n_out, int n_chunks, char *err, size_t errlen);

/* One canvas of the packed batch, as the attention kernel sees it. */
struct cuda_row {
    int start, len;
    int attn;       /* enum attn_kind */
    int block_len;
};

/* One queried position's reduction: its logits row in the chunk (and the CFG
 * twin's), and the request's sampling parameters. */
struct cuda_job {
    int cond;       /* row of the logits chunk */
    int uncond;     /* row of the twin's logits, -1 without CFG */
    float cfg_scale;
    int position;   /* canvas position: keys the random draws */
    struct reduce_params rp;
};

/* cuda_kernels.cu; every launcher queues on st and returns at once. */
void cuk_embed(cudaStream_t st, const bf16 *tok, const bf16 *pos_tab, const bf16 *type0, const int32_t *ids,
               const int32_t *pos, int pos_offset, int T, int D, float *h);
/* xb = bf16(RMSNorm(h) * w) per token. */
void cuk_rmsnorm(cudaStream_t st, const float *h, const float *w, int T, int D, float eps, bf16 *xb);
/* h = LayerNorm(h + bias) * w + b in place (bias may be NULL); xb = bf16(h). */
void cuk_layernorm(cudaStream_t st, float *h, const float *bias, const float *w, const float *b, int T, int D,
                   float eps, bf16 *xb);
/* cos/sin of pair i at position p, [len][rope_dim / 2] each. */
void cuk_rope_table(cudaStream_t st, int len, int rope_dim, float theta, float *cs, float *sn);
/* qkv [T][nq+2nk heads][hd] f32 (+ bias) -> q, k, v BF16; RoPE (from the
 * table) on q and k at each token's position when rope_dim > 0. */
void cuk_qkv(cudaStream_t st, const float *qkv, const float *bias, const int32_t *pos, int T, int nq, int nk,
             int hd, int rope_dim, int interleaved, const float *cs, const float *sn, bf16 *q, bf16 *k, bf16 *v);
/* act[t][j] = bf16(silu(ff[t][j]) * ff[t][F + j]) */
void cuk_swiglu(cudaStream_t st, const float *ff, int T, int F, bf16 *act);
/* out[t][j] = gelu(x[t][j] + b[j]) to bf16 (act) or in place (f32, act NULL). */
void cuk_bias_gelu(cudaStream_t st, float *x, const float *b, int T, int F, bf16 *act);
/* y[t][j] += b[j] */
void cuk_add_bias(cudaStream_t st, float *y, const float *b, int T, int n);
/* dst[g] = src[idx[g]], rows of D BF16. */
void cuk_gather(cudaStream_t st, const bf16 *src, const int32_t *idx, int n, int D, bf16 *dst);
/* cuda_dit.cu: the DiT's host helpers and kernels. */
/* Modulation buffers for n_rows canvases (bumps c->gen when they move). */
int cu_dit_reserve(struct cu_ctx *c, int n_rows, char *err, size_t errlen);
void cu_dit_free(struct cu_ctx *c);
/* The BF16 conditioning vector of a canvas at noise level sigma (host). */
void cu_dit_cond(const struct cu_ctx *c, float sigma, uint16_t *out);
/* The noise level the network sees (0 without time conditioning), and what
 * SEDD's output subtracts from its logits (0 for MDLM). */
float cu_dit_sigma(const struct cu_ctx *c, float sigma);
float cu_dit_log_scale(const struct cu_ctx *c, float sigma);
/* xb[t] = bf16(LN(h[t]) w (1 + mod[row(t)][scale_at d]) + mod[row(t)][shift_at d]) */
void cuk_dit_modulate(cudaStream_t st, const float *h, const float *w, const float *mod, int ld_mod, int shift_at,
                      int scale_at, const int32_t *trow, int T, int D, float eps, bf16 *xb);
/* h[t] += mod[row(t)][gate_at d] * y[t] */
void cuk_dit_gated_add(cudaStream_t st, float *h, const float *y, const float *mod, int ld_mod, int gate_at,
                       const int32_t *trow, int T, int D);
/* act[t][j] = bf16(gelu_tanh(x[t][j] + b[j])) */
void cuk_bias_gelu_tanh(cudaStream_t st, const float *x, const float *b, int T, int F, bf16 *act);
/* SEDD: logits[g][j] -= sub[g]; logits[g][tok[g]] = 0, for g < n. */
void cuk_sedd_post(cudaStream_t st, float *logits, int V, const float *sub, const int32_t *tok, int n);
/* cuda_attn.cu: out[t][h][d] = softmax(q k^T / sqrt(hd)) v within each canvas. */
int cuk_attention_init(int head_dim);
void cuk_attention(cudaStream_t st, const bf16 *q, const bf16 *k, const bf16 *v, const struct cuda_row *rows,
                   int n_rows, int max_len, int nq, int nk, int hd, bf16 *out);
/* cuda_reduce.cu: one block per job; logits rows are overwritten (CFG mix,
 * bans). */
void cuk_reduce(cudaStream_t st, float *logits, int vocab, const struct cuda_job *jobs, int n,
                struct denoise_pos *out);
#endif

#endif
