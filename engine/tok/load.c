/* engine/tok/load.c: tokenizers from a GGUF vocabulary (tokenizer.ggml.*) and
 * from llama2.c's tokenizer.bin. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tokenizer.ggml.pre -> split; names as llama.cpp's converter writes them. */
static int gguf_pre(const char *pre, enum tok_pre *out)
{
    static const char *const gpt2[] = {"gpt-2", "gpt2", "default", "roberta-bpe", "gpt-neox", NULL};
    static const char *const llama3[] = {"llama-bpe", "llama3", "smaug-bpe", "llada", NULL};
    static const char *const qwen2[] = {"qwen2", "dream", "deepseek-r1-qwen", NULL};
    if (!pre || !*pre) {
        *out = TOK_PRE_GPT2;
        return 0;
    }
    for (int i = 0; gpt2[i]; i++)
        if (!strcmp(pre, gpt2[i])) return *out = TOK_PRE_GPT2, 0;
    for (int i = 0; llama3[i]; i++)
        if (!strcmp(pre, llama3[i])) return *out = TOK_PRE_LLAMA3, 0;
    for (int i = 0; qwen2[i]; i++)
        if (!strcmp(pre, qwen2[i])) return *out = TOK_PRE_QWEN2, 0;
    return -1;
}

/* llama.cpp's BERT vocabulary marks word starts with ▁ and drops "##". */
static char *from_phantom(const char *s, size_t len, int *outlen)
{
    char *o = malloc(len + 3);
    if (!o) return NULL;
    if (len >= 3 && memcmp(s, "\xE2\x96\x81", 3) == 0) {
        memcpy(o, s + 3, len - 3);
        *outlen = (int)len - 3;
    } else {
        memcpy(o, "##", 2);
        memcpy(o + 2, s, len);
        *outlen = (int)len + 2;
    }
    return o;
}

struct tokenizer *tok_load_gguf(const struct tok_gguf_vocab *v, char *err, size_t errlen)
{
    enum tok_kind kind;
    const char *model = v->model ? v->model : "(none)";
    if (!strcmp(model, "gpt2")) kind = TOK_BPE;
    else if (!strcmp(model, "llama")) kind = TOK_SPM;
    else if (!strcmp(model, "bert")) kind = TOK_WORDPIECE;
    else {
        snprintf(err, errlen, "tokenizer.ggml.model '%s' is not supported (gpt2, llama, bert are)", model);
        return NULL;
    }
    if (!v->tokens || v->n_tokens <= 0) {
        snprintf(err, errlen, "tokenizer.ggml.tokens is missing or empty");
        return NULL;
    }
    enum tok_pre pre = TOK_PRE_NONE;
    if (kind == TOK_BPE && gguf_pre(v->pre, &pre)) {
        snprintf(err, errlen, "tokenizer.ggml.pre '%s' is not supported (gpt-2, llama-bpe, qwen2, default are)", v->pre);
        return NULL;
    }
    struct tokenizer *t = tok_alloc(v->n_tokens, err, errlen);
    if (!t) return NULL;
    t->kind = kind;
    t->pre = kind == TOK_WORDPIECE ? TOK_PRE_BERT : pre;
    if (kind == TOK_BPE) t->byte_level = 1;
    if (kind == TOK_SPM) {
        t->byte_fallback = 1;
        t->prefix_space = v->add_space_prefix ? 1 : 0;
        t->decode_strip = t->prefix_space;
    }
    if (kind == TOK_WORDPIECE) {
        strcpy(t->wp_prefix, "##");
        t->wp_cleanup = 1;
        t->bert_clean = t->bert_chinese = t->lowercase = t->strip_accents = 1;
    }
    for (int i = 0; i < v->n_tokens; i++) {
        const char *s = v->tokens[i];
        if (!s) {
            snprintf(err, errlen, "tokenizer.ggml.tokens[%d] is missing", i);
            goto fail;
        }
        size_t len = strlen(s);
        int type = v->types ? v->types[i] : 1, flags = 0, n = 0, b;
        char *conv = NULL;
        switch (type) {
        case 2: flags = TOK_F_SPECIAL; break;               /* unknown */
        case 3: flags = TOK_F_SPECIAL | TOK_F_MATCH; break; /* control */
        case 4: flags = TOK_F_MATCH; break;                 /* user defined */
        case 5: flags = TOK_F_UNUSED; break;
        case 6: flags = TOK_F_BYTE; break;
        default: break;
        }
        if (flags & TOK_F_BYTE) {
            if (!tok_parse_byte_piece(s, &b)) {
                snprintf(err, errlen, "tokenizer.ggml.tokens[%d]: byte token is not <0xXX>", i);
                goto fail;
            }
            conv = malloc(1);
            if (conv) conv[0] = (char)b;
            n = 1;
        } else if (type == 1 || type == 5 || !v->types) {
            if (kind == TOK_BPE) conv = tok_from_byte_level(s, len, &n);
            else if (kind == TOK_SPM) conv = tok_from_metaspace(s, len, &n);
            else if (!(len > 1 && s[0] == '[' && s[len - 1] == ']')) conv = from_phantom(s, len, &n);
        }
        float score = v->scores ? v->scores[i] : 0;
        int rc = conv ? tok_set_piece(t, i, conv, n, score, flags) : tok_set_piece(t, i, s, (int)len, score, flags);
        free(conv);
        if (rc) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (tok_index(t, err, errlen)) goto fail;
    if (kind == TOK_BPE) {
        if (v->n_merges <= 0 || !v->merges) {
            snprintf(err, errlen, "tokenizer.ggml.merges is missing (a gpt2 vocabulary needs it)");
            goto fail;
        }
        for (int r = 0; r < v->n_merges; r++) {
            const char *m = v->merges[r], *sp = m ? strchr(m, ' ') : NULL;
            int la = 0, lb = 0;
            char *a = NULL, *bb = NULL, *ab = NULL;
            if (sp) {
                a = tok_from_byte_level(m, (size_t)(sp - m), &la);
                bb = tok_from_byte_level(sp + 1, strlen(sp + 1), &lb);
            }
            if (a && bb && (ab = malloc((size_t)la + (size_t)lb + 1))) {
                memcpy(ab, a, (size_t)la);
                memcpy(ab + la, bb, (size_t)lb);
            }
            int ia = a ? tok_lookup(t, a, (size_t)la) : -1, ib = bb ? tok_lookup(t, bb, (size_t)lb) : -1;
            int ir = ab ? tok_lookup(t, ab, (size_t)(la + lb)) : -1;
            free(a), free(bb), free(ab);
            if (ia < 0 || ib < 0 || ir < 0) {
                snprintf(err, errlen, "tokenizer.ggml.merges[%d] is not two tokens whose join is a token", r);
                goto fail;
            }
            if (tok_add_merge(t, ia, ib, r, ir)) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
    }
    t->bos_id = v->bos_id, t->eos_id = v->eos_id, t->unk_id = v->unk_id, t->pad_id = v->pad_id;
    t->mask_id = v->mask_id, t->sep_id = v->sep_id, t->cls_id = v->cls_id;
    t->add_bos = v->add_bos;
    if (kind == TOK_WORDPIECE) {
        t->wrap_first = v->cls_id >= 0 ? v->cls_id : v->bos_id;
        t->wrap_last = v->sep_id >= 0 ? v->sep_id : v->eos_id;
    }
    if (tok_finish(t, err, errlen)) goto fail;
    return t;
fail:
    tok_free(t);
    return NULL;
}

struct tokenizer *tok_load_llama2c(const char *path, int vocab_size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct tokenizer *t = tok_alloc(vocab_size, err, errlen);
    char *buf = NULL;
    int32_t max_len;
    if (!t) goto fail_quiet;
    if (fread(&max_len, 4, 1, f) != 1 || max_len <= 0 || max_len > 1 << 20) {
        snprintf(err, errlen, "%s: bad header (max_token_length)", path);
        goto fail;
    }
    buf = malloc((size_t)max_len + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    t->kind = TOK_SPM;
    t->pre = TOK_PRE_NONE;
    t->byte_fallback = 1;
    t->prefix_space = 1;
    t->decode_strip = 1;
    for (int i = 0; i < vocab_size; i++) {
        float score;
        int32_t len;
        if (fread(&score, 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) {
            snprintf(err, errlen, "%s: truncated at token %d of %d", path, i, vocab_size);
            goto fail;
        }
        if (len < 0 || len > max_len) {
            snprintf(err, errlen, "%s: token %d has length %d (max %d)", path, i, len, max_len);
            goto fail;
        }
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
            snprintf(err, errlen, "%s: truncated in token %d", path, i);
            goto fail;
        }
        buf[len] = 0;
        int flags = i < 3 ? TOK_F_SPECIAL : 0, b, n = len;
        char *conv = NULL;
        if (tok_parse_byte_piece(buf, &b)) {
            flags = TOK_F_BYTE;
            buf[0] = (char)b;
            n = 1;
        } else
            conv = tok_from_metaspace(buf, (size_t)len, &n);
        int rc = tok_set_piece(t, i, conv ? conv : buf, n, score, flags);
        free(conv);
        if (rc) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    /* llama2.c's fixed ids */
    t->unk_id = 0, t->bos_id = 1, t->eos_id = 2;
    t->add_bos = 1;
    if (tok_finish(t, err, errlen)) goto fail;
    free(buf);
    fclose(f);
    return t;
fail:
    tok_free(t);
fail_quiet:
    free(buf);
    fclose(f);
    return NULL;
}
