/* The libuv loop: drives libmicrohttpd (its epoll fd through uv_poll, its
 * timeouts through uv_timer), drains the engine's outbox on uv_async, and
 * shuts down on SIGINT/SIGTERM: stop accepting, give in-flight requests
 * shutdown_grace_ms, then cancel them, then exit 0. */
#include "server/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double server_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_mhd_timer(uv_timer_t *t);

/* Runs MHD once and re-arms its timer; call after anything that may have
 * given MHD work (socket readiness, resumed connections). */
void server_mhd_kick(struct server *s)
{
    if (!s->mhd) return;
    MHD_run(s->mhd);
    MHD_UNSIGNED_LONG_LONG to;
    if (MHD_get_timeout(s->mhd, &to) == MHD_YES) uv_timer_start(&s->mhd_timer, on_mhd_timer, to, 0);
    else uv_timer_stop(&s->mhd_timer);
}

static void on_mhd_timer(uv_timer_t *t)
{
    server_mhd_kick(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    server_mhd_kick(p->data);
}

static void close_all(struct server *s);

/* Small SSE writes must leave at once: without TCP_NODELAY, Nagle's rule
 * and the peer's delayed ACK hold an event back for up to 200 ms. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)socket_context;
    if (code != MHD_CONNECTION_NOTIFY_STARTED) return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (ci) setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Ends the loop once shutdown was asked and no request is left. Called
 * wherever a request may have been the last: engine events, the grace timer,
 * and the freeing of a request (a client that left frees it from MHD). */
void server_maybe_stop(struct server *s)
{
    if (s->stopped || !s->shutting_down || s->n_gens > 0) return;
    s->stopped = 1;
    close_all(s);
}

static void on_wake(uv_async_t *a)
{
    struct server *s = a->data;
    int st = atomic_load(&s->state);
    if (st == SRV_FAILED && !s->stopped) {
        fprintf(stderr, "dllm-server: %s\n", s->load_err);
        s->exit_code = 1;
        s->shutting_down = 1;
        server_maybe_stop(s);
        return;
    }
    if (st == SRV_READY && !s->model_id[0] && s->model) {
        const char *name = s->model->name && s->model->name[0] ? s->model->name : s->cfg->model;
        snprintf(s->model_id, sizeof s->model_id, "%s", name);
        fprintf(stderr, "dllm-server: model %s ready (%s backend)\n", s->model_id, s->be->name);
    }
    engine_drain(s);
    server_mhd_kick(s);
    server_maybe_stop(s);
}

static void on_peek(uv_timer_t *t)
{
    gen_peek_clients(t->data);
}

static void on_rate(uv_timer_t *t)
{
    metrics_tick(t->data);
}

static void on_grace(uv_timer_t *t)
{
    struct server *s = t->data;
    if (s->n_gens > 0)
        fprintf(stderr, "dllm-server: shutdown grace over, cancelling %d request(s)\n", s->n_gens);
    s->grace_over = 1;
    gen_cancel_all(s);
    server_mhd_kick(s);
    server_maybe_stop(s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    if (s->shutting_down) return;
    fprintf(stderr, "dllm-server: %s, stopping (grace %d ms)\n", signum == SIGINT ? "SIGINT" : "SIGTERM",
            s->cfg->shutdown_grace_ms);
    s->shutting_down = 1;
    if (s->mhd) {
        /* Stop accepting: MHD hands back the listening socket to close. */
        MHD_socket fd = MHD_quiesce_daemon(s->mhd);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
    uv_timer_start(&s->grace_timer, on_grace, (uint64_t)s->cfg->shutdown_grace_ms, 0);
    server_maybe_stop(s);
}

static void close_all(struct server *s)
{
    uv_timer_stop(&s->grace_timer);
    uv_timer_stop(&s->peek_timer);
    uv_timer_stop(&s->rate_timer);
    uv_timer_stop(&s->mhd_timer);
    uv_poll_stop(&s->mhd_poll);
    uv_signal_stop(&s->sigint);
    uv_signal_stop(&s->sigterm);
    uv_stop(s->loop);
}

/* Resolves host:port into a listening address (IPv4 or IPv6). */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host, ps, &hints, &ai) || !ai) return -1;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sl = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int server_run(const struct config *cfg)
{
    static struct server srv; /* the process has one; signal handlers see it */
    struct server *s = &srv;
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->loop = uv_default_loop();
    pthread_mutex_init(&s->out_mu, NULL);
    metrics_init(&s->metrics);
    atomic_init(&s->state, SRV_LOADING);
    atomic_init(&s->stop, 0);
    s->started_at = (long long)time(NULL);

    struct sockaddr_storage ss;
    socklen_t sl;
    if (resolve(cfg->host, cfg->port, &ss, &sl)) {
        fprintf(stderr, "dllm-server: cannot resolve host '%s'\n", cfg->host);
        return 2;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, http_access, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_NOTIFY_COMPLETED, http_completed, s,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              /* idle or slow clients (slowloris) lose their socket */
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                              MHD_OPTION_END);
    if (!s->mhd) {
        fprintf(stderr, "dllm-server: cannot listen on %s:%d\n", cfg->host, cfg->port);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di) {
        fprintf(stderr, "dllm-server: libmicrohttpd has no epoll descriptor\n");
        MHD_stop_daemon(s->mhd);
        return 1;
    }
    uv_poll_init(s->loop, &s->mhd_poll, di->epoll_fd);
    uv_timer_init(s->loop, &s->mhd_timer);
    uv_timer_init(s->loop, &s->peek_timer);
    uv_timer_init(s->loop, &s->grace_timer);
    uv_timer_init(s->loop, &s->rate_timer);
    uv_async_init(s->loop, &s->wake, on_wake);
    uv_signal_init(s->loop, &s->sigint);
    uv_signal_init(s->loop, &s->sigterm);
    s->mhd_poll.data = s->mhd_timer.data = s->peek_timer.data = s->grace_timer.data = s;
    s->rate_timer.data = s->wake.data = s->sigint.data = s->sigterm.data = s;
    uv_poll_start(&s->mhd_poll, UV_READABLE, on_mhd_poll);
    uv_timer_start(&s->peek_timer, on_peek, 250, 250);
    uv_timer_start(&s->rate_timer, on_rate, 1000, 1000);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    fprintf(stderr, "dllm-server: listening on http://%s:%d (loading %s)\n", cfg->host, cfg->port, cfg->model);

    if (engine_start(s)) {
        fprintf(stderr, "dllm-server: cannot start the engine thread\n");
        s->exit_code = 1;
    } else {
        server_mhd_kick(s);
        uv_run(s->loop, UV_RUN_DEFAULT);
    }

    /* Out of the loop: no request is left; stop MHD, then the engine. */
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    engine_join(s);
    uv_close((uv_handle_t *)&s->mhd_poll, NULL);
    uv_close((uv_handle_t *)&s->mhd_timer, NULL);
    uv_close((uv_handle_t *)&s->peek_timer, NULL);
    uv_close((uv_handle_t *)&s->grace_timer, NULL);
    uv_close((uv_handle_t *)&s->rate_timer, NULL);
    uv_close((uv_handle_t *)&s->wake, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_run(s->loop, UV_RUN_DEFAULT);
    uv_loop_close(s->loop);
    while (s->clients) {
        struct client_count *n = s->clients->next;
        free(s->clients);
        s->clients = n;
    }
    pthread_mutex_destroy(&s->out_mu);
    return s->exit_code;
}
