/* engine/tok/encode.c: text to ids. Added tokens are cut out of the input
 * first (leftmost, longest first); each text segment between them is
 * normalized, split by the pre-tokenizer and handed word by word to the
 * model (BPE, SentencePiece BPE or WordPiece). */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct enc {
    const struct tokenizer *t;
    struct tok_ids *out;
};

static int word_cb(void *ctx, const char *s, size_t a, size_t b)
{
    struct enc *e = ctx;
    if (e->t->kind == TOK_WORDPIECE) return tok_wordpiece_word(e->t, s + a, b - a, e->out);
    return tok_bpe_word(e->t, s + a, b - a, e->out);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static int encode_segment(const struct tokenizer *t, const char *s, size_t len, struct tok_ids *out)
{
    if (len == 0) return 0;
    char *buf = NULL, *norm = NULL;
    const char *p = s;
    size_t n = len;
    if (t->prefix_space == 1 || (t->prefix_space == 2 && s[0] != ' ')) {
        buf = malloc(len + 1);
        if (!buf) return -1;
        buf[0] = ' ';
        memcpy(buf + 1, s, len);
        p = buf, n = len + 1;
    }
    if (t->nfc || t->lowercase || t->strip_accents || t->bert_clean || t->bert_chinese) {
        norm = tok_normalize(t, p, n, &n);
        if (!norm) {
            free(buf);
            return -1;
        }
        p = norm;
    }
    struct enc e = {t, out};
    int rc = tok_pretok(t->pre, p, n, word_cb, &e);
    free(buf);
    free(norm);
    return rc;
}

int tok_encode(const struct tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids, int *n,
               char *err, size_t errlen)
{
    struct tok_ids out = {0};
    *ids = NULL;
    *n = 0;
    if (!t) {
        snprintf(err, errlen, "no tokenizer");
        return -1;
    }
    if (len > 0x7fffffff) {
        snprintf(err, errlen, "text too long to tokenize (%zu bytes)", len);
        return -1;
    }
    int wrap = add_bos && t->add_bos;
    int first = t->wrap_first >= 0 ? t->wrap_first : t->bos_id;
    if (wrap && first >= 0 && tok_ids_push(&out, first)) goto oom;
    uint8_t lead[256] = {0};
    for (int i = 0; i < t->n_match; i++) lead[(unsigned char)t->pieces[t->match[i]].text[0]] = 1;
    size_t seg = 0, i = 0;
    while (i < len) {
        int hit = -1;
        if (lead[(unsigned char)text[i]])
            for (int k = 0; k < t->n_match; k++) {
                const struct tok_piece *p = &t->pieces[t->match[k]];
                if ((size_t)p->len <= len - i && memcmp(text + i, p->text, (size_t)p->len) == 0) {
                    hit = t->match[k];
                    break;
                }
            }
        if (hit < 0) {
            i++;
            continue;
        }
        const struct tok_piece *p = &t->pieces[hit];
        size_t end = i;
        if (p->flags & TOK_F_LSTRIP)
            while (end > seg && is_ws(text[end - 1])) end--;
        if (encode_segment(t, text + seg, end - seg, &out) || tok_ids_push(&out, hit)) goto oom;
        i += (size_t)p->len;
        if (p->flags & TOK_F_RSTRIP)
            while (i < len && is_ws(text[i])) i++;
        seg = i;
    }
    if (encode_segment(t, text + seg, len - seg, &out)) goto oom;
    if (wrap && t->wrap_last >= 0 && tok_ids_push(&out, t->wrap_last)) goto oom;
    *ids = out.v;
    *n = out.n;
    if (!out.v) *ids = calloc(1, sizeof **ids);
    return *ids ? 0 : -1;
oom:
    free(out.v);
    snprintf(err, errlen, "tokenizer: out of memory");
    return -1;
}
