/* model_open: picks the loader by what the path is, and the parts every
 * loader shares: the tensor table, owned mappings and buffers, and the checks
 * and defaults applied after loading (ties, mask token fallback, shapes). */
#include "engine/model/model.h"
#include "engine/tok/tok.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct model_map {
    void *p;
    size_t n;
};

struct model_priv {
    struct model_map *maps;
    int n_maps;
    void **bufs;
    int n_bufs;
    int cap_tensors;
};

const char *arch_name(enum arch a)
{
    switch (a) {
    case ARCH_LLADA: return "llada";
    case ARCH_DREAM: return "dream";
    case ARCH_LLAMA: return "llama";
    case ARCH_BERT: return "bert";
    case ARCH_ROBERTA: return "roberta";
    case ARCH_MDLM: return "mdlm";
    case ARCH_SEDD: return "sedd";
    }
    return "unknown";
}

struct model *model_new(const char *path)
{
    struct model *m = calloc(1, sizeof *m);
    struct model_priv *p = calloc(1, sizeof *p);
    if (!m || !p) {
        free(m);
        free(p);
        return NULL;
    }
    m->priv = p;
    m->path = strdup(path);
    struct model_config *c = &m->cfg;
    c->bos_id = c->eos_id = c->pad_id = c->mask_id = c->eot_id = c->unk_id = c->cls_id = c->sep_id = -1;
    return m;
}

int model_add_tensor(struct model *m, const char *name, enum dtype type, int n_dims, const int64_t *ne,
                     const void *data, size_t nbytes, char *err, size_t errlen)
{
    struct model_priv *p = m->priv;
    if (model_tensor(m, name)) {
        snprintf(err, errlen, "%s: tensor '%s' appears twice", m->path, name);
        return -1;
    }
    if (m->n_tensors == p->cap_tensors) {
        int cap = p->cap_tensors ? 2 * p->cap_tensors : 64;
        struct tensor *t = realloc(m->tensors, (size_t)cap * sizeof *t);
        if (!t)
            goto oom;
        m->tensors = t;
        p->cap_tensors = cap;
    }
    struct tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        goto oom;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    m->n_tensors++;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", m->path);
    return -1;
}

void model_keep_map(struct model *m, void *map, size_t size)
{
    struct model_priv *p = m->priv;
    struct model_map *mm = realloc(p->maps, (size_t)(p->n_maps + 1) * sizeof *mm);
    if (!mm) {
        /* cannot track it: unmapping later is impossible, so leak the mapping */
        return;
    }
    p->maps = mm;
    p->maps[p->n_maps].p = map;
    p->maps[p->n_maps].n = size;
    p->n_maps++;
}

void model_keep_buffer(struct model *m, void *buf)
{
    struct model_priv *p = m->priv;
    void **b = realloc(p->bufs, (size_t)(p->n_bufs + 1) * sizeof *b);
    if (!b)
        return;
    p->bufs = b;
    p->bufs[p->n_bufs++] = buf;
}

void model_free(struct model *m)
{
    if (!m)
        return;
    struct model_priv *p = m->priv;
    for (int i = 0; i < m->n_tensors; i++)
        free(m->tensors[i].name);
    free(m->tensors);
    if (m->tok)
        tok_free(m->tok);
    free(m->chat_template);
    free(m->name);
    free(m->path);
    if (p) {
        for (int i = 0; i < p->n_maps; i++)
            munmap(p->maps[i].p, p->maps[i].n);
        free(p->maps);
        for (int i = 0; i < p->n_bufs; i++)
            free(p->bufs[i]);
        free(p->bufs);
        free(p);
    }
    free(m);
}

const struct tensor *model_tensor(const struct model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

int model_want_tensor(const struct model *m, const char *name, int64_t n0, int64_t n1, int required, char *err,
                      size_t errlen)
{
    const struct tensor *t = model_tensor(m, name);
    if (!t) {
        if (required)
            snprintf(err, errlen, "%s: tensor '%s' is missing (%s)", m->path, name, arch_name(m->cfg.arch));
        return required ? -1 : 0;
    }
    int64_t w1 = n1 ? n1 : 1;
    if (t->ne[0] != n0 || t->ne[1] != w1 || t->ne[2] != 1 || t->ne[3] != 1) {
        snprintf(err, errlen, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", m->path,
                 name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                 (long long)n0, (long long)w1);
        return -1;
    }
    return 0;
}

static int want_blk(const struct model *m, int l, const char *suffix, int64_t n0, int64_t n1, int required,
                    char *err, size_t errlen)
{
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    return model_want_tensor(m, name, n0, n1, required, err, errlen);
}

static int check_llama_shapes(const struct model *m, char *err, size_t errlen)
{
    const struct model_config *c = &m->cfg;
    int64_t d = c->d_model, q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t ff = c->d_ff, V = c->vocab_size;
    if (model_want_tensor(m, "output_norm.weight", d, 0, 1, err, errlen) ||
        model_want_tensor(m, "output.weight", d, V, 0, err, errlen))
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        if (want_blk(m, l, "attn_norm.weight", d, 0, 1, err, errlen) ||
            want_blk(m, l, "attn_q.weight", d, q, 1, err, errlen) ||
            want_blk(m, l, "attn_k.weight", d, kv, 1, err, errlen) ||
            want_blk(m, l, "attn_v.weight", d, kv, 1, err, errlen) ||
            want_blk(m, l, "attn_q.bias", q, 0, 0, err, errlen) ||
            want_blk(m, l, "attn_k.bias", kv, 0, 0, err, errlen) ||
            want_blk(m, l, "attn_v.bias", kv, 0, 0, err, errlen) ||
            want_blk(m, l, "attn_output.weight", q, d, 1, err, errlen) ||
            want_blk(m, l, "ffn_norm.weight", d, 0, 1, err, errlen) ||
            want_blk(m, l, "ffn_gate.weight", d, ff, 1, err, errlen) ||
            want_blk(m, l, "ffn_up.weight", d, ff, 1, err, errlen) ||
            want_blk(m, l, "ffn_down.weight", ff, d, 1, err, errlen))
            return -1;
    }
    return 0;
}

static int check_bert_shapes(const struct model *m, char *err, size_t errlen)
{
    const struct model_config *c = &m->cfg;
    int64_t d = c->d_model, ff = c->d_ff, V = c->vocab_size;
    const struct tensor *pos = model_tensor(m, "position_embd.weight");
    if (!pos || pos->ne[0] != d) {
        snprintf(err, errlen, "%s: tensor 'position_embd.weight' is missing or not %lld wide", m->path,
                 (long long)d);
        return -1;
    }
    if (model_want_tensor(m, "token_embd_norm.weight", d, 0, 1, err, errlen) ||
        model_want_tensor(m, "token_embd_norm.bias", d, 0, 1, err, errlen) ||
        model_want_tensor(m, "mlm.dense.weight", d, d, 0, err, errlen) ||
        model_want_tensor(m, "mlm.dense.bias", d, 0, 0, err, errlen) ||
        model_want_tensor(m, "mlm.norm.weight", d, 0, 0, err, errlen) ||
        model_want_tensor(m, "mlm.norm.bias", d, 0, 0, err, errlen) ||
        model_want_tensor(m, "output.weight", d, V, 0, err, errlen) ||
        model_want_tensor(m, "output.bias", V, 0, 0, err, errlen))
        return -1;
    static const char *const sq[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
    static const char *const norms[] = {"attn_output_norm", "layer_output_norm"};
    for (int l = 0; l < c->n_layers; l++) {
        char w[64], b[64];
        for (int k = 0; k < 4; k++) {
            snprintf(w, sizeof w, "%s.weight", sq[k]);
            snprintf(b, sizeof b, "%s.bias", sq[k]);
            if (want_blk(m, l, w, d, d, 1, err, errlen) || want_blk(m, l, b, d, 0, 1, err, errlen))
                return -1;
        }
        for (int k = 0; k < 2; k++) {
            snprintf(w, sizeof w, "%s.weight", norms[k]);
            snprintf(b, sizeof b, "%s.bias", norms[k]);
            if (want_blk(m, l, w, d, 0, 1, err, errlen) || want_blk(m, l, b, d, 0, 1, err, errlen))
                return -1;
        }
        if (want_blk(m, l, "ffn_up.weight", d, ff, 1, err, errlen) ||
            want_blk(m, l, "ffn_up.bias", ff, 0, 1, err, errlen) ||
            want_blk(m, l, "ffn_down.weight", ff, d, 1, err, errlen) ||
            want_blk(m, l, "ffn_down.bias", d, 0, 1, err, errlen))
            return -1;
    }
    return 0;
}

int model_deliver(struct model *m, int rc, struct model **out, char *err, size_t errlen)
{
    if (rc == 0)
        rc = model_finish(m, err, errlen);
    if (rc != 0) {
        model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

static const char *const mask_texts[] = {"<|mdm_mask|>", "<|mask|>", "[MASK]", "<mask>"};

int model_finish(struct model *m, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    int dit = c->arch == ARCH_MDLM || c->arch == ARCH_SEDD;
    const struct tensor *emb = model_tensor(m, "token_embd.weight");
    if (!emb) {
        snprintf(err, errlen, "%s: tensor 'token_embd.weight' is missing", m->path);
        return -1;
    }
    if (c->vocab_size <= 0)
        c->vocab_size = (int)emb->ne[1];
    if (c->n_layers <= 0 || c->d_model <= 0 || c->n_heads <= 0 || c->d_ff <= 0) {
        snprintf(err, errlen, "%s: config lacks layers/width/heads/ffn size (%d/%d/%d/%d)", m->path, c->n_layers,
                 c->d_model, c->n_heads, c->d_ff);
        return -1;
    }
    if (c->n_layers > 4096 || c->n_heads > 4096) {
        snprintf(err, errlen, "%s: implausible config (%d layers, %d heads)", m->path, c->n_layers, c->n_heads);
        return -1;
    }
    if (c->n_kv_heads <= 0)
        c->n_kv_heads = c->n_heads;
    if (c->head_dim <= 0) {
        if (c->d_model % c->n_heads != 0) {
            snprintf(err, errlen, "%s: width %d is not a multiple of %d heads", m->path, c->d_model, c->n_heads);
            return -1;
        }
        c->head_dim = c->d_model / c->n_heads;
    }
    if (c->rope_dim <= 0)
        c->rope_dim = c->head_dim;
    if (c->rope_dim > c->head_dim || c->rope_dim % 2 != 0) {
        snprintf(err, errlen, "%s: rotary dims %d must be even and at most the head size %d", m->path, c->rope_dim,
                 c->head_dim);
        return -1;
    }
    if (c->n_heads % c->n_kv_heads != 0) {
        snprintf(err, errlen, "%s: %d heads are not a multiple of %d key/value heads", m->path, c->n_heads,
                 c->n_kv_heads);
        return -1;
    }
    if (c->rope_theta <= 0)
        c->rope_theta = 10000.0f;
    if (c->norm_eps <= 0)
        c->norm_eps = c->arch == ARCH_BERT || c->arch == ARCH_ROBERTA ? 1e-12f : 1e-5f;
    if (model_want_tensor(m, "token_embd.weight", c->d_model, c->vocab_size, 1, err, errlen))
        return -1;
    c->tied_output = model_tensor(m, "output.weight") == NULL;
    if (dit) {
        if (dit_finish(m, err, errlen))
            return -1;
    } else if (c->arch == ARCH_BERT || c->arch == ARCH_ROBERTA) {
        if (check_bert_shapes(m, err, errlen))
            return -1;
    } else if (check_llama_shapes(m, err, errlen)) {
        return -1;
    }
    if (m->tok && !dit) {
        for (size_t k = 0; c->mask_id < 0 && k < sizeof mask_texts / sizeof mask_texts[0]; k++)
            c->mask_id = tok_find(m->tok, mask_texts[k]);
        if (c->eot_id < 0)
            c->eot_id = tok_find(m->tok, "<|eot_id|>");
        if (c->eot_id < 0)
            c->eot_id = tok_find(m->tok, "<|im_end|>");
    }
    if (c->mask_id < 0 && !c->causal && !(dit && c->graph_uniform)) {
        snprintf(err, errlen,
                 "%s: no mask token: no mask token id in the metadata and no <|mdm_mask|>, <|mask|>, [MASK] or "
                 "<mask> in the vocabulary",
                 m->path);
        return -1;
    }
    int *ids[] = {&c->bos_id, &c->eos_id, &c->pad_id, &c->mask_id, &c->eot_id, &c->unk_id, &c->cls_id, &c->sep_id};
    static const char *const id_names[] = {"bos", "eos", "pad", "mask", "eot", "unk", "cls", "sep"};
    for (int k = 0; k < 8; k++)
        if (*ids[k] >= c->vocab_size || *ids[k] < -1) {
            snprintf(err, errlen, "%s: %s token id %d is outside the vocabulary (%d)", m->path, id_names[k], *ids[k],
                     c->vocab_size);
            return -1;
        }
    if (m->tok) {
        /* The model's files know its special ids and BOS rule better than the
         * tokenizer's guesses from token texts (tokenizer.json has no field
         * for them), so encoding and chat rendering follow the model. */
        struct tok_specials sp;
        tok_get_specials(m->tok, &sp);
        int *mine[] = {&sp.bos_id, &sp.eos_id, &sp.pad_id, &sp.mask_id, &sp.eot_id, &sp.unk_id, &sp.cls_id, &sp.sep_id};
        for (int k = 0; k < 8; k++)
            if (*ids[k] >= 0)
                *mine[k] = *ids[k];
        sp.add_bos = c->add_bos;
        tok_set_specials(m->tok, &sp);
    }
    m->chat = m->chat_template ? chat_detect(m->chat_template) : CHAT_NONE;
    if (!m->name) {
        const char *base = strrchr(m->path, '/');
        base = base && base[1] ? base + 1 : m->path;
        m->name = strdup(base);
    }
    return 0;
}

static int has_file(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int dir_has_bin(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        found = n > 4 && strcmp(e->d_name + n - 4, ".bin") == 0;
    }
    closedir(d);
    return found;
}

int model_open(const char *path, struct model **out, char *err, size_t errlen)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct model *m = model_new(path);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
        if (has_file(path, "config.json"))
            rc = model_load_hf(m, path, err, errlen);
        else if (dir_has_bin(path))
            rc = model_load_llama2c(m, path, err, errlen);
        else {
            snprintf(err, errlen, "%s: neither a Hugging Face directory (config.json) nor a llama2.c one (*.bin)",
                     path);
            rc = -1;
        }
    } else {
        char magic[4] = {0};
        FILE *f = fopen(path, "rb");
        size_t got = f ? fread(magic, 1, 4, f) : 0;
        if (f)
            fclose(f);
        size_t n = strlen(path);
        if (got == 4 && memcmp(magic, "GGUF", 4) == 0)
            rc = model_load_gguf(m, path, err, errlen);
        else if (n > 4 && strcmp(path + n - 4, ".bin") == 0)
            rc = model_load_llama2c(m, path, err, errlen);
        else {
            snprintf(err, errlen, "%s: not a GGUF file, a llama2.c .bin or a model directory", path);
            rc = -1;
        }
    }
    return model_deliver(m, rc, out, err, errlen);
}
