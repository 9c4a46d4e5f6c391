/* engine/tok/norm.c: normalizers applied to a text segment before it is split:
 * NFC (Qwen2) and BERT's (clean text, spaced CJK, accents, lowercase).
 * Bytes that are not UTF-8 pass through untouched: byte-level models encode
 * them as they are. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdlib.h>
#include <string.h>

/* Code points above Unicode carry a raw (ill-formed) byte through. */
#define RAW_BYTE 0x110000u

struct cpbuf {
    uint32_t *v;
    size_t n, cap;
};

static int cp_push(struct cpbuf *b, uint32_t c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        uint32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) return -1;
        b->v = v, b->cap = cap;
    }
    b->v[b->n++] = c;
    return 0;
}

static int is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Canonical decomposition of every character, then canonical order. */
static int decompose_all(const struct cpbuf *in, struct cpbuf *out)
{
    uint32_t tmp[32];
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        int k = c >= RAW_BYTE ? (tmp[0] = c, 1) : uni_decompose(c, tmp, 32);
        for (int j = 0; j < k; j++)
            if (cp_push(out, tmp[j])) return -1;
    }
    /* stable insertion sort of each run of non-starters by combining class */
    for (size_t i = 1; i < out->n; i++) {
        uint32_t c = out->v[i];
        int cc = c >= RAW_BYTE ? 0 : uni_ccc(c);
        if (!cc) continue;
        size_t j = i;
        while (j > 0) {
            uint32_t p = out->v[j - 1];
            int pc = p >= RAW_BYTE ? 0 : uni_ccc(p);
            if (pc <= cc) break;
            out->v[j] = p;
            j--;
        }
        out->v[j] = c;
    }
    return 0;
}

static void compose_all(struct cpbuf *b)
{
    if (!b->n) return;
    size_t o = 1;
    long starter = (b->v[0] < RAW_BYTE && uni_ccc(b->v[0]) == 0) ? 0 : -1;
    int last_cc = -1; /* -1: the starter is the last character kept */
    if (starter < 0) last_cc = 256;
    for (size_t i = 1; i < b->n; i++) {
        uint32_t c = b->v[i];
        int cc = c >= RAW_BYTE ? 0 : uni_ccc(c);
        if (starter >= 0 && c < RAW_BYTE && (last_cc == -1 || (last_cc != 0 && last_cc < cc))) {
            uint32_t m = uni_compose(b->v[starter], c);
            if (m) {
                b->v[starter] = m;
                continue;
            }
        }
        if (cc == 0) {
            starter = c >= RAW_BYTE ? -1 : (long)o;
            last_cc = c >= RAW_BYTE ? 256 : -1;
        } else
            last_cc = cc;
        b->v[o++] = c;
    }
    b->n = o;
}

char *tok_normalize(const struct tokenizer *t, const char *s, size_t len, size_t *outlen)
{
    struct cpbuf a = {0}, d = {0};
    char *out = NULL;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t at = i;
        if (!utf8_next(s, len, &i, &c)) c = RAW_BYTE + (unsigned char)s[at];
        if (t->bert_clean) {
            if (c == 0 || c == 0xFFFD || c >= RAW_BYTE) continue;
            if (uni_is_space(c)) c = ' ';
            else if (uni_is_control(c)) continue;
        }
        if (t->bert_chinese && is_cjk(c)) {
            if (cp_push(&a, ' ') || cp_push(&a, c) || cp_push(&a, ' ')) goto fail;
            continue;
        }
        if (cp_push(&a, c)) goto fail;
    }
    if (t->strip_accents || t->nfc) {
        if (decompose_all(&a, &d)) goto fail;
        free(a.v);
        a = d;
        d.v = NULL;
        if (t->strip_accents) {
            size_t o = 0;
            for (size_t i = 0; i < a.n; i++)
                if (a.v[i] >= RAW_BYTE || !uni_is_mark_nonspacing(a.v[i])) a.v[o++] = a.v[i];
            a.n = o;
        }
    }
    if (t->lowercase)
        for (size_t i = 0; i < a.n; i++)
            if (a.v[i] < RAW_BYTE) a.v[i] = uni_lower(a.v[i]);
    if (t->nfc) compose_all(&a);
    out = malloc(a.n * 4 + 1);
    if (!out) goto fail;
    size_t o = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (a.v[i] >= RAW_BYTE) out[o++] = (char)(a.v[i] - RAW_BYTE);
        else o += (size_t)utf8_put(a.v[i], out + o);
    }
    out[o] = 0;
    *outlen = o;
fail:
    free(a.v);
    free(d.v);
    return out;
}
