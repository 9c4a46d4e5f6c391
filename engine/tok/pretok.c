/* engine/tok/pretok.c: the pre-tokenizer splits, written out by hand.
 *
 * GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Qwen2:   as Llama 3 with \p{N} (one digit at a time).
 * BERT:    white space splits and is dropped; each punctuation mark stands alone.
 *
 * Each alternative is tried in order at the current character, as a
 * backtracking regex engine does; \s is Unicode White_Space. A byte that is
 * not UTF-8 counts as one character of no class (neither letter, number nor
 * space). */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdlib.h>

enum { C_L = 1, C_N = 2, C_S = 4, C_NL = 8, C_SP = 16 };

struct chars {
    uint8_t *cls;
    uint32_t *off; /* byte offset of each character, off[n] = len */
    uint32_t *cp;
    size_t n;
};

static int classify(const char *s, size_t len, struct chars *c)
{
    c->cls = malloc(len + 1);
    c->off = malloc((len + 1) * sizeof *c->off);
    c->cp = malloc((len + 1) * sizeof *c->cp);
    if (!c->cls || !c->off || !c->cp) return -1;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        c->off[n] = (uint32_t)i;
        int ok = utf8_next(s, len, &i, &cp);
        uint8_t k = 0;
        if (ok) {
            if (cp < 0x80) {
                if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') k = C_L;
                else if (cp >= '0' && cp <= '9') k = C_N;
                else if (cp == ' ') k = C_S | C_SP;
                else if (cp == '\r' || cp == '\n') k = C_S | C_NL;
                else if (cp >= 9 && cp <= 13) k = C_S;
            } else if (uni_is_letter(cp)) k = C_L;
            else if (uni_is_number(cp)) k = C_N;
            else if (uni_is_space(cp)) k = C_S;
        } else
            cp = 0xFFFD;
        c->cls[n] = k;
        c->cp[n] = cp;
        n++;
    }
    c->off[n] = (uint32_t)len;
    c->cls[n] = 0;
    c->n = n;
    return 0;
}

static int lower_ascii(uint32_t c) { return (c >= 'A' && c <= 'Z') ? (int)c + 32 : (int)c; }

/* 's 't 're 've 'm 'll 'd at k; returns the end or 0. */
static size_t contraction(const struct chars *c, size_t k, int icase)
{
    if (c->cp[k] != '\'' || k + 1 >= c->n) return 0;
    int a = (int)c->cp[k + 1], b = k + 2 < c->n ? (int)c->cp[k + 2] : 0;
    if (icase) a = lower_ascii((uint32_t)a), b = lower_ascii((uint32_t)b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return k + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return k + 3;
    return 0;
}

static int other(uint8_t k) { return !(k & (C_L | C_N | C_S)); }

static size_t space_run(const struct chars *c, size_t k)
{
    size_t e = k;
    while (e < c->n && c->cls[e] & C_S) e++;
    return e;
}

/* \s+(?!\S) then \s+ */
static size_t spaces(const struct chars *c, size_t k)
{
    size_t e = space_run(c, k);
    if (e < c->n && e - k >= 2) return e - 1;
    return e;
}

static size_t match_gpt2(const struct chars *c, size_t k)
{
    size_t e = contraction(c, k, 0);
    if (e) return e;
    size_t j = k + (c->cls[k] & C_SP ? 1 : 0);
    if (j < c->n && c->cls[j] & C_L) {
        while (j < c->n && c->cls[j] & C_L) j++;
        return j;
    }
    if (j < c->n && c->cls[j] & C_N) {
        while (j < c->n && c->cls[j] & C_N) j++;
        return j;
    }
    if (j < c->n && other(c->cls[j])) {
        while (j < c->n && other(c->cls[j])) j++;
        return j;
    }
    return spaces(c, k);
}

static size_t match_llama3(const struct chars *c, size_t k, int max_digits)
{
    size_t e = contraction(c, k, 1);
    if (e) return e;
    uint8_t k0 = c->cls[k];
    size_t j = k;
    if (!(k0 & (C_NL | C_L | C_N))) j++;
    if (j < c->n && c->cls[j] & C_L) {
        while (j < c->n && c->cls[j] & C_L) j++;
        return j;
    }
    if (k0 & C_N) {
        j = k;
        while (j < c->n && c->cls[j] & C_N && (int)(j - k) < max_digits) j++;
        return j;
    }
    j = k + (k0 & C_SP ? 1 : 0);
    if (j < c->n && other(c->cls[j])) {
        while (j < c->n && other(c->cls[j])) j++;
        while (j < c->n && c->cls[j] & C_NL) j++;
        return j;
    }
    if (k0 & C_S) {
        e = space_run(c, k);
        for (size_t p = e; p > k; p--)
            if (c->cls[p - 1] & C_NL) return p;
    }
    return spaces(c, k);
}

static int bert_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    return c >= 0x80 && uni_is_punct(c);
}

static int split_bert(const struct chars *c, const char *s, tok_span_fn fn, void *ctx)
{
    size_t k = 0;
    while (k < c->n) {
        if (c->cls[k] & C_S) {
            k++;
            continue;
        }
        size_t e = k + 1;
        if (!bert_punct(c->cp[k]))
            while (e < c->n && !(c->cls[e] & C_S) && !bert_punct(c->cp[e])) e++;
        if (fn(ctx, s, c->off[k], c->off[e])) return -1;
        k = e;
    }
    return 0;
}

int tok_pretok(enum tok_pre p, const char *s, size_t len, tok_span_fn fn, void *ctx)
{
    if (len == 0) return 0;
    if (p == TOK_PRE_NONE) return fn(ctx, s, 0, len);
    struct chars c = {0};
    int rc = -1;
    if (classify(s, len, &c)) goto done;
    if (p == TOK_PRE_BERT) {
        rc = split_bert(&c, s, fn, ctx);
        goto done;
    }
    for (size_t k = 0; k < c.n;) {
        size_t e = p == TOK_PRE_GPT2 ? match_gpt2(&c, k) : match_llama3(&c, k, p == TOK_PRE_LLAMA3 ? 3 : 1);
        if (fn(ctx, s, c.off[k], c.off[e])) goto done;
        k = e;
    }
    rc = 0;
done:
    free(c.cls), free(c.off), free(c.cp);
    return rc;
}
