/* The answer's text as it becomes stable: committed tokens read left to
 * right from each span's start, cut at the first EOS/EOT of a span and at the
 * first stop string, decoded so that no character is split. */
#include "engine/sched/sched.h"

#include <stdlib.h>
#include <string.h>

int text_init(struct sched_text *t, const struct sched_decoder *d)
{
    memset(t, 0, sizeof *t);
    t->cap = 64;
    t->buf = malloc(t->cap);
    if (!t->buf)
        return -1;
    t->buf[0] = 0;
    if (d) {
        t->st = d->open(d->arg);
        if (!t->st) {
            free(t->buf);
            t->buf = NULL;
            return -1;
        }
    }
    return 0;
}

void text_free(struct sched_text *t, const struct sched_decoder *d)
{
    if (d && t->st)
        d->close(t->st);
    free(t->buf);
    memset(t, 0, sizeof *t);
}

static int append(struct sched_text *t, char *s)
{
    if (!s)
        return -1;
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap;
        while (t->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            free(s);
            return -1;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
    free(s);
    return 0;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* Cuts the text at the earliest stop string. A match ending before the last
 * scan's end would have been found then, so the scan restarts max_stop - 1
 * bytes before it. */
static void cut_at_stop(struct sched_text *t, const struct text_rules *r)
{
    if (r->n_stop == 0)
        return;
    size_t from = t->scanned >= r->max_stop ? t->scanned - (r->max_stop - 1) : 0;
    const char *best = NULL;
    for (int i = 0; i < r->n_stop; i++) {
        const char *hit = find_bytes(t->buf + from, t->len - from, r->stop[i], strlen(r->stop[i]));
        if (hit && (!best || hit < best))
            best = hit;
    }
    if (best) {
        t->len = (size_t)(best - t->buf);
        t->buf[t->len] = 0;
        t->stop_hit = 1;
        t->final = 1;
    }
    t->scanned = t->len;
}

/* The ids read so far go to the decoder; at a span's end it is flushed, so
 * no character straddles two spans: the answer is each span's text (as one
 * decoder reading the spans in turn gives it) end to end. */
static int feed(struct sched_text *t, const struct sched_decoder *d, const int32_t *ids, int *n, int span_end)
{
    int rc = 0;
    if (d && t->st) {
        if (*n > 0)
            rc = append(t, d->push(t->st, ids, *n));
        if (rc == 0 && span_end)
            rc = append(t, d->flush(t->st));
    }
    *n = 0;
    return rc;
}

int text_update(struct sched_text *t, const struct sched_decoder *d, const struct canvas *c,
                const struct text_rules *r)
{
    if (t->final)
        return 0;
    int32_t *ids = malloc((size_t)c->n_gen * sizeof *ids);
    if (!ids)
        return -1;
    int n = 0, rc = 0;
    while (t->span < c->n_spans && rc == 0) {
        const struct canvas_span *sp = &c->spans[t->span];
        if (t->off == sp->len) {
            rc = feed(t, d, ids, &n, 1);
            t->span++;
            t->off = 0;
            continue;
        }
        int pos = sp->start + t->off;
        if (c->masked[pos])
            break;
        int32_t id = c->ids[pos];
        if (id == r->end_ids[0] || id == r->end_ids[1]) {
            /* the rest of this span can no longer change the answer */
            t->eos_hit = 1;
            rc = feed(t, d, ids, &n, 1);
            t->span++;
            t->off = 0;
            continue;
        }
        ids[n++] = id;
        t->n_tokens++;
        t->off++;
    }
    if (rc == 0)
        rc = feed(t, d, ids, &n, 0);
    free(ids);
    if (rc)
        return -1;
    cut_at_stop(t, r);
    if (t->span == c->n_spans)
        t->final = 1;
    return 0;
}

void text_take_delta(struct sched_text *t, const struct text_rules *r, size_t *from, size_t *to)
{
    size_t limit = t->len;
    if (!t->final && r->max_stop > 1)
        limit = t->len > r->max_stop - 1 ? t->len - (r->max_stop - 1) : 0;
    if (limit < t->emitted)
        limit = t->emitted;
    /* never end inside a UTF-8 character (continuation bytes are 10xxxxxx) */
    while (limit > t->emitted && limit < t->len && ((unsigned char)t->buf[limit] & 0xC0) == 0x80)
        limit--;
    *from = t->emitted;
    *to = limit;
    t->emitted = limit;
}
