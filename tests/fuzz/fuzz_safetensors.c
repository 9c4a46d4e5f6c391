/* libFuzzer harness: the safetensors header reader on arbitrary bytes; each
 * tensor it accepts has its first and last row dequantized. */
#include "engine/model/model.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_file f;
    char err[256];
    if (st_parse(&f, data, size, "fuzz.safetensors", err, sizeof err) != 0)
        return 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const struct st_tensor *s = &f.tensors[i];
        struct tensor t = {s->name, s->type, s->n_dims, {s->ne[0], s->ne[1], s->ne[2], s->ne[3]}, s->data,
                           s->nbytes};
        if (t.ne[0] > (1 << 20))
            continue;
        float *row = malloc((size_t)t.ne[0] * sizeof *row);
        if (!row)
            continue;
        tensor_rows_f32(&t, 0, 1, row);
        tensor_rows_f32(&t, t.ne[1] * t.ne[2] * t.ne[3] - 1, 1, row);
        free(row);
    }
    st_clear(&f);
    return 0;
}
