/* libmicrohttpd glue: routing, API key, body limits, CORS, plain replies,
 * and the request log line. Generation routes are handed to gen.c. */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void http_add_cors(struct server *s, struct MHD_Response *r)
{
    if (!s->cfg->cors_origin || !s->cfg->cors_origin[0]) return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", s->cfg->cors_origin);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    if (strcmp(s->cfg->cors_origin, "*") != 0) MHD_add_response_header(r, "Vary", "Origin");
}

int http_reply(struct MHD_Connection *c, struct conn *cc, int status, const char *type, const char *body,
               size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    if (type) MHD_add_response_header(r, "Content-Type", type);
    http_add_cors(cc->srv, r);
    if (status == 429 || status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 405) {
        const char *allow = cc->route == R_COMPLETIONS || cc->route == R_CHAT || cc->route == R_INFILL
                                ? "POST, OPTIONS"
                                : "GET, OPTIONS";
        MHD_add_response_header(r, "Allow", allow);
    }
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    int ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    cc->status = status;
    return ret;
}

int http_error(struct MHD_Connection *c, struct conn *cc, const struct api_error *e)
{
    char *body = api_error_json(e);
    if (!body) return MHD_NO;
    int ret = http_reply(c, cc, e->status, "application/json", body, strlen(body));
    free(body);
    return ret;
}

static int reply_error(struct MHD_Connection *c, struct conn *cc, int status, const char *param,
                       const char *code, const char *msg)
{
    struct api_error e;
    api_error_set(&e, status, param, "%s", msg);
    e.code = code;
    return http_error(c, cc, &e);
}

static int reply_json(struct MHD_Connection *c, struct conn *cc, int status, char *owned)
{
    if (!owned) return reply_error(c, cc, 500, "", NULL, "out of memory");
    int ret = http_reply(c, cc, status, "application/json", owned, strlen(owned));
    free(owned);
    return ret;
}

/* Constant time in the length of the expected key: no early exit on the
 * first differing byte, so timing does not reveal a prefix. */
#define BODY_DISCARD_MAX (64LL << 20)

static int key_equal(const char *given, const char *want)
{
    size_t gl = strlen(given), wl = strlen(want);
    unsigned char diff = (unsigned char)(gl != wl);
    for (size_t i = 0; i < wl; i++) diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

static int authorized(struct server *s, struct MHD_Connection *c)
{
    if (!s->cfg->api_key || !s->cfg->api_key[0]) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    return key_equal(h, s->cfg->api_key);
}

static enum route find_route(const char *url)
{
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) return R_PAGE;
    if (strcmp(url, "/health") == 0 || strcmp(url, "/v1/health") == 0) return R_HEALTH;
    if (strcmp(url, "/metrics") == 0) return R_METRICS;
    if (strcmp(url, "/v1/models") == 0) return R_MODELS;
    if (strncmp(url, "/v1/models/", 11) == 0 && url[11]) return R_MODEL;
    if (strcmp(url, "/v1/completions") == 0) return R_COMPLETIONS;
    if (strcmp(url, "/v1/chat/completions") == 0) return R_CHAT;
    if (strcmp(url, "/infill") == 0) return R_INFILL;
    return R_NONE;
}

static int is_post_route(enum route r)
{
    return r == R_COMPLETIONS || r == R_CHAT || r == R_INFILL;
}


static int serve_models(struct server *s, struct MHD_Connection *c, struct conn *cc, const char *url)
{
    if (cc->route == R_MODELS) return reply_json(c, cc, 200, api_model_json(s->model_id, s->started_at, 1));
    const char *want = url + strlen("/v1/models/");
    if (strcmp(want, s->model_id) != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "The model '%.200s' does not exist.", want);
        return reply_error(c, cc, 404, "model", "model_not_found", msg);
    }
    return reply_json(c, cc, 200, api_model_json(s->model_id, s->started_at, 0));
}

static int serve_get(struct server *s, struct MHD_Connection *c, struct conn *cc, const char *url)
{
    int st = atomic_load(&s->state);
    switch (cc->route) {
    case R_PAGE: {
        size_t len;
        const char *page = page_html(&len);
        return http_reply(c, cc, 200, "text/html; charset=utf-8", page, len);
    }
    case R_HEALTH:
        if (st == SRV_READY && !s->shutting_down) return reply_json(c, cc, 200, strdup("{\"status\":\"ok\"}"));
        return reply_json(c, cc, 503,
                          strdup(st == SRV_READY ? "{\"status\":\"stopping\"}" : "{\"status\":\"loading\"}"));
    case R_METRICS: {
        char *t = metrics_text(s);
        if (!t) return reply_error(c, cc, 500, "", NULL, "out of memory");
        int ret = http_reply(c, cc, 200, "text/plain; version=0.0.4; charset=utf-8", t, strlen(t));
        free(t);
        return ret;
    }
    case R_MODELS:
    case R_MODEL:
        if (st != SRV_READY) return reply_error(c, cc, 503, "", NULL, "The model is still loading.");
        return serve_models(s, c, cc, url);
    default: break;
    }
    return reply_error(c, cc, 404, "", NULL, "Not found.");
}

enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **con_cls)
{
    (void)version;
    struct server *s = cls;
    struct conn *cc = *con_cls;
    if (!cc) {
        cc = calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        cc->srv = s;
        cc->t_start = server_now();
        snprintf(cc->method, sizeof cc->method, "%s", method);
        snprintf(cc->path, sizeof cc->path, "%s", url);
        cc->route = find_route(url);
        *con_cls = cc;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        long long announced = cl ? strtoll(cl, NULL, 10) : 0;
        if (announced > s->cfg->max_body_bytes) cc->too_large = 1;
        /* A body over the limit is read and dropped, then answered 413: a
         * client still writing would not see an early reply (EPIPE). Past
         * BODY_DISCARD_MAX it is answered at once and the connection closed. */
        if (announced > BODY_DISCARD_MAX) {
            char msg[128];
            snprintf(msg, sizeof msg, "The request body is larger than %ld bytes.", s->cfg->max_body_bytes);
            return (enum MHD_Result)reply_error(c, cc, 413, "", "request_too_large", msg);
        }
        return MHD_YES;
    }
    if (cc->gen) {
        /* Resumed with nothing queued yet (spurious): wait again. */
        if (!cc->gen->answered && !cc->gen->req.stream) {
            MHD_suspend_connection(c);
            cc->gen->suspended = 1;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        cc->received += (long long)*upload_data_size;
        if (cc->received > BODY_DISCARD_MAX) return MHD_NO; /* no reply is worth reading that much */
        if (!cc->too_large && cc->body_len + *upload_data_size > (size_t)s->cfg->max_body_bytes) {
            cc->too_large = 1;
            free(cc->body);
            cc->body = NULL;
            cc->body_len = cc->body_cap = 0;
        }
        if (!cc->too_large) {
            if (cc->body_len + *upload_data_size + 1 > cc->body_cap) {
                size_t cap = cc->body_cap ? cc->body_cap : 4096;
                while (cap < cc->body_len + *upload_data_size + 1) cap *= 2;
                char *nb = realloc(cc->body, cap);
                if (!nb) return MHD_NO;
                cc->body = nb;
                cc->body_cap = cap;
            }
            memcpy(cc->body + cc->body_len, upload_data, *upload_data_size);
            cc->body_len += *upload_data_size;
            cc->body[cc->body_len] = 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cc->status) return MHD_YES; /* already answered */
    if (cc->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "The request body is larger than %ld bytes.", s->cfg->max_body_bytes);
        return (enum MHD_Result)reply_error(c, cc, 413, "", "request_too_large", msg);
    }
    if (strcmp(method, "OPTIONS") == 0) {
        cc->route = R_OPTIONS;
        return (enum MHD_Result)http_reply(c, cc, 204, NULL, "", 0);
    }
    if (cc->route == R_NONE) {
        char msg[300];
        snprintf(msg, sizeof msg, "Unknown request URL: %s %.200s.", method, url);
        return (enum MHD_Result)reply_error(c, cc, 404, "", "unknown_url", msg);
    }
    int post = is_post_route(cc->route);
    int method_ok = post ? strcmp(method, "POST") == 0 : (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
    if (!method_ok) {
        char msg[300];
        snprintf(msg, sizeof msg, "Method %s is not allowed on %.200s.", method, url);
        return (enum MHD_Result)reply_error(c, cc, 405, "", "method_not_allowed", msg);
    }
    int needs_key = post || cc->route == R_MODELS || cc->route == R_MODEL;
    if (needs_key && !authorized(s, c))
        return (enum MHD_Result)reply_error(c, cc, 401, "", "invalid_api_key",
                                            "Missing or incorrect API key: send 'Authorization: Bearer KEY'.");
    if (!post) return (enum MHD_Result)serve_get(s, c, cc, url);
    if (atomic_load(&s->state) != SRV_READY)
        return (enum MHD_Result)reply_error(c, cc, 503, "", NULL, "The model is still loading; retry shortly.");
    if (s->shutting_down)
        return (enum MHD_Result)reply_error(c, cc, 503, "", NULL, "The server is shutting down.");
    enum api_kind kind = cc->route == R_CHAT ? API_CHAT : cc->route == R_INFILL ? API_INFILL : API_COMPLETION;
    return gen_start(s, c, cc, kind);
}

void http_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct server *s = cls;
    struct conn *cc = *con_cls;
    if (!cc) return;
    *con_cls = NULL;
    int status = cc->status;
    if (cc->gen) {
        /* A stream whose client left before the end is logged as 499. */
        if ((toe != MHD_REQUEST_TERMINATED_COMPLETED_OK || cc->gen->cancelled) && status == 200) status = 499;
        gen_connection_gone(cc->gen);
    }
    if (!status) status = 499;
    metrics_status(&s->metrics, status);
    if (s->cfg->log_requests) {
        fprintf(stderr, "%s %s %d tokens=%d %.1fms\n", cc->method, cc->path, status, cc->tokens,
                (server_now() - cc->t_start) * 1e3);
    }
    free(cc->body);
    free(cc);
}
