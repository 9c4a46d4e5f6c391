/* api/api.h: the door of the api room: OpenAI's request and response schema.
 *
 * JSON request bodies (cJSON) become typed structs; a bad body becomes an
 * OpenAI error object with the HTTP status to send. Results and stream events
 * become JSON text (responses, SSE chunks, error bodies). api/ knows nothing
 * of threads, sockets or devices: it is called by server/ on the loop thread
 * and by the unit tests and the fuzzer directly.
 *
 * Three request kinds share one struct:
 *   API_COMPLETION  POST /v1/completions       (prompt [+ suffix: infill])
 *   API_CHAT        POST /v1/chat/completions  (messages)
 *   API_INFILL      POST /infill               (llama.cpp's field names)
 * Turning a parsed request into scheduler jobs (token ids, canvas segments,
 * gen_params) uses the model's tokenizer and chat template: api_build().
 */
#ifndef DLLM_API_H
#define DLLM_API_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "engine/engine.h"

enum api_kind { API_COMPLETION, API_CHAT, API_INFILL };

/* An OpenAI error: status is the HTTP status; param names the offending
 * field ("" when none); type is OpenAI's error type string. */
struct api_error {
    int status;
    const char *type;   /* "invalid_request_error", "authentication_error", ... */
    const char *code;   /* NULL, or e.g. "model_not_found" */
    char param[64];
    char message[320];
};

/* One prompt of a completion request: text, or token ids. */
struct api_prompt {
    char *text;         /* NULL when given as ids */
    int32_t *ids;
    int n_ids;
};

struct api_message {
    char *role;         /* "system", "user", "assistant" */
    char *content;      /* text parts joined */
};

/* Fill in the blanks (completions' `canvas`): one segment, given text or a
 * masked span of n tokens. */
struct api_segment {
    char *text;         /* NULL for a masked span */
    int mask;           /* span length (0 for text) */
};

/* A numeric sampling field a request may leave unset (then the config's
 * default applies). */
struct api_opt_f { int set; double v; };
struct api_opt_i { int set; long long v; };

struct api_request {
    enum api_kind kind;
    char *model;                 /* NULL when absent */
    /* completion: one or more prompts (each gives n choices) */
    struct api_prompt *prompts;
    int n_prompts;
    /* completion with `canvas`: any number of text and masked segments, in
     * place of prompt/suffix (n_prompts is 0 then) */
    struct api_segment *canvas;
    int n_canvas;
    int canvas_masked;           /* the spans' total */
    /* infill: canvas = [extra][prefix][prompt] [span] [suffix]
     * (completion's suffix fills `suffix` too) */
    char *prefix, *suffix, *extra;
    /* chat */
    struct api_message *messages;
    int n_messages;
    /* common */
    struct api_opt_i max_tokens; /* max_tokens / max_completion_tokens / n_predict */
    int n;                       /* choices per prompt (default 1) */
    char **stop;
    int n_stop;
    int stream;
    int include_usage;           /* stream_options.include_usage */
    int frames;                  /* extension: SSE `event: frame` each step */
    int echo;                    /* completion: prompt text before the answer */
    int want_logprobs;           /* completion: logprobs given (0..20); chat: logprobs true */
    int top_logprobs;            /* alternatives per token (0..REDUCE_MAX_TOP) */
    struct api_opt_i seed;
    /* sampling and diffusion extensions */
    struct api_opt_f temperature, top_p, alg_temp, threshold, cfg_scale;
    struct api_opt_f t_eps;      /* MDLM/SEDD: end of the time grid, in (0, 1) */
    struct api_opt_i top_k, steps, block_length;
    int remasking;               /* enum remask, or -1 unset */
    int cache;                   /* enum cache_mode, or -1 unset */
};

/* Parses a request body of the given kind. 0 on success; -1 with e filled
 * (status 400 and the field in param) on any malformed or out-of-range field.
 * Limits (max_n, max_tokens) come from the config. */
int api_parse(enum api_kind kind, const char *body, size_t len, const struct config *cfg,
              struct api_request *r, struct api_error *e);
void api_request_free(struct api_request *r);

/* remasking names ("low_confidence", "random", "origin", "maskgit_plus",
 * "topk_margin", "entropy", "mdlm", "euler", "analytic"): enum remask or -1. */
int api_remask_parse(const char *name);
const char *api_remask_name(int remask);
/* key/value cache names ("none", "prefix", "dual"): enum cache_mode or -1. */
int api_cache_parse(const char *name);
/* The cache a request gets when it names none and the config says "auto":
 * the model family's default (README, How generation works). */
enum cache_mode api_cache_auto(const struct model *m);

/* ------------------------------------------------------------ building jobs */

/* One scheduler request: one choice of one prompt. Owns its buffers; segs
 * point into them. */
struct api_job {
    int prompt_index;            /* which prompt (completion with several) */
    int choice_index;            /* OpenAI's "index": prompt_index * n + j */
    int32_t *ids[3];             /* text segments, in canvas order */
    int n_ids[3];
    struct canvas_seg *segs;     /* malloc'd; given ones point into ids[] or canvas_ids */
    int n_segs;
    int32_t *canvas_ids;         /* `canvas` requests: every given token, in order */
    struct gen_params params;
    int prompt_tokens;
    char *echo_text;             /* completion echo: the prompt text, else NULL */
};

/* Turns r into n_prompts * n jobs (*jobs malloc'd; free with api_jobs_free).
 * max_tokens becomes the span length rounded up to a multiple of the block
 * length; sampling fields left unset take the config's defaults. 0 on
 * success; -1 with e (400, naming the field) when the request cannot fit
 * (prompt longer than max_canvas, token ids outside the vocabulary, ...). */
int api_build(const struct api_request *r, const struct model *m, const struct config *cfg,
              struct api_job **jobs, int *n_jobs, struct api_error *e);
void api_jobs_free(struct api_job *jobs, int n_jobs);
/* The chat family for model m: the config's chat_template override, else the
 * family recognised in the model's template; an unknown one is an error whose
 * message names the override. */
int api_chat_family(const struct model *m, const struct config *cfg, enum chat_family *out, char *err,
                    size_t errlen);

/* ---------------------------------------------------------------- results */

/* One token's log-probabilities, for logprobs in responses. */
struct api_token_lp {
    char *text;
    float logprob;
    int n_top;
    char *top_text[REDUCE_MAX_TOP];
    float top_logprob[REDUCE_MAX_TOP];
};

/* A `canvas` request's answer: its segments in order, given text as sent
 * and each span's generated text (up to its first end-of-text). */
struct api_fill_seg {
    const char *text;
    int mask;                    /* 0: given text; n: a span of n tokens */
};

/* One finished choice. */
struct api_choice {
    int index;
    char *text;                  /* answer (echo prefix included for completions) */
    enum finish_reason finish;
    struct api_token_lp *lp;     /* NULL when logprobs were not asked or not given */
    int n_lp;
    const struct api_fill_seg *fill; /* `canvas` requests: choices[].canvas and .spans */
    int n_fill;
};

struct api_usage { int prompt_tokens, completion_tokens; };

/* Identity of one response: the id OpenAI clients see, its creation time
 * and the model name. */
struct api_ident {
    const char *id;
    long long created;
    const char *model;
};

/* Every function below returns a malloc'd NUL-terminated string (NULL only
 * when out of memory). Text is made valid UTF-8 (bad bytes -> U+FFFD). */

/* Non-streamed bodies. */
char *api_response(enum api_kind kind, const struct api_request *r, const struct api_ident *id,
                   const struct api_choice *choices, int n, const struct api_usage *u);

/* Streaming: each returns a whole SSE event ("data: {...}\n\n").
 * api_chunk: a text delta of one choice; role_first adds the chat role
 * (first chunk); finish != FINISH_NONE closes the choice with finish_reason.
 * text may be NULL (a chunk with an empty delta). */
char *api_chunk(enum api_kind kind, const struct api_ident *id, int index, int role_first,
                const char *text, size_t len, enum finish_reason finish,
                const struct api_token_lp *lp, int n_lp);
/* The closing chunk of a `canvas` completion: finish_reason, logprobs, and
 * the filled canvas (choices[0].canvas, choices[0].spans) as in the response. */
char *api_fill_chunk(const struct api_ident *id, int index, enum finish_reason finish,
                     const struct api_token_lp *lp, int n_lp, const struct api_fill_seg *fill, int n_fill);
/* The usage chunk of stream_options.include_usage (choices: []). */
char *api_usage_chunk(enum api_kind kind, const struct api_ident *id, const struct api_usage *u);
/* "data: [DONE]\n\n" (not sent by /infill, as llama.cpp). */
char *api_done_event(void);
/* An error inside a stream: "data: {"error": ...}\n\n". */
char *api_error_event(const struct api_error *e);

/* A frame: the whole canvas of one choice at one step, as text pieces
 * (masked positions null), mask flags, the positions committed now and the
 * confidence each committed position had:
 * "event: frame\ndata: {...}\n\n". */
struct api_frame {
    int index;
    int step, total_steps;
    int len;
    const int32_t *canvas;
    const uint8_t *masked;
    const uint8_t *fresh;
    const float *conf;           /* confidence at commit, per position (may be NULL) */
    int span_start, span_end;
    int block_start, block_end;
    const struct canvas_span *spans; /* every masked span (may be NULL) */
    int n_spans;
};
char *api_frame_event(const struct tokenizer *tok, const struct api_frame *f);

/* GET /v1/models (list) or /v1/models/{id} (one model object). */
char *api_model_json(const char *id, long long created, int list);

/* Error body {"error": {"message", "type", "param", "code"}}. */
char *api_error_json(const struct api_error *e);
/* Fills e (type from the status). fmt is printf-like. */
void api_error_set(struct api_error *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

const char *api_finish_name(enum finish_reason f);

/* 1 when s[0..len) is valid UTF-8 without NUL bytes. */
int api_utf8_valid(const char *s, size_t len);

#endif
