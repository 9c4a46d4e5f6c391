/* safetensors reader: u64 header length, a JSON header mapping each tensor
 * name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the
 * end of the header), then the data. Tensors are kept by reference. */
#include "engine/model/model.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void st_clear(struct st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    if (f->map)
        munmap(f->map, f->size);
    memset(f, 0, sizeof *f);
}

static int parse_dtype(const char *s, enum dtype *t, int *size)
{
    if (strcmp(s, "F32") == 0) {
        *t = DT_F32;
        *size = 4;
    } else if (strcmp(s, "F16") == 0) {
        *t = DT_F16;
        *size = 2;
    } else if (strcmp(s, "BF16") == 0) {
        *t = DT_BF16;
        *size = 2;
    } else {
        return -1;
    }
    return 0;
}

/* A JSON number that is a non-negative integer representable exactly. */
static int json_u64(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
        return -1;
    *v = (uint64_t)d;
    return 0;
}

static int read_entry(struct st_file *f, const cJSON *e, size_t data_start, const char *name, char *err,
                      size_t errlen)
{
    struct st_tensor *t = &f->tensors[f->n_tensors];
    const char *tn = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2) {
        snprintf(err, errlen, "%s: tensor '%s': header entry needs dtype, shape and data_offsets [begin, end]", name,
                 tn);
        return -1;
    }
    int esize;
    if (parse_dtype(dt->valuestring, &t->type, &esize)) {
        snprintf(err, errlen, "%s: tensor '%s' has dtype %s (supported: F32, F16, BF16)", name, tn, dt->valuestring);
        return -1;
    }
    int nd = cJSON_GetArraySize(shape);
    if (nd > 4) {
        snprintf(err, errlen, "%s: tensor '%s' has %d dims (at most 4)", name, tn, nd);
        return -1;
    }
    for (int d = 0; d < 4; d++)
        t->ne[d] = 1;
    /* shape is outermost first; ne[0] is the innermost */
    uint64_t count = 1;
    int d = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, shape)
    {
        uint64_t v;
        if (json_u64(x, &v) || v == 0 || v > (uint64_t)INT64_MAX) {
            snprintf(err, errlen, "%s: tensor '%s' has a bad shape entry", name, tn);
            return -1;
        }
        if (v > (uint64_t)SIZE_MAX / count) {
            snprintf(err, errlen, "%s: tensor '%s' is impossibly large", name, tn);
            return -1;
        }
        count *= v;
        t->ne[nd - 1 - d] = (int64_t)v;
        d++;
    }
    t->n_dims = nd > 0 ? nd : 1;
    uint64_t b, e_;
    if (json_u64(cJSON_GetArrayItem(offs, 0), &b) || json_u64(cJSON_GetArrayItem(offs, 1), &e_) || e_ < b) {
        snprintf(err, errlen, "%s: tensor '%s' has bad data_offsets", name, tn);
        return -1;
    }
    size_t data_size = f->size - data_start;
    if (e_ > data_size) {
        snprintf(err, errlen, "%s: truncated safetensors: tensor '%s' ends at byte %llu of %zu data bytes", name, tn,
                 (unsigned long long)e_, data_size);
        return -1;
    }
    if (count > (uint64_t)SIZE_MAX / (uint64_t)esize || e_ - b != count * (uint64_t)esize) {
        snprintf(err, errlen, "%s: tensor '%s': %llu bytes of data for %llu %s values", name, tn,
                 (unsigned long long)(e_ - b), (unsigned long long)count, dt->valuestring);
        return -1;
    }
    t->data = f->buf + data_start + b;
    t->nbytes = (size_t)(e_ - b);
    t->name = strdup(tn);
    if (!t->name) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    f->n_tensors++;
    return 0;
}

int st_parse(struct st_file *f, const void *buf, size_t size, const char *name, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    const uint8_t *p = buf;
    if (size < 8) {
        snprintf(err, errlen, "%s: truncated safetensors: %zu bytes, no header length", name, size);
        return -1;
    }
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++)
        hlen |= (uint64_t)p[k] << (8 * k);
    if (hlen > size - 8) {
        snprintf(err, errlen, "%s: truncated safetensors: header of %llu bytes, file has %zu", name,
                 (unsigned long long)hlen, size);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: safetensors header is not a JSON object", name);
        cJSON_Delete(root);
        return -1;
    }
    f->buf = p;
    f->size = size;
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc(n > 0 ? (size_t)n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto fail;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        if (read_entry(f, e, 8 + (size_t)hlen, name, err, errlen))
            goto fail;
        for (int j = 0; j < f->n_tensors - 1; j++)
            if (strcmp(f->tensors[j].name, e->string) == 0) {
                snprintf(err, errlen, "%s: duplicate tensor name '%s'", name, e->string);
                goto fail;
            }
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    st_clear(f);
    return -1;
}

int st_open(const char *path, struct st_file *f, char *err, size_t errlen)
{
    void *map;
    size_t size;
    memset(f, 0, sizeof *f);
    if (model_map_file(path, &map, &size, err, errlen))
        return -1;
    if (st_parse(f, map ? map : (const void *)"", size, path, err, errlen)) {
        if (map)
            munmap(map, size);
        return -1;
    }
    f->map = map;
    return 0;
}
