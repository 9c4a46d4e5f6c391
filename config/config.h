/* config/config.h: the door of the config room.
 *
 * Settings come from, lowest to highest precedence: built-in defaults, the
 * JSON config file (--config FILE or DLLM_CONFIG), environment variables
 * (DLLM_<KEY>, e.g. DLLM_PORT), command-line flags (--key-name VALUE, with
 * llama.cpp server's names for the common ones: --host --port --model
 * --api-key --threads). Every setting has one entry in config.c's table,
 * which also writes --help.
 */
#ifndef DLLM_CONFIG_H
#define DLLM_CONFIG_H

#include <stdio.h>

struct config {
    /* server */
    char *host;
    int port;
    char *api_key;           /* NULL: no key required */
    char *cors_origin;       /* Access-Control-Allow-Origin; NULL: no CORS headers */
    int threads;             /* CPU engine threads */
    int log_requests;        /* one line per request on stderr */
    int shutdown_grace_ms;   /* SIGTERM: in-flight work gets this long, then is cancelled */
    /* model */
    char *model;             /* GGUF file or model directory */
    char *backend;           /* "cpu" or "cuda" */
    char *cpu_weights;       /* "auto", "f32", "bf16", "stream" (engine/cpu/cpu.h) */
    char *chat_template;     /* "auto", "llama3", "chatml" */
    /* limits */
    long max_body_bytes;
    int max_queue;           /* waiting requests; beyond: 429 */
    int max_active;          /* canvases in one forward */
    int max_batch_tokens;    /* canvas tokens in one forward */
    int max_canvas;          /* longest canvas (prompt + span + suffix) */
    int max_tokens;          /* largest max_tokens a request may ask */
    int max_n;               /* largest n (choices) */
    int max_streams_per_client;
    /* default sampling (a request's fields override) */
    int gen_length;          /* max_tokens when a request gives none */
    int steps;               /* 0: one step per token */
    int block_length;        /* 0: the whole span is one block */
    char *remasking;
    double temperature;
    double top_p;
    int top_k;
    double threshold;
    double cfg_scale;
    double alg_temp;
    char *cache;             /* key/value cache: auto|none|prefix|dual */
};

/* Fills c. Returns 0 to run, 1 when --help was printed (exit 0), and -1 with
 * err naming the key and the reason for a bad value (exit 2). */
int config_load(struct config *c, int argc, char **argv, char *err, size_t errlen);
void config_free(struct config *c);
void config_usage(FILE *f);
/* The settings as JSON (secrets masked), for logs and GET /v1/config-like uses. */
char *config_to_json(const struct config *c);

#endif
