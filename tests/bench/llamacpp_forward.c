/* llamacpp_forward: llama.cpp's side of the side by side
 * (tests/bench/llamacpp_bench.sh). Not part of `make`: the script compiles
 * it against llama.h from the llama.cpp source in the npm package
 * node-llama-cpp and links it to the prebuilt libllama of
 * @node-llama-cpp/linux-x64, both fetched at bench time into a cache outside
 * the tree.
 *
 * It loads a GGUF, sets bidirectional attention and the thread count, and
 * times one llama_decode of the whole canvas with logits for every position,
 * as llama.cpp's diffusion example does per step. The canvas ids are the
 * ones bench_forward uses for dllm: id[i] = (i * 7919 + 13) % (vocab - 1).
 * Prints one line per canvas length:
 *   llama.cpp L=128 threads=2 runs=5 median_ms=... min_ms=... max_ms=...
 * and with --out PREFIX writes the logits of the last run, float32
 * [L][vocab] row-major, to PREFIX.L.f32.
 *
 * usage: llamacpp_forward MODEL --backends DIR [--threads N] [--runs N]
 *        [--flash-attn auto|on|off] [--out PREFIX] L...                     */
#include "llama.h"
#include "ggml-backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* llama.cpp logs every tensor at load; keep only warnings and errors. */
static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* One canvas of L tokens: a fresh context (no memory is kept between
 * decodes: LLaDA has no KV cache in llama.cpp), one warm-up decode, then
 * `runs` timed decodes. Returns 0 on success. */
static int bench_canvas(struct llama_model *model, int L, int threads, int runs, enum llama_flash_attn_type fa,
                        const char *out_prefix)
{
    int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)L;
    cp.n_batch = (uint32_t)L;
    cp.n_ubatch = (uint32_t)L; /* a bidirectional canvas cannot be split */
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.flash_attn_type = fa;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llamacpp_forward: cannot create a context for L=%d\n", L);
        return 1;
    }
    llama_set_causal_attn(ctx, false);

    struct llama_batch batch = llama_batch_init(L, 0, 1);
    batch.n_tokens = L;
    for (int i = 0; i < L; i++) {
        batch.token[i] = (llama_token)(((long)i * 7919 + 13) % (V - 1));
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    double *t = malloc(sizeof(double) * (size_t)runs);
    int rc = 0;
    for (int r = -1; r < runs && rc == 0; r++) {
        llama_memory_t mem = llama_get_memory(ctx);
        if (mem)
            llama_memory_clear(mem, true);
        double t0 = now_ms();
        int32_t ret = llama_decode(ctx, batch);
        llama_synchronize(ctx);
        double dt = now_ms() - t0;
        if (ret != 0) {
            fprintf(stderr, "llamacpp_forward: llama_decode returned %d at L=%d\n", (int)ret, L);
            rc = 1;
        } else if (r >= 0) {
            t[r] = dt;
        }
    }
    if (rc == 0) {
        qsort(t, (size_t)runs, sizeof(double), cmp_double);
        printf("llama.cpp L=%d threads=%d runs=%d median_ms=%.1f min_ms=%.1f max_ms=%.1f\n", L, threads, runs,
               t[runs / 2], t[0], t[runs - 1]);
        fflush(stdout);
    }
    if (rc == 0 && out_prefix) {
        char path[4096];
        snprintf(path, sizeof path, "%s.%d.f32", out_prefix, L);
        const float *lg = llama_get_logits(ctx);
        FILE *f = fopen(path, "wb");
        if (!lg || !f || fwrite(lg, sizeof(float), (size_t)L * (size_t)V, f) != (size_t)L * (size_t)V) {
            fprintf(stderr, "llamacpp_forward: cannot write %s\n", path);
            rc = 1;
        }
        if (f && fclose(f) != 0)
            rc = 1;
    }
    free(t);
    llama_batch_free(batch);
    llama_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *backends = NULL, *out = NULL;
    int threads = 2, runs = 5;
    enum llama_flash_attn_type fa = LLAMA_FLASH_ATTN_TYPE_AUTO;
    int Ls[16], nL = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backends") && i + 1 < argc)
            backends = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--flash-attn") && i + 1 < argc) {
            const char *v = argv[++i];
            fa = !strcmp(v, "on") ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                 : !strcmp(v, "off") ? LLAMA_FLASH_ATTN_TYPE_DISABLED : LLAMA_FLASH_ATTN_TYPE_AUTO;
        } else if (!model_path)
            model_path = argv[i];
        else if (nL < 16 && atoi(argv[i]) > 0)
            Ls[nL++] = atoi(argv[i]);
    }
    if (!model_path || !backends || nL == 0 || threads < 1 || runs < 1) {
        fprintf(stderr, "usage: llamacpp_forward MODEL --backends DIR [--threads N] [--runs N] "
                        "[--flash-attn auto|on|off] [--out PREFIX] L...\n");
        return 2;
    }
    llama_log_set(quiet_log, NULL);
    /* The package's libggml picks the best of its CPU backends
     * (libggml-cpu-<cpu>.so) for this processor at run time. */
    ggml_backend_load_all_from_path(backends);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) {
        fprintf(stderr, "llamacpp_forward: cannot load %s\n", model_path);
        return 1;
    }
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        printf("llama.cpp device %zu: %s (%s)\n", i, ggml_backend_dev_name(d), ggml_backend_dev_description(d));
    }
    printf("llama.cpp system: %s\n", llama_print_system_info());
    printf("llama.cpp flash attention: %s\n", llama_flash_attn_type_name(fa));
    int rc = 0;
    for (int i = 0; i < nL && rc == 0; i++)
        rc = bench_canvas(model, Ls[i], threads, runs, fa, out);
    llama_model_free(model);
    llama_backend_free();
    return rc;
}
