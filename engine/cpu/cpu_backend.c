/* The CPU backend's table: load, denoise (forward + per-position reduction),
 * logits (full rows, for reference tests), free. */
#include "engine/cpu/cpu.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void cpu_free(void *ctx)
{
    struct cpu_ctx *c = ctx;
    if (!c)
        return;
    cpu_weights_free(c);
    float *bufs[] = {c->x,        c->xb,       c->q,        c->k,        c->v,       c->att,
                     c->hb,       c->hb2,      c->S,        c->rope_cos, c->rope_sin, c->g,
                     c->g2,       c->slab,     c->slab2,    c->dit_cond, c->dit_mod,  c->dit_fmod,
                     c->dit_freq};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(c->rows.off);
    free(c->rows.len);
    free(c->rows.pos0);
    cpu_reduce_scratch_free(&c->rs);
    free(c);
}

void *cpu_load_opts(const struct model *m, const struct cpu_opts *o, char *err, size_t errlen)
{
    struct cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "cpu: out of memory");
        return NULL;
    }
    c->m = m;
    c->opts = *o;
    if (o->threads > 0)
        openblas_set_num_threads(o->threads);
    if (cpu_weights_load(c, err, errlen)) {
        cpu_free(c);
        return NULL;
    }
    c->pad = 1;
    if (c->opts.stack_rows == CPU_STACK_PADDED && c->dit)
        c->opts.stack_rows = CPU_STACK_NONE; /* its forward is laid out per canvas */
    if (c->opts.stack_rows == CPU_STACK_PADDED)
        cpu_stack_probe(c);
    size_t d = (size_t)c->cfg.d_model;
    c->g = malloc(sizeof(float) * CPU_HEAD_CHUNK * d);
    c->g2 = malloc(sizeof(float) * CPU_HEAD_CHUNK * d);
    if (!c->g || !c->g2 || cpu_reduce_scratch_init(&c->rs, c->cfg.vocab_size)) {
        snprintf(err, errlen, "cpu: out of memory");
        cpu_free(c);
        return NULL;
    }
    return c;
}

static void *cpu_load(const struct model *m, int threads, char *err, size_t errlen)
{
    struct cpu_opts o = {threads, CPU_WEIGHTS_AUTO, 0};
    return cpu_load_opts(m, &o, err, errlen);
}

/* Queried positions lie in the canvas and, on a cached step, they and the
 * hidden state that predicts each (Dream's shift: the one before) lie in
 * the window. */
static int check_queries(const struct cpu_ctx *c, const struct denoise_row *row, int r, char *err, size_t errlen)
{
    if (row->n_query < 0 || (row->n_query > 0 && !row->query)) {
        snprintf(err, errlen, "cpu: row %d: bad query list", r);
        return -1;
    }
    int win = row->cache && !row->cache_fill;
    for (int i = 0; i < row->n_query; i++) {
        int q = row->query[i];
        if (q < 0 || q >= row->len) {
            snprintf(err, errlen, "cpu: row %d: query position %d outside [0, %d)", r, q, row->len);
            return -1;
        }
        int src = c->cfg.shift_logits && q > 0 ? q - 1 : q;
        if (win && (q < row->win_start || q >= row->win_end || src < row->win_start)) {
            snprintf(err, errlen, "cpu: row %d: query position %d (from %d) outside the window [%d, %d)", r, q, src,
                     row->win_start, row->win_end);
            return -1;
        }
    }
    return 0;
}

/* The logits slab, and a second one for the unconditional twin under CFG. */
static int slabs(struct cpu_ctx *c, int cfg, char *err, size_t errlen)
{
    size_t n = (size_t)CPU_HEAD_CHUNK * (size_t)c->cfg.vocab_size;
    if (!c->slab)
        c->slab = malloc(sizeof(float) * n);
    if (cfg && !c->slab2)
        c->slab2 = malloc(sizeof(float) * n);
    if (!c->slab || (cfg && !c->slab2)) {
        snprintf(err, errlen, "cpu: out of memory for the logits slab");
        return -1;
    }
    return 0;
}

/* One row's queried positions, a chunk at a time: logits (mixed with the
 * unconditional twin's under CFG), then the reduction of each position. */
static int reduce_row(struct cpu_ctx *c, const struct denoise_batch *b, int r, struct denoise_pos *out, char *err,
                      size_t errlen)
{
    const struct denoise_row *row = &b->rows[r];
    int V = c->cfg.vocab_size, u = row->cfg_uncond;
    int src[CPU_HEAD_CHUNK], src_u[CPU_HEAD_CHUNK];
    for (int q0 = 0; q0 < row->n_query; q0 += CPU_HEAD_CHUNK) {
        int n = row->n_query - q0 < CPU_HEAD_CHUNK ? row->n_query - q0 : CPU_HEAD_CHUNK;
        for (int i = 0; i < n; i++) {
            src[i] = cpu_head_source(c, r, row->query[q0 + i]);
            if (u >= 0)
                src_u[i] = cpu_head_source(c, u, row->query[q0 + i]);
        }
        if (cpu_head_logits(c, src, n, c->slab, err, errlen))
            return -1;
        if (c->dit)
            cpu_dit_post(c, row, row->query + q0, n, c->slab);
        if (u >= 0) {
            if (cpu_head_logits(c, src_u, n, c->slab2, err, errlen))
                return -1;
            if (c->dit)
                cpu_dit_post(c, &b->rows[u], row->query + q0, n, c->slab2);
            size_t nv = (size_t)n * (size_t)V;
            for (size_t i = 0; i < nv; i++)
                c->slab[i] = cpu_cfg_mix(c->slab[i], c->slab2[i], row->cfg_scale);
        }
        for (int i = 0; i < n; i++) {
            int pos = row->query[q0 + i];
            if (row->rp.mode == REDUCE_SOFTMAX)
                cpu_reduce(c->slab + (size_t)i * V, V, &row->rp, pos, &c->rs, &out[q0 + i]);
            else
                cpu_reduce_sedd_uniform(c->slab + (size_t)i * V, V, &row->rp, pos, row->ids[pos], &out[q0 + i]);
        }
    }
    return 0;
}

static int cpu_denoise(void *ctx, const struct denoise_batch *b, char *err, size_t errlen)
{
    struct cpu_ctx *c = ctx;
    double t0 = now_s();
    if (b->n_rows < 0 || (b->n_rows > 0 && !b->rows)) {
        snprintf(err, errlen, "cpu: bad batch");
        return -1;
    }
    int cfg = 0;
    for (int r = 0; r < b->n_rows; r++) {
        const struct denoise_row *row = &b->rows[r];
        cfg |= row->cfg_uncond >= 0;
        if (check_queries(c, row, r, err, errlen))
            return -1;
        int u = row->cfg_uncond;
        if (u >= b->n_rows || u == r || (u >= 0 && b->rows[u].len != row->len)) {
            snprintf(err, errlen, "cpu: row %d: CFG twin %d is not a row of the same length", r, u);
            return -1;
        }
        const struct denoise_row *tw = u >= 0 ? &b->rows[u] : NULL;
        if (tw && (!tw->cache != !row->cache || tw->cache_fill != row->cache_fill ||
                   (row->cache && !row->cache_fill &&
                    (tw->win_start != row->win_start || tw->win_end != row->win_end)))) {
            snprintf(err, errlen, "cpu: row %d: CFG twin %d does not share its cache window", r, u);
            return -1;
        }
    }
    if (slabs(c, cfg, err, errlen) || cpu_forward(c, b->rows, b->n_rows, err, errlen))
        return -1;
    struct denoise_pos *out = b->out;
    for (int r = 0; r < b->n_rows; r++) {
        if (reduce_row(c, b, r, out, err, errlen))
            return -1;
        out += b->rows[r].n_query;
    }
    c->st.forward_s += now_s() - t0;
    return 0;
}

/* Every position's logits; a row stepping on its cache gives those of the
 * positions whose predicting state lies in its window (others untouched). */
static int cpu_logits(void *ctx, const struct denoise_row *row, float *out, char *err, size_t errlen)
{
    struct cpu_ctx *c = ctx;
    double t0 = now_s();
    if (cpu_forward(c, row, 1, err, errlen))
        return -1;
    size_t V = (size_t)c->cfg.vocab_size;
    int src[CPU_HEAD_CHUNK];
    int32_t pos[CPU_HEAD_CHUNK];
    for (int p = 0; p < row->len;) {
        int n = 0;
        for (; p < row->len && n < CPU_HEAD_CHUNK; p++) {
            int s = cpu_head_source(c, 0, p);
            if (s < 0)
                continue;
            src[n] = s;
            pos[n++] = p;
        }
        if (n == 0)
            continue;
        /* chunks of consecutive positions: write straight into out when they are */
        if (pos[n - 1] - pos[0] == n - 1) {
            if (cpu_head_logits(c, src, n, out + (size_t)pos[0] * V, err, errlen))
                return -1;
            if (c->dit)
                cpu_dit_post(c, row, pos, n, out + (size_t)pos[0] * V);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (cpu_head_logits(c, &src[i], 1, out + (size_t)pos[i] * V, err, errlen))
                return -1;
            if (c->dit)
                cpu_dit_post(c, row, &pos[i], 1, out + (size_t)pos[i] * V);
        }
    }
    c->st.forward_s += now_s() - t0;
    return 0;
}

void cpu_get_stats(void *ctx, struct cpu_stats *st)
{
    *st = ((struct cpu_ctx *)ctx)->st;
}

enum cpu_stack cpu_stack_mode(void *ctx, int *pad)
{
    struct cpu_ctx *c = ctx;
    if (pad)
        *pad = c->pad;
    return (enum cpu_stack)c->opts.stack_rows;
}

void cpu_reset_stats(void *ctx)
{
    memset(&((struct cpu_ctx *)ctx)->st, 0, sizeof(struct cpu_stats));
}

int cpu_weights_resident(void *ctx)
{
    return ((struct cpu_ctx *)ctx)->resident;
}

int cpu_weights_bf16(void *ctx)
{
    return ((struct cpu_ctx *)ctx)->bf16;
}

int cpu_weights_parse(const char *s, enum cpu_weights_mode *out)
{
    static const char *const names[] = {"auto", "f32", "stream", "bf16"};
    static const enum cpu_weights_mode modes[] = {CPU_WEIGHTS_AUTO, CPU_WEIGHTS_RESIDENT, CPU_WEIGHTS_STREAM,
                                                  CPU_WEIGHTS_BF16};
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, names[i]) == 0) {
            *out = modes[i];
            return 0;
        }
    }
    return -1;
}

static const struct backend cpu_backend = {
    .name = "cpu",
    .load = cpu_load,
    .denoise = cpu_denoise,
    .logits = cpu_logits,
    .free = cpu_free,
    .cache_new = cpu_cache_new,
    .cache_free = cpu_cache_free,
};

const struct backend *backend_cpu(void)
{
    return &cpu_backend;
}
