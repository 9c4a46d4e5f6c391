/* engine/tok/tok.h: the tokenizer room's door inside the engine: how the
 * model loaders build a tokenizer. Encoding, decoding and chat templates for
 * everyone else are declared in engine/engine.h. */
#ifndef DLLM_TOK_H
#define DLLM_TOK_H

#include "engine/engine.h"

/* A vocabulary as GGUF stores it (tokenizer.ggml.*). */
struct tok_gguf_vocab {
    const char *model;            /* tokenizer.ggml.model: "gpt2", "llama", "bert", ... */
    const char *pre;              /* tokenizer.ggml.pre, or NULL */
    int n_tokens;
    const char *const *tokens;    /* n_tokens strings (NUL-terminated) */
    const float *scores;          /* n_tokens, or NULL */
    const int32_t *types;         /* n_tokens (1 normal, 2 unknown, 3 control, 4 user, 6 byte), or NULL */
    int n_merges;
    const char *const *merges;    /* "a b" strings, rank order */
    int bos_id, eos_id, unk_id, pad_id, mask_id, sep_id, cls_id; /* -1 if absent */
    int add_bos;
    int add_space_prefix;         /* SentencePiece: prepend a space (default 1) */
};

struct tokenizer *tok_load_gguf(const struct tok_gguf_vocab *v, char *err, size_t errlen);
/* tokenizer.json text (Hugging Face tokenizers format). */
struct tokenizer *tok_load_json(const char *json, size_t len, char *err, size_t errlen);
/* llama2.c tokenizer.bin for a model of vocab_size tokens. */
struct tokenizer *tok_load_llama2c(const char *path, int vocab_size, char *err, size_t errlen);
void tok_free(struct tokenizer *t);

#endif
