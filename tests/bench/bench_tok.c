/* bench_tok: tokenizer throughput. usage: bench_tok TEXT_FILE TOKENIZER
 * TOKENIZER is a tokenizer.json, or any model path model_open takes.
 * Encodes the whole file in one call (as a long prompt arrives), then decodes
 * the ids back, and prints MB/s of text for each, best of a few runs, by
 * wall-clock time and by the process's CPU time. */
#include "engine/engine.h"
#include "engine/tok/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0, *len = (size_t)n;
    return b;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of this process: steadier than wall time on a shared machine */
static double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_tok TEXT_FILE TOKENIZER\n");
        return 2;
    }
    size_t len, jlen;
    char *text = slurp(argv[1], &len);
    if (!text) {
        fprintf(stderr, "bench_tok: cannot read %s\n", argv[1]);
        return 1;
    }
    char err[512];
    struct tokenizer *own = NULL;
    struct model *m = NULL;
    const struct tokenizer *t;
    size_t pl = strlen(argv[2]);
    double t0 = now();
    if (pl >= 5 && !strcmp(argv[2] + pl - 5, ".json")) {
        char *json = slurp(argv[2], &jlen);
        own = json ? tok_load_json(json, jlen, err, sizeof err) : NULL;
        if (!json) snprintf(err, sizeof err, "cannot read %s", argv[2]);
        free(json);
        t = own;
    } else {
        t = model_open(argv[2], &m, err, sizeof err) == 0 ? m->tok : NULL;
    }
    if (!t) {
        fprintf(stderr, "bench_tok: %s\n", err);
        return 1;
    }
    double load_s = now() - t0;
    double best_enc = 1e30, best_dec = 1e30, cpu_enc = 1e30, cpu_dec = 1e30;
    int n = 0;
    for (int rep = 0; rep < 3; rep++) {
        int32_t *ids;
        double c0 = cpu();
        t0 = now();
        if (tok_encode(t, text, len, 0, &ids, &n, err, sizeof err)) {
            fprintf(stderr, "bench_tok: %s\n", err);
            return 1;
        }
        double e = now() - t0, ce = cpu() - c0;
        c0 = cpu();
        t0 = now();
        char *back = tok_decode(t, ids, n, 0);
        double d = now() - t0, cd = cpu() - c0;
        if (ce < cpu_enc) cpu_enc = ce;
        if (cd < cpu_dec) cpu_dec = cd;
        if (!back) return 1;
        if (e < best_enc) best_enc = e;
        if (d < best_dec) best_dec = d;
        free(back);
        free(ids);
    }
    double mb = len / 1e6;
    printf("tokenizer: %s\ntext: %s (%.2f MB)\nload_s: %.3f\ntokens: %d (%.2f bytes/token)\n", argv[2], argv[1], mb,
           load_s, n, n ? (double)len / n : 0.0);
    printf("encode_MB_per_s: %.2f\ndecode_MB_per_s: %.2f\n", mb / best_enc, mb / best_dec);
    printf("encode_MB_per_cpu_s: %.2f\ndecode_MB_per_cpu_s: %.2f\n", mb / cpu_enc, mb / cpu_dec);
    free(text);
    tok_free(own);
    if (m) model_free(m);
    return 0;
}
