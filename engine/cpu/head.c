/* The output head, run only for the positions someone asked about, at most
 * CPU_HEAD_CHUNK at a time, so logits never take more than one
 * [chunk, vocab] slab. */
#include "engine/cpu/cpu.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cpu_head_source(const struct cpu_ctx *c, int r, int pos)
{
    int p = pos;
    if (c->cfg.shift_logits && p > 0)
        p--;
    p -= c->rows.pos0[r];
    if (p < 0 || p >= c->rows.len[r])
        return -1;
    return c->rows.off[r] + p;
}

/* The hidden state as the output projection wants it: final RMSNorm (Llama
 * family), BERT's MLM transform dense + GELU + LayerNorm, or the DiT's final
 * adaLN LayerNorm (MDLM/SEDD, per canvas). */
static int final_transform(struct cpu_ctx *c, const int *src, int n, char *err, size_t errlen)
{
    int d = c->cfg.d_model;
    if (c->dit) {
        cpu_dit_final(c, src, n);
        return 0;
    }
    if (!c->bert) {
        for (int i = 0; i < n; i++)
            cpu_rmsnorm(c->g + (size_t)i * d, c->x + (size_t)src[i] * d, c->out_norm, d, c->cfg.norm_eps);
        return 0;
    }
    for (int i = 0; i < n; i++)
        memcpy(c->g2 + (size_t)i * d, c->x + (size_t)src[i] * d, sizeof(float) * (size_t)d);
    const float *W = cpu_mat_get(c, &c->mlm_dense);
    if (!W) {
        snprintf(err, errlen, "cpu: mlm.dense.weight does not convert to f32");
        return -1;
    }
    cpu_sgemm(c, 1, n, d, d, 1.0f, c->g2, d, W, d, 0.0f, c->g, d);
    for (int i = 0; i < n; i++) {
        float *g = c->g + (size_t)i * d;
        for (int j = 0; j < d; j++)
            g[j] += c->mlm_dense_b[j];
        cpu_gelu(g, (size_t)d);
        cpu_layernorm(g, g, c->mlm_norm, c->mlm_norm_b, d, c->cfg.norm_eps);
    }
    return 0;
}

int cpu_head_logits(struct cpu_ctx *c, const int *src, int n, float *out, char *err, size_t errlen)
{
    int d = c->cfg.d_model, V = c->cfg.vocab_size;
    if (n <= 0)
        return 0;
    if (n > CPU_HEAD_CHUNK) {
        snprintf(err, errlen, "cpu: head chunk of %d positions (at most %d)", n, CPU_HEAD_CHUNK);
        return -1;
    }
    if (final_transform(c, src, n, err, errlen))
        return -1;
    const struct cpu_mat *w = &c->output;
    if (w->bf16) {
        if (cpu_bf16_gemm(c, w, n, c->g, out, 0)) {
            snprintf(err, errlen, "cpu: out of memory in the bf16 output head");
            return -1;
        }
    } else if (w->f32) {
        cpu_sgemm(c, 1, n, V, d, 1.0f, c->g, d, w->f32, d, 0.0f, out, V);
    } else {
        for (int v0 = 0; v0 < V; v0 += CPU_HEAD_VCHUNK) {
            int nv = V - v0 < CPU_HEAD_VCHUNK ? V - v0 : CPU_HEAD_VCHUNK;
            double t0 = now_s();
            int rc = cpu_rows_f32(w->t, v0, nv, c->wscratch);
            c->st.dequant_s += now_s() - t0;
            if (rc) {
                snprintf(err, errlen, "cpu: output tensor %s does not convert to f32", w->t->name);
                return -1;
            }
            cpu_sgemm(c, 1, n, nv, d, 1.0f, c->g, d, c->wscratch, d, 0.0f, out + v0, V);
        }
    }
    if (c->out_bias) {
        for (int i = 0; i < n; i++) {
            float *o = out + (size_t)i * V;
            for (int j = 0; j < V; j++)
                o[j] += c->out_bias[j];
        }
    }
    return 0;
}
