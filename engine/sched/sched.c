/* The canvas scheduler: a thread-safe inbox, a bounded FIFO queue, and a
 * step loop that denoises every active canvas in one batched forward.
 * The policy is stated in engine/sched/sched.h. The active set belongs to
 * the thread that calls sched_step; the mutex guards the queue, the
 * cancellations and the stats. */
#include "engine/sched/sched.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_QUEUE 64
#define DEFAULT_MAX_ACTIVE 16
#define DEFAULT_MAX_BATCH_TOKENS 16384
#define DEFAULT_MAX_CANVAS 4096
#define MAX_STOP 16
#define MAX_STOP_LEN 256

struct sched {
    const struct model *m;
    const struct backend *be;
    void *be_ctx;
    struct sched_limits lim;
    sched_event_fn fn;
    void *cb_user;
    struct sched_decoder dec;
    int have_dec;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct sched_req *wait_head, *wait_tail;
    int n_wait;
    uint64_t *cancels;
    int n_cancels, cap_cancels;
    int stopping;
    uint64_t next_id;
    struct sched_stats stats;

    /* the step thread's own */
    struct sched_req *active;
    int n_active;
    int active_tokens;
    struct denoise_row *rows;
    int cap_rows;
    struct denoise_pos *out;
    int cap_out;
    uint64_t *drained;
    int cap_drained;
};

static void *stream_open(void *arg)
{
    return tok_stream_new(arg, 1);
}

static char *stream_push(void *st, const int32_t *ids, int n)
{
    return tok_stream_push(st, ids, n);
}

static char *stream_flush(void *st)
{
    return tok_stream_flush(st);
}

static void stream_close(void *st)
{
    tok_stream_free(st);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct sched *sched_new(const struct model *m, const struct backend *be, void *be_ctx,
                        const struct sched_limits *lim, sched_event_fn fn, void *cb_user)
{
    if (!m || !be || !be->denoise || !fn)
        return NULL;
    struct sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->m = m;
    s->be = be;
    s->be_ctx = be_ctx;
    if (lim)
        s->lim = *lim;
    if (s->lim.max_queue <= 0)
        s->lim.max_queue = DEFAULT_MAX_QUEUE;
    if (s->lim.max_active <= 0)
        s->lim.max_active = DEFAULT_MAX_ACTIVE;
    if (s->lim.max_batch_tokens <= 0)
        s->lim.max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS;
    if (s->lim.max_canvas <= 0)
        s->lim.max_canvas = m->cfg.max_seq > 0 ? m->cfg.max_seq : DEFAULT_MAX_CANVAS;
    s->fn = fn;
    s->cb_user = cb_user;
    if (m->tok) {
        s->dec.open = stream_open;
        s->dec.push = stream_push;
        s->dec.flush = stream_flush;
        s->dec.close = stream_close;
        s->dec.arg = m->tok;
        s->have_dec = 1;
    }
    s->next_id = 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    return s;
}

void sched_set_decoder(struct sched *s, const struct sched_decoder *d)
{
    if (d) {
        s->dec = *d;
        s->have_dec = 1;
    } else {
        s->have_dec = 0;
    }
}

static const struct sched_decoder *decoder(const struct sched *s)
{
    return s->have_dec ? &s->dec : NULL;
}

static void req_free(struct sched *s, struct sched_req *r)
{
    if (!r)
        return;
    text_free(&r->text, decoder(s));
    kv_close(r, s->be, s->be_ctx);
    for (int i = 0; i < r->rules.n_stop; i++)
        free(r->rules.stop[i]);
    free(r->rules.stop);
    canvas_free(&r->cv);
    free(r->uncond);
    free(r->query);
    free(r->cand);
    free(r->lp);
    free(r->top_ids);
    free(r->top_lp);
    free(r);
}

static int copy_stops(struct sched_req *r, const struct gen_request *g, char *err, size_t errlen)
{
    if (g->n_stop < 0 || g->n_stop > MAX_STOP || (g->n_stop > 0 && !g->stop)) {
        snprintf(err, errlen, "stop: at most %d strings", MAX_STOP);
        return SCHED_EINVAL;
    }
    if (g->n_stop == 0)
        return 0;
    r->rules.stop = calloc((size_t)g->n_stop, sizeof *r->rules.stop);
    if (!r->rules.stop)
        goto oom;
    for (int i = 0; i < g->n_stop; i++) {
        size_t n = g->stop[i] ? strlen(g->stop[i]) : 0;
        if (n == 0 || n > MAX_STOP_LEN) {
            snprintf(err, errlen, "stop[%d] must be 1 to %d bytes", i, MAX_STOP_LEN);
            return SCHED_EINVAL;
        }
        r->rules.stop[i] = strdup(g->stop[i]);
        if (!r->rules.stop[i])
            goto oom;
        r->rules.n_stop++;
        if (n > r->rules.max_stop)
            r->rules.max_stop = n;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Everything about a request that can be checked and built before it queues. */
static int req_build(struct sched *s, const struct gen_request *g, struct sched_req **out, char *err,
                     size_t errlen)
{
    const struct model_config *cfg = &s->m->cfg;
    struct sched_req *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->user = g->user;
    r->p = g->params;
    r->cfg = cfg;
    noise_from_config(&r->noise, cfg);
    r->want_frames = g->want_frames;
    r->rules.end_ids[0] = cfg->eos_id;
    r->rules.end_ids[1] = cfg->eot_id;
    int rc = copy_stops(r, g, err, errlen);
    if (rc == 0)
        rc = canvas_build(&r->cv, g->segs, g->n_segs, &r->p, cfg, s->lim.max_canvas, err, errlen);
    if (rc) {
        req_free(s, r);
        return rc;
    }
    r->n_rows = r->p.cfg_scale > 0.0f ? 2 : 1;
    if ((long long)r->cv.len * r->n_rows > s->lim.max_batch_tokens) {
        snprintf(err, errlen, "canvas of %d tokens%s exceeds max_batch_tokens (%d)", r->cv.len,
                 r->n_rows == 2 ? " (twice, with cfg_scale)" : "", s->lim.max_batch_tokens);
        req_free(s, r);
        return SCHED_EINVAL;
    }
    r->planned_steps = r->p.threshold > 0.0f ? r->cv.n_gen : r->cv.steps_per_block * r->cv.n_blocks;
    if (sampler_is_schedule(r->p.remasking))
        r->planned_steps = r->cv.steps_per_block + 1; /* and the final denoising step */
    r->query = malloc((size_t)r->cv.len * sizeof *r->query);
    r->cand = malloc((size_t)r->cv.len * sizeof *r->cand);
    if (r->n_rows == 2)
        r->uncond = malloc((size_t)r->cv.len * sizeof *r->uncond);
    int nlp = r->p.n_logprobs;
    if (nlp > 0) {
        r->lp = calloc((size_t)r->cv.len, sizeof *r->lp);
        r->top_ids = calloc((size_t)r->cv.len * nlp, sizeof *r->top_ids);
        r->top_lp = calloc((size_t)r->cv.len * nlp, sizeof *r->top_lp);
    }
    if (!r->query || !r->cand || (r->n_rows == 2 && !r->uncond) ||
        (nlp > 0 && (!r->lp || !r->top_ids || !r->top_lp)) ||
        text_init(&r->text, decoder(s)) != 0) {
        snprintf(err, errlen, "out of memory");
        req_free(s, r);
        return -1;
    }
    *out = r;
    return 0;
}

int sched_submit(struct sched *s, const struct gen_request *g, uint64_t *id, char *err, size_t errlen)
{
    struct sched_req *r;
    if (!g) {
        snprintf(err, errlen, "no request");
        return SCHED_EINVAL;
    }
    int rc = req_build(s, g, &r, err, errlen);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        snprintf(err, errlen, "the scheduler is stopping");
        req_free(s, r);
        return SCHED_EINVAL;
    }
    if (s->n_wait >= s->lim.max_queue) {
        pthread_mutex_unlock(&s->mu);
        snprintf(err, errlen, "queue full (%d waiting)", s->lim.max_queue);
        req_free(s, r);
        return SCHED_EFULL;
    }
    r->id = s->next_id++;
    if (s->wait_tail)
        s->wait_tail->next = r;
    else
        s->wait_head = r;
    s->wait_tail = r;
    s->n_wait++;
    s->stats.queued = s->n_wait;
    if (id)
        *id = r->id;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void sched_cancel(struct sched *s, uint64_t id)
{
    pthread_mutex_lock(&s->mu);
    for (struct sched_req *r = s->wait_head; r; r = r->next)
        if (r->id == id) {
            r->cancelled = 1;
            goto out;
        }
    /* maybe active: the step thread looks it up */
    if (s->n_cancels == s->cap_cancels) {
        int cap = s->cap_cancels ? 2 * s->cap_cancels : 16;
        uint64_t *c = realloc(s->cancels, (size_t)cap * sizeof *c);
        if (!c)
            goto out; /* the request then runs to its end: it still gets its DONE */
        s->cancels = c;
        s->cap_cancels = cap;
    }
    s->cancels[s->n_cancels++] = id;
out:
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void finish(struct sched *s, struct sched_req *r, enum finish_reason why, const char *error)
{
    r->finish = why;
    if (error)
        snprintf(r->error, sizeof r->error, "%s", error);
    events_done(r, s->fn, s->cb_user);
}

/* Takes the queue's cancelled requests out and admits from its head, FIFO,
 * while the active set has room. Called with the mutex held. */
static struct sched_req *admit_locked(struct sched *s, struct sched_req **cancelled)
{
    struct sched_req *admitted = NULL, **adm_tail = &admitted, **link = &s->wait_head;
    *cancelled = NULL;
    s->wait_tail = NULL;
    int blocked = 0;
    while (*link) {
        struct sched_req *r = *link;
        int need = r->cv.len * r->n_rows;
        if (r->cancelled) {
            *link = r->next;
            r->next = *cancelled;
            *cancelled = r;
            s->n_wait--;
            continue;
        }
        if (!blocked && s->n_active < s->lim.max_active &&
            s->active_tokens + need <= s->lim.max_batch_tokens) {
            *link = r->next;
            r->next = NULL;
            *adm_tail = r;
            adm_tail = &r->next;
            s->n_wait--;
            s->n_active++;
            s->active_tokens += need;
            continue;
        }
        blocked = 1; /* FIFO: nothing overtakes the head */
        s->wait_tail = r;
        link = &r->next;
    }
    return admitted;
}

static int drain_cancels_locked(struct sched *s)
{
    int n = s->n_cancels;
    if (n > s->cap_drained) {
        uint64_t *d = realloc(s->drained, (size_t)n * sizeof *d);
        if (!d)
            return 0; /* they stay queued for the next step */
        s->drained = d;
        s->cap_drained = n;
    }
    if (n)
        memcpy(s->drained, s->cancels, (size_t)n * sizeof *s->drained);
    s->n_cancels = 0;
    return n;
}

static int grow_batch(struct sched *s, int rows, int outs)
{
    if (rows > s->cap_rows) {
        struct denoise_row *r = realloc(s->rows, (size_t)rows * sizeof *r);
        if (!r)
            return -1;
        s->rows = r;
        s->cap_rows = rows;
    }
    if (outs > s->cap_out) {
        struct denoise_pos *o = realloc(s->out, (size_t)outs * sizeof *o);
        if (!o)
            return -1;
        s->out = o;
        s->cap_out = outs;
    }
    return 0;
}

/* Removes the requests marked finished from the active list and frees them. */
static void retire(struct sched *s)
{
    struct sched_req **link = &s->active;
    while (*link) {
        struct sched_req *r = *link;
        if (r->finish == FINISH_NONE) {
            link = &r->next;
            continue;
        }
        *link = r->next;
        s->n_active--;
        s->active_tokens -= r->cv.len * r->n_rows;
        req_free(s, r);
    }
}

int sched_step(struct sched *s)
{
    double t0 = now_seconds();
    struct sched_req *cancelled, *admitted;

    /* cancelled requests leave first, so their room goes to the queue now */
    pthread_mutex_lock(&s->mu);
    int n_drained = drain_cancels_locked(s);
    pthread_mutex_unlock(&s->mu);
    for (struct sched_req *r = s->active; r; r = r->next)
        for (int i = 0; i < n_drained; i++)
            if (s->drained[i] == r->id && r->finish == FINISH_NONE)
                finish(s, r, FINISH_CANCELLED, NULL);
    retire(s);

    pthread_mutex_lock(&s->mu);
    admitted = admit_locked(s, &cancelled);
    pthread_mutex_unlock(&s->mu);
    while (cancelled) {
        struct sched_req *r = cancelled;
        cancelled = r->next;
        finish(s, r, FINISH_CANCELLED, NULL);
        req_free(s, r);
    }
    /* key/value caches are held only while a request is active */
    for (struct sched_req *r = admitted; r; r = r->next) {
        char kerr[160] = "";
        if (kv_wanted(r, &s->m->cfg, s->be) && kv_open(r, s->be, s->be_ctx, kerr, sizeof kerr) != 0)
            finish(s, r, FINISH_ERROR, kerr);
    }
    struct sched_req **tail = &s->active;
    while (*tail)
        tail = &(*tail)->next;
    *tail = admitted;

    /* plan every canvas's step, then one forward over all of them */
    int n_rows = 0, n_out = 0, stepped = 0;
    for (struct sched_req *r = s->active; r; r = r->next) {
        if (r->finish != FINISH_NONE)
            continue;
        if (rule_plan(r) < 0) {
            finish(s, r, FINISH_ERROR, "out of memory planning a step");
            continue;
        }
        if (r->n_query > 0) {
            n_rows += r->n_rows;
            n_out += r->n_query;
        }
    }
    int forwards = 0;
    const char *batch_error = NULL;
    char err[160] = "";
    if (n_rows > 0) {
        if (grow_batch(s, n_rows, n_out) != 0) {
            batch_error = "out of memory building a batch";
        } else {
            int row = 0;
            for (struct sched_req *r = s->active; r; r = r->next)
                if (r->finish == FINISH_NONE && r->n_query > 0) {
                    rule_rows(r, &s->m->cfg, &s->rows[row], row);
                    kv_rows(r, &s->m->cfg, &s->rows[row]);
                    row += r->n_rows;
                }
            struct denoise_batch b = {s->rows, row, s->out};
            if (s->be->denoise(s->be_ctx, &b, err, sizeof err) != 0)
                batch_error = err[0] ? err : "the backend failed";
            forwards = 1;
        }
    }

    uint64_t committed = 0;
    int at = 0;
    for (struct sched_req *r = s->active; r; r = r->next) {
        if (r->finish != FINISH_NONE)
            continue;
        if (batch_error && r->n_query > 0) {
            finish(s, r, FINISH_ERROR, batch_error);
            continue;
        }
        committed += (uint64_t)rule_commit(r, s->out + at);
        at += r->n_query;
        stepped++;
        if (text_update(&r->text, decoder(s), &r->cv, &r->rules) != 0) {
            finish(s, r, FINISH_ERROR, "out of memory decoding text");
            continue;
        }
        if (!r->text.final && canvas_n_masked(&r->cv) == 0)
            r->text.final = 1;
        events_step(r, s->fn, s->cb_user);
        if (r->text.final)
            finish(s, r, r->text.eos_hit || r->text.stop_hit ? FINISH_STOP : FINISH_LENGTH, NULL);
    }
    retire(s);

    pthread_mutex_lock(&s->mu);
    s->stats.queued = s->n_wait;
    s->stats.active = s->n_active;
    s->stats.steps += (uint64_t)stepped;
    s->stats.tokens_committed += committed;
    s->stats.forwards += (uint64_t)forwards;
    if (stepped || n_drained || forwards)
        s->stats.busy_seconds += now_seconds() - t0;
    pthread_mutex_unlock(&s->mu);
    return stepped;
}

int sched_wait(struct sched *s)
{
    pthread_mutex_lock(&s->mu);
    while (!s->stopping && s->n_wait == 0 && s->n_active == 0 && s->n_cancels == 0)
        pthread_cond_wait(&s->cond, &s->mu);
    int go = !s->stopping;
    pthread_mutex_unlock(&s->mu);
    return go;
}

void sched_stop(struct sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void sched_get_stats(struct sched *s, struct sched_stats *st)
{
    pthread_mutex_lock(&s->mu);
    *st = s->stats;
    st->queued = s->n_wait;
    pthread_mutex_unlock(&s->mu);
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    /* no events from here: the owner may already have torn down what its
     * callback writes to (the server frees the scheduler after its loop) */
    while (s->active) {
        struct sched_req *r = s->active;
        s->active = r->next;
        req_free(s, r);
    }
    while (s->wait_head) {
        struct sched_req *r = s->wait_head;
        s->wait_head = r->next;
        req_free(s, r);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s->cancels);
    free(s->drained);
    free(s->rows);
    free(s->out);
    free(s);
}
