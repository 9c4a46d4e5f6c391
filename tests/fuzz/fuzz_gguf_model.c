/* libFuzzer harness: a whole GGUF model from arbitrary bytes, through
 * model_open's path (config keys, tensor shape checks, the tokenizer built
 * from tokenizer.ggml.*, mask fallbacks); a model that opens has its tensors'
 * first rows dequantized and a short text encoded. */
#include "engine/model/model.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model *m;
    char err[512];
    if (model_open_gguf_memory(data, size, "fuzz.gguf", &m, err, sizeof err) != 0)
        return 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct tensor *t = &m->tensors[i];
        if (t->ne[0] > (1 << 20))
            continue;
        float *row = malloc((size_t)t->ne[0] * sizeof *row);
        if (row)
            tensor_rows_f32(t, 0, 1, row);
        free(row);
    }
    int32_t *ids = NULL;
    int n = 0;
    if (tok_encode(m->tok, "In the beginning <|mdm_mask|> x", 31, m->cfg.add_bos, &ids, &n, err, sizeof err) == 0) {
        char *text = tok_decode(m->tok, ids, n, 0);
        free(text);
        free(ids);
    }
    model_free(m);
    return 0;
}
