/* engine/sched/sched.h: the door of the scheduler room (canvases, remasking
 * rules, the step schedules, answer text, the batching scheduler).
 * The public API (sched_new ... sched_get_stats) is in engine/engine.h; this
 * header is what the room's files and its unit tests share.
 *
 * Policy of the scheduler (sched.c):
 * - Admission is FIFO: waiting requests enter the active set in arrival
 *   order, at the start of a step, while the active set stays within
 *   max_active canvases and max_batch_tokens (sum of canvas lengths, a CFG
 *   twin row counted like its canvas). The head of the queue is never skipped
 *   for a smaller request behind it, so a large request cannot starve.
 * - Every active canvas advances exactly one denoising step per forward, so a
 *   request's step count (and its result) does not depend on what else runs;
 *   newcomers only make each forward larger, never an old request's path longer.
 * - sched_submit refuses with SCHED_EFULL when max_queue requests are waiting
 *   (the API answers 429); anything accepted ends with exactly one DONE event.
 * - A cancelled request leaves at the start of the next step with DONE
 *   FINISH_CANCELLED. sched_free frees the requests still held without any
 *   event: the owner answers its clients before it frees the scheduler.
 *
 * Choices where the references are silent:
 * - Blocks run over the masked positions in canvas order (one span: LLaDA's
 *   blocks exactly; several spans: a block may straddle them).
 * - steps that is not a multiple of the number of blocks is rounded down to
 *   one (at least one step per block); LLaDA rules never take more steps per
 *   block than the block has positions (the extra steps of the reference
 *   commit nothing).
 * - gen_params.gen_length is either 0 or the total of the masked spans.
 * - threshold > 0 replaces the remasking rule: the current block's masked
 *   positions are ranked by the model's probability of their token (raw for
 *   LLaDA rules, after temperature/top-k/top-p for Dream rules); the first is
 *   always committed, the others when their probability >= threshold.
 * - End of text: the answer is each span cut at its first EOS/EOT, the spans'
 *   texts concatenated (the decoder is flushed at each span's end, so no
 *   character straddles two spans). A span is settled when its committed prefix (from its
 *   left end, no mask in between) reaches its end or an EOS/EOT: whatever the
 *   later positions become, the answer cannot change. The request finishes
 *   when every span is settled (finish STOP if an EOS/EOT or a stop string cut
 *   it, LENGTH otherwise) or when the stable text contains a stop string.
 * - Events of one request after each step it takes: FRAME (if want_frames),
 *   then DELTA (if new text is stable), then DONE once. DELTA and DONE text
 *   is NUL-terminated at text_len; the deltas concatenate to the DONE text
 *   (a cancelled or failed request's DONE carries the text already sent).
 *   A DELTA holds back the last (longest stop string - 1) bytes, which a stop
 *   string could still cut, and never ends inside a UTF-8 character.
 * - FRAME conf is the model's probability of the committed token; FRAME
 *   block bounds are those of the block the step worked on; total_steps is
 *   the fixed schedule's count, or with a threshold its upper bound (one
 *   step per masked position).
 * - DONE completion_tokens counts the answer tokens read before EOS/EOT (and
 *   up to the point where a stop string was found); with n_logprobs the
 *   answer's tokens come with the logprobs kept when each was committed.
 * - MDLM/SEDD (sampler_mdlm.c): the rules mdlm, euler and analytic are the
 *   only ones an ARCH_MDLM or ARCH_SEDD model takes, and only those models
 *   take them (SCHED_EINVAL naming remasking otherwise); the API's "auto" is
 *   mdlm for MDLM and analytic for SEDD, steps default to one per masked
 *   token. One block over every span; steps N walk ts = linspace(1, t_eps, N
 *   + 1) (t_eps 0: 1e-5), then a final step denoises what is still masked
 *   (planned_steps N + 1; it is skipped when nothing is left). threshold,
 *   cfg_scale and a block_length short of the spans are refused. The
 *   temperature/top-k/top-p of gen_params shape the token draws (the API
 *   sends temperature 1 unless asked); MDLM's noise removal is an argmax.
 *   SEDD's uniform graph (euler, analytic; mdlm is refused naming
 *   remasking): the spans start as uniformly random tokens, every span
 *   position is asked at every step and takes the backend's draw
 *   (REDUCE_SEDD_UNIFORM_*, the current token when it stays), the spans
 *   stay "masked" (unsettled, no text) until the final denoising step
 *   commits them all; frames show the current tokens.
 * - FRAME and DONE events carry the masked spans; DONE the final canvas.
 * - Key/value caches (gen_params.cache, Fast-dLLM): a request with
 *   CACHE_PREFIX or CACHE_DUAL gets one cache per row (its CFG twin has its
 *   own) from the backend when it is admitted, if the backend has caches
 *   and the rule is not time-conditioned (MDLM/SEDD never cache); it is
 *   freed when the request leaves (finish, cancel, error, sched_free). The
 *   first forward a block gets is a full forward that fills the cache; the
 *   block's later forwards compute only the window [block start, len)
 *   (prefix) or [block start, block end) (dual), one position earlier with
 *   Dream's logit shift so the state that predicts the block's first
 *   position is fresh, attending over the cache for the rest. The window
 *   always holds the queried positions (they are the block's). A backend
 *   that cannot make a cache fails the request (FINISH_ERROR, its reason).
 */
#ifndef DLLM_SCHED_ROOM_H
#define DLLM_SCHED_ROOM_H

#include "engine/engine.h"

#include <stdint.h>

/* Beyond this a request is refused: Dream's schedule may take steps that
 * commit nothing, and a request should not tie a slot up for ever. */
#define SCHED_MAX_STEPS 65536

/* Dream's timestep floor (diffusion_generate's eps default). */
#define SCHED_DREAM_EPS 1e-3f

/* Index keys of the scheduler's own random draws, far above any vocabulary
 * index, so they never coincide with the backend's per-token Gumbel draws
 * keyed (seed, step, position, vocab index). */
#define SCHED_RNG_RANDOM (1ull << 40)
#define SCHED_RNG_ORIGIN ((1ull << 40) + 1)
#define SCHED_RNG_ALG_TEMP ((1ull << 40) + 2)
#define SCHED_RNG_MOVE ((1ull << 40) + 3) /* MDLM/SEDD: does a masked position move */
#define SCHED_RNG_UNIFORM_START ((1ull << 40) + 4) /* SEDD uniform: a span's first tokens */

/* ------------------------------------------------------------- canvas.c */

struct canvas {
    int len;
    int32_t *ids;        /* tokens, mask id where masked */
    uint8_t *masked;     /* 1 where masked now (uniform: not final yet) */
    uint8_t *given;      /* 1 where the request gave the token */
    uint8_t *fresh;      /* 1 where committed by the last step */
    float *conf;         /* probability at commit, 0 elsewhere */
    int32_t *order;      /* the initially masked positions, ascending */
    int n_gen;           /* their count */
    struct canvas_span *spans;
    int n_spans;
    int n_given;
    int block_len;       /* in masked positions */
    int n_blocks;
    int block;           /* current block index */
    int steps_per_block; /* fixed schedules */
    int bstep;           /* step within the current block */
    int step;            /* steps taken */
    int shown_start, shown_end; /* bounds of the block the last step worked on */
    int uniform;         /* SEDD uniform graph: spans hold random tokens, not masks */
};

/* SEDD uniform graph: the starting token of span position pos (graph_lib.py
 * sample_limit, uniform over the vocabulary), keyed by the request's seed. */
int32_t canvas_uniform_token(uint64_t seed, int pos, int vocab);

/* Builds the canvas of a request and checks it against the model and limits.
 * SCHED_EINVAL with a message naming the field on a bad request. */
int canvas_build(struct canvas *c, const struct canvas_seg *segs, int n_segs,
                 const struct gen_params *p, const struct model_config *cfg, int max_canvas,
                 char *err, size_t errlen);
void canvas_free(struct canvas *c);
/* Canvas positions of the current block: [start, end). */
void canvas_block_bounds(const struct canvas *c, int *start, int *end);
/* The current block's still-masked positions (ascending) into out; count. */
int canvas_block_masked(const struct canvas *c, int32_t *out);
int canvas_n_masked(const struct canvas *c);

/* ----------------------------------------------------------- schedule.c */

/* LLaDA's get_num_transfer_tokens: step i of S commits M/S, plus one for the
 * first M mod S steps. */
int sched_llada_k(int M, int S, int i);
/* Dream's timesteps ts = linspace(1, eps, S + 1) in float32, as torch computes it. */
float sched_dream_t(int i, int S, float eps);
/* Dream's count at step i of S with M masked now: int(M (1 - s/t)), all of M
 * at the last step. */
int sched_dream_n(int M, int i, int S, float eps);

/* ------------------------------------------------ sampler_*.c: selection */

struct sched_cand {
    int32_t pos;
    int32_t token;
    int32_t src;  /* index of the backend's answer */
    float conf;   /* what the rule ranks by */
    float prob;   /* shown in frames */
};

/* Sorts by conf descending, ties to the lower position. */
void sampler_sort(struct sched_cand *c, int n);
/* LLaDA random remasking: the k of n positions with the largest U[0,1)
 * draws, ascending, into out; returns min(k, n). */
int sampler_llada_random(uint64_t seed, int step, const int32_t *pos, int n, int k, int32_t *out);
/* Fast-dLLM threshold over sorted candidates: how many to commit (>= 1 if n > 0). */
int sampler_threshold_count(const struct sched_cand *c, int n, float tau);
/* Dream origin: the positions that unmask at step i of S (each w.p. 1 - s/t). */
int sampler_dream_origin(uint64_t seed, int step, int i, int S, const int32_t *pos, int n, int32_t *out);
/* Dream maskgit_plus/topk_margin/entropy: puts the chosen n first in c
 * (top-n by conf, or drawn without replacement from softmax(conf / alg_temp)). */
int sampler_dream_choose(struct sched_cand *c, int n_cand, int n, float alg_temp, uint64_t seed, int step);

/* -------------------------------------- noise.c, sampler_mdlm.c: MDLM/SEDD */

/* A model's noise schedule sigma(t), t in [0, 1] (noise_lib.py,
 * noise_schedule.py). Double precision throughout. */
struct noise {
    enum noise_kind kind;
    double eps;          /* log-linear */
    double smin, smax;   /* geometric */
};

void noise_from_config(struct noise *n, const struct model_config *cfg);
/* 0, or SCHED_EINVAL with a message when the schedule is unusable. */
int noise_check(const struct noise *n, char *err, size_t errlen);
double noise_sigma(const struct noise *n, double t);
double noise_dsigma(const struct noise *n, double t); /* d sigma / dt */
/* The chance that a token is masked at time t: 1 - e^-sigma(t). */
double noise_move_chance(const struct noise *n, double t);
/* ts = linspace(1, t_eps, N + 1): ts[i]. */
double noise_time(int i, int N, double t_eps);

/* The schedule-driven rules (mdlm, euler, analytic). */
int sampler_is_schedule(enum remask r);
/* The chance that a masked position moves (unmasks) at step i of N when
 * the sum of its scores over the non-mask tokens is S (S < 0: not needed,
 * the rule or the model fixes it). */
double sampler_move_prob(enum remask rule, const struct noise *n, int i, int N, double t_eps, double S);
/* The sum of the scores when the model fixes it (MDLM's SUBS: 1/expm1(sigma)),
 * else -1 (SEDD: it comes from the forward's logsumexp). */
double sampler_known_score(enum arch a, const struct noise *n, double t);

/* canvas_build's check of a request against the rule and the model family
 * (schedule rules only for MDLM/SEDD models and back). */
int sampler_check(const struct gen_params *p, const struct model_config *cfg, int n_masked, char *err,
                  size_t errlen);
struct sched_req;
/* rule.c's hooks for these rules: plan (n: the masked positions in r->query),
 * the rows' noise level and reduction, and the choice of the committed. */
int sampler_sched_plan(struct sched_req *r, int n);
void sampler_sched_rows(struct sched_req *r, struct denoise_row *rows);
int sampler_sched_select(struct sched_req *r, const struct denoise_pos *out);

/* --------------------------------------------------------------- text.c */

/* How committed ids become text; the default wraps tok_stream_*, tests give
 * their own. */
struct sched_decoder {
    void *(*open)(void *arg);
    char *(*push)(void *st, const int32_t *ids, int n); /* malloc'd */
    char *(*flush)(void *st);                           /* malloc'd */
    void (*close)(void *st);
    void *arg;
};

struct sched_text {
    void *st;            /* decoder state, NULL without a decoder */
    char *buf;           /* stable answer text, cut at a stop string */
    size_t len, cap;
    size_t emitted;      /* bytes already sent as deltas */
    size_t scanned;      /* stop strings searched up to here */
    int span, off;       /* next answer position to read */
    int n_tokens;        /* answer tokens read (before EOS) */
    int eos_hit, stop_hit, final;
};

struct text_rules {
    int32_t end_ids[2];  /* EOS, EOT (-1: none) */
    char **stop;
    int n_stop;
    size_t max_stop;     /* longest stop string */
};

int text_init(struct sched_text *t, const struct sched_decoder *d);
/* Reads the newly committed answer prefix; sets t->final once the answer
 * cannot change. Returns -1 on out of memory. */
int text_update(struct sched_text *t, const struct sched_decoder *d, const struct canvas *c,
                const struct text_rules *r);
/* The bytes [from, to) that may be sent now (never what a stop string could
 * still cut, never half a character); marks them sent. */
void text_take_delta(struct sched_text *t, const struct text_rules *r, size_t *from, size_t *to);
void text_free(struct sched_text *t, const struct sched_decoder *d);

/* ------------------------------------------------------------ requests */

struct sched_req {
    uint64_t id;
    void *user;
    struct gen_params p;
    const struct model_config *cfg; /* the scheduler's model's */
    struct noise noise;  /* MDLM/SEDD rules: the model's schedule */
    int want_frames;
    struct text_rules rules;
    struct canvas cv;
    int n_rows;          /* 2 with a CFG twin */
    int32_t *uncond;     /* CFG twin row */
    int32_t *query;      /* positions asked of the backend this step */
    int n_query;
    int n_pick;          /* fixed schedules: how many to commit this step */
    int planned_steps;
    struct sched_cand *cand;
    /* n_logprobs > 0: per position, logprob_raw and the top alternatives
     * when it was committed */
    float *lp;
    int32_t *top_ids;
    float *top_lp;
    struct sched_text text;
    void *kv[2];         /* key/value caches of the rows (kvcache.c), or NULL */
    int kv_block;        /* the block the caches were filled for, -1 none */
    int cancelled;
    enum finish_reason finish;
    char error[160];
    struct sched_req *next;
};

/* rule.c: one step of one request. */
int rule_plan(struct sched_req *r);
/* Commits from the backend's answers for r->query; returns tokens committed. */
int rule_commit(struct sched_req *r, const struct denoise_pos *out);
/* Fills r's denoise rows (1 or 2) for the planned step. */
void rule_rows(struct sched_req *r, const struct model_config *cfg, struct denoise_row *rows, int first_row);

/* kvcache.c: the block caches of a request. */
/* 1 when r steps on caches: asked for, the backend has them, not time-conditioned. */
int kv_wanted(const struct sched_req *r, const struct model_config *cfg, const struct backend *be);
/* Caches for r's rows; -1 with the backend's reason. */
int kv_open(struct sched_req *r, const struct backend *be, void *be_ctx, char *err, size_t errlen);
void kv_close(struct sched_req *r, const struct backend *be, void *be_ctx);
/* Sets the cache, fill flag and window of r's rows (after rule_rows). */
void kv_rows(struct sched_req *r, const struct model_config *cfg, struct denoise_row *rows);

/* events.c */
void events_step(struct sched_req *r, sched_event_fn fn, void *cb_user);
void events_done(struct sched_req *r, sched_event_fn fn, void *cb_user);

/* sched.c: tests replace the text decoder (the default wraps tok_stream_*). */
void sched_set_decoder(struct sched *s, const struct sched_decoder *d);

#endif
