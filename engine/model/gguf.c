/* GGUF reader (versions 2 and 3, little-endian): header, metadata of every
 * value type (nested arrays too), tensor infos, alignment, data section.
 * The image is read in place: tensor data pointers point into it. Each read is
 * checked against the image's size first, and counts are checked against the
 * bytes left before anything is allocated for them. */
#include "engine/model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define GGUF_MAX_DEPTH 8   /* nested arrays deeper than this are refused */

struct rd {
    const uint8_t *p;
    size_t size, pos;
    const char *name;
    char *err;
    size_t errlen;
};

static int rd_fail(struct rd *r, const char *what)
{
    snprintf(r->err, r->errlen, "%s: truncated or corrupt GGUF: %s at offset %zu (file size %zu)", r->name, what,
             r->pos, r->size);
    return -1;
}

static int rd_bytes(struct rd *r, void *dst, size_t n, const char *what)
{
    if (n > r->size - r->pos)
        return rd_fail(r, what);
    if (dst)
        memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
    uint8_t b[4];
    if (rd_bytes(r, b, 4, what))
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
    uint32_t lo, hi;
    if (rd_u32(r, &lo, what) || rd_u32(r, &hi, what))
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

/* A string: u64 length + bytes. Returns a NUL-terminated copy in *out when
 * out is given, else only skips. */
static int rd_str(struct rd *r, char **out, const char *what)
{
    uint64_t n;
    if (rd_u64(r, &n, what))
        return -1;
    if (n > r->size - r->pos)
        return rd_fail(r, what);
    if (out) {
        char *s = malloc((size_t)n + 1);
        if (!s) {
            snprintf(r->err, r->errlen, "%s: out of memory reading %s", r->name, what);
            return -1;
        }
        memcpy(s, r->p + r->pos, (size_t)n);
        s[n] = 0;
        *out = s;
    }
    r->pos += (size_t)n;
    return 0;
}

static int scalar_size(uint32_t t)
{
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    }
    return 0;
}

const char *gguf_type_name(enum gguf_type t)
{
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    if ((unsigned)t < sizeof names / sizeof names[0])
        return names[t];
    return "unknown";
}

/* Decodes one scalar of type t stored at p into the kv's i/u/f fields. */
static void scalar_decode(uint32_t t, const uint8_t *p, struct gguf_kv *kv)
{
    uint64_t u = 0;
    int n = scalar_size(t);
    for (int k = 0; k < n; k++)
        u |= (uint64_t)p[k] << (8 * k);
    kv->u = u;
    kv->i = (int64_t)u;
    kv->f = 0;
    switch (t) {
    case GGUF_I8: kv->i = (int8_t)u; break;
    case GGUF_I16: kv->i = (int16_t)u; break;
    case GGUF_I32: kv->i = (int32_t)u; break;
    case GGUF_F32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        kv->f = f;
        break;
    }
    case GGUF_F64: memcpy(&kv->f, &u, 8); break;
    default: break;
    }
    if (t == GGUF_BOOL)
        kv->u = kv->i = (u != 0);
}

/* Skips over an array body (type, count, elements), checking it fits. */
static int skip_array(struct rd *r, int depth)
{
    uint32_t et;
    uint64_t n;
    if (depth > GGUF_MAX_DEPTH)
        return rd_fail(r, "arrays nested too deep");
    if (rd_u32(r, &et, "array element type") || rd_u64(r, &n, "array length"))
        return -1;
    if (et == GGUF_STR) {
        for (uint64_t k = 0; k < n; k++)
            if (rd_str(r, NULL, "array string"))
                return -1;
    } else if (et == GGUF_ARR) {
        for (uint64_t k = 0; k < n; k++)
            if (skip_array(r, depth + 1))
                return -1;
    } else {
        int es = scalar_size(et);
        if (!es)
            return rd_fail(r, "unknown array element type");
        if (n > (r->size - r->pos) / (uint64_t)es)
            return rd_fail(r, "array longer than the file");
        r->pos += (size_t)n * (size_t)es;
    }
    return 0;
}

static int read_kv(struct rd *r, struct gguf_kv *kv)
{
    uint32_t t;
    if (rd_str(r, &kv->key, "metadata key") || rd_u32(r, &t, "metadata value type"))
        return -1;
    kv->type = (enum gguf_type)t;
    if (t == GGUF_STR)
        return rd_str(r, &kv->str, "string value");
    if (t == GGUF_ARR) {
        size_t start = r->pos;
        uint32_t et;
        uint64_t n;
        if (rd_u32(r, &et, "array element type") || rd_u64(r, &n, "array length"))
            return -1;
        kv->arr_type = (enum gguf_type)et;
        kv->arr_n = n;
        kv->arr_data = r->p + r->pos;
        if (et == GGUF_STR) {
            /* each string takes at least its 8-byte length */
            if (n > (r->size - r->pos) / 8)
                return rd_fail(r, "string array longer than the file");
            kv->arr_str = calloc(n ? (size_t)n : 1, sizeof *kv->arr_str);
            if (!kv->arr_str)
                return rd_fail(r, "out of memory for a string array");
            for (uint64_t k = 0; k < n; k++)
                if (rd_str(r, &kv->arr_str[k], "array string"))
                    return -1;
            return 0;
        }
        r->pos = start;
        return skip_array(r, 0);
    }
    int n = scalar_size(t);
    if (!n) {
        snprintf(r->err, r->errlen, "%s: metadata key '%s' has unknown value type %u", r->name, kv->key, t);
        return -1;
    }
    uint8_t b[8];
    if (rd_bytes(r, b, (size_t)n, "metadata value"))
        return -1;
    scalar_decode(t, b, kv);
    return 0;
}

static void kv_free(struct gguf_kv *kv)
{
    free(kv->key);
    free(kv->str);
    if (kv->arr_str) {
        for (uint64_t k = 0; k < kv->arr_n; k++)
            free(kv->arr_str[k]);
        free(kv->arr_str);
    }
}

void gguf_clear(struct gguf *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_kv; i++)
        kv_free(&g->kv[i]);
    free(g->kv);
    for (int i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->tensors);
    if (g->map)
        munmap(g->map, g->size);
    memset(g, 0, sizeof *g);
}

void gguf_close(struct gguf *g)
{
    gguf_clear(g);
    free(g);
}

static int read_tensor_info(struct rd *r, struct gguf_tensor_info *ti)
{
    uint32_t nd, type;
    if (rd_str(r, &ti->name, "tensor name") || rd_u32(r, &nd, "tensor dims"))
        return -1;
    if (nd < 1 || nd > 4) {
        snprintf(r->err, r->errlen, "%s: tensor '%s' has %u dims (1..4 allowed)", r->name, ti->name, nd);
        return -1;
    }
    ti->n_dims = (int)nd;
    for (int d = 0; d < 4; d++)
        ti->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (rd_u64(r, &v, "tensor shape"))
            return -1;
        if (v < 1 || v > (uint64_t)INT64_MAX) {
            snprintf(r->err, r->errlen, "%s: tensor '%s' has bad size %llu in dim %u", r->name, ti->name,
                     (unsigned long long)v, d);
            return -1;
        }
        ti->ne[d] = (int64_t)v;
    }
    if (rd_u32(r, &type, "tensor type") || rd_u64(r, &ti->offset, "tensor offset"))
        return -1;
    ti->type = (int)type;
    int be, bb;
    if (dtype_block((int)type, &be, &bb) != 0) {
        snprintf(r->err, r->errlen, "%s: tensor '%s' has unsupported type %u (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)",
                 r->name, ti->name, type);
        return -1;
    }
    if (ti->ne[0] % be != 0) {
        snprintf(r->err, r->errlen, "%s: tensor '%s': row length %lld is not a multiple of the %s block (%d)", r->name,
                 ti->name, (long long)ti->ne[0], dtype_name((enum dtype)type), be);
        return -1;
    }
    /* rows * row bytes, each step checked against the largest possible file */
    uint64_t bytes = (uint64_t)(ti->ne[0] / be) * (uint64_t)bb;
    for (int d = 1; d < 4; d++) {
        if (bytes != 0 && (uint64_t)ti->ne[d] > (uint64_t)SIZE_MAX / bytes) {
            snprintf(r->err, r->errlen, "%s: tensor '%s' is impossibly large", r->name, ti->name);
            return -1;
        }
        bytes *= (uint64_t)ti->ne[d];
    }
    ti->nbytes = (size_t)bytes;
    return 0;
}

int gguf_parse(struct gguf *g, const void *buf, size_t size, const char *name, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    struct rd r = {buf, size, 0, name, err, errlen};
    uint8_t magic[4];
    uint32_t version;
    uint64_t n_tensors, n_kv;
    if (rd_bytes(&r, magic, 4, "magic"))
        return -1;
    if (memcmp(magic, "GGUF", 4) != 0) {
        snprintf(err, errlen, "%s: not a GGUF file (bad magic)", name);
        return -1;
    }
    if (rd_u32(&r, &version, "version"))
        return -1;
    if (version != 2 && version != 3) {
        snprintf(err, errlen, "%s: GGUF version %u not supported (2 or 3, little-endian)", name, version);
        return -1;
    }
    if (rd_u64(&r, &n_tensors, "tensor count") || rd_u64(&r, &n_kv, "metadata count"))
        return -1;
    /* a kv takes >= 12 bytes (key length + type), a tensor info >= 28 */
    if (n_kv > (size - r.pos) / 12 || n_kv > INT32_MAX) {
        snprintf(err, errlen, "%s: metadata count %llu does not fit in the file", name, (unsigned long long)n_kv);
        return -1;
    }
    if (n_tensors > (size - r.pos) / 28 || n_tensors > INT32_MAX) {
        snprintf(err, errlen, "%s: tensor count %llu does not fit in the file", name, (unsigned long long)n_tensors);
        return -1;
    }
    g->buf = buf;
    g->size = size;
    g->version = version;
    g->alignment = 32;
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto fail;
    }
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int)i + 1;
        if (read_kv(&r, &g->kv[i]))
            goto fail;
        for (uint64_t j = 0; j < i; j++)
            if (strcmp(g->kv[j].key, g->kv[i].key) == 0) {
                snprintf(err, errlen, "%s: duplicate metadata key '%s'", name, g->kv[i].key);
                goto fail;
            }
    }
    const struct gguf_kv *al = gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != GGUF_U32 || al->u == 0 || (al->u & (al->u - 1)) != 0) {
            snprintf(err, errlen, "%s: general.alignment must be a u32 power of two", name);
            goto fail;
        }
        g->alignment = (uint32_t)al->u;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int)i + 1;
        if (read_tensor_info(&r, &g->tensors[i]))
            goto fail;
    }
    size_t pad = (g->alignment - r.pos % g->alignment) % g->alignment;
    g->data_offset = r.pos + pad;
    if (n_tensors > 0 && g->data_offset > size) {
        snprintf(err, errlen, "%s: truncated GGUF: data section starts at %zu, file size %zu", name, g->data_offset,
                 size);
        goto fail;
    }
    size_t data_size = g->data_offset <= size ? size - g->data_offset : 0;
    for (int i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor_info *ti = &g->tensors[i];
        if (ti->offset % g->alignment != 0) {
            snprintf(err, errlen, "%s: tensor '%s' offset %llu is not a multiple of the alignment %u", name, ti->name,
                     (unsigned long long)ti->offset, g->alignment);
            goto fail;
        }
        if (ti->offset > data_size || ti->nbytes > data_size - ti->offset) {
            snprintf(err, errlen,
                     "%s: truncated GGUF: tensor '%s' needs bytes %llu..%llu of the data section, which has %zu", name,
                     ti->name, (unsigned long long)ti->offset, (unsigned long long)ti->offset + ti->nbytes, data_size);
            goto fail;
        }
        ti->data = (const uint8_t *)buf + g->data_offset + ti->offset;
        /* backends read F32/F16 as arrays: a misaligned element would be UB */
        size_t elem_align = ti->type == DT_F32 ? 4 : ti->type == DT_F16 || ti->type == DT_BF16 ? 2 : 1;
        if ((uintptr_t)ti->data % elem_align != 0) {
            snprintf(err, errlen, "%s: tensor '%s' data is misaligned for %s", name, ti->name,
                     dtype_name((enum dtype)ti->type));
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(g->tensors[j].name, ti->name) == 0) {
                snprintf(err, errlen, "%s: duplicate tensor name '%s'", name, ti->name);
                goto fail;
            }
    }
    return 0;
fail:
    g->map = NULL;
    gguf_clear(g);
    return -1;
}

int gguf_open(const char *path, struct gguf **out, char *err, size_t errlen)
{
    void *map;
    size_t size;
    *out = NULL;
    if (model_map_file(path, &map, &size, err, errlen))
        return -1;
    struct gguf *g = calloc(1, sizeof *g);
    if (!g) {
        if (map)
            munmap(map, size);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (gguf_parse(g, map ? map : (const void *)"", size, path, err, errlen)) {
        if (map)
            munmap(map, size);
        free(g);
        return -1;
    }
    g->map = map;
    *out = g;
    return 0;
}

const struct gguf_kv *gguf_find(const struct gguf *g, const char *key)
{
    for (int i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0)
            return &g->kv[i];
    return NULL;
}

const struct gguf_tensor_info *gguf_find_tensor(const struct gguf *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return &g->tensors[i];
    return NULL;
}

static int is_int_type(enum gguf_type t)
{
    return t == GGUF_U8 || t == GGUF_I8 || t == GGUF_U16 || t == GGUF_I16 || t == GGUF_U32 || t == GGUF_I32 ||
           t == GGUF_U64 || t == GGUF_I64 || t == GGUF_BOOL;
}

static int is_signed_type(enum gguf_type t)
{
    return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64;
}

/* An integer kv as (negative?, magnitude-safe signed, unsigned) for range checks. */
static int kv_int_in(const struct gguf_kv *kv, int64_t lo, uint64_t hi, int64_t *v)
{
    if (!is_int_type(kv->type))
        return -1;
    if (is_signed_type(kv->type)) {
        if (kv->i < lo || (kv->i >= 0 && (uint64_t)kv->i > hi))
            return -1;
        *v = kv->i;
        return 1;
    }
    if (kv->u > hi)
        return -1;
    *v = (int64_t)kv->u;
    return 1;
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *v)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    int64_t x;
    if (!kv)
        return 0;
    if (kv_int_in(kv, 0, UINT32_MAX, &x) != 1)
        return -1;
    *v = (uint32_t)x;
    return 1;
}

int gguf_get_i32(const struct gguf *g, const char *key, int32_t *v)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    int64_t x;
    if (!kv)
        return 0;
    if (kv_int_in(kv, INT32_MIN, INT32_MAX, &x) != 1)
        return -1;
    *v = (int32_t)x;
    return 1;
}

int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *v)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return 0;
    if (!is_int_type(kv->type) || (is_signed_type(kv->type) && kv->i < 0))
        return -1;
    *v = kv->u;
    return 1;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *v)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type == GGUF_F32 || kv->type == GGUF_F64)
        *v = (float)kv->f;
    else if (is_int_type(kv->type) && kv->type != GGUF_BOOL)
        *v = is_signed_type(kv->type) ? (float)kv->i : (float)kv->u;
    else
        return -1;
    return 1;
}

int gguf_get_bool(const struct gguf *g, const char *key, int *v)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return 0;
    if (!is_int_type(kv->type))
        return -1;
    *v = kv->u != 0;
    return 1;
}

int gguf_get_str(const struct gguf *g, const char *key, const char **v)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type != GGUF_STR)
        return -1;
    *v = kv->str;
    return 1;
}

int gguf_get_strs(const struct gguf *g, const char *key, char *const **v, int *n)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return 0;
    /* writers give an empty array any element type */
    if (kv->type != GGUF_ARR || (kv->arr_type != GGUF_STR && kv->arr_n != 0) || kv->arr_n > INT32_MAX)
        return -1;
    static char *const none[1] = {NULL};
    *v = kv->arr_str ? kv->arr_str : none;
    *n = (int)kv->arr_n;
    return 1;
}

/* Numeric array elements as double, for the typed copies below. */
static double arr_elem(const struct gguf_kv *kv, uint64_t k)
{
    struct gguf_kv one;
    int es = scalar_size(kv->arr_type);
    scalar_decode(kv->arr_type, kv->arr_data + k * (uint64_t)es, &one);
    if (kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64)
        return one.f;
    return is_signed_type(kv->arr_type) ? (double)one.i : (double)one.u;
}

static int arr_numeric(const struct gguf *g, const char *key, const struct gguf_kv **out)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type != GGUF_ARR || (!scalar_size(kv->arr_type) && kv->arr_n != 0) || kv->arr_n > INT32_MAX)
        return -1;
    *out = kv;
    return 1;
}

int gguf_get_arr_i32(const struct gguf *g, const char *key, int32_t **v, int *n)
{
    const struct gguf_kv *kv;
    int rc = arr_numeric(g, key, &kv);
    if (rc != 1)
        return rc;
    if ((kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64) && kv->arr_n != 0)
        return -1;
    int32_t *a = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *a);
    if (!a)
        return -1;
    for (uint64_t k = 0; k < kv->arr_n; k++) {
        double x = arr_elem(kv, k);
        if (x < INT32_MIN || x > INT32_MAX) {
            free(a);
            return -1;
        }
        a[k] = (int32_t)x;
    }
    *v = a;
    *n = (int)kv->arr_n;
    return 1;
}

int gguf_get_arr_f32(const struct gguf *g, const char *key, float **v, int *n)
{
    const struct gguf_kv *kv;
    int rc = arr_numeric(g, key, &kv);
    if (rc != 1)
        return rc;
    float *a = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *a);
    if (!a)
        return -1;
    for (uint64_t k = 0; k < kv->arr_n; k++)
        a[k] = (float)arr_elem(kv, k);
    *v = a;
    *n = (int)kv->arr_n;
    return 1;
}
