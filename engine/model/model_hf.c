/* A Hugging Face model directory as a model: config.json for the
 * architecture, model.safetensors (or the shards a model.safetensors.index.json
 * names, or model-*.safetensors) for the weights, tokenizer.json,
 * tokenizer_config.json (chat template, special tokens, add_bos_token) and
 * generation_config.json when present. Special ids: the tokenizer_config
 * texts first, then config.json's ids, then generation_config.json's. */
#include "engine/model/model.h"
#include "engine/tok/tok.h"

#include <cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static cJSON *read_json(const char *dir, const char *file, int required, char *err, size_t errlen)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (stat(path, &st) != 0) {
        if (required)
            snprintf(err, errlen, "%s: %s is missing", dir, file);
        else if (errlen)
            err[0] = 0;
        return NULL;
    }
    size_t len;
    char *text = model_read_file(path, &len, err, errlen);
    if (!text)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* First of keys that is a number; 1 found, 0 none, -1 not an integer. */
static int json_int(const cJSON *o, const char *const *keys, int *v)
{
    for (; *keys; keys++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, *keys);
        if (cJSON_IsArray(x)) /* eos_token_id may be a list: the first is the main one */
            x = cJSON_GetArrayItem(x, 0);
        if (!x || cJSON_IsNull(x))
            continue;
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= -2147483648.0 && x->valuedouble <= 2147483647.0) ||
            x->valuedouble != (double)(int)x->valuedouble)
            return -1;
        *v = (int)x->valuedouble;
        return 1;
    }
    return 0;
}

static int json_float(const cJSON *o, const char *const *keys, float *v)
{
    for (; *keys; keys++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, *keys);
        if (!x || cJSON_IsNull(x))
            continue;
        if (!cJSON_IsNumber(x))
            return -1;
        *v = (float)x->valuedouble;
        return 1;
    }
    return 0;
}

static int arch_of(const cJSON *cfg, enum arch *a)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const char *first = cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0))
                            ? cJSON_GetArrayItem(archs, 0)->valuestring
                            : "";
    const char *type = cJSON_IsString(mt) ? mt->valuestring : "";
    if (strcasecmp(type, "llada") == 0 || strncasecmp(first, "LLaDA", 5) == 0)
        *a = ARCH_LLADA;
    else if (strcasecmp(type, "dream") == 0 || strncasecmp(first, "Dream", 5) == 0)
        *a = ARCH_DREAM;
    else if (strcasecmp(type, "roberta") == 0 || strncasecmp(first, "Roberta", 7) == 0)
        *a = ARCH_ROBERTA;
    else if (strcasecmp(type, "bert") == 0 || strncasecmp(first, "Bert", 4) == 0)
        *a = ARCH_BERT;
    else if (strcasecmp(type, "llama") == 0)
        *a = ARCH_LLAMA;
    else if (strcasecmp(type, "mdlm") == 0)
        *a = ARCH_MDLM;
    else if (dit_hf_is_sedd(cfg))
        *a = ARCH_SEDD;
    else
        return -1;
    return 0;
}

static int read_config(struct model *m, const cJSON *cfg, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    static const char *const k_layers[] = {"n_layers", "num_hidden_layers", NULL};
    static const char *const k_dim[] = {"d_model", "hidden_size", NULL};
    static const char *const k_heads[] = {"n_heads", "num_attention_heads", NULL};
    static const char *const k_kv[] = {"n_kv_heads", "num_key_value_heads", NULL};
    static const char *const k_hd[] = {"head_dim", NULL};
    static const char *const k_ff[] = {"mlp_hidden_size", "intermediate_size", NULL};
    static const char *const k_vocab[] = {"embedding_size", "vocab_size", NULL};
    static const char *const k_ctx[] = {"max_sequence_length", "max_position_embeddings", NULL};
    static const char *const k_eps[] = {"rms_norm_eps", "layer_norm_eps", NULL};
    static const char *const k_theta[] = {"rope_theta", NULL};
    static const char *const k_bos[] = {"bos_token_id", NULL};
    static const char *const k_eos[] = {"eos_token_id", NULL};
    static const char *const k_pad[] = {"pad_token_id", NULL};
    static const char *const k_mask[] = {"mask_token_id", NULL};
    struct { const char *const *keys; int *v; } ints[] = {
        {k_layers, &c->n_layers}, {k_dim, &c->d_model}, {k_heads, &c->n_heads},  {k_kv, &c->n_kv_heads},
        {k_hd, &c->head_dim},     {k_ff, &c->d_ff},     {k_vocab, &c->vocab_size}, {k_ctx, &c->max_seq},
        {k_bos, &c->bos_id},      {k_eos, &c->eos_id},  {k_pad, &c->pad_id},     {k_mask, &c->mask_id},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (json_int(cfg, ints[i].keys, ints[i].v) < 0) {
            snprintf(err, errlen, "%s/config.json: '%s' is not an integer", m->path, ints[i].keys[0]);
            return -1;
        }
    if (json_float(cfg, k_eps, &c->norm_eps) < 0 || json_float(cfg, k_theta, &c->rope_theta) < 0) {
        snprintf(err, errlen, "%s/config.json: eps or rope_theta is not a number", m->path);
        return -1;
    }
    /* RoBERTa counts the two positions before the first token (pad + 1) */
    if (c->arch == ARCH_ROBERTA && c->max_seq > 2)
        c->max_seq -= 2;
    c->causal = c->arch == ARCH_LLAMA;
    c->shift_logits = c->arch == ARCH_DREAM;
    c->rope_interleaved = 0;
    return 0;
}

/* A special token given as a string or as {"content": ...}. */
static const char *token_text(const cJSON *x)
{
    if (cJSON_IsString(x))
        return x->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int has_tokenizer(const char *dir)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    return stat(path, &st) == 0;
}

static int read_tokenizer(struct model *m, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    size_t len;
    char *text = model_read_file(path, &len, err, errlen);
    if (!text)
        return -1;
    char terr[256];
    m->tok = tok_load_json(text, len, terr, sizeof terr);
    free(text);
    if (!m->tok) {
        snprintf(err, errlen, "%s: %s", path, terr);
        return -1;
    }
    return 0;
}

static int read_tokenizer_config(struct model *m, const cJSON *tc)
{
    struct model_config *c = &m->cfg;
    static const char *const keys[] = {"bos_token", "eos_token", "pad_token", "mask_token",
                                       "unk_token", "cls_token", "sep_token"};
    int *ids[] = {&c->bos_id, &c->eos_id, &c->pad_id, &c->mask_id, &c->unk_id, &c->cls_id, &c->sep_id};
    for (int k = 0; k < 7; k++) {
        const char *t = token_text(cJSON_GetObjectItemCaseSensitive(tc, keys[k]));
        if (t && m->tok)
            *ids[k] = tok_find(m->tok, t);
    }
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(tc, "add_bos_token");
    if (cJSON_IsBool(ab))
        c->add_bos = cJSON_IsTrue(ab);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tc, "chat_template");
    const char *tmpl = NULL;
    if (cJSON_IsString(ct)) {
        tmpl = ct->valuestring;
    } else if (cJSON_IsArray(ct)) {
        /* [{"name": ..., "template": ...}]: the "default" one, else the first */
        const cJSON *e;
        cJSON_ArrayForEach(e, ct)
        {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (!cJSON_IsString(t))
                continue;
            if (!tmpl || (cJSON_IsString(n) && strcmp(n->valuestring, "default") == 0))
                tmpl = t->valuestring;
        }
    }
    if (tmpl && !(m->chat_template = strdup(tmpl)))
        return -1;
    return 0;
}

/* Shard file names: from the index's weight_map (deduplicated, in order of
 * appearance), else model.safetensors, else model-*.safetensors sorted. */
static int shard_names(const char *dir, char ***out, int *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char **names = NULL;
    int count = 0;
    cJSON *idx = read_json(dir, "model.safetensors.index.json", 0, err, errlen);
    if (!idx && err[0])
        return -1;
    if (idx) {
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
        if (!cJSON_IsObject(wm)) {
            snprintf(err, errlen, "%s/model.safetensors.index.json: no weight_map object", dir);
            cJSON_Delete(idx);
            return -1;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, wm)
        {
            if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
                snprintf(err, errlen, "%s/model.safetensors.index.json: bad file name for '%s'", dir, e->string);
                goto fail_idx;
            }
            int seen = 0;
            for (int k = 0; k < count && !seen; k++)
                seen = strcmp(names[k], e->valuestring) == 0;
            if (seen)
                continue;
            char **nn = realloc(names, (size_t)(count + 1) * sizeof *nn);
            if (!nn || !(nn[count] = strdup(e->valuestring))) {
                names = nn ? nn : names;
                snprintf(err, errlen, "%s: out of memory", dir);
                goto fail_idx;
            }
            names = nn;
            count++;
        }
        cJSON_Delete(idx);
        *out = names;
        *n = count;
        return 0;
    fail_idx:
        cJSON_Delete(idx);
        for (int k = 0; k < count; k++)
            free(names[k]);
        free(names);
        return -1;
    }
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (stat(p, &st) == 0) {
        names = malloc(sizeof *names);
        if (!names || !(names[0] = strdup("model.safetensors"))) {
            free(names);
            snprintf(err, errlen, "%s: out of memory", dir);
            return -1;
        }
        *out = names;
        *n = 1;
        return 0;
    }
    struct dirent **list;
    int nl = scandir(dir, &list, NULL, alphasort);
    for (int k = 0; k < nl; k++) {
        const char *f = list[k]->d_name;
        size_t len = strlen(f);
        if (strncmp(f, "model-", 6) == 0 && len > 12 && strcmp(f + len - 12, ".safetensors") == 0) {
            char **nn = realloc(names, (size_t)(count + 1) * sizeof *nn);
            if (nn) {
                names = nn;
                if ((names[count] = strdup(f)))
                    count++;
            }
        }
        free(list[k]);
    }
    if (nl >= 0)
        free(list);
    if (count == 0) {
        free(names);
        snprintf(err, errlen, "%s: no model.safetensors, model.safetensors.index.json or model-*.safetensors", dir);
        return -1;
    }
    *out = names;
    *n = count;
    return 0;
}

static int load_shard(struct model *m, const char *dir, const char *file, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    struct st_file f;
    if (st_open(path, &f, err, errlen))
        return -1;
    int rc = 0;
    for (int i = 0; i < f.n_tensors && rc == 0; i++) {
        struct st_tensor *t = &f.tensors[i];
        char name[256];
        if (hf_map_name(m->cfg.arch, t->name, name, sizeof name) != 0)
            snprintf(name, sizeof name, "%s", t->name);
        const struct tensor *seen = model_tensor(m, name);
        if (seen) {
            /* BERT/RoBERTa checkpoints may keep both cls.predictions.bias and
             * its tied copy decoder.bias: the same values are one tensor */
            if (seen->type == t->type && seen->nbytes == t->nbytes && memcmp(seen->ne, t->ne, sizeof t->ne) == 0 &&
                memcmp(seen->data, t->data, t->nbytes) == 0)
                continue;
            snprintf(err, errlen, "%s: '%s' maps to '%s', which an earlier tensor with other values already has",
                     path, t->name, name);
            rc = -1;
            break;
        }
        const void *data = t->data;
        size_t align = t->type == DT_F32 ? 4 : 2;
        if ((uintptr_t)data % align != 0) {
            /* a header whose length is not a multiple of 8 leaves the data
             * misaligned for the host; such tensors are copied */
            void *copy = malloc(t->nbytes ? t->nbytes : 1);
            if (!copy) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -1;
                break;
            }
            memcpy(copy, data, t->nbytes);
            model_keep_buffer(m, copy);
            data = copy;
        }
        rc = model_add_tensor(m, name, t->type, t->n_dims, t->ne, data, t->nbytes, err, errlen);
    }
    if (rc == 0) {
        if (f.map)
            model_keep_map(m, f.map, f.size);
        f.map = NULL;
    }
    st_clear(&f);
    return rc;
}

int model_load_hf(struct model *m, const char *dir, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    int rc = -1;
    char **shards = NULL;
    int n_shards = 0;
    cJSON *tc = NULL, *gc = NULL;
    cJSON *cfg = read_json(dir, "config.json", 1, err, errlen);
    if (!cfg)
        return -1;
    if (arch_of(cfg, &c->arch)) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
        snprintf(err, errlen,
                 "%s/config.json: model_type '%s' not supported (llada, dream, llama, bert, roberta, mdlm, sedd)",
                 dir, cJSON_IsString(mt) ? mt->valuestring : "?");
        goto out;
    }
    c->add_bos = c->arch == ARCH_LLAMA || c->arch == ARCH_BERT || c->arch == ARCH_ROBERTA;
    int dit = c->arch == ARCH_MDLM || c->arch == ARCH_SEDD;
    if (dit && !has_tokenizer(dir)) {
        /* the official MDLM and SEDD checkpoints ship no tokenizer: they
         * use GPT-2's (AutoTokenizer.from_pretrained('gpt2')) */
        snprintf(err, errlen,
                 "%s: no tokenizer.json: %s checkpoints ship none; put GPT-2's tokenizer.json (from the Hugging Face "
                 "repository openai-community/gpt2) in this directory",
                 dir, arch_name(c->arch));
        goto out;
    }
    if (read_tokenizer(m, dir, err, errlen))
        goto out;
    tc = read_json(dir, "tokenizer_config.json", 0, err, errlen);
    if (!tc && err[0])
        goto out;
    if (tc && read_tokenizer_config(m, tc)) {
        snprintf(err, errlen, "%s: out of memory", dir);
        goto out;
    }
    if (dit ? dit_hf_config(m, cfg, c->arch == ARCH_SEDD, err, errlen) : read_config(m, cfg, err, errlen))
        goto out;
    gc = read_json(dir, "generation_config.json", 0, err, errlen);
    if (!gc && err[0])
        goto out;
    if (gc) {
        static const char *const kb[] = {"bos_token_id", NULL}, *const ke[] = {"eos_token_id", NULL};
        static const char *const kp[] = {"pad_token_id", NULL}, *const km[] = {"mask_token_id", NULL};
        if (json_int(gc, kb, &c->bos_id) < 0 || json_int(gc, ke, &c->eos_id) < 0 ||
            json_int(gc, kp, &c->pad_id) < 0 || json_int(gc, km, &c->mask_id) < 0) {
            snprintf(err, errlen, "%s/generation_config.json: a token id is not an integer", dir);
            goto out;
        }
    }
    if (c->arch == ARCH_BERT || c->arch == ARCH_ROBERTA) {
        if (c->bos_id < 0)
            c->bos_id = c->cls_id;
        if (c->eos_id < 0)
            c->eos_id = c->sep_id;
    }
    if (shard_names(dir, &shards, &n_shards, err, errlen))
        goto out;
    for (int i = 0; i < n_shards; i++)
        if (load_shard(m, dir, shards[i], err, errlen))
            goto out;
    rc = 0;
out:
    for (int i = 0; i < n_shards; i++)
        free(shards[i]);
    free(shards);
    cJSON_Delete(cfg);
    cJSON_Delete(tc);
    cJSON_Delete(gc);
    return rc;
}
