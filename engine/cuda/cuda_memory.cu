/* Device memory besides the weights: the activations of one forward
 * (grown on demand, refused with figures when they would not fit), the
 * pinned staging of a call's inputs and outputs, and the error helper. */
#include "engine/cuda/cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)

int cu_fail(cudaError_t e, const char *what, char *err, size_t errlen)
{
    if (e == cudaSuccess)
        return 0;
    snprintf(err, errlen, "cuda: %s: %s", what, cudaGetErrorString(e));
    return -1;
}

/* ---------------------------------------------------------- workspace */

size_t cu_workspace_bytes(const struct cu_ctx *c, size_t tokens)
{
    size_t per_token = 4 * (size_t)c->D + 2 * (size_t)c->D + 4 * (size_t)c->nqkv + 2 * (size_t)c->qdim +
                       4 * (size_t)c->kvdim + 2 * (size_t)c->qdim + 4 * (size_t)c->ff1 + 2 * (size_t)c->F +
                       4 * (size_t)c->cfg.rope_dim;
    size_t head = (size_t)CUDA_HEAD_CHUNK * (2 * (size_t)c->D + 4 * (size_t)c->D + 4 * (size_t)c->V);
    return per_token * tokens + head + 16 * 64;
}

void cu_workspace_free(struct cu_ctx *c)
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
int cu_workspace_reserve(struct cu_ctx *c, int tokens, char *err, size_t errlen)
{
    if (tokens <= c->cap_tokens)
        return 0;
    if (tokens < (1 << 30) - 1024) /* grow in steps, not token by token */
        tokens = (tokens + 1023) / 1024 * 1024;
    int old = c->cap_tokens;
    cu_workspace_free(c);
    size_t need = cu_workspace_bytes(c, (size_t)tokens), fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    size_t T = (size_t)tokens, C = CUDA_HEAD_CHUNK;
    int bad = need + CUDA_RESERVE_BYTES / 4 > fr;
    bad = bad || ws_alloc((void **)&c->h, 4 * T * c->D) || ws_alloc((void **)&c->qkv, 4 * T * c->nqkv) ||
          ws_alloc((void **)&c->ff, 4 * T * c->ff1) || ws_alloc((void **)&c->rope_cs, 2 * T * c->cfg.rope_dim) ||
          ws_alloc((void **)&c->rope_sn, 2 * T * c->cfg.rope_dim) || ws_alloc((void **)&c->xb, 2 * T * c->D) ||
          ws_alloc((void **)&c->q, 2 * T * c->qdim) || ws_alloc((void **)&c->k, 2 * T * c->kvdim) ||
          ws_alloc((void **)&c->v, 2 * T * c->kvdim) || ws_alloc((void **)&c->att, 2 * T * c->qdim) ||
          ws_alloc((void **)&c->act, 2 * T * c->F) || ws_alloc((void **)&c->xg, 2 * C * c->D) ||
          ws_alloc((void **)&c->hg, 4 * C * c->D) || ws_alloc((void **)&c->logits, 4 * C * c->V);
    if (bad) {
        cudaGetLastError(); /* clear a failed cudaMalloc */
        cu_workspace_free(c);
        snprintf(err, errlen,
                 "cuda: a forward of %d tokens needs %.0f MiB of workspace; the GPU has %.0f MiB free of %.0f "
                 "(weights %.0f MiB)",
                 tokens, need / MIB, fr / MIB, tot / MIB, c->weights_bytes / MIB);
        if (old > 0) {
            char e2[64];
            cu_workspace_reserve(c, old, e2, sizeof e2);
        }
        return -1;
    }
    c->cap_tokens = tokens;
    c->workspace_bytes = need;
    return 0;
}

/* Pinned staging of one call's inputs, its device copy, and the outputs. */
int cu_stage_reserve(struct cu_ctx *c, size_t bytes, int n_out, int n_chunks, char *err, size_t errlen)
{
    if (bytes > c->stage_cap) {
        cudaFreeHost(c->stage_host);
        cudaFree(c->stage_dev);
        c->stage_host = c->stage_dev = NULL;
        c->stage_cap = 0;
        c->gen++;
        size_t cap = bytes * 2;
        if (cu_fail(cudaMallocHost(&c->stage_host, cap), "cudaMallocHost", err, errlen) ||
            cu_fail(cudaMalloc(&c->stage_dev, cap), "cudaMalloc", err, errlen))
            return -1;
        c->stage_cap = cap;
    }
    if (n_out > c->out_cap) {
        cudaFreeHost(c->out_host);
        cudaFree(c->out_dev);
        c->out_host = c->out_dev = NULL;
        c->out_cap = 0;
        int cap = n_out * 2;
        if (cu_fail(cudaMallocHost((void **)&c->out_host, sizeof(struct denoise_pos) * (size_t)cap),
                      "cudaMallocHost", err, errlen) ||
            cu_fail(cudaMalloc((void **)&c->out_dev, sizeof(struct denoise_pos) * (size_t)cap), "cudaMalloc", err,
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

