/* What a request tells its owner after each step: the frame (whole canvas),
 * the delta (newly stable text) and, at the end, done. */
#include "engine/sched/sched.h"

#include <stdlib.h>
#include <string.h>

static void event_base(struct sched_event *ev, const struct sched_req *r, enum sched_event_kind kind)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->id = r->id;
    ev->user = r->user;
    ev->step = r->cv.step;
    ev->total_steps = r->planned_steps;
    ev->len = r->cv.len;
    ev->span_start = r->cv.spans[0].start;
    ev->span_end = r->cv.spans[0].start + r->cv.spans[0].len;
    ev->block_start = r->cv.shown_start;
    ev->block_end = r->cv.shown_end;
    ev->spans = r->cv.spans;
    ev->n_spans = r->cv.n_spans;
}

void events_step(struct sched_req *r, sched_event_fn fn, void *cb_user)
{
    struct sched_event ev;
    if (r->want_frames) {
        event_base(&ev, r, SCHED_EV_FRAME);
        ev.canvas = r->cv.ids;
        /* the uniform graph's spans hold their current tokens at every step */
        ev.masked = r->cv.uniform ? NULL : r->cv.masked;
        ev.fresh = r->cv.fresh;
        ev.conf = r->cv.conf;
        fn(cb_user, &ev);
    }
    size_t from, to;
    text_take_delta(&r->text, &r->rules, &from, &to);
    if (to > from) {
        event_base(&ev, r, SCHED_EV_DELTA);
        ev.text = r->text.buf + from;
        ev.text_len = to - from;
        /* NUL-terminated for the callback's convenience, restored after */
        char keep = r->text.buf[to];
        r->text.buf[to] = 0;
        fn(cb_user, &ev);
        r->text.buf[to] = keep;
    }
}

/* The answer's tokens in reading order (each span up to its first EOS/EOT),
 * with the logprobs kept when they were committed. */
static int answer_logprobs(const struct sched_req *r, struct sched_event *ev)
{
    int n = r->text.n_tokens, nt = r->p.n_logprobs;
    if (!r->lp || n == 0)
        return 0;
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    float *lp = malloc((size_t)n * sizeof *lp);
    int32_t *ti = malloc((size_t)n * nt * sizeof *ti);
    float *tl = malloc((size_t)n * nt * sizeof *tl);
    if (!tok || !lp || !ti || !tl) {
        free(tok);
        free(lp);
        free(ti);
        free(tl);
        return -1;
    }
    int k = 0;
    for (int si = 0; si < r->cv.n_spans && k < n; si++) {
        const struct canvas_span *sp = &r->cv.spans[si];
        for (int pos = sp->start; pos < sp->start + sp->len && k < n; pos++) {
            int32_t id = r->cv.ids[pos];
            if (r->cv.masked[pos] || id == r->rules.end_ids[0] || id == r->rules.end_ids[1])
                break;
            tok[k] = id;
            lp[k] = r->lp[pos];
            memcpy(ti + (size_t)k * nt, r->top_ids + (size_t)pos * nt, (size_t)nt * sizeof *ti);
            memcpy(tl + (size_t)k * nt, r->top_lp + (size_t)pos * nt, (size_t)nt * sizeof *tl);
            k++;
        }
    }
    ev->tokens = tok;
    ev->token_logprobs = lp;
    ev->top_ids = ti;
    ev->top_logprobs = tl;
    ev->n_tokens = k;
    ev->n_top = nt;
    return 0;
}

void events_done(struct sched_req *r, sched_event_fn fn, void *cb_user)
{
    struct sched_event ev;
    event_base(&ev, r, SCHED_EV_DONE);
    answer_logprobs(r, &ev); /* without memory the answer goes out without them */
    /* a request cut short ends with the text already sent, so the deltas
     * always add up to the done text */
    size_t n = r->finish == FINISH_STOP || r->finish == FINISH_LENGTH ? r->text.len : r->text.emitted;
    ev.canvas = r->cv.ids; /* with spans (event_base): the filled canvas */
    ev.masked = r->cv.masked;
    ev.finish = r->finish;
    ev.prompt_tokens = r->cv.n_given;
    ev.completion_tokens = r->text.n_tokens;
    ev.error = r->finish == FINISH_ERROR ? r->error : NULL;
    if (!r->text.buf) {
        ev.text = "";
        fn(cb_user, &ev);
    } else {
        ev.text = r->text.buf;
        ev.text_len = n;
        char keep = r->text.buf[n];
        r->text.buf[n] = 0;
        fn(cb_user, &ev);
        r->text.buf[n] = keep;
    }
    free((void *)ev.tokens);
    free((void *)ev.token_logprobs);
    free((void *)ev.top_ids);
    free((void *)ev.top_logprobs);
}
