/* engine/tok/bpe.c: BPE over one word, both flavours.
 *
 * Ranked merges (tokenizer.json, GGUF gpt2): the pair with the lowest merge
 * rank is merged first. Scored merges (SentencePiece, llama2.c): the adjacent
 * pair whose joined text is a token with the highest score. Ties go to the
 * leftmost pair in both. A heap of candidate pairs makes a long word (a whole
 * SentencePiece text) cost n log n; stale candidates are dropped when popped. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdlib.h>

struct sym {
    int start, len, id, prev, next;
};

struct cand {
    double prio; /* lower merges first */
    int left, right, len, res;
};

struct heap {
    struct cand *v;
    int n, cap;
};

static int cand_less(const struct cand *a, const struct cand *b)
{
    if (a->prio != b->prio) return a->prio < b->prio;
    return a->left < b->left;
}

static int heap_push(struct heap *h, struct cand c)
{
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        struct cand *v = realloc(h->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        h->v = v, h->cap = cap;
    }
    int i = h->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return 0;
}

static struct cand heap_pop(struct heap *h)
{
    struct cand top = h->v[0], last = h->v[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const struct cand *best = &last;
        if (l < h->n && cand_less(&h->v[l], best)) m = l, best = &h->v[l];
        if (r < h->n && cand_less(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int try_pair(const struct tokenizer *t, const char *w, const struct sym *s, int l, struct heap *h)
{
    if (l < 0) return 0;
    int r = s[l].next;
    if (r < 0) return 0;
    struct cand c = {0, l, r, s[l].len + s[r].len, -1};
    if (t->kind == TOK_SPM) {
        int id = tok_lookup(t, w + s[l].start, (size_t)c.len);
        if (id < 0 || t->pieces[id].flags & (TOK_F_SPECIAL | TOK_F_MATCH)) return 0;
        c.prio = -(double)t->pieces[id].score;
        c.res = id;
    } else {
        if (s[l].id < 0 || s[r].id < 0) return 0;
        int rank = tok_merge_find(t, s[l].id, s[r].id, &c.res);
        if (rank < 0) return 0;
        c.prio = rank;
    }
    return heap_push(h, c);
}

/* A symbol that is not a token: its bytes as <0xXX> tokens, else unknown. */
static int emit_unknown(const struct tokenizer *t, const char *w, const struct sym *s, struct tok_ids *out)
{
    if (t->byte_fallback) {
        int ok = 1;
        for (int i = 0; i < s->len; i++)
            if (t->byte_id[(unsigned char)w[s->start + i]] < 0) ok = 0;
        if (ok) {
            for (int i = 0; i < s->len; i++)
                if (tok_ids_push(out, t->byte_id[(unsigned char)w[s->start + i]])) return -1;
            return 0;
        }
    }
    if (t->unk_id >= 0) return tok_ids_push(out, t->unk_id);
    return 0; /* no way to spell it: dropped, as Hugging Face's BPE does */
}

int tok_bpe_word(const struct tokenizer *t, const char *w, size_t len, struct tok_ids *out)
{
    if (len == 0) return 0;
    if (len > 0x7fffffff) return -1;
    if (t->ignore_merges) {
        int id = tok_lookup(t, w, len);
        if (id >= 0) return tok_ids_push(out, id);
    }
    struct sym *s = malloc(sizeof *s * len);
    struct heap h = {0};
    int rc = -1;
    if (!s) return -1;
    int n = 0;
    for (size_t i = 0; i < len;) {
        size_t at = i;
        if (t->byte_level) i++;
        else {
            uint32_t cp;
            utf8_next(w, len, &i, &cp);
        }
        s[n].start = (int)at;
        s[n].len = (int)(i - at);
        s[n].id = t->byte_level ? t->byte_id[(unsigned char)w[at]] : tok_lookup(t, w + at, i - at);
        s[n].prev = n - 1;
        s[n].next = -1;
        if (n) s[n - 1].next = n;
        n++;
    }
    for (int i = 0; i < n; i++)
        if (try_pair(t, w, s, i, &h)) goto done;
    while (h.n) {
        struct cand c = heap_pop(&h);
        struct sym *l = &s[c.left], *r = &s[c.right];
        if (l->len == 0 || r->len == 0 || l->next != c.right || l->len + r->len != c.len) continue;
        if (t->kind != TOK_SPM) {
            int res;
            if (tok_merge_find(t, l->id, r->id, &res) != (int)c.prio || res != c.res) continue;
        }
        l->len += r->len;
        l->id = c.res;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = c.left;
        if (try_pair(t, w, s, l->prev, &h) || try_pair(t, w, s, c.left, &h)) goto done;
    }
    for (int i = 0; n > 0 && i >= 0; i = s[i].next) {
        int id = s[i].id;
        if (id < 0 && !t->byte_level) id = tok_lookup(t, w + s[i].start, (size_t)s[i].len);
        if (id >= 0 ? tok_ids_push(out, id) : emit_unknown(t, w, &s[i], out)) goto done;
    }
    rc = 0;
done:
    free(s);
    free(h.v);
    return rc;
}
