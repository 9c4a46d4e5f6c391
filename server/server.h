/* server/server.h: the door of the server room: the HTTP front end.
 *
 * Threads and who owns what:
 *
 *   loop thread (main): one libuv loop owns every socket. libmicrohttpd runs
 *     in "external" epoll mode (MHD_USE_EPOLL, no internal thread): its epoll
 *     descriptor is watched by a uv_poll handle and its timeouts by a
 *     uv_timer, and MHD_run() is called from the loop. We chose this over MHD
 *     on its own thread because then every connection, every request's state
 *     (struct gen) and every suspend/resume happens on one thread: no locks
 *     around connections, and MHD's rule that suspend/resume must be called
 *     from its own thread holds by construction.
 *   engine thread: a plain pthread that loads the model (so /health answers
 *     503 "loading" until it is ready), then runs sched_wait()/sched_step().
 *     The scheduler's event callback copies each event into a mutex-protected
 *     outbox and calls uv_async_send(); it never touches a socket.
 *
 * A streaming response is an MHD callback response whose reader hands out
 * the request's SSE buffer; when the buffer is empty the reader suspends the
 * connection, and the loop resumes it when the outbox brings new events. A
 * non-streamed request is suspended after submission and resumed with its
 * response queued when all its choices are done. While a connection is
 * suspended MHD cannot see the client leave, so a timer peeks at suspended
 * sockets and cancels the requests of clients that closed.
 */
#ifndef DLLM_SERVER_H
#define DLLM_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "config/config.h"
#include "engine/engine.h"

enum srv_state { SRV_LOADING, SRV_READY, SRV_FAILED };

/* One scheduler event copied off the engine thread. */
struct outmsg {
    struct outmsg *next;
    enum sched_event_kind kind;
    struct gen_choice *choice;
    int step, total_steps;
    char *text;
    size_t text_len;
    enum finish_reason finish;
    int prompt_tokens, completion_tokens;
    char *error;
    /* FRAME */
    int32_t *canvas;
    uint8_t *masked, *fresh;
    float *conf;
    int len, span_start, span_end, block_start, block_end;
    /* FRAME and DONE: the masked spans; DONE also the final canvas */
    struct canvas_span *spans;
    int n_spans;
    /* DONE with logprobs */
    int32_t *tokens, *top_ids;
    float *token_logprobs, *top_logprobs;
    int n_tokens, n_top;
};

/* Step latency histogram buckets (seconds), for /metrics. */
#define METRIC_N_BUCKETS 12
#define METRIC_N_STATUS 16

struct metrics {
    /* loop thread */
    int status_code[METRIC_N_STATUS];
    uint64_t status_count[METRIC_N_STATUS];
    uint64_t prompt_tokens, completion_tokens;
    /* engine thread writes, loop thread reads: under lock */
    pthread_mutex_t mu;
    uint64_t step_bucket[METRIC_N_BUCKETS + 1];
    double step_sum;
    uint64_t step_count;
    /* rates, from a one-second timer */
    double last_t;
    uint64_t last_steps, last_tokens;
    double steps_per_s, tokens_per_s;
};

struct client_count {
    struct client_count *next;
    char addr[64];
    int streams;
};

struct server {
    const struct config *cfg;
    uv_loop_t *loop;
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer, peek_timer, grace_timer, rate_timer;
    uv_async_t wake;
    uv_signal_t sigint, sigterm;
    struct MHD_Daemon *mhd;
    int exit_code;
    int shutting_down, grace_over, stopped;

    /* engine */
    pthread_t engine;
    int engine_started;
    atomic_int state;
    atomic_int stop;
    char load_err[512];
    struct model *model;
    const struct backend *be;
    void *be_ctx;
    struct sched *sched;
    char model_id[256];
    long long started_at;

    /* outbox: engine thread -> loop thread */
    pthread_mutex_t out_mu;
    struct outmsg *out_head, *out_tail;

    /* live generation requests (loop thread) */
    struct gen *gens;
    int n_gens;
    struct client_count *clients;
    uint64_t next_id;
    struct metrics metrics;
};

/* Per-connection request state, MHD's con_cls. */
enum route {
    R_NONE, R_PAGE, R_HEALTH, R_METRICS, R_MODELS, R_MODEL, R_COMPLETIONS, R_CHAT, R_INFILL, R_OPTIONS,
};

struct conn {
    struct server *srv;
    enum route route;
    char method[16];
    char path[128];
    char *body;
    size_t body_len, body_cap;
    int too_large;
    long long received;  /* body bytes seen, kept or dropped */
    double t_start;
    int status;
    int tokens;
    struct gen *gen;
};

struct gen_choice {
    struct gen *g;
    int index;
    uint64_t sched_id;
    int submitted, done;
    char *text;          /* what was streamed / the full answer at DONE */
    size_t len;
    enum finish_reason finish;
    int prompt_tokens, completion_tokens;
    char *error;
    struct api_token_lp *lp;
    int n_lp;
    struct api_fill_seg *fill;   /* `canvas` requests: the filled canvas (texts owned) */
    int n_fill;
};

/* One generation request (completions, chat, infill): lives until its
 * connection is gone and every submitted choice has its DONE. */
struct gen {
    struct server *srv;
    struct gen *prev, *next;
    struct MHD_Connection *conn; /* NULL once MHD completed it */
    struct conn *cc;
    struct api_request req;
    enum api_kind kind;
    char id[48];
    struct api_ident ident;
    int n_choices, n_open;
    struct gen_choice *ch;
    int suspended;
    int answered;        /* a response was queued (errors, non-streamed) */
    int cancelled;
    char client[64];
    int counted_stream;
    /* stream */
    char *buf;
    size_t len, cap, off;
    int stream_end;
};

/* loop.c */
int server_run(const struct config *cfg);
void server_mhd_kick(struct server *s);
void server_maybe_stop(struct server *s);
double server_now(void);

/* engine_thread.c */
int engine_start(struct server *s);
void engine_join(struct server *s);
void engine_drain(struct server *s);

/* http.c */
enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **con_cls);
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe);
int http_reply(struct MHD_Connection *c, struct conn *cc, int status, const char *type, const char *body,
               size_t len);
int http_error(struct MHD_Connection *c, struct conn *cc, const struct api_error *e);
void http_add_cors(struct server *s, struct MHD_Response *r);

/* gen.c */
enum MHD_Result gen_start(struct server *s, struct MHD_Connection *c, struct conn *cc, enum api_kind kind);
void gen_on_event(struct server *s, struct outmsg *m);
void gen_connection_gone(struct gen *g);
void gen_cancel_all(struct server *s);
void gen_peek_clients(struct server *s);

/* metrics.c */
void metrics_init(struct metrics *m);
void metrics_status(struct metrics *m, int status);
void metrics_step(struct metrics *m, double seconds);
void metrics_tick(struct server *s);
char *metrics_text(struct server *s);

/* page.c */
const char *page_html(size_t *len);

#endif
