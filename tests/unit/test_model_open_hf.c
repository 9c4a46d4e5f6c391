/* model_open on Hugging Face directories written here: LLaDA (one BF16
 * model.safetensors), Dream (two F16 shards with an index, one of them with
 * an unpadded header so its data is misaligned), BERT (F32, WordPiece), and
 * broken ones; plus the safetensors reader on truncated and crafted images. */
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
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);
void gpt2_byte_token(int byte, char out[4]);

static float val(int row, int col)
{
    return (float)((row * 8 + col) % 13) * 0.125f - 0.75f; /* exact in f16 and bf16 */
}

/* A [rows, cols] matrix (or a vector when rows == 0) in dtype. */
static void st_mat(struct sw *w, const char *name, const char *dtype, int rows, int cols)
{
    int n = (rows ? rows : 1) * cols;
    int es = strcmp(dtype, "F32") == 0 ? 4 : 2;
    uint8_t *b = malloc((size_t)n * (size_t)es);
    for (int i = 0; i < n; i++) {
        float v = rows ? val(i / cols, i % cols) : 1.0f + 0.5f * (float)i;
        if (es == 4) {
            memcpy(b + 4 * i, &v, 4);
        } else {
            uint16_t h = strcmp(dtype, "F16") == 0 ? f32_to_f16(v) : f32_to_bf16(v);
            memcpy(b + 2 * i, &h, 2);
        }
    }
    int64_t shape[2] = {rows, cols};
    if (rows)
        sw_tensor(w, name, dtype, 2, shape, b, (size_t)n * (size_t)es);
    else
        sw_tensor(w, name, dtype, 1, shape + 1, b, (size_t)n * (size_t)es);
    free(b);
}

static void st_write(struct sw *w, const char *dir, const char *file, int pad)
{
    size_t len;
    uint8_t *img = sw_finish(w, pad, &len);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    CHECK_INT(write_file(p, img, len), 0);
    free(img);
}

static void put_text(const char *dir, const char *file, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    CHECK_INT(write_text(p, text), 0);
}

static const char *fresh_dir(char *buf, size_t len, const char *name)
{
    out_path(buf, len, name);
    mkdir(buf, 0755);
    static const char *const files[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                        "generation_config.json", "model.safetensors",
                                        "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                        "model-00002-of-00002.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", buf, files[i]);
        remove(p);
    }
    return buf;
}

/* Byte-level BPE tokenizer.json: 256 byte tokens, 6 specials (256..261), 2 merges. */
static void write_bpe_tokenizer(const char *dir, const char *mask_text)
{
    struct tbuf b = {0};
    const char *head = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[";
    tb_put(&b, head, strlen(head));
    const char *sp[] = {"<|endoftext|>", "<|startoftext|>", mask_text, "<|eot_id|>", "<|start_header_id|>",
                        "<|end_header_id|>"};
    char e[256];
    for (int i = 0; i < 6; i++) {
        snprintf(e, sizeof e,
                 "%s{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                 "\"normalized\":false,\"special\":true}",
                 i ? "," : "", 256 + i, sp[i]);
        tb_put(&b, e, strlen(e));
    }
    const char *mid = "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                      "\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,\"decoder\":{\"type\":"
                      "\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},"
                      "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"fuse_unk\":false,"
                      "\"byte_fallback\":false,\"vocab\":{";
    tb_put(&b, mid, strlen(mid));
    for (int i = 0; i < 256; i++) {
        char t[4];
        gpt2_byte_token(i, t);
        const char *esc = strcmp(t, "\"") == 0 ? "\\\"" : strcmp(t, "\\") == 0 ? "\\\\" : t;
        snprintf(e, sizeof e, "%s\"%s\":%d", i ? "," : "", esc, i);
        tb_put(&b, e, strlen(e));
    }
    for (int i = 0; i < 6; i++) {
        snprintf(e, sizeof e, ",\"%s\":%d", sp[i], 256 + i);
        tb_put(&b, e, strlen(e));
    }
    const char *tail = ",\"\xc4\xa0t\":262,\"he\":263},\"merges\":[\"\xc4\xa0 t\",\"h e\"]}}";
    tb_put(&b, tail, strlen(tail) + 1);
    put_text(dir, "tokenizer.json", (const char *)b.p);
    free(b.p);
}

static const char *llada_config =
    "{\"model_type\": \"llada\", \"architectures\": [\"LLaDAModelLM\"], \"d_model\": 8, \"n_heads\": 2,"
    " \"n_kv_heads\": 1, \"n_layers\": 2, \"mlp_hidden_size\": 16, \"embedding_size\": 264,"
    " \"vocab_size\": 264, \"max_sequence_length\": 64, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0,"
    " \"mask_token_id\": 258, \"eos_token_id\": 256, \"pad_token_id\": 256, \"weight_tying\": false}";

static void write_llada(const char *dir, int with_ff_out)
{
    struct sw w;
    sw_init(&w);
    st_mat(&w, "model.transformer.wte.weight", "BF16", 264, 8);
    st_mat(&w, "model.transformer.ln_f.weight", "F32", 0, 8);
    if (with_ff_out)
        st_mat(&w, "model.transformer.ff_out.weight", "BF16", 264, 8);
    for (int l = 0; l < 2; l++) {
        char n[128];
        static const char *const parts[] = {"q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj",
                                            "ff_out"};
        static const int rows[] = {8, 4, 4, 8, 16, 16, 8}, cols[] = {8, 8, 8, 8, 8, 8, 16};
        for (int k = 0; k < 7; k++) {
            snprintf(n, sizeof n, "model.transformer.blocks.%d.%s.weight", l, parts[k]);
            st_mat(&w, n, "BF16", rows[k], cols[k]);
        }
        snprintf(n, sizeof n, "model.transformer.blocks.%d.attn_norm.weight", l);
        st_mat(&w, n, "F32", 0, 8);
        snprintf(n, sizeof n, "model.transformer.blocks.%d.ff_norm.weight", l);
        st_mat(&w, n, "F32", 0, 8);
    }
    st_write(&w, dir, "model.safetensors", 1);
}

void test_model_open_hf_llada(void)
{
    char dir[256], err[512];
    fresh_dir(dir, sizeof dir, "hf-llada");
    put_text(dir, "config.json", llada_config);
    write_bpe_tokenizer(dir, "<|mdm_mask|>");
    put_text(dir, "tokenizer_config.json",
             "{\"add_bos_token\": false, \"bos_token\": \"<|startoftext|>\", \"eos_token\": {\"content\": "
             "\"<|endoftext|>\"}, \"chat_template\": \"{% for m in messages %}<|start_header_id|>{{ m['role'] "
             "}}<|end_header_id|>\\n\\n{{ m['content'] }}<|eot_id|>{% endfor %}\"}");
    write_llada(dir, 1);
    struct model *m = NULL;
    CHECK_INT(model_open(dir, &m, err, sizeof err), 0);
    if (!m) {
        check_true(0, err, __FILE__, __LINE__);
        return;
    }
    const struct model_config *c = &m->cfg;
    CHECK_INT(c->arch, ARCH_LLADA);
    CHECK_INT(c->n_layers, 2);
    CHECK_INT(c->d_model, 8);
    CHECK_INT(c->n_heads, 2);
    CHECK_INT(c->n_kv_heads, 1);
    CHECK_INT(c->head_dim, 4);
    CHECK_INT(c->d_ff, 16);
    CHECK_INT(c->vocab_size, 264);
    CHECK_INT(c->max_seq, 64);
    CHECK_NEAR(c->norm_eps, 1e-5, 1e-12);
    CHECK_NEAR(c->rope_theta, 500000, 0);
    CHECK_INT(c->rope_interleaved, 0);
    CHECK_INT(c->causal, 0);
    CHECK_INT(c->shift_logits, 0);
    CHECK_INT(c->tied_output, 0);
    CHECK_INT(c->bos_id, 257);
    CHECK_INT(c->eos_id, 256);
    CHECK_INT(c->pad_id, 256);
    CHECK_INT(c->mask_id, 258);
    CHECK_INT(c->eot_id, 259);
    CHECK_INT(c->add_bos, 0);
    CHECK_INT(m->chat, CHAT_LLAMA3);
    CHECK_STR(m->name, "hf-llada");
    CHECK_INT(m->n_tensors, 3 + 9 * 2);
    const struct tensor *t = model_tensor(m, "blk.1.ffn_gate.weight");
    CHECK(t && t->type == DT_BF16 && t->ne[0] == 8 && t->ne[1] == 16);
    t = model_tensor(m, "blk.0.ffn_down.weight");
    CHECK(t && t->ne[0] == 16 && t->ne[1] == 8);
    if (t) {
        float row[16];
        CHECK_INT(tensor_rows_f32(t, 3, 1, row), 0);
        CHECK_NEAR(row[10], val(3, 10), 0);
    }
    CHECK(model_tensor(m, "output.weight") != NULL);
    CHECK(model_tensor(m, "blk.0.attn_output.weight") != NULL);
    model_free(m);

    /* without ff_out the head is tied to the embedding */
    write_llada(dir, 0);
    CHECK_INT(model_open(dir, &m, err, sizeof err), 0);
    if (m) {
        CHECK_INT(m->cfg.tied_output, 1);
        model_free(m);
    }
}

static void write_dream_shards(const char *dir)
{
    struct sw a, b;
    sw_init(&a);
    sw_init(&b);
    st_mat(&a, "model.embed_tokens.weight", "F16", 264, 8);
    st_mat(&b, "model.norm.weight", "F16", 0, 8);
    st_mat(&b, "lm_head.weight", "F16", 264, 8);
    for (int l = 0; l < 2; l++) {
        struct sw *w = l ? &b : &a;
        char n[128];
        static const char *const parts[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                            "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                            "mlp.down_proj"};
        static const int rows[] = {8, 4, 4, 8, 16, 16, 8}, cols[] = {8, 8, 8, 8, 8, 8, 16};
        for (int k = 0; k < 7; k++) {
            snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, parts[k]);
            st_mat(w, n, "F16", rows[k], cols[k]);
        }
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "model.layers.%d.%s.bias", l, parts[k]);
            st_mat(w, n, "F16", 0, rows[k]);
        }
        snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
        st_mat(w, n, "F16", 0, 8);
        snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", l);
        st_mat(w, n, "F16", 0, 8);
    }
    st_write(&a, dir, "model-00001-of-00002.safetensors", 1);
    st_write(&b, dir, "model-00002-of-00002.safetensors", 0); /* unpadded: misaligned data */
}

void test_model_open_hf_dream_sharded(void)
{
    char dir[256], err[512];
    fresh_dir(dir, sizeof dir, "hf-dream");
    put_text(dir, "config.json",
             "{\"model_type\": \"Dream\", \"architectures\": [\"DreamModel\"], \"hidden_size\": 8,"
             " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"num_hidden_layers\": 2,"
             " \"intermediate_size\": 16, \"vocab_size\": 264, \"max_position_embeddings\": 64,"
             " \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"mask_token_id\": 258,"
             " \"bos_token_id\": 257, \"eos_token_id\": 256, \"tie_word_embeddings\": false}");
    put_text(dir, "generation_config.json",
             "{\"bos_token_id\": 256, \"eos_token_id\": [256, 259], \"pad_token_id\": 256, \"mask_token_id\": null}");
    write_bpe_tokenizer(dir, "<|mask|>");
    put_text(dir, "tokenizer_config.json",
             "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, {\"name\": \"default\","
             " \"template\": \"{% for m in messages %}<|im_start|>{{ m.role }}\\n{{ m.content }}<|im_end|>\\n"
             "{% endfor %}<|im_start|>assistant\\n\"}]}");
    write_dream_shards(dir);
    put_text(dir, "model.safetensors.index.json",
             "{\"metadata\": {}, \"weight_map\": {\"model.embed_tokens.weight\": "
             "\"model-00001-of-00002.safetensors\", \"lm_head.weight\": \"model-00002-of-00002.safetensors\","
             " \"model.norm.weight\": \"model-00002-of-00002.safetensors\"}}");
    struct model *m = NULL;
    CHECK_INT(model_open(dir, &m, err, sizeof err), 0);
    if (!m) {
        check_true(0, err, __FILE__, __LINE__);
        return;
    }
    const struct model_config *c = &m->cfg;
    CHECK_INT(c->arch, ARCH_DREAM);
    CHECK_INT(c->n_kv_heads, 1);
    CHECK_NEAR(c->norm_eps, 1e-6, 1e-12);
    CHECK_NEAR(c->rope_theta, 1e6, 0);
    CHECK_INT(c->shift_logits, 1);
    CHECK_INT(c->causal, 0);
    CHECK_INT(c->rope_interleaved, 0);
    CHECK_INT(c->tied_output, 0);
    CHECK_INT(c->mask_id, 258); /* config.json; generation_config's null keeps it */
    CHECK_INT(c->bos_id, 256);  /* generation_config.json wins */
    CHECK_INT(c->eos_id, 256);  /* first of the list */
    CHECK_INT(m->chat, CHAT_CHATML);
    CHECK(m->chat_template && strstr(m->chat_template, "<|im_start|>"));
    CHECK_INT(m->n_tensors, 3 + 12 * 2);
    const struct tensor *t = model_tensor(m, "blk.1.attn_k.bias");
    CHECK(t && t->type == DT_F16 && t->ne[0] == 4 && t->ne[1] == 1);
    t = model_tensor(m, "blk.1.ffn_up.weight"); /* from the misaligned shard: copied, aligned */
    CHECK(t && ((uintptr_t)t->data % 2) == 0);
    if (t) {
        float row[8];
        CHECK_INT(tensor_rows_f32(t, 15, 1, row), 0);
        CHECK_NEAR(row[7], val(15, 7), 0);
    }
    model_free(m);

    /* the index is the list of shards: a missing one is an error naming it */
    char p[512];
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    remove(p);
    CHECK(model_open(dir, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "model-00002-of-00002.safetensors") != NULL);
}

static void write_bert(const char *dir, int with_head)
{
    struct sw w;
    sw_init(&w);
    st_mat(&w, "bert.embeddings.word_embeddings.weight", "F32", 12, 8);
    st_mat(&w, "bert.embeddings.position_embeddings.weight", "F32", 32, 8);
    st_mat(&w, "bert.embeddings.token_type_embeddings.weight", "F32", 2, 8);
    st_mat(&w, "bert.embeddings.LayerNorm.gamma", "F32", 0, 8);
    st_mat(&w, "bert.embeddings.LayerNorm.beta", "F32", 0, 8);
    static const char *const lin[] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                      "attention.output.dense", "intermediate.dense", "output.dense"};
    static const int rows[] = {8, 8, 8, 8, 16, 8}, cols[] = {8, 8, 8, 8, 8, 16};
    char n[128];
    for (int k = 0; k < 6; k++) {
        snprintf(n, sizeof n, "bert.encoder.layer.0.%s.weight", lin[k]);
        st_mat(&w, n, "F32", rows[k], cols[k]);
        snprintf(n, sizeof n, "bert.encoder.layer.0.%s.bias", lin[k]);
        st_mat(&w, n, "F32", 0, rows[k]);
    }
    st_mat(&w, "bert.encoder.layer.0.attention.output.LayerNorm.weight", "F32", 0, 8);
    st_mat(&w, "bert.encoder.layer.0.attention.output.LayerNorm.bias", "F32", 0, 8);
    st_mat(&w, "bert.encoder.layer.0.output.LayerNorm.weight", "F32", 0, 8);
    st_mat(&w, "bert.encoder.layer.0.output.LayerNorm.bias", "F32", 0, 8);
    st_mat(&w, "bert.pooler.dense.weight", "F32", 8, 8);
    if (with_head) {
        st_mat(&w, "cls.predictions.transform.dense.weight", "F32", 8, 8);
        st_mat(&w, "cls.predictions.transform.dense.bias", "F32", 0, 8);
        st_mat(&w, "cls.predictions.transform.LayerNorm.weight", "F32", 0, 8);
        st_mat(&w, "cls.predictions.transform.LayerNorm.bias", "F32", 0, 8);
        st_mat(&w, "cls.predictions.bias", "F32", 0, 12);
        st_mat(&w, "cls.predictions.decoder.bias", "F32", 0, 12); /* the tied copy */
    }
    if (with_head > 1)
        st_mat(&w, "lm_head.bias", "F32", 0, 8); /* maps to output.bias too, other values */
    st_write(&w, dir, "model.safetensors", 1);
}

void test_model_open_hf_bert(void)
{
    char dir[256], err[512];
    fresh_dir(dir, sizeof dir, "hf-bert");
    put_text(dir, "config.json",
             "{\"model_type\": \"bert\", \"architectures\": [\"BertForMaskedLM\"], \"hidden_size\": 8,"
             " \"num_attention_heads\": 2, \"num_hidden_layers\": 1, \"intermediate_size\": 16,"
             " \"vocab_size\": 12, \"max_position_embeddings\": 32, \"type_vocab_size\": 2,"
             " \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0}");
    put_text(dir, "tokenizer.json",
             "{\"version\": \"1.0\", \"added_tokens\": ["
             "{\"id\": 0, \"content\": \"[PAD]\", \"special\": true, \"single_word\": false, \"lstrip\": false,"
             " \"rstrip\": false, \"normalized\": false},"
             "{\"id\": 1, \"content\": \"[UNK]\", \"special\": true, \"single_word\": false, \"lstrip\": false,"
             " \"rstrip\": false, \"normalized\": false},"
             "{\"id\": 2, \"content\": \"[CLS]\", \"special\": true, \"single_word\": false, \"lstrip\": false,"
             " \"rstrip\": false, \"normalized\": false},"
             "{\"id\": 3, \"content\": \"[SEP]\", \"special\": true, \"single_word\": false, \"lstrip\": false,"
             " \"rstrip\": false, \"normalized\": false},"
             "{\"id\": 4, \"content\": \"[MASK]\", \"special\": true, \"single_word\": false, \"lstrip\": false,"
             " \"rstrip\": false, \"normalized\": false}],"
             " \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true,"
             " \"strip_accents\": null, \"lowercase\": true},"
             " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"post_processor\": null,"
             " \"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true},"
             " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\","
             " \"max_input_chars_per_word\": 100, \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2,"
             " \"[SEP]\": 3, \"[MASK]\": 4, \"the\": 5, \"cat\": 6, \"##s\": 7, \"a\": 8, \"dog\": 9, \".\": 10,"
             " \"sat\": 11}}}");
    put_text(dir, "tokenizer_config.json",
             "{\"cls_token\": \"[CLS]\", \"sep_token\": \"[SEP]\", \"mask_token\": \"[MASK]\","
             " \"pad_token\": \"[PAD]\", \"unk_token\": \"[UNK]\", \"do_lower_case\": true}");
    write_bert(dir, 1);
    struct model *m = NULL;
    CHECK_INT(model_open(dir, &m, err, sizeof err), 0);
    if (!m) {
        check_true(0, err, __FILE__, __LINE__);
        return;
    }
    const struct model_config *c = &m->cfg;
    CHECK_INT(c->arch, ARCH_BERT);
    CHECK_INT(c->n_layers, 1);
    CHECK_INT(c->d_model, 8);
    CHECK_INT(c->d_ff, 16);
    CHECK_INT(c->vocab_size, 12);
    CHECK_INT(c->max_seq, 32);
    CHECK_NEAR(c->norm_eps, 1e-12, 1e-18);
    CHECK_INT(c->causal, 0);
    CHECK_INT(c->mask_id, 4);
    CHECK_INT(c->cls_id, 2);
    CHECK_INT(c->sep_id, 3);
    CHECK_INT(c->bos_id, 2);
    CHECK_INT(c->eos_id, 3);
    CHECK_INT(c->pad_id, 0);
    CHECK_INT(c->unk_id, 1);
    CHECK_INT(c->add_bos, 1);
    CHECK_INT(c->tied_output, 1);
    CHECK(model_tensor(m, "token_embd_norm.weight") != NULL); /* from LayerNorm.gamma */
    CHECK(model_tensor(m, "token_embd_norm.bias") != NULL);
    CHECK(model_tensor(m, "token_types.weight") != NULL);
    CHECK(model_tensor(m, "blk.0.layer_output_norm.bias") != NULL);
    CHECK(model_tensor(m, "blk.0.ffn_up.bias") != NULL);
    CHECK(model_tensor(m, "mlm.dense.weight") != NULL);
    CHECK(model_tensor(m, "mlm.norm.bias") != NULL);
    const struct tensor *t = model_tensor(m, "output.bias");
    CHECK(t && t->ne[0] == 12);
    CHECK(model_tensor(m, "bert.pooler.dense.weight") != NULL); /* unmapped: own name */
    model_free(m);
    write_bert(dir, 2);
    CHECK(model_open(dir, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "'lm_head.bias' maps to 'output.bias'") != NULL);
}

void test_model_open_hf_errors(void)
{
    char dir[256], err[512];
    struct model *m = NULL;
    fresh_dir(dir, sizeof dir, "hf-broken");
    put_text(dir, "config.json", llada_config);
    write_llada(dir, 1);
    CHECK(model_open(dir, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "tokenizer.json") != NULL);
    write_bpe_tokenizer(dir, "<|mdm_mask|>");
    put_text(dir, "config.json", "{\"model_type\": \"llada\", ");
    CHECK(model_open(dir, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "config.json") != NULL);
    put_text(dir, "config.json", "{\"model_type\": \"gpt2\"}");
    CHECK(model_open(dir, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "'gpt2' not supported") != NULL);
    put_text(dir, "config.json", llada_config);
    /* model.safetensors cut short: error names it */
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "rb");
    static uint8_t buf[1 << 16];
    size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECK(len > 1000 && len < sizeof buf);
    int bad = 0;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 6) {
        write_file(p, buf, cut);
        err[0] = 0;
        if (model_open(dir, &m, err, sizeof err) == 0 || !strstr(err, "model.safetensors")) {
            bad++;
            model_free(m);
        }
    }
    CHECK_INT(bad, 0);
    remove(p);
    CHECK(model_open(dir, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "no model.safetensors") != NULL);
}

static int st_fails(const char *img, size_t len, const char *needle)
{
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, img, len);
    struct st_file f;
    char err[256] = "";
    int rc = st_parse(&f, b, len, "x.safetensors", err, sizeof err);
    if (rc == 0)
        st_clear(&f);
    free(b);
    if (rc == 0 || !strstr(err, needle))
        return check_true(0, err, __FILE__, __LINE__);
    return 1;
}

static size_t st_image(char *out, const char *json, size_t data_len)
{
    uint64_t n = strlen(json);
    for (int k = 0; k < 8; k++)
        out[k] = (char)(n >> (8 * k));
    memcpy(out + 8, json, n);
    memset(out + 8 + n, 0, data_len);
    return 8 + n + data_len;
}

void test_model_safetensors_reader(void)
{
    static char img[4096];
    size_t len = st_image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                               "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[24,26]}}", 26);
    struct st_file f;
    char err[256];
    CHECK_INT(st_parse(&f, img, len, "x.safetensors", err, sizeof err), 0);
    CHECK_INT(f.n_tensors, 2);
    if (f.n_tensors == 2) {
        CHECK_STR(f.tensors[0].name, "a");
        CHECK(f.tensors[0].ne[0] == 3 && f.tensors[0].ne[1] == 2 && f.tensors[0].n_dims == 2);
        CHECK(f.tensors[1].type == DT_BF16 && f.tensors[1].ne[0] == 1);
    }
    st_clear(&f);
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, img, cut);
        if (st_parse(&f, b, cut, "x.safetensors", err, sizeof err) == 0) {
            st_clear(&f);
            bad++;
        }
        free(b);
    }
    CHECK_INT(bad, 0);
    len = st_image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24);
    CHECK(st_fails(img, len, "20 bytes of data for 6"));
    len = st_image(img, "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    CHECK(st_fails(img, len, "dtype I64"));
    len = st_image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    CHECK(st_fails(img, len, "5 dims"));
    len = st_image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4);
    CHECK(st_fails(img, len, "bad data_offsets"));
    len = st_image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    CHECK(st_fails(img, len, "bad shape"));
    len = st_image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4);
    CHECK(st_fails(img, len, "impossibly large"));
    len = st_image(img, "[1,2]", 0);
    CHECK(st_fails(img, len, "not a JSON object"));
    len = st_image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    CHECK(st_fails(img, len, "duplicate"));
    img[7] = 0x7f; /* header length far past the end */
    CHECK(st_fails(img, len, "header of"));
}

void test_model_hf_name_map(void)
{
    static const struct {
        enum arch a;
        const char *hf, *ours;
    } cases[] = {
        {ARCH_LLADA, "model.transformer.blocks.31.ff_proj.weight", "blk.31.ffn_gate.weight"},
        {ARCH_LLADA, "model.transformer.blocks.0.up_proj.weight", "blk.0.ffn_up.weight"},
        {ARCH_LLADA, "model.transformer.blocks.7.ff_out.weight", "blk.7.ffn_down.weight"},
        {ARCH_LLADA, "model.transformer.ff_out.weight", "output.weight"},
        {ARCH_LLADA, "model.transformer.blocks.2.attn_out.weight", "blk.2.attn_output.weight"},
        {ARCH_DREAM, "model.layers.27.self_attn.v_proj.bias", "blk.27.attn_v.bias"},
        {ARCH_DREAM, "model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"},
        {ARCH_LLAMA, "lm_head.weight", "output.weight"},
        {ARCH_BERT, "bert.encoder.layer.11.output.LayerNorm.gamma", "blk.11.layer_output_norm.weight"},
        {ARCH_BERT, "encoder.layer.0.attention.output.LayerNorm.beta", "blk.0.attn_output_norm.bias"},
        {ARCH_BERT, "cls.predictions.transform.LayerNorm.weight", "mlm.norm.weight"},
        {ARCH_ROBERTA, "roberta.embeddings.position_embeddings.weight", "position_embd.weight"},
        {ARCH_ROBERTA, "lm_head.layer_norm.bias", "mlm.norm.bias"},
        {ARCH_ROBERTA, "lm_head.decoder.weight", "output.weight"},
        {ARCH_ROBERTA, "lm_head.bias", "output.bias"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        out[0] = 0;
        CHECK_INT(hf_map_name(cases[i].a, cases[i].hf, out, sizeof out), 0);
        CHECK_STR(out, cases[i].ours);
    }
    CHECK_INT(hf_map_name(ARCH_DREAM, "model.layers.x.mlp.up_proj.weight", out, sizeof out), -1);
    CHECK_INT(hf_map_name(ARCH_DREAM, "model.layers.99999999999.mlp.up_proj.weight", out, sizeof out), -1);
    CHECK_INT(hf_map_name(ARCH_LLADA, "model.transformer.blocks.0.rotary.inv_freq", out, sizeof out), -1);
    CHECK_INT(hf_map_name(ARCH_BERT, "bert.pooler.dense.weight", out, sizeof out), -1);
}
