/* libFuzzer target: tokenizer.json loading, then encoding and decoding.
 * The input is a tokenizer.json, optionally followed by a NUL byte and a text
 * to encode with it (a fixed text otherwise). Whatever loads must encode,
 * decode and stream-decode without a crash, a leak or an out-of-range id. */
#include "engine/engine.h"
#include "engine/tok/tok.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void exercise(const struct tokenizer *t, const char *text, size_t len)
{
    int32_t *ids;
    int n;
    char err[256];
    for (int bos = 0; bos < 2; bos++) {
        if (tok_encode(t, text, len, bos, &ids, &n, err, sizeof err)) continue;
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= tok_vocab_size(t)) abort();
        free(tok_decode(t, ids, n, bos));
        struct tok_stream *s = tok_stream_new(t, bos);
        for (int i = 0; s && i < n; i++) free(tok_stream_push(s, &ids[i], 1));
        free(tok_stream_flush(s));
        tok_stream_free(s);
        free(ids);
    }
    char *z = malloc(len + 1); /* chat contents are C strings */
    if (!z) return;
    memcpy(z, text, len);
    z[len] = 0;
    struct chat_msg m[2] = {{"system", z}, {"user", "hi"}};
    free(chat_render(CHAT_LLAMA3, t, m, 2));
    free(chat_render(CHAT_CHATML, t, m, 2));
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char fixed[] = " Hello, world! it's 1234 日本 e\xcc\x81 \xf0\x9f\x98\x80\n\n  x";
    const char *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - (const char *)data) : size;
    char err[256];
    struct tokenizer *t = tok_load_json((const char *)data, jlen, err, sizeof err);
    if (!t) return 0;
    if (nul) exercise(t, nul + 1, size - jlen - 1);
    else exercise(t, fixed, sizeof fixed - 1);
    tok_free(t);
    return 0;
}
