/* dllm-cli logits / generate: one forward pass, or a simple generation loop,
 * on the CPU backend, without the scheduler; for checking a model by hand
 * and for the reference tests.
 *
 * logits: float32 logits [n_ids][vocab] of one forward over exactly the
 * given ids, row-major, with only the architecture's own post-processing
 * (Dream's shift included). Attention is causal with --causal or when the
 * architecture is causal (Llama), else full. --sigma S: the noise level of
 * MDLM/SEDD (finite, >= 0; ignored by models without time conditioning);
 * what the logits are for them is in engine/cpu/cpu.h.
 *
 * generate --causal: greedy (T = 0) or sampled left-to-right decoding, one
 * full forward per token (no KV cache), stopping at BOS/EOS/EOT.
 * generate (diffusion): LLaDA's low-confidence remasking with one block,
 * gen length = --max-tokens and as many steps, so each step commits the
 * masked position whose chosen token has the highest raw probability.
 * Both print the prompt followed by its continuation, special tokens
 * skipped; the diffusion answer is cut at its first EOS/EOT. */
#include "cli/cli.h"
#include "engine/cpu/cpu.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_ids(const char *s, int32_t **ids, int *n)
{
    int cap = 16, k = 0;
    int32_t *v = malloc(sizeof(int32_t) * (size_t)cap);
    if (!v)
        return -1;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end == s || errno || x < 0 || x > INT32_MAX) {
            free(v);
            return -1;
        }
        if (k == cap) {
            cap *= 2;
            int32_t *w = realloc(v, sizeof(int32_t) * (size_t)cap);
            if (!w) {
                free(v);
                return -1;
            }
            v = w;
        }
        v[k++] = (int32_t)x;
        s = end;
    }
    *ids = v;
    *n = k;
    return 0;
}

static void *load_backend(const struct model *m, int argc, char **argv)
{
    const char *th = cli_opt(argc, argv, "--threads"), *ws = cli_opt(argc, argv, "--weights");
    char err[512];
    struct cpu_opts o = {th ? atoi(th) : 0, CPU_WEIGHTS_AUTO, 0};
    if (ws && cpu_weights_parse(ws, &o.weights)) {
        fprintf(stderr, "dllm-cli: --weights takes auto, f32, stream or bf16 (got %s)\n", ws);
        return NULL;
    }
    void *ctx = cpu_load_opts(m, &o, err, sizeof err);
    if (!ctx)
        fprintf(stderr, "dllm-cli: %s\n", err);
    return ctx;
}

static struct denoise_row plain_row(const int32_t *ids, int len, enum attn_kind attn)
{
    struct denoise_row r;
    memset(&r, 0, sizeof r);
    r.ids = ids;
    r.len = len;
    r.attn = attn;
    r.cfg_uncond = -1;
    r.rp.top_p = 1.0f;
    r.rp.banned[0] = r.rp.banned[1] = -1;
    return r;
}

int cmd_logits(int argc, char **argv)
{
    const char *ids_s = cli_opt(argc, argv, "--ids"), *out_path = cli_opt(argc, argv, "--out");
    if (!ids_s || !out_path) {
        fprintf(stderr, "usage: dllm-cli logits --model PATH --ids \"1 2 3\" [--causal] [--sigma S] --out FILE\n");
        return 2;
    }
    const char *sg = cli_opt(argc, argv, "--sigma");
    float sigma = 0.0f;
    if (sg) {
        char *end;
        errno = 0;
        double v = strtod(sg, &end);
        if (end == sg || *end || errno || !isfinite(v) || v < 0 || v > 3.4e38) {
            fprintf(stderr, "dllm-cli: --sigma wants a finite noise level >= 0, got '%s'\n", sg);
            return 2;
        }
        sigma = (float)v;
    }
    int32_t *ids;
    int n;
    if (parse_ids(ids_s, &ids, &n) || n == 0) {
        fprintf(stderr, "dllm-cli: --ids wants non-negative integers separated by spaces\n");
        return 2;
    }
    struct model *m = cli_open_model(argc, argv);
    if (!m) {
        free(ids);
        return 1;
    }
    int rc = 1;
    void *ctx = load_backend(m, argc, argv);
    size_t V = (size_t)m->cfg.vocab_size;
    float *out = ctx ? malloc(sizeof(float) * V * (size_t)n) : NULL;
    if (ctx && out) {
        int causal = cli_flag(argc, argv, "--causal") || m->cfg.causal;
        struct denoise_row r = plain_row(ids, n, causal ? ATTN_CAUSAL : ATTN_FULL);
        r.sigma = sigma;
        char err[512];
        if (backend_cpu()->logits(ctx, &r, out, err, sizeof err) != 0) {
            fprintf(stderr, "dllm-cli: %s\n", err);
        } else {
            FILE *f = fopen(out_path, "wb");
            if (!f || fwrite(out, sizeof(float), V * (size_t)n, f) != V * (size_t)n || fclose(f) != 0)
                fprintf(stderr, "dllm-cli: cannot write %s\n", out_path);
            else
                rc = 0;
        }
    } else if (ctx) {
        fprintf(stderr, "dllm-cli: out of memory for %d x %zu logits\n", n, V);
    }
    free(out);
    if (ctx)
        backend_cpu()->free(ctx);
    model_free(m);
    free(ids);
    return rc;
}

static int is_stop(const struct model_config *c, int tok)
{
    return tok == c->bos_id || tok == c->eos_id || tok == c->eot_id;
}

/* Left to right: each step is a full causal forward, reduced at the last position. */
static int gen_causal(void *ctx, const struct model *m, int32_t *ids, int n, int max_new, struct reduce_params rp,
                      int *n_out)
{
    const struct backend *be = backend_cpu();
    char err[512];
    for (int k = 0; k < max_new; k++) {
        struct denoise_row r = plain_row(ids, n, ATTN_CAUSAL);
        int32_t q = n - 1;
        r.query = &q;
        r.n_query = 1;
        r.rp = rp;
        r.rp.step = (uint32_t)k;
        struct denoise_pos o;
        struct denoise_batch b = {&r, 1, &o};
        if (be->denoise(ctx, &b, err, sizeof err) != 0) {
            fprintf(stderr, "dllm-cli: %s\n", err);
            return -1;
        }
        if (o.token < 0 || is_stop(&m->cfg, o.token))
            break;
        ids[n++] = o.token;
    }
    *n_out = n;
    return 0;
}

/* LLaDA low_confidence, one block, one token committed per step. */
static int gen_diffusion(void *ctx, const struct model *m, int32_t *ids, int n_prompt, int gen, struct reduce_params rp,
                         int *n_out)
{
    const struct backend *be = backend_cpu();
    int len = n_prompt + gen;
    int32_t *q = malloc(sizeof(int32_t) * (size_t)gen);
    struct denoise_pos *o = malloc(sizeof(struct denoise_pos) * (size_t)gen);
    if (!q || !o) {
        free(q);
        free(o);
        fprintf(stderr, "dllm-cli: out of memory\n");
        return -1;
    }
    for (int i = n_prompt; i < len; i++)
        ids[i] = m->cfg.mask_id;
    char err[512];
    int rc = 0;
    for (int step = 0; step < gen; step++) {
        int nq = 0;
        for (int i = n_prompt; i < len; i++)
            if (ids[i] == m->cfg.mask_id)
                q[nq++] = i;
        struct denoise_row r = plain_row(ids, len, ATTN_FULL);
        r.query = q;
        r.n_query = nq;
        r.rp = rp;
        r.rp.step = (uint32_t)step;
        struct denoise_batch b = {&r, 1, o};
        if (be->denoise(ctx, &b, err, sizeof err) != 0) {
            fprintf(stderr, "dllm-cli: %s\n", err);
            rc = -1;
            break;
        }
        int best = 0;
        for (int i = 1; i < nq; i++)
            if (o[i].prob_raw > o[best].prob_raw)
                best = i;
        ids[q[best]] = o[best].token;
    }
    int end = len;
    for (int i = n_prompt; i < len; i++) {
        if (ids[i] == m->cfg.eos_id || ids[i] == m->cfg.eot_id) {
            end = i;
            break;
        }
    }
    free(q);
    free(o);
    *n_out = end;
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    const char *prompt = cli_opt(argc, argv, "--prompt");
    const char *mt = cli_opt(argc, argv, "--max-tokens"), *ts = cli_opt(argc, argv, "--temperature");
    const char *ss = cli_opt(argc, argv, "--seed");
    int causal = cli_flag(argc, argv, "--causal");
    int max_new = mt ? atoi(mt) : 64;
    if (!prompt || max_new <= 0 || max_new > (1 << 20)) {
        fprintf(stderr, "usage: dllm-cli generate --model PATH --prompt TEXT [--causal] [--max-tokens N] "
                        "[--temperature T] [--seed S]\n");
        return 2;
    }
    struct model *m = cli_open_model(argc, argv);
    if (!m)
        return 1;
    if (m->cfg.arch == ARCH_MDLM || m->cfg.arch == ARCH_SEDD) {
        /* this loop has no noise schedule; SEDD's scores at sigma 0 are +inf */
        fprintf(stderr, "dllm-cli: generate runs LLaDA's loop; %s needs its schedule-driven sampler: serve the "
                        "model with bin/dllm-server (remasking mdlm, euler or analytic)\n",
                arch_name(m->cfg.arch));
        model_free(m);
        return 1;
    }
    if (!m->tok || (!causal && m->cfg.mask_id < 0)) {
        fprintf(stderr, "dllm-cli: %s\n", !m->tok ? "the model has no tokenizer"
                                                   : "the model has no mask token: diffusion needs one (try --causal)");
        model_free(m);
        return 1;
    }
    char err[512];
    int32_t *pids = NULL;
    int np = 0;
    if (tok_encode(m->tok, prompt, strlen(prompt), m->cfg.add_bos, &pids, &np, err, sizeof err) != 0) {
        fprintf(stderr, "dllm-cli: %s\n", err);
        model_free(m);
        return 1;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(np + max_new + 1));
    void *ctx = ids ? load_backend(m, argc, argv) : NULL;
    int rc = 1;
    if (ctx) {
        int n = 0;
        if (np == 0 && m->cfg.bos_id >= 0)
            ids[n++] = m->cfg.bos_id; /* a causal model needs something to continue */
        memcpy(ids + n, pids, sizeof(int32_t) * (size_t)np);
        n += np;
        struct reduce_params rp;
        memset(&rp, 0, sizeof rp);
        rp.temperature = ts ? strtof(ts, NULL) : 0.0f;
        rp.top_p = 1.0f;
        rp.seed = ss ? strtoull(ss, NULL, 10) : 0;
        rp.banned[0] = rp.banned[1] = -1;
        int n_out = 0;
        int g = causal ? gen_causal(ctx, m, ids, n, max_new, rp, &n_out)
                       : gen_diffusion(ctx, m, ids, n, max_new, rp, &n_out);
        if (g == 0) {
            char *text = tok_decode(m->tok, ids, n_out, 1);
            if (text) {
                printf("%s\n", text);
                rc = 0;
            }
            free(text);
        }
        backend_cpu()->free(ctx);
    }
    free(ids);
    free(pids);
    model_free(m);
    return rc;
}
