/* engine/tok/encode.c: text to ids. Added tokens are cut out of the input
 * first (leftmost, longest first); each text segment between them is
 * normalized, split by the pre-tokenizer and handed word by word to the
 * model (BPE, SentencePiece BPE or WordPiece). Words repeat a lot in real
 * text, so one call keeps the ids of the words it has seen. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Word -> ids for the length of one tok_encode call. */
struct wcache {
    uint32_t *slot; /* entry index + 1 */
    uint32_t cap;
    struct went {
        uint32_t key, klen, val, vlen, hash;
    } *e;
    int n, ecap;
    struct tok_buf keys;
    struct tok_ids vals;
};

enum { WC_MAX_WORD = 64, WC_MAX_ENTRIES = 1 << 16 };

static uint32_t whash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int wc_find(const struct wcache *c, const char *w, size_t n, uint32_t h)
{
    if (!c->cap) return -1;
    for (uint32_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        uint32_t v = c->slot[i];
        if (!v) return -1;
        const struct went *e = &c->e[v - 1];
        if (e->hash == h && e->klen == n && memcmp(c->keys.s + e->key, w, n) == 0) return (int)v - 1;
    }
}

/* Best effort: a full or failing cache just stops remembering. */
static void wc_add(struct wcache *c, const char *w, size_t n, uint32_t h, const int32_t *ids, int nids)
{
    if (c->n >= WC_MAX_ENTRIES) return;
    if ((uint32_t)(c->n + 1) * 2 > c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 4096;
        uint32_t *slot = calloc(cap, sizeof *slot);
        if (!slot) return;
        for (int i = 0; i < c->n; i++) {
            uint32_t k = c->e[i].hash & (cap - 1);
            while (slot[k]) k = (k + 1) & (cap - 1);
            slot[k] = (uint32_t)i + 1;
        }
        free(c->slot);
        c->slot = slot, c->cap = cap;
    }
    if (c->n == c->ecap) {
        int ecap = c->ecap ? c->ecap * 2 : 1024;
        struct went *e = realloc(c->e, sizeof *e * (size_t)ecap);
        if (!e) return;
        c->e = e, c->ecap = ecap;
    }
    struct went e = {(uint32_t)c->keys.n, (uint32_t)n, (uint32_t)c->vals.n, (uint32_t)nids, h};
    if (tok_buf_put(&c->keys, w, n)) return;
    for (int i = 0; i < nids; i++)
        if (tok_ids_push(&c->vals, ids[i])) return;
    c->e[c->n] = e;
    uint32_t k = h & (c->cap - 1);
    while (c->slot[k]) k = (k + 1) & (c->cap - 1);
    c->slot[k] = (uint32_t)++c->n;
}

static void wc_free(struct wcache *c)
{
    free(c->slot);
    free(c->e);
    free(c->keys.s);
    free(c->vals.v);
}

struct enc {
    const struct tokenizer *t;
    struct tok_ids *out;
    struct wcache cache;
};

static int word_cb(void *ctx, const char *s, size_t a, size_t b)
{
    struct enc *e = ctx;
    const char *w = s + a;
    size_t n = b - a;
    uint32_t h = 0;
    if (n <= WC_MAX_WORD) {
        h = whash(w, n);
        int k = wc_find(&e->cache, w, n, h);
        if (k >= 0) {
            const struct went *c = &e->cache.e[k];
            for (uint32_t i = 0; i < c->vlen; i++)
                if (tok_ids_push(e->out, e->cache.vals.v[c->val + i])) return -1;
            return 0;
        }
    }
    int first = e->out->n;
    int rc = e->t->kind == TOK_WORDPIECE ? tok_wordpiece_word(e->t, w, n, e->out) : tok_bpe_word(e->t, w, n, e->out);
    if (rc == 0 && n <= WC_MAX_WORD)
        wc_add(&e->cache, w, n, h, e->out->n > first ? e->out->v + first : NULL, e->out->n - first);
    return rc;
}

/* Text no pre-tokenizer splits (SentencePiece) is cut before each run of
 * spaces when no piece could span that cut. */
static int space_split(struct enc *e, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] == ' ' && s[i - 1] != ' ') {
            if (word_cb(e, s, start, i)) return -1;
            start = i;
        }
    return n ? word_cb(e, s, start, n) : 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* NFC leaves ASCII alone: most text skips the copy. */
static int needs_normalizer(const struct tokenizer *t, const char *s, size_t n)
{
    if (t->lowercase || t->strip_accents || t->bert_clean || t->bert_chinese) return 1;
    if (!t->nfc) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 1;
    return 0;
}

static int encode_segment(struct enc *e, const char *s, size_t len)
{
    const struct tokenizer *t = e->t;
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
    if (needs_normalizer(t, p, n)) {
        norm = tok_normalize(t, p, n, &n);
        if (!norm) {
            free(buf);
            return -1;
        }
        p = norm;
    }
    int rc = t->pre == TOK_PRE_NONE && t->space_words ? space_split(e, p, n) : tok_pretok(t->pre, p, n, word_cb, e);
    free(buf);
    free(norm);
    return rc;
}

int tok_encode(const struct tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids, int *n,
               char *err, size_t errlen)
{
    struct tok_ids out = {0};
    struct enc e = {t, &out, {0}};
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
        if (encode_segment(&e, text + seg, end - seg) || tok_ids_push(&out, hit)) goto oom;
        i += (size_t)p->len;
        if (p->flags & TOK_F_RSTRIP)
            while (i < len && is_ws(text[i])) i++;
        seg = i;
    }
    if (encode_segment(&e, text + seg, len - seg)) goto oom;
    if (wrap && t->wrap_last >= 0 && tok_ids_push(&out, t->wrap_last)) goto oom;
    wc_free(&e.cache);
    *ids = out.v;
    *n = out.n;
    if (!out.v) *ids = calloc(1, sizeof **ids);
    return *ids ? 0 : -1;
oom:
    wc_free(&e.cache);
    free(out.v);
    snprintf(err, errlen, "tokenizer: out of memory");
    return -1;
}
