/* bin/bench_sched [MODEL] [--gen N] [--steps N] [--block N] [--threads N]
 *                 [--cache-only] [--cgen N] [--csteps N] [--cn N] [--prompt N]
 *                 [--weights auto|f32|stream|bf16]
 *
 * The canvas scheduler on the CPU backend:
 * 1. aggregate throughput at 1, 4 and 16 concurrent requests (all admitted
 *    together, one batched forward per step): tokens committed per second of
 *    wall time, and answer tokens (before EOS) per second, uncached and with
 *    the dual block cache;
 * 2. tokens committed per forward, per canvas, with Fast-dLLM threshold
 *    decoding (0.9) against the fixed LLaDA schedule, same requests;
 * 3. block caches (Fast-dLLM prefix and dual) at gen --cgen (256), steps
 *    --csteps (= cgen), block --block: one request's time and tokens
 *    computed per mode, the speedup over uncached, and agreement with the
 *    uncached run over --cn (8) prompts run together (answers token for
 *    token identical, and the share of identical span positions);
 *    --dump FILE writes those canvases for tests/bench/cache_ref.py.
 * --threads sets OpenBLAS threads (default 1); --cache-only runs only 3.
 * --prompt N replaces the text prompts with N token ids each (the ids
 * tests/bench/llamacpp_bench.sh feeds both engines, shifted per request),
 * so a random-weight model with any tokenizer runs at a known canvas
 * length: prompt N + gen; the block-cache table then also prints the wall
 * time per generated token.
 * Throughput is measured twice: with the CPU backend's default (one sgemm
 * per canvas, bit-identical alone or batched) and with stack_rows (one sgemm
 * over all canvases: faster, not batch-invariant). "in forward" is the share
 * of wall time inside backend->denoise ("in sgemm": inside cblas_sgemm);
 * the rest is the scheduler. On a
 * shared machine wall time depends on the neighbours: "per cpu-s" divides
 * by this process's CPU time instead (with --threads 1, the work done).
 * MODEL defaults to models/dllm-kjv.gguf; without it the bench says so and
 * exits 0. */
#include "engine/engine.h"
#include "engine/cpu/cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const prompts[] = {
    "In the beginning",
    "And the LORD said unto Moses,",
    "The LORD is my shepherd;",
    "Blessed are the",
    "And it came to pass, when the king",
    "For God so loved the world,",
    "Then said Jesus unto his disciples,",
    "And the children of Israel",
    "My son, hear the instruction of thy father,",
    "And he went up into the mountain",
    "Praise ye the LORD.",
    "And God said,",
    "Hear, O Israel:",
    "Now the serpent was more subtil",
    "Vanity of vanities,",
    "And the word was made flesh,",
};
#define N_PROMPTS ((int)(sizeof prompts / sizeof prompts[0]))

#define MAX_REQ 16

static int prompt_ids = 0; /* --prompt N: N token ids instead of the text */

struct tally {
    int done;
    long answer_tokens;
    int errors;
    char error[200];
    int32_t *canvas[MAX_REQ]; /* each request's last frame */
    int len[MAX_REQ];
    int span0[MAX_REQ];
};

static void on_event(void *cb_user, const struct sched_event *ev)
{
    struct tally *t = cb_user;
    int i = (int)(intptr_t)ev->user;
    if (ev->kind == SCHED_EV_FRAME && i >= 0 && i < MAX_REQ) {
        int32_t *c = realloc(t->canvas[i], sizeof(int32_t) * (size_t)ev->len);
        if (c) {
            memcpy(c, ev->canvas, sizeof(int32_t) * (size_t)ev->len);
            t->canvas[i] = c;
            t->len[i] = ev->len;
            t->span0[i] = ev->span_start;
        }
    }
    if (ev->kind != SCHED_EV_DONE)
        return;
    t->done++;
    t->answer_tokens += ev->completion_tokens;
    if (ev->finish == FINISH_ERROR) {
        t->errors++;
        snprintf(t->error, sizeof t->error, "%s", ev->error ? ev->error : "?");
    }
}

static void tally_free(struct tally *t)
{
    for (int i = 0; i < MAX_REQ; i++)
        free(t->canvas[i]);
    memset(t->canvas, 0, sizeof t->canvas);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct run_result {
    double seconds;
    double cpu_seconds;
    double forward_s;
    double gflop;        /* inside sgemm */
    double sgemm_s;
    struct sched_stats st;
    struct tally t;
};

/* Submits n requests at once and steps until all are done. */
static int run(struct model *m, const struct backend *be, void *ctx, int n, struct gen_params p,
               struct run_result *res)
{
    char err[256];
    memset(res, 0, sizeof *res);
    struct sched_limits lim = {n, n, 1 << 20, 0};
    struct sched *s = sched_new(m, be, ctx, &lim, on_event, &res->t);
    if (!s) {
        fprintf(stderr, "bench_sched: sched_new failed\n");
        return -1;
    }
    int32_t *ids[MAX_REQ] = {0};
    for (int i = 0; i < n; i++) {
        const char *pr = prompts[i % N_PROMPTS];
        int n_ids;
        if (prompt_ids > 0) {
            n_ids = prompt_ids;
            ids[i] = malloc(sizeof(int32_t) * (size_t)n_ids);
            if (!ids[i])
                return -1;
            for (int j = 0; j < n_ids; j++) {
                ids[i][j] = (int32_t)(((long)(j + 97 * i) * 7919 + 13) % m->cfg.vocab_size);
                if (ids[i][j] == m->cfg.mask_id) /* a prompt never holds the mask */
                    ids[i][j] = (ids[i][j] + 1) % m->cfg.vocab_size;
            }
        } else if (tok_encode(m->tok, pr, strlen(pr), m->cfg.add_bos, &ids[i], &n_ids, err, sizeof err)) {
            fprintf(stderr, "bench_sched: encode: %s\n", err);
            return -1;
        }
        struct canvas_seg segs[2] = {{ids[i], n_ids}, {NULL, p.gen_length}};
        struct gen_request r = {segs, 2, p, NULL, 0, 1, (void *)(intptr_t)i};
        r.params.seed = (uint64_t)i;
        if (sched_submit(s, &r, NULL, err, sizeof err)) {
            fprintf(stderr, "bench_sched: submit: %s\n", err);
            return -1;
        }
    }
    struct cpu_stats cs;
    cpu_reset_stats(ctx);
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    while (res->t.done < n)
        sched_step(s);
    res->seconds = clock_s(CLOCK_MONOTONIC) - t0;
    res->cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    cpu_get_stats(ctx, &cs);
    res->forward_s = cs.forward_s;
    res->gflop = cs.sgemm_flop / 1e9;
    res->sgemm_s = cs.sgemm_s;
    sched_get_stats(s, &res->st);
    sched_free(s);
    for (int i = 0; i < n; i++)
        free(ids[i]);
    if (res->t.errors) {
        tally_free(&res->t);
        fprintf(stderr, "bench_sched: %d requests failed: %s\n", res->t.errors, res->t.error);
        return -1;
    }
    return 0;
}

static int arg_int(int argc, char **argv, const char *name, int def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return atoi(argv[i + 1]);
    return def;
}

static int has_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static const char *cache_name(enum cache_mode c)
{
    return c == CACHE_PREFIX ? "prefix" : c == CACHE_DUAL ? "dual" : "none";
}

/* 1, 4, 16 concurrent requests, for each sgemm layout and cache mode. */
static int throughput(struct model *m, const struct backend *be, void *ctxs[3], struct gen_params p)
{
    static const int conc[3] = {1, 4, 16};
    static const enum cache_mode caches[2] = {CACHE_OFF, CACHE_DUAL};
    char padded[96];
    int pad = 1;
    enum cpu_stack mode = cpu_stack_mode(ctxs[1], &pad);
    if (mode == CPU_STACK_PADDED)
        snprintf(padded, sizeof padded, "stacked sgemm, canvases padded to %d rows (batch-invariant)", pad);
    else
        snprintf(padded, sizeof padded, "padded stacking refused by the probe: per-canvas sgemm");
    const char *modes_name[3] = {"per-canvas sgemm (batch-invariant)", padded,
                                 "stacked sgemm, unpadded (not batch-invariant)"};
    for (int k = 0; k < 3; k++) {
        for (int c = 0; c < 2; c++) {
            double base = 0, base_cpu = 0;
            printf("\n%s, cache %s\n%-11s %8s %8s %9s %10s %12s %13s %11s %9s %8s %16s\n", modes_name[k],
                   cache_name(caches[c]), "concurrent", "seconds", "cpu-s", "forwards", "committed",
                   "committed/s", "answer tok/s", "in forward", "in sgemm", "speedup", "per cpu-s (x)");
            for (int i = 0; i < 3; i++) {
                struct run_result r;
                struct gen_params q = p;
                q.cache = caches[c];
                if (run(m, be, ctxs[k], conc[i], q, &r))
                    return 1;
                tally_free(&r.t);
                double tps = (double)r.st.tokens_committed / r.seconds;
                double tpc = (double)r.st.tokens_committed / r.cpu_seconds;
                if (i == 0) {
                    base = tps;
                    base_cpu = tpc;
                }
                printf("%-11d %8.2f %8.2f %9llu %10llu %12.1f %13.1f %10.0f%% %8.0f%% %7.2fx %9.1f (%.2fx)\n",
                       conc[i], r.seconds, r.cpu_seconds, (unsigned long long)r.st.forwards,
                       (unsigned long long)r.st.tokens_committed, tps, (double)r.t.answer_tokens / r.seconds,
                       100.0 * r.forward_s / r.seconds, 100.0 * r.sgemm_s / r.seconds, tps / base, tpc,
                       tpc / base_cpu);
            }
        }
    }
    return 0;
}

static int threshold_table(struct model *m, const struct backend *be, void *ctx, struct gen_params p)
{
    printf("\n%-22s %8s %12s %12s %18s\n", "4 requests", "seconds", "canvas-steps", "committed",
           "tokens/forward/canvas");
    struct gen_params pt = p;
    pt.threshold = 0.9f;
    const struct gen_params *modes[2] = {&p, &pt};
    const char *names[2] = {"fixed schedule", "threshold 0.9"};
    for (int i = 0; i < 2; i++) {
        struct run_result r;
        if (run(m, be, ctx, 4, *modes[i], &r))
            return 1;
        tally_free(&r.t);
        printf("%-22s %8.2f %12llu %12llu %18.2f\n", names[i], r.seconds, (unsigned long long)r.st.steps,
               (unsigned long long)r.st.tokens_committed,
               (double)r.st.tokens_committed / (double)(r.st.steps ? r.st.steps : 1));
    }
    return 0;
}

/* Speed of one request per cache mode, then agreement of n prompts (run
 * together: each canvas's numbers are the same alone or batched) with the
 * uncached answers. */
static int cache_table(struct model *m, const struct backend *be, void *ctx, struct gen_params p, int n,
                       FILE *dump)
{
    static const enum cache_mode caches[3] = {CACHE_OFF, CACHE_PREFIX, CACHE_DUAL};
    printf("\nblock caches: gen_length %d, steps %d, block_length %d, low_confidence, greedy\n", p.gen_length,
           p.steps, p.block_length);
    printf("%-8s %9s %8s %11s %9s %8s %13s %20s %16s %13s\n", "cache", "seconds", "cpu-s", "sgemm GFLOP", "forwards",
           "speedup", "(per cpu-s)", "identical answers", "same positions", "ms per token");
    if (dump)
        fprintf(dump, "gen %d steps %d block %d prompts %d\n", p.gen_length, p.steps, p.block_length, n);
    struct run_result ref;
    memset(&ref, 0, sizeof ref);
    double base = 0, base_cpu = 0;
    int rc = 0;
    for (int c = 0; rc == 0 && c < 3; c++) {
        struct gen_params q = p;
        q.cache = caches[c];
        struct run_result one, all;
        if (run(m, be, ctx, 1, q, &one) || (n > 1 && run(m, be, ctx, n, q, &all))) {
            rc = 1;
            break;
        }
        if (n > 1)
            tally_free(&one.t);
        else
            all = one; /* one prompt: the timed run is the agreement run */
        if (c == 0) {
            base = one.seconds;
            base_cpu = one.cpu_seconds;
            ref = all;
        }
        for (int i = 0; dump && i < n; i++) {
            fprintf(dump, "%s %d %d", cache_name(caches[c]), all.t.span0[i], all.t.len[i]);
            for (int j = 0; j < all.t.len[i]; j++)
                fprintf(dump, " %d", all.t.canvas[i][j]);
            fprintf(dump, "\n");
        }
        int same = 0;
        long pos_same = 0, pos_all = 0;
        for (int i = 0; i < n; i++) {
            int eq = all.t.len[i] == ref.t.len[i] && all.t.canvas[i] && ref.t.canvas[i];
            if (!eq)
                continue;
            int diff = 0;
            for (int j = all.t.span0[i]; j < all.t.len[i]; j++) {
                pos_all++;
                if (all.t.canvas[i][j] == ref.t.canvas[i][j])
                    pos_same++;
                else
                    diff = 1;
            }
            same += !diff;
        }
        char agree[32], posf[32];
        snprintf(agree, sizeof agree, "%d of %d", same, n);
        snprintf(posf, sizeof posf, "%.1f%%", pos_all ? 100.0 * (double)pos_same / (double)pos_all : 0.0);
        printf("%-8s %9.2f %8.2f %11.1f %9llu %7.2fx %12.2fx %20s %16s %13.2f\n", cache_name(caches[c]),
               one.seconds, one.cpu_seconds, one.gflop, (unsigned long long)one.st.forwards, base / one.seconds,
               base_cpu / one.cpu_seconds, agree, posf, 1e3 * one.seconds / p.gen_length);
        if (c > 0)
            tally_free(&all.t);
    }
    tally_free(&ref.t);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 && argv[1][0] != '-' ? argv[1] : "models/dllm-kjv.gguf";
    int gen = arg_int(argc, argv, "--gen", 64);
    int steps = arg_int(argc, argv, "--steps", gen);
    int block = arg_int(argc, argv, "--block", 32);
    int threads = arg_int(argc, argv, "--threads", 1);
    int cgen = arg_int(argc, argv, "--cgen", 256);
    int csteps = arg_int(argc, argv, "--csteps", cgen);
    int cn = arg_int(argc, argv, "--cn", 8);
    int cache_only = has_flag(argc, argv, "--cache-only");
    prompt_ids = arg_int(argc, argv, "--prompt", 0);
    enum cpu_weights_mode weights = CPU_WEIGHTS_AUTO;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--weights") == 0 && cpu_weights_parse(argv[i + 1], &weights)) {
            printf("bench_sched: --weights takes auto, f32, stream or bf16\n");
            return 2;
        }
    const char *dump_path = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--dump") == 0)
            dump_path = argv[i + 1];
    if (cn < 1 || cn > MAX_REQ)
        cn = 8;
    char err[256];
    struct model *m;
    if (model_open(path, &m, err, sizeof err)) {
        printf("bench_sched: %s; skipped (no model)\n", err);
        return 0;
    }
    const struct backend *be = backend_cpu();
    struct cpu_opts o = {threads, weights, 0};
    void *ctx = be ? cpu_load_opts(m, &o, err, sizeof err) : NULL;
    o.stack_rows = CPU_STACK_PLAIN;
    void *ctx_stacked = ctx ? cpu_load_opts(m, &o, err, sizeof err) : NULL;
    o.stack_rows = CPU_STACK_PADDED;
    void *ctx_padded = ctx_stacked ? cpu_load_opts(m, &o, err, sizeof err) : NULL;
    if (!ctx || !ctx_stacked || !ctx_padded) {
        printf("bench_sched: CPU backend: %s; skipped\n", be ? err : "not built");
        if (ctx)
            be->free(ctx);
        if (ctx_stacked)
            be->free(ctx_stacked);
        model_free(m);
        return 0;
    }
    printf("bench_sched: %s (%s, %d layers, d_model %d, vocab %d), CPU backend, %d thread(s), %s products\n", path,
           arch_name(m->cfg.arch), m->cfg.n_layers, m->cfg.d_model, m->cfg.vocab_size, threads,
           cpu_weights_bf16(ctx) ? "bf16" : "f32");
    int rc = 0;
    struct gen_params p = {.gen_length = gen, .steps = steps, .block_length = block};
    if (!cache_only) {
        printf("requests: gen_length %d, steps %d, block_length %d, low_confidence, temperature 0\n", gen, steps,
               block);
        void *ctxs[3] = {ctx, ctx_padded, ctx_stacked};
        rc = throughput(m, be, ctxs, p) || threshold_table(m, be, ctx, p);
    }
    struct gen_params pc = {.gen_length = cgen, .steps = csteps, .block_length = block};
    FILE *dump = dump_path ? fopen(dump_path, "w") : NULL;
    if (rc == 0)
        rc = cache_table(m, be, ctx, pc, cn, dump);
    if (dump)
        fclose(dump);
    be->free(ctx);
    be->free(ctx_stacked);
    be->free(ctx_padded);
    model_free(m);
    return rc;
}
