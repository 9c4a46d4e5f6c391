/* The CUDA backend's table: load (weights to the GPU once, as BF16),
 * denoise (packed forward, output head at the queried positions, reduction
 * per position), logits (full rows for reference tests), free.
 * Semantics follow engine/cpu (forward.c, head.c, reduce.c); layouts and
 * precision are explained in cuda.h. */
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)
#define MIN_WORKSPACE_TOKENS 512
#define BLAS_WORKSPACE ((size_t)32 << 20) /* cuBLAS's advice for Hopper */

/* ----------------------------------------------------------------- free */

static void cuda_free_ctx(void *ctx)
{
    struct cu_ctx *c = (struct cu_ctx *)ctx;
    if (!c)
        return;
    if (c->st)
        cudaStreamSynchronize(c->st);
    for (int i = 0; i < c->n_graphs; i++)
        cudaGraphExecDestroy(c->graphs[i].exec);
    cu_workspace_free(c);
    cu_dit_free(c);
    free(c->temb);
    for (int i = 0; i < c->n_allocs; i++)
        cudaFree(c->allocs[i]);
    free(c->allocs);
    free(c->layers);
    free(c->chunks);
    cudaFreeHost(c->stage_host);
    cudaFree(c->stage_dev);
    cudaFreeHost(c->out_host);
    cudaFree(c->out_dev);
    if (c->blas)
        cublasDestroy(c->blas);
    cudaFree(c->blas_ws);
    if (c->ev0)
        cudaEventDestroy(c->ev0);
    if (c->ev1)
        cudaEventDestroy(c->ev1);
    if (c->st)
        cudaStreamDestroy(c->st);
    free(c);
}

/* ----------------------------------------------------------------- load */

static void *cuda_load(const struct model *m, int threads, char *err, size_t errlen)
{
    (void)threads;
    const struct model_config *cfg = &m->cfg;
    if (cfg->arch != ARCH_LLADA && cfg->arch != ARCH_DREAM && cfg->arch != ARCH_LLAMA && cfg->arch != ARCH_BERT &&
        cfg->arch != ARCH_ROBERTA && cfg->arch != ARCH_MDLM && cfg->arch != ARCH_SEDD) {
        snprintf(err, errlen, "cuda: architecture %s is not supported by the CUDA backend", arch_name(cfg->arch));
        return NULL;
    }
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        cudaGetLastError();
        snprintf(err, errlen, "cuda: no CUDA device available");
        return NULL;
    }
    struct cu_ctx *c = (struct cu_ctx *)calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "cuda: out of host memory");
        return NULL;
    }
    c->m = m;
    c->cfg = *cfg;
    c->bert = cfg->arch == ARCH_BERT || cfg->arch == ARCH_ROBERTA;
    c->roberta = cfg->arch == ARCH_ROBERTA;
    c->dit = cfg->arch == ARCH_MDLM || cfg->arch == ARCH_SEDD;
    c->C = cfg->cond_dim;
    c->D = cfg->d_model;
    c->F = cfg->d_ff;
    c->V = cfg->vocab_size;
    c->nq = cfg->n_heads;
    c->nk = cfg->n_kv_heads > 0 ? cfg->n_kv_heads : cfg->n_heads;
    c->hd = cfg->head_dim > 0 ? cfg->head_dim : cfg->d_model / cfg->n_heads;
    if (c->cfg.rope_dim <= 0 || c->cfg.rope_dim > c->hd)
        c->cfg.rope_dim = c->hd;
    if (c->bert)
        c->cfg.rope_dim = 0;
    c->qdim = c->nq * c->hd;
    c->kvdim = c->nk * c->hd;
    c->nqkv = c->qdim + 2 * c->kvdim;
    c->ff1 = c->bert || c->dit ? c->F : 2 * c->F;
    if (c->nq % c->nk != 0 || c->cfg.rope_dim % 2 != 0 || ((c->bert || c->dit) && c->qdim != c->D) ||
        (c->dit && (c->nk != c->nq || c->C <= 0))) {
        snprintf(err, errlen, "cuda: unsupported head layout (%d heads, %d kv heads, head %d, rope %d)", c->nq,
                 c->nk, c->hd, c->cfg.rope_dim);
        cuda_free_ctx(c);
        return NULL;
    }
    if (cuk_attention_init(c->hd) != 0) {
        snprintf(err, errlen, "cuda: head size %d is not supported by the attention kernel (at most 256)", c->hd);
        cuda_free_ctx(c);
        return NULL;
    }

    size_t need_w = cu_weights_estimate(m);
    int tokens = cfg->max_seq > MIN_WORKSPACE_TOKENS ? cfg->max_seq : MIN_WORKSPACE_TOKENS;
    if (tokens > 8192)
        tokens = 8192;
    size_t need_ws = cu_workspace_bytes(c, (size_t)tokens), fr = 0, tot = 0;
    if (cu_fail(cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo", err, errlen)) {
        cuda_free_ctx(c);
        return NULL;
    }
    if (need_w + need_ws + CUDA_RESERVE_BYTES > fr) {
        snprintf(err, errlen,
                 "cuda: %s needs %.0f MiB of BF16 weights + %.0f MiB of workspace (%d tokens) + %.0f MiB reserve; "
                 "the GPU has %.0f MiB free of %.0f",
                 m->name ? m->name : "model", need_w / MIB, need_ws / MIB, tokens, CUDA_RESERVE_BYTES / MIB, fr / MIB,
                 tot / MIB);
        cuda_free_ctx(c);
        return NULL;
    }
    if (cu_fail(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking), "cudaStreamCreate", err, errlen) ||
        cu_fail(cudaEventCreate(&c->ev0), "cudaEventCreate", err, errlen) ||
        cu_fail(cudaEventCreate(&c->ev1), "cudaEventCreate", err, errlen)) {
        cuda_free_ctx(c);
        return NULL;
    }
    /* an explicit cuBLAS workspace (set after the stream, which resets it),
     * so a captured graph never has cuBLAS allocate one mid-capture */
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(c->blas, c->st) != CUBLAS_STATUS_SUCCESS ||
        cudaMalloc(&c->blas_ws, BLAS_WORKSPACE) != cudaSuccess ||
        cublasSetWorkspace(c->blas, c->blas_ws, BLAS_WORKSPACE) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cuda: cuBLAS set-up failed");
        cuda_free_ctx(c);
        return NULL;
    }
    c->use_graphs = 1;
    if (cu_load_weights(c, err, errlen) || cu_workspace_reserve(c, tokens, err, errlen)) {
        cuda_free_ctx(c);
        return NULL;
    }
    struct cuda_meminfo mi;
    cuda_get_meminfo(c, &mi);
    /* the load-time memory report the design asks for (not an error) */
    fprintf(stderr, "dllm cuda: %s: weights %.0f MiB (BF16), workspace %.0f MiB for %d tokens, %.0f MiB free of %.0f\n",
            mi.device, mi.weights_bytes / MIB, mi.workspace_bytes / MIB, mi.workspace_tokens, mi.free_bytes / MIB,
            mi.total_bytes / MIB);
    return c;
}

/* -------------------------------------------------------------- forward */

/* Y[T][out] = X[T][in] W^T (+ Y when beta = 1), f32 out; see cuda.h. */
static void gemm(struct cu_ctx *c, const bf16 *W, const bf16 *X, float *Y, int out, int T, int in, float beta)
{
    float alpha = 1.0f;
    cublasStatus_t s = cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, T, in, &alpha, W, CUDA_R_16BF, in, X,
                                    CUDA_R_16BF, in, &beta, Y, CUDA_R_32F, out, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS && c->blas_status == CUBLAS_STATUS_SUCCESS)
        c->blas_status = s;
}

/* Device views of one call's staged inputs (the DiT's: each canvas's BF16
 * conditioning, each token's canvas, each gathered row's SEDD scale and
 * input token). */
struct cu_inputs {
    const int32_t *ids, *pos;
    const struct cuda_row *rows;
    const struct cuda_job *jobs;
    const int32_t *gidx;
    int T, n_rows, max_len;
    const bf16 *cond;
    const int32_t *trow;
    const float *gsub;
    const int32_t *gtok;
};

/* MDLM / SEDD: the DiT of cuda.h, hidden states of every token after the
 * final adaLN into c->xb. */
static void forward_dit(struct cu_ctx *c, const struct cu_inputs *in)
{
    int T = in->T, D = c->D, R = in->n_rows;
    float eps = c->cfg.norm_eps;
    cuk_embed(c->st, c->tok, NULL, NULL, in->ids, in->pos, 0, T, D, c->h);
    cuk_rope_table(c->st, in->max_len, c->cfg.rope_dim, c->cfg.rope_theta, c->rope_cs, c->rope_sn);
    for (int l = 0; l < c->cfg.n_layers; l++) {
        const struct cu_layer *L = &c->layers[l];
        /* shift, scale, gate (attention), shift, scale, gate (MLP) per canvas */
        gemm(c, L->wada, in->cond, c->mod, 6 * D, R, c->C, 0.0f);
        cuk_add_bias(c->st, c->mod, L->bada, R, 6 * D);
        cuk_dit_modulate(c->st, c->h, L->norm1, c->mod, 6 * D, 0, 1, in->trow, T, D, eps, c->xb);
        gemm(c, L->wqkv, c->xb, c->qkv, 3 * D, T, D, 0.0f);
        cuk_qkv(c->st, c->qkv, NULL, in->pos, T, c->nq, c->nk, c->hd, c->cfg.rope_dim, 0, c->rope_cs, c->rope_sn,
                c->q, c->k, c->v);
        cuk_attention(c->st, c->q, c->k, c->v, in->rows, R, in->max_len, c->nq, c->nk, c->hd, c->att);
        /* qkv is spent: it holds the products before their gated add */
        gemm(c, L->wo, c->att, c->qkv, D, T, D, 0.0f);
        cuk_dit_gated_add(c->st, c->h, c->qkv, c->mod, 6 * D, 2, in->trow, T, D);
        cuk_dit_modulate(c->st, c->h, L->norm2, c->mod, 6 * D, 3, 4, in->trow, T, D, eps, c->xb);
        gemm(c, L->wff1, c->xb, c->ff, c->F, T, D, 0.0f);
        cuk_bias_gelu_tanh(c->st, c->ff, L->b_up, T, c->F, c->act);
        gemm(c, L->wdown, c->act, c->qkv, D, T, c->F, 0.0f);
        cuk_add_bias(c->st, c->qkv, L->b_down, T, D);
        cuk_dit_gated_add(c->st, c->h, c->qkv, c->mod, 6 * D, 5, in->trow, T, D);
    }
    gemm(c, c->fada_w, in->cond, c->fmod, 2 * D, R, c->C, 0.0f);
    cuk_add_bias(c->st, c->fmod, c->fada_b, R, 2 * D);
    cuk_dit_modulate(c->st, c->h, c->out_norm, c->fmod, 2 * D, 0, 1, in->trow, T, D, eps, c->xb);
}

/* Hidden states of every token into c->xb (BF16): after the final RMSNorm
 * (Llama family) or the last post-LN (BERT). */
static void forward(struct cu_ctx *c, const struct cu_inputs *in)
{
    if (c->dit) {
        forward_dit(c, in);
        return;
    }
    int T = in->T, D = c->D;
    float eps = c->cfg.norm_eps;
    cuk_embed(c->st, c->tok, c->pos_tab, c->type0, in->ids, in->pos, 0, T, D, c->h);
    if (c->bert)
        cuk_layernorm(c->st, c->h, NULL, c->embd_norm, c->embd_norm_b, T, D, eps, c->xb);
    else
        cuk_rope_table(c->st, in->max_len, c->cfg.rope_dim, c->cfg.rope_theta, c->rope_cs, c->rope_sn);
    for (int l = 0; l < c->cfg.n_layers; l++) {
        const struct cu_layer *L = &c->layers[l];
        if (!c->bert)
            cuk_rmsnorm(c->st, c->h, L->norm1, T, D, eps, c->xb);
        gemm(c, L->wqkv, c->xb, c->qkv, c->nqkv, T, D, 0.0f);
        cuk_qkv(c->st, c->qkv, L->bqkv, in->pos, T, c->nq, c->nk, c->hd, c->cfg.rope_dim, c->cfg.rope_interleaved,
                c->rope_cs, c->rope_sn, c->q, c->k, c->v);
        cuk_attention(c->st, c->q, c->k, c->v, in->rows, in->n_rows, in->max_len, c->nq, c->nk, c->hd, c->att);
        gemm(c, L->wo, c->att, c->h, D, T, c->qdim, 1.0f);
        if (c->bert)
            cuk_layernorm(c->st, c->h, L->bo, L->norm1, L->norm1_b, T, D, eps, c->xb);
        else
            cuk_rmsnorm(c->st, c->h, L->norm2, T, D, eps, c->xb);
        gemm(c, L->wff1, c->xb, c->ff, c->ff1, T, D, 0.0f);
        if (c->bert)
            cuk_bias_gelu(c->st, c->ff, L->b_up, T, c->F, c->act);
        else
            cuk_swiglu(c->st, c->ff, T, c->F, c->act);
        gemm(c, L->wdown, c->act, c->h, D, T, c->F, 1.0f);
        if (c->bert)
            cuk_layernorm(c->st, c->h, L->b_down, L->norm2, L->norm2_b, T, D, eps, c->xb);
    }
    if (!c->bert)
        cuk_rmsnorm(c->st, c->h, c->out_norm, T, D, eps, c->xb);
}

/* The forward through a graph per batch shape: the first call of a shape
 * captures it, later ones replay it (one launch instead of ~10 per layer).
 * Any failure while capturing turns graphs off for this context and runs
 * the forward directly; finish_call then reports a real error if any. */
static void run_forward(struct cu_ctx *c, const struct cu_inputs *in)
{
    if (!c->use_graphs) {
        forward(c, in);
        return;
    }
    if (c->n_graphs > 0 && c->graphs[0].gen != c->gen) { /* buffers moved: all are stale */
        for (int i = 0; i < c->n_graphs; i++)
            cudaGraphExecDestroy(c->graphs[i].exec);
        c->n_graphs = c->next_graph = 0;
    }
    for (int i = 0; i < c->n_graphs; i++) {
        struct cu_graph *g = &c->graphs[i];
        if (g->T == in->T && g->n_rows == in->n_rows && g->max_len == in->max_len) {
            if (cudaGraphLaunch(g->exec, c->st) == cudaSuccess)
                return;
            cudaGetLastError();
            c->use_graphs = 0;
            forward(c, in);
            return;
        }
    }
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    if (cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        c->use_graphs = 0;
        forward(c, in);
        return;
    }
    forward(c, in);
    cudaError_t e = cudaStreamEndCapture(c->st, &graph);
    if (e == cudaSuccess && c->blas_status == CUBLAS_STATUS_SUCCESS)
        e = cudaGraphInstantiate(&exec, graph, 0);
    else if (e == cudaSuccess)
        e = cudaErrorUnknown;
    if (graph)
        cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        cudaGetLastError();
        c->blas_status = CUBLAS_STATUS_SUCCESS;
        c->use_graphs = 0;
        forward(c, in);
        return;
    }
    int slot;
    if (c->n_graphs < CUDA_MAX_GRAPHS) {
        slot = c->n_graphs++;
    } else { /* the oldest goes (freed when its last launch is done) */
        slot = c->next_graph;
        c->next_graph = (c->next_graph + 1) % CUDA_MAX_GRAPHS;
        cudaGraphExecDestroy(c->graphs[slot].exec);
    }
    struct cu_graph g = {in->T, in->n_rows, in->max_len, c->gen, exec};
    c->graphs[slot] = g;
    if (cudaGraphLaunch(exec, c->st) != cudaSuccess) {
        cudaGetLastError();
        c->use_graphs = 0;
        forward(c, in);
    }
}

/* Logits [n][vocab] into c->logits of the hidden states gidx[0..n). */
static void head(struct cu_ctx *c, const int32_t *gidx, int n)
{
    int D = c->D;
    cuk_gather(c->st, c->xb, gidx, n, D, c->xg);
    if (c->bert) {
        gemm(c, c->mlm_dense, c->xg, c->hg, D, n, D, 0.0f);
        cuk_bias_gelu(c->st, c->hg, c->mlm_dense_b, n, D, NULL);
        cuk_layernorm(c->st, c->hg, NULL, c->mlm_norm, c->mlm_norm_b, n, D, c->cfg.norm_eps, c->xg);
    }
    gemm(c, c->out_w, c->xg, c->logits, c->V, n, D, 0.0f);
    if (c->out_bias)
        cuk_add_bias(c->st, c->logits, c->out_bias, n, c->V);
}

/* ------------------------------------------------------- staging a call */

static size_t align16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

struct cu_layout {
    size_t ids, pos, rows, jobs, gidx, cond, trow, gsub, gtok, total;
};

/* C: the DiT's conditioning width (0 for the other architectures). */
static struct cu_layout layout(int T, int n_rows, int n_jobs, int n_g, int C)
{
    struct cu_layout L;
    L.ids = 0;
    L.pos = align16(L.ids + sizeof(int32_t) * (size_t)T);
    L.rows = align16(L.pos + sizeof(int32_t) * (size_t)T);
    L.jobs = align16(L.rows + sizeof(struct cuda_row) * (size_t)n_rows);
    L.gidx = align16(L.jobs + sizeof(struct cuda_job) * (size_t)n_jobs);
    L.cond = align16(L.gidx + sizeof(int32_t) * (size_t)n_g);
    L.trow = align16(L.cond + sizeof(uint16_t) * (size_t)n_rows * (size_t)C);
    L.gsub = align16(L.trow + sizeof(int32_t) * (size_t)T);
    L.gtok = align16(L.gsub + sizeof(float) * (size_t)n_g);
    L.total = align16(L.gtok + sizeof(int32_t) * (size_t)n_g);
    return L;
}

/* The staged inputs' device views. */
static struct cu_inputs inputs_of(const struct cu_ctx *c, const struct cu_layout *L, int T, int n_rows, int max_len,
                                  int with_jobs)
{
    char *dev = (char *)c->stage_dev;
    struct cu_inputs in = {(const int32_t *)(dev + L->ids),
                           (const int32_t *)(dev + L->pos),
                           (const struct cuda_row *)(dev + L->rows),
                           with_jobs ? (const struct cuda_job *)(dev + L->jobs) : NULL,
                           (const int32_t *)(dev + L->gidx),
                           T,
                           n_rows,
                           max_len,
                           (const bf16 *)(dev + L->cond),
                           (const int32_t *)(dev + L->trow),
                           (const float *)(dev + L->gsub),
                           (const int32_t *)(dev + L->gtok)};
    return in;
}

/* The rows as the CPU engine checks them (engine/cpu/forward.c). */
static int check_rows(const struct cu_ctx *c, const struct denoise_row *rows, int n_rows, int *T, int *max_len,
                      char *err, size_t errlen)
{
    long total = 0;
    int mx = 0;
    if (n_rows < 0 || (n_rows > 0 && !rows)) {
        snprintf(err, errlen, "cuda: bad batch");
        return -1;
    }
    for (int r = 0; r < n_rows; r++) {
        const struct denoise_row *row = &rows[r];
        if (row->len < 0 || (row->len > 0 && !row->ids) || row->len > (1 << 20) || total > (1 << 24)) {
            snprintf(err, errlen, "cuda: row %d: bad length %d", r, row->len);
            return -1;
        }
        for (int i = 0; i < row->len; i++)
            if (row->ids[i] < 0 || row->ids[i] >= c->V) {
                snprintf(err, errlen, "cuda: row %d: token id %d at %d outside the vocabulary (%d)", r, row->ids[i],
                         i, c->V);
                return -1;
            }
        if (row->attn == ATTN_BLOCK_CAUSAL && row->block_len <= 0) {
            snprintf(err, errlen, "cuda: row %d: block-causal attention needs block_len > 0", r);
            return -1;
        }
        if (row->rp.mode != REDUCE_SOFTMAX && row->n_query > 0) {
            /* its reduction lives in engine/cpu/reduce_sedd.c only so far */
            snprintf(err, errlen, "cuda: SEDD's uniform-graph samplers run on the CPU backend only");
            return -1;
        }
        total += row->len;
        if (row->len > mx)
            mx = row->len;
    }
    *T = (int)total;
    *max_len = mx;
    return 0;
}

/* Token ids, positions (RoPE / learned) and row table into the staging. */
static int stage_rows(const struct cu_ctx *c, const struct denoise_row *rows, int n_rows, char *base,
                      const struct cu_layout *L, int *starts, char *err, size_t errlen)
{
    int32_t *ids = (int32_t *)(base + L->ids), *pos = (int32_t *)(base + L->pos);
    int32_t *trow = (int32_t *)(base + L->trow);
    struct cuda_row *cr = (struct cuda_row *)(base + L->rows);
    int pad = c->cfg.pad_id >= 0 ? c->cfg.pad_id : 1;
    int t = 0;
    for (int r = 0; r < n_rows; r++) {
        const struct denoise_row *row = &rows[r];
        if (c->dit) {
            float s = row->sigma;
            if (c->cfg.time_cond && !(isfinite(s) && s >= 0.0f)) {
                snprintf(err, errlen, "cuda: row %d: noise level sigma %g must be finite and >= 0", r, s);
                return -1;
            }
            cu_dit_cond(c, s, (uint16_t *)(base + L->cond) + (size_t)r * c->C);
            for (int i = 0; i < row->len; i++)
                trow[t + i] = r;
        }
        starts[r] = t;
        cr[r].start = t;
        cr[r].len = row->len;
        cr[r].attn = (int)row->attn;
        cr[r].block_len = row->block_len;
        int seen = 0;
        for (int i = 0; i < row->len; i++, t++) {
            ids[t] = row->ids[i];
            int p = i;
            if (c->roberta) { /* as Hugging Face: pads at padding_idx, others count from it */
                if (row->ids[i] == pad) {
                    p = pad;
                } else {
                    seen++;
                    p = pad + seen;
                }
            }
            if (c->bert && p >= c->n_pos) {
                snprintf(err, errlen, "cuda: position %d beyond the model's %d learned positions", p, c->n_pos);
                return -1;
            }
            pos[t] = p;
        }
    }
    return 0;
}

static int head_source(const struct cu_ctx *c, const int *starts, int r, int pos)
{
    int p = pos;
    if (c->cfg.shift_logits && p > 0)
        p--;
    return starts[r] + p;
}

static int finish_call(struct cu_ctx *c, char *err, size_t errlen)
{
    cudaEventRecord(c->ev1, c->st);
    cudaError_t e = cudaStreamSynchronize(c->st);
    if (e == cudaSuccess)
        e = cudaGetLastError();
    if (cu_fail(e, "step", err, errlen))
        return -1;
    if (c->blas_status != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cuda: cublasGemmEx failed (status %d)", (int)c->blas_status);
        c->blas_status = CUBLAS_STATUS_SUCCESS;
        return -1;
    }
    cudaEventElapsedTime(&c->last_ms, c->ev0, c->ev1);
    return 0;
}

static int cuda_denoise(void *ctx, const struct denoise_batch *b, char *err, size_t errlen)
{
    struct cu_ctx *c = (struct cu_ctx *)ctx;
    int T, max_len;
    if (check_rows(c, b->rows, b->n_rows, &T, &max_len, err, errlen))
        return -1;
    int n_jobs = 0, n_g = 0;
    for (int r = 0; r < b->n_rows; r++) {
        const struct denoise_row *row = &b->rows[r];
        int u = row->cfg_uncond;
        if (row->n_query < 0 || (row->n_query > 0 && !row->query)) {
            snprintf(err, errlen, "cuda: row %d: bad query list", r);
            return -1;
        }
        for (int i = 0; i < row->n_query; i++)
            if (row->query[i] < 0 || row->query[i] >= row->len) {
                snprintf(err, errlen, "cuda: row %d: query position %d outside [0, %d)", r, row->query[i], row->len);
                return -1;
            }
        if (u >= b->n_rows || u == r || (u >= 0 && b->rows[u].len != row->len)) {
            snprintf(err, errlen, "cuda: row %d: CFG twin %d is not a row of the same length", r, u);
            return -1;
        }
        n_jobs += row->n_query;
        n_g += row->n_query * (u >= 0 ? 2 : 1);
    }
    if (T == 0 || n_jobs == 0) {
        /* nothing queried: the forward would change nothing the caller sees */
        return 0;
    }
    struct cu_layout L = layout(T, b->n_rows, n_jobs, n_g, c->dit ? c->C : 0);
    int max_chunks = n_g; /* a chunk holds at least one job */
    if (cu_workspace_reserve(c, T, err, errlen) || cu_stage_reserve(c, L.total, n_jobs, max_chunks, err, errlen) ||
        (c->dit && cu_dit_reserve(c, b->n_rows, err, errlen)))
        return -1;
    char *base = (char *)c->stage_host;
    int *starts = (int *)malloc(sizeof(int) * (size_t)b->n_rows);
    if (!starts) {
        snprintf(err, errlen, "cuda: out of host memory");
        return -1;
    }
    if (stage_rows(c, b->rows, b->n_rows, base, &L, starts, err, errlen)) {
        free(starts);
        return -1;
    }
    /* jobs and gather lists, cut into chunks of at most CUDA_HEAD_CHUNK rows */
    struct cuda_job *jobs = (struct cuda_job *)(base + L.jobs);
    int32_t *gidx = (int32_t *)(base + L.gidx), *gtok = (int32_t *)(base + L.gtok);
    float *gsub = (float *)(base + L.gsub);
    int j = 0, g = 0, n_chunks = 0;
    struct cu_chunk cur = {0, 0, 0, 0};
    for (int r = 0; r < b->n_rows; r++) {
        const struct denoise_row *row = &b->rows[r];
        int u = row->cfg_uncond, need = u >= 0 ? 2 : 1;
        for (int i = 0; i < row->n_query; i++) {
            if (cur.n_g + need > CUDA_HEAD_CHUNK) {
                c->chunks[n_chunks++] = cur;
                cur.job0 = j;
                cur.g0 = g;
                cur.n_jobs = cur.n_g = 0;
            }
            int p = row->query[i];
            struct cuda_job *jb = &jobs[j++];
            jb->cond = cur.n_g;
            gsub[g] = c->dit ? cu_dit_log_scale(c, row->sigma) : 0.0f;
            gtok[g] = row->ids[p];
            gidx[g++] = head_source(c, starts, r, p);
            jb->uncond = -1;
            if (u >= 0) {
                jb->uncond = cur.n_g + 1;
                gsub[g] = c->dit ? cu_dit_log_scale(c, b->rows[u].sigma) : 0.0f;
                gtok[g] = b->rows[u].ids[p];
                gidx[g++] = head_source(c, starts, u, p);
            }
            jb->cfg_scale = row->cfg_scale;
            jb->position = p;
            jb->rp = row->rp;
            cur.n_jobs++;
            cur.n_g += need;
        }
    }
    c->chunks[n_chunks++] = cur;
    free(starts);

    struct cu_inputs in = inputs_of(c, &L, T, b->n_rows, max_len, 1);
    cudaEventRecord(c->ev0, c->st);
    cudaMemcpyAsync(c->stage_dev, c->stage_host, L.total, cudaMemcpyHostToDevice, c->st);
    run_forward(c, &in);
    for (int k = 0; k < n_chunks; k++) {
        const struct cu_chunk *ch = &c->chunks[k];
        head(c, in.gidx + ch->g0, ch->n_g);
        if (c->cfg.arch == ARCH_SEDD)
            cuk_sedd_post(c->st, c->logits, c->V, in.gsub + ch->g0, in.gtok + ch->g0, ch->n_g);
        cuk_reduce(c->st, c->logits, c->V, in.jobs + ch->job0, ch->n_jobs, c->out_dev + ch->job0);
    }
    cudaMemcpyAsync(c->out_host, c->out_dev, sizeof(struct denoise_pos) * (size_t)n_jobs, cudaMemcpyDeviceToHost,
                    c->st);
    if (finish_call(c, err, errlen))
        return -1;
    memcpy(b->out, c->out_host, sizeof(struct denoise_pos) * (size_t)n_jobs);
    return 0;
}

static int cuda_logits(void *ctx, const struct denoise_row *row, float *out, char *err, size_t errlen)
{
    struct cu_ctx *c = (struct cu_ctx *)ctx;
    int T, max_len;
    if (check_rows(c, row, 1, &T, &max_len, err, errlen))
        return -1;
    if (T == 0)
        return 0;
    struct cu_layout L = layout(T, 1, 0, T, c->dit ? c->C : 0);
    if (cu_workspace_reserve(c, T, err, errlen) || cu_stage_reserve(c, L.total, 1, 1, err, errlen) ||
        (c->dit && cu_dit_reserve(c, 1, err, errlen)))
        return -1;
    char *base = (char *)c->stage_host;
    int start = 0;
    if (stage_rows(c, row, 1, base, &L, &start, err, errlen))
        return -1;
    int32_t *gidx = (int32_t *)(base + L.gidx), *gtok = (int32_t *)(base + L.gtok);
    float *gsub = (float *)(base + L.gsub);
    for (int p = 0; p < T; p++) {
        gidx[p] = head_source(c, &start, 0, p);
        gsub[p] = c->dit ? cu_dit_log_scale(c, row->sigma) : 0.0f;
        gtok[p] = row->ids[p];
    }
    struct cu_inputs in = inputs_of(c, &L, T, 1, max_len, 0);
    cudaEventRecord(c->ev0, c->st);
    cudaMemcpyAsync(c->stage_dev, c->stage_host, L.total, cudaMemcpyHostToDevice, c->st);
    run_forward(c, &in);
    for (int p0 = 0; p0 < T; p0 += CUDA_HEAD_CHUNK) {
        int n = T - p0 < CUDA_HEAD_CHUNK ? T - p0 : CUDA_HEAD_CHUNK;
        head(c, in.gidx + p0, n);
        if (c->cfg.arch == ARCH_SEDD)
            cuk_sedd_post(c->st, c->logits, c->V, in.gsub + p0, in.gtok + p0, n);
        cudaMemcpyAsync(out + (size_t)p0 * c->V, c->logits, sizeof(float) * (size_t)n * c->V,
                        cudaMemcpyDeviceToHost, c->st);
    }
    return finish_call(c, err, errlen);
}

/* --------------------------------------------------------- the table */

static const struct backend cuda_backend = {
    "cuda",
    cuda_load,
    cuda_denoise,
    cuda_logits,
    cuda_free_ctx,
    NULL, /* cache_new: no device key/value cache yet */
    NULL,
};

extern "C" const struct backend *backend_cuda(void)
{
    return &cuda_backend;
}

extern "C" void cuda_get_meminfo(void *ctx, struct cuda_meminfo *mi)
{
    struct cu_ctx *c = (struct cu_ctx *)ctx;
    memset(mi, 0, sizeof *mi);
    mi->weights_bytes = c->weights_bytes;
    mi->workspace_bytes = c->workspace_bytes;
    mi->workspace_tokens = c->cap_tokens;
    cudaMemGetInfo(&mi->free_bytes, &mi->total_bytes);
    int dev = 0;
    struct cudaDeviceProp prop;
    if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
        snprintf(mi->device, sizeof mi->device, "%.127s", prop.name);
}

extern "C" int cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" void cuda_set_graphs(void *ctx, int on)
{
    ((struct cu_ctx *)ctx)->use_graphs = on != 0;
}

extern "C" double cuda_last_step_seconds(void *ctx)
{
    return ((struct cu_ctx *)ctx)->last_ms / 1000.0;
}

extern "C" int cuda_gemm_peak(int n, int iters, double *tflops, char *err, size_t errlen)
{
    *tflops = 0;
    size_t nn = (size_t)n * (size_t)n;
    bf16 *A = NULL, *B = NULL;
    float *C = NULL;
    cublasHandle_t h = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    int rc = -1;
    if (cu_fail(cudaMalloc((void **)&A, nn * 2), "cudaMalloc", err, errlen) ||
        cu_fail(cudaMalloc((void **)&B, nn * 2), "cudaMalloc", err, errlen) ||
        cu_fail(cudaMalloc((void **)&C, nn * 4), "cudaMalloc", err, errlen) ||
        cu_fail(cudaMemset(A, 0, nn * 2), "cudaMemset", err, errlen) ||
        cu_fail(cudaMemset(B, 0, nn * 2), "cudaMemset", err, errlen) ||
        cu_fail(cudaEventCreate(&e0), "cudaEventCreate", err, errlen) ||
        cu_fail(cudaEventCreate(&e1), "cudaEventCreate", err, errlen))
        goto out;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cuda: cublasCreate failed");
        goto out;
    }
    {
        float alpha = 1.0f, beta = 0.0f, ms = 0;
        for (int i = 0; i < iters + 1; i++) {
            if (i == 1)
                cudaEventRecord(e0, 0);
            if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, A, CUDA_R_16BF, n, B, CUDA_R_16BF, n,
                             &beta, C, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) !=
                CUBLAS_STATUS_SUCCESS) {
                snprintf(err, errlen, "cuda: cublasGemmEx failed");
                goto out;
            }
        }
        cudaEventRecord(e1, 0);
        if (cu_fail(cudaEventSynchronize(e1), "gemm", err, errlen))
            goto out;
        cudaEventElapsedTime(&ms, e0, e1);
        *tflops = 2.0 * n * (double)n * n * iters / (ms / 1000.0) / 1e12;
        rc = 0;
    }
out:
    if (h)
        cublasDestroy(h);
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaFree(A);
    cudaFree(B);
    cudaFree(C);
    return rc;
}
