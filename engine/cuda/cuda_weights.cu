/* The weights of a model on the GPU, uploaded once at load: every matrix
 * as BF16 (BF16 tensors copied as stored, the others through
 * tensor_rows_f32 and rounded to nearest even), norm weights and biases as
 * f32; Q/K/V and gate/up stacked into one matrix each (see cuda.h). */
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_math.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (cu_fail(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc of weights", err, errlen))
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
    if (!f || cu_fail(cudaMallocHost((void **)&hb, sizeof(uint16_t) * (size_t)slab * (size_t)cols),
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
            rc = cu_fail(cudaMemcpy(dst + at, hb, ne * 2, cudaMemcpyHostToDevice), "upload", err, errlen);
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
    if (d && cu_fail(cudaMemcpy(d, hv, sizeof(float) * total, cudaMemcpyHostToDevice), "upload", err, errlen))
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

/* MDLM / SEDD: the DiT's block (names in engine/model/model.h). */
static int load_dit_layer(struct cu_ctx *c, int l, struct cu_layer *L, char *err, size_t errlen)
{
    char a[96];
    if (!(L->wqkv = upload_mat(c, LNAME(a, l, "attn_qkv.weight"), 3 * c->D, c->D, err, errlen)) ||
        !(L->wo = upload_mat(c, LNAME(a, l, "attn_output.weight"), c->D, c->D, err, errlen)) ||
        !(L->wff1 = upload_mat(c, LNAME(a, l, "ffn_up.weight"), c->F, c->D, err, errlen)) ||
        !(L->wdown = upload_mat(c, LNAME(a, l, "ffn_down.weight"), c->D, c->F, err, errlen)) ||
        !(L->wada = upload_mat(c, LNAME(a, l, "adaln.weight"), 6 * c->D, c->C, err, errlen)) ||
        !(L->bada = upload_vec(c, LNAME(a, l, "adaln.bias"), 6 * c->D, 1, err, errlen)) ||
        !(L->b_up = upload_vec(c, LNAME(a, l, "ffn_up.bias"), c->F, 1, err, errlen)) ||
        !(L->b_down = upload_vec(c, LNAME(a, l, "ffn_down.bias"), c->D, 1, err, errlen)) ||
        !(L->norm1 = upload_vec(c, LNAME(a, l, "attn_norm.weight"), c->D, 1, err, errlen)) ||
        !(L->norm2 = upload_vec(c, LNAME(a, l, "ffn_norm.weight"), c->D, 1, err, errlen)))
        return -1;
    return 0;
}

/* The sigma MLP stays on the host in f32 (a few vectors per step). */
static int load_dit_host(struct cu_ctx *c, char *err, size_t errlen)
{
    const struct tensor *f1 = find(c->m, "t_embd.fc1.weight"), *b1 = find(c->m, "t_embd.fc1.bias");
    const struct tensor *f2 = find(c->m, "t_embd.fc2.weight"), *b2 = find(c->m, "t_embd.fc2.bias");
    int C = c->C;
    if (!f1 || !b1 || !f2 || !b2 || f1->ne[0] < 2 || f1->ne[0] > 1024 || C > 1024 || !shape_is(f1, f1->ne[0], C) ||
        !shape_is(b1, C, 1) || !shape_is(f2, C, C) || !shape_is(b2, C, 1)) {
        snprintf(err, errlen, "cuda: t_embd.* missing or not [cond %d] (the CUDA path takes widths up to 1024)", C);
        return -1;
    }
    c->n_freq = (int)f1->ne[0];
    size_t nf = (size_t)c->n_freq;
    c->temb = (float *)malloc(sizeof(float) * ((size_t)C * nf + (size_t)C * C + 2 * (size_t)C));
    if (!c->temb) {
        snprintf(err, errlen, "cuda: out of host memory");
        return -1;
    }
    float *p = c->temb;
    if (tensor_rows_f32(f1, 0, C, p) || tensor_rows_f32(b1, 0, 1, p + (size_t)C * nf) ||
        tensor_rows_f32(f2, 0, C, p + (size_t)C * nf + C) ||
        tensor_rows_f32(b2, 0, 1, p + (size_t)C * nf + C + (size_t)C * C)) {
        snprintf(err, errlen, "cuda: t_embd.* do not convert to f32");
        return -1;
    }
    return 0;
}

/* Every block's weights, each through the architecture's own loader. */
static int load_layers(struct cu_ctx *c, int (*load)(struct cu_ctx *, int, struct cu_layer *, char *, size_t),
                       char *err, size_t errlen)
{
    c->layers = (struct cu_layer *)calloc((size_t)c->cfg.n_layers, sizeof(struct cu_layer));
    if (!c->layers) {
        snprintf(err, errlen, "cuda: out of host memory");
        return -1;
    }
    for (int l = 0; l < c->cfg.n_layers; l++)
        if (load(c, l, &c->layers[l], err, errlen))
            return -1;
    return 0;
}

static int load_dit(struct cu_ctx *c, char *err, size_t errlen)
{
    if (!(c->out_w = upload_mat(c, "output.weight", c->V, c->D, err, errlen)) ||
        !(c->out_bias = upload_vec(c, "output.bias", c->V, 1, err, errlen)) ||
        !(c->out_norm = upload_vec(c, "output_norm.weight", c->D, 1, err, errlen)) ||
        !(c->fada_w = upload_mat(c, "output_adaln.weight", 2 * c->D, c->C, err, errlen)) ||
        !(c->fada_b = upload_vec(c, "output_adaln.bias", 2 * c->D, 1, err, errlen)) || load_dit_host(c, err, errlen))
        return -1;
    return load_layers(c, load_dit_layer, err, errlen);
}

int cu_load_weights(struct cu_ctx *c, char *err, size_t errlen)
{
    if (!(c->tok = upload_mat(c, "token_embd.weight", c->V, c->D, err, errlen)))
        return -1;
    if (c->dit)
        return load_dit(c, err, errlen);
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
    return load_layers(c, load_layer, err, errlen);
}

/* What the weights will take: every matrix as BF16, every vector as f32
 * (tensors the forward never reads are counted too: an upper bound). */
size_t cu_weights_estimate(const struct model *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct tensor *t = &m->tensors[i];
        size_t n = (size_t)t->ne[0] * (size_t)t->ne[1] * (size_t)t->ne[2] * (size_t)t->ne[3];
        total += n * (t->ne[1] > 1 ? 2 : 4);
    }
    return total;
}

