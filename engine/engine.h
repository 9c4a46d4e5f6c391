/* engine/engine.h: the door of the engine room.
 *
 * What the rest of dllm (api/, server/, the CLI, tests) may use of the engine:
 * model files and tokenizers, the denoiser backends behind one table, and the
 * canvas scheduler. The engine knows nothing of HTTP, JSON or sockets.
 * Sub-rooms (engine/model, engine/tok, engine/cpu, engine/cuda, engine/sched)
 * each have one header of their own for what only the engine shares inside.
 *
 * Errors: functions return 0 on success and a negative value on failure, and
 * write a human-readable reason into a caller's buffer (err, errlen); nothing
 * deep inside prints.
 */
#ifndef DLLM_ENGINE_H
#define DLLM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- tensors */

/* Values are GGUF's ggml_type numbers, so a GGUF tensor type maps directly. */
enum dtype {
    DT_F32 = 0,
    DT_F16 = 1,
    DT_Q4_0 = 2,
    DT_Q8_0 = 8,
    DT_Q4_K = 12,
    DT_Q6_K = 14,
    DT_BF16 = 30,
};

/* A weight tensor as stored. ne[0] is the innermost (row) length, as in GGUF:
 * a [out, in] matrix has ne[0] = in, ne[1] = out. data points into the mmap of
 * the file (or into memory the model owns, for converted formats). */
struct tensor {
    char *name;
    enum dtype type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    size_t nbytes;
};

/* Dequantize rows [row0, row0 + nrows) of t into out (nrows * ne[0] floats). */
int tensor_rows_f32(const struct tensor *t, int64_t row0, int64_t nrows, float *out);
const char *dtype_name(enum dtype t);

/* ------------------------------------------------------------------ model */

enum arch {
    ARCH_LLADA,   /* Llama-style blocks, bidirectional */
    ARCH_DREAM,   /* Qwen2-style blocks (qkv bias, GQA), bidirectional, logit shift */
    ARCH_LLAMA,   /* causal Llama (stories260K, llama2.c checkpoints) */
    ARCH_BERT,    /* BERT masked LM: post-LN, GELU, learned positions */
    ARCH_ROBERTA, /* RoBERTa masked LM (BERT with position offset 2) */
    ARCH_MDLM,    /* DiT with adaLN, time conditioned (issue: MDLM/SEDD) */
    ARCH_SEDD,
};

enum chat_family { CHAT_NONE, CHAT_LLAMA3, CHAT_CHATML };

/* MDLM/SEDD noise schedules, sigma(t) for t in [0, 1]:
 * log-linear sigma = -ln(1 - (1 - eps) t); geometric sigma = smin^(1-t) smax^t. */
enum noise_kind { NOISE_LOGLINEAR, NOISE_GEOMETRIC };

struct model_config {
    enum arch arch;
    int n_layers;
    int d_model;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int d_ff;
    int vocab_size;
    int max_seq;          /* context length the model was trained for */
    float norm_eps;
    float rope_theta;
    int rope_dim;         /* rotated dims per head (head_dim when 0) */
    /* Layout of the Q/K weight rows as stored: 1 when pairs (2i, 2i+1) rotate
     * together (llama.cpp's permuted GGUF, llama2.c), 0 for Hugging Face
     * rotate-half (i, i + d/2). The forward applies RoPE to match. */
    int rope_interleaved;
    int causal;           /* {arch}.attention.causal */
    int shift_logits;     /* Dream: position i predicted from hidden state i-1 */
    int tied_output;      /* output head shares token_embd */
    int time_cond;        /* MDLM/SEDD: denoiser takes a noise level */
    int cond_dim;         /* MDLM/SEDD conditioning width */
    enum noise_kind noise;/* MDLM/SEDD: the schedule the model was trained with */
    float noise_eps;      /* log-linear eps (1e-3) */
    float sigma_min, sigma_max; /* geometric schedule */
    int graph_uniform;    /* SEDD uniform transition graph (no mask token) */
    int scale_by_sigma;   /* SEDD: the forward returns log scores (see backend) */
    /* special token ids, -1 when the model has none */
    int bos_id, eos_id, pad_id, mask_id, eot_id, unk_id, cls_id, sep_id;
    int add_bos;          /* tokenizer prepends BOS to plain prompts */
};

struct tokenizer;

/* A loaded model: config, named tensors, tokenizer, chat template.
 * Tensor names follow llama.cpp's GGUF names ("token_embd.weight",
 * "blk.0.attn_q.weight", ...); the Hugging Face and llama2.c loaders map their
 * names onto these, so the backends look tensors up one way. */
struct model {
    struct model_config cfg;
    struct tensor *tensors;
    int n_tensors;
    struct tokenizer *tok;
    enum chat_family chat;
    char *chat_template;  /* the model's own template text, or NULL */
    char *name;           /* general.name, or the file's base name */
    char *path;
    /* private to engine/model: mappings and owned buffers */
    void *priv;
};

/* Open a GGUF file, a Hugging Face directory (config.json + safetensors +
 * tokenizer.json) or a llama2.c checkpoint directory (*.bin + tokenizer.bin). */
int model_open(const char *path, struct model **out, char *err, size_t errlen);
void model_free(struct model *m);
const struct tensor *model_tensor(const struct model *m, const char *name);
const char *arch_name(enum arch a);

/* -------------------------------------------------------------- tokenizer */

/* Encode text to ids (special-token texts in the input are recognised as
 * their ids). add_bos: prepend BOS when the model wants it. *ids is malloc'd. */
int tok_encode(const struct tokenizer *t, const char *text, size_t len, int add_bos,
               int32_t **ids, int *n, char *err, size_t errlen);
/* Decode ids to a malloc'd NUL-terminated string; special tokens are skipped
 * when skip_special is set. */
char *tok_decode(const struct tokenizer *t, const int32_t *ids, int n, int skip_special);
int tok_vocab_size(const struct tokenizer *t);
/* Id of a token by its exact text, or -1. */
int tok_find(const struct tokenizer *t, const char *piece);
int tok_is_special(const struct tokenizer *t, int id);

/* Streaming-safe decode: feed committed ids left to right, get text that ends
 * on a UTF-8 character boundary; bytes of an unfinished character wait. */
struct tok_stream;
struct tok_stream *tok_stream_new(const struct tokenizer *t, int skip_special);
/* Appends ids; returns a malloc'd string of the newly stable text (maybe ""). */
char *tok_stream_push(struct tok_stream *s, const int32_t *ids, int n);
char *tok_stream_flush(struct tok_stream *s);
void tok_stream_free(struct tok_stream *s);

/* Chat templates: families recognised from the model's template text, no Jinja. */
struct chat_msg {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
};
enum chat_family chat_detect(const char *template_text);
const char *chat_family_name(enum chat_family f);
enum chat_family chat_family_parse(const char *name); /* "llama3", "chatml"; -1 unknown */
/* Renders the conversation plus the assistant header; malloc'd string.
 * ChatML gets Qwen2.5's default system message when none is given; CHAT_NONE
 * (a base model) joins the contents with newlines. */
char *chat_render(enum chat_family f, const struct tokenizer *t, const struct chat_msg *msgs, int n);
/* As chat_render, with the default system message to use for ChatML (NULL:
 * none), e.g. the one chat_default_system() found in the model's template. */
char *chat_render_sys(enum chat_family f, const struct tokenizer *t, const struct chat_msg *msgs, int n,
                      const char *default_system);
/* The literal default system message of a ChatML template (the text it writes
 * after <|im_start|>system when the conversation has none), malloc'd, or NULL. */
char *chat_default_system(const char *template_text);
/* The family to use: the override (a chat_family_parse name) when set, else
 * the one recognised in the template text; no template at all is CHAT_NONE.
 * An unknown template or override is an error whose message names
 * override_name (the config key or flag that sets it). */
int chat_resolve(const char *template_text, const char *override, const char *override_name,
                 enum chat_family *out, char *err, size_t errlen);

/* -------------------------------------------------------- random numbers */

/* Counter-based random numbers: a draw depends only on (seed, step, position,
 * index), never on what else ran, so a request's result does not depend on
 * the batch it shared (batch invariance) or on thread order. */
uint64_t rng_hash(uint64_t seed, uint64_t step, uint64_t pos, uint64_t index);
double rng_u01(uint64_t seed, uint64_t step, uint64_t pos, uint64_t index); /* [0,1) */

/* ------------------------------------------------------------ the backend */

enum attn_kind { ATTN_FULL, ATTN_CAUSAL, ATTN_BLOCK_CAUSAL };

/* What the per-position reduction computes. */
enum reduce_mode {
    REDUCE_SOFTMAX = 0,         /* a draw (or argmax) of softmax of the logits */
    /* SEDD's uniform graph (graph_lib.py Uniform with sampling.py): the
     * logits are log scores (the current token i = row->ids[pos] has 0);
     * the draw is categorical over max(0, w) of the reference's
     * unnormalised probabilities, the chosen token == i when it stays.
     * Euler (coef = dt sigma'(t)): w_y = coef s_y / V, w_i = 1 - sum of those.
     * Analytic (coef = sigma(t) - sigma(t - dt), or sigma(t_eps) for the
     * final denoiser): w = staggered_score(s, coef) * transp_transition(i, coef).
     * temperature/top-k/top-p do not apply; banned ids are never moved to. */
    REDUCE_SEDD_UNIFORM_EULER,
    REDUCE_SEDD_UNIFORM_ANALYTIC,
};

/* How the backend reduces one row's logits at each queried position. */
struct reduce_params {
    float temperature;   /* 0: argmax; > 0: Gumbel-max sample of softmax(l/T) */
    int top_k;           /* 0: off */
    float top_p;         /* >= 1: off */
    int n_logprobs;      /* top-n log-probabilities to return, 0..REDUCE_MAX_TOP */
    uint64_t seed;       /* per request; draws keyed (seed, step, position, vocab index) */
    uint32_t step;
    int32_t banned[2];   /* token ids forced to -inf before choosing (-1: none) */
    int mode;            /* enum reduce_mode */
    double coef;         /* the SEDD uniform modes' step coefficient */
};

#define REDUCE_MAX_TOP 20

/* One canvas in a batched forward. Rows of different lengths share a call;
 * padding never changes any row's result. */
struct denoise_row {
    const int32_t *ids;      /* canvas tokens, mask id where masked */
    int len;
    enum attn_kind attn;
    int block_len;           /* ATTN_BLOCK_CAUSAL: block size */
    float sigma;             /* noise level for time-conditioned models */
    const int32_t *query;    /* positions to reduce (sorted ascending) */
    int n_query;
    int cfg_uncond;          /* index of this row's unconditional twin, -1 none;
                              * logits = un + (cfg_scale + 1) (cond - un) */
    float cfg_scale;
    struct reduce_params rp;
    /* Key/value cache of this canvas (backend->cache_new), or NULL.
     * cache_fill = 1: a full forward that also stores the keys and values of
     * every position. cache_fill = 0: only positions [win_start, win_end) are
     * computed (their fresh keys/values overwrite theirs in the cache); every
     * other position's keys/values are the cache's, as of its last fill
     * (Fast-dLLM prefix cache: win_end = len; dual cache: win_end = the
     * block's end). Queried positions, and with Dream's shift the position
     * before each, lie inside the window. */
    void *cache;
    int cache_fill;
    int win_start, win_end;
};

/* The reduction at one queried position. */
struct denoise_pos {
    int32_t token;      /* chosen token (argmax or sample) */
    float prob;         /* its probability after temperature/top-k/top-p */
    float prob_raw;     /* its probability under softmax of the raw logits */
    float logprob_raw;  /* log of prob_raw (OpenAI logprobs) */
    float margin;       /* p1 - p2 of the filtered distribution */
    float neg_entropy;  /* sum p ln p of the filtered distribution (<= 0) */
    float logsumexp;    /* of the raw logits (schedule-driven samplers) */
    int n_top;
    int32_t top_ids[REDUCE_MAX_TOP];
    float top_logprobs[REDUCE_MAX_TOP];
};

struct denoise_batch {
    const struct denoise_row *rows;
    int n_rows;
    struct denoise_pos *out; /* sum of n_query over rows, rows in order */
};

/* A backend is a table of functions; CPU (BLAS) and CUDA implement it. */
struct backend {
    const char *name;
    /* Prepares weights for m (kept by reference; m outlives the context). */
    void *(*load)(const struct model *m, int threads, char *err, size_t errlen);
    int (*denoise)(void *ctx, const struct denoise_batch *b, char *err, size_t errlen);
    /* Full float32 logits of one row, [len][vocab] (debugging, reference tests). */
    int (*logits)(void *ctx, const struct denoise_row *row, float *out, char *err, size_t errlen);
    void (*free)(void *ctx);
    /* Key/value cache of one canvas of len tokens; NULL members when the
     * backend has none (the scheduler then runs uncached). */
    void *(*cache_new)(void *ctx, int len, char *err, size_t errlen);
    void (*cache_free)(void *ctx, void *cache);
};

const struct backend *backend_cpu(void);
const struct backend *backend_cuda(void); /* NULL when built without CUDA */
const struct backend *backend_by_name(const char *name);

/* ---------------------------------------------------------- the scheduler */

enum remask {
    REMASK_LOW_CONFIDENCE, /* LLaDA: commit the k most probable (raw softmax) */
    REMASK_RANDOM,         /* LLaDA: commit k at random */
    REMASK_ORIGIN,         /* Dream: each masked position unmasks w.p. 1 - s/t */
    REMASK_MASKGIT_PLUS,   /* Dream: top-n by probability */
    REMASK_TOPK_MARGIN,    /* Dream: top-n by p1 - p2 */
    REMASK_ENTROPY,        /* Dream: top-n by negative entropy */
    REMASK_MDLM,           /* MDLM ancestral sampler (ddpm_cache): unmask w.p. (t-s)/t */
    REMASK_SEDD_EULER,     /* SEDD Euler step of the reverse rate */
    REMASK_SEDD_ANALYTIC,  /* SEDD analytic (Tweedie tau-leaping) step */
};

/* Fast-dLLM block caches: keys/values computed at each block start and
 * reused for the block's later steps. */
enum cache_mode { CACHE_OFF, CACHE_PREFIX, CACHE_DUAL };

enum finish_reason { FINISH_NONE, FINISH_STOP, FINISH_LENGTH, FINISH_CANCELLED, FINISH_ERROR };

struct gen_params {
    int gen_length;       /* masked span length (max_tokens, rounded as the model needs) */
    int steps;            /* total denoising steps over the span */
    int block_length;     /* semi-autoregressive block; gen_length when 0 */
    enum remask remasking;
    float temperature;
    float top_p;
    int top_k;
    float alg_temp;       /* Dream: 0 = deterministic top-n */
    float threshold;      /* Fast-dLLM parallel decoding; 0 = fixed schedule */
    float cfg_scale;      /* classifier-free guidance; 0 = off */
    uint64_t seed;
    int n_logprobs;       /* 0 = none */
    enum cache_mode cache;/* reuse keys/values computed at the block start */
    float t_eps;          /* MDLM/SEDD: the time grid ends at t_eps (1e-5) */
    int ban_eos;          /* LLaDA logits_eos_inf */
};

/* A segment of a canvas: given text (ids) or a masked span of n tokens.
 * Completion = [prompt][span]; infill = [prefix][span][suffix]; fill in the
 * blanks = any sequence of segments. */
struct canvas_seg {
    const int32_t *ids;   /* NULL for a masked span */
    int n;
};

/* A masked span of a canvas: positions [start, start + len). */
struct canvas_span {
    int start, len;
};

struct gen_request {
    const struct canvas_seg *segs;
    int n_segs;
    struct gen_params params;
    const char *const *stop; /* stop strings, cut the answer (finish "stop") */
    int n_stop;
    int want_frames;      /* emit a frame event each step */
    void *user;           /* handed back in every event */
};

enum sched_event_kind { SCHED_EV_FRAME, SCHED_EV_DELTA, SCHED_EV_DONE };

/* Events are delivered on the engine thread; pointers are valid only during
 * the callback: copy what you keep. */
struct sched_event {
    enum sched_event_kind kind;
    uint64_t id;
    void *user;
    int step;
    int total_steps;
    /* FRAME: the whole canvas */
    const int32_t *canvas;
    const uint8_t *masked;     /* 1 where still masked; NULL: none (SEDD uniform
                                * frames, whose spans always hold tokens) */
    const uint8_t *fresh;      /* 1 where committed (uniform: changed) in this step */
    const float *conf;         /* confidence at commit, per position */
    int len;
    int span_start, span_end;  /* the first masked span [start, end) */
    int block_start, block_end;
    /* DELTA: newly stable text of the answer, UTF-8 safe; DONE: full answer */
    const char *text;
    size_t text_len;
    /* DONE */
    enum finish_reason finish;
    int prompt_tokens;
    int completion_tokens;
    const char *error;         /* FINISH_ERROR: why */
    /* DONE, when the request asked for logprobs (params.n_logprobs > 0): the
     * answer's tokens, each one's logprob_raw when committed, and the top
     * n_top alternatives per token (row-major, n_tokens x n_top). NULL and 0
     * otherwise; the HTTP layer then reports logprobs as null. */
    const int32_t *tokens;
    const float *token_logprobs;
    const int32_t *top_ids;
    const float *top_logprobs;
    int n_tokens, n_top;
    /* DONE: the final canvas (canvas, len above) and its masked spans in
     * canvas order, so fill-in-the-blanks answers can report each span
     * (FRAME events carry the spans too). */
    const struct canvas_span *spans;
    int n_spans;
};

typedef void (*sched_event_fn)(void *cb_user, const struct sched_event *ev);

struct sched_limits {
    int max_queue;        /* requests waiting beyond the active set */
    int max_active;       /* canvases in one forward */
    int max_batch_tokens; /* sum of canvas lengths in one forward */
    int max_canvas;       /* longest canvas accepted */
};

struct sched;
struct sched *sched_new(const struct model *m, const struct backend *be, void *be_ctx,
                        const struct sched_limits *lim, sched_event_fn fn, void *cb_user);
void sched_free(struct sched *s);
/* Thread-safe. 0 and *id on success; SCHED_EFULL when the queue is full,
 * SCHED_EINVAL (with err) for a request that can never run. The request is
 * copied: the caller's buffers may be freed on return. */
int sched_submit(struct sched *s, const struct gen_request *r, uint64_t *id, char *err, size_t errlen);
/* Thread-safe; the request leaves at the next step and gets a DONE cancelled. */
void sched_cancel(struct sched *s, uint64_t id);
/* One scheduling tick: admit, one batched forward, commit, events.
 * Returns the number of canvases stepped (0 when idle). */
int sched_step(struct sched *s);
/* Blocks until there is work or sched_stop() was called; for the engine thread. */
int sched_wait(struct sched *s);
void sched_stop(struct sched *s);
struct sched_stats {
    int queued, active;
    uint64_t steps, tokens_committed, forwards;
    double busy_seconds;
};
void sched_get_stats(struct sched *s, struct sched_stats *st);

#define SCHED_EFULL (-2)
#define SCHED_EINVAL (-3)

#endif
