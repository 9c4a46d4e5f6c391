/* libFuzzer harness: the GGUF reader on arbitrary bytes. A parse that
 * succeeds is then walked: every getter on every key, and the first and last
 * row of every tensor dequantized, so any size the reader let through is
 * exercised against the buffer. */
#include "engine/model/model.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf g;
    char err[256];
    if (gguf_parse(&g, data, size, "fuzz.gguf", err, sizeof err) != 0)
        return 0;
    for (int i = 0; i < g.n_kv; i++) {
        const char *key = g.kv[i].key;
        uint32_t u;
        int32_t s;
        uint64_t u64;
        float f;
        int b, n;
        const char *str;
        char *const *strs;
        int32_t *iv = NULL;
        float *fv = NULL;
        gguf_get_u32(&g, key, &u);
        gguf_get_i32(&g, key, &s);
        gguf_get_u64(&g, key, &u64);
        gguf_get_f32(&g, key, &f);
        gguf_get_bool(&g, key, &b);
        if (gguf_get_str(&g, key, &str) == 1)
            (void)strlen(str);
        if (gguf_get_strs(&g, key, &strs, &n) == 1)
            for (int k = 0; k < n; k++)
                (void)strlen(strs[k]);
        if (gguf_get_arr_i32(&g, key, &iv, &n) == 1)
            free(iv);
        if (gguf_get_arr_f32(&g, key, &fv, &n) == 1)
            free(fv);
    }
    for (int i = 0; i < g.n_tensors; i++) {
        const struct gguf_tensor_info *ti = &g.tensors[i];
        struct tensor t = {ti->name, (enum dtype)ti->type, ti->n_dims,
                           {ti->ne[0], ti->ne[1], ti->ne[2], ti->ne[3]}, ti->data, ti->nbytes};
        if (t.ne[0] > (1 << 20))
            continue;
        float *row = malloc((size_t)t.ne[0] * sizeof *row);
        if (!row)
            continue;
        int64_t rows = t.ne[1] * t.ne[2] * t.ne[3];
        tensor_rows_f32(&t, 0, 1, row);
        tensor_rows_f32(&t, rows - 1, 1, row);
        free(row);
    }
    gguf_clear(&g);
    return 0;
}
