/* The engine thread: loads the model, then steps the scheduler. Its only way
 * to the loop thread is the outbox plus uv_async_send(); it never touches a
 * connection. */
#include "server/server.h"
#include "engine/cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *dup_bytes(const void *p, size_t n)
{
    if (!p || n == 0) return NULL;
    void *q = malloc(n);
    if (q) memcpy(q, p, n);
    return q;
}

static void free_msg(struct outmsg *m)
{
    free(m->text);
    free(m->error);
    free(m->canvas);
    free(m->masked);
    free(m->fresh);
    free(m->conf);
    free(m->tokens);
    free(m->top_ids);
    free(m->token_logprobs);
    free(m->top_logprobs);
    free(m->spans);
    free(m);
}

/* Scheduler callback, on the engine thread: copy, queue, wake the loop. */
static void on_event(void *cb_user, const struct sched_event *ev)
{
    struct server *s = cb_user;
    struct outmsg *m = calloc(1, sizeof *m);
    if (!m) return; /* the request then ends by the client's own timeout */
    m->kind = ev->kind;
    m->choice = ev->user;
    m->step = ev->step;
    m->total_steps = ev->total_steps;
    if (ev->text && ev->text_len) {
        m->text = malloc(ev->text_len + 1);
        if (m->text) {
            memcpy(m->text, ev->text, ev->text_len);
            m->text[ev->text_len] = 0;
            m->text_len = ev->text_len;
        }
    }
    m->finish = ev->finish;
    m->prompt_tokens = ev->prompt_tokens;
    m->completion_tokens = ev->completion_tokens;
    if (ev->error) m->error = strdup(ev->error);
    if ((ev->kind == SCHED_EV_FRAME || ev->kind == SCHED_EV_DONE) && ev->n_spans > 0 && ev->spans) {
        m->spans = dup_bytes(ev->spans, (size_t)ev->n_spans * sizeof *ev->spans);
        if (m->spans) m->n_spans = ev->n_spans;
    }
    if (ev->kind == SCHED_EV_DONE && ev->canvas && ev->len > 0) {
        m->canvas = dup_bytes(ev->canvas, (size_t)ev->len * sizeof(int32_t));
        m->len = m->canvas ? ev->len : 0;
    }
    if (ev->kind == SCHED_EV_FRAME && ev->len > 0) {
        size_t n = (size_t)ev->len;
        m->len = ev->len;
        m->canvas = dup_bytes(ev->canvas, n * sizeof(int32_t));
        m->masked = dup_bytes(ev->masked, n);
        m->fresh = dup_bytes(ev->fresh, n);
        m->conf = dup_bytes(ev->conf, n * sizeof(float));
        m->span_start = ev->span_start;
        m->span_end = ev->span_end;
        m->block_start = ev->block_start;
        m->block_end = ev->block_end;
        if (!m->canvas) m->len = 0;
    }
    if (ev->kind == SCHED_EV_DONE && ev->n_tokens > 0 && ev->tokens && ev->token_logprobs) {
        size_t n = (size_t)ev->n_tokens, k = ev->n_top > 0 ? (size_t)ev->n_top : 0;
        m->tokens = dup_bytes(ev->tokens, n * sizeof(int32_t));
        m->token_logprobs = dup_bytes(ev->token_logprobs, n * sizeof(float));
        if (k && ev->top_ids && ev->top_logprobs) {
            m->top_ids = dup_bytes(ev->top_ids, n * k * sizeof(int32_t));
            m->top_logprobs = dup_bytes(ev->top_logprobs, n * k * sizeof(float));
            if (m->top_ids && m->top_logprobs) m->n_top = (int)k;
        }
        if (m->tokens && m->token_logprobs) m->n_tokens = ev->n_tokens;
    }
    pthread_mutex_lock(&s->out_mu);
    if (s->out_tail) s->out_tail->next = m;
    else s->out_head = m;
    s->out_tail = m;
    pthread_mutex_unlock(&s->out_mu);
    uv_async_send(&s->wake);
}

static void fail(struct server *s, const char *fmt, const char *a, const char *b)
{
    snprintf(s->load_err, sizeof s->load_err, fmt, a, b);
    atomic_store(&s->state, SRV_FAILED);
    uv_async_send(&s->wake);
}

static void *engine_main(void *arg)
{
    struct server *s = arg;
    const struct config *cfg = s->cfg;
    char err[512] = "";
    if (model_open(cfg->model, &s->model, err, sizeof err)) {
        fail(s, "cannot load model %s: %s", cfg->model, err);
        return NULL;
    }
    s->be = backend_by_name(cfg->backend);
    if (!s->be) {
        fail(s, "backend '%s' is not available in this build%s", cfg->backend, "");
        return NULL;
    }
    struct cpu_opts co = {cfg->threads, CPU_WEIGHTS_AUTO, 0};
    if (s->be == backend_cpu() && cfg->cpu_weights && cpu_weights_parse(cfg->cpu_weights, &co.weights) == 0)
        s->be_ctx = cpu_load_opts(s->model, &co, err, sizeof err); /* the config's choice checked it */
    else
        s->be_ctx = s->be->load(s->model, cfg->threads, err, sizeof err);
    if (!s->be_ctx) {
        fail(s, "backend %s cannot load the model: %s", s->be->name, err);
        return NULL;
    }
    struct sched_limits lim = {cfg->max_queue, cfg->max_active, cfg->max_batch_tokens, cfg->max_canvas};
    s->sched = sched_new(s->model, s->be, s->be_ctx, &lim, on_event, s);
    if (!s->sched) {
        fail(s, "cannot start the scheduler for %s%s", cfg->model, "");
        return NULL;
    }
    atomic_store(&s->state, SRV_READY);
    uv_async_send(&s->wake);
    while (!atomic_load(&s->stop)) {
        sched_wait(s->sched);
        if (atomic_load(&s->stop)) break;
        double t0 = server_now();
        int n = sched_step(s->sched);
        if (n > 0) metrics_step(&s->metrics, server_now() - t0);
    }
    return NULL;
}

int engine_start(struct server *s)
{
    if (pthread_create(&s->engine, NULL, engine_main, s)) return -1;
    s->engine_started = 1;
    return 0;
}

/* Empties the outbox under its lock; the caller owns the returned list. */
static struct outmsg *take_outbox(struct server *s)
{
    pthread_mutex_lock(&s->out_mu);
    struct outmsg *m = s->out_head;
    s->out_head = s->out_tail = NULL;
    pthread_mutex_unlock(&s->out_mu);
    return m;
}

/* Stops the scheduler loop, waits for the thread, frees the engine. */
void engine_join(struct server *s)
{
    if (!s->engine_started) return;
    atomic_store(&s->stop, 1);
    /* The model may still be loading: sched appears only once it is ready. */
    if (atomic_load(&s->state) == SRV_READY && s->sched) sched_stop(s->sched);
    pthread_join(s->engine, NULL);
    s->engine_started = 0;
    if (s->sched) sched_stop(s->sched);
    /* Requests are all answered by now; whatever is left has no reader. */
    struct outmsg *m = take_outbox(s);
    while (m) {
        struct outmsg *next = m->next;
        free_msg(m);
        m = next;
    }
    if (s->sched) sched_free(s->sched);
    if (s->be && s->be_ctx) s->be->free(s->be_ctx);
    if (s->model) model_free(s->model);
    s->sched = NULL;
    s->be_ctx = NULL;
    s->model = NULL;
}

/* Takes the outbox and hands each event to its request (loop thread). */
void engine_drain(struct server *s)
{
    struct outmsg *m = take_outbox(s);
    while (m) {
        struct outmsg *next = m->next;
        gen_on_event(s, m);
        free_msg(m);
        m = next;
    }
}
