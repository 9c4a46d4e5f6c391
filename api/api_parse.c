/* Request bodies -> struct api_request, with a 400 naming the field for
 * anything of the wrong type or out of range. Unknown fields are ignored, as
 * OpenAI's clients send fields this server has no use for (user, logit_bias,
 * presence_penalty, ...); fields that would change the answer in a way this
 * server cannot honour are rejected instead. */
#include "api/api.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* More prompts than this in one completion request is refused: each prompt
 * is n canvases in the scheduler's queue. */
#define API_MAX_PROMPTS 32
#define API_MAX_STOP 16
#define API_MAX_MESSAGES 1024
#define API_MAX_SEGMENTS 1024

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an unknown value";
}

static int bad_type(struct api_error *e, const char *key, const char *want, const cJSON *v)
{
    api_error_set(e, 400, key, "Invalid type for '%s': expected %s, but got %s instead.", key, want,
                  json_type_name(v));
    return -1;
}

/* Absent or null leaves *out as it is. */
static int get_bool(const cJSON *o, const char *key, int *out, struct api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return bad_type(e, key, "a boolean", v);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

static int check_int(const cJSON *v, const char *key, long long lo, long long hi, long long *out,
                     struct api_error *e)
{
    if (!cJSON_IsNumber(v)) return bad_type(e, key, "an integer", v);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) return bad_type(e, key, "an integer", v);
    if (d < (double)lo || d > (double)hi) {
        api_error_set(e, 400, key, "Invalid value for '%s': %.17g is outside [%lld, %lld].", key, d, lo,
                      hi);
        return -1;
    }
    *out = (long long)d;
    return 0;
}

static int get_int(const cJSON *o, const char *key, long long lo, long long hi, struct api_opt_i *out,
                   struct api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (check_int(v, key, lo, hi, &out->v, e)) return -1;
    out->set = 1;
    return 0;
}

static int get_num(const cJSON *o, const char *key, double lo, double hi, struct api_opt_f *out,
                   struct api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return bad_type(e, key, "a number", v);
    if (v->valuedouble < lo || v->valuedouble > hi) {
        api_error_set(e, 400, key, "Invalid value for '%s': %.17g is outside [%g, %g].", key,
                      v->valuedouble, lo, hi);
        return -1;
    }
    out->set = 1;
    out->v = v->valuedouble;
    return 0;
}

static int get_str(const cJSON *o, const char *key, char **out, struct api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return bad_type(e, key, "a string", v);
    free(*out);
    *out = strdup(v->valuestring);
    if (!*out) {
        api_error_set(e, 500, "", "out of memory");
        return -1;
    }
    return 0;
}

int api_remask_parse(const char *name)
{
    /* in enum remask's order */
    static const char *names[] = {"low_confidence", "random", "origin", "maskgit_plus", "topk_margin",
                                  "entropy", "mdlm", "euler", "analytic"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

int api_cache_parse(const char *name)
{
    if (strcmp(name, "none") == 0) return CACHE_OFF;
    if (strcmp(name, "prefix") == 0) return CACHE_PREFIX;
    if (strcmp(name, "dual") == 0) return CACHE_DUAL;
    return -1;
}

const char *api_remask_name(int remask)
{
    switch (remask) {
    case REMASK_LOW_CONFIDENCE: return "low_confidence";
    case REMASK_RANDOM: return "random";
    case REMASK_ORIGIN: return "origin";
    case REMASK_MASKGIT_PLUS: return "maskgit_plus";
    case REMASK_TOPK_MARGIN: return "topk_margin";
    case REMASK_ENTROPY: return "entropy";
    case REMASK_MDLM: return "mdlm";
    case REMASK_SEDD_EULER: return "euler";
    case REMASK_SEDD_ANALYTIC: return "analytic";
    }
    return "?";
}

static int parse_stop(const cJSON *o, struct api_request *r, struct api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return 0;
        r->stop = calloc(1, sizeof *r->stop);
        if (!r->stop || !(r->stop[0] = strdup(v->valuestring))) goto oom;
        r->n_stop = 1;
        return 0;
    }
    if (!cJSON_IsArray(v)) return bad_type(e, "stop", "a string or an array of strings", v);
    int n = cJSON_GetArraySize(v);
    if (n > API_MAX_STOP) {
        api_error_set(e, 400, "stop", "Invalid value for 'stop': at most %d stop strings.", API_MAX_STOP);
        return -1;
    }
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    if (!r->stop) goto oom;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it)) return bad_type(e, "stop", "an array of strings", it);
        if (!it->valuestring[0]) continue;
        if (!(r->stop[r->n_stop] = strdup(it->valuestring))) goto oom;
        r->n_stop++;
    }
    return 0;
oom:
    api_error_set(e, 500, "", "out of memory");
    return -1;
}

/* Fields every kind shares: sampling, the diffusion extensions, stream. */
static int parse_common(const cJSON *o, const struct config *cfg, struct api_request *r,
                        struct api_error *e)
{
    const cJSON *v;
    if (get_str(o, "model", &r->model, e)) return -1;
    if (get_int(o, "max_tokens", 1, cfg->max_tokens, &r->max_tokens, e)) return -1;
    struct api_opt_i n = {0, 1};
    if (get_int(o, "n", 1, cfg->max_n, &n, e)) return -1;
    r->n = (int)n.v;
    if (parse_stop(o, r, e)) return -1;
    if (get_bool(o, "stream", &r->stream, e)) return -1;
    if (get_bool(o, "frames", &r->frames, e)) return -1;
    v = cJSON_GetObjectItemCaseSensitive(o, "stream_options");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) return bad_type(e, "stream_options", "an object", v);
        if (get_bool(v, "include_usage", &r->include_usage, e)) return -1;
        if (get_bool(v, "frames", &r->frames, e)) return -1;
    }
    if (get_int(o, "seed", INT64_MIN, INT64_MAX, &r->seed, e)) return -1;
    if (get_num(o, "temperature", 0, 100, &r->temperature, e)) return -1;
    if (get_num(o, "top_p", 0, 1, &r->top_p, e)) return -1;
    if (get_int(o, "top_k", 0, 1000000, &r->top_k, e)) return -1;
    /* extensions */
    if (get_int(o, "steps", 1, 1 << 20, &r->steps, e)) return -1;
    if (get_int(o, "block_length", 1, 1 << 20, &r->block_length, e)) return -1;
    if (get_num(o, "alg_temp", 0, 100, &r->alg_temp, e)) return -1;
    if (get_num(o, "threshold", 0, 1, &r->threshold, e)) return -1;
    if (get_num(o, "cfg_scale", 0, 100, &r->cfg_scale, e)) return -1;
    if (get_num(o, "t_eps", -INFINITY, INFINITY, &r->t_eps, e)) return -1;
    if (r->t_eps.set && !(r->t_eps.v > 0 && r->t_eps.v < 1)) {
        api_error_set(e, 400, "t_eps", "Invalid value for 't_eps': %.17g is outside (0, 1).", r->t_eps.v);
        return -1;
    }
    r->remasking = -1;
    const char *names[] = {"remasking", "algorithm"};
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsString(v)) return bad_type(e, names[i], "a string", v);
        /* "auto": the model family's own rule, as when left out */
        if (strcmp(v->valuestring, "auto") == 0) continue;
        r->remasking = api_remask_parse(v->valuestring);
        if (r->remasking < 0) {
            api_error_set(e, 400, names[i],
                          "Invalid value for '%s': expected one of auto, low_confidence, random, origin, "
                          "maskgit_plus, topk_margin, entropy (LLaDA, Dream, BERT models), mdlm, euler, "
                          "analytic (MDLM, SEDD models).",
                          names[i]);
            return -1;
        }
    }
    r->cache = -1;
    v = cJSON_GetObjectItemCaseSensitive(o, "cache");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) return bad_type(e, "cache", "a string", v);
        r->cache = api_cache_parse(v->valuestring);
        if (r->cache < 0) {
            api_error_set(e, 400, "cache", "Invalid value for 'cache': expected one of none, prefix, dual.");
            return -1;
        }
    }
    return 0;
}

/* One token id array (already known to be an array). */
static int parse_ids(const cJSON *arr, struct api_prompt *p, struct api_error *e)
{
    int n = cJSON_GetArraySize(arr);
    p->ids = malloc(sizeof *p->ids * (n ? n : 1));
    if (!p->ids) {
        api_error_set(e, 500, "", "out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        long long id;
        if (check_int(it, "prompt", 0, INT32_MAX, &id, e)) return -1;
        p->ids[p->n_ids++] = (int32_t)id;
    }
    return 0;
}

static int parse_prompt(const cJSON *o, struct api_request *r, struct api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    if (!v || cJSON_IsNull(v)) {
        api_error_set(e, 400, "prompt", "Missing required parameter: 'prompt'.");
        return -1;
    }
    if (cJSON_IsString(v)) {
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts || !(r->prompts[0].text = strdup(v->valuestring))) goto oom;
        r->n_prompts = 1;
        return 0;
    }
    const char *want = "a string, an array of strings, an array of token ids or an array of token id arrays";
    if (!cJSON_IsArray(v)) return bad_type(e, "prompt", want, v);
    int n = cJSON_GetArraySize(v);
    if (n == 0) {
        api_error_set(e, 400, "prompt", "Invalid value for 'prompt': empty array.");
        return -1;
    }
    const cJSON *first = v->child;
    if (cJSON_IsNumber(first)) {
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts) goto oom;
        r->n_prompts = 1;
        return parse_ids(v, &r->prompts[0], e);
    }
    if (n > API_MAX_PROMPTS) {
        api_error_set(e, 400, "prompt", "Invalid value for 'prompt': at most %d prompts per request.",
                      API_MAX_PROMPTS);
        return -1;
    }
    r->prompts = calloc(n, sizeof *r->prompts);
    if (!r->prompts) goto oom;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        struct api_prompt *p = &r->prompts[r->n_prompts++];
        if (cJSON_IsString(it) && cJSON_IsString(first)) {
            if (!(p->text = strdup(it->valuestring))) goto oom;
        } else if (cJSON_IsArray(it) && cJSON_IsArray(first)) {
            if (cJSON_GetArraySize(it) == 0) {
                api_error_set(e, 400, "prompt", "Invalid value for 'prompt': empty token array.");
                return -1;
            }
            if (parse_ids(it, p, e)) return -1;
        } else {
            return bad_type(e, "prompt", want, it);
        }
    }
    return 0;
oom:
    api_error_set(e, 500, "", "out of memory");
    return -1;
}

/* Fill in the blanks: "canvas": [{"text": "..."} | {"mask": n}, ...]. */
static int parse_canvas(const cJSON *v, const struct config *cfg, struct api_request *r, struct api_error *e)
{
    const char *want = "an array of segments, each {\"text\": \"...\"} or {\"mask\": n}";
    if (!cJSON_IsArray(v)) return bad_type(e, "canvas", want, v);
    int n = cJSON_GetArraySize(v);
    if (n == 0 || n > API_MAX_SEGMENTS) {
        api_error_set(e, 400, "canvas", "Invalid value for 'canvas': expected 1 to %d segments.", API_MAX_SEGMENTS);
        return -1;
    }
    r->canvas = calloc((size_t)n, sizeof *r->canvas);
    if (!r->canvas) {
        api_error_set(e, 500, "", "out of memory");
        return -1;
    }
    long long masked = 0;
    char name[64];
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        int i = r->n_canvas;
        snprintf(name, sizeof name, "canvas[%d]", i);
        if (!cJSON_IsObject(it)) return bad_type(e, name, "an object {\"text\": \"...\"} or {\"mask\": n}", it);
        const cJSON *text = NULL, *mask = NULL, *k;
        cJSON_ArrayForEach(k, it)
        {
            if (strcmp(k->string, "text") == 0) text = k;
            else if (strcmp(k->string, "mask") == 0) mask = k;
            else {
                api_error_set(e, 400, name,
                              "Invalid value for '%s': unknown segment type '%.40s'; a segment is "
                              "{\"text\": \"...\"} or {\"mask\": n}.",
                              name, k->string);
                return -1;
            }
        }
        if ((text != NULL) == (mask != NULL)) {
            api_error_set(e, 400, name,
                          "Invalid value for '%s': a segment is either {\"text\": \"...\"} or {\"mask\": n}.", name);
            return -1;
        }
        struct api_segment *sg = &r->canvas[r->n_canvas++];
        if (text) {
            snprintf(name, sizeof name, "canvas[%d].text", i);
            if (!cJSON_IsString(text)) return bad_type(e, name, "a string", text);
            if (!(sg->text = strdup(text->valuestring))) {
                api_error_set(e, 500, "", "out of memory");
                return -1;
            }
        } else {
            long long len;
            snprintf(name, sizeof name, "canvas[%d].mask", i);
            if (check_int(mask, name, 1, cfg->max_tokens, &len, e)) return -1;
            sg->mask = (int)len;
            masked += len;
        }
    }
    if (masked == 0) {
        api_error_set(e, 400, "canvas",
                      "Invalid value for 'canvas': no masked span to fill; add a {\"mask\": n} segment.");
        return -1;
    }
    if (masked > cfg->max_tokens) {
        api_error_set(e, 400, "canvas",
                      "Invalid value for 'canvas': the masked spans total %lld tokens, more than this "
                      "server's limit of %d.",
                      masked, cfg->max_tokens);
        return -1;
    }
    r->canvas_masked = (int)masked;
    return 0;
}

static int parse_completion(const cJSON *o, const struct config *cfg, struct api_request *r,
                            struct api_error *e)
{
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(o, "canvas");
    if (cv && !cJSON_IsNull(cv)) {
        const char *other[2] = {"prompt", "suffix"};
        for (int i = 0; i < 2; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, other[i]);
            if (x && !cJSON_IsNull(x)) {
                api_error_set(e, 400, "canvas",
                              "'canvas' replaces 'prompt' and 'suffix': give either a canvas or a %s.", other[i]);
                return -1;
            }
        }
        if (parse_canvas(cv, cfg, r, e)) return -1;
    } else {
        if (parse_prompt(o, r, e)) return -1;
        if (get_str(o, "suffix", &r->suffix, e)) return -1;
    }
    if (get_bool(o, "echo", &r->echo, e)) return -1;
    if (r->canvas && r->echo) {
        api_error_set(e, 400, "echo", "'echo' does not apply to a 'canvas': choices[].canvas holds the whole text.");
        return -1;
    }
    struct api_opt_i lp = {0, 0};
    if (get_int(o, "logprobs", 0, REDUCE_MAX_TOP, &lp, e)) return -1;
    r->want_logprobs = lp.set;
    r->top_logprobs = (int)lp.v;
    struct api_opt_i best_of = {0, 1};
    if (get_int(o, "best_of", 1, cfg->max_n, &best_of, e)) return -1;
    if (best_of.set && best_of.v != r->n) {
        api_error_set(e, 400, "best_of",
                      "Invalid value for 'best_of': only best_of == n is supported (got best_of %lld, n %d).",
                      best_of.v, r->n);
        return -1;
    }
    return 0;
}

/* content: a string, or an array of {"type": "text", "text": ...} parts
 * (joined), or null (an assistant turn that only called tools). */
static int parse_content(const cJSON *v, struct api_message *m, struct api_error *e)
{
    if (!v || cJSON_IsNull(v)) {
        m->content = strdup("");
        return m->content ? 0 : -1;
    }
    if (cJSON_IsString(v)) {
        m->content = strdup(v->valuestring);
        return m->content ? 0 : -1;
    }
    if (!cJSON_IsArray(v)) return bad_type(e, "messages.content", "a string or an array of content parts", v);
    size_t total = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsObject(it)) return bad_type(e, "messages.content", "an array of content parts", it);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(it, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0) {
            api_error_set(e, 400, "messages.content", "Only content parts of type 'text' are supported.");
            return -1;
        }
        if (!cJSON_IsString(text)) return bad_type(e, "messages.content.text", "a string", text);
        total += strlen(text->valuestring);
    }
    m->content = malloc(total + 1);
    if (!m->content) return -1;
    size_t at = 0;
    cJSON_ArrayForEach(it, v)
    {
        const char *t = cJSON_GetObjectItemCaseSensitive(it, "text")->valuestring;
        size_t l = strlen(t);
        memcpy(m->content + at, t, l);
        at += l;
    }
    m->content[at] = 0;
    return 0;
}

static int parse_chat(const cJSON *o, const struct config *cfg, struct api_request *r, struct api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "messages");
    if (!v || cJSON_IsNull(v)) {
        api_error_set(e, 400, "messages", "Missing required parameter: 'messages'.");
        return -1;
    }
    if (!cJSON_IsArray(v)) return bad_type(e, "messages", "an array", v);
    int n = cJSON_GetArraySize(v);
    if (n == 0 || n > API_MAX_MESSAGES) {
        api_error_set(e, 400, "messages", "Invalid value for 'messages': expected 1 to %d messages.",
                      API_MAX_MESSAGES);
        return -1;
    }
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages) goto oom;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsObject(it)) return bad_type(e, "messages", "an array of objects", it);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        if (!cJSON_IsString(role)) return bad_type(e, "messages.role", "a string", role);
        const char *rs = role->valuestring;
        /* OpenAI's newer "developer" role is the system role of older models. */
        if (strcmp(rs, "developer") == 0) rs = "system";
        if (strcmp(rs, "system") != 0 && strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0) {
            api_error_set(e, 400, "messages.role",
                          "Invalid value for 'messages.role': expected system, user or assistant.");
            return -1;
        }
        struct api_message *m = &r->messages[r->n_messages++];
        if (!(m->role = strdup(rs))) goto oom;
        if (parse_content(cJSON_GetObjectItemCaseSensitive(it, "content"), m, e)) {
            if (!m->content && e->status == 0) goto oom;
            return -1;
        }
    }
    /* max_completion_tokens is the newer name of max_tokens. */
    if (get_int(o, "max_completion_tokens", 1, cfg->max_tokens, &r->max_tokens, e)) return -1;
    if (get_bool(o, "logprobs", &r->want_logprobs, e)) return -1;
    struct api_opt_i top = {0, 0};
    if (get_int(o, "top_logprobs", 0, REDUCE_MAX_TOP, &top, e)) return -1;
    if (top.set && !r->want_logprobs) {
        api_error_set(e, 400, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
        return -1;
    }
    r->top_logprobs = (int)top.v;
    return 0;
oom:
    api_error_set(e, 500, "", "out of memory");
    return -1;
}

/* llama.cpp's /infill: input_prefix, input_suffix, input_extra (an array of
 * {"filename", "text"} chunks of context placed first), prompt (after the
 * prefix), n_predict. */
static int parse_infill(const cJSON *o, const struct config *cfg, struct api_request *r,
                        struct api_error *e)
{
    if (get_str(o, "input_prefix", &r->prefix, e)) return -1;
    if (get_str(o, "input_suffix", &r->suffix, e)) return -1;
    char *prompt = NULL;
    if (get_str(o, "prompt", &prompt, e)) return -1;
    r->prompts = calloc(1, sizeof *r->prompts);
    if (!r->prompts) {
        free(prompt);
        goto oom;
    }
    r->prompts[0].text = prompt ? prompt : strdup("");
    r->n_prompts = 1;
    if (!r->prompts[0].text) goto oom;
    /* n_predict -1 is llama.cpp's "no limit": the default span here. */
    struct api_opt_i np = {0, 0};
    if (get_int(o, "n_predict", -1, cfg->max_tokens, &np, e)) return -1;
    if (np.set && np.v == 0) {
        api_error_set(e, 400, "n_predict", "Invalid value for 'n_predict': must be -1 or positive.");
        return -1;
    }
    if (np.set && np.v > 0) r->max_tokens = np;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "input_extra");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v)) return bad_type(e, "input_extra", "an array of {filename, text} objects", v);
        size_t total = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsObject(it)) return bad_type(e, "input_extra", "an array of {filename, text} objects", it);
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "filename");
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(it, "text");
            if (fn && !cJSON_IsNull(fn) && !cJSON_IsString(fn)) return bad_type(e, "input_extra.filename", "a string", fn);
            if (!cJSON_IsString(tx)) return bad_type(e, "input_extra.text", "a string", tx);
            total += (cJSON_IsString(fn) ? strlen(fn->valuestring) + 1 : 0) + strlen(tx->valuestring) + 1;
        }
        r->extra = malloc(total + 1);
        if (!r->extra) goto oom;
        size_t at = 0;
        cJSON_ArrayForEach(it, v)
        {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "filename");
            const char *tx = cJSON_GetObjectItemCaseSensitive(it, "text")->valuestring;
            if (cJSON_IsString(fn)) at += (size_t)sprintf(r->extra + at, "%s\n", fn->valuestring);
            at += (size_t)sprintf(r->extra + at, "%s\n", tx);
        }
        r->extra[at] = 0;
    }
    return 0;
oom:
    api_error_set(e, 500, "", "out of memory");
    return -1;
}

int api_parse(enum api_kind kind, const char *body, size_t len, const struct config *cfg,
              struct api_request *r, struct api_error *e)
{
    memset(r, 0, sizeof *r);
    memset(e, 0, sizeof *e);
    r->kind = kind;
    r->n = 1;
    r->remasking = -1;
    r->cache = -1;
    if (!api_utf8_valid(body, len)) {
        api_error_set(e, 400, "", "The request body is not valid UTF-8 text (or holds a NUL byte).");
        return -1;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!o) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= body && at <= body + len ? (long)(at - body) : -1;
        api_error_set(e, 400, "", "We could not parse the JSON body of your request (near byte %ld).", off);
        return -1;
    }
    /* Anything but whitespace after the value is malformed too. */
    while (end && end < body + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')) end++;
    int rc = -1;
    if (end && end != body + len) {
        api_error_set(e, 400, "", "We could not parse the JSON body of your request (trailing data).");
        goto out;
    }
    if (!cJSON_IsObject(o)) {
        api_error_set(e, 400, "", "The request body must be a JSON object.");
        goto out;
    }
    if (parse_common(o, cfg, r, e)) goto out;
    if (kind == API_COMPLETION && parse_completion(o, cfg, r, e)) goto out;
    if (kind == API_CHAT && parse_chat(o, cfg, r, e)) goto out;
    if (kind == API_INFILL && parse_infill(o, cfg, r, e)) goto out;
    rc = 0;
out:
    cJSON_Delete(o);
    if (rc) api_request_free(r);
    return rc;
}

void api_request_free(struct api_request *r)
{
    free(r->model);
    for (int i = 0; i < r->n_prompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    free(r->prompts);
    for (int i = 0; i < r->n_canvas; i++) free(r->canvas[i].text);
    free(r->canvas);
    free(r->prefix);
    free(r->suffix);
    free(r->extra);
    for (int i = 0; i < r->n_messages; i++) {
        free(r->messages[i].role);
        free(r->messages[i].content);
    }
    free(r->messages);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    enum api_kind kind = r->kind;
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->remasking = -1;
    r->cache = -1;
}
