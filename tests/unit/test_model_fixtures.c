/* Fixture writers for the model-file tests: a GGUF v3 writer, a safetensors
 * writer and small tokenizer vocabularies, all in memory, written from the
 * format descriptions (independently of the readers under test). The test
 * files declare what they use of these at their top. */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tbuf {
    uint8_t *p;
    size_t n, cap;
};

void tb_put(struct tbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort(); /* test fixture: out of memory is not a case under test */
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

void tb_u32(struct tbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tb_put(b, x, 4);
}

void tb_u64(struct tbuf *b, uint64_t v)
{
    tb_u32(b, (uint32_t)v);
    tb_u32(b, (uint32_t)(v >> 32));
}

void tb_str(struct tbuf *b, const char *s)
{
    tb_u64(b, strlen(s));
    tb_put(b, s, strlen(s));
}

/* ------------------------------------------------------------ GGUF writer */

struct gw {
    struct tbuf kv, ti, data;
    uint64_t n_kv, n_t;
    uint32_t align;
};

void gw_init(struct gw *w, uint32_t align)
{
    memset(w, 0, sizeof *w);
    w->align = align ? align : 32;
    if (align) {
        tb_str(&w->kv, "general.alignment");
        tb_u32(&w->kv, 4);
        tb_u32(&w->kv, align);
        w->n_kv++;
    }
}

void gw_key(struct gw *w, const char *key, uint32_t type)
{
    tb_str(&w->kv, key);
    tb_u32(&w->kv, type);
    w->n_kv++;
}

void gw_u32(struct gw *w, const char *key, uint32_t v) { gw_key(w, key, 4); tb_u32(&w->kv, v); }
void gw_i32(struct gw *w, const char *key, int32_t v) { gw_key(w, key, 5); tb_u32(&w->kv, (uint32_t)v); }
void gw_f32(struct gw *w, const char *key, float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    gw_key(w, key, 6);
    tb_u32(&w->kv, b);
}
void gw_bool(struct gw *w, const char *key, int v)
{
    uint8_t x = (uint8_t)(v != 0);
    gw_key(w, key, 7);
    tb_put(&w->kv, &x, 1);
}
void gw_str(struct gw *w, const char *key, const char *v) { gw_key(w, key, 8); tb_str(&w->kv, v); }
void gw_strs(struct gw *w, const char *key, const char *const *v, int n)
{
    gw_key(w, key, 9);
    tb_u32(&w->kv, 8);
    tb_u64(&w->kv, (uint64_t)n);
    for (int i = 0; i < n; i++)
        tb_str(&w->kv, v[i]);
}
void gw_arr_f32(struct gw *w, const char *key, const float *v, int n)
{
    gw_key(w, key, 9);
    tb_u32(&w->kv, 6);
    tb_u64(&w->kv, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        tb_u32(&w->kv, b);
    }
}
void gw_arr_i32(struct gw *w, const char *key, const int32_t *v, int n)
{
    gw_key(w, key, 9);
    tb_u32(&w->kv, 5);
    tb_u64(&w->kv, (uint64_t)n);
    for (int i = 0; i < n; i++)
        tb_u32(&w->kv, (uint32_t)v[i]);
}

void gw_tensor(struct gw *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data,
               size_t nbytes)
{
    tb_str(&w->ti, name);
    tb_u32(&w->ti, (uint32_t)n_dims);
    for (int d = 0; d < n_dims; d++)
        tb_u64(&w->ti, (uint64_t)ne[d]);
    tb_u32(&w->ti, (uint32_t)type);
    tb_u64(&w->ti, w->data.n);
    tb_put(&w->data, data, nbytes);
    static const uint8_t zero[256];
    size_t pad = (w->align - w->data.n % w->align) % w->align;
    while (pad) {
        size_t k = pad < sizeof zero ? pad : sizeof zero;
        tb_put(&w->data, zero, k);
        pad -= k;
    }
    w->n_t++;
}

/* The whole file image; frees the writer's parts. */
uint8_t *gw_finish(struct gw *w, size_t *len)
{
    struct tbuf out = {0};
    tb_put(&out, "GGUF", 4);
    tb_u32(&out, 3);
    tb_u64(&out, w->n_t);
    tb_u64(&out, w->n_kv);
    tb_put(&out, w->kv.p, w->kv.n);
    tb_put(&out, w->ti.p, w->ti.n);
    static const uint8_t zero[256];
    size_t pad = (w->align - out.n % w->align) % w->align;
    while (pad) {
        size_t k = pad < sizeof zero ? pad : sizeof zero;
        tb_put(&out, zero, k);
        pad -= k;
    }
    tb_put(&out, w->data.p, w->data.n);
    free(w->kv.p);
    free(w->ti.p);
    free(w->data.p);
    memset(w, 0, sizeof *w);
    *len = out.n;
    return out.p;
}

int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    return (fclose(f) == 0 && put == len) ? 0 : -1;
}

int write_text(const char *path, const char *text)
{
    return write_file(path, text, strlen(text));
}

/* tests/out/<name>, created fresh */
const char *out_path(char *buf, size_t len, const char *name)
{
    mkdir("tests/out", 0755);
    snprintf(buf, len, "tests/out/%s", name);
    return buf;
}

/* ------------------------------------------------------ f16 / bf16 encode */

/* float -> IEEE half, round to nearest even (normal and subnormal range). */
uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff)
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - exp;
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++;
    return (uint16_t)half;
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* ------------------------------------------------------ byte-level vocab */

/* GPT-2's byte -> printable character table, as UTF-8: printable Latin-1
 * bytes stand for themselves, the others map to U+0100 + n in byte order. */
void gpt2_byte_token(int byte, char out[4])
{
    int n = 0, cp = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        int c = printable ? b : 256 + n++;
        if (b == byte)
            cp = c;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = 0;
    }
}

/* ------------------------------------------------------ safetensors writer */

struct sw {
    struct tbuf hdr, data;
    int n;
};

void sw_init(struct sw *w)
{
    memset(w, 0, sizeof *w);
    tb_put(&w->hdr, "{\"__metadata__\":{\"format\":\"pt\"}", 31);
}

/* shape outermost first, as safetensors stores it */
void sw_tensor(struct sw *w, const char *name, const char *dtype, int n_dims, const int64_t *shape, const void *data,
               size_t nbytes)
{
    char e[512];
    int k = snprintf(e, sizeof e, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", name, dtype);
    for (int d = 0; d < n_dims; d++)
        k += snprintf(e + k, sizeof e - (size_t)k, "%s%lld", d ? "," : "", (long long)shape[d]);
    snprintf(e + k, sizeof e - (size_t)k, "],\"data_offsets\":[%zu,%zu]}", w->data.n, w->data.n + nbytes);
    tb_put(&w->hdr, e, strlen(e));
    tb_put(&w->data, data, nbytes);
    w->n++;
}

/* pad: header padded with spaces to a multiple of 8 (as the safetensors
 * library writes it); 0 leaves it unpadded. */
uint8_t *sw_finish(struct sw *w, int pad, size_t *len)
{
    tb_put(&w->hdr, "}", 1);
    while (pad && w->hdr.n % 8)
        tb_put(&w->hdr, " ", 1);
    struct tbuf out = {0};
    tb_u64(&out, w->hdr.n);
    tb_put(&out, w->hdr.p, w->hdr.n);
    tb_put(&out, w->data.p, w->data.n);
    free(w->hdr.p);
    free(w->data.p);
    memset(w, 0, sizeof *w);
    *len = out.n;
    return out.p;
}
