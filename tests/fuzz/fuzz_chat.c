/* libFuzzer: chat template recognition and rendering. The input is split at
 * NUL bytes: the first piece is a model's template text, the rest are
 * (role, content) pairs. Detection, the default system message, the override
 * rules and rendering in every family (then encoding the result with the
 * default model's tokenizer) must never crash, leak or read out of bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/tok/tok.h"

static struct tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FILE *f = fopen("models/dllm-kjv.tokenizer.json", "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        char err[256];
        tok = tok_load_json(buf, (size_t)n, err, sizeof err);
    }
    free(buf);
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* pieces at NUL bytes; the last one ends at the added terminator */
    const char *piece[33];
    int n = 0;
    piece[n++] = text;
    for (size_t i = 0; i < size && n < 33; i++)
        if (text[i] == '\0')
            piece[n++] = text + i + 1;

    const char *tpl = piece[0];
    enum chat_family fam = chat_detect(tpl);
    (void)chat_family_name(fam);
    char *sys = chat_default_system(tpl);
    char err[256];
    enum chat_family out;
    static const char *const overrides[] = {NULL, "llama3", "chatml", "none", "jinja"};
    for (size_t k = 0; k < sizeof overrides / sizeof overrides[0]; k++)
        (void)chat_resolve(tpl, overrides[k], "chat_template", &out, err, sizeof err);

    struct chat_msg msgs[16];
    int n_msgs = 0;
    for (int i = 1; i + 1 < n && n_msgs < 16; i += 2) {
        msgs[n_msgs].role = piece[i];
        msgs[n_msgs].content = piece[i + 1];
        n_msgs++;
    }
    static const enum chat_family fams[] = {CHAT_NONE, CHAT_LLAMA3, CHAT_CHATML};
    for (size_t k = 0; k < sizeof fams / sizeof fams[0]; k++) {
        char *r = chat_render_sys(fams[k], tok, msgs, n_msgs, sys);
        if (r && tok) {
            int32_t *ids = NULL;
            int n_ids = 0;
            if (tok_encode(tok, r, strlen(r), 0, &ids, &n_ids, err, sizeof err) == 0) {
                char *back = tok_decode(tok, ids, n_ids, 0);
                free(back);
            }
            free(ids);
        }
        free(r);
        r = chat_render(fams[k], tok, msgs, n_msgs);
        free(r);
    }
    free(sys);
    free(text);
    return 0;
}
