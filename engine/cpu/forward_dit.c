/* The MDLM / SEDD forward: the DiT of kuleshov-group/mdlm (models/dit.py)
 * and louaaron/Score-Entropy-Discrete-Diffusion (model/transformer.py),
 * read top to bottom:
 *
 *   c     = SiLU(fc2 SiLU(fc1 [cos(sigma w), sin(sigma w)] + b1) + b2)  per canvas
 *   x     = E[ids]
 *   block: shift1, scale1, gate1, shift2, scale2, gate2 = ada c + ada_b  per canvas
 *          a = LN(x) w1 (1 + scale1) + shift1            (LayerNorm, no bias)
 *          q, k, v = a Wqkv; RoPE (rotate-half) on q and k; full attention
 *          x += gate1 (attn Wo)
 *          x += gate2 MLP(LN(x) w2 (1 + scale2) + shift2)  (GELU tanh, biases)
 *   final: shift, scale = out_ada c + b;  logits = (LN(x) w (1 + scale) + shift) Wout + bout
 *
 * Every modulation is per canvas, computed by its own sgemm calls, so a
 * canvas gives the same bits alone or in a batch with other noise levels. */
#include "engine/cpu/cpu.h"

#include <math.h>
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

static float silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* nn.GELU(approximate='tanh') */
static void gelu_tanh(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

/* The noise level the network sees: 0 without time conditioning, as the
 * official code zeroes it. */
static float row_sigma(const struct cpu_ctx *c, const struct denoise_row *row)
{
    return c->cfg.time_cond ? row->sigma : 0.0f;
}

/* out = LN(x) w (1 + scale) + shift; LayerNorm without affine bias, eps from
 * the config (1e-5), sums in double. */
static void ln_modulate(float *out, const float *x, const float *w, const float *shift, const float *scale, int n,
                        float eps)
{
    float mu, inv;
    cpu_layernorm_stats(x, n, eps, &mu, &inv);
    for (int i = 0; i < n; i++)
        out[i] = (x[i] - mu) * inv * w[i] * (1.0f + scale[i]) + shift[i];
}

/* y[r] = W x[r] + b for each canvas r (one sgemm of one row each). */
static int small_linear(struct cpu_ctx *c, const struct cpu_mat *w, const float *b, const float *x, int ldx,
                        float *y, int ldy, int n_rows, char *err, size_t errlen)
{
    const float *W = cpu_mat_get(c, w);
    if (!W) {
        snprintf(err, errlen, "cpu: tensor %s does not convert to f32", w->t ? w->t->name : "?");
        return -1;
    }
    for (int r = 0; r < n_rows; r++) {
        float *yr = y + (size_t)r * ldy;
        cpu_sgemm(c, 1, 1, w->rows, w->cols, 1.0f, x + (size_t)r * ldx, w->cols, W, w->cols, 0.0f, yr, w->rows);
        for (int j = 0; j < w->rows; j++)
            yr[j] += b[j];
    }
    return 0;
}

static int reserve_dit(struct cpu_ctx *c, int n_rows, char *err, size_t errlen)
{
    size_t d = (size_t)c->cfg.d_model, cd = (size_t)c->cfg.cond_dim;
    if (n_rows > c->dit_cap_rows) {
        size_t n = (size_t)n_rows;
        if (grow(&c->dit_cond, n * cd) || grow(&c->dit_mod, n * 6 * d) || grow(&c->dit_fmod, n * 2 * d) ||
            grow(&c->dit_freq, n * (size_t)(c->n_freq > (int)cd ? c->n_freq : (int)cd))) {
            snprintf(err, errlen, "cpu: out of memory for the conditioning of %d canvases", n_rows);
            return -1;
        }
        c->dit_cap_rows = n_rows;
    }
    return 0;
}

/* The sinusoidal embedding of sigma, in float32 as TimestepEmbedder does:
 * freqs = exp(-ln(10000) k / half), args = sigma freqs, [cos, sin] (a zero
 * last element for an odd width). */
static void sigma_embedding(float sigma, float *f, int dim)
{
    int half = dim / 2;
    float lp = -(float)log(10000.0);
    for (int k = 0; k < half; k++) {
        float fr = expf(lp * (float)k / (float)half);
        float a = sigma * fr;
        f[k] = cosf(a);
        f[half + k] = sinf(a);
    }
    if (dim % 2)
        f[dim - 1] = 0.0f;
}

/* c[r] for every canvas: the sigma MLP, then the DiT's own SiLU. */
static int conditioning(struct cpu_ctx *c, const struct denoise_row *rows, int n_rows, char *err, size_t errlen)
{
    int cd = c->cfg.cond_dim, nf = c->n_freq;
    int ld = nf > cd ? nf : cd;
    for (int r = 0; r < n_rows; r++)
        sigma_embedding(row_sigma(c, &rows[r]), c->dit_freq + (size_t)r * ld, nf);
    if (small_linear(c, &c->t_fc1, c->t_fc1_b, c->dit_freq, ld, c->dit_cond, cd, n_rows, err, errlen))
        return -1;
    for (size_t i = 0; i < (size_t)n_rows * cd; i++)
        c->dit_cond[i] = silu(c->dit_cond[i]);
    /* fc2 reads the hidden layer from dit_cond into dit_freq, then back */
    if (small_linear(c, &c->t_fc2, c->t_fc2_b, c->dit_cond, cd, c->dit_freq, ld, n_rows, err, errlen))
        return -1;
    for (int r = 0; r < n_rows; r++)
        for (int j = 0; j < cd; j++)
            c->dit_cond[(size_t)r * cd + j] = silu(c->dit_freq[(size_t)r * ld + j]);
    return 0;
}

/* For each token t of each canvas r: out[t] = LN(x[t]) w (1 + scale_r) + shift_r. */
static void modulate_rows(struct cpu_ctx *c, float *out, const float *x, const float *w, const float *mod, int ld_mod,
                          int shift_at, int scale_at)
{
    int d = c->cfg.d_model;
    for (int r = 0; r < c->rows.n; r++) {
        const float *m = mod + (size_t)r * ld_mod;
        for (int t = c->rows.off[r]; t < c->rows.off[r] + c->rows.len[r]; t++)
            ln_modulate(out + (size_t)t * d, x + (size_t)t * d, w, m + (size_t)shift_at * d,
                        m + (size_t)scale_at * d, d, c->cfg.norm_eps);
    }
}

/* x[t] += gate_r * y[t] */
static void gated_add(struct cpu_ctx *c, const float *y, const float *mod, int gate_at)
{
    int d = c->cfg.d_model;
    for (int r = 0; r < c->rows.n; r++) {
        const float *g = mod + (size_t)r * 6 * d + (size_t)gate_at * d;
        for (int t = c->rows.off[r]; t < c->rows.off[r] + c->rows.len[r]; t++) {
            float *xt = c->x + (size_t)t * d;
            const float *yt = y + (size_t)t * d;
            for (int i = 0; i < d; i++)
                xt[i] += g[i] * yt[i];
        }
    }
}

static int block(struct cpu_ctx *c, const struct cpu_layer *L, const struct denoise_row *rows, char *err,
                 size_t errlen)
{
    int d = c->cfg.d_model, n = c->rows.total, nr = c->rows.n;
    /* shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp */
    if (small_linear(c, &L->w_ada, L->b_ada, c->dit_cond, c->cfg.cond_dim, c->dit_mod, 6 * d, nr, err, errlen))
        return -1;
    modulate_rows(c, c->xb, c->x, L->norm1, c->dit_mod, 6 * d, 0, 1);
    if (cpu_linear(c, &L->w_qkv, NULL, c->xb, c->hb, 0, err, errlen))
        return -1;
    /* qkv rows are (three, heads, head_dim): split into q, k, v */
    for (int t = 0; t < n; t++) {
        const float *s = c->hb + (size_t)t * 3 * d;
        memcpy(c->q + (size_t)t * d, s, sizeof(float) * (size_t)d);
        memcpy(c->k + (size_t)t * d, s + d, sizeof(float) * (size_t)d);
        memcpy(c->v + (size_t)t * d, s + 2 * d, sizeof(float) * (size_t)d);
    }
    for (int r = 0; r < nr; r++) {
        size_t o = (size_t)c->rows.off[r] * d;
        int len = c->rows.len[r];
        if (len == 0)
            continue;
        cpu_rope(c, c->q + o, len, d, c->cfg.n_heads);
        cpu_rope(c, c->k + o, len, d, c->cfg.n_heads);
        cpu_attention(c, c->att + o, c->q + o, c->k + o, c->v + o, len, rows[r].attn, rows[r].block_len);
    }
    if (cpu_linear(c, &L->wo, NULL, c->att, c->xb, 0, err, errlen))
        return -1;
    gated_add(c, c->xb, c->dit_mod, 2);
    modulate_rows(c, c->xb, c->x, L->norm2, c->dit_mod, 6 * d, 3, 4);
    if (cpu_linear(c, &L->w_up, L->b_up, c->xb, c->hb, 0, err, errlen))
        return -1;
    gelu_tanh(c->hb, (size_t)n * c->cfg.d_ff);
    if (cpu_linear(c, &L->w_down, L->b_down, c->hb, c->xb, 0, err, errlen))
        return -1;
    gated_add(c, c->xb, c->dit_mod, 5);
    return 0;
}

int cpu_dit_forward(struct cpu_ctx *c, const struct denoise_row *rows, int n_rows, char *err, size_t errlen)
{
    int d = c->cfg.d_model;
    for (int r = 0; r < n_rows; r++) {
        float s = rows[r].sigma;
        if (c->cfg.time_cond && !(isfinite(s) && s >= 0.0f)) {
            snprintf(err, errlen, "cpu: row %d: noise level sigma %g must be finite and >= 0", r, s);
            return -1;
        }
    }
    if (reserve_dit(c, n_rows, err, errlen) || conditioning(c, rows, n_rows, err, errlen))
        return -1;
    for (int r = 0; r < n_rows; r++) {
        float *x = c->x + (size_t)c->rows.off[r] * d;
        for (int t = 0; t < rows[r].len; t++) {
            int id = rows[r].ids[t];
            float *xt = x + (size_t)t * d;
            if (c->tok_embd.f32)
                memcpy(xt, c->tok_embd.f32 + (size_t)id * d, sizeof(float) * (size_t)d);
            else if (cpu_rows_f32(c->tok_embd.t, id, 1, xt) != 0) {
                snprintf(err, errlen, "cpu: token_embd.weight does not convert to f32");
                return -1;
            }
        }
    }
    for (int l = 0; l < c->cfg.n_layers; l++)
        if (block(c, &c->layers[l], rows, err, errlen))
            return -1;
    /* the final layer's shift and scale, kept for the head */
    return small_linear(c, &c->out_ada, c->out_ada_b, c->dit_cond, c->cfg.cond_dim, c->dit_fmod, 2 * d, n_rows, err,
                        errlen);
}

void cpu_dit_final(struct cpu_ctx *c, const int *src, int n)
{
    int d = c->cfg.d_model;
    for (int i = 0; i < n; i++) {
        int r = 0;
        while (r + 1 < c->rows.n && src[i] >= c->rows.off[r] + c->rows.len[r])
            r++;
        const float *m = c->dit_fmod + (size_t)r * 2 * d;
        ln_modulate(c->g + (size_t)i * d, c->x + (size_t)src[i] * d, c->out_norm, m, m + d, d, c->cfg.norm_eps);
    }
}

void cpu_dit_post(const struct cpu_ctx *c, const struct denoise_row *row, const int32_t *pos, int n, float *out)
{
    if (c->cfg.arch != ARCH_SEDD)
        return;
    int V = c->cfg.vocab_size;
    float shift = 0.0f, lv = 0.0f;
    if (c->cfg.scale_by_sigma) {
        /* torch.where(sigma < 0.5, expm1(sigma), exp(sigma) - 1).log(), in float32 */
        float s = row_sigma(c, row);
        shift = logf(s < 0.5f ? expm1f(s) : expf(s) - 1.0f);
        lv = (float)log((double)(V - 1));
    }
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * V;
        if (c->cfg.scale_by_sigma)
            for (int j = 0; j < V; j++)
                o[j] = o[j] - shift - lv;
        o[row->ids[pos[i]]] = 0.0f;
    }
}
