/* MDLM and SEDD: the diffusion transformer (DiT) with adaLN conditioning of
 * kuleshov-group/mdlm and louaaron/Score-Entropy-Discrete-Diffusion. Their
 * config from a Hugging Face directory (MDLM's config.json of mdlm-owt, or
 * SEDD's PyTorchModelHubMixin config dict with model/graph/noise sections)
 * or from dllm's own GGUF keys, the defaults the official code hard-codes,
 * the tensor shapes, and the mask token (the last id for the absorbing
 * graph, none for SEDD's uniform graph). */
#include "engine/model/model.h"
#include "engine/tok/tok.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------- Hugging Face */

/* An integer member of o (NULL o: absent): 1 found, 0 absent, -1 not an integer. */
static int jint(const cJSON *o, const char *key, int *v)
{
    const cJSON *x = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= -2147483648.0 && x->valuedouble <= 2147483647.0) ||
        x->valuedouble != (double)(int)x->valuedouble)
        return -1;
    *v = (int)x->valuedouble;
    return 1;
}

static int jnum(const cJSON *o, const char *key, float *v)
{
    const cJSON *x = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsNumber(x))
        return -1;
    *v = (float)x->valuedouble;
    return 1;
}

static int jbool(const cJSON *o, const char *key, int *v)
{
    const cJSON *x = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsBool(x))
        return -1;
    *v = cJSON_IsTrue(x);
    return 1;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *x = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

int dit_hf_is_sedd(const cJSON *cfg)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (cJSON_IsString(mt))
        return strcasecmp(mt->valuestring, "sedd") == 0;
    /* the hub mixin writes the training config as is: no model_type, but
     * the graph and noise sections and a model section of type ddit */
    return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cfg, "graph")) &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cfg, "noise")) &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cfg, "model"));
}

/* Defaults every DiT shares: the official code hard-codes them. */
static void dit_defaults(struct model_config *c)
{
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    c->rope_interleaved = 0; /* flash-attn's non-interleaved rotary: rotate-half */
    c->causal = 0;
    c->shift_logits = 0;
    c->noise = NOISE_LOGLINEAR;
    c->noise_eps = 1e-3f; /* LogLinearNoise(eps=1e-3) in both repositories */
    c->sigma_min = 1e-4f;
    c->sigma_max = 20.0f;
}

static int bad(char *err, size_t errlen, const char *path, const char *key, const char *want)
{
    snprintf(err, errlen, "%s/config.json: '%s' is missing or not %s", path, key, want);
    return -1;
}

/* MDLM (mdlm-owt): hidden_dim, n_blocks, n_heads, cond_dim, vocab_size,
 * model_length, time_conditioning (MDLMConfig's default: false). */
static int hf_mdlm(struct model *m, const cJSON *cfg, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    c->arch = ARCH_MDLM;
    struct { const char *key; int *v; } need[] = {
        {"hidden_dim", &c->d_model}, {"n_blocks", &c->n_layers}, {"n_heads", &c->n_heads},
        {"cond_dim", &c->cond_dim},  {"vocab_size", &c->vocab_size},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (jint(cfg, need[i].key, need[i].v) != 1)
            return bad(err, errlen, m->path, need[i].key, "an integer");
    c->max_seq = 1024;
    if (jint(cfg, "model_length", &c->max_seq) < 0)
        return bad(err, errlen, m->path, "model_length", "an integer");
    c->time_cond = 0;
    if (jbool(cfg, "time_conditioning", &c->time_cond) < 0)
        return bad(err, errlen, m->path, "time_conditioning", "a bool");
    return 0;
}

/* SEDD: tokens, graph.type (absorb | uniform), noise.type (loglinear |
 * geometric) with sigma_min/sigma_max, model.{hidden_size, cond_dim, length,
 * n_blocks, n_heads, scale_by_sigma}. */
static int hf_sedd(struct model *m, const cJSON *cfg, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    c->arch = ARCH_SEDD;
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(cfg, "model");
    const cJSON *gr = cJSON_GetObjectItemCaseSensitive(cfg, "graph");
    const cJSON *no = cJSON_GetObjectItemCaseSensitive(cfg, "noise");
    if (!cJSON_IsObject(mo))
        return bad(err, errlen, m->path, "model", "an object");
    int tokens = 0;
    if (jint(cfg, "tokens", &tokens) != 1 || tokens <= 0)
        return bad(err, errlen, m->path, "tokens", "a positive integer");
    struct { const char *key; int *v; } need[] = {
        {"hidden_size", &c->d_model}, {"n_blocks", &c->n_layers}, {"n_heads", &c->n_heads},
        {"cond_dim", &c->cond_dim},
    };
    char key[64];
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (jint(mo, need[i].key, need[i].v) != 1) {
            snprintf(key, sizeof key, "model.%s", need[i].key);
            return bad(err, errlen, m->path, key, "an integer");
        }
    c->max_seq = 1024;
    if (jint(mo, "length", &c->max_seq) < 0)
        return bad(err, errlen, m->path, "model.length", "an integer");
    c->scale_by_sigma = 1;
    if (jbool(mo, "scale_by_sigma", &c->scale_by_sigma) < 0)
        return bad(err, errlen, m->path, "model.scale_by_sigma", "a bool");
    const char *gt = jstr(gr, "type");
    if (!gt || (strcmp(gt, "absorb") && strcmp(gt, "uniform"))) {
        snprintf(err, errlen, "%s/config.json: graph.type must be \"absorb\" or \"uniform\"", m->path);
        return -1;
    }
    c->graph_uniform = strcmp(gt, "uniform") == 0;
    c->vocab_size = tokens + (c->graph_uniform ? 0 : 1);
    const char *nt = jstr(no, "type");
    if (!nt || (strcmp(nt, "loglinear") && strcmp(nt, "geometric"))) {
        snprintf(err, errlen, "%s/config.json: noise.type must be \"loglinear\" or \"geometric\"", m->path);
        return -1;
    }
    c->noise = strcmp(nt, "geometric") == 0 ? NOISE_GEOMETRIC : NOISE_LOGLINEAR;
    if (jnum(no, "sigma_min", &c->sigma_min) < 0 || jnum(no, "sigma_max", &c->sigma_max) < 0)
        return bad(err, errlen, m->path, "noise.sigma_min/sigma_max", "numbers");
    c->time_cond = 1; /* SEDD always conditions on sigma */
    return 0;
}

int dit_hf_config(struct model *m, const cJSON *cfg, int sedd, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    dit_defaults(c);
    int rc = sedd ? hf_sedd(m, cfg, err, errlen) : hf_mdlm(m, cfg, err, errlen);
    if (rc)
        return rc;
    if (c->d_model <= 0 || c->d_model > (1 << 20) || c->n_heads <= 0 || c->n_heads > 4096) {
        snprintf(err, errlen, "%s/config.json: implausible width %d or heads %d", m->path, c->d_model, c->n_heads);
        return -1;
    }
    c->n_kv_heads = c->n_heads;
    c->d_ff = 4 * c->d_model; /* mlp_ratio 4, fixed in DDiTBlock */
    return 0;
}

/* ------------------------------------------------------------------ GGUF */

int dit_gguf_config(const struct gguf *g, struct model *m, const char *arch, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    char k[160];
    int32_t iv;
    int b;
    float f;
    const char *s;
    /* the generic reader ran first: keep what it read over the defaults */
    float eps = c->norm_eps, theta = c->rope_theta;
    int kv = c->n_kv_heads;
    dit_defaults(c);
    if (eps > 0)
        c->norm_eps = eps;
    if (theta > 0)
        c->rope_theta = theta;
    c->n_kv_heads = kv > 0 ? kv : c->n_heads;
    if (c->d_model <= 0 || c->d_model > (1 << 20)) {
        snprintf(err, errlen, "%s: implausible width %d", m->path, c->d_model);
        return -1;
    }
    if (c->d_ff <= 0)
        c->d_ff = 4 * c->d_model;
    snprintf(k, sizeof k, "%s.conditioning_length", arch);
    if (gguf_get_i32(g, k, &iv) != 1 || iv <= 0) {
        snprintf(err, errlen, "%s: metadata '%s' missing or not a positive integer", m->path, k);
        return -1;
    }
    c->cond_dim = iv;
    c->time_cond = c->arch == ARCH_SEDD;
    snprintf(k, sizeof k, "%s.time_conditioning", arch);
    int rc = gguf_get_bool(g, k, &b);
    if (rc < 0) {
        snprintf(err, errlen, "%s: metadata '%s' is not a bool", m->path, k);
        return -1;
    }
    if (rc == 1 && c->arch == ARCH_SEDD && !b) {
        snprintf(err, errlen, "%s: metadata '%s' must be true for sedd (SEDD always conditions on sigma)", m->path, k);
        return -1;
    }
    if (rc == 1)
        c->time_cond = b;
    snprintf(k, sizeof k, "%s.noise.schedule", arch);
    rc = gguf_get_str(g, k, &s);
    if (rc < 0 || (rc == 1 && strcmp(s, "loglinear") && strcmp(s, "geometric"))) {
        snprintf(err, errlen, "%s: metadata '%s' must be \"loglinear\" or \"geometric\"", m->path, k);
        return -1;
    }
    if (rc == 1)
        c->noise = strcmp(s, "geometric") == 0 ? NOISE_GEOMETRIC : NOISE_LOGLINEAR;
    struct { const char *suffix; float *v; } fl[] = {
        {"noise.eps", &c->noise_eps}, {"noise.sigma_min", &c->sigma_min}, {"noise.sigma_max", &c->sigma_max},
    };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        snprintf(k, sizeof k, "%s.%s", arch, fl[i].suffix);
        rc = gguf_get_f32(g, k, &f);
        if (rc < 0) {
            snprintf(err, errlen, "%s: metadata '%s' is not a number", m->path, k);
            return -1;
        }
        if (rc == 1)
            *fl[i].v = f;
    }
    if (c->arch == ARCH_SEDD) {
        rc = gguf_get_str(g, "sedd.graph", &s);
        if (rc < 0 || (rc == 1 && strcmp(s, "absorb") && strcmp(s, "uniform"))) {
            snprintf(err, errlen, "%s: metadata 'sedd.graph' must be \"absorb\" or \"uniform\"", m->path);
            return -1;
        }
        c->graph_uniform = rc == 1 && strcmp(s, "uniform") == 0;
        c->scale_by_sigma = 1;
        rc = gguf_get_bool(g, "sedd.scale_by_sigma", &c->scale_by_sigma);
        if (rc < 0) {
            snprintf(err, errlen, "%s: metadata 'sedd.scale_by_sigma' is not a bool", m->path);
            return -1;
        }
    }
    return 0;
}

/* ----------------------------------------------------------- shared checks */

static int check_shapes(const struct model *m, char *err, size_t errlen)
{
    const struct model_config *c = &m->cfg;
    int64_t d = c->d_model, cd = c->cond_dim, ff = c->d_ff, V = c->vocab_size;
    const struct tensor *f1 = model_tensor(m, "t_embd.fc1.weight");
    if (!f1) {
        snprintf(err, errlen, "%s: tensor 't_embd.fc1.weight' is missing (%s)", m->path, arch_name(c->arch));
        return -1;
    }
    int64_t nf = f1->ne[0]; /* frequency embedding width: 256 in the official code */
    if (nf < 2 || nf > 65536) {
        snprintf(err, errlen, "%s: tensor 't_embd.fc1.weight' has an implausible width %lld", m->path, (long long)nf);
        return -1;
    }
    if (model_want_tensor(m, "t_embd.fc1.weight", nf, cd, 1, err, errlen) ||
        model_want_tensor(m, "t_embd.fc1.bias", cd, 0, 1, err, errlen) ||
        model_want_tensor(m, "t_embd.fc2.weight", cd, cd, 1, err, errlen) ||
        model_want_tensor(m, "t_embd.fc2.bias", cd, 0, 1, err, errlen) ||
        model_want_tensor(m, "output_norm.weight", d, 0, 1, err, errlen) ||
        model_want_tensor(m, "output_adaln.weight", cd, 2 * d, 1, err, errlen) ||
        model_want_tensor(m, "output_adaln.bias", 2 * d, 0, 1, err, errlen) ||
        model_want_tensor(m, "output.weight", d, V, 1, err, errlen) ||
        model_want_tensor(m, "output.bias", V, 0, 1, err, errlen))
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        char n[96];
        struct { const char *s; int64_t n0, n1; } blk[] = {
            {"attn_norm.weight", d, 0},   {"attn_qkv.weight", d, 3 * d}, {"attn_output.weight", d, d},
            {"ffn_norm.weight", d, 0},    {"ffn_up.weight", d, ff},      {"ffn_up.bias", ff, 0},
            {"ffn_down.weight", ff, d},   {"ffn_down.bias", d, 0},       {"adaln.weight", cd, 6 * d},
            {"adaln.bias", 6 * d, 0},
        };
        for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++) {
            snprintf(n, sizeof n, "blk.%d.%s", l, blk[i].s);
            if (model_want_tensor(m, n, blk[i].n0, blk[i].n1, 1, err, errlen))
                return -1;
        }
    }
    return 0;
}

int dit_finish(struct model *m, char *err, size_t errlen)
{
    struct model_config *c = &m->cfg;
    if (c->cond_dim <= 0 || c->cond_dim > (1 << 16)) {
        snprintf(err, errlen, "%s: conditioning width %d is not positive", m->path, c->cond_dim);
        return -1;
    }
    if (c->n_kv_heads != c->n_heads || (int64_t)c->head_dim * c->n_heads != c->d_model || c->d_model > (1 << 20) ||
        c->d_ff > (1 << 22)) {
        snprintf(err, errlen, "%s: %s wants width = heads x head size, one key/value head per head", m->path,
                 arch_name(c->arch));
        return -1;
    }
    if (c->d_ff < 3 * c->d_model) {
        /* the official DiT's MLP is 4x; the CPU forward also keeps the fused
         * q/k/v product in the MLP's buffer */
        snprintf(err, errlen, "%s: MLP width %d is below 3 x the width %d (the DiT's is 4 x)", m->path, c->d_ff,
                 c->d_model);
        return -1;
    }
    if (c->arch == ARCH_SEDD && c->graph_uniform && c->scale_by_sigma) {
        /* the official forward asserts the absorbing graph for this */
        snprintf(err, errlen, "%s: scale_by_sigma is defined only for the absorbing graph", m->path);
        return -1;
    }
    if (c->arch == ARCH_MDLM)
        c->graph_uniform = c->scale_by_sigma = 0;
    if (c->noise == NOISE_LOGLINEAR && !(c->noise_eps > 0.0f && c->noise_eps < 1.0f)) {
        snprintf(err, errlen, "%s: log-linear noise eps %g is not in (0, 1)", m->path, c->noise_eps);
        return -1;
    }
    if (c->noise == NOISE_GEOMETRIC &&
        !(c->sigma_min > 0.0f && c->sigma_max > c->sigma_min && isfinite(c->sigma_max))) {
        snprintf(err, errlen, "%s: geometric noise needs 0 < sigma_min < sigma_max (got %g, %g)", m->path,
                 c->sigma_min, c->sigma_max);
        return -1;
    }
    if (check_shapes(m, err, errlen))
        return -1;
    /* The absorbing state is the last id and has no text: GPT-2's 50257
     * tokens plus MASK = 50257. The uniform graph has no mask at all. */
    c->mask_id = c->graph_uniform ? -1 : c->vocab_size - 1;
    if (m->tok) {
        int nt = tok_vocab_size(m->tok);
        int limit = c->graph_uniform ? c->vocab_size : c->vocab_size - 1;
        if (nt > limit) {
            snprintf(err, errlen, "%s: the tokenizer has %d tokens, more than the model's %d%s", m->path, nt, limit,
                     c->graph_uniform ? "" : " text tokens (the last id is the mask)");
            return -1;
        }
        int eot = tok_find(m->tok, "<|endoftext|>");
        if (c->eos_id < 0)
            c->eos_id = eot;
        if (c->bos_id < 0)
            c->bos_id = eot;
    }
    return 0;
}
