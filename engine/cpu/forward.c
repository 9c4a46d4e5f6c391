/* The batched forward pass: token embeddings of every canvas stacked into one
 * [tokens, d_model] matrix, then the blocks, read top to bottom as in
 * llama2.c's forward(). Projections and the MLP run over the stacked tokens
 * (cpu_linear: one sgemm per canvas); attention runs per canvas and head.
 * A row stepping on its key/value cache contributes only its window's
 * tokens; their queries attend over the cache, where the window's fresh
 * keys/values have just been written (Fast-dLLM's prefix and dual caches). */
#include "engine/cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, sizeof(float) * (n ? n : 1));
    if (!q)
        return -1;
    *p = q;
    return 0;
}

/* The tokens a row computes: the whole canvas, or its window when it steps
 * on a cache; the cache must be this canvas's. */
static int row_window(const struct cpu_ctx *c, const struct denoise_row *row, int r, int *start, int *n, char *err,
                      size_t errlen)
{
    *start = 0;
    *n = row->len;
    if (!row->cache)
        return 0;
    const struct cpu_cache *kc = row->cache;
    if (kc->len != row->len || kc->n_layers != c->cfg.n_layers || kc->kv_dim != c->kv_dim) {
        snprintf(err, errlen, "cpu: row %d: key/value cache of %d tokens does not fit this canvas (%d)", r, kc->len,
                 row->len);
        return -1;
    }
    if (row->cache_fill)
        return 0;
    if (row->win_start < 0 || row->win_end > row->len || row->win_start >= row->win_end) {
        snprintf(err, errlen, "cpu: row %d: window [%d, %d) outside the canvas [0, %d)", r, row->win_start,
                 row->win_end, row->len);
        return -1;
    }
    *start = row->win_start;
    *n = row->win_end - row->win_start;
    return 0;
}

static int set_rows(struct cpu_ctx *c, const struct denoise_row *rows, int n_rows, char *err, size_t errlen)
{
    if (n_rows > c->cap_rows) {
        int *off = realloc(c->rows.off, sizeof(int) * (size_t)n_rows);
        if (off)
            c->rows.off = off;
        int *len = realloc(c->rows.len, sizeof(int) * (size_t)n_rows);
        if (len)
            c->rows.len = len;
        int *pos0 = realloc(c->rows.pos0, sizeof(int) * (size_t)n_rows);
        if (pos0)
            c->rows.pos0 = pos0;
        if (!off || !len || !pos0) {
            snprintf(err, errlen, "cpu: out of memory");
            return -1;
        }
        c->cap_rows = n_rows;
    }
    int total = 0, max_len = 0;
    for (int r = 0; r < n_rows; r++) {
        int len = rows[r].len;
        if (len < 0 || (len > 0 && !rows[r].ids) || len > (1 << 20) || total > (1 << 24)) {
            snprintf(err, errlen, "cpu: row %d: bad length %d", r, len);
            return -1;
        }
        for (int i = 0; i < len; i++) {
            if (rows[r].ids[i] < 0 || rows[r].ids[i] >= c->cfg.vocab_size) {
                snprintf(err, errlen, "cpu: row %d: token id %d at %d outside the vocabulary (%d)", r,
                         rows[r].ids[i], i, c->cfg.vocab_size);
                return -1;
            }
        }
        if (rows[r].attn == ATTN_BLOCK_CAUSAL && rows[r].block_len <= 0) {
            snprintf(err, errlen, "cpu: row %d: block-causal attention needs block_len > 0", r);
            return -1;
        }
        int start, n;
        if (row_window(c, &rows[r], r, &start, &n, err, errlen))
            return -1;
        c->rows.off[r] = total;
        c->rows.len[r] = n;
        c->rows.pos0[r] = start;
        /* padded stacking: each canvas's rows start at a multiple of pad */
        total += c->opts.stack_rows == CPU_STACK_PADDED ? (n + c->pad - 1) / c->pad * c->pad : n;
        if (len > max_len)
            max_len = len;
    }
    c->rows.n = n_rows;
    c->rows.total = total;
    c->rows.max_len = max_len;
    return 0;
}

static int reserve(struct cpu_ctx *c, char *err, size_t errlen)
{
    size_t n = (size_t)c->rows.total, L = (size_t)c->rows.max_len;
    size_t d = (size_t)c->cfg.d_model, ff = (size_t)c->cfg.d_ff;
    if (n > c->cap_tokens) {
        if (grow(&c->x, n * d) || grow(&c->xb, n * d) || grow(&c->q, n * c->q_dim) ||
            grow(&c->att, n * c->q_dim) || grow(&c->k, n * c->kv_dim) || grow(&c->v, n * c->kv_dim) ||
            grow(&c->hb, n * ff) || grow(&c->hb2, n * ff)) {
            snprintf(err, errlen, "cpu: out of memory for %zu tokens of activations", n);
            return -1;
        }
        c->cap_tokens = n;
    }
    if (L > c->cap_len) {
        if (grow(&c->S, L * L)) {
            snprintf(err, errlen, "cpu: out of memory for attention scores of a %zu-token canvas", L);
            return -1;
        }
        c->cap_len = L;
    }
    if (!c->bert && cpu_rope_table(c, (int)L)) {
        snprintf(err, errlen, "cpu: out of memory for the rope table");
        return -1;
    }
    return 0;
}

static int embed_token(struct cpu_ctx *c, int id, float *dst)
{
    int d = c->cfg.d_model;
    if (c->tok_embd.f32) {
        memcpy(dst, c->tok_embd.f32 + (size_t)id * d, sizeof(float) * (size_t)d);
        return 0;
    }
    return cpu_rows_f32(c->tok_embd.t, id, 1, dst);
}

/* BERT: token + learned position + token type 0, then LayerNorm, for
 * positions [start, start + n). RoBERTa counts positions from padding_idx + 1
 * over non-pad tokens (pads sit at padding_idx), as its Hugging Face
 * embedding does, so it counts from the canvas's start. */
static int embed_bert(struct cpu_ctx *c, const struct denoise_row *row, int start, int n, float *x, char *err,
                      size_t errlen)
{
    int d = c->cfg.d_model;
    int roberta = c->cfg.arch == ARCH_ROBERTA;
    int pad = c->cfg.pad_id >= 0 ? c->cfg.pad_id : 1;
    int seen = 0;
    for (int t = 0; t < start + n; t++) {
        int pos = t;
        if (roberta) {
            if (row->ids[t] == pad) {
                pos = pad;
            } else {
                seen++;
                pos = pad + seen;
            }
        }
        if (t < start)
            continue;
        float *xt = x + (size_t)(t - start) * d;
        if (pos >= c->n_pos) {
            snprintf(err, errlen, "cpu: position %d beyond the model's %d learned positions", pos, c->n_pos);
            return -1;
        }
        if (embed_token(c, row->ids[t], xt)) {
            snprintf(err, errlen, "cpu: token_embd.weight does not convert to f32");
            return -1;
        }
        const float *pe = c->pos_embd + (size_t)pos * d;
        for (int i = 0; i < d; i++)
            xt[i] += pe[i] + (c->type_embd0 ? c->type_embd0[i] : 0.0f);
        cpu_layernorm(xt, xt, c->embd_norm, c->embd_norm_b, d, c->cfg.norm_eps);
    }
    return 0;
}

/* Per canvas: RoPE at the tokens' own positions, the fresh keys/values into
 * the row's cache (layer l), then attention: a windowed row's queries over
 * the cache's len keys, any other row over its own tokens, as uncached. */
static void attention_rows(struct cpu_ctx *c, const struct denoise_row *rows, int l)
{
    for (int r = 0; r < c->rows.n; r++) {
        size_t o = (size_t)c->rows.off[r];
        int n = c->rows.len[r], p0 = c->rows.pos0[r];
        if (n == 0)
            continue;
        float *q = c->q + o * c->q_dim, *k = c->k + o * c->kv_dim, *v = c->v + o * c->kv_dim;
        if (!c->bert) {
            cpu_rope_at(c, q, p0, n, c->q_dim, c->cfg.n_heads);
            cpu_rope_at(c, k, p0, n, c->kv_dim, c->cfg.n_kv_heads);
        }
        float *att = c->att + o * c->q_dim;
        struct cpu_cache *kc = rows[r].cache;
        if (!kc) {
            cpu_attention(c, att, q, k, v, n, rows[r].attn, rows[r].block_len);
            continue;
        }
        size_t at = ((size_t)l * kc->len + (size_t)p0) * c->kv_dim, nb = sizeof(float) * (size_t)n * c->kv_dim;
        memcpy(kc->k + at, k, nb);
        memcpy(kc->v + at, v, nb);
        if (rows[r].cache_fill) {
            cpu_attention(c, att, q, k, v, n, rows[r].attn, rows[r].block_len);
        } else {
            size_t base = (size_t)l * kc->len * c->kv_dim;
            cpu_attention_win(c, att, q, n, p0, kc->k + base, kc->v + base, kc->len, rows[r].attn,
                              rows[r].block_len);
        }
    }
}

static int block_llama(struct cpu_ctx *c, int l, const struct denoise_row *rows, char *err, size_t errlen)
{
    const struct cpu_layer *L = &c->layers[l];
    int d = c->cfg.d_model, n = c->rows.total;
    float eps = c->cfg.norm_eps;
    for (int t = 0; t < n; t++)
        cpu_rmsnorm(c->xb + (size_t)t * d, c->x + (size_t)t * d, L->norm1, d, eps);
    if (cpu_linear(c, &L->wq, L->bq, c->xb, c->q, 0, err, errlen) ||
        cpu_linear(c, &L->wk, L->bk, c->xb, c->k, 0, err, errlen) ||
        cpu_linear(c, &L->wv, L->bv, c->xb, c->v, 0, err, errlen))
        return -1;
    attention_rows(c, rows, l);
    if (cpu_linear(c, &L->wo, NULL, c->att, c->x, 1, err, errlen))
        return -1;
    for (int t = 0; t < n; t++)
        cpu_rmsnorm(c->xb + (size_t)t * d, c->x + (size_t)t * d, L->norm2, d, eps);
    if (cpu_linear(c, &L->w_gate, NULL, c->xb, c->hb, 0, err, errlen) ||
        cpu_linear(c, &L->w_up, NULL, c->xb, c->hb2, 0, err, errlen))
        return -1;
    cpu_swiglu(c->hb, c->hb2, (size_t)n * c->cfg.d_ff);
    return cpu_linear(c, &L->w_down, NULL, c->hb, c->x, 1, err, errlen);
}

/* Post-LN: x = LN(x + attn(x)); x = LN(x + mlp(x)). */
static int block_bert(struct cpu_ctx *c, int l, const struct denoise_row *rows, char *err, size_t errlen)
{
    const struct cpu_layer *L = &c->layers[l];
    int d = c->cfg.d_model, n = c->rows.total;
    float eps = c->cfg.norm_eps;
    if (cpu_linear(c, &L->wq, L->bq, c->x, c->q, 0, err, errlen) ||
        cpu_linear(c, &L->wk, L->bk, c->x, c->k, 0, err, errlen) ||
        cpu_linear(c, &L->wv, L->bv, c->x, c->v, 0, err, errlen))
        return -1;
    attention_rows(c, rows, l);
    if (cpu_linear(c, &L->wo, L->bo, c->att, c->x, 1, err, errlen))
        return -1;
    for (int t = 0; t < n; t++)
        cpu_layernorm(c->x + (size_t)t * d, c->x + (size_t)t * d, L->norm1, L->norm1_b, d, eps);
    if (cpu_linear(c, &L->w_up, L->b_up, c->x, c->hb, 0, err, errlen))
        return -1;
    cpu_gelu(c->hb, (size_t)n * c->cfg.d_ff);
    if (cpu_linear(c, &L->w_down, L->b_down, c->hb, c->x, 1, err, errlen))
        return -1;
    for (int t = 0; t < n; t++)
        cpu_layernorm(c->x + (size_t)t * d, c->x + (size_t)t * d, L->norm2, L->norm2_b, d, eps);
    return 0;
}

int cpu_forward(struct cpu_ctx *c, const struct denoise_row *rows, int n_rows, char *err, size_t errlen)
{
    if (set_rows(c, rows, n_rows, err, errlen) || reserve(c, err, errlen))
        return -1;
    if (c->dit)
        return cpu_dit_forward(c, rows, n_rows, err, errlen);
    int d = c->cfg.d_model;
    for (int r = 0; r < n_rows; r++) {
        float *x = c->x + (size_t)c->rows.off[r] * d;
        int p0 = c->rows.pos0[r], n = c->rows.len[r];
        /* pad rows: zeros, so every value computed from them stays finite;
         * no real row ever reads them (sgemm rows are independent) */
        int next = r + 1 < n_rows ? c->rows.off[r + 1] : c->rows.total;
        size_t np = (size_t)(next - c->rows.off[r] - n);
        if (np) {
            memset(x + (size_t)n * d, 0, sizeof(float) * np * d);
            memset(c->att + ((size_t)c->rows.off[r] + n) * c->q_dim, 0, sizeof(float) * np * c->q_dim);
        }
        if (c->bert) {
            if (embed_bert(c, &rows[r], p0, n, x, err, errlen))
                return -1;
            continue;
        }
        for (int t = 0; t < n; t++) {
            if (embed_token(c, rows[r].ids[p0 + t], x + (size_t)t * d)) {
                snprintf(err, errlen, "cpu: token_embd.weight does not convert to f32");
                return -1;
            }
        }
    }
    for (int l = 0; l < c->cfg.n_layers; l++) {
        int rc = c->bert ? block_bert(c, l, rows, err, errlen) : block_llama(c, l, rows, err, errlen);
        if (rc)
            return -1;
    }
    return 0;
}
