/* A GGUF file as a model: llama.cpp's metadata keys to struct model_config,
 * tensors by reference into the mapping, the tokenizer from tokenizer.ggml.*. */
#include "engine/model/model.h"
#include "engine/tok/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_arch(const char *s, enum arch *a)
{
    static const struct { const char *name; enum arch a; } names[] = {
        {"llada", ARCH_LLADA}, {"dream", ARCH_DREAM}, {"llama", ARCH_LLAMA},
        {"bert", ARCH_BERT},   {"roberta", ARCH_ROBERTA}, {"mdlm", ARCH_MDLM}, {"sedd", ARCH_SEDD},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *a = names[i].a;
            return 0;
        }
    return -1;
}

/* An optional integer key: absent keeps *v; the wrong type is an error. */
static int get_int(const struct gguf *g, const char *path, const char *key, int *v, char *err, size_t errlen)
{
    int32_t x;
    int rc = gguf_get_i32(g, key, &x);
    if (rc < 0) {
        snprintf(err, errlen, "%s: metadata '%s' is not an integer in range", path, key);
        return -1;
    }
    if (rc == 1)
        *v = x;
    return 0;
}

static int get_float(const struct gguf *g, const char *path, const char *key, float *v, char *err, size_t errlen)
{
    int rc = gguf_get_f32(g, key, v);
    if (rc < 0) {
        snprintf(err, errlen, "%s: metadata '%s' is not a number", path, key);
        return -1;
    }
    return 0;
}

static int get_flag(const struct gguf *g, const char *path, const char *key, int *v, char *err, size_t errlen)
{
    int rc = gguf_get_bool(g, key, v);
    if (rc < 0) {
        snprintf(err, errlen, "%s: metadata '%s' is not a bool", path, key);
        return -1;
    }
    return 0;
}

static int read_config(const struct gguf *g, struct model *m, const char *arch, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    const char *p = m->path;
    char k[160];
    struct { const char *suffix; int *v; } ints[] = {
        {"context_length", &c->max_seq},
        {"embedding_length", &c->d_model},
        {"block_count", &c->n_layers},
        {"feed_forward_length", &c->d_ff},
        {"attention.head_count", &c->n_heads},
        {"attention.head_count_kv", &c->n_kv_heads},
        {"attention.key_length", &c->head_dim},
        {"rope.dimension_count", &c->rope_dim},
        {"vocab_size", &c->vocab_size},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(k, sizeof k, "%s.%s", arch, ints[i].suffix);
        if (get_int(g, p, k, ints[i].v, err, errlen))
            return -1;
    }
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    if (get_float(g, p, k, &c->rope_theta, err, errlen))
        return -1;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    if (get_float(g, p, k, &c->norm_eps, err, errlen))
        return -1;
    if (c->norm_eps <= 0) {
        snprintf(k, sizeof k, "%s.attention.layer_norm_epsilon", arch);
        if (get_float(g, p, k, &c->norm_eps, err, errlen))
            return -1;
    }
    c->causal = c->arch == ARCH_LLAMA;
    snprintf(k, sizeof k, "%s.attention.causal", arch);
    if (get_flag(g, p, k, &c->causal, err, errlen))
        return -1;
    c->shift_logits = c->arch == ARCH_DREAM;
    if (get_flag(g, p, "diffusion.shift_logits", &c->shift_logits, err, errlen))
        return -1;
    /* llama.cpp's converters permute Q/K rows into interleaved pairs for
     * Llama and LLaDA, not for Dream (Qwen2 keeps rotate-half) */
    c->rope_interleaved = c->arch == ARCH_LLADA || c->arch == ARCH_LLAMA;
    struct { const char *key; int *v; } ids[] = {
        {"tokenizer.ggml.bos_token_id", &c->bos_id},     {"tokenizer.ggml.eos_token_id", &c->eos_id},
        {"tokenizer.ggml.padding_token_id", &c->pad_id}, {"tokenizer.ggml.mask_token_id", &c->mask_id},
        {"tokenizer.ggml.eot_token_id", &c->eot_id},     {"tokenizer.ggml.unknown_token_id", &c->unk_id},
        {"tokenizer.ggml.cls_token_id", &c->cls_id},     {"tokenizer.ggml.seperator_token_id", &c->sep_id},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (get_int(g, p, ids[i].key, ids[i].v, err, errlen))
            return -1;
    return 0;
}

static int find_token(char *const *tokens, int n, const char *text)
{
    for (int i = 0; i < n; i++)
        if (strcmp(tokens[i], text) == 0)
            return i;
    return -1;
}

static int load_tokenizer(const struct gguf *g, struct model *m, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    struct tok_gguf_vocab v;
    memset(&v, 0, sizeof v);
    char *const *tokens, *const *merges = NULL;
    int n_tokens = 0, n_merges = 0, n_scores = 0, n_types = 0;
    float *scores = NULL;
    int32_t *types = NULL;
    int rc = -1;
    if (gguf_get_strs(g, "tokenizer.ggml.tokens", &tokens, &n_tokens) != 1 || n_tokens <= 0) {
        snprintf(err, errlen, "%s: no tokenizer (tokenizer.ggml.tokens missing or not a string array)", m->path);
        return -1;
    }
    if (gguf_get_str(g, "tokenizer.ggml.model", &v.model) != 1) {
        snprintf(err, errlen, "%s: tokenizer.ggml.model missing", m->path);
        return -1;
    }
    if (gguf_get_str(g, "tokenizer.ggml.pre", &v.pre) < 0 ||
        gguf_get_strs(g, "tokenizer.ggml.merges", &merges, &n_merges) < 0 ||
        gguf_get_arr_f32(g, "tokenizer.ggml.scores", &scores, &n_scores) < 0 ||
        gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &types, &n_types) < 0) {
        snprintf(err, errlen, "%s: tokenizer.ggml.pre/merges/scores/token_type has the wrong type", m->path);
        goto out;
    }
    if ((scores && n_scores != n_tokens) || (types && n_types != n_tokens)) {
        snprintf(err, errlen, "%s: tokenizer has %d tokens but %d scores and %d token types", m->path, n_tokens,
                 scores ? n_scores : n_tokens, types ? n_types : n_tokens);
        goto out;
    }
    if (c->mask_id < 0)
        for (int k = 0; k < 4 && c->mask_id < 0; k++) {
            static const char *const texts[] = {"<|mdm_mask|>", "<|mask|>", "[MASK]", "<mask>"};
            c->mask_id = find_token(tokens, n_tokens, texts[k]);
        }
    int *ids[] = {&c->bos_id, &c->eos_id, &c->pad_id, &c->mask_id, &c->eot_id, &c->unk_id, &c->cls_id, &c->sep_id};
    for (int k = 0; k < 8; k++)
        if (*ids[k] >= n_tokens || *ids[k] < -1) {
            snprintf(err, errlen, "%s: special token id %d is outside the tokenizer's %d tokens%s", m->path, *ids[k],
                     n_tokens,
                     c->arch == ARCH_MDLM || c->arch == ARCH_SEDD
                         ? " (mdlm/sedd: the mask is the last id, V - 1, with no token: leave "
                           "tokenizer.ggml.mask_token_id out)"
                         : "");
            goto out;
        }
    /* llama.cpp's defaults when add_bos_token is absent: SentencePiece and
     * WordPiece vocabularies add BOS/[CLS], byte-level BPE does not */
    c->add_bos = strcmp(v.model, "llama") == 0 || strcmp(v.model, "bert") == 0;
    if (get_flag(g, m->path, "tokenizer.ggml.add_bos_token", &c->add_bos, err, errlen))
        goto out;
    v.add_space_prefix = 1;
    if (get_flag(g, m->path, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix, err, errlen))
        goto out;
    if (c->arch == ARCH_BERT || c->arch == ARCH_ROBERTA) {
        if (c->cls_id < 0)
            c->cls_id = c->bos_id >= 0 ? c->bos_id : find_token(tokens, n_tokens, "[CLS]");
        if (c->sep_id < 0)
            c->sep_id = c->eos_id >= 0 ? c->eos_id : find_token(tokens, n_tokens, "[SEP]");
        if (c->bos_id < 0)
            c->bos_id = c->cls_id;
        if (c->eos_id < 0)
            c->eos_id = c->sep_id;
    }
    v.n_tokens = n_tokens;
    v.tokens = (const char *const *)tokens;
    v.scores = scores;
    v.types = types;
    v.n_merges = n_merges;
    v.merges = (const char *const *)merges;
    v.bos_id = c->bos_id;
    v.eos_id = c->eos_id;
    v.unk_id = c->unk_id;
    v.pad_id = c->pad_id;
    v.mask_id = c->mask_id;
    v.sep_id = c->sep_id;
    v.cls_id = c->cls_id;
    v.add_bos = c->add_bos;
    char terr[256];
    m->tok = tok_load_gguf(&v, terr, sizeof terr);
    if (!m->tok) {
        snprintf(err, errlen, "%s: tokenizer: %s", m->path, terr);
        goto out;
    }
    rc = 0;
out:
    free(scores);
    free(types);
    return rc;
}

/* Everything but the file: config, tensors (pointing into g's image),
 * template, tokenizer. */
static int load_parsed(struct model *m, const struct gguf *g, char *err, size_t errlen)
{
    const char *arch, *s;
    if (gguf_get_str(g, "general.architecture", &arch) != 1) {
        snprintf(err, errlen, "%s: general.architecture missing", m->path);
        return -1;
    }
    if (parse_arch(arch, &m->cfg.arch)) {
        snprintf(err, errlen, "%s: architecture '%s' not supported (llada, dream, llama, bert, roberta, mdlm, sedd)",
                 m->path, arch);
        return -1;
    }
    if (read_config(g, m, arch, err, errlen))
        return -1;
    if ((m->cfg.arch == ARCH_MDLM || m->cfg.arch == ARCH_SEDD) && dit_gguf_config(g, m, arch, err, errlen))
        return -1;
    if ((gguf_get_str(g, "general.name", &s) == 1 && !(m->name = strdup(s))) ||
        (gguf_get_str(g, "tokenizer.chat_template", &s) == 1 && !(m->chat_template = strdup(s)))) {
        snprintf(err, errlen, "%s: out of memory", m->path);
        return -1;
    }
    for (int i = 0; i < g->n_tensors; i++) {
        const struct gguf_tensor_info *t = &g->tensors[i];
        if (model_add_tensor(m, t->name, (enum dtype)t->type, t->n_dims, t->ne, t->data, t->nbytes, err, errlen))
            return -1;
    }
    return load_tokenizer(g, m, err, errlen);
}

int model_load_gguf(struct model *m, const char *path, char *err, size_t errlen)
{
    struct gguf *g;
    if (gguf_open(path, &g, err, errlen))
        return -1;
    int rc = load_parsed(m, g, err, errlen);
    if (rc == 0) {
        /* the tensors point into the mapping: the model keeps it, the metadata goes */
        model_keep_map(m, g->map, g->size);
        g->map = NULL;
    }
    gguf_close(g);
    return rc;
}

int model_open_gguf_memory(const void *buf, size_t size, const char *name, struct model **out, char *err,
                           size_t errlen)
{
    *out = NULL;
    struct model *m = model_new(name);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    struct gguf g;
    if (gguf_parse(&g, buf, size, name, err, errlen)) {
        model_free(m);
        return -1;
    }
    int rc = load_parsed(m, &g, err, errlen);
    gguf_clear(&g);
    return model_deliver(m, rc, out, err, errlen);
}
