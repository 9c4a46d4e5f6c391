/* engine/tok/vocab.c: the token table: pieces, the text -> id index, the
 * merge table, the list of added tokens matched in the input. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's byte <-> printable character map: bytes that print stand for
 * themselves; the 68 others (0-32, 127-160, 173) are moved, in byte order, to
 * U+0100 and up. Returns the byte a character stands for, or -1. */
static int unbyte(uint32_t c)
{
    if ((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) return (int)c;
    if (c < 256 || c >= 256 + 68) return -1;
    c -= 256;
    if (c < 33) return (int)c;
    if (c < 67) return 127 + (int)(c - 33);
    return 173;
}

/* Byte-level text to the bytes it stands for; NULL when a character is not
 * one of the map's (the text is then taken as it is). */
char *tok_from_byte_level(const char *s, size_t len, int *outlen)
{
    char *o = malloc(len + 1);
    if (!o) return NULL;
    int n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        if (!utf8_next(s, len, &i, &c) || unbyte(c) < 0) {
            free(o);
            return NULL;
        }
        o[n++] = (char)unbyte(c);
    }
    *outlen = n;
    return o;
}

/* SentencePiece's ▁ (U+2581) back to a space. */
char *tok_from_metaspace(const char *s, size_t len, int *outlen)
{
    char *o = malloc(len + 1);
    if (!o) return NULL;
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            o[n++] = ' ';
            i += 2;
        } else
            o[n++] = s[i];
    }
    *outlen = n;
    return o;
}

int tok_parse_byte_piece(const char *s, int *b)
{
    unsigned v;
    char tail;
    if (strlen(s) != 6 || sscanf(s, "<0x%2X%c", &v, &tail) != 2 || tail != '>') return 0;
    *b = (int)v;
    return 1;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t hash_pair(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

struct tokenizer *tok_alloc(int n, char *err, size_t errlen)
{
    if (n <= 0 || n > TOK_MAX_VOCAB) {
        snprintf(err, errlen, "tokenizer: bad vocabulary size %d", n);
        return NULL;
    }
    struct tokenizer *t = calloc(1, sizeof *t);
    if (t) t->pieces = calloc((size_t)n, sizeof *t->pieces);
    if (!t || !t->pieces) {
        free(t);
        snprintf(err, errlen, "tokenizer: out of memory");
        return NULL;
    }
    t->n = n;
    for (int i = 0; i < n; i++) t->pieces[i].flags = TOK_F_UNUSED;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = t->mask_id = -1;
    t->cls_id = t->sep_id = t->eot_id = t->wrap_first = t->wrap_last = -1;
    t->wp_max_chars = 100;
    return t;
}

int tok_set_piece(struct tokenizer *t, int id, const char *text, int len, float score, int flags)
{
    if (id < 0 || id >= t->n || len < 0) return -1;
    struct tok_piece *p = &t->pieces[id];
    char *s = malloc((size_t)len + 1);
    if (!s) return -1;
    memcpy(s, text, (size_t)len);
    s[len] = 0;
    free(p->text);
    p->text = s;
    p->len = len;
    p->score = score;
    p->flags = (uint8_t)flags;
    return 0;
}

int tok_lookup(const struct tokenizer *t, const char *s, size_t len)
{
    if (!t->cap) return -1;
    uint32_t m = t->cap - 1;
    for (uint32_t h = hash_bytes(s, len) & m;; h = (h + 1) & m) {
        uint32_t v = t->slots[h];
        if (!v) return -1;
        const struct tok_piece *p = &t->pieces[v - 1];
        if ((size_t)p->len == len && memcmp(p->text, s, len) == 0) return (int)v - 1;
    }
}

static int cmp_match(const void *a, const void *b, void *ctx)
{
    const struct tokenizer *t = ctx;
    int la = t->pieces[*(const int32_t *)a].len, lb = t->pieces[*(const int32_t *)b].len;
    if (la != lb) return lb - la;
    return *(const int32_t *)a - *(const int32_t *)b;
}

int tok_index(struct tokenizer *t, char *err, size_t errlen)
{
    uint32_t cap = 16;
    while (cap < (uint32_t)t->n * 2u) cap <<= 1;
    free(t->slots);
    t->slots = calloc(cap, sizeof *t->slots);
    free(t->match);
    t->match = malloc(sizeof *t->match * (size_t)t->n);
    if (!t->slots || !t->match) {
        snprintf(err, errlen, "tokenizer: out of memory");
        return -1;
    }
    t->cap = cap;
    t->n_match = 0;
    /* Byte tokens stay out of the text index: a normal piece with the same
     * byte is the one a lookup must find. Lower ids win among equal texts. */
    for (int i = 0; i < t->n; i++) {
        struct tok_piece *p = &t->pieces[i];
        if (!p->text) {
            if (tok_set_piece(t, i, "", 0, 0, TOK_F_UNUSED)) {
                snprintf(err, errlen, "tokenizer: out of memory");
                return -1;
            }
        }
        if (p->flags & (TOK_F_UNUSED | TOK_F_BYTE)) continue;
        if (p->flags & TOK_F_MATCH && p->len > 0) t->match[t->n_match++] = i;
        if (tok_lookup(t, p->text, (size_t)p->len) >= 0) continue;
        uint32_t m = cap - 1;
        uint32_t h = hash_bytes(p->text, (size_t)p->len) & m;
        while (t->slots[h]) h = (h + 1) & m;
        t->slots[h] = (uint32_t)i + 1;
    }
    qsort_r(t->match, (size_t)t->n_match, sizeof *t->match, cmp_match, t);
    return 0;
}

static int merge_grow(struct tokenizer *t)
{
    uint32_t cap = t->mcap ? t->mcap * 2 : 1024;
    uint64_t *k = calloc(cap, sizeof *k);
    int32_t *r = malloc(sizeof *r * cap), *s = malloc(sizeof *s * cap);
    if (!k || !r || !s) {
        free(k), free(r), free(s);
        return -1;
    }
    for (uint32_t i = 0; i < t->mcap; i++) {
        if (!t->mkeys[i]) continue;
        uint32_t h = hash_pair(t->mkeys[i]) & (cap - 1);
        while (k[h]) h = (h + 1) & (cap - 1);
        k[h] = t->mkeys[i], r[h] = t->mrank[i], s[h] = t->mres[i];
    }
    free(t->mkeys), free(t->mrank), free(t->mres);
    t->mkeys = k, t->mrank = r, t->mres = s, t->mcap = cap;
    return 0;
}

/* Keys are (a+1) << 32 | (b+1) so that 0 marks an empty slot. */
int tok_add_merge(struct tokenizer *t, int a, int b, int rank, int res)
{
    if ((uint32_t)(t->n_merges + 1) * 2 > t->mcap && merge_grow(t)) return -1;
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    uint32_t m = t->mcap - 1;
    uint32_t h = hash_pair(key) & m;
    while (t->mkeys[h]) {
        if (t->mkeys[h] == key) return 0; /* first (best) rank stays */
        h = (h + 1) & m;
    }
    t->mkeys[h] = key, t->mrank[h] = rank, t->mres[h] = res;
    t->n_merges++;
    return 0;
}

int tok_merge_find(const struct tokenizer *t, int a, int b, int *res)
{
    if (!t->mcap) return -1;
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    uint32_t m = t->mcap - 1;
    for (uint32_t h = hash_pair(key) & m; t->mkeys[h]; h = (h + 1) & m)
        if (t->mkeys[h] == key) {
            *res = t->mres[h];
            return t->mrank[h];
        }
    return -1;
}

/* The first of the usual texts that is a token, or -1. */
static int first_of(const struct tokenizer *t, const char *const *texts)
{
    for (int i = 0; texts[i]; i++) {
        int id = tok_find(t, texts[i]);
        if (id >= 0) return id;
    }
    return -1;
}

/* Special ids a file did not name, from the texts the families use. */
static void guess_specials(struct tokenizer *t)
{
    static const char *const bos[] = {"<|begin_of_text|>", "<|startoftext|>", "<s>", NULL};
    static const char *const eos[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", NULL};
    static const char *const eot[] = {"<|eot_id|>", "<|im_end|>", NULL};
    static const char *const mask[] = {"<|mdm_mask|>", "<|mask|>", "[MASK]", "<mask>", NULL};
    static const char *const unk[] = {"<unk>", "[UNK]", NULL};
    static const char *const pad[] = {"<pad>", "[PAD]", NULL};
    static const char *const cls[] = {"[CLS]", NULL};
    static const char *const sep[] = {"[SEP]", NULL};
    if (t->bos_id < 0) t->bos_id = first_of(t, bos);
    if (t->eos_id < 0) t->eos_id = first_of(t, eos);
    if (t->eot_id < 0) t->eot_id = first_of(t, eot);
    if (t->mask_id < 0) t->mask_id = first_of(t, mask);
    if (t->unk_id < 0) t->unk_id = first_of(t, unk);
    if (t->pad_id < 0) t->pad_id = first_of(t, pad);
    if (t->cls_id < 0) t->cls_id = first_of(t, cls);
    if (t->sep_id < 0) t->sep_id = first_of(t, sep);
    if (t->kind == TOK_WORDPIECE && t->bos_id < 0) t->bos_id = t->cls_id;
    if (t->kind == TOK_WORDPIECE && t->eos_id < 0) t->eos_id = t->sep_id;
}

int tok_finish(struct tokenizer *t, char *err, size_t errlen)
{
    int *ids[] = {&t->unk_id, &t->bos_id, &t->eos_id, &t->pad_id, &t->mask_id,
                  &t->cls_id, &t->sep_id, &t->eot_id, &t->wrap_first, &t->wrap_last};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] < -1 || *ids[i] >= t->n) *ids[i] = -1;
    if (tok_index(t, err, errlen)) return -1;
    guess_specials(t);
    for (int i = 0; i < t->n; i++) {
        const struct tok_piece *p = &t->pieces[i];
        if (p->flags & TOK_F_BYTE && p->len == 1 && t->byte_id[(unsigned char)p->text[0]] < 0)
            t->byte_id[(unsigned char)p->text[0]] = i;
    }
    t->space_words = 1;
    for (int i = 0; i < t->n && t->space_words; i++) {
        const struct tok_piece *p = &t->pieces[i];
        if (p->flags & (TOK_F_UNUSED | TOK_F_MATCH)) continue;
        for (int k = 1; k < p->len; k++)
            if (p->text[k] == ' ' && p->text[k - 1] != ' ') t->space_words = 0;
    }
    if (t->kind == TOK_BPE && t->byte_level)
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            t->byte_id[b] = tok_lookup(t, &c, 1);
        }
    return 0;
}

int tok_ids_push(struct tok_ids *a, int32_t id)
{
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

void tok_free(struct tokenizer *t)
{
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->pieces[i].text);
    free(t->pieces);
    free(t->slots);
    free(t->mkeys), free(t->mrank), free(t->mres);
    free(t->match);
    free(t);
}

int tok_vocab_size(const struct tokenizer *t) { return t ? t->n : 0; }

int tok_find(const struct tokenizer *t, const char *piece)
{
    if (!t || !piece) return -1;
    return tok_lookup(t, piece, strlen(piece));
}

int tok_is_special(const struct tokenizer *t, int id)
{
    if (!t || id < 0 || id >= t->n) return 0;
    return (t->pieces[id].flags & TOK_F_SPECIAL) != 0;
}

void tok_get_specials(const struct tokenizer *t, struct tok_specials *s)
{
    s->bos_id = t->bos_id, s->eos_id = t->eos_id, s->unk_id = t->unk_id, s->pad_id = t->pad_id;
    s->mask_id = t->mask_id, s->cls_id = t->cls_id, s->sep_id = t->sep_id, s->eot_id = t->eot_id;
    s->add_bos = t->add_bos;
}

static int in_range(const struct tokenizer *t, int id) { return id >= 0 && id < t->n ? id : -1; }

void tok_set_specials(struct tokenizer *t, const struct tok_specials *s)
{
    t->bos_id = in_range(t, s->bos_id), t->eos_id = in_range(t, s->eos_id);
    t->unk_id = in_range(t, s->unk_id), t->pad_id = in_range(t, s->pad_id);
    t->mask_id = in_range(t, s->mask_id), t->cls_id = in_range(t, s->cls_id);
    t->sep_id = in_range(t, s->sep_id), t->eot_id = in_range(t, s->eot_id);
    t->add_bos = s->add_bos;
}

const char *tok_piece(const struct tokenizer *t, int id)
{
    if (!t || id < 0 || id >= t->n || t->pieces[id].flags & TOK_F_UNUSED) return NULL;
    return t->pieces[id].text;
}
