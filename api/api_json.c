/* Responses, SSE chunks, frames and error bodies as OpenAI's clients expect
 * them (and llama.cpp's shape for /infill). */
#include "api/api.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

int api_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] == 0) return 0;
        size_t l = utf8_seq(p + i, len - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

/* A malloc'd copy of s[0..len) that is valid UTF-8: bad bytes and NULs
 * become U+FFFD (model output split inside a character, raw byte tokens). */
static char *utf8_clean(const char *s, size_t len)
{
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t l = p[i] ? utf8_seq(p + i, len - i) : 0;
        if (l) {
            memcpy(out + o, p + i, l);
            o += l;
            i += l;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}

static cJSON *text_item(const char *s, size_t len)
{
    char *c = utf8_clean(s ? s : "", s ? len : 0);
    if (!c) return NULL;
    cJSON *v = cJSON_CreateString(c);
    free(c);
    return v;
}

static void add_text(cJSON *o, const char *key, const char *s, size_t len)
{
    cJSON *v = text_item(s, len);
    if (v) cJSON_AddItemToObject(o, key, v);
}

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 500: return "server_error";
    case 503: return "server_unavailable";
    }
    return "invalid_request_error";
}

void api_error_set(struct api_error *e, int status, const char *param, const char *fmt, ...)
{
    e->status = status;
    e->type = error_type(status);
    e->code = NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static char *print(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* "data: " + json + "\n\n" (prefix "event: NAME\n" when name). */
static char *sse(const char *name, cJSON *o)
{
    char *j = print(o);
    if (!j) return NULL;
    size_t n = strlen(j) + (name ? strlen(name) + 8 : 0) + 16;
    char *s = malloc(n);
    if (s) {
        if (name) snprintf(s, n, "event: %s\ndata: %s\n\n", name, j);
        else snprintf(s, n, "data: %s\n\n", j);
    }
    free(j);
    return s;
}

static cJSON *error_obj(const struct api_error *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *er = cJSON_AddObjectToObject(o, "error");
    add_text(er, "message", e->message, strlen(e->message));
    cJSON_AddStringToObject(er, "type", e->type ? e->type : error_type(e->status));
    if (e->param[0]) add_text(er, "param", e->param, strlen(e->param));
    else cJSON_AddNullToObject(er, "param");
    if (e->code) cJSON_AddStringToObject(er, "code", e->code);
    else cJSON_AddNullToObject(er, "code");
    return o;
}

char *api_error_json(const struct api_error *e)
{
    return print(error_obj(e));
}

char *api_error_event(const struct api_error *e)
{
    return sse(NULL, error_obj(e));
}

char *api_done_event(void)
{
    return strdup("data: [DONE]\n\n");
}

const char *api_finish_name(enum finish_reason f)
{
    switch (f) {
    case FINISH_STOP: return "stop";
    case FINISH_LENGTH: return "length";
    /* A cancelled or failed request that still gets a body ends "stop"; the
     * error itself travels as an error object. */
    case FINISH_CANCELLED: return "stop";
    case FINISH_ERROR: return "stop";
    case FINISH_NONE: break;
    }
    return NULL;
}

static void add_finish(cJSON *o, enum finish_reason f)
{
    const char *name = api_finish_name(f);
    if (name) cJSON_AddStringToObject(o, "finish_reason", name);
    else cJSON_AddNullToObject(o, "finish_reason");
}

static cJSON *usage_obj(const struct api_usage *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", u->completion_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", u->prompt_tokens + u->completion_tokens);
    return o;
}

/* Completions' logprobs: {tokens, token_logprobs, top_logprobs, text_offset}. */
static cJSON *completion_logprobs(const struct api_token_lp *lp, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    cJSON *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(o, "text_offset");
    long off = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(lp[i].text);
        cJSON_AddItemToArray(toks, text_item(lp[i].text, l));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(lp[i].logprob));
        cJSON *t = cJSON_CreateObject();
        for (int k = 0; k < lp[i].n_top; k++) {
            char *c = utf8_clean(lp[i].top_text[k], strlen(lp[i].top_text[k]));
            if (c && !cJSON_GetObjectItemCaseSensitive(t, c))
                cJSON_AddNumberToObject(t, c, lp[i].top_logprob[k]);
            free(c);
        }
        cJSON_AddItemToArray(tops, t);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += (long)l;
    }
    return o;
}

static cJSON *bytes_array(const char *s)
{
    cJSON *a = cJSON_CreateArray();
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(*p));
    return a;
}

/* Chat's logprobs: {"content": [{token, logprob, bytes, top_logprobs: [...]}]}. */
static cJSON *chat_logprobs(const struct api_token_lp *lp, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_CreateObject();
        add_text(t, "token", lp[i].text, strlen(lp[i].text));
        cJSON_AddNumberToObject(t, "logprob", lp[i].logprob);
        cJSON_AddItemToObject(t, "bytes", bytes_array(lp[i].text));
        cJSON *tops = cJSON_AddArrayToObject(t, "top_logprobs");
        for (int k = 0; k < lp[i].n_top; k++) {
            cJSON *a = cJSON_CreateObject();
            add_text(a, "token", lp[i].top_text[k], strlen(lp[i].top_text[k]));
            cJSON_AddNumberToObject(a, "logprob", lp[i].top_logprob[k]);
            cJSON_AddItemToObject(a, "bytes", bytes_array(lp[i].top_text[k]));
            cJSON_AddItemToArray(tops, a);
        }
        cJSON_AddItemToArray(content, t);
    }
    return o;
}

static cJSON *head(const struct api_ident *id, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    add_text(o, "id", id->id, strlen(id->id));
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)id->created);
    add_text(o, "model", id->model, strlen(id->model));
    cJSON_AddStringToObject(o, "system_fingerprint", "dllm");
    return o;
}

/* choices[].canvas: the segments as sent, spans with their text; and
 * choices[].spans: the spans' texts. */
static void add_fill(cJSON *ch, const struct api_fill_seg *fill, int n)
{
    cJSON *cv = cJSON_AddArrayToObject(ch, "canvas");
    cJSON *spans = cJSON_AddArrayToObject(ch, "spans");
    for (int i = 0; i < n; i++) {
        const char *t = fill[i].text ? fill[i].text : "";
        cJSON *sg = cJSON_CreateObject();
        add_text(sg, "text", t, strlen(t));
        if (fill[i].mask > 0) {
            cJSON_AddNumberToObject(sg, "mask", fill[i].mask);
            cJSON_AddItemToArray(spans, text_item(t, strlen(t)));
        }
        cJSON_AddItemToArray(cv, sg);
    }
}

char *api_response(enum api_kind kind, const struct api_request *r, const struct api_ident *id,
                   const struct api_choice *choices, int n, const struct api_usage *u)
{
    if (kind == API_INFILL) {
        /* llama.cpp's /completion-style body; one choice. */
        cJSON *o = cJSON_CreateObject();
        const char *t = n > 0 && choices[0].text ? choices[0].text : "";
        add_text(o, "content", t, strlen(t));
        cJSON_AddTrueToObject(o, "stop");
        add_text(o, "model", id->model, strlen(id->model));
        cJSON_AddNumberToObject(o, "tokens_predicted", u->completion_tokens);
        cJSON_AddNumberToObject(o, "tokens_evaluated", u->prompt_tokens);
        cJSON_AddStringToObject(o, "stop_type",
                                n > 0 && choices[0].finish == FINISH_LENGTH ? "limit" : "eos");
        return print(o);
    }
    cJSON *o = head(id, kind == API_CHAT ? "chat.completion" : "text_completion");
    cJSON *arr = cJSON_AddArrayToObject(o, "choices");
    for (int i = 0; i < n; i++) {
        const struct api_choice *c = &choices[i];
        const char *t = c->text ? c->text : "";
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", c->index);
        if (kind == API_CHAT) {
            cJSON *m = cJSON_AddObjectToObject(ch, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            add_text(m, "content", t, strlen(t));
            cJSON_AddNullToObject(m, "refusal");
            if (r && r->want_logprobs && c->lp) cJSON_AddItemToObject(ch, "logprobs", chat_logprobs(c->lp, c->n_lp));
            else cJSON_AddNullToObject(ch, "logprobs");
        } else {
            add_text(ch, "text", t, strlen(t));
            if (r && r->want_logprobs && c->lp)
                cJSON_AddItemToObject(ch, "logprobs", completion_logprobs(c->lp, c->n_lp));
            else cJSON_AddNullToObject(ch, "logprobs");
            if (c->fill) add_fill(ch, c->fill, c->n_fill);
        }
        add_finish(ch, c->finish);
        cJSON_AddItemToArray(arr, ch);
    }
    cJSON_AddItemToObject(o, "usage", usage_obj(u));
    return print(o);
}

char *api_chunk(enum api_kind kind, const struct api_ident *id, int index, int role_first,
                const char *text, size_t len, enum finish_reason finish,
                const struct api_token_lp *lp, int n_lp)
{
    if (kind == API_INFILL) {
        cJSON *o = cJSON_CreateObject();
        add_text(o, "content", text, len);
        cJSON_AddBoolToObject(o, "stop", finish != FINISH_NONE);
        if (finish != FINISH_NONE)
            cJSON_AddStringToObject(o, "stop_type", finish == FINISH_LENGTH ? "limit" : "eos");
        return sse(NULL, o);
    }
    cJSON *o = head(id, kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
    cJSON *arr = cJSON_AddArrayToObject(o, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    if (kind == API_CHAT) {
        cJSON *d = cJSON_AddObjectToObject(ch, "delta");
        if (role_first) cJSON_AddStringToObject(d, "role", "assistant");
        if (text || role_first) add_text(d, "content", text, len);
        if (lp) cJSON_AddItemToObject(ch, "logprobs", chat_logprobs(lp, n_lp));
        else cJSON_AddNullToObject(ch, "logprobs");
    } else {
        add_text(ch, "text", text, len);
        if (lp) cJSON_AddItemToObject(ch, "logprobs", completion_logprobs(lp, n_lp));
        else cJSON_AddNullToObject(ch, "logprobs");
    }
    add_finish(ch, finish);
    cJSON_AddItemToArray(arr, ch);
    return sse(NULL, o);
}

char *api_fill_chunk(const struct api_ident *id, int index, enum finish_reason finish,
                     const struct api_token_lp *lp, int n_lp, const struct api_fill_seg *fill, int n_fill)
{
    cJSON *o = head(id, "text_completion");
    cJSON *arr = cJSON_AddArrayToObject(o, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    add_text(ch, "text", "", 0);
    if (lp) cJSON_AddItemToObject(ch, "logprobs", completion_logprobs(lp, n_lp));
    else cJSON_AddNullToObject(ch, "logprobs");
    add_finish(ch, finish);
    add_fill(ch, fill, n_fill);
    cJSON_AddItemToArray(arr, ch);
    return sse(NULL, o);
}

char *api_usage_chunk(enum api_kind kind, const struct api_ident *id, const struct api_usage *u)
{
    cJSON *o = head(id, kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
    cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToObject(o, "usage", usage_obj(u));
    return sse(NULL, o);
}

char *api_frame_event(const struct tokenizer *tok, const struct api_frame *f)
{
    cJSON *o = cJSON_CreateObject();
    /* OpenAI's SDKs hand a named event's data to the caller like any chunk;
     * an empty choices array (as in the usage chunk) makes them skip it. */
    cJSON_AddStringToObject(o, "object", "dllm.frame");
    cJSON_AddArrayToObject(o, "choices");
    cJSON_AddNumberToObject(o, "index", f->index);
    cJSON_AddNumberToObject(o, "step", f->step);
    cJSON_AddNumberToObject(o, "steps", f->total_steps);
    cJSON *span = cJSON_AddArrayToObject(o, "span");
    cJSON_AddItemToArray(span, cJSON_CreateNumber(f->span_start));
    cJSON_AddItemToArray(span, cJSON_CreateNumber(f->span_end));
    cJSON *block = cJSON_AddArrayToObject(o, "block");
    cJSON_AddItemToArray(block, cJSON_CreateNumber(f->block_start));
    cJSON_AddItemToArray(block, cJSON_CreateNumber(f->block_end));
    cJSON *spans = cJSON_AddArrayToObject(o, "spans");
    for (int i = 0; i < f->n_spans && f->spans; i++) {
        cJSON *sp = cJSON_CreateArray();
        cJSON_AddItemToArray(sp, cJSON_CreateNumber(f->spans[i].start));
        cJSON_AddItemToArray(sp, cJSON_CreateNumber(f->spans[i].start + f->spans[i].len));
        cJSON_AddItemToArray(spans, sp);
    }
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    cJSON *masked = cJSON_AddArrayToObject(o, "masked");
    cJSON *fresh = cJSON_AddArrayToObject(o, "fresh");
    cJSON *conf = f->conf ? cJSON_AddArrayToObject(o, "conf") : NULL;
    for (int i = 0; i < f->len; i++) {
        int m = f->masked && f->masked[i];
        if (m) {
            cJSON_AddItemToArray(toks, cJSON_CreateNull());
        } else {
            char *piece = tok ? tok_decode(tok, &f->canvas[i], 1, 0) : NULL;
            cJSON_AddItemToArray(toks, text_item(piece ? piece : "", piece ? strlen(piece) : 0));
            free(piece);
        }
        cJSON_AddItemToArray(masked, cJSON_CreateNumber(m));
        if (f->fresh && f->fresh[i]) cJSON_AddItemToArray(fresh, cJSON_CreateNumber(i));
        /* 4 decimals: frames are sent every step, keep them small */
        if (conf) cJSON_AddItemToArray(conf, cJSON_CreateNumber(m ? 0 : (double)(int)(f->conf[i] * 10000 + 0.5) / 10000));
    }
    return sse("frame", o);
}

static cJSON *model_obj(const char *id, long long created)
{
    cJSON *o = cJSON_CreateObject();
    add_text(o, "id", id, strlen(id));
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "owned_by", "dllm");
    return o;
}

char *api_model_json(const char *id, long long created, int list)
{
    if (!list) return print(model_obj(id, created));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *arr = cJSON_AddArrayToObject(o, "data");
    cJSON_AddItemToArray(arr, model_obj(id, created));
    return print(o);
}
