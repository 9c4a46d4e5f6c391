/* The config loader: one table of settings read from defaults, the JSON file,
 * DLLM_* environment variables and command-line flags, in that order. */
#include "config/config.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_INT, OPT_LONG, OPT_DOUBLE, OPT_BOOL };

struct opt {
    const char *section; /* JSON object the key lives in */
    const char *key;     /* JSON key; env DLLM_<KEY>; flag --key-with-dashes */
    const char *flag2;   /* a short alias, or NULL */
    enum opt_type type;
    size_t offset;
    const char *def;
    double min, max;     /* numeric range */
    const char *choices; /* OPT_STR: "a|b|c", or NULL for free text */
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct opt opts[] = {
    {"server", "host", NULL, OPT_STR, OFF(host), "127.0.0.1", 0, 0, NULL, "address to listen on"},
    {"server", "port", NULL, OPT_INT, OFF(port), "8080", 1, 65535, NULL, "TCP port"},
    {"server", "api_key", NULL, OPT_STR, OFF(api_key), NULL, 0, 0, NULL,
     "require 'Authorization: Bearer KEY' on /v1 routes"},
    {"server", "cors_origin", NULL, OPT_STR, OFF(cors_origin), NULL, 0, 0, NULL,
     "send CORS headers allowing this origin ('*' for any)"},
    {"server", "threads", "-t", OPT_INT, OFF(threads), "0", 0, 1024, NULL,
     "CPU engine threads (0: all cores)"},
    {"server", "log_requests", NULL, OPT_BOOL, OFF(log_requests), "true", 0, 0, NULL,
     "log one line per request to stderr"},
    {"server", "shutdown_grace_ms", NULL, OPT_INT, OFF(shutdown_grace_ms), "5000", 0, 600000, NULL,
     "on SIGTERM, time in-flight requests get before they are cancelled"},
    {"model", "model", "-m", OPT_STR, OFF(model), "models/dllm-kjv.gguf", 0, 0, NULL,
     "GGUF file, Hugging Face directory or llama2.c checkpoint directory"},
    {"model", "backend", NULL, OPT_STR, OFF(backend), "cpu", 0, 0, "cpu|cuda", "denoiser backend"},
    {"model", "cpu_weights", NULL, OPT_STR, OFF(cpu_weights), "auto", 0, 0, "auto|f32|bf16|stream",
     "CPU backend weights: f32 (converted at load), bf16 (projections as BF16 on AVX512-BF16, f32 sums), "
     "stream (dequantized per step); auto: bf16 for BF16/quantized files where the CPU has AVX512-BF16, "
     "else f32 when it fits half the memory, else stream"},
    {"model", "chat_template", NULL, OPT_STR, OFF(chat_template), "auto", 0, 0, "auto|llama3|chatml|none",
     "chat template family (auto: from the model's own template)"},
    {"limits", "max_body_bytes", NULL, OPT_LONG, OFF(max_body_bytes), "1048576", 1024, 1073741824.0, NULL,
     "largest request body"},
    {"limits", "max_queue", NULL, OPT_INT, OFF(max_queue), "256", 1, 1000000, NULL,
     "requests waiting for the engine; beyond it: 429"},
    {"limits", "max_active", NULL, OPT_INT, OFF(max_active), "32", 1, 4096, NULL,
     "canvases denoised together in one forward"},
    {"limits", "max_batch_tokens", NULL, OPT_INT, OFF(max_batch_tokens), "8192", 16, 1048576, NULL,
     "canvas tokens in one forward"},
    {"limits", "max_canvas", NULL, OPT_INT, OFF(max_canvas), "4096", 8, 1048576, NULL,
     "longest canvas (prompt + generated span + suffix)"},
    {"limits", "max_tokens", NULL, OPT_INT, OFF(max_tokens), "1024", 1, 1048576, NULL,
     "largest max_tokens a request may ask for"},
    {"limits", "max_n", NULL, OPT_INT, OFF(max_n), "8", 1, 128, NULL, "largest n (choices per request)"},
    {"limits", "max_streams_per_client", NULL, OPT_INT, OFF(max_streams_per_client), "64", 1, 100000, NULL,
     "concurrent streams one client address may hold"},
    {"sampling", "gen_length", NULL, OPT_INT, OFF(gen_length), "64", 1, 1048576, NULL,
     "tokens generated when a request gives no max_tokens"},
    {"sampling", "steps", NULL, OPT_INT, OFF(steps), "0", 0, 1048576, NULL,
     "denoising steps (0: one per generated token)"},
    {"sampling", "block_length", NULL, OPT_INT, OFF(block_length), "32", 0, 1048576, NULL,
     "semi-autoregressive block length (0: one block)"},
    {"sampling", "remasking", NULL, OPT_STR, OFF(remasking), "auto", 0, 0,
     "auto|low_confidence|random|origin|maskgit_plus|topk_margin|entropy|mdlm|euler|analytic",
     "remasking rule (auto: the model family's own: entropy for Dream, mdlm for MDLM, analytic for SEDD, "
     "low_confidence otherwise; a rule that does not fit the model's family falls back to auto)"},
    {"sampling", "temperature", NULL, OPT_DOUBLE, OFF(temperature), "0", 0, 100, NULL,
     "sampling temperature (0: greedy)"},
    {"sampling", "top_p", NULL, OPT_DOUBLE, OFF(top_p), "1", 0, 1, NULL, "nucleus sampling mass"},
    {"sampling", "top_k", NULL, OPT_INT, OFF(top_k), "0", 0, 1000000, NULL, "top-k filter (0: off)"},
    {"sampling", "threshold", NULL, OPT_DOUBLE, OFF(threshold), "0", 0, 1, NULL,
     "parallel decoding confidence threshold (0: fixed schedule)"},
    {"sampling", "cfg_scale", NULL, OPT_DOUBLE, OFF(cfg_scale), "0", 0, 100, NULL,
     "classifier-free guidance scale (0: off)"},
    {"sampling", "alg_temp", NULL, OPT_DOUBLE, OFF(alg_temp), "0", 0, 100, NULL,
     "Dream: randomness of which positions commit (0: deterministic)"},
    {"sampling", "cache", NULL, OPT_STR, OFF(cache), "auto", 0, 0, "auto|none|prefix|dual",
     "Fast-dLLM block key/value cache (auto: the model family's default, see README)"},
};

static const size_t n_opts = sizeof opts / sizeof opts[0];

static void set_err(char *err, size_t errlen, const char *key, const char *src, const char *why)
{
    snprintf(err, errlen, "config: %s (from %s): %s", key, src, why);
}

/* Parses text into the option's field; the reason goes to err on failure. */
static int opt_set(struct config *c, const struct opt *o, const char *text, const char *src, char *err,
                   size_t errlen)
{
    char *base = (char *)c + o->offset;
    char *end;
    char why[256];
    switch (o->type) {
    case OPT_STR: {
        if (o->choices) {
            size_t n = strlen(text);
            const char *p = o->choices;
            int found = 0;
            while (*p) {
                const char *bar = strchr(p, '|');
                size_t len = bar ? (size_t)(bar - p) : strlen(p);
                if (len == n && strncmp(p, text, n) == 0)
                    found = 1;
                p += len + (bar ? 1 : 0);
            }
            if (!found) {
                snprintf(why, sizeof why, "'%s' is not one of %s", text, o->choices);
                set_err(err, errlen, o->key, src, why);
                return -1;
            }
        }
        char **dst = (char **)base;
        free(*dst);
        *dst = strdup(text);
        return 0;
    }
    case OPT_BOOL: {
        int v;
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes") || !strcmp(text, "on"))
            v = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no") || !strcmp(text, "off"))
            v = 0;
        else {
            snprintf(why, sizeof why, "'%s' is not a boolean (true/false)", text);
            set_err(err, errlen, o->key, src, why);
            return -1;
        }
        *(int *)base = v;
        return 0;
    }
    case OPT_INT:
    case OPT_LONG:
    case OPT_DOUBLE: {
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end != '\0' || errno || !isfinite(v)) {
            snprintf(why, sizeof why, "'%s' is not a number", text);
            set_err(err, errlen, o->key, src, why);
            return -1;
        }
        if (o->type != OPT_DOUBLE && v != floor(v)) {
            snprintf(why, sizeof why, "'%s' is not a whole number", text);
            set_err(err, errlen, o->key, src, why);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(why, sizeof why, "%s is out of range [%g, %g]", text, o->min, o->max);
            set_err(err, errlen, o->key, src, why);
            return -1;
        }
        if (o->type == OPT_INT)
            *(int *)base = (int)v;
        else if (o->type == OPT_LONG)
            *(long *)base = (long)v;
        else
            *(double *)base = v;
        return 0;
    }
    }
    return -1;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "config: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            if (cap >= (1u << 24)) {
                snprintf(err, errlen, "config: %s is larger than 16 MiB", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "config: out of memory reading %s", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static const struct opt *find_opt(const char *section, const char *key)
{
    for (size_t i = 0; i < n_opts; i++)
        if (!strcmp(opts[i].key, key) && (!section || !strcmp(opts[i].section, section)))
            return &opts[i];
    return NULL;
}

static int load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    char *text = read_file(path, err, errlen);
    if (!text)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "config: %s is not a JSON object (or not valid JSON)", path);
        cJSON_Delete(root);
        return -1;
    }
    char src[512];
    snprintf(src, sizeof src, "%s", path);
    int rc = 0;
    cJSON *sec;
    cJSON_ArrayForEach(sec, root)
    {
        if (sec->string && sec->string[0] == '_')
            continue; /* "_comment" keys document the file */
        if (!cJSON_IsObject(sec)) {
            snprintf(err, errlen, "config: %s: '%s' must be an object of settings", path, sec->string);
            rc = -1;
            break;
        }
        cJSON *item;
        cJSON_ArrayForEach(item, sec)
        {
            if (item->string[0] == '_')
                continue;
            const struct opt *o = find_opt(sec->string, item->string);
            if (!o) {
                snprintf(err, errlen, "config: %s: unknown setting '%s.%s'", path, sec->string, item->string);
                rc = -1;
                break;
            }
            char num[64];
            const char *val;
            if (cJSON_IsNull(item) && o->type == OPT_STR) {
                char **dst = (char **)((char *)c + o->offset);
                free(*dst);
                *dst = NULL;
                continue;
            } else if (cJSON_IsString(item) && o->type == OPT_STR) {
                val = item->valuestring;
            } else if (cJSON_IsBool(item) && o->type == OPT_BOOL) {
                val = cJSON_IsTrue(item) ? "true" : "false";
            } else if (cJSON_IsNumber(item) && o->type != OPT_STR && o->type != OPT_BOOL) {
                snprintf(num, sizeof num, "%.17g", item->valuedouble);
                val = num;
            } else {
                const char *want = o->type == OPT_STR ? "a string" : o->type == OPT_BOOL ? "a boolean" : "a number";
                snprintf(err, errlen, "config: %s (from %s): must be %s", o->key, src, want);
                rc = -1;
                break;
            }
            if (opt_set(c, o, val, src, err, errlen) != 0) {
                rc = -1;
                break;
            }
        }
        if (rc)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

static void env_name(const struct opt *o, char *out, size_t n)
{
    snprintf(out, n, "DLLM_%s", o->key);
    for (char *p = out; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

static void flag_name(const struct opt *o, char *out, size_t n)
{
    snprintf(out, n, "--%s", o->key);
    for (char *p = out; *p; p++)
        if (*p == '_')
            *p = '-';
}

void config_usage(FILE *f)
{
    fprintf(f, "usage: dllm-server [--config FILE] [--KEY VALUE ...]\n\n"
               "Settings: built-in default < config file < environment DLLM_<KEY> < flags.\n\n");
    const char *section = "";
    for (size_t i = 0; i < n_opts; i++) {
        const struct opt *o = &opts[i];
        if (strcmp(section, o->section)) {
            section = o->section;
            fprintf(f, "%s:\n", section);
        }
        char flag[64], env[64];
        flag_name(o, flag, sizeof flag);
        env_name(o, env, sizeof env);
        char lhs[128];
        snprintf(lhs, sizeof lhs, "%s%s%s", flag, o->flag2 ? ", " : "", o->flag2 ? o->flag2 : "");
        fprintf(f, "  %-28s %s\n  %-28s   env %s, default %s%s%s\n", lhs, o->help, "", env,
                o->def ? o->def : "(none)", o->choices ? "; one of " : "", o->choices ? o->choices : "");
    }
    fprintf(f, "\nother:\n  --config FILE                JSON config file (env DLLM_CONFIG)\n"
               "  --help, -h                   this text\n");
}

int config_load(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n_opts; i++)
        if (opts[i].def && opt_set(c, &opts[i], opts[i].def, "default", err, errlen) != 0)
            return -1;

    const char *file = getenv("DLLM_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_usage(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "config: --config needs a FILE");
                return -1;
            }
            file = argv[++i];
        }
    }
    if (file && *file && load_file(c, file, err, errlen) != 0)
        return -1;

    for (size_t i = 0; i < n_opts; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof env);
        const char *v = getenv(env);
        if (v && opt_set(c, &opts[i], v, env, err, errlen) != 0)
            return -1;
    }

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        const struct opt *o = NULL;
        for (size_t k = 0; k < n_opts && !o; k++) {
            char flag[64];
            flag_name(&opts[k], flag, sizeof flag);
            if (!strcmp(argv[i], flag) || (opts[k].flag2 && !strcmp(argv[i], opts[k].flag2)))
                o = &opts[k];
        }
        if (!o) {
            snprintf(err, errlen, "config: unknown flag '%s' (see --help)", argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            snprintf(err, errlen, "config: %s needs a value", argv[i]);
            return -1;
        }
        if (opt_set(c, o, argv[++i], "command line", err, errlen) != 0)
            return -1;
    }
    return 0;
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < n_opts; i++)
        if (opts[i].type == OPT_STR) {
            char **p = (char **)((char *)c + opts[i].offset);
            free(*p);
            *p = NULL;
        }
}

char *config_to_json(const struct config *c)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; i < n_opts; i++) {
        const struct opt *o = &opts[i];
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, o->section);
        if (!sec)
            sec = cJSON_AddObjectToObject(root, o->section);
        const char *base = (const char *)c + o->offset;
        switch (o->type) {
        case OPT_STR: {
            const char *s = *(char *const *)base;
            if (!s)
                cJSON_AddNullToObject(sec, o->key);
            else
                cJSON_AddStringToObject(sec, o->key, strcmp(o->key, "api_key") ? s : "(set)");
            break;
        }
        case OPT_BOOL:
            cJSON_AddBoolToObject(sec, o->key, *(const int *)base);
            break;
        case OPT_INT:
            cJSON_AddNumberToObject(sec, o->key, *(const int *)base);
            break;
        case OPT_LONG:
            cJSON_AddNumberToObject(sec, o->key, (double)*(const long *)base);
            break;
        case OPT_DOUBLE:
            cJSON_AddNumberToObject(sec, o->key, *(const double *)base);
            break;
        }
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}
