/* Scaled dot-product attention of one canvas, head by head: scores and the
 * weighted sum are sgemm calls on strided views of q/k/v (no copies); only
 * the canvas's own tokens take part, so padding never can. A cached step
 * asks with the window's queries only, over every key of the canvas. */
#include "engine/cpu/cpu.h"

#include <math.h>

/* Keys a query at position i may see: [0, limit). */
static int key_limit(enum attn_kind kind, int block_len, int len, int i)
{
    switch (kind) {
    case ATTN_CAUSAL:
        return i + 1;
    case ATTN_BLOCK_CAUSAL: {
        if (block_len <= 0)
            return len;
        int end = (i / block_len + 1) * block_len;
        return end < len ? end : len;
    }
    default:
        return len;
    }
}

static void softmax_row(float *s, int n, int limit)
{
    float mx = s[0];
    for (int j = 1; j < limit; j++)
        if (s[j] > mx)
            mx = s[j];
    double sum = 0;
    for (int j = 0; j < limit; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < limit; j++)
        s[j] *= inv;
    for (int j = limit; j < n; j++)
        s[j] = 0.0f;
}

void cpu_attention_win(struct cpu_ctx *c, float *att, const float *q, int nq, int q_pos0, const float *k,
                       const float *v, int nk, enum attn_kind kind, int block_len)
{
    int hd = c->cfg.head_dim, nh = c->cfg.n_heads;
    int group = nh / c->cfg.n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    float *S = c->S;
    for (int h = 0; h < nh; h++) {
        const float *qh = q + (size_t)h * hd;
        const float *kh = k + (size_t)(h / group) * hd;
        const float *vh = v + (size_t)(h / group) * hd;
        cpu_sgemm(c, 1, nq, nk, hd, scale, qh, c->q_dim, kh, c->kv_dim, 0.0f, S, nk);
        for (int i = 0; i < nq; i++)
            softmax_row(S + (size_t)i * nk, nk, key_limit(kind, block_len, nk, q_pos0 + i));
        cpu_sgemm(c, 0, nq, hd, nk, 1.0f, S, nk, vh, c->kv_dim, 0.0f, att + (size_t)h * hd, c->q_dim);
    }
}

void cpu_attention(struct cpu_ctx *c, float *att, const float *q, const float *k, const float *v, int len,
                   enum attn_kind kind, int block_len)
{
    cpu_attention_win(c, att, q, len, 0, k, v, len, kind, block_len);
}
