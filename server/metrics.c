/* Prometheus text for GET /metrics: requests by status, queue depth, active
 * canvases, steps/s and tokens/s (over the last second), and a histogram of
 * scheduler step latency measured on the engine thread. */
#include "server/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_le[METRIC_N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,   0.25,   0.5,   1.0,  2.5,   5.0};

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->last_t = server_now();
}

/* Loop thread. */
void metrics_status(struct metrics *m, int status)
{
    for (int i = 0; i < METRIC_N_STATUS; i++) {
        if (m->status_code[i] == status || m->status_code[i] == 0) {
            m->status_code[i] = status;
            m->status_count[i]++;
            return;
        }
    }
}

/* Engine thread. */
void metrics_step(struct metrics *m, double seconds)
{
    int b = 0;
    while (b < METRIC_N_BUCKETS && seconds > bucket_le[b]) b++;
    pthread_mutex_lock(&m->mu);
    m->step_bucket[b]++;
    m->step_sum += seconds;
    m->step_count++;
    pthread_mutex_unlock(&m->mu);
}

/* Once a second on the loop thread: rates from the scheduler's counters. */
void metrics_tick(struct server *s)
{
    struct metrics *m = &s->metrics;
    if (atomic_load(&s->state) != SRV_READY || !s->sched) return;
    struct sched_stats st;
    sched_get_stats(s->sched, &st);
    double now = server_now(), dt = now - m->last_t;
    if (dt <= 0) return;
    m->steps_per_s = (double)(st.steps - m->last_steps) / dt;
    m->tokens_per_s = (double)(st.tokens_committed - m->last_tokens) / dt;
    m->last_steps = st.steps;
    m->last_tokens = st.tokens_committed;
    m->last_t = now;
}

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    if (!b->p) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *np = realloc(b->p, b->cap * 2);
        if (!np) {
            free(b->p);
            b->p = NULL;
            return;
        }
        b->p = np;
        b->cap *= 2;
    }
}

char *metrics_text(struct server *s)
{
    struct metrics *m = &s->metrics;
    struct buf b = {malloc(4096), 0, 4096};
    put(&b, "# HELP dllm_requests_total HTTP requests answered, by status code.\n");
    put(&b, "# TYPE dllm_requests_total counter\n");
    for (int i = 0; i < METRIC_N_STATUS && m->status_code[i]; i++)
        put(&b, "dllm_requests_total{status=\"%d\"} %llu\n", m->status_code[i],
            (unsigned long long)m->status_count[i]);
    struct sched_stats st = {0};
    if (atomic_load(&s->state) == SRV_READY && s->sched) sched_get_stats(s->sched, &st);
    put(&b, "# HELP dllm_queue_depth Requests waiting for the engine.\n# TYPE dllm_queue_depth gauge\n");
    put(&b, "dllm_queue_depth %d\n", st.queued);
    put(&b, "# HELP dllm_active_canvases Canvases being denoised.\n# TYPE dllm_active_canvases gauge\n");
    put(&b, "dllm_active_canvases %d\n", st.active);
    put(&b, "# HELP dllm_open_requests Generation requests the server holds.\n# TYPE dllm_open_requests gauge\n");
    put(&b, "dllm_open_requests %d\n", s->n_gens);
    put(&b, "# HELP dllm_steps_total Canvas denoising steps.\n# TYPE dllm_steps_total counter\n");
    put(&b, "dllm_steps_total %llu\n", (unsigned long long)st.steps);
    put(&b, "# HELP dllm_forwards_total Batched forward passes.\n# TYPE dllm_forwards_total counter\n");
    put(&b, "dllm_forwards_total %llu\n", (unsigned long long)st.forwards);
    put(&b, "# HELP dllm_tokens_committed_total Tokens committed on canvases.\n# TYPE dllm_tokens_committed_total counter\n");
    put(&b, "dllm_tokens_committed_total %llu\n", (unsigned long long)st.tokens_committed);
    put(&b, "# HELP dllm_steps_per_second Canvas steps per second over the last second.\n# TYPE dllm_steps_per_second gauge\n");
    put(&b, "dllm_steps_per_second %.3f\n", m->steps_per_s);
    put(&b, "# HELP dllm_tokens_per_second Tokens committed per second over the last second.\n# TYPE dllm_tokens_per_second gauge\n");
    put(&b, "dllm_tokens_per_second %.3f\n", m->tokens_per_s);
    put(&b, "# HELP dllm_prompt_tokens_total Prompt tokens of finished requests.\n# TYPE dllm_prompt_tokens_total counter\n");
    put(&b, "dllm_prompt_tokens_total %llu\n", (unsigned long long)m->prompt_tokens);
    put(&b, "# HELP dllm_completion_tokens_total Completion tokens of finished requests.\n# TYPE dllm_completion_tokens_total counter\n");
    put(&b, "dllm_completion_tokens_total %llu\n", (unsigned long long)m->completion_tokens);
    put(&b, "# HELP dllm_step_seconds Latency of one scheduler step (one batched forward and commit).\n");
    put(&b, "# TYPE dllm_step_seconds histogram\n");
    pthread_mutex_lock(&m->mu);
    uint64_t cum = 0;
    for (int i = 0; i < METRIC_N_BUCKETS; i++) {
        cum += m->step_bucket[i];
        put(&b, "dllm_step_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[i], (unsigned long long)cum);
    }
    cum += m->step_bucket[METRIC_N_BUCKETS];
    put(&b, "dllm_step_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    put(&b, "dllm_step_seconds_sum %.6f\n", m->step_sum);
    put(&b, "dllm_step_seconds_count %llu\n", (unsigned long long)m->step_count);
    pthread_mutex_unlock(&m->mu);
    return b.p;
}
