/* model_open on llama2.c checkpoints: the real stories260K (legacy header),
 * the same weights rewritten here as a v1 file and as an untied legacy file
 * (tensors must point at identical floats), and truncated copies. */
#include "engine/model/model.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int write_file(const char *path, const void *data, size_t len);
const char *out_path(char *buf, size_t len, const char *name);

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static int stories(char *dir, size_t len)
{
    const char *shared = check_shared_dir();
    if (!shared) {
        check_skip("no shared folder with models/stories260K");
        return 0;
    }
    snprintf(dir, len, "%s/models/stories260K", shared);
    return 1;
}

void test_model_open_llama2c_stories260k(void)
{
    char dir[512], err[512], path[600];
    if (!stories(dir, sizeof dir))
        return;
    struct model *m = NULL;
    CHECK_INT(model_open(dir, &m, err, sizeof err), 0);
    if (!m) {
        check_true(0, err, __FILE__, __LINE__);
        return;
    }
    const struct model_config *c = &m->cfg;
    CHECK_INT(c->arch, ARCH_LLAMA);
    CHECK_INT(c->d_model, 64);
    CHECK_INT(c->d_ff, 172);
    CHECK_INT(c->n_layers, 5);
    CHECK_INT(c->n_heads, 8);
    CHECK_INT(c->n_kv_heads, 4);
    CHECK_INT(c->head_dim, 8);
    CHECK_INT(c->vocab_size, 512);
    CHECK_INT(c->max_seq, 512);
    CHECK_INT(c->tied_output, 1);
    CHECK_INT(c->causal, 1);
    CHECK_INT(c->rope_interleaved, 1);
    CHECK_NEAR(c->rope_theta, 10000, 0);
    CHECK_NEAR(c->norm_eps, 1e-5, 1e-12);
    CHECK_INT(c->bos_id, 1);
    CHECK_INT(c->eos_id, 2);
    CHECK_INT(c->unk_id, 0);
    CHECK_INT(c->add_bos, 1);
    CHECK_INT(c->mask_id, -1);
    CHECK_INT(m->n_tensors, 2 + 9 * 5);
    CHECK(m->tok != NULL);
    CHECK_STR(m->name, "stories260K.bin");
    /* blk.2.attn_k.weight row 3 sits after token_embd, rms_att, wq and two layers of wk */
    snprintf(path, sizeof path, "%s/stories260K.bin", dir);
    size_t len;
    uint8_t *file = slurp(path, &len);
    CHECK(file && len == 1056540);
    const struct tensor *t = model_tensor(m, "blk.2.attn_k.weight");
    CHECK(t && t->ne[0] == 64 && t->ne[1] == 32 && t->type == DT_F32);
    if (file && t) {
        size_t off = 28 + 4 * (size_t)(512 * 64 + 5 * 64 + 5 * 64 * 64 + 2 * 32 * 64 + 3 * 64);
        float want[64], got[64];
        memcpy(want, file + off, sizeof want);
        CHECK_INT(tensor_rows_f32(t, 3, 1, got), 0);
        CHECK(memcmp(want, got, sizeof want) == 0);
    }
    t = model_tensor(m, "output_norm.weight");
    CHECK(t && (const uint8_t *)t->data == (const uint8_t *)model_tensor(m, "token_embd.weight")->data +
                                                4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 * 2 + 5 * 32 * 64 * 2 +
                                                     5 * 64 + 3 * 5 * 172 * 64));
    free(file);
    model_free(m);
}

static void copy_tokenizer(const char *src_dir, const char *dst_dir)
{
    char p[700];
    size_t len;
    snprintf(p, sizeof p, "%s/tok512.bin", src_dir);
    uint8_t *b = slurp(p, &len);
    snprintf(p, sizeof p, "%s/tokenizer.bin", dst_dir);
    CHECK(b && write_file(p, b, len) == 0);
    free(b);
}

/* Every tensor of b holds the same floats as a's. */
static void same_tensors(const struct model *a, const struct model *b)
{
    int bad = 0;
    for (int i = 0; i < a->n_tensors; i++) {
        const struct tensor *x = &a->tensors[i], *y = model_tensor(b, x->name);
        if (!y || y->nbytes != x->nbytes || memcmp(x->data, y->data, x->nbytes) != 0)
            bad++;
    }
    CHECK_INT(bad, 0);
}

void test_model_open_llama2c_v1_and_untied(void)
{
    char dir[512], err[512], src[600], d1[256], d2[256], p[700];
    if (!stories(dir, sizeof dir))
        return;
    snprintf(src, sizeof src, "%s/stories260K.bin", dir);
    size_t len;
    uint8_t *legacy = slurp(src, &len);
    struct model *ref = NULL, *m = NULL;
    CHECK_INT(model_open(dir, &ref, err, sizeof err), 0);
    if (!legacy || !ref) {
        free(legacy);
        model_free(ref);
        return;
    }
    const float *w = (const float *)(legacy + 28);
    size_t V = 512, d = 64, L = 5, kv = 32, f = 172;
    size_t emb = V * d, att = L * d, wq = L * d * d, wk = L * kv * d, ffn = L * f * d;
    /* legacy offsets (floats) of each array */
    size_t o_emb = 0, o_an = emb, o_wq = o_an + att, o_wk = o_wq + wq, o_wv = o_wk + wk, o_wo = o_wv + wk,
           o_fn = o_wo + wq, o_w1 = o_fn + att, o_w2 = o_w1 + ffn, o_w3 = o_w2 + ffn, o_on = o_w3 + ffn;

    /* v1: header of 256 bytes, norms first, untied (output = embedding) */
    uint8_t *v1 = calloc(1, 256 + 4 * (o_on + d + emb));
    int32_t hdr[9] = {0x616b3432, 1, 64, 172, 5, 8, 4, 512, 512};
    memcpy(v1, hdr, sizeof hdr);
    v1[36] = 0;
    float *o = (float *)(v1 + 256);
    size_t k = 0;
#define PUT(off, n) (memcpy(o + k, w + (off), 4 * (n)), k += (n))
    PUT(o_an, att);
    PUT(o_fn, att);
    PUT(o_on, d);
    PUT(o_emb, emb);
    PUT(o_wq, wq);
    PUT(o_wk, wk);
    PUT(o_wv, wk);
    PUT(o_wo, wq);
    PUT(o_w1, ffn);
    PUT(o_w2, ffn);
    PUT(o_w3, ffn);
    PUT(o_emb, emb);
#undef PUT
    out_path(d1, sizeof d1, "l2c-v1");
    mkdir(d1, 0755);
    snprintf(p, sizeof p, "%s/model.bin", d1);
    CHECK_INT(write_file(p, v1, 256 + 4 * k), 0);
    copy_tokenizer(dir, d1);
    CHECK_INT(model_open(d1, &m, err, sizeof err), 0);
    if (m) {
        CHECK_INT(m->cfg.tied_output, 0);
        CHECK_INT(m->cfg.n_kv_heads, 4);
        same_tensors(ref, m);
        const struct tensor *out = model_tensor(m, "output.weight");
        CHECK(out && memcmp(out->data, w + o_emb, 4 * emb) == 0);
        model_free(m);
    }
    /* the same file cut anywhere in the weights */
    int bad = 0;
    for (size_t cut = 0; cut < 256 + 4 * k; cut += 4099) {
        write_file(p, v1, cut);
        if (model_open(d1, &m, err, sizeof err) == 0 || !strstr(err, "model.bin")) {
            bad++;
            model_free(m);
        }
    }
    CHECK_INT(bad, 0);
    free(v1);

    /* legacy untied: negative vocab, the classifier after the RoPE tables */
    uint8_t *un = malloc(len + 4 * emb);
    memcpy(un, legacy, len);
    memcpy(un + len, w + o_emb, 4 * emb);
    int32_t neg = -512;
    memcpy(un + 20, &neg, 4);
    out_path(d2, sizeof d2, "l2c-untied");
    mkdir(d2, 0755);
    snprintf(p, sizeof p, "%s/model.bin", d2);
    CHECK_INT(write_file(p, un, len + 4 * emb), 0);
    copy_tokenizer(dir, d2);
    CHECK_INT(model_open(d2, &m, err, sizeof err), 0);
    if (m) {
        CHECK_INT(m->cfg.vocab_size, 512);
        CHECK_INT(m->cfg.tied_output, 0);
        same_tensors(ref, m);
        model_free(m);
    }
    /* one byte short of the classifier */
    CHECK_INT(write_file(p, un, len + 4 * emb - 1), 0);
    CHECK(model_open(d2, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "truncated") != NULL);
    /* a nonsense header */
    int32_t zero = 0;
    memcpy(un + 8, &zero, 4);
    CHECK_INT(write_file(p, un, len), 0);
    CHECK(model_open(d2, &m, err, sizeof err) != 0);
    CHECK(strstr(err, "implausible") != NULL);
    /* the checkpoint file itself as the path: tokenizer.bin beside it */
    memcpy(un, legacy, len);
    CHECK_INT(write_file(p, un, len), 0);
    CHECK_INT(model_open(p, &m, err, sizeof err), 0);
    model_free(m);
    free(un);
    free(legacy);
    model_free(ref);
}
