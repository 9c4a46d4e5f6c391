/* The CUDA backend's table: load (weights to the GPU once, as BF16),
 * denoise (packed forward, output head at the queried positions, reduction
 * per position), logits (full rows for reference tests), free.
 * Semantics follow engine/cpu (forward.c, head.c, reduce.c); layouts and
 * precision are explained in cuda.h. */
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#include <cublas_v2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)
#define MIN_WORKSPACE_TOKENS 512
#define RESERVE_BYTES ((size_t)256 << 20) /* CUDA context, cuBLAS workspace */
#define BLAS_WORKSPACE ((size_t)32 << 20)  /* cuBLAS's advice for Hopper */
#define MAX_GRAPHS 8                       /* forward shapes kept as graphs */

struct cu_layer {
    bf16 *wqkv;  /* [q + k + v][d_model] */
    bf16 *wo;    /* [d_model][q] */
    bf16 *wff1;  /* Llama: [gate ; up][d_model]; BERT: up [d_ff][d_model] */
    bf16 *wdown; /* [d_model][d_ff] */
    float *bqkv, *bo, *b_up, *b_down; /* NULL when absent */
    float *norm1, *norm1_b, *norm2, *norm2_b;
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
    struct cu_graph graphs[MAX_GRAPHS];
    int n_graphs, next_graph;
    unsigned gen;   /* bumped when a buffer a graph points into moves */
    int use_graphs;
};

static int cuda_fail(cudaError_t e, const char *what, char *err, size_t errlen)
{
    if (e == cudaSuccess)
        return 0;
    snprintf(err, errlen, "cuda: %s: %s", what, cudaGetErrorString(e));
    return -1;
}

/* ------------------------------------------------------------ weights */

static const struct tensor *find(const struct model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

static int shape_is(const struct tensor *t, int64_t cols, int64_t rows)
{
    return t->ne[0] == cols && t->ne[1] == rows && t->ne[2] == 1 && t->ne[3] == 1;
}

static void *dev_alloc(struct cu_ctx *c, size_t bytes, char *err, size_t errlen)
{
    void *p = NULL;
    void **list = (void **)realloc(c->allocs, sizeof(void *) * (size_t)(c->n_allocs + 1));
    if (!list) {
        snprintf(err, errlen, "cuda: out of host memory");
        return NULL;
    }
    c->allocs = list;
    if (cuda_fail(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc of weights", err, errlen))
        return NULL;
    c->allocs[c->n_allocs++] = p;
    c->weights_bytes += bytes;
    return p;
}

/* Stacks tensors [rows_i][cols] into one BF16 matrix on the device. BF16
 * tensors are copied as stored; any other type goes through
 * tensor_rows_f32 and is rounded to BF16 here, a slab of rows at a time. */
static bf16 *upload_mats(struct cu_ctx *c, const char *const *names, const int *rows, int n, int cols, char *err,
                         size_t errlen)
{
    size_t total = 0;
    const struct tensor *ts[4];
    for (int i = 0; i < n; i++) {
        ts[i] = find(c->m, names[i]);
        if (!ts[i] || !shape_is(ts[i], cols, rows[i])) {
            snprintf(err, errlen, "cuda: tensor %s missing or not [%d, %d]", names[i], rows[i], cols);
            return NULL;
        }
        total += (size_t)rows[i] * (size_t)cols;
    }
    bf16 *dst = (bf16 *)dev_alloc(c, total * sizeof(bf16), err, errlen);
    if (!dst)
        return NULL;
    int slab = (int)((size_t)(1 << 22) / (size_t)cols);
    if (slab < 1)
        slab = 1;
    float *f = (float *)malloc(sizeof(float) * (size_t)slab * (size_t)cols);
    uint16_t *hb = NULL;
    if (!f || cuda_fail(cudaMallocHost((void **)&hb, sizeof(uint16_t) * (size_t)slab * (size_t)cols),
                        "cudaMallocHost", err, errlen)) {
        if (!f)
            snprintf(err, errlen, "cuda: out of host memory");
        free(f);
        return NULL;
    }
    int rc = 0;
    size_t at = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const struct tensor *t = ts[i];
        for (int r0 = 0; r0 < rows[i] && rc == 0; r0 += slab) {
            int nr = rows[i] - r0 < slab ? rows[i] - r0 : slab;
            size_t ne = (size_t)nr * (size_t)cols;
            if (t->type == DT_BF16) {
                if (t->nbytes < (size_t)rows[i] * (size_t)cols * 2) {
                    snprintf(err, errlen, "cuda: tensor %s is shorter than its shape", t->name);
                    rc = -1;
                    break;
                }
                memcpy(hb, (const uint16_t *)t->data + (size_t)r0 * (size_t)cols, ne * 2);
            } else {
                if (tensor_rows_f32(t, r0, nr, f) != 0) {
                    snprintf(err, errlen, "cuda: tensor %s (%s) does not convert to f32", t->name,
                             dtype_name(t->type));
                    rc = -1;
                    break;
                }
                for (size_t e = 0; e < ne; e++)
                    hb[e] = dllm_f32_to_bf16(f[e]);
            }
            rc = cuda_fail(cudaMemcpy(dst + at, hb, ne * 2, cudaMemcpyHostToDevice), "upload", err, errlen);
            at += ne;
        }
    }
    free(f);
    cudaFreeHost(hb);
    return rc ? NULL : dst;
}

static bf16 *upload_mat(struct cu_ctx *c, const char *name, int rows, int cols, char *err, size_t errlen)
{
    return upload_mats(c, &name, &rows, 1, cols, err, errlen);
}

/* f32 vectors (norms, biases), concatenated; NULL without error when every
 * one is absent and !required. */
static float *upload_vecs(struct cu_ctx *c, const char *const *names, const int *lens, int n, int required,
                          char *err, size_t errlen)
{
    const struct tensor *ts[3];
    int present = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        ts[i] = find(c->m, names[i]);
        present += ts[i] != NULL;
        if (ts[i] && !shape_is(ts[i], lens[i], 1)) {
            snprintf(err, errlen, "cuda: tensor %s is not [%d]", names[i], lens[i]);
            return NULL;
        }
        total += (size_t)lens[i];
    }
    if (present == 0 && !required)
        return NULL;
    for (int i = 0; i < n; i++)
        if (!ts[i]) {
            snprintf(err, errlen, "cuda: tensor %s missing", names[i]);
            return NULL;
        }
    float *hv = (float *)malloc(sizeof(float) * total);
    if (!hv) {
        snprintf(err, errlen, "cuda: out of host memory");
        return NULL;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (tensor_rows_f32(ts[i], 0, 1, hv + at) != 0) {
            snprintf(err, errlen, "cuda: tensor %s (%s) does not convert to f32", names[i], dtype_name(ts[i]->type));
            free(hv);
            return NULL;
        }
        at += (size_t)lens[i];
    }
    float *d = (float *)dev_alloc(c, sizeof(float) * total, err, errlen);
    if (d && cuda_fail(cudaMemcpy(d, hv, sizeof(float) * total, cudaMemcpyHostToDevice), "upload", err, errlen))
        d = NULL;
    free(hv);
    return d;
}

static float *upload_vec(struct cu_ctx *c, const char *name, int len, int required, char *err, size_t errlen)
{
    return upload_vecs(c, &name, &len, 1, required, err, errlen);
}

#define LNAME(buf, l, suffix) (snprintf(buf, sizeof buf, "blk.%d.%s", l, suffix), buf)

static int load_layer(struct cu_ctx *c, int l, struct cu_layer *L, char *err, size_t errlen)
{
    char a[96], b[96], d[96];
    const char *qkv[3] = {LNAME(a, l, "attn_q.weight"), LNAME(b, l, "attn_k.weight"), LNAME(d, l, "attn_v.weight")};
    int qkv_rows[3] = {c->qdim, c->kvdim, c->kvdim};
    if (!(L->wqkv = upload_mats(c, qkv, qkv_rows, 3, c->D, err, errlen)))
        return -1;
    const char *qkvb[3] = {LNAME(a, l, "attn_q.bias"), LNAME(b, l, "attn_k.bias"), LNAME(d, l, "attn_v.bias")};
    L->bqkv = upload_vecs(c, qkvb, qkv_rows, 3, c->bert, err, errlen);
    if (!L->bqkv && (c->bert || find(c->m, qkvb[0]) || find(c->m, qkvb[1]) || find(c->m, qkvb[2])))
        return -1;
    if (!(L->wo = upload_mat(c, LNAME(a, l, "attn_output.weight"), c->D, c->qdim, err, errlen)) ||
        !(L->wdown = upload_mat(c, LNAME(a, l, "ffn_down.weight"), c->D, c->F, err, errlen)))
        return -1;
    if (c->bert) {
        if (!(L->wff1 = upload_mat(c, LNAME(a, l, "ffn_up.weight"), c->F, c->D, err, errlen)) ||
            !(L->bo = upload_vec(c, LNAME(a, l, "attn_output.bias"), c->D, 1, err, errlen)) ||
            !(L->norm1 = upload_vec(c, LNAME(a, l, "attn_output_norm.weight"), c->D, 1, err, errlen)) ||
            !(L->norm1_b = upload_vec(c, LNAME(a, l, "attn_output_norm.bias"), c->D, 1, err, errlen)) ||
            !(L->b_up = upload_vec(c, LNAME(a, l, "ffn_up.bias"), c->F, 1, err, errlen)) ||
            !(L->b_down = upload_vec(c, LNAME(a, l, "ffn_down.bias"), c->D, 1, err, errlen)) ||
            !(L->norm2 = upload_vec(c, LNAME(a, l, "layer_output_norm.weight"), c->D, 1, err, errlen)) ||
            !(L->norm2_b = upload_vec(c, LNAME(a, l, "layer_output_norm.bias"), c->D, 1, err, errlen)))
            return -1;
        return 0;
    }
    const char *ff[2] = {LNAME(a, l, "ffn_gate.weight"), LNAME(b, l, "ffn_up.weight")};
    int ff_rows[2] = {c->F, c->F};
    if (!(L->wff1 = upload_mats(c, ff, ff_rows, 2, c->D, err, errlen)) ||
        !(L->norm1 = upload_vec(c, LNAME(a, l, "attn_norm.weight"), c->D, 1, err, errlen)) ||
        !(L->norm2 = upload_vec(c, LNAME(a, l, "ffn_norm.weight"), c->D, 1, err, errlen)))
        return -1;
    return 0;
}

static int load_weights(struct cu_ctx *c, char *err, size_t errlen)
{
    if (!(c->tok = upload_mat(c, "token_embd.weight", c->V, c->D, err, errlen)))
        return -1;
    c->out_w = c->tok;
    if (find(c->m, "output.weight") && !(c->out_w = upload_mat(c, "output.weight", c->V, c->D, err, errlen)))
        return -1;
    if (c->bert) {
        const struct tensor *pe = find(c->m, "position_embd.weight");
        if (!pe || pe->ne[0] != c->D || pe->ne[1] < 1 || pe->ne[1] > (1 << 20)) {
            snprintf(err, errlen, "cuda: position_embd.weight missing or not [%d, n]", c->D);
            return -1;
        }
        c->n_pos = (int)pe->ne[1];
        if (!(c->pos_tab = upload_mat(c, "position_embd.weight", c->n_pos, c->D, err, errlen)))
            return -1;
        const struct tensor *tt = find(c->m, "token_types.weight");
        if (tt) {
            if (tt->ne[0] != c->D || tt->ne[1] < 1) {
                snprintf(err, errlen, "cuda: token_types.weight is not [%d, n]", c->D);
                return -1;
            }
            /* row 0 only: every token is of type 0 */
            const char *name = "token_types.weight";
            int rows = (int)tt->ne[1];
            if (!(c->type0 = upload_mats(c, &name, &rows, 1, c->D, err, errlen)))
                return -1;
        }
        if (!(c->embd_norm = upload_vec(c, "token_embd_norm.weight", c->D, 1, err, errlen)) ||
            !(c->embd_norm_b = upload_vec(c, "token_embd_norm.bias", c->D, 1, err, errlen)) ||
            !(c->mlm_dense = upload_mat(c, "mlm.dense.weight", c->D, c->D, err, errlen)) ||
            !(c->mlm_dense_b = upload_vec(c, "mlm.dense.bias", c->D, 1, err, errlen)) ||
            !(c->mlm_norm = upload_vec(c, "mlm.norm.weight", c->D, 1, err, errlen)) ||
            !(c->mlm_norm_b = upload_vec(c, "mlm.norm.bias", c->D, 1, err, errlen)))
            return -1;
        c->out_bias = upload_vec(c, "output.bias", c->V, 0, err, errlen);
        if (!c->out_bias && find(c->m, "output.bias"))
            return -1;
    } else if (!(c->out_norm = upload_vec(c, "output_norm.weight", c->D, 1, err, errlen))) {
        return -1;
    }
    c->layers = (struct cu_layer *)calloc((size_t)c->cfg.n_layers, sizeof(struct cu_layer));
    if (!c->layers) {
        snprintf(err, errlen, "cuda: out of host memory");
        return -1;
    }
    for (int l = 0; l < c->cfg.n_layers; l++)
        if (load_layer(c, l, &c->layers[l], err, errlen))
            return -1;
    return 0;
}

/* What the weights will take: every matrix as BF16, every vector as f32
 * (tensors the forward never reads are counted too: an upper bound). */
static size_t weights_estimate(const struct model *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct tensor *t = &m->tensors[i];
        size_t n = (size_t)t->ne[0] * (size_t)t->ne[1] * (size_t)t->ne[2] * (size_t)t->ne[3];
        total += n * (t->ne[1] > 1 ? 2 : 4);
    }
    return total;
}

/* ---------------------------------------------------------- workspace */

static size_t workspace_bytes(const struct cu_ctx *c, size_t tokens)
{
    size_t per_token = 4 * (size_t)c->D + 2 * (size_t)c->D + 4 * (size_t)c->nqkv + 2 * (size_t)c->qdim +
                       4 * (size_t)c->kvdim + 2 * (size_t)c->qdim + 4 * (size_t)c->ff1 + 2 * (size_t)c->F +
                       4 * (size_t)c->cfg.rope_dim;
    size_t head = (size_t)CUDA_HEAD_CHUNK * (2 * (size_t)c->D + 4 * (size_t)c->D + 4 * (size_t)c->V);
    return per_token * tokens + head + 16 * 64;
}

static void workspace_free(struct cu_ctx *c)
{
    void *bufs[] = {c->h, c->qkv, c->ff, c->rope_cs, c->rope_sn, c->xb, c->q, c->k, c->v, c->att, c->act,
                    c->xg, c->hg, c->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cudaFree(bufs[i]);
    c->h = c->qkv = c->ff = c->rope_cs = c->rope_sn = c->hg = c->logits = NULL;
    c->xb = c->q = c->k = c->v = c->att = c->act = c->xg = NULL;
    c->cap_tokens = 0;
    c->workspace_bytes = 0;
    c->gen++;
}

static int ws_alloc(void **p, size_t bytes)
{
    return cudaMalloc(p, bytes ? bytes : 1) == cudaSuccess ? 0 : -1;
}

/* Activations for `tokens` tokens; refuses (with the figures) what would not
 * fit in the free device memory instead of failing halfway. */
static int workspace_reserve(struct cu_ctx *c, int tokens, char *err, size_t errlen)
{
    if (tokens <= c->cap_tokens)
        return 0;
    if (tokens < (1 << 30) - 1024) /* grow in steps, not token by token */
        tokens = (tokens + 1023) / 1024 * 1024;
    int old = c->cap_tokens;
    workspace_free(c);
    size_t need = workspace_bytes(c, (size_t)tokens), fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    size_t T = (size_t)tokens, C = CUDA_HEAD_CHUNK;
    int bad = need + RESERVE_BYTES / 4 > fr;
    bad = bad || ws_alloc((void **)&c->h, 4 * T * c->D) || ws_alloc((void **)&c->qkv, 4 * T * c->nqkv) ||
          ws_alloc((void **)&c->ff, 4 * T * c->ff1) || ws_alloc((void **)&c->rope_cs, 2 * T * c->cfg.rope_dim) ||
          ws_alloc((void **)&c->rope_sn, 2 * T * c->cfg.rope_dim) || ws_alloc((void **)&c->xb, 2 * T * c->D) ||
          ws_alloc((void **)&c->q, 2 * T * c->qdim) || ws_alloc((void **)&c->k, 2 * T * c->kvdim) ||
          ws_alloc((void **)&c->v, 2 * T * c->kvdim) || ws_alloc((void **)&c->att, 2 * T * c->qdim) ||
          ws_alloc((void **)&c->act, 2 * T * c->F) || ws_alloc((void **)&c->xg, 2 * C * c->D) ||
          ws_alloc((void **)&c->hg, 4 * C * c->D) || ws_alloc((void **)&c->logits, 4 * C * c->V);
    if (bad) {
        cudaGetLastError(); /* clear a failed cudaMalloc */
        workspace_free(c);
        snprintf(err, errlen,
                 "cuda: a forward of %d tokens needs %.0f MiB of workspace; the GPU has %.0f MiB free of %.0f "
                 "(weights %.0f MiB)",
                 tokens, need / MIB, fr / MIB, tot / MIB, c->weights_bytes / MIB);
        if (old > 0) {
            char e2[64];
            workspace_reserve(c, old, e2, sizeof e2);
        }
        return -1;
    }
    c->cap_tokens = tokens;
    c->workspace_bytes = need;
    return 0;
}

/* Pinned staging of one call's inputs, its device copy, and the outputs. */
static int stage_reserve(struct cu_ctx *c, size_t bytes, int n_out, int n_chunks, char *err, size_t errlen)
{
    if (bytes > c->stage_cap) {
        cudaFreeHost(c->stage_host);
        cudaFree(c->stage_dev);
        c->stage_host = c->stage_dev = NULL;
        c->stage_cap = 0;
        c->gen++;
        size_t cap = bytes * 2;
        if (cuda_fail(cudaMallocHost(&c->stage_host, cap), "cudaMallocHost", err, errlen) ||
            cuda_fail(cudaMalloc(&c->stage_dev, cap), "cudaMalloc", err, errlen))
            return -1;
        c->stage_cap = cap;
    }
    if (n_out > c->out_cap) {
        cudaFreeHost(c->out_host);
        cudaFree(c->out_dev);
        c->out_host = c->out_dev = NULL;
        c->out_cap = 0;
        int cap = n_out * 2;
        if (cuda_fail(cudaMallocHost((void **)&c->out_host, sizeof(struct denoise_pos) * (size_t)cap),
                      "cudaMallocHost", err, errlen) ||
            cuda_fail(cudaMalloc((void **)&c->out_dev, sizeof(struct denoise_pos) * (size_t)cap), "cudaMalloc", err,
                      errlen))
            return -1;
        c->out_cap = cap;
    }
    if (n_chunks > c->chunk_cap) {
        struct cu_chunk *ch = (struct cu_chunk *)realloc(c->chunks, sizeof(struct cu_chunk) * (size_t)n_chunks);
        if (!ch) {
            snprintf(err, errlen, "cuda: out of host memory");
            return -1;
        }
        c->chunks = ch;
        c->chunk_cap = n_chunks;
    }
    return 0;
}

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
    workspace_free(c);
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
        cfg->arch != ARCH_ROBERTA) {
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
    c->ff1 = c->bert ? c->F : 2 * c->F;
    if (c->nq % c->nk != 0 || c->cfg.rope_dim % 2 != 0 || (c->bert && c->qdim != c->D)) {
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

    size_t need_w = weights_estimate(m);
    int tokens = cfg->max_seq > MIN_WORKSPACE_TOKENS ? cfg->max_seq : MIN_WORKSPACE_TOKENS;
    if (tokens > 8192)
        tokens = 8192;
    size_t need_ws = workspace_bytes(c, (size_t)tokens), fr = 0, tot = 0;
    if (cuda_fail(cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo", err, errlen)) {
        cuda_free_ctx(c);
        return NULL;
    }
    if (need_w + need_ws + RESERVE_BYTES > fr) {
        snprintf(err, errlen,
                 "cuda: %s needs %.0f MiB of BF16 weights + %.0f MiB of workspace (%d tokens) + %.0f MiB reserve; "
                 "the GPU has %.0f MiB free of %.0f",
                 m->name ? m->name : "model", need_w / MIB, need_ws / MIB, tokens, RESERVE_BYTES / MIB, fr / MIB,
                 tot / MIB);
        cuda_free_ctx(c);
        return NULL;
    }
    if (cuda_fail(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking), "cudaStreamCreate", err, errlen) ||
        cuda_fail(cudaEventCreate(&c->ev0), "cudaEventCreate", err, errlen) ||
        cuda_fail(cudaEventCreate(&c->ev1), "cudaEventCreate", err, errlen)) {
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
    if (load_weights(c, err, errlen) || workspace_reserve(c, tokens, err, errlen)) {
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

/* Device views of one call's staged inputs. */
struct cu_inputs {
    const int32_t *ids, *pos;
    const struct cuda_row *rows;
    const struct cuda_job *jobs;
    const int32_t *gidx;
    int T, n_rows, max_len;
};

/* Hidden states of every token into c->xb (BF16): after the final RMSNorm
 * (Llama family) or the last post-LN (BERT). */
static void forward(struct cu_ctx *c, const struct cu_inputs *in)
{
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
    if (c->n_graphs < MAX_GRAPHS) {
        slot = c->n_graphs++;
    } else { /* the oldest goes (freed when its last launch is done) */
        slot = c->next_graph;
        c->next_graph = (c->next_graph + 1) % MAX_GRAPHS;
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
    size_t ids, pos, rows, jobs, gidx, total;
};

static struct cu_layout layout(int T, int n_rows, int n_jobs, int n_g)
{
    struct cu_layout L;
    L.ids = 0;
    L.pos = align16(L.ids + sizeof(int32_t) * (size_t)T);
    L.rows = align16(L.pos + sizeof(int32_t) * (size_t)T);
    L.jobs = align16(L.rows + sizeof(struct cuda_row) * (size_t)n_rows);
    L.gidx = align16(L.jobs + sizeof(struct cuda_job) * (size_t)n_jobs);
    L.total = align16(L.gidx + sizeof(int32_t) * (size_t)n_g);
    return L;
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
    struct cuda_row *cr = (struct cuda_row *)(base + L->rows);
    int pad = c->cfg.pad_id >= 0 ? c->cfg.pad_id : 1;
    int t = 0;
    for (int r = 0; r < n_rows; r++) {
        const struct denoise_row *row = &rows[r];
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
    if (cuda_fail(e, "step", err, errlen))
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
    struct cu_layout L = layout(T, b->n_rows, n_jobs, n_g);
    int max_chunks = n_g; /* a chunk holds at least one job */
    if (workspace_reserve(c, T, err, errlen) || stage_reserve(c, L.total, n_jobs, max_chunks, err, errlen))
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
    int32_t *gidx = (int32_t *)(base + L.gidx);
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
            gidx[g++] = head_source(c, starts, r, p);
            jb->uncond = -1;
            if (u >= 0) {
                jb->uncond = cur.n_g + 1;
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

    char *dev = (char *)c->stage_dev;
    struct cu_inputs in = {(const int32_t *)(dev + L.ids), (const int32_t *)(dev + L.pos),
                           (const struct cuda_row *)(dev + L.rows), (const struct cuda_job *)(dev + L.jobs),
                           (const int32_t *)(dev + L.gidx), T, b->n_rows, max_len};
    cudaEventRecord(c->ev0, c->st);
    cudaMemcpyAsync(c->stage_dev, c->stage_host, L.total, cudaMemcpyHostToDevice, c->st);
    run_forward(c, &in);
    for (int k = 0; k < n_chunks; k++) {
        const struct cu_chunk *ch = &c->chunks[k];
        head(c, in.gidx + ch->g0, ch->n_g);
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
    struct cu_layout L = layout(T, 1, 0, T);
    if (workspace_reserve(c, T, err, errlen) || stage_reserve(c, L.total, 1, 1, err, errlen))
        return -1;
    char *base = (char *)c->stage_host;
    int start = 0;
    if (stage_rows(c, row, 1, base, &L, &start, err, errlen))
        return -1;
    int32_t *gidx = (int32_t *)(base + L.gidx);
    for (int p = 0; p < T; p++)
        gidx[p] = head_source(c, &start, 0, p);
    char *dev = (char *)c->stage_dev;
    struct cu_inputs in = {(const int32_t *)(dev + L.ids), (const int32_t *)(dev + L.pos),
                           (const struct cuda_row *)(dev + L.rows), NULL, (const int32_t *)(dev + L.gidx), T, 1,
                           max_len};
    cudaEventRecord(c->ev0, c->st);
    cudaMemcpyAsync(c->stage_dev, c->stage_host, L.total, cudaMemcpyHostToDevice, c->st);
    run_forward(c, &in);
    for (int p0 = 0; p0 < T; p0 += CUDA_HEAD_CHUNK) {
        int n = T - p0 < CUDA_HEAD_CHUNK ? T - p0 : CUDA_HEAD_CHUNK;
        head(c, in.gidx + p0, n);
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
    if (cuda_fail(cudaMalloc((void **)&A, nn * 2), "cudaMalloc", err, errlen) ||
        cuda_fail(cudaMalloc((void **)&B, nn * 2), "cudaMalloc", err, errlen) ||
        cuda_fail(cudaMalloc((void **)&C, nn * 4), "cudaMalloc", err, errlen) ||
        cuda_fail(cudaMemset(A, 0, nn * 2), "cudaMemset", err, errlen) ||
        cuda_fail(cudaMemset(B, 0, nn * 2), "cudaMemset", err, errlen) ||
        cuda_fail(cudaEventCreate(&e0), "cudaEventCreate", err, errlen) ||
        cuda_fail(cudaEventCreate(&e1), "cudaEventCreate", err, errlen))
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
        if (cuda_fail(cudaEventSynchronize(e1), "gemm", err, errlen))
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
