/* Generation requests on the loop thread: parse and build (api/), submit
 * one scheduler request per choice, then turn the engine's events into an
 * SSE stream or, when every choice is done, one JSON response. */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static void gen_unlink_free(struct gen *g)
{
    struct server *s = g->srv;
    if (g->prev) g->prev->next = g->next;
    else s->gens = g->next;
    if (g->next) g->next->prev = g->prev;
    s->n_gens--;
    for (int i = 0; i < g->n_choices; i++) {
        struct gen_choice *c = &g->ch[i];
        free(c->text);
        free(c->error);
        for (int k = 0; k < c->n_lp; k++) {
            free(c->lp[k].text);
            for (int t = 0; t < c->lp[k].n_top; t++) free(c->lp[k].top_text[t]);
        }
        free(c->lp);
        for (int k = 0; k < c->n_fill; k++) free((char *)c->fill[k].text);
        free(c->fill);
    }
    free(g->ch);
    free(g->buf);
    api_request_free(&g->req);
    free(g);
    server_maybe_stop(s);
}

static struct client_count *client_find(struct server *s, const char *addr, int create)
{
    for (struct client_count *c = s->clients; c; c = c->next)
        if (strcmp(c->addr, addr) == 0) return c;
    if (!create) return NULL;
    struct client_count *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->next = s->clients;
    s->clients = c;
    return c;
}

static void client_release(struct gen *g)
{
    if (!g->counted_stream) return;
    g->counted_stream = 0;
    struct server *s = g->srv;
    struct client_count *c = client_find(s, g->client, 0);
    if (!c) return;
    c->streams--;
    if (c->streams <= 0) {
        struct client_count **pp = &s->clients;
        while (*pp != c) pp = &(*pp)->next;
        *pp = c->next;
        free(c);
    }
}

/* Frees g once nothing refers to it: the connection is gone and every
 * submitted choice had its DONE (the scheduler holds g's choices as user). */
static void gen_maybe_free(struct gen *g)
{
    if (g->conn || g->n_open > 0) return;
    gen_unlink_free(g);
}

static void client_addr(struct MHD_Connection *c, char *out, size_t n)
{
    snprintf(out, n, "?");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static void wake_conn(struct gen *g)
{
    if (g->conn && g->suspended) {
        g->suspended = 0;
        MHD_resume_connection(g->conn);
    }
}

/* A client that stops reading its stream must not make the server hold its
 * events without bound: past this much unsent text the request is cancelled. */
#define STREAM_BUF_MAX (16u << 20)

static void cancel_open(struct gen *g);

/* Appends an owned SSE event to the stream buffer. */
static void stream_put(struct gen *g, char *ev)
{
    if (!ev) return;
    size_t n = strlen(ev);
    if (g->len - g->off + n > STREAM_BUF_MAX) {
        free(ev);
        if (!g->cancelled) {
            g->cancelled = 1;
            cancel_open(g);
        }
        g->stream_end = 1;
        wake_conn(g);
        return;
    }
    if (g->len + n > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n) cap *= 2;
        char *nb = realloc(g->buf, cap);
        if (!nb) {
            free(ev);
            return;
        }
        g->buf = nb;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, ev, n);
    g->len += n;
    free(ev);
    wake_conn(g);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct gen *g = cls;
    size_t avail = g->len - g->off;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, g->buf + g->off, n);
        g->off += n;
        if (g->off == g->len) g->off = g->len = 0;
        return (ssize_t)n;
    }
    if (g->stream_end) return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing ready: park the connection until the engine sends more. */
    if (g->conn && !g->suspended) {
        g->suspended = 1;
        MHD_suspend_connection(g->conn);
    }
    return 0;
}

static int model_matches(struct server *s, const char *want)
{
    if (!want || !want[0]) return 1;
    if (strcmp(want, s->model_id) == 0 || strcmp(want, s->cfg->model) == 0) return 1;
    /* the file's base name, with or without its extension */
    const char *base = strrchr(s->cfg->model, '/');
    base = base ? base + 1 : s->cfg->model;
    const char *dot = strrchr(base, '.');
    if (strcmp(want, base) == 0) return 1;
    if (dot && strlen(want) == (size_t)(dot - base) && strncmp(want, base, (size_t)(dot - base)) == 0) return 1;
    return 0;
}

static void cancel_open(struct gen *g)
{
    for (int i = 0; i < g->n_choices; i++)
        if (g->ch[i].submitted && !g->ch[i].done) sched_cancel(g->srv->sched, g->ch[i].sched_id);
}

static enum MHD_Result fail_now(struct gen *g, struct MHD_Connection *c, struct conn *cc, const struct api_error *e)
{
    g->answered = 1;
    g->cancelled = 1;
    cancel_open(g);
    return (enum MHD_Result)http_error(c, cc, e);
}

enum MHD_Result gen_start(struct server *s, struct MHD_Connection *c, struct conn *cc, enum api_kind kind)
{
    const struct config *cfg = s->cfg;
    struct api_error e;
    struct api_request req;
    if (api_parse(kind, cc->body ? cc->body : "", cc->body_len, cfg, &req, &e))
        return (enum MHD_Result)http_error(c, cc, &e);
    if (!model_matches(s, req.model)) {
        api_error_set(&e, 404, "model", "The model '%.200s' does not exist.", req.model);
        e.code = "model_not_found";
        api_request_free(&req);
        return (enum MHD_Result)http_error(c, cc, &e);
    }
    if (kind == API_INFILL) req.n = 1;
    if (!req.stream) req.frames = 0;
    char addr[64];
    client_addr(c, addr, sizeof addr);
    if (req.stream) {
        struct client_count *cl = client_find(s, addr, 0);
        if (cl && cl->streams >= cfg->max_streams_per_client) {
            api_error_set(&e, 429, "", "Too many concurrent streams from %s (limit %d).", addr,
                          cfg->max_streams_per_client);
            e.code = "rate_limit_exceeded";
            api_request_free(&req);
            return (enum MHD_Result)http_error(c, cc, &e);
        }
    }
    if (!req.seed.set) {
        /* No seed: a fresh one per request, so sampling differs call to call. */
        req.seed.set = 1;
        req.seed.v = (long long)(rng_hash((uint64_t)time(NULL), s->next_id, (uint64_t)(server_now() * 1e9), 0) >> 1);
    }
    struct api_job *jobs = NULL;
    int n_jobs = 0;
    if (api_build(&req, s->model, cfg, &jobs, &n_jobs, &e)) {
        api_request_free(&req);
        return (enum MHD_Result)http_error(c, cc, &e);
    }
    struct gen *g = calloc(1, sizeof *g);
    struct gen_choice *ch = calloc((size_t)n_jobs, sizeof *ch);
    if (!g || !ch) {
        free(g);
        free(ch);
        api_jobs_free(jobs, n_jobs);
        api_request_free(&req);
        api_error_set(&e, 500, "", "out of memory");
        return (enum MHD_Result)http_error(c, cc, &e);
    }
    g->srv = s;
    g->conn = c;
    g->cc = cc;
    g->req = req;
    g->kind = kind;
    g->ch = ch;
    g->n_choices = n_jobs;
    snprintf(g->client, sizeof g->client, "%s", addr);
    snprintf(g->id, sizeof g->id, "%s-%llu", kind == API_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)++s->next_id);
    g->ident.id = g->id;
    g->ident.created = (long long)time(NULL);
    g->ident.model = s->model_id;
    g->next = s->gens;
    if (s->gens) s->gens->prev = g;
    s->gens = g;
    s->n_gens++;
    cc->gen = g;

    for (int i = 0; i < n_jobs; i++) {
        struct gen_choice *gc = &ch[i];
        gc->g = g;
        gc->index = jobs[i].choice_index;
        gc->prompt_tokens = jobs[i].prompt_tokens;
        if (jobs[i].echo_text) {
            gc->text = jobs[i].echo_text;
            gc->len = strlen(gc->text);
            jobs[i].echo_text = NULL;
        }
    }
    for (int i = 0; i < n_jobs; i++) {
        struct gen_request gr = {
            .segs = jobs[i].segs,
            .n_segs = jobs[i].n_segs,
            .params = jobs[i].params,
            .stop = (const char *const *)g->req.stop,
            .n_stop = g->req.n_stop,
            .want_frames = g->req.frames,
            .user = &ch[i],
        };
        char err[256] = "";
        int rc = sched_submit(s->sched, &gr, &ch[i].sched_id, err, sizeof err);
        if (rc == SCHED_EFULL) {
            api_error_set(&e, 429, "", "The server is busy (request queue full); retry shortly.");
            e.code = "queue_full";
            api_jobs_free(jobs, n_jobs);
            return fail_now(g, c, cc, &e);
        }
        if (rc) {
            api_error_set(&e, rc == SCHED_EINVAL ? 400 : 500, "", "%s", err[0] ? err : "the scheduler refused the request");
            api_jobs_free(jobs, n_jobs);
            return fail_now(g, c, cc, &e);
        }
        ch[i].submitted = 1;
        g->n_open++;
    }
    api_jobs_free(jobs, n_jobs);

    if (!req.stream) {
        g->suspended = 1;
        MHD_suspend_connection(c);
        return MHD_YES;
    }
    /* Streaming: the first chunk of each choice carries the role (chat) or
     * the echoed prompt (completions). */
    for (int i = 0; i < n_jobs; i++) {
        if (kind == API_CHAT) stream_put(g, api_chunk(kind, &g->ident, ch[i].index, 1, "", 0, FINISH_NONE, NULL, 0));
        else if (ch[i].len) stream_put(g, api_chunk(kind, &g->ident, ch[i].index, 0, ch[i].text, ch[i].len, FINISH_NONE, NULL, 0));
        /* what the stream has shown counts from here */
        free(ch[i].text);
        ch[i].text = NULL;
        ch[i].len = 0;
    }
    struct client_count *cl = client_find(s, addr, 1);
    if (cl) {
        cl->streams++;
        g->counted_stream = 1;
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, g, NULL);
    if (!r) {
        api_error_set(&e, 500, "", "out of memory");
        return fail_now(g, c, cc, &e);
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    http_add_cors(s, r);
    int ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    cc->status = 200;
    g->answered = 1;
    return (enum MHD_Result)ret;
}

static void append_text(struct gen_choice *c, const char *t, size_t n)
{
    if (!n) return;
    char *nt = realloc(c->text, c->len + n + 1);
    if (!nt) return;
    memcpy(nt + c->len, t, n);
    c->len += n;
    nt[c->len] = 0;
    c->text = nt;
}

static void take_logprobs(struct gen *g, struct gen_choice *c, const struct outmsg *m)
{
    if (!g->req.want_logprobs || m->n_tokens <= 0) return;
    const struct tokenizer *tok = g->srv->model->tok;
    c->lp = calloc((size_t)m->n_tokens, sizeof *c->lp);
    if (!c->lp) return;
    int n_top = g->req.top_logprobs < m->n_top ? g->req.top_logprobs : m->n_top;
    for (int i = 0; i < m->n_tokens; i++) {
        struct api_token_lp *t = &c->lp[i];
        t->text = tok_decode(tok, &m->tokens[i], 1, 0);
        if (!t->text) t->text = strdup("");
        t->logprob = m->token_logprobs[i];
        for (int k = 0; k < n_top; k++) {
            char *piece = tok_decode(tok, &m->top_ids[(size_t)i * m->n_top + k], 1, 0);
            if (!piece) break;
            t->top_text[k] = piece;
            t->top_logprob[k] = m->top_logprobs[(size_t)i * m->n_top + k];
            t->n_top = k + 1;
        }
        c->n_lp = i + 1;
    }
}

/* A `canvas` request's answer: the request's segments with each span's
 * text, read from the final canvas up to the span's first end-of-text (or a
 * position left masked when the answer settled early), decoded as the
 * scheduler decodes the answer (one stream over the spans, flushed at each
 * span's end), so the spans' texts put end to end are the answer's text
 * (before any stop string cut it). */
static void take_fill(struct gen *g, struct gen_choice *c, const struct outmsg *m)
{
    const struct api_request *r = &g->req;
    if (!r->canvas || c->fill) return;
    const struct model *md = g->srv->model;
    c->fill = calloc((size_t)r->n_canvas, sizeof *c->fill);
    struct tok_stream *ts = tok_stream_new(md->tok, 1);
    if (!c->fill || !ts) {
        free(c->fill);
        c->fill = NULL;
        tok_stream_free(ts);
        return;
    }
    int span = 0;
    for (int i = 0; i < r->n_canvas; i++) {
        struct api_fill_seg *f = &c->fill[i];
        f->mask = r->canvas[i].mask;
        if (r->canvas[i].text) {
            f->text = strdup(r->canvas[i].text);
        } else if (span < m->n_spans && m->canvas && m->spans[span].start + m->spans[span].len <= m->len) {
            const struct canvas_span *sp = &m->spans[span++];
            const int32_t *ids = m->canvas + sp->start;
            int n = 0;
            while (n < sp->len && ids[n] != md->cfg.eos_id && ids[n] != md->cfg.eot_id && ids[n] != md->cfg.mask_id) n++;
            char *a = tok_stream_push(ts, ids, n), *b = tok_stream_flush(ts);
            size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
            char *t = malloc(la + lb + 1);
            if (t) {
                memcpy(t, a ? a : "", la);
                memcpy(t + la, b ? b : "", lb + 1);
            }
            free(a);
            free(b);
            f->text = t;
        }
        if (!f->text) f->text = strdup("");
        c->n_fill = i + 1;
    }
    tok_stream_free(ts);
}

/* Every choice is done: send the response, or close the stream. */
static void finish_gen(struct gen *g)
{
    struct server *s = g->srv;
    struct api_usage u = {0, 0};
    const struct gen_choice *bad = NULL;
    for (int i = 0; i < g->n_choices; i++) {
        const struct gen_choice *c = &g->ch[i];
        if (c->index % g->req.n == 0) u.prompt_tokens += c->prompt_tokens;
        u.completion_tokens += c->completion_tokens;
        if ((c->finish == FINISH_ERROR || c->finish == FINISH_CANCELLED) && !bad) bad = c;
    }
    if (g->cc) g->cc->tokens = u.prompt_tokens + u.completion_tokens;
    s->metrics.prompt_tokens += (uint64_t)u.prompt_tokens;
    s->metrics.completion_tokens += (uint64_t)u.completion_tokens;
    struct api_error e;
    if (bad) {
        if (bad->finish == FINISH_CANCELLED)
            api_error_set(&e, 503, "", "The request was cancelled: the server is shutting down.");
        else
            api_error_set(&e, 500, "", "Generation failed: %s", bad->error ? bad->error : "engine error");
    }
    if (g->req.stream) {
        if (bad) stream_put(g, api_error_event(&e));
        else if (g->req.include_usage && g->kind != API_INFILL) stream_put(g, api_usage_chunk(g->kind, &g->ident, &u));
        if (g->kind != API_INFILL) stream_put(g, api_done_event());
        g->stream_end = 1;
        wake_conn(g);
        return;
    }
    if (!g->conn || !g->cc) return;
    if (bad) {
        http_error(g->conn, g->cc, &e);
    } else {
        struct api_choice *out = calloc((size_t)g->n_choices, sizeof *out);
        char *body = NULL;
        if (out) {
            for (int i = 0; i < g->n_choices; i++) {
                out[i].index = g->ch[i].index;
                out[i].text = g->ch[i].text;
                out[i].finish = g->ch[i].finish;
                out[i].lp = g->ch[i].lp;
                out[i].n_lp = g->ch[i].n_lp;
                out[i].fill = g->ch[i].fill;
                out[i].n_fill = g->ch[i].n_fill;
            }
            body = api_response(g->kind, &g->req, &g->ident, out, g->n_choices, &u);
            free(out);
        }
        if (body) http_reply(g->conn, g->cc, 200, "application/json", body, strlen(body));
        else {
            api_error_set(&e, 500, "", "out of memory");
            http_error(g->conn, g->cc, &e);
        }
        free(body);
    }
    g->answered = 1;
    wake_conn(g);
}

void gen_on_event(struct server *s, struct outmsg *m)
{
    struct gen_choice *c = m->choice;
    if (!c) return;
    struct gen *g = c->g;
    if (m->kind == SCHED_EV_DONE) {
        c->done = 1;
        g->n_open--;
    }
    int live = g->conn && !g->cancelled;
    if (!live) {
        if (m->kind == SCHED_EV_DONE) gen_maybe_free(g);
        return;
    }
    if (m->kind == SCHED_EV_FRAME) {
        if (g->req.stream && g->req.frames && m->len > 0) {
            struct api_frame f = {c->index, m->step, m->total_steps, m->len, m->canvas, m->masked, m->fresh,
                                  m->conf, m->span_start, m->span_end, m->block_start, m->block_end,
                                  m->spans, m->n_spans};
            stream_put(g, api_frame_event(s->model->tok, &f));
        }
        return;
    }
    if (m->kind == SCHED_EV_DELTA) {
        if (g->req.stream && m->text_len) {
            stream_put(g, api_chunk(g->kind, &g->ident, c->index, 0, m->text, m->text_len, FINISH_NONE, NULL, 0));
            append_text(c, m->text, m->text_len);
        }
        return;
    }
    /* DONE: the full answer. A stream sends what its deltas have not shown
     * yet, then the finish_reason; a plain response keeps the whole text. */
    c->finish = m->finish;
    c->completion_tokens = m->completion_tokens;
    if (m->prompt_tokens > 0) c->prompt_tokens = m->prompt_tokens;
    if (m->error) c->error = strdup(m->error);
    take_logprobs(g, c, m);
    if (c->finish == FINISH_STOP || c->finish == FINISH_LENGTH) take_fill(g, c, m);
    const char *full = m->text ? m->text : "";
    size_t full_len = m->text ? m->text_len : 0;
    if (g->req.stream) {
        if (c->finish != FINISH_ERROR && c->finish != FINISH_CANCELLED) {
            size_t shown = c->len <= full_len && memcmp(full, c->text ? c->text : "", c->len) == 0 ? c->len : full_len;
            if (full_len > shown)
                stream_put(g, api_chunk(g->kind, &g->ident, c->index, 0, full + shown, full_len - shown, FINISH_NONE, NULL, 0));
            if (g->kind == API_INFILL)
                stream_put(g, api_chunk(g->kind, &g->ident, c->index, 0, NULL, 0, c->finish, NULL, 0));
            else if (c->fill)
                stream_put(g, api_fill_chunk(&g->ident, c->index, c->finish, c->lp, c->n_lp, c->fill, c->n_fill));
            else
                stream_put(g, api_chunk(g->kind, &g->ident, c->index, 0, NULL, 0, c->finish, c->lp, c->n_lp));
        }
    } else {
        append_text(c, full, full_len);
    }
    if (g->n_open == 0) finish_gen(g);
}

void gen_connection_gone(struct gen *g)
{
    g->conn = NULL;
    g->cc = NULL;
    client_release(g);
    if (!g->cancelled) {
        g->cancelled = 1;
        cancel_open(g);
    }
    gen_maybe_free(g);
}

void gen_cancel_all(struct server *s)
{
    for (struct gen *g = s->gens; g; g = g->next) cancel_open(g);
}

/* MHD does not watch suspended sockets: look for clients that closed and
 * cancel their work now rather than when the answer is ready. */
void gen_peek_clients(struct server *s)
{
    int woke = 0;
    for (struct gen *g = s->gens; g; g = g->next) {
        if (!g->conn || !g->suspended || g->cancelled) continue;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(g->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci) continue;
        char b;
        ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) continue;
        g->cancelled = 1;
        cancel_open(g);
        if (g->req.stream) {
            g->stream_end = 1;
        } else if (!g->answered && g->cc) {
            struct api_error e;
            api_error_set(&e, 499, "", "The client closed the connection.");
            http_error(g->conn, g->cc, &e);
            g->answered = 1;
        }
        wake_conn(g);
        woke = 1;
    }
    if (woke) server_mhd_kick(s);
}
