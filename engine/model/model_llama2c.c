/* A llama2.c checkpoint as a model. Two layouts of float32 weights:
 *   legacy: 7 int32 (dim, hidden, layers, heads, kv_heads, vocab, seq_len;
 *           vocab < 0 means an untied classifier), then token_embd,
 *           attn_norm[L], wq[L], wk[L], wv[L], wo[L], ffn_norm[L], w1[L],
 *           w2[L], w3[L], output_norm, old RoPE tables (seq_len * head/2 * 2),
 *           then output when untied;
 *   v1:     u32 magic "ak42", i32 version 1, the 7 int32, u8 shared
 *           classifier, zeros to 256 bytes, then attn_norm[L], ffn_norm[L],
 *           output_norm, token_embd, wq[L], wk[L], wv[L], wo[L], w1[L],
 *           w2[L], w3[L], then output when not shared.
 * Per-layer tensors point into the stacked arrays of the mapping. The
 * tokenizer is tokenizer.bin beside the checkpoint (or the one *.bin whose
 * name starts with "tok"). */
#include "engine/model/model.h"
#include "engine/tok/tok.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define L2C_MAGIC 0x616b3432u

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Finds the checkpoint and tokenizer in dir: tokenizer.bin or tok*.bin is
 * the tokenizer; the checkpoint is the only other *.bin. */
static int find_files(const char *dir, char *ckpt, char *tok, size_t len, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot read the directory", dir);
        return -1;
    }
    int n_ckpt = 0, n_tok = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".bin"))
            continue;
        if (strncmp(e->d_name, "tok", 3) == 0) {
            if (n_tok == 0 || strcmp(e->d_name, "tokenizer.bin") == 0)
                snprintf(tok, len, "%s/%s", dir, e->d_name);
            n_tok++;
        } else {
            snprintf(ckpt, len, "%s/%s", dir, e->d_name);
            n_ckpt++;
        }
    }
    closedir(d);
    if (n_ckpt != 1) {
        snprintf(err, errlen, "%s: expected one llama2.c checkpoint (*.bin not named tok*), found %d", dir, n_ckpt);
        return -1;
    }
    if (n_tok == 0) {
        snprintf(err, errlen, "%s: no tokenizer.bin beside the checkpoint", dir);
        return -1;
    }
    return 0;
}

static int32_t rd_i32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)u;
}

struct l2c_cursor {
    const uint8_t *base;
    size_t size, pos;       /* bytes */
};

/* Claims n floats at the cursor; NULL when the file is too short. */
static const float *take(struct l2c_cursor *c, uint64_t n)
{
    if (n > (c->size - c->pos) / 4)
        return NULL;
    const float *p = (const float *)(c->base + c->pos);
    c->pos += (size_t)n * 4;
    return p;
}

static int add(struct model *m, const char *name, const float *data, int64_t n0, int64_t n1, char *err,
               size_t errlen)
{
    int64_t ne[2] = {n0, n1 ? n1 : 1};
    return model_add_tensor(m, name, DT_F32, n1 ? 2 : 1, ne, data, (size_t)(n0 * ne[1]) * 4, err, errlen);
}

/* Adds blk.N.<suffix> for each layer from a stacked array of L [n1, n0]. */
static int add_stack(struct model *m, const char *suffix, const float *data, int L, int64_t n0, int64_t n1,
                     char *err, size_t errlen)
{
    char name[64];
    int64_t per = n0 * (n1 ? n1 : 1);
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
        if (add(m, name, data + (int64_t)l * per, n0, n1, err, errlen))
            return -1;
    }
    return 0;
}

int model_load_llama2c(struct model *m, const char *path, char *err, size_t errlen)
{
    char ckpt[4096], tokp[4096];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (find_files(path, ckpt, tokp, sizeof ckpt, err, errlen))
            return -1;
    } else {
        snprintf(ckpt, sizeof ckpt, "%s", path);
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 1;
        snprintf(tokp, sizeof tokp, "%.*s/tokenizer.bin", dl, slash ? path : ".");
    }
    void *map;
    size_t size;
    if (model_map_file(ckpt, &map, &size, err, errlen))
        return -1;
    const uint8_t *b = map;
    int32_t h[7];
    int shared;
    size_t start;
    int v1 = size >= 8 && (uint32_t)rd_i32(b) == L2C_MAGIC;
    if (v1) {
        int32_t version = rd_i32(b + 4);
        if (version != 1) {
            snprintf(err, errlen, "%s: llama2.c checkpoint version %d not supported (legacy or 1: float32)", ckpt,
                     version);
            goto fail;
        }
        if (size < 256) {
            snprintf(err, errlen, "%s: truncated llama2.c header", ckpt);
            goto fail;
        }
        for (int k = 0; k < 7; k++)
            h[k] = rd_i32(b + 8 + 4 * k);
        shared = b[36] != 0;
        start = 256;
    } else {
        if (size < 28) {
            snprintf(err, errlen, "%s: truncated llama2.c header (%zu bytes)", ckpt, size);
            goto fail;
        }
        for (int k = 0; k < 7; k++)
            h[k] = rd_i32(b + 4 * k);
        shared = h[5] > 0;
        if (h[5] < 0)
            h[5] = h[5] == INT32_MIN ? 0 : -h[5];
        start = 28;
    }
    int dim = h[0], hidden = h[1], L = h[2], H = h[3], KV = h[4], V = h[5], seq = h[6];
    if (dim <= 0 || hidden <= 0 || L <= 0 || L > 4096 || H <= 0 || KV <= 0 || V <= 0 || seq <= 0 || dim % H != 0 ||
        H % KV != 0 || (dim / H) % 2 != 0) {
        snprintf(err, errlen, "%s: implausible llama2.c header dim=%d hidden=%d layers=%d heads=%d kv_heads=%d "
                 "vocab=%d seq_len=%d", ckpt, dim, hidden, L, H, KV, V, seq);
        goto fail;
    }
    struct model_config *c = &m->cfg;
    int hd = dim / H;
    int64_t kvd = (int64_t)hd * KV;
    c->arch = ARCH_LLAMA;
    c->d_model = dim;
    c->d_ff = hidden;
    c->n_layers = L;
    c->n_heads = H;
    c->n_kv_heads = KV;
    c->head_dim = hd;
    c->rope_dim = hd;
    c->vocab_size = V;
    c->max_seq = seq;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_interleaved = 1;
    c->causal = 1;
    c->unk_id = 0;
    c->bos_id = 1;
    c->eos_id = 2;
    c->add_bos = 1;

    struct l2c_cursor cur = {b, size, start};
    const float *emb = NULL, *an = NULL, *wq, *wk, *wv, *wo, *fn = NULL, *w1, *w2, *w3, *on = NULL, *out = NULL;
    uint64_t d = (uint64_t)dim, f = (uint64_t)hidden, l = (uint64_t)L;
    if (v1) {
        an = take(&cur, l * d);
        fn = an ? take(&cur, l * d) : NULL;
        on = fn ? take(&cur, d) : NULL;
        emb = on ? take(&cur, (uint64_t)V * d) : NULL;
    } else {
        emb = take(&cur, (uint64_t)V * d);
        an = emb ? take(&cur, l * d) : NULL;
    }
    wq = an ? take(&cur, l * d * d) : NULL;
    wk = wq ? take(&cur, l * d * (uint64_t)kvd) : NULL;
    wv = wk ? take(&cur, l * d * (uint64_t)kvd) : NULL;
    wo = wv ? take(&cur, l * d * d) : NULL;
    if (!v1)
        fn = wo ? take(&cur, l * d) : NULL;
    w1 = (v1 ? wo : fn) ? take(&cur, l * f * d) : NULL;
    w2 = w1 ? take(&cur, l * d * f) : NULL;
    w3 = w2 ? take(&cur, l * f * d) : NULL;
    int ok = w3 != NULL;
    if (ok && !v1) {
        on = take(&cur, d);
        ok = on && take(&cur, (uint64_t)seq * (uint64_t)hd) != NULL; /* RoPE cos + sin tables, unused */
    }
    if (ok && !shared)
        ok = (out = take(&cur, (uint64_t)V * d)) != NULL;
    if (!ok) {
        snprintf(err, errlen, "%s: truncated llama2.c checkpoint: %zu bytes is too short for dim=%d layers=%d "
                 "vocab=%d", ckpt, size, dim, L, V);
        goto fail;
    }
    model_keep_map(m, map, size);
    map = NULL;
    if (add(m, "token_embd.weight", emb, dim, V, err, errlen) ||
        add(m, "output_norm.weight", on, dim, 0, err, errlen) ||
        (out && add(m, "output.weight", out, dim, V, err, errlen)) ||
        add_stack(m, "attn_norm.weight", an, L, dim, 0, err, errlen) ||
        add_stack(m, "attn_q.weight", wq, L, dim, dim, err, errlen) ||
        add_stack(m, "attn_k.weight", wk, L, dim, kvd, err, errlen) ||
        add_stack(m, "attn_v.weight", wv, L, dim, kvd, err, errlen) ||
        add_stack(m, "attn_output.weight", wo, L, dim, dim, err, errlen) ||
        add_stack(m, "ffn_norm.weight", fn, L, dim, 0, err, errlen) ||
        add_stack(m, "ffn_gate.weight", w1, L, dim, hidden, err, errlen) ||
        add_stack(m, "ffn_down.weight", w2, L, hidden, dim, err, errlen) ||
        add_stack(m, "ffn_up.weight", w3, L, dim, hidden, err, errlen))
        return -1;
    char terr[256];
    m->tok = tok_load_llama2c(tokp, V, terr, sizeof terr);
    if (!m->tok) {
        snprintf(err, errlen, "%s: tokenizer: %s", tokp, terr);
        return -1;
    }
    const char *slash = strrchr(ckpt, '/');
    m->name = strdup(slash ? slash + 1 : ckpt);
    return 0;
fail:
    if (map)
        munmap(map, size);
    return -1;
}
