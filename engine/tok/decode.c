/* engine/tok/decode.c: ids to text, whole or streamed.
 *
 * The stream never ends a piece of text inside a UTF-8 character: bytes of a
 * character still being spelled (byte tokens, byte-level BPE) wait for the
 * rest. A sequence that can no longer become valid is replaced by U+FFFD at
 * once, one per maximal ill-formed part (as Unicode recommends, and as a
 * browser's decoder does); a cut character left at the end becomes U+FFFD at
 * flush. tok_decode gives the same text as a stream pushed all ids and flushed. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdlib.h>
#include <string.h>

int tok_buf_put(struct tok_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *v = realloc(b->s, cap);
        if (!v) return -1;
        b->s = v, b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

/* Appends the well-formed text of s; returns how many bytes were used. When
 * not final, a cut character at the end is left for later. */
static long put_valid(struct tok_buf *b, const char *s, size_t n, int final)
{
    size_t i = 0, run = 0;
    while (i < n) {
        int need;
        int bad = utf8_check((const unsigned char *)s + i, n - i, &need);
        if (!bad) {
            unsigned c = (unsigned char)s[i];
            i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            continue;
        }
        if (need && !final) break;
        if (tok_buf_put(b, s + run, i - run) || tok_buf_put(b, "\xEF\xBF\xBD", 3)) return -1;
        i += (size_t)bad;
        run = i;
    }
    if (tok_buf_put(b, s + run, i - run)) return -1;
    return (long)i;
}

int tok_buf_put_valid(struct tok_buf *b, const char *s, size_t n) { return put_valid(b, s, n, 1) < 0 ? -1 : 0; }

/* The WordPiece decoder's cleanup takes the space away before these (the
 * reference applies it token by token, so " ' " never matches). */
static int wp_glued(const char *s)
{
    static const char *const heads[] = {".", "?", "!", ",", "'m", "'s", "'ve", "'re", "n't", NULL};
    for (int i = 0; heads[i]; i++)
        if (strncmp(s, heads[i], strlen(heads[i])) == 0) return 1;
    return 0;
}

int tok_piece_text(const struct tokenizer *t, int id, int first, int skip_special, struct tok_buf *b)
{
    if (id < 0 || id >= t->n) return 0;
    const struct tok_piece *p = &t->pieces[id];
    if (p->flags & TOK_F_UNUSED) return 0;
    if (skip_special && p->flags & TOK_F_SPECIAL) return 0;
    int rc;
    const char *s = p->text;
    size_t n = (size_t)p->len;
    if (t->kind == TOK_WORDPIECE) {
        /* the first token is taken as it is, "##" included, as the reference does */
        size_t pl = strlen(t->wp_prefix);
        if (first) rc = tok_buf_put(b, s, n);
        else if (pl && n >= pl && memcmp(s, t->wp_prefix, pl) == 0) rc = tok_buf_put(b, s + pl, n - pl);
        else if (!(t->wp_cleanup && wp_glued(s)) && tok_buf_put(b, " ", 1)) rc = -1;
        else rc = tok_buf_put(b, s, n);
        return rc ? -1 : 1;
    }
    if (first && t->decode_strip && n > 0 && s[0] == ' ') s++, n--;
    return tok_buf_put(b, s, n) ? -1 : 1;
}

char *tok_decode(const struct tokenizer *t, const int32_t *ids, int n, int skip_special)
{
    struct tok_buf raw = {0}, out = {0};
    if (!t) return NULL;
    int started = 0;
    for (int i = 0; i < n; i++) {
        int rc = tok_piece_text(t, ids[i], !started, skip_special, &raw);
        if (rc < 0) goto fail;
        if (rc > 0) started = 1;
    }
    if (tok_buf_put_valid(&out, raw.s ? raw.s : "", raw.n) || tok_buf_put(&out, "", 0)) goto fail;
    free(raw.s);
    return out.s;
fail:
    free(raw.s);
    free(out.s);
    return NULL;
}

struct tok_stream {
    const struct tokenizer *t;
    int skip_special;
    int started;         /* a piece has been taken (decides spacing) */
    struct tok_buf pend; /* bytes of a character not yet complete */
};

struct tok_stream *tok_stream_new(const struct tokenizer *t, int skip_special)
{
    if (!t) return NULL;
    struct tok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    s->skip_special = skip_special;
    return s;
}

static char *drain(struct tok_stream *s, int final)
{
    struct tok_buf out = {0};
    if (tok_buf_put(&out, "", 0)) return NULL;
    long used = put_valid(&out, s->pend.s ? s->pend.s : "", s->pend.n, final);
    if (used < 0) {
        free(out.s);
        return NULL;
    }
    memmove(s->pend.s, s->pend.s + used, s->pend.n - (size_t)used);
    s->pend.n -= (size_t)used;
    return out.s;
}

char *tok_stream_push(struct tok_stream *s, const int32_t *ids, int n)
{
    if (!s) return NULL;
    if (tok_buf_put(&s->pend, "", 0)) return NULL;
    for (int i = 0; i < n; i++) {
        int rc = tok_piece_text(s->t, ids[i], !s->started, s->skip_special, &s->pend);
        if (rc < 0) return NULL;
        if (rc > 0) s->started = 1;
    }
    return drain(s, 0);
}

char *tok_stream_flush(struct tok_stream *s)
{
    if (!s) return NULL;
    if (tok_buf_put(&s->pend, "", 0)) return NULL;
    return drain(s, 1);
}

void tok_stream_free(struct tok_stream *s)
{
    if (!s) return;
    free(s->pend.s);
    free(s);
}
