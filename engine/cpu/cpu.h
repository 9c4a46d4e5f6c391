/* engine/cpu/cpu.h: the CPU denoiser room's door inside the engine.
 *
 * The CPU backend (backend_cpu() in engine/engine.h) runs one batched forward
 * over B canvases: every large product goes through OpenBLAS cblas_sgemm;
 * attention, norms, RoPE and the per-position vocabulary reduction are plain
 * loops. What the tests and the benchmark reach beyond the backend table is
 * declared here: load options, timing counters, and the per-element math of
 * the reduction (pure functions the CUDA backend shares).
 *
 * Batch invariance: OpenBLAS's sgemm result for a matrix row depends on the
 * shape of the call and the row's place in it (measured on this machine's
 * Haswell kernels: a canvas stacked under another differs in the last bits).
 * So by default every projection runs one sgemm per canvas: a canvas's calls
 * are the same alone or in a batch, and so are its bits. The price (bench_cpu,
 * 8 canvases of 64-256 tokens, Llama-8B-shaped layer): 1.3-2x the time of
 * one stacked sgemm, as each call repacks the weights; cpu_opts.stack_rows
 * trades the bit-identity for that speed (CPU_STACK_PLAIN). Padding every
 * canvas to a fixed multiple of rows keeps the bits (CPU_STACK_PADDED):
 * measured here, no row of 1,792 random layouts differed from its canvas's
 * own call with 24-row multiples at 1 thread and 48 at 2 (the kernel's
 * tile, per thread), while 16, 32 and 64 did not hold. A probe at load finds
 * the pad on the machine at hand. It is not the default: with block caches
 * the windows are 32 tokens, padded to 48 rows, and bench_sched measured
 * the padding cost above the stacking gain (README, Benchmarks).
 *
 * Key/value caches (cache.c): 2 * n_layers * len * kv floats per cached
 * canvas, kept by the scheduler while its request is active.
 *
 * Peak memory of one denoise call, in floats (N = sum of canvas lengths,
 * Lmax = longest canvas, q = n_heads*head_dim, kv = n_kv_heads*head_dim,
 * C = CPU_HEAD_CHUNK queried positions, V = vocab, rd = rope_dim):
 *   N*(2*d_model + 2*q + 2*kv + 2*d_ff)   activations (x, xb, q, att, k, v, 2 MLP)
 *   + Lmax^2                              one head's attention scores
 *   + Lmax*rd                             RoPE table
 *   + C*V (+ C*V more under CFG)          the logits slab(s): the only part
 *                                         growing with the vocabulary
 *   + 2*C*d_model + 3*V                   head input, reduction scratch
 * Buffers grow to the largest batch seen and are kept. Weights come on top:
 * resident f32 (F32 files use the mapping itself, no copy), or, streamed,
 * the file's own bytes plus one f32 scratch of max(largest layer matrix,
 * CPU_HEAD_VCHUNK*d_model). The full logits of `logits` (reference tests)
 * are the caller's buffer. MDLM/SEDD add, per canvas, 2*cond_dim + 256 +
 * 8*d_model floats (sigma features, conditioning, adaLN modulations); their
 * fused qkv product lands in the MLP buffer (3*d_model <= d_ff).
 *
 * MDLM / SEDD (the DiT, forward_dit.c): what `logits` returns, and what the
 * reduction of `denoise` sees.
 *   MDLM: the raw DiT output, logits of every id including MASK (the SUBS
 *     parameterization, MASK banned and unmasked tokens carried over, is the
 *     sampler's: the scheduler bans MASK in reduce_params).
 *   SEDD: the official forward's output, the log score: with scale_by_sigma,
 *     out = logits - ln(e^sigma - 1) - ln(V - 1) (e^sigma - 1 as expm1 below
 *     sigma 0.5 and exp - 1 above, in float32, as the official code; sigma 0
 *     gives +inf), then out[input token] = 0 at each position (also without
 *     scale_by_sigma). With MASK banned (as the scheduler asks), the
 *     reduction's softmax is s_y / S and its logsumexp ln S.
 *   The noise level is denoise_row.sigma, per canvas. A model trained without
 *   time conditioning (MDLM's default) sees 0 whatever is passed, as the
 *   official code zeroes it; otherwise a negative or non-finite sigma is an
 *   error.
 */
#ifndef DLLM_CPU_H
#define DLLM_CPU_H

#include "engine/engine.h"

#include <math.h>

#ifdef __CUDACC__
#define CPU_HD __host__ __device__
#else
#define CPU_HD
#endif

#define CPU_HEAD_CHUNK 64      /* queried positions per logits slab */
#define CPU_HEAD_VCHUNK 8192   /* vocab rows dequantized at once (streamed weights) */

enum cpu_weights_mode {
    CPU_WEIGHTS_AUTO,     /* BF16 for a file stored in BF16 or quantized when
                           * the CPU has AVX512-BF16; else resident when the
                           * f32 copy fits half the memory, else stream */
    CPU_WEIGHTS_RESIDENT, /* dequantize every matrix to f32 once, at load */
    CPU_WEIGHTS_STREAM,   /* keep as stored; dequantize per layer per step */
    CPU_WEIGHTS_BF16,     /* the layers' projections and the output head
                           * packed as BF16 at load, products on AVX512-BF16
                           * with f32 sums (bf16.c); needs that CPU feature */
};

/* How the projections of a batch are laid out (see the top of this file). */
enum cpu_stack {
    CPU_STACK_NONE = 0,   /* one sgemm per canvas: bit-identical alone or batched */
    CPU_STACK_PLAIN = 1,  /* one sgemm over all canvases: faster, not bit-identical */
    CPU_STACK_PADDED = 2, /* one sgemm over all canvases, each padded to
                           * cpu_ctx.pad rows: bit-identical where the load-time
                           * probe found a pad that makes it so, else NONE */
};

struct cpu_opts {
    int threads;                 /* OpenBLAS threads; 0: leave as is */
    enum cpu_weights_mode weights;
    int stack_rows;              /* enum cpu_stack */
};

/* Time spent, cumulative since load (or the last reset). */
struct cpu_stats {
    double forward_s;   /* whole denoise/logits calls */
    double sgemm_s;     /* inside cblas_sgemm */
    double dequant_s;   /* streamed weights: dequantizing per step */
    double sgemm_flop;  /* 2*M*N*K summed */
    long sgemm_calls;
};

void *cpu_load_opts(const struct model *m, const struct cpu_opts *o, char *err, size_t errlen);
void cpu_get_stats(void *ctx, struct cpu_stats *st);
/* The layout in use (CPU_STACK_PADDED falls back to NONE when the probe
 * failed) and the pad (rows per canvas a multiple of it; 1 unpadded). */
enum cpu_stack cpu_stack_mode(void *ctx, int *pad);
void cpu_reset_stats(void *ctx);
/* 1 when the weights were converted to f32 at load. */
int cpu_weights_resident(void *ctx);
/* 1 when the projections run as BF16 (CPU_WEIGHTS_BF16, or AUTO chose it). */
int cpu_weights_bf16(void *ctx);
/* "auto", "f32" (RESIDENT), "stream", "bf16" to the mode; -1 otherwise. */
int cpu_weights_parse(const char *s, enum cpu_weights_mode *out);

/* ----------------------------------------------- per-element reduction math
 * Small pure functions: the CPU loops call them per vocabulary entry, and
 * the CUDA kernels will call the same ones. */

/* Classifier-free guidance: un + (scale + 1) (cond - un). */
static inline CPU_HD float cpu_cfg_mix(float cond, float un, float scale)
{
    return un + (scale + 1.0f) * (cond - un);
}

/* The logit the sampler sees: divided by the temperature when sampling. */
static inline CPU_HD float cpu_temper(float logit, float temperature)
{
    return temperature > 0.0f ? logit / temperature : logit;
}

/* Gumbel noise for u in [0,1): -ln(-ln u); u = 0 gives -inf (never chosen).
 * argmax(l/T + g) samples softmax(l/T), as LLaDA's exp(l)/(-ln u)^T does. */
static inline CPU_HD double cpu_gumbel(double u)
{
    if (u <= 0.0)
        return -INFINITY;
    return -log(-log(u));
}

/* Softmax sums over logits x against their max m: s += e^(x-m),
 * q += e^(x-m) (x-m). Then logsumexp = m + ln s and
 * sum p ln p = q/s - ln s, from one pass. */
static inline CPU_HD void cpu_softmax_acc(float x, float m, double *s, double *q)
{
    if (x == -INFINITY)
        return;
    float d = x - m;
    float e = expf(d);
    *s += e;
    *q += (double)e * d;
}

/* SEDD's uniform graph: the log of the unnormalised probability that a
 * position whose current token i has log score l_i moves to y (log score
 * l_y; is_cur when y == i), -inf where that weight is <= 0 (the reference's
 * categorical draw never picks it). lse = ln of the sum of the scores over
 * all V tokens. With s = e^l, S = sum s, the reference's weights are
 *   euler (coef = dt sigma'(t)):  w_y = coef s_y / V,  w_i = 1 - sum_{y!=i} w_y
 *   analytic (coef = D, e = e^-D, c = (1 - e)/V): staggered_score times
 *   transp_transition: w_y = (c/e)(s_y - c S),
 *   w_i = ((s_i - c S)/e)(1 - (V - 1) c).
 * Written against lse so no score is exponentiated on its own. */
static inline CPU_HD double cpu_sedd_uniform_logw(int analytic, double coef, int V, double lse, double l_i,
                                                  double l_y, int is_cur)
{
    if (!analytic) {
        double k = coef / (double)V;
        if (!is_cur)
            return k > 0.0 ? log(k) + l_y : -INFINITY;
        /* sum over y != i of s_y = S (1 - s_i / S) */
        double rest = exp(lse) * -expm1(l_i - lse);
        double w = 1.0 - k * rest;
        return w > 0.0 ? log(w) : -INFINITY;
    }
    double c = -expm1(-coef) / (double)V;
    double d = exp((is_cur ? l_i : l_y) - lse) - c; /* (s - c S) / S */
    if (!(d > 0.0))
        return -INFINITY;
    if (!is_cur)
        return log(expm1(coef) / (double)V) + lse + log(d); /* c/e = expm1(D)/V */
    return coef + lse + log(d) + log1p(-(double)(V - 1) * c);
}

/* ------------------------------------------------------ the reduction */

struct cpu_reduce_scratch {
    int vocab;
    float *f;       /* filtered logits */
    struct cpu_vi { float v; int32_t i; } *vi; /* selection scratch */
};

int cpu_reduce_scratch_init(struct cpu_reduce_scratch *s, int vocab);
void cpu_reduce_scratch_free(struct cpu_reduce_scratch *s);
/* Reduces one position's logits (length vocab; banned ids are set to -inf in
 * place). pos keys the random draws together with rp->seed and rp->step. */
void cpu_reduce(float *logits, int vocab, const struct reduce_params *rp, int pos,
                struct cpu_reduce_scratch *s, struct denoise_pos *out);
/* The REDUCE_SEDD_UNIFORM_* modes: cur is the position's current token.
 * out gets the token (cur when it stays), prob = its share of the positive
 * weights, the raw softmax figures of the token and the logsumexp. */
void cpu_reduce_sedd_uniform(const float *logits, int vocab, const struct reduce_params *rp, int pos,
                             int32_t cur, struct denoise_pos *out);

/* ------------------------------------------- private to the engine/cpu files */

/* A weight matrix [rows = out][cols = in]: f32 when resident (the mapping
 * itself for aligned F32, else an owned copy), or the tensor as stored,
 * dequantized into scratch at each use. */
struct cpu_mat {
    const struct tensor *t;
    const float *f32;
    float *own;
    int rows, cols;
    uint16_t *bf16;   /* CPU_WEIGHTS_BF16: packed for cpu_bf16_gemm, owned */
};

struct cpu_layer {
    /* Llama family: norm1 before attention, norm2 before the MLP (RMS).
     * BERT: norm1 after attention, norm2 after the MLP (LayerNorm + bias). */
    float *norm1, *norm1_b, *norm2, *norm2_b;
    struct cpu_mat wq, wk, wv, wo, w_gate, w_up, w_down;
    float *bq, *bk, *bv, *bo, *b_up, *b_down; /* NULL when absent */
    /* DiT: fused q/k/v [3d, d] and the adaLN modulation [6d, cond] + bias */
    struct cpu_mat w_qkv, w_ada;
    float *b_ada;
};

/* Canvas rows of one forward, stacked: row r holds tokens [off[r], off[r] + len[r]),
 * which are canvas positions [pos0[r], pos0[r] + len[r]): the whole canvas, or
 * the window of a cached row (pos0 = win_start). max_len is over whole
 * canvases (RoPE table, attention scores). */
struct cpu_rows {
    int n;
    int *off, *len, *pos0;
    int total, max_len;
};

/* A canvas's key/value cache (backend cache_new): per layer, the keys (after
 * RoPE) and values of every position, [n_layers][len][kv_dim] each. */
struct cpu_cache {
    int len, n_layers, kv_dim;
    float *k, *v;
};

struct cpu_ctx {
    const struct model *m;
    struct model_config cfg;   /* head_dim, rope_dim, n_kv_heads filled in */
    int q_dim, kv_dim;
    int bert;                  /* ARCH_BERT or ARCH_ROBERTA */
    struct cpu_opts opts;
    int resident;
    int pad;                   /* CPU_STACK_PADDED: canvas rows rounded up to a multiple */

    struct cpu_mat tok_embd, output, mlm_dense;
    float *pos_embd;           /* BERT learned positions [n_pos][d] */
    int n_pos;
    float *type_embd0;         /* BERT token type 0 */
    float *embd_norm, *embd_norm_b;
    float *out_norm;           /* Llama family final RMSNorm */
    float *out_bias;           /* BERT decoder bias */
    float *mlm_dense_b, *mlm_norm, *mlm_norm_b;
    struct cpu_layer *layers;
    /* DiT (MDLM/SEDD): sigma embedding MLP, final adaLN */
    int dit;
    int n_freq;                /* sinusoidal embedding width (256) */
    struct cpu_mat t_fc1, t_fc2, out_ada;
    float *t_fc1_b, *t_fc2_b, *out_ada_b;
    float **owned_vecs;        /* every vector above, for freeing */
    int n_owned_vecs;

    float *wscratch;           /* streamed weights: one dequantized matrix */
    size_t wscratch_n;
    int bf16;                  /* CPU_WEIGHTS_BF16 in use */
    uint32_t *xbf;             /* activations rounded to BF16 pairs */
    size_t xbf_n;

    /* activations, grown on demand */
    size_t cap_tokens, cap_len;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *S;
    float *rope_cos, *rope_sin;
    int rope_len;
    struct cpu_rows rows;
    int cap_rows;

    /* DiT per canvas: conditioning [rows][cond], block modulation
     * [rows][6d], final modulation [rows][2d], sigma embedding scratch */
    float *dit_cond, *dit_mod, *dit_fmod, *dit_freq;
    int dit_cap_rows;

    /* output head */
    float *g, *g2, *slab, *slab2;
    struct cpu_reduce_scratch rs;

    struct cpu_stats st;
};

/* weights.c */
int cpu_weights_load(struct cpu_ctx *c, char *err, size_t errlen);
void cpu_weights_free(struct cpu_ctx *c);
/* The f32 matrix, dequantized into c->wscratch when streamed; NULL on a
 * tensor that does not convert. */
const float *cpu_mat_get(struct cpu_ctx *c, const struct cpu_mat *w);

/* bf16.c: 1 when this CPU runs the BF16 kernel (AVX512-BF16). */
int cpu_bf16_supported(void);
/* Packs w (w->t as stored) into w->bf16. */
int cpu_bf16_pack(struct cpu_mat *w, char *err, size_t errlen);
/* y[M][w->rows] (+)= BF16(x[M][w->cols]) . BF16(W)^T with f32 sums; each
 * row's bits independent of M. -1 when out of memory or unsupported. */
int cpu_bf16_gemm(struct cpu_ctx *c, const struct cpu_mat *w, int M, const float *x, float *y, int accumulate);

/* dequant.c: tensor_rows_f32 with fast F16 (F16C) and BF16 paths. */
int cpu_rows_f32(const struct tensor *t, int64_t row0, int64_t nrows, float *out);

/* gemm.c: timed cblas_sgemm, row-major. C = alpha A op(B) + beta C. */
/* CPU_STACK_PADDED: finds the smallest pad (rows per canvas a multiple of
 * it) for which stacked sgemm gives every canvas the bits of its own call,
 * on this machine's OpenBLAS kernels and thread count, with the model's
 * layer-0 matrices; sets c->pad, or falls back to CPU_STACK_NONE. */
void cpu_stack_probe(struct cpu_ctx *c);
void cpu_sgemm(struct cpu_ctx *c, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);
/* y[t] = W x[t] (+ bias) (+ y[t] when accumulate) for every token t of the
 * rows; x has w->cols floats per token, y w->rows. One sgemm per canvas
 * unless opts.stack_rows (padded: pad rows included, their results unused). */
int cpu_linear(struct cpu_ctx *c, const struct cpu_mat *w, const float *bias, const float *x, float *y,
               int accumulate, char *err, size_t errlen);

/* norms.c */
void cpu_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
void cpu_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps);
/* Mean and 1/sqrt(variance + eps) of x, summed in double (LayerNorm and the
 * DiT's modulated LayerNorm share them). */
void cpu_layernorm_stats(const float *x, int n, float eps, float *mu, float *inv);
void cpu_gelu(float *x, size_t n);
void cpu_swiglu(float *gate, const float *up, size_t n); /* gate = silu(gate) * up */
int cpu_rope_table(struct cpu_ctx *c, int len);
/* Rotates the first rope_dim dims of each of n_heads heads of len tokens
 * (token stride ld floats) by their position 0..len-1. */
void cpu_rope(const struct cpu_ctx *c, float *x, int len, int ld, int n_heads);
/* Same for n tokens at positions pos0 .. pos0 + n - 1 (the table must cover them). */
void cpu_rope_at(const struct cpu_ctx *c, float *x, int pos0, int n, int ld, int n_heads);

/* attention.c: one canvas, all heads; q/att stride q_dim, k/v stride kv_dim. */
void cpu_attention(struct cpu_ctx *c, float *att, const float *q, const float *k, const float *v, int len,
                   enum attn_kind kind, int block_len);
/* A window's nq queries (canvas positions q_pos0 ..) over the canvas's nk
 * keys/values (positions 0 .. nk - 1); the mask is applied on absolute
 * positions. With nq = nk and q_pos0 = 0 it is cpu_attention, call for call. */
void cpu_attention_win(struct cpu_ctx *c, float *att, const float *q, int nq, int q_pos0, const float *k,
                       const float *v, int nk, enum attn_kind kind, int block_len);

/* forward.c: hidden states (before the final norm) of every token of the
 * rows into c->x. A row with a cache (denoise_row.cache) and cache_fill = 0
 * computes only its window [win_start, win_end), attending over the cache;
 * with cache_fill = 1 it is the plain forward and also fills the cache. */
int cpu_forward(struct cpu_ctx *c, const struct denoise_row *rows, int n_rows, char *err, size_t errlen);
/* forward_dit.c: MDLM/SEDD. cpu_dit_forward is cpu_forward's body for a
 * DiT (rows set, buffers reserved); cpu_dit_final the final adaLN LayerNorm
 * of n tokens of c->x into c->g; cpu_dit_post the architecture's output
 * transform (SEDD's log score) on the logits of positions pos[0..n) of row. */
int cpu_dit_forward(struct cpu_ctx *c, const struct denoise_row *rows, int n_rows, char *err, size_t errlen);
void cpu_dit_final(struct cpu_ctx *c, const int *src, int n);
void cpu_dit_post(const struct cpu_ctx *c, const struct denoise_row *row, const int32_t *pos, int n, float *out);

/* head.c: logits [n][vocab] of the hidden states of n tokens of c->x
 * (indices src[]) into out, n <= CPU_HEAD_CHUNK. */
int cpu_head_logits(struct cpu_ctx *c, const int *src, int n, float *out, char *err, size_t errlen);
/* Index in c->x of the hidden state that predicts position pos of row r
 * (Dream's shift: pos - 1, position 0 its own); -1 when that state lies
 * outside the row's computed window. */
int cpu_head_source(const struct cpu_ctx *c, int r, int pos);

/* cache.c: the backend's cache_new / cache_free. */
void *cpu_cache_new(void *ctx, int len, char *err, size_t errlen);
void cpu_cache_free(void *ctx, void *cache);

#endif
