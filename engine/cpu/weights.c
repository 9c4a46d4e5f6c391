/* The CPU backend's view of a model's weights: which tensor plays which part,
 * checked for shape once at load, and kept either as f32 (converted once) or
 * as stored (dequantized per layer per step, when the f32 copy would not fit). */
#include "engine/cpu/cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct tensor *find(const struct model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int shape_is(const struct tensor *t, int64_t cols, int64_t rows)
{
    return t->ne[0] == cols && t->ne[1] == rows && t->ne[2] == 1 && t->ne[3] == 1;
}

/* A vector of n floats (norm weight, bias), always converted to f32. */
static int load_vec(struct cpu_ctx *c, const char *name, int n, int required, float **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    const struct tensor *t = find(c->m, name);
    if (!t) {
        if (required)
            snprintf(err, errlen, "cpu: tensor %s missing", name);
        return required ? -1 : 0;
    }
    if (!shape_is(t, n, 1)) {
        snprintf(err, errlen, "cpu: tensor %s has shape [%lld, %lld], want [%d]", name, (long long)t->ne[0],
                 (long long)t->ne[1], n);
        return -1;
    }
    float *v = malloc(sizeof(float) * (size_t)n);
    float **list = realloc(c->owned_vecs, sizeof(float *) * (size_t)(c->n_owned_vecs + 1));
    if (!v || !list) {
        free(v);
        if (list)
            c->owned_vecs = list;
        snprintf(err, errlen, "cpu: out of memory loading %s", name);
        return -1;
    }
    c->owned_vecs = list;
    c->owned_vecs[c->n_owned_vecs++] = v;
    if (cpu_rows_f32(t, 0, 1, v) != 0) {
        snprintf(err, errlen, "cpu: tensor %s (%s) does not convert to f32", name, dtype_name(t->type));
        return -1;
    }
    *out = v;
    return 0;
}

/* pack: a projection that CPU_WEIGHTS_BF16 keeps as BF16 (c->bf16 set). */
static int load_mat_as(struct cpu_ctx *c, const char *name, int rows, int cols, int required, int pack,
                       struct cpu_mat *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    const struct tensor *t = find(c->m, name);
    if (!t) {
        if (required)
            snprintf(err, errlen, "cpu: tensor %s missing", name);
        return required ? -1 : 0;
    }
    if (!shape_is(t, cols, rows)) {
        snprintf(err, errlen, "cpu: tensor %s has shape [%lld, %lld, %lld], want [%d, %d]", name,
                 (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], cols, rows);
        return -1;
    }
    w->t = t;
    w->rows = rows;
    w->cols = cols;
    if (pack && c->bf16)
        return cpu_bf16_pack(w, err, errlen);
    if (t->type == DT_F32 && ((uintptr_t)t->data % sizeof(float)) == 0 &&
        t->nbytes >= (size_t)rows * (size_t)cols * sizeof(float)) {
        w->f32 = t->data;
        return 0;
    }
    if (!c->resident) {
        size_t n = (size_t)rows * (size_t)cols;
        if (n > c->wscratch_n)
            c->wscratch_n = n;
        return 0;
    }
    w->own = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    if (!w->own) {
        snprintf(err, errlen, "cpu: out of memory converting %s to f32", name);
        return -1;
    }
    if (cpu_rows_f32(t, 0, rows, w->own) != 0) {
        snprintf(err, errlen, "cpu: tensor %s (%s) does not convert to f32", name, dtype_name(t->type));
        return -1;
    }
    w->f32 = w->own;
    return 0;
}

static int load_mat(struct cpu_ctx *c, const char *name, int rows, int cols, int required, struct cpu_mat *w,
                    char *err, size_t errlen)
{
    return load_mat_as(c, name, rows, cols, required, 0, w, err, errlen);
}

static int load_proj(struct cpu_ctx *c, const char *name, int rows, int cols, int required, struct cpu_mat *w,
                     char *err, size_t errlen)
{
    return load_mat_as(c, name, rows, cols, required, 1, w, err, errlen);
}

/* f32 bytes that conversion at load would allocate (tensors not already f32). */
static double convert_bytes(const struct model *m)
{
    double b = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct tensor *t = &m->tensors[i];
        if (t->type != DT_F32)
            b += 4.0 * (double)t->ne[0] * (double)t->ne[1] * (double)t->ne[2] * (double)t->ne[3];
    }
    return b;
}

/* AUTO picks BF16 only for files whose projections are stored with at most
 * BF16's precision (BF16 or quantized): then rounding them to BF16 loses
 * little or nothing, while F32 and F16 files keep their f32 products (the
 * reference tests' tolerances). Judged on layer 0's query (or fused qkv). */
static int stored_low(const struct model *m)
{
    const struct tensor *t = find(m, "blk.0.attn_q.weight");
    if (!t)
        t = find(m, "blk.0.attn_qkv.weight");
    return t && t->type != DT_F32 && t->type != DT_F16;
}

static int check_config(struct cpu_ctx *c, char *err, size_t errlen)
{
    struct model_config *g = &c->cfg;
    if (g->n_kv_heads <= 0)
        g->n_kv_heads = g->n_heads;
    if (g->n_layers <= 0 || g->d_model <= 0 || g->n_heads <= 0 || g->d_ff <= 0 || g->vocab_size <= 0 ||
        g->n_heads % g->n_kv_heads != 0) {
        snprintf(err, errlen, "cpu: bad dims (layers %d, d_model %d, heads %d/%d, d_ff %d, vocab %d)",
                 g->n_layers, g->d_model, g->n_heads, g->n_kv_heads, g->d_ff, g->vocab_size);
        return -1;
    }
    if (g->head_dim <= 0)
        g->head_dim = g->d_model / g->n_heads;
    if (g->rope_dim <= 0)
        g->rope_dim = g->head_dim;
    if (g->head_dim <= 0 || g->rope_dim > g->head_dim || g->rope_dim % 2 != 0) {
        snprintf(err, errlen, "cpu: bad head_dim %d / rope_dim %d", g->head_dim, g->rope_dim);
        return -1;
    }
    if (g->rope_theta <= 0)
        g->rope_theta = 10000.0f;
    if (g->norm_eps <= 0)
        g->norm_eps = c->bert ? 1e-12f : 1e-5f;
    c->q_dim = g->n_heads * g->head_dim;
    c->kv_dim = g->n_kv_heads * g->head_dim;
    return 0;
}

static int load_layer(struct cpu_ctx *c, int l, char *err, size_t errlen)
{
    struct cpu_layer *L = &c->layers[l];
    int d = c->cfg.d_model, ff = c->cfg.d_ff, q = c->q_dim, kv = c->kv_dim;
    char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, l), n)
    if (load_proj(c, NAME("attn_q.weight"), q, d, 1, &L->wq, err, errlen) ||
        load_proj(c, NAME("attn_k.weight"), kv, d, 1, &L->wk, err, errlen) ||
        load_proj(c, NAME("attn_v.weight"), kv, d, 1, &L->wv, err, errlen) ||
        load_proj(c, NAME("attn_output.weight"), d, q, 1, &L->wo, err, errlen) ||
        load_proj(c, NAME("ffn_up.weight"), ff, d, 1, &L->w_up, err, errlen) ||
        load_proj(c, NAME("ffn_down.weight"), d, ff, 1, &L->w_down, err, errlen) ||
        load_vec(c, NAME("attn_q.bias"), q, c->bert, &L->bq, err, errlen) ||
        load_vec(c, NAME("attn_k.bias"), kv, c->bert, &L->bk, err, errlen) ||
        load_vec(c, NAME("attn_v.bias"), kv, c->bert, &L->bv, err, errlen))
        return -1;
    if (c->bert) {
        if (load_vec(c, NAME("attn_output.bias"), d, 1, &L->bo, err, errlen) ||
            load_vec(c, NAME("attn_output_norm.weight"), d, 1, &L->norm1, err, errlen) ||
            load_vec(c, NAME("attn_output_norm.bias"), d, 1, &L->norm1_b, err, errlen) ||
            load_vec(c, NAME("ffn_up.bias"), ff, 1, &L->b_up, err, errlen) ||
            load_vec(c, NAME("ffn_down.bias"), d, 1, &L->b_down, err, errlen) ||
            load_vec(c, NAME("layer_output_norm.weight"), d, 1, &L->norm2, err, errlen) ||
            load_vec(c, NAME("layer_output_norm.bias"), d, 1, &L->norm2_b, err, errlen))
            return -1;
    } else {
        if (load_proj(c, NAME("ffn_gate.weight"), ff, d, 1, &L->w_gate, err, errlen) ||
            load_vec(c, NAME("attn_norm.weight"), d, 1, &L->norm1, err, errlen) ||
            load_vec(c, NAME("ffn_norm.weight"), d, 1, &L->norm2, err, errlen))
            return -1;
    }
#undef NAME
    return 0;
}

/* MDLM / SEDD: the DiT's block (see forward_dit.c and engine/model/model.h). */
static int load_dit_layer(struct cpu_ctx *c, int l, char *err, size_t errlen)
{
    struct cpu_layer *L = &c->layers[l];
    int d = c->cfg.d_model, ff = c->cfg.d_ff, cd = c->cfg.cond_dim;
    char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, l), n)
    if (load_mat(c, NAME("attn_qkv.weight"), 3 * d, d, 1, &L->w_qkv, err, errlen) ||
        load_proj(c, NAME("attn_output.weight"), d, d, 1, &L->wo, err, errlen) ||
        load_proj(c, NAME("ffn_up.weight"), ff, d, 1, &L->w_up, err, errlen) ||
        load_proj(c, NAME("ffn_down.weight"), d, ff, 1, &L->w_down, err, errlen) ||
        load_mat(c, NAME("adaln.weight"), 6 * d, cd, 1, &L->w_ada, err, errlen) ||
        load_vec(c, NAME("adaln.bias"), 6 * d, 1, &L->b_ada, err, errlen) ||
        load_vec(c, NAME("ffn_up.bias"), ff, 1, &L->b_up, err, errlen) ||
        load_vec(c, NAME("ffn_down.bias"), d, 1, &L->b_down, err, errlen) ||
        load_vec(c, NAME("attn_norm.weight"), d, 1, &L->norm1, err, errlen) ||
        load_vec(c, NAME("ffn_norm.weight"), d, 1, &L->norm2, err, errlen))
        return -1;
#undef NAME
    return 0;
}

static int load_dit_globals(struct cpu_ctx *c, char *err, size_t errlen)
{
    int d = c->cfg.d_model, V = c->cfg.vocab_size, cd = c->cfg.cond_dim;
    const struct tensor *f1 = find(c->m, "t_embd.fc1.weight");
    if (cd <= 0 || !f1 || f1->ne[0] < 2 || f1->ne[0] > 65536) {
        snprintf(err, errlen, "cpu: t_embd.fc1.weight missing or cond_dim %d not positive", cd);
        return -1;
    }
    if (c->cfg.d_ff < 3 * d) { /* the fused q/k/v product lands in the MLP buffer */
        snprintf(err, errlen, "cpu: DiT MLP width %d below 3 x width %d", c->cfg.d_ff, d);
        return -1;
    }
    c->n_freq = (int)f1->ne[0];
    if (load_mat(c, "token_embd.weight", V, d, 1, &c->tok_embd, err, errlen) ||
        load_mat(c, "output.weight", V, d, 1, &c->output, err, errlen) ||
        load_vec(c, "output.bias", V, 1, &c->out_bias, err, errlen) ||
        load_vec(c, "output_norm.weight", d, 1, &c->out_norm, err, errlen) ||
        load_mat(c, "output_adaln.weight", 2 * d, cd, 1, &c->out_ada, err, errlen) ||
        load_vec(c, "output_adaln.bias", 2 * d, 1, &c->out_ada_b, err, errlen) ||
        load_mat(c, "t_embd.fc1.weight", cd, c->n_freq, 1, &c->t_fc1, err, errlen) ||
        load_vec(c, "t_embd.fc1.bias", cd, 1, &c->t_fc1_b, err, errlen) ||
        load_mat(c, "t_embd.fc2.weight", cd, cd, 1, &c->t_fc2, err, errlen) ||
        load_vec(c, "t_embd.fc2.bias", cd, 1, &c->t_fc2_b, err, errlen))
        return -1;
    return 0;
}

static int load_globals(struct cpu_ctx *c, char *err, size_t errlen)
{
    int d = c->cfg.d_model, V = c->cfg.vocab_size;
    if (load_mat(c, "token_embd.weight", V, d, 1, &c->tok_embd, err, errlen) ||
        load_proj(c, "output.weight", V, d, 0, &c->output, err, errlen))
        return -1;
    if (!c->output.t) { /* tied to the embedding: its own BF16 copy */
        c->output = (struct cpu_mat){c->tok_embd.t, c->tok_embd.f32, NULL, V, d, NULL};
        if (c->bf16 && cpu_bf16_pack(&c->output, err, errlen))
            return -1;
    }
    if (!c->bert)
        return load_vec(c, "output_norm.weight", d, 1, &c->out_norm, err, errlen);

    const struct tensor *pe = find(c->m, "position_embd.weight");
    if (!pe || pe->ne[0] != d || pe->ne[1] < 1 || pe->ne[1] > (1 << 20) || pe->ne[2] != 1 || pe->ne[3] != 1) {
        snprintf(err, errlen, "cpu: position_embd.weight missing or not [%d, n]", d);
        return -1;
    }
    c->n_pos = (int)pe->ne[1];
    c->pos_embd = malloc(sizeof(float) * (size_t)d * (size_t)c->n_pos);
    if (!c->pos_embd || cpu_rows_f32(pe, 0, c->n_pos, c->pos_embd) != 0) {
        snprintf(err, errlen, "cpu: position_embd.weight does not convert to f32");
        return -1;
    }
    const struct tensor *tt = find(c->m, "token_types.weight");
    if (tt) {
        if (tt->ne[0] != d || tt->ne[1] < 1) {
            snprintf(err, errlen, "cpu: token_types.weight is not [%d, n]", d);
            return -1;
        }
        c->type_embd0 = malloc(sizeof(float) * (size_t)d);
        if (!c->type_embd0 || cpu_rows_f32(tt, 0, 1, c->type_embd0) != 0) {
            snprintf(err, errlen, "cpu: token_types.weight does not convert to f32");
            return -1;
        }
    }
    if (load_vec(c, "token_embd_norm.weight", d, 1, &c->embd_norm, err, errlen) ||
        load_vec(c, "token_embd_norm.bias", d, 1, &c->embd_norm_b, err, errlen) ||
        load_mat(c, "mlm.dense.weight", d, d, 1, &c->mlm_dense, err, errlen) ||
        load_vec(c, "mlm.dense.bias", d, 1, &c->mlm_dense_b, err, errlen) ||
        load_vec(c, "mlm.norm.weight", d, 1, &c->mlm_norm, err, errlen) ||
        load_vec(c, "mlm.norm.bias", d, 1, &c->mlm_norm_b, err, errlen) ||
        load_vec(c, "output.bias", V, 0, &c->out_bias, err, errlen))
        return -1;
    return 0;
}

int cpu_weights_load(struct cpu_ctx *c, char *err, size_t errlen)
{
    c->cfg = c->m->cfg;
    c->bert = c->cfg.arch == ARCH_BERT || c->cfg.arch == ARCH_ROBERTA;
    c->dit = c->cfg.arch == ARCH_MDLM || c->cfg.arch == ARCH_SEDD;
    if (c->cfg.arch != ARCH_LLADA && c->cfg.arch != ARCH_DREAM && c->cfg.arch != ARCH_LLAMA && !c->bert && !c->dit) {
        snprintf(err, errlen, "cpu: architecture %s is not supported by the CPU backend", arch_name(c->cfg.arch));
        return -1;
    }
    if (check_config(c, err, errlen))
        return -1;
    switch (c->opts.weights) {
    case CPU_WEIGHTS_RESIDENT: c->resident = 1; break;
    case CPU_WEIGHTS_STREAM: c->resident = 0; break;
    default: {
        double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
        c->resident = convert_bytes(c->m) <= 0.5 * mem;
    }
    }
    if (c->opts.weights == CPU_WEIGHTS_BF16 && !cpu_bf16_supported()) {
        snprintf(err, errlen, "cpu: weights bf16 needs a CPU with AVX512-BF16 (this one has none)");
        return -1;
    }
    /* The DiT's forward takes its matrices as f32 (cpu_mat_get); it stays so. */
    c->bf16 = !c->dit && (c->opts.weights == CPU_WEIGHTS_BF16 ||
                          (c->opts.weights == CPU_WEIGHTS_AUTO && stored_low(c->m) && cpu_bf16_supported()));
    c->layers = calloc((size_t)c->cfg.n_layers, sizeof *c->layers);
    if (!c->layers) {
        snprintf(err, errlen, "cpu: out of memory");
        return -1;
    }
    if (c->dit ? load_dit_globals(c, err, errlen) : load_globals(c, err, errlen))
        return -1;
    for (int l = 0; l < c->cfg.n_layers; l++)
        if (c->dit ? load_dit_layer(c, l, err, errlen) : load_layer(c, l, err, errlen))
            return -1;
    if (!c->resident) {
        size_t head = (size_t)CPU_HEAD_VCHUNK * (size_t)c->cfg.d_model;
        if (head > c->wscratch_n)
            c->wscratch_n = head;
        c->wscratch = malloc(sizeof(float) * c->wscratch_n);
        if (!c->wscratch) {
            snprintf(err, errlen, "cpu: out of memory for the weight scratch");
            return -1;
        }
    }
    return 0;
}

static void free_mat(struct cpu_mat *w)
{
    free(w->own);
    free(w->bf16);
    w->own = NULL;
    w->bf16 = NULL;
}

void cpu_weights_free(struct cpu_ctx *c)
{
    for (int l = 0; c->layers && l < c->cfg.n_layers; l++) {
        struct cpu_layer *L = &c->layers[l];
        free_mat(&L->wq);
        free_mat(&L->wk);
        free_mat(&L->wv);
        free_mat(&L->wo);
        free_mat(&L->w_gate);
        free_mat(&L->w_up);
        free_mat(&L->w_down);
        free_mat(&L->w_qkv);
        free_mat(&L->w_ada);
    }
    free(c->layers);
    c->layers = NULL;
    free_mat(&c->tok_embd);
    free_mat(&c->output);
    free_mat(&c->mlm_dense);
    free_mat(&c->t_fc1);
    free_mat(&c->t_fc2);
    free_mat(&c->out_ada);
    for (int i = 0; i < c->n_owned_vecs; i++)
        free(c->owned_vecs[i]);
    free(c->owned_vecs);
    c->owned_vecs = NULL;
    c->n_owned_vecs = 0;
    free(c->pos_embd);
    free(c->type_embd0);
    free(c->wscratch);
    free(c->xbf);
    c->xbf = NULL;
    c->xbf_n = 0;
    c->pos_embd = c->type_embd0 = c->wscratch = NULL;
}

const float *cpu_mat_get(struct cpu_ctx *c, const struct cpu_mat *w)
{
    if (w->f32)
        return w->f32;
    if ((size_t)w->rows * (size_t)w->cols > c->wscratch_n)
        return NULL;
    double t0 = now_s();
    int rc = cpu_rows_f32(w->t, 0, w->rows, c->wscratch);
    c->st.dequant_s += now_s() - t0;
    return rc == 0 ? c->wscratch : NULL;
}
