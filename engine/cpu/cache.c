/* Key/value caches of the CPU backend (Fast-dLLM's prefix and dual caches):
 * one per canvas, f32, keys stored after RoPE so a windowed step attends to
 * them as they are. Size: 2 * n_layers * len * kv_dim floats. */
#include "engine/cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>

void *cpu_cache_new(void *ctx, int len, char *err, size_t errlen)
{
    struct cpu_ctx *c = ctx;
    if (c->cfg.time_cond || c->dit) {
        /* their sampler changes the noise level every step: nothing to reuse */
        snprintf(err, errlen, "cpu: no key/value cache for time-conditioned models (%s)",
                 arch_name(c->cfg.arch));
        return NULL;
    }
    if (len <= 0 || len > (1 << 20)) {
        snprintf(err, errlen, "cpu: key/value cache of bad length %d", len);
        return NULL;
    }
    struct cpu_cache *kc = calloc(1, sizeof *kc);
    size_t n = (size_t)c->cfg.n_layers * (size_t)len * (size_t)c->kv_dim;
    if (kc) {
        kc->k = calloc(n, sizeof(float));
        kc->v = calloc(n, sizeof(float));
    }
    if (!kc || !kc->k || !kc->v) {
        cpu_cache_free(ctx, kc);
        snprintf(err, errlen, "cpu: out of memory for a key/value cache of %d tokens (%zu MB)", len,
                 2 * n * sizeof(float) >> 20);
        return NULL;
    }
    kc->len = len;
    kc->n_layers = c->cfg.n_layers;
    kc->kv_dim = c->kv_dim;
    return kc;
}

void cpu_cache_free(void *ctx, void *cache)
{
    (void)ctx;
    struct cpu_cache *kc = cache;
    if (!kc)
        return;
    free(kc->k);
    free(kc->v);
    free(kc);
}
