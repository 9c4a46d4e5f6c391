/* model_open on MDLM and SEDD Hugging Face directories written here in the
 * official layouts (mdlm-owt: "backbone."-prefixed names and its
 * config.json; sedd-small: the hub mixin's unprefixed names and training
 * config dict), and the clear errors for a missing or misshapen tensor, a
 * missing tokenizer, bad config values and a tokenizer too large for the
 * vocabulary. Numbers are tests/suite_dit.sh's job. */
#include "engine/model/model.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tbuf {
    uint8_t *p;
    size_t n, cap;
};
struct sw {
    struct tbuf hdr, data;
    int n;
};
void tb_put(struct tbuf *b, const void *d, size_t n);
void sw_init(struct sw *w);
void sw_tensor(struct sw *w, const char *name, const char *dtype, int n_dims, const int64_t *shape, const void *data,
               size_t nbytes);
uint8_t *sw_finish(struct sw *w, int pad, size_t *len);
int write_file(const char *path, const void *data, size_t len);
int write_text(const char *path, const char *text);
const char *out_path(char *buf, size_t len, const char *name);
void gpt2_byte_token(int byte, char out[4]);

#define DD 8     /* width */
#define DC 4     /* cond_dim */
#define DF 16    /* frequency embedding width */
#define NTOK 257 /* 256 bytes + <|endoftext|> */

static void put(const char *dir, const char *file, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    CHECK_INT(write_text(p, text), 0);
}

static const char *fresh(char *buf, size_t len, const char *name)
{
    out_path(buf, len, name);
    mkdir(buf, 0755);
    static const char *const files[] = {"config.json", "tokenizer.json", "model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", buf, files[i]);
        remove(p);
    }
    return buf;
}

/* GPT-2-style byte-level BPE without merges: 256 byte tokens (+ extra
 * plain tokens "x0".."xN" to make it too large) and <|endoftext|> last. */
static void write_tok(const char *dir, int extra)
{
    struct tbuf b = {0};
    char e[256];
    snprintf(e, sizeof e,
             "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":%d,\"content\":\"<|endoftext|>\",\"special\":true}],"
             "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
             "\"use_regex\":true},\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{",
             256 + extra);
    tb_put(&b, e, strlen(e));
    for (int i = 0; i < 256; i++) {
        char t[4];
        gpt2_byte_token(i, t);
        const char *esc = strcmp(t, "\"") == 0 ? "\\\"" : strcmp(t, "\\") == 0 ? "\\\\" : t;
        snprintf(e, sizeof e, "%s\"%s\":%d", i ? "," : "", esc, i);
        tb_put(&b, e, strlen(e));
    }
    for (int i = 0; i < extra; i++) {
        snprintf(e, sizeof e, ",\"x%d\":%d", i, 256 + i);
        tb_put(&b, e, strlen(e));
    }
    snprintf(e, sizeof e, ",\"<|endoftext|>\":%d},\"merges\":[]}}", 256 + extra);
    tb_put(&b, e, strlen(e) + 1);
    put(dir, "tokenizer.json", (const char *)b.p);
    free(b.p);
}

static void st_f32(struct sw *w, const char *name, int rows, int cols)
{
    int n = (rows ? rows : 1) * cols;
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++)
        v[i] = (float)((i * 7) % 11) * 0.05f - 0.25f;
    int64_t shape[2] = {rows, cols};
    if (rows)
        sw_tensor(w, name, "F32", 2, shape, v, sizeof(float) * (size_t)n);
    else
        sw_tensor(w, name, "F32", 1, shape + 1, v, sizeof(float) * (size_t)n);
    free(v);
}

/* The DiT's tensors under prefix; skip: a name (without prefix) left out;
 * wide: a name written one column too wide. */
static void write_dit(const char *dir, const char *prefix, int V, const char *skip, const char *wide)
{
    struct sw w;
    sw_init(&w);
    struct { const char *name; int rows, cols; } top[] = {
        {"vocab_embed.embedding", V, DD},
        {"sigma_map.mlp.0.weight", DC, DF},
        {"sigma_map.mlp.0.bias", 0, DC},
        {"sigma_map.mlp.2.weight", DC, DC},
        {"sigma_map.mlp.2.bias", 0, DC},
        {"output_layer.norm_final.weight", 0, DD},
        {"output_layer.adaLN_modulation.weight", 2 * DD, DC},
        {"output_layer.adaLN_modulation.bias", 0, 2 * DD},
        {"output_layer.linear.weight", V, DD},
        {"output_layer.linear.bias", 0, V},
        {"rotary_emb.inv_freq", 0, 2},
    };
    struct { const char *name; int rows, cols; } blk[] = {
        {"norm1.weight", 0, DD},          {"attn_qkv.weight", 3 * DD, DD}, {"attn_out.weight", DD, DD},
        {"norm2.weight", 0, DD},          {"mlp.0.weight", 4 * DD, DD},    {"mlp.0.bias", 0, 4 * DD},
        {"mlp.2.weight", DD, 4 * DD},     {"mlp.2.bias", 0, DD},           {"adaLN_modulation.weight", 6 * DD, DC},
        {"adaLN_modulation.bias", 0, 6 * DD},
    };
    char n[160], bare[128];
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        if (skip && strcmp(skip, top[i].name) == 0)
            continue;
        snprintf(n, sizeof n, "%s%s", prefix, top[i].name);
        st_f32(&w, n, top[i].rows, top[i].cols + (wide && strcmp(wide, top[i].name) == 0));
    }
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++) {
            snprintf(bare, sizeof bare, "blocks.%d.%s", l, blk[i].name);
            if (skip && strcmp(skip, bare) == 0)
                continue;
            snprintf(n, sizeof n, "%s%s", prefix, bare);
            st_f32(&w, n, blk[i].rows, blk[i].cols + (wide && strcmp(wide, bare) == 0));
        }
    size_t len;
    uint8_t *img = sw_finish(&w, 1, &len);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK_INT(write_file(p, img, len), 0);
    free(img);
}

static const char *mdlm_cfg = "{\"architectures\": [\"MDLM\"], \"model_type\": \"mdlm\", \"vocab_size\": 258,"
                              " \"model_length\": 96, \"hidden_dim\": 8, \"cond_dim\": 4, \"n_blocks\": 2,"
                              " \"n_heads\": 2, \"dropout\": 0.1, \"time_conditioning\": false}";

/* SEDD's hub config with the graph, noise and scale_by_sigma given. */
static void sedd_cfg(char *buf, size_t len, const char *graph, const char *noise, const char *sbs)
{
    snprintf(buf, len,
             "{\"ngpus\": 8, \"tokens\": 257, \"training\": {\"batch_size\": 512}, \"graph\": {\"type\": \"%s\","
             " \"file\": \"data\", \"report_all\": false}, \"noise\": {\"type\": \"%s\", \"sigma_min\": 0.0001,"
             " \"sigma_max\": 20}, \"sampling\": {\"predictor\": \"euler\", \"steps\": 128}, \"model\": {\"name\":"
             " \"small\", \"type\": \"ddit\", \"hidden_size\": 8, \"cond_dim\": 4, \"length\": 1024, \"n_blocks\": 2,"
             " \"n_heads\": 2, \"scale_by_sigma\": %s, \"dropout\": 0.1}}",
             graph, noise, sbs);
}

static struct model *open_ok(const char *dir)
{
    char err[512];
    struct model *m = NULL;
    if (model_open(dir, &m, err, sizeof err) != 0) {
        check_true(0, err, __FILE__, __LINE__);
        return NULL;
    }
    return m;
}

/* model_open fails and its message contains each of the words. */
static void open_fails(const char *dir, const char *w1, const char *w2)
{
    char err[512] = "";
    struct model *m = NULL;
    CHECK_INT(model_open(dir, &m, err, sizeof err), -1);
    CHECK(m == NULL);
    if (!check_true(strstr(err, w1) != NULL, w1, __FILE__, __LINE__) ||
        (w2 && !check_true(strstr(err, w2) != NULL, w2, __FILE__, __LINE__)))
        fprintf(stderr, "    message: %s\n", err);
}

void test_model_open_dit_mdlm(void)
{
    char dir[256];
    fresh(dir, sizeof dir, "hf-mdlm");
    put(dir, "config.json", mdlm_cfg);
    write_tok(dir, 0);
    write_dit(dir, "backbone.", 258, NULL, NULL);
    struct model *m = open_ok(dir);
    if (!m)
        return;
    const struct model_config *c = &m->cfg;
    CHECK_INT(c->arch, ARCH_MDLM);
    CHECK_INT(c->n_layers, 2);
    CHECK_INT(c->d_model, 8);
    CHECK_INT(c->n_heads, 2);
    CHECK_INT(c->n_kv_heads, 2);
    CHECK_INT(c->head_dim, 4);
    CHECK_INT(c->d_ff, 32);
    CHECK_INT(c->cond_dim, 4);
    CHECK_INT(c->vocab_size, 258);
    CHECK_INT(c->max_seq, 96);
    CHECK_INT(c->time_cond, 0);
    CHECK_INT(c->noise, NOISE_LOGLINEAR);
    CHECK_NEAR(c->noise_eps, 1e-3, 1e-9);
    CHECK_INT(c->graph_uniform, 0);
    CHECK_INT(c->scale_by_sigma, 0);
    CHECK_INT(c->mask_id, 257);
    CHECK_INT(c->eos_id, 256);
    CHECK_INT(c->causal, 0);
    CHECK_INT(c->rope_interleaved, 0);
    CHECK_NEAR(c->rope_theta, 10000, 0);
    CHECK_NEAR(c->norm_eps, 1e-5, 1e-12);
    CHECK(model_tensor(m, "token_embd.weight") != NULL);
    CHECK(model_tensor(m, "t_embd.fc1.weight") != NULL);
    CHECK(model_tensor(m, "blk.1.adaln.bias") != NULL);
    CHECK(model_tensor(m, "output_adaln.weight") != NULL);
    CHECK(model_tensor(m, "backbone.rotary_emb.inv_freq") != NULL); /* unknown: kept by its own name */
    /* the mask id has no text: decoding skips it, encoding never makes it */
    int32_t ids[] = {72, 257, 105};
    char *text = tok_decode(m->tok, ids, 3, 0);
    CHECK_STR(text, "Hi");
    free(text);
    model_free(m);
}

void test_model_open_dit_sedd(void)
{
    char dir[256], cfg[1024];
    fresh(dir, sizeof dir, "hf-sedd");
    sedd_cfg(cfg, sizeof cfg, "absorb", "geometric", "true");
    put(dir, "config.json", cfg);
    write_tok(dir, 0);
    write_dit(dir, "", 258, NULL, NULL);
    struct model *m = open_ok(dir);
    if (m) {
        CHECK_INT(m->cfg.arch, ARCH_SEDD);
        CHECK_INT(m->cfg.vocab_size, 258);
        CHECK_INT(m->cfg.mask_id, 257);
        CHECK_INT(m->cfg.time_cond, 1);
        CHECK_INT(m->cfg.scale_by_sigma, 1);
        CHECK_INT(m->cfg.noise, NOISE_GEOMETRIC);
        CHECK_NEAR(m->cfg.sigma_min, 1e-4, 1e-10);
        CHECK_NEAR(m->cfg.sigma_max, 20, 0);
        CHECK_INT(m->cfg.max_seq, 1024);
        model_free(m);
    }
    /* the uniform graph: V = tokens, no mask */
    fresh(dir, sizeof dir, "hf-sedd-uniform");
    sedd_cfg(cfg, sizeof cfg, "uniform", "loglinear", "false");
    put(dir, "config.json", cfg);
    write_tok(dir, 0);
    write_dit(dir, "", 257, NULL, NULL);
    m = open_ok(dir);
    if (m) {
        CHECK_INT(m->cfg.vocab_size, 257);
        CHECK_INT(m->cfg.graph_uniform, 1);
        CHECK_INT(m->cfg.mask_id, -1);
        CHECK_INT(m->cfg.noise, NOISE_LOGLINEAR);
        model_free(m);
    }
}

void test_model_open_dit_errors(void)
{
    char dir[256], cfg[1024];
    /* a missing tensor, named by our name and the architecture */
    fresh(dir, sizeof dir, "hf-dit-bad");
    put(dir, "config.json", mdlm_cfg);
    write_tok(dir, 0);
    write_dit(dir, "backbone.", 258, "blocks.1.mlp.2.bias", NULL);
    open_fails(dir, "'blk.1.ffn_down.bias' is missing", "mdlm");
    write_dit(dir, "backbone.", 258, "sigma_map.mlp.0.weight", NULL);
    open_fails(dir, "'t_embd.fc1.weight' is missing", NULL);
    /* a misshapen one */
    write_dit(dir, "backbone.", 258, NULL, "blocks.0.adaLN_modulation.weight");
    open_fails(dir, "'blk.0.adaln.weight' has shape [5, 48", "expected [4, 48]");
    write_dit(dir, "backbone.", 258, NULL, "output_layer.linear.bias");
    open_fails(dir, "'output.bias' has shape", NULL);
    /* a vocabulary that does not match the embedding */
    write_dit(dir, "backbone.", 300, NULL, NULL);
    open_fails(dir, "token_embd.weight", "shape");
    /* the tokenizer must leave the last id to the mask */
    write_dit(dir, "backbone.", 258, NULL, NULL);
    write_tok(dir, 1);
    open_fails(dir, "tokenizer has 258 tokens", "mask");
    /* no tokenizer at all: the official checkpoints ship none */
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    remove(p);
    open_fails(dir, "no tokenizer.json", "GPT-2's tokenizer.json");
    write_tok(dir, 0);
    /* config values */
    put(dir, "config.json", "{\"model_type\": \"mdlm\", \"vocab_size\": 258, \"cond_dim\": 4, \"n_blocks\": 2,"
                            " \"n_heads\": 2}");
    open_fails(dir, "'hidden_dim' is missing or not an integer", NULL);
    put(dir, "config.json", "{\"model_type\": \"mdlm\", \"vocab_size\": 258, \"hidden_dim\": 8, \"cond_dim\": 4,"
                            " \"n_blocks\": 2, \"n_heads\": 2, \"time_conditioning\": \"yes\"}");
    open_fails(dir, "time_conditioning", "bool");
    put(dir, "config.json", "{\"model_type\": \"mdlm\", \"vocab_size\": 258, \"hidden_dim\": 8, \"cond_dim\": 4,"
                            " \"n_blocks\": 2, \"n_heads\": 3}");
    open_fails(dir, "width 8 is not a multiple of 3 heads", NULL);
    write_dit(dir, "", 258, NULL, NULL);
    sedd_cfg(cfg, sizeof cfg, "absorbing", "loglinear", "true");
    put(dir, "config.json", cfg);
    open_fails(dir, "graph.type", "absorb");
    sedd_cfg(cfg, sizeof cfg, "absorb", "cosine", "true");
    put(dir, "config.json", cfg);
    open_fails(dir, "noise.type", "geometric");
    sedd_cfg(cfg, sizeof cfg, "absorb", "loglinear", "1");
    put(dir, "config.json", cfg);
    open_fails(dir, "model.scale_by_sigma", "bool");
    write_dit(dir, "", 257, NULL, NULL);
    sedd_cfg(cfg, sizeof cfg, "uniform", "loglinear", "true");
    put(dir, "config.json", cfg);
    open_fails(dir, "scale_by_sigma", "absorbing graph");
}
