/* bench_http: requests/s and latency (p50/p99) of small completions at 1, 16
 * and 64 concurrent clients over loopback, and the time from request to the
 * first SSE event of a stream.
 *
 *   bin/bench_http MODEL [seconds]    starts bin/dllm-server on a free port
 *   bin/bench_http --port N [seconds] uses a running server
 *
 * Clients are plain blocking sockets, one thread each, one request per
 * connection (Connection: close), so the figure includes connection setup. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int port;
static double duration = 5;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request; returns the HTTP status (0 on failure). *first gets the time
 * the first body byte arrived (streams: the first SSE event). */
static int request(const char *path, const char *body, double *first)
{
    int fd = dial();
    if (fd < 0) return 0;
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, strlen(body), body);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    char buf[16384];
    int status = 0, matched = 0, in_body = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        if (!status && r > 12 && strncmp(buf, "HTTP/1.", 7) == 0) status = atoi(buf + 9);
        for (ssize_t i = 0; i < r; i++) {
            if (in_body) {
                if (first && *first == 0) *first = now();
                break;
            }
            /* the end of the headers: "\r\n\r\n" */
            if (buf[i] == "\r\n\r\n"[matched]) matched++;
            else matched = buf[i] == '\r';
            if (matched == 4) in_body = 1;
        }
    }
    close(fd);
    return status;
}

static const char *small = "{\"prompt\": \"In the beginning\", \"max_tokens\": 8, \"temperature\": 0}";

struct worker {
    pthread_t th;
    double deadline;
    double *lat;
    int n, cap, errors;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    while (now() < w->deadline) {
        double t0 = now();
        int st = request("/v1/completions", small, NULL);
        double dt = now() - t0;
        if (st != 200) {
            w->errors++;
            continue;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 256;
            w->lat = realloc(w->lat, sizeof *w->lat * (size_t)w->cap);
        }
        w->lat[w->n++] = dt;
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void level(int clients)
{
    struct worker *ws = calloc((size_t)clients, sizeof *ws);
    double t0 = now();
    for (int i = 0; i < clients; i++) {
        ws[i].deadline = t0 + duration;
        pthread_create(&ws[i].th, NULL, work, &ws[i]);
    }
    int total = 0, errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(ws[i].th, NULL);
        total += ws[i].n;
        errors += ws[i].errors;
    }
    double elapsed = now() - t0;
    double *all = malloc(sizeof *all * (size_t)(total ? total : 1));
    int k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, ws[i].lat, sizeof *all * (size_t)ws[i].n);
        k += ws[i].n;
        free(ws[i].lat);
    }
    qsort(all, (size_t)total, sizeof *all, cmp);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(int)(total * 0.99)] : 0;
    printf("%8d %10.1f %10.1f %10.1f %8d %8d\n", clients, total / elapsed, p50 * 1e3, p99 * 1e3, total, errors);
    fflush(stdout);
    free(all);
    free(ws);
}

static void first_event(void)
{
    const char *stream = "{\"prompt\": \"In the beginning\", \"max_tokens\": 32, \"temperature\": 0, \"stream\": true}";
    const char *frames =
        "{\"prompt\": \"In the beginning\", \"max_tokens\": 32, \"temperature\": 0, \"stream\": true, \"frames\": true}";
    const char *names[2] = {"stream", "stream+frames"};
    const char *bodies[2] = {stream, frames};
    for (int b = 0; b < 2; b++) {
        enum { N = 20 };
        double ttfe[N], tot[N];
        int ok = 0;
        for (int i = 0; i < N; i++) {
            double first = 0, t0 = now();
            if (request("/v1/completions", bodies[b], &first) != 200 || first == 0) continue;
            ttfe[ok] = first - t0;
            tot[ok] = now() - t0;
            ok++;
        }
        qsort(ttfe, (size_t)ok, sizeof *ttfe, cmp);
        qsort(tot, (size_t)ok, sizeof *tot, cmp);
        if (ok)
            printf("%-14s first SSE event p50 %.1f ms, max %.1f ms; whole stream p50 %.1f ms (%d of %d)\n", names[b],
                   ttfe[ok / 2] * 1e3, ttfe[ok - 1] * 1e3, tot[ok / 2] * 1e3, ok, N);
        else
            printf("%-14s no successful stream\n", names[b]);
    }
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l)) return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static int healthy(void)
{
    int fd = dial();
    if (fd < 0) return 0;
    const char *q = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[256] = {0};
    int ok = write(fd, q, strlen(q)) > 0 && read(fd, buf, sizeof buf - 1) > 12 && atoi(buf + 9) == 200;
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [seconds] | --port N [seconds]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t server = 0;
    int argi = 2;
    if (strcmp(argv[1], "--port") == 0 && argc > 2) {
        port = atoi(argv[2]);
        argi = 3;
    } else {
        if (access(argv[1], R_OK)) {
            printf("bench_http: skipped, no model %s\n", argv[1]);
            return 0;
        }
        port = free_port();
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        server = fork();
        if (server == 0) {
            execl("bin/dllm-server", "dllm-server", "--port", ps, "--model", argv[1], "--log-requests", "false",
                  "--max-queue", "4096", (char *)NULL);
            _exit(127);
        }
        double t0 = now();
        while (!healthy() && now() - t0 < 120) usleep(100000);
        if (!healthy()) {
            fprintf(stderr, "bench_http: the server did not come up\n");
            kill(server, SIGKILL);
            return 1;
        }
    }
    if (argc > argi) duration = atof(argv[argi]);
    printf("small completions (max_tokens 8, greedy), %.0f s per level, one connection per request\n", duration);
    printf("%8s %10s %10s %10s %8s %8s\n", "clients", "req/s", "p50 ms", "p99 ms", "done", "errors");
    int levels[3] = {1, 16, 64};
    for (int i = 0; i < 3; i++) level(levels[i]);
    first_event();
    if (server) {
        kill(server, SIGTERM);
        int st;
        waitpid(server, &st, 0);
    }
    return 0;
}
