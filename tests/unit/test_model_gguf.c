/* GGUF reader: every metadata type, typed getters, tensor infos, alignment,
 * and broken images (each truncation point, byte flips, crafted headers):
 * always an error naming the file, never a read outside the buffer (the
 * truncated images are copied to heap buffers of exactly their length so the
 * ASan runner sees any overread). */
#include "engine/model/model.h"
#include "tests/unit/check.h"

#include <math.h>
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
void tb_put(struct tbuf *b, const void *d, size_t n);
void tb_u32(struct tbuf *b, uint32_t v);
void tb_u64(struct tbuf *b, uint64_t v);
void tb_str(struct tbuf *b, const char *s);
void gw_init(struct gw *w, uint32_t align);
void gw_key(struct gw *w, const char *key, uint32_t type);
void gw_u32(struct gw *w, const char *key, uint32_t v);
void gw_i32(struct gw *w, const char *key, int32_t v);
void gw_f32(struct gw *w, const char *key, float v);
void gw_bool(struct gw *w, const char *key, int v);
void gw_str(struct gw *w, const char *key, const char *v);
void gw_strs(struct gw *w, const char *key, const char *const *v, int n);
void gw_arr_f32(struct gw *w, const char *key, const float *v, int n);
void gw_arr_i32(struct gw *w, const char *key, const int32_t *v, int n);
void gw_tensor(struct gw *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data,
               size_t nbytes);
uint8_t *gw_finish(struct gw *w, size_t *len);
uint16_t f32_to_f16(float f);

/* A file with one key of every type (nested arrays included) and three
 * tensors of different types. */
static uint8_t *all_types_image(size_t *len, uint32_t align)
{
    struct gw w;
    gw_init(&w, align);
    gw_str(&w, "general.architecture", "test");
    uint8_t b;
    gw_key(&w, "k.u8", 0); b = 200; tb_put(&w.kv, &b, 1);
    gw_key(&w, "k.i8", 1); b = (uint8_t)-5; tb_put(&w.kv, &b, 1);
    gw_key(&w, "k.u16", 2); tb_put(&w.kv, "\x60\xea", 2); /* 60000 */
    gw_key(&w, "k.i16", 3); tb_put(&w.kv, "\xfd\xff", 2); /* -3 */
    gw_u32(&w, "k.u32", 4000000000u);
    gw_i32(&w, "k.i32", -7);
    gw_f32(&w, "k.f32", 1.5f);
    gw_bool(&w, "k.bool", 1);
    gw_str(&w, "k.str", "hello \xc4\xa0world");
    gw_key(&w, "k.u64", 10); tb_u64(&w.kv, 1ull << 40);
    gw_key(&w, "k.i64", 11); tb_u64(&w.kv, (uint64_t)-(1ll << 40));
    double dv = 0.1;
    uint64_t du;
    memcpy(&du, &dv, 8);
    gw_key(&w, "k.f64", 12); tb_u64(&w.kv, du);
    const char *strs[] = {"a b", "\xc4\xa0the", ""};
    gw_strs(&w, "k.strs", strs, 3);
    int32_t ints[] = {1, -3, 3};
    gw_arr_i32(&w, "k.i32s", ints, 3);
    float fl[] = {0.5f, -2.0f};
    gw_arr_f32(&w, "k.f32s", fl, 2);
    gw_arr_i32(&w, "k.empty", ints, 0); /* an empty list may carry any element type */
    /* [[1, 2], [3]] as u8, and [["x"], []] as strings */
    gw_key(&w, "k.nested", 9);
    tb_u32(&w.kv, 9);
    tb_u64(&w.kv, 2);
    tb_u32(&w.kv, 0); tb_u64(&w.kv, 2); tb_put(&w.kv, "\x01\x02", 2);
    tb_u32(&w.kv, 0); tb_u64(&w.kv, 1); tb_put(&w.kv, "\x03", 1);
    gw_key(&w, "k.nested_str", 9);
    tb_u32(&w.kv, 9);
    tb_u64(&w.kv, 2);
    tb_u32(&w.kv, 8); tb_u64(&w.kv, 1); tb_str(&w.kv, "x");
    tb_u32(&w.kv, 8); tb_u64(&w.kv, 0);

    float a[2 * 32];
    uint16_t h[2 * 32];
    for (int i = 0; i < 64; i++) {
        a[i] = (float)i * 0.25f - 3.0f;
        h[i] = f32_to_f16(a[i]);
    }
    int64_t ne2[2] = {32, 2};
    gw_tensor(&w, "a.f32", DT_F32, 2, ne2, a, sizeof a);
    gw_tensor(&w, "a.f16", DT_F16, 2, ne2, h, sizeof h);
    int64_t ne1[1] = {3};
    gw_tensor(&w, "v", DT_F32, 1, ne1, a, 12);
    return gw_finish(&w, len);
}

void test_model_gguf_all_metadata_types(void)
{
    size_t len;
    uint8_t *img = all_types_image(&len, 0);
    struct gguf g;
    char err[256];
    CHECK_INT(gguf_parse(&g, img, len, "mem.gguf", err, sizeof err), 0);
    CHECK_INT(g.version, 3);
    CHECK_INT(g.n_kv, 19);
    CHECK_INT(g.alignment, 32);
    uint32_t u;
    int32_t i;
    uint64_t u64;
    float f;
    int bl;
    const char *s;
    CHECK_INT(gguf_get_u32(&g, "k.u8", &u), 1);
    CHECK_INT(u, 200);
    CHECK_INT(gguf_get_i32(&g, "k.i8", &i), 1);
    CHECK_INT(i, -5);
    CHECK_INT(gguf_get_u32(&g, "k.i8", &u), -1); /* negative into unsigned */
    CHECK_INT(gguf_get_u32(&g, "k.u16", &u), 1);
    CHECK_INT(u, 60000);
    CHECK_INT(gguf_get_i32(&g, "k.i16", &i), 1);
    CHECK_INT(i, -3);
    CHECK_INT(gguf_get_u32(&g, "k.u32", &u), 1);
    CHECK(u == 4000000000u);
    CHECK_INT(gguf_get_i32(&g, "k.u32", &i), -1); /* out of int32 range */
    CHECK_INT(gguf_get_i32(&g, "k.i32", &i), 1);
    CHECK_INT(i, -7);
    CHECK_INT(gguf_get_f32(&g, "k.f32", &f), 1);
    CHECK_NEAR(f, 1.5, 0);
    CHECK_INT(gguf_get_f32(&g, "k.i32", &f), 1);
    CHECK_NEAR(f, -7, 0);
    CHECK_INT(gguf_get_bool(&g, "k.bool", &bl), 1);
    CHECK_INT(bl, 1);
    CHECK_INT(gguf_get_str(&g, "k.str", &s), 1);
    CHECK_STR(s, "hello \xc4\xa0world");
    CHECK_INT(gguf_get_str(&g, "k.u32", &s), -1);
    CHECK_INT(gguf_get_u64(&g, "k.u64", &u64), 1);
    CHECK(u64 == 1ull << 40);
    CHECK_INT(gguf_get_u32(&g, "k.u64", &u), -1);
    CHECK_INT(gguf_get_u64(&g, "k.i64", &u64), -1);
    const struct gguf_kv *kv = gguf_find(&g, "k.i64");
    CHECK(kv && kv->type == GGUF_I64 && kv->i == -(1ll << 40));
    CHECK_INT(gguf_get_f32(&g, "k.f64", &f), 1);
    CHECK_NEAR(f, 0.1, 1e-7);
    CHECK_INT(gguf_get_u32(&g, "k.absent", &u), 0);
    char *const *strs;
    int n;
    CHECK_INT(gguf_get_strs(&g, "k.strs", &strs, &n), 1);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(strs[0], "a b");
        CHECK_STR(strs[1], "\xc4\xa0the");
        CHECK_STR(strs[2], "");
    }
    CHECK_INT(gguf_get_strs(&g, "k.i32s", &strs, &n), -1);
    int32_t *iv;
    CHECK_INT(gguf_get_arr_i32(&g, "k.i32s", &iv, &n), 1);
    CHECK(n == 3 && iv[0] == 1 && iv[1] == -3 && iv[2] == 3);
    free(iv);
    float *fv;
    CHECK_INT(gguf_get_arr_f32(&g, "k.f32s", &fv, &n), 1);
    CHECK(n == 2 && fv[0] == 0.5f && fv[1] == -2.0f);
    free(fv);
    CHECK_INT(gguf_get_arr_i32(&g, "k.f32s", &iv, &n), -1);
    CHECK_INT(gguf_get_strs(&g, "k.empty", &strs, &n), 1);
    CHECK_INT(n, 0);
    CHECK_INT(gguf_get_arr_f32(&g, "k.empty", &fv, &n), 1);
    CHECK_INT(n, 0);
    free(fv);
    kv = gguf_find(&g, "k.nested");
    CHECK(kv && kv->type == GGUF_ARR && kv->arr_type == GGUF_ARR && kv->arr_n == 2);
    kv = gguf_find(&g, "k.nested_str");
    CHECK(kv && kv->arr_type == GGUF_ARR && kv->arr_n == 2);
    CHECK_INT(gguf_get_arr_i32(&g, "k.nested", &iv, &n), -1);

    CHECK_INT(g.n_tensors, 3);
    const struct gguf_tensor_info *t = gguf_find_tensor(&g, "a.f16");
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->type, DT_F16);
        CHECK_INT(t->n_dims, 2);
        CHECK(t->ne[0] == 32 && t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 1);
        CHECK_INT(t->nbytes, 128);
        CHECK_INT(t->offset % 32, 0);
        CHECK((const uint8_t *)t->data == img + g.data_offset + t->offset);
        struct tensor tt = {(char *)"a.f16", DT_F16, 2, {32, 2, 1, 1}, t->data, t->nbytes};
        float row[32];
        CHECK_INT(tensor_rows_f32(&tt, 1, 1, row), 0);
        CHECK_NEAR(row[0], 32 * 0.25 - 3.0, 0);
        CHECK_NEAR(row[31], 63 * 0.25 - 3.0, 0);
    }
    CHECK_INT(g.data_offset % 32, 0);
    gguf_clear(&g);
    free(img);
}

void test_model_gguf_custom_alignment(void)
{
    size_t len;
    uint8_t *img = all_types_image(&len, 256);
    struct gguf g;
    char err[256];
    CHECK_INT(gguf_parse(&g, img, len, "mem.gguf", err, sizeof err), 0);
    CHECK_INT(g.alignment, 256);
    CHECK_INT(g.data_offset % 256, 0);
    for (int i = 0; i < g.n_tensors; i++)
        CHECK_INT(g.tensors[i].offset % 256, 0);
    const struct gguf_tensor_info *t = gguf_find_tensor(&g, "v");
    CHECK(t && t->offset == 512);
    gguf_clear(&g);
    free(img);
}

/* Every prefix of a valid file fails cleanly, with the file's name in the
 * message. */
void test_model_gguf_every_truncation_fails(void)
{
    size_t len;
    uint8_t *img = all_types_image(&len, 0);
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, img, cut);
        struct gguf g;
        char err[256] = "";
        int rc = gguf_parse(&g, b, cut, "cut.gguf", err, sizeof err);
        if (rc == 0) {
            gguf_clear(&g);
            /* the end padding after the last tensor is the only optional part */
            if (cut < len - 20)
                bad++;
        } else if (!strstr(err, "cut.gguf")) {
            bad++;
        }
        free(b);
    }
    CHECK_INT(bad, 0);
    free(img);
}

/* Flipping any single byte parses or fails cleanly (ASan runner: no overread). */
void test_model_gguf_byte_flips_do_not_crash(void)
{
    size_t len;
    uint8_t *img = all_types_image(&len, 0);
    int parsed = 0, failed = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (int v = 0; v < 2; v++) {
            uint8_t *b = malloc(len);
            memcpy(b, img, len);
            b[pos] = v ? (uint8_t)(b[pos] ^ 0xff) : (uint8_t)(b[pos] + 1);
            struct gguf g;
            char err[256];
            if (gguf_parse(&g, b, len, "flip.gguf", err, sizeof err) == 0) {
                for (int i = 0; i < g.n_tensors; i++) {
                    struct tensor t = {g.tensors[i].name, (enum dtype)g.tensors[i].type, g.tensors[i].n_dims,
                                       {g.tensors[i].ne[0], g.tensors[i].ne[1], g.tensors[i].ne[2],
                                        g.tensors[i].ne[3]},
                                       g.tensors[i].data, g.tensors[i].nbytes};
                    float *row = malloc((size_t)t.ne[0] * sizeof *row);
                    if (row)
                        tensor_rows_f32(&t, 0, 1, row);
                    free(row);
                }
                gguf_clear(&g);
                parsed++;
            } else {
                failed++;
            }
            free(b);
        }
    }
    CHECK(failed > 0 && parsed > 0);
    free(img);
}

static int parse_fails_with(const uint8_t *img, size_t len, const char *needle)
{
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, img, len);
    struct gguf g;
    char err[256] = "";
    int rc = gguf_parse(&g, b, len, "bad.gguf", err, sizeof err);
    if (rc == 0)
        gguf_clear(&g);
    free(b);
    if (rc == 0 || !strstr(err, needle)) {
        check_true(0, err, __FILE__, __LINE__);
        return 0;
    }
    return 1;
}

static uint8_t *header_only(uint32_t version, uint64_t n_t, uint64_t n_kv, struct tbuf *rest, size_t *len)
{
    struct tbuf b = {0};
    tb_put(&b, "GGUF", 4);
    tb_u32(&b, version);
    tb_u64(&b, n_t);
    tb_u64(&b, n_kv);
    if (rest) {
        tb_put(&b, rest->p, rest->n);
        free(rest->p);
    }
    *len = b.n;
    return b.p;
}

void test_model_gguf_crafted_headers_fail(void)
{
    size_t len;
    uint8_t *img;
    img = header_only(3, 0, 0, NULL, &len);
    img[0] = 'X';
    CHECK(parse_fails_with(img, len, "bad magic"));
    free(img);
    img = header_only(1, 0, 0, NULL, &len);
    CHECK(parse_fails_with(img, len, "version 1"));
    free(img);
    img = header_only(3, 0, 1ull << 60, NULL, &len);
    CHECK(parse_fails_with(img, len, "metadata count"));
    free(img);
    img = header_only(3, 1ull << 40, 0, NULL, &len);
    CHECK(parse_fails_with(img, len, "tensor count"));
    free(img);

    struct tbuf r = {0};
    tb_u64(&r, 1ull << 62); /* key length far past the end */
    tb_put(&r, "abcdefgh", 8);
    img = header_only(3, 0, 1, &r, &len);
    CHECK(parse_fails_with(img, len, "metadata key"));
    free(img);

    memset(&r, 0, sizeof r);
    tb_str(&r, "k");
    tb_u32(&r, 99); /* unknown value type */
    tb_u64(&r, 0);
    img = header_only(3, 0, 1, &r, &len);
    CHECK(parse_fails_with(img, len, "unknown value type"));
    free(img);

    memset(&r, 0, sizeof r);
    tb_str(&r, "k");
    tb_u32(&r, 9);
    tb_u32(&r, 4);
    tb_u64(&r, 1ull << 61); /* u32 array longer than the file */
    img = header_only(3, 0, 1, &r, &len);
    CHECK(parse_fails_with(img, len, "array longer than the file"));
    free(img);

    memset(&r, 0, sizeof r);
    tb_str(&r, "k");
    tb_u32(&r, 9);
    for (int d = 0; d < 12; d++) { /* arrays nested 12 deep */
        tb_u32(&r, 9);
        tb_u64(&r, 1);
    }
    tb_u32(&r, 0);
    tb_u64(&r, 0);
    img = header_only(3, 0, 1, &r, &len);
    CHECK(parse_fails_with(img, len, "nested too deep"));
    free(img);

    memset(&r, 0, sizeof r);
    tb_str(&r, "general.alignment");
    tb_u32(&r, 4);
    tb_u32(&r, 24); /* not a power of two */
    img = header_only(3, 0, 1, &r, &len);
    CHECK(parse_fails_with(img, len, "power of two"));
    free(img);

    memset(&r, 0, sizeof r);
    tb_str(&r, "a");
    tb_u32(&r, 4);
    tb_u32(&r, 1);
    tb_str(&r, "a");
    tb_u32(&r, 4);
    tb_u32(&r, 2);
    img = header_only(3, 0, 2, &r, &len);
    CHECK(parse_fails_with(img, len, "duplicate metadata key"));
    free(img);
}

/* A file with one tensor whose info fields are given, data of data_len bytes. */
static uint8_t *one_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data_len,
                           size_t *len)
{
    struct tbuf r = {0};
    tb_str(&r, "t");
    tb_u32(&r, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        tb_u64(&r, ne[d]);
    tb_u32(&r, type);
    tb_u64(&r, offset);
    while ((24 + r.n) % 32)
        tb_put(&r, "", 1);
    uint8_t *zeros = calloc(1, data_len + 1);
    tb_put(&r, zeros, data_len);
    free(zeros);
    return header_only(3, 1, 0, &r, len);
}

void test_model_gguf_bad_tensor_infos_fail(void)
{
    size_t len;
    uint8_t *img;
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    img = one_tensor(2, ne, DT_F32, 0, 256, &len);
    struct gguf g;
    char err[256];
    CHECK_INT(gguf_parse(&g, img, len, "ok.gguf", err, sizeof err), 0);
    gguf_clear(&g);
    free(img);
    img = one_tensor(2, ne, DT_F32, 0, 255, &len);
    CHECK(parse_fails_with(img, len, "tensor 't' needs bytes"));
    free(img);
    img = one_tensor(2, ne, DT_F32, 16, 512, &len);
    CHECK(parse_fails_with(img, len, "not a multiple of the alignment"));
    free(img);
    img = one_tensor(2, ne, DT_F32, 1ull << 63, 256, &len);
    CHECK(parse_fails_with(img, len, "needs bytes"));
    free(img);
    img = one_tensor(2, ne, 7, 0, 256, &len);
    CHECK(parse_fails_with(img, len, "unsupported type 7"));
    free(img);
    img = one_tensor(5, ne, DT_F32, 0, 256, &len);
    CHECK(parse_fails_with(img, len, "5 dims"));
    free(img);
    uint64_t q[2] = {40, 1};
    img = one_tensor(2, q, DT_Q8_0, 0, 256, &len);
    CHECK(parse_fails_with(img, len, "not a multiple of the Q8_0 block"));
    free(img);
    uint64_t huge[4] = {1ull << 40, 1ull << 40, 1ull << 40, 1};
    img = one_tensor(3, huge, DT_F32, 0, 256, &len);
    CHECK(parse_fails_with(img, len, "impossibly large"));
    free(img);
    uint64_t zero[2] = {0, 2};
    img = one_tensor(2, zero, DT_F32, 0, 256, &len);
    CHECK(parse_fails_with(img, len, "bad size 0"));
    free(img);
}

void test_model_gguf_open_missing_file(void)
{
    struct gguf *g;
    char err[256];
    CHECK(gguf_open("tests/out/no-such-file.gguf", &g, err, sizeof err) != 0);
    CHECK(strstr(err, "no-such-file.gguf") != NULL);
}
