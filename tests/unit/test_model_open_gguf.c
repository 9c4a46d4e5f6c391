/* model_open on GGUF files written here: a tiny llada / dream / llama model
 * with a byte-level BPE vocabulary; every config field, tensor names and
 * data, defaults and fallbacks (mask by text, tied output, causal), and
 * broken files (truncated at many points, bad shapes, no mask token). */
#include "engine/model/model.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tbuf {
    uint8_t *p;
    size_t n, cap;
};
struct gw {
    struct tbuf kv, ti, data;
    uint64_t n_kv, n_t;
    uint32_t align;
};
void gw_init(struct gw *w, uint32_t align);
void gw_u32(struct gw *w, const char *key, uint32_t v);
void gw_i32(struct gw *w, const char *key, int32_t v);
void gw_f32(struct gw *w, const char *key, float v);
void gw_bool(struct gw *w, const char *key, int v);
void gw_str(struct gw *w, const char *key, const char *v);
void gw_strs(struct gw *w, const char *key, const char *const *v, int n);
void gw_arr_i32(struct gw *w, const char *key, const int32_t *v, int n);
void gw_tensor(struct gw *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data,
               size_t nbytes);
uint8_t *gw_finish(struct gw *w, size_t *len);
int write_file(const char *path, const void *data, size_t len);
const char *out_path(char *buf, size_t len, const char *name);
uint16_t f32_to_f16(float f);
void gpt2_byte_token(int byte, char out[4]);

#define TINY_V 264
#define TINY_D 8
#define TINY_FF 16
#define TINY_L 2

struct tiny {
    const char *arch;
    int mask_key;          /* write tokenizer.ggml.mask_token_id */
    const char *mask_text; /* text of token 258 */
    int with_output;
    int causal;            /* -1: no key */
    int q_rows;            /* rows of attn_q (TINY_D when right) */
    const char *chat;
};

static const char *const specials[] = {"<|endoftext|>", "<|startoftext|>", NULL, "<|eot_id|>",
                                       "<|start_header_id|>", "<|end_header_id|>"};

static float tiny_val(int row, int col)
{
    return (float)((row * 8 + col) % 13) * 0.125f - 0.75f; /* exact in f16 */
}

static void add_mat(struct gw *w, const char *name, int cols, int rows)
{
    uint16_t *h = malloc((size_t)(cols * rows) * 2);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            h[r * cols + c] = f32_to_f16(tiny_val(r, c));
    int64_t ne[2] = {cols, rows};
    gw_tensor(w, name, DT_F16, 2, ne, h, (size_t)(cols * rows) * 2);
    free(h);
}

static void add_vec(struct gw *w, const char *name, int n)
{
    float v[64];
    for (int i = 0; i < n; i++)
        v[i] = 1.0f + 0.5f * (float)i;
    int64_t ne[1] = {n};
    gw_tensor(w, name, DT_F32, 1, ne, v, (size_t)n * 4);
}

static uint8_t *tiny_gguf(const struct tiny *o, size_t *len)
{
    struct gw w;
    char k[128];
    gw_init(&w, 0);
    gw_str(&w, "general.architecture", o->arch);
    gw_str(&w, "general.name", "tiny test model");
#define AK(s) (snprintf(k, sizeof k, "%s.%s", o->arch, s), k)
    gw_u32(&w, AK("context_length"), 64);
    gw_u32(&w, AK("embedding_length"), TINY_D);
    gw_u32(&w, AK("block_count"), TINY_L);
    gw_u32(&w, AK("feed_forward_length"), TINY_FF);
    gw_u32(&w, AK("attention.head_count"), 2);
    gw_u32(&w, AK("attention.head_count_kv"), 1);
    gw_f32(&w, AK("rope.freq_base"), 500000.0f);
    gw_f32(&w, AK("attention.layer_norm_rms_epsilon"), 1e-6f);
    gw_u32(&w, AK("vocab_size"), TINY_V);
    if (o->causal >= 0)
        gw_bool(&w, AK("attention.causal"), o->causal);
#undef AK
    const char *tokens[TINY_V];
    char bytes[256][4];
    int32_t types[TINY_V];
    for (int b = 0; b < 256; b++) {
        gpt2_byte_token(b, bytes[b]);
        tokens[b] = bytes[b];
        types[b] = 1;
    }
    for (int s = 0; s < 6; s++) {
        tokens[256 + s] = specials[s] ? specials[s] : o->mask_text ? o->mask_text : "<|reserved|>";
        types[256 + s] = 3;
    }
    tokens[262] = "\xc4\xa0t";
    tokens[263] = "he";
    types[262] = types[263] = 1;
    const char *merges[] = {"\xc4\xa0 t", "h e"};
    gw_str(&w, "tokenizer.ggml.model", "gpt2");
    gw_str(&w, "tokenizer.ggml.pre", "gpt2");
    gw_strs(&w, "tokenizer.ggml.tokens", tokens, TINY_V);
    gw_arr_i32(&w, "tokenizer.ggml.token_type", types, TINY_V);
    gw_strs(&w, "tokenizer.ggml.merges", merges, 2);
    gw_u32(&w, "tokenizer.ggml.bos_token_id", 257);
    gw_u32(&w, "tokenizer.ggml.eos_token_id", 256);
    gw_u32(&w, "tokenizer.ggml.padding_token_id", 256);
    if (o->mask_key)
        gw_u32(&w, "tokenizer.ggml.mask_token_id", 258);
    gw_bool(&w, "tokenizer.ggml.add_bos_token", 0);
    if (o->chat)
        gw_str(&w, "tokenizer.chat_template", o->chat);

    add_mat(&w, "token_embd.weight", TINY_D, TINY_V);
    add_vec(&w, "output_norm.weight", TINY_D);
    if (o->with_output)
        add_mat(&w, "output.weight", TINY_D, TINY_V);
    for (int l = 0; l < TINY_L; l++) {
        char n[64];
#define BN(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
        add_vec(&w, BN("attn_norm.weight"), TINY_D);
        add_mat(&w, BN("attn_q.weight"), TINY_D, o->q_rows);
        add_mat(&w, BN("attn_k.weight"), TINY_D, 4);
        add_mat(&w, BN("attn_v.weight"), TINY_D, 4);
        add_mat(&w, BN("attn_output.weight"), TINY_D, TINY_D);
        add_vec(&w, BN("ffn_norm.weight"), TINY_D);
        add_mat(&w, BN("ffn_gate.weight"), TINY_D, TINY_FF);
        add_mat(&w, BN("ffn_up.weight"), TINY_D, TINY_FF);
        add_mat(&w, BN("ffn_down.weight"), TINY_FF, TINY_D);
#undef BN
    }
    return gw_finish(&w, len);
}

static const char *write_tiny(const struct tiny *o, const char *name, char *path, size_t plen)
{
    size_t len;
    uint8_t *img = tiny_gguf(o, &len);
    out_path(path, plen, name);
    int rc = write_file(path, img, len);
    free(img);
    return rc == 0 ? path : NULL;
}

static const char *llama3_template =
    "{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}<|start_header_id|>assistant<|end_header_id|>\n\n";

void test_model_open_gguf_llada(void)
{
    struct tiny o = {"llada", 0, "<|mdm_mask|>", 0, -1, TINY_D, llama3_template};
    char path[256], err[512];
    struct model *m = NULL;
    CHECK(write_tiny(&o, "tiny-llada.gguf", path, sizeof path) != NULL);
    CHECK_INT(model_open(path, &m, err, sizeof err), 0);
    if (!m) {
        check_true(0, err, __FILE__, __LINE__);
        return;
    }
    const struct model_config *c = &m->cfg;
    CHECK_INT(c->arch, ARCH_LLADA);
    CHECK_STR(arch_name(c->arch), "llada");
    CHECK_INT(c->n_layers, TINY_L);
    CHECK_INT(c->d_model, TINY_D);
    CHECK_INT(c->n_heads, 2);
    CHECK_INT(c->n_kv_heads, 1);
    CHECK_INT(c->head_dim, 4);
    CHECK_INT(c->d_ff, TINY_FF);
    CHECK_INT(c->vocab_size, TINY_V);
    CHECK_INT(c->max_seq, 64);
    CHECK_NEAR(c->norm_eps, 1e-6, 1e-12);
    CHECK_NEAR(c->rope_theta, 500000, 0);
    CHECK_INT(c->rope_dim, 4);
    CHECK_INT(c->rope_interleaved, 1);
    CHECK_INT(c->causal, 0);
    CHECK_INT(c->shift_logits, 0);
    CHECK_INT(c->tied_output, 1);
    CHECK_INT(c->time_cond, 0);
    CHECK_INT(c->bos_id, 257);
    CHECK_INT(c->eos_id, 256);
    CHECK_INT(c->pad_id, 256);
    CHECK_INT(c->mask_id, 258); /* found by its text: no mask_token_id key */
    CHECK_INT(c->eot_id, 259);
    CHECK_INT(c->unk_id, -1);
    CHECK_INT(c->add_bos, 0);
    CHECK_STR(m->name, "tiny test model");
    CHECK(m->chat_template && strcmp(m->chat_template, llama3_template) == 0);
    CHECK_INT(m->chat, CHAT_LLAMA3);
    CHECK(m->tok != NULL);
    if (m->tok)
        CHECK_INT(tok_vocab_size(m->tok), TINY_V);
    CHECK_INT(m->n_tensors, 2 + 9 * TINY_L);
    CHECK(model_tensor(m, "output.weight") == NULL);
    const struct tensor *t = model_tensor(m, "blk.1.ffn_down.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->type, DT_F16);
        CHECK(t->ne[0] == TINY_FF && t->ne[1] == TINY_D && t->ne[2] == 1);
        float row[TINY_FF];
        CHECK_INT(tensor_rows_f32(t, 5, 1, row), 0);
        CHECK_NEAR(row[3], tiny_val(5, 3), 0);
    }
    t = model_tensor(m, "output_norm.weight");
    CHECK(t && t->type == DT_F32 && ((const float *)t->data)[2] == 2.0f);
    model_free(m);
}

void test_model_open_gguf_dream_keys(void)
{
    struct tiny o = {"dream", 1, "<|mask|>", 1, 0, TINY_D, NULL};
    char path[256], err[512];
    struct model *m = NULL;
    CHECK(write_tiny(&o, "tiny-dream.gguf", path, sizeof path) != NULL);
    CHECK_INT(model_open(path, &m, err, sizeof err), 0);
    if (!m) {
        check_true(0, err, __FILE__, __LINE__);
        return;
    }
    CHECK_INT(m->cfg.arch, ARCH_DREAM);
    CHECK_INT(m->cfg.rope_interleaved, 0);
    CHECK_INT(m->cfg.shift_logits, 1);
    CHECK_INT(m->cfg.causal, 0);
    CHECK_INT(m->cfg.tied_output, 0);
    CHECK_INT(m->cfg.mask_id, 258);
    CHECK_INT(m->chat, CHAT_NONE);
    CHECK(m->chat_template == NULL);
    CHECK(model_tensor(m, "output.weight") != NULL);
    model_free(m);
}

void test_model_open_gguf_llama_causal_needs_no_mask(void)
{
    struct tiny o = {"llama", 0, NULL, 1, -1, TINY_D, NULL};
    char path[256], err[512];
    struct model *m = NULL;
    CHECK(write_tiny(&o, "tiny-llama.gguf", path, sizeof path) != NULL);
    CHECK_INT(model_open(path, &m, err, sizeof err), 0);
    if (m) {
        CHECK_INT(m->cfg.causal, 1);
        CHECK_INT(m->cfg.mask_id, -1);
        CHECK_INT(m->cfg.rope_interleaved, 1);
        model_free(m);
    }
}

static void expect_error(const struct tiny *o, const char *name, const char *needle)
{
    char path[256], err[512] = "";
    struct model *m = NULL;
    CHECK(write_tiny(o, name, path, sizeof path) != NULL);
    int rc = model_open(path, &m, err, sizeof err);
    CHECK(rc != 0 && m == NULL);
    if (!strstr(err, needle) || !strstr(err, name))
        check_true(0, err, __FILE__, __LINE__);
    model_free(m);
}

void test_model_open_gguf_errors(void)
{
    struct tiny no_mask = {"llada", 0, NULL, 0, -1, TINY_D, NULL};
    expect_error(&no_mask, "tiny-nomask.gguf", "no mask token");
    struct tiny bad_q = {"llada", 1, "<|mdm_mask|>", 0, -1, 6, NULL};
    expect_error(&bad_q, "tiny-badq.gguf", "blk.0.attn_q.weight' has shape [8, 6");
    struct tiny bad_arch = {"gpt9", 1, "<|mdm_mask|>", 0, -1, TINY_D, NULL};
    expect_error(&bad_arch, "tiny-arch.gguf", "architecture 'gpt9' not supported");
    char err[256];
    struct model *m;
    CHECK(model_open("tests/out/does-not-exist.gguf", &m, err, sizeof err) != 0);
    CHECK(strstr(err, "does-not-exist.gguf") != NULL);
}

/* The model file cut at many points: always an error naming the file. */
void test_model_open_gguf_truncated_files(void)
{
    struct tiny o = {"llada", 1, "<|mdm_mask|>", 0, -1, TINY_D, llama3_template};
    size_t len;
    uint8_t *img = tiny_gguf(&o, &len);
    char path[256], err[512];
    out_path(path, sizeof path, "tiny-cut.gguf");
    int bad = 0, tried = 0;
    for (size_t cut = 0; cut + 16 < len; cut += 1 + cut / 8) {
        write_file(path, img, cut);
        struct model *m = NULL;
        err[0] = 0;
        if (model_open(path, &m, err, sizeof err) == 0 || !strstr(err, "tiny-cut.gguf"))
            bad++;
        model_free(m);
        tried++;
    }
    CHECK(tried > 50);
    CHECK_INT(bad, 0);
    free(img);
}

/* The same through memory, with heap copies of exactly the cut length (the
 * ASan runner catches any read past them), and byte flips in the metadata:
 * a model that still opens must have passed every check. */
void test_model_open_gguf_memory_cuts_and_flips(void)
{
    struct tiny o = {"llada", 1, "<|mdm_mask|>", 1, -1, TINY_D, llama3_template};
    size_t len;
    uint8_t *img = tiny_gguf(&o, &len);
    char err[512];
    struct model *m = NULL;
    CHECK_INT(model_open_gguf_memory(img, len, "mem.gguf", &m, err, sizeof err), 0);
    if (m) {
        CHECK_INT(m->cfg.mask_id, 258);
        CHECK_INT(m->cfg.tied_output, 0);
        model_free(m);
    }
    int bad = 0;
    for (size_t cut = 0; cut + 32 < len; cut += 7) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, img, cut);
        m = NULL;
        if (model_open_gguf_memory(b, cut, "mem.gguf", &m, err, sizeof err) == 0 || !strstr(err, "mem.gguf"))
            bad++;
        model_free(m);
        free(b);
    }
    CHECK_INT(bad, 0);
    int opened = 0;
    for (size_t pos = 0; pos < len; pos += 13) {
        uint8_t *b = malloc(len);
        memcpy(b, img, len);
        b[pos] ^= 0x5a;
        m = NULL;
        if (model_open_gguf_memory(b, len, "flip.gguf", &m, err, sizeof err) == 0) {
            opened++;
            CHECK(model_tensor(m, "token_embd.weight") != NULL);
            model_free(m);
        }
        free(b);
    }
    CHECK(opened > 0);
    free(img);
}
