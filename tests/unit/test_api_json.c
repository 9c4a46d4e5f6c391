/* api/: responses, SSE chunks, frames and errors as JSON, read back with
 * cJSON; and api_build (span length, seeds, limits) on the KJV tokenizer. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "engine/tok/tok.h"
#include "tests/unit/check.h"

/* Parses the JSON of one SSE event ("[event: X\n]data: {...}\n\n"). */
static cJSON *sse_json(const char *ev, const char *want_event)
{
    if (!ev) return NULL;
    size_t n = strlen(ev);
    if (!CHECK(n > 8 && strcmp(ev + n - 2, "\n\n") == 0)) return NULL;
    const char *p = ev;
    if (want_event) {
        char head[64];
        snprintf(head, sizeof head, "event: %s\n", want_event);
        if (!CHECK(strncmp(p, head, strlen(head)) == 0)) return NULL;
        p += strlen(head);
    }
    if (!CHECK(strncmp(p, "data: ", 6) == 0)) return NULL;
    return cJSON_Parse(p + 6);
}

static const char *str_at(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9') cur = cJSON_GetArrayItem(cur, atoi(tok));
        else cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    if (!cur) return "(absent)";
    if (cJSON_IsNull(cur)) return "(null)";
    return cJSON_IsString(cur) ? cur->valuestring : "(not a string)";
}

static double num_at(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9') cur = cJSON_GetArrayItem(cur, atoi(tok));
        else cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    return cur && cJSON_IsNumber(cur) ? cur->valuedouble : -12345;
}

static const struct api_ident ident = {"chatcmpl-1", 1700000000, "m"};

void test_api_json_error_object(void)
{
    struct api_error e;
    api_error_set(&e, 400, "max_tokens", "Invalid value for '%s'.", "max_tokens");
    char *s = api_error_json(&e);
    cJSON *o = cJSON_Parse(s);
    CHECK(o != NULL);
    CHECK_STR(str_at(o, "error.message"), "Invalid value for 'max_tokens'.");
    CHECK_STR(str_at(o, "error.type"), "invalid_request_error");
    CHECK_STR(str_at(o, "error.param"), "max_tokens");
    CHECK_STR(str_at(o, "error.code"), "(null)");
    cJSON_Delete(o);
    free(s);
    api_error_set(&e, 429, "", "busy");
    e.code = "queue_full";
    s = api_error_json(&e);
    o = cJSON_Parse(s);
    CHECK_STR(str_at(o, "error.type"), "rate_limit_error");
    CHECK_STR(str_at(o, "error.param"), "(null)");
    CHECK_STR(str_at(o, "error.code"), "queue_full");
    cJSON_Delete(o);
    free(s);
    s = api_error_event(&e);
    o = sse_json(s, NULL);
    CHECK_STR(str_at(o, "error.code"), "queue_full");
    cJSON_Delete(o);
    free(s);
}

void test_api_json_chat_chunks(void)
{
    char *s = api_chunk(API_CHAT, &ident, 0, 1, "", 0, FINISH_NONE, NULL, 0);
    cJSON *o = sse_json(s, NULL);
    CHECK_STR(str_at(o, "object"), "chat.completion.chunk");
    CHECK_STR(str_at(o, "id"), "chatcmpl-1");
    CHECK_STR(str_at(o, "choices.0.delta.role"), "assistant");
    CHECK_STR(str_at(o, "choices.0.delta.content"), "");
    CHECK_STR(str_at(o, "choices.0.finish_reason"), "(null)");
    cJSON_Delete(o);
    free(s);
    s = api_chunk(API_CHAT, &ident, 2, 0, "Hel", 3, FINISH_NONE, NULL, 0);
    o = sse_json(s, NULL);
    CHECK_STR(str_at(o, "choices.0.delta.content"), "Hel");
    CHECK_STR(str_at(o, "choices.0.delta.role"), "(absent)");
    CHECK_NEAR(num_at(o, "choices.0.index"), 2, 0);
    cJSON_Delete(o);
    free(s);
    s = api_chunk(API_CHAT, &ident, 0, 0, NULL, 0, FINISH_LENGTH, NULL, 0);
    o = sse_json(s, NULL);
    CHECK_STR(str_at(o, "choices.0.finish_reason"), "length");
    CHECK_STR(str_at(o, "choices.0.delta.content"), "(absent)");
    cJSON_Delete(o);
    free(s);
    struct api_usage u = {5, 7};
    s = api_usage_chunk(API_CHAT, &ident, &u);
    o = sse_json(s, NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "choices")), 0);
    CHECK_NEAR(num_at(o, "usage.total_tokens"), 12, 0);
    cJSON_Delete(o);
    free(s);
    s = api_done_event();
    CHECK_STR(s, "data: [DONE]\n\n");
    free(s);
}

void test_api_json_completion_and_infill_shapes(void)
{
    struct api_choice ch[2] = {{0, "abc", FINISH_STOP, NULL, 0, NULL, 0}, {1, "de\xff", FINISH_LENGTH, NULL, 0, NULL, 0}};
    struct api_usage u = {3, 4};
    struct api_request r;
    memset(&r, 0, sizeof r);
    r.kind = API_COMPLETION;
    char *s = api_response(API_COMPLETION, &r, &ident, ch, 2, &u);
    cJSON *o = cJSON_Parse(s);
    CHECK_STR(str_at(o, "object"), "text_completion");
    CHECK_STR(str_at(o, "choices.0.text"), "abc");
    CHECK_STR(str_at(o, "choices.0.finish_reason"), "stop");
    CHECK_STR(str_at(o, "choices.1.text"), "de\xef\xbf\xbd"); /* a bad byte becomes U+FFFD */
    CHECK_STR(str_at(o, "choices.1.finish_reason"), "length");
    CHECK_STR(str_at(o, "choices.0.logprobs"), "(null)");
    CHECK_NEAR(num_at(o, "usage.prompt_tokens"), 3, 0);
    CHECK_NEAR(num_at(o, "usage.total_tokens"), 7, 0);
    cJSON_Delete(o);
    free(s);
    r.kind = API_CHAT;
    s = api_response(API_CHAT, &r, &ident, ch, 1, &u);
    o = cJSON_Parse(s);
    CHECK_STR(str_at(o, "object"), "chat.completion");
    CHECK_STR(str_at(o, "choices.0.message.role"), "assistant");
    CHECK_STR(str_at(o, "choices.0.message.content"), "abc");
    cJSON_Delete(o);
    free(s);
    s = api_response(API_INFILL, &r, &ident, ch + 1, 1, &u);
    o = cJSON_Parse(s);
    CHECK_STR(str_at(o, "content"), "de\xef\xbf\xbd");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "stop")));
    CHECK_NEAR(num_at(o, "tokens_predicted"), 4, 0);
    cJSON_Delete(o);
    free(s);
    s = api_chunk(API_INFILL, &ident, 0, 0, "x", 1, FINISH_NONE, NULL, 0);
    o = sse_json(s, NULL);
    CHECK_STR(str_at(o, "content"), "x");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(o, "stop")));
    cJSON_Delete(o);
    free(s);
}

void test_api_json_logprobs(void)
{
    struct api_token_lp lp[2];
    memset(lp, 0, sizeof lp);
    lp[0].text = "He";
    lp[0].logprob = -0.5f;
    lp[0].n_top = 2;
    lp[0].top_text[0] = "He";
    lp[0].top_logprob[0] = -0.5f;
    lp[0].top_text[1] = "She";
    lp[0].top_logprob[1] = -1.5f;
    lp[1].text = "llo";
    lp[1].logprob = -0.25f;
    struct api_choice ch = {0, "Hello", FINISH_STOP, lp, 2, NULL, 0};
    struct api_usage u = {1, 2};
    struct api_request r;
    memset(&r, 0, sizeof r);
    r.want_logprobs = 1;
    char *s = api_response(API_COMPLETION, &r, &ident, &ch, 1, &u);
    cJSON *o = cJSON_Parse(s);
    CHECK_STR(str_at(o, "choices.0.logprobs.tokens.1"), "llo");
    CHECK_NEAR(num_at(o, "choices.0.logprobs.token_logprobs.0"), -0.5, 1e-6);
    CHECK_NEAR(num_at(o, "choices.0.logprobs.top_logprobs.0.She"), -1.5, 1e-6);
    CHECK_NEAR(num_at(o, "choices.0.logprobs.text_offset.1"), 2, 0);
    cJSON_Delete(o);
    free(s);
    s = api_response(API_CHAT, &r, &ident, &ch, 1, &u);
    o = cJSON_Parse(s);
    CHECK_STR(str_at(o, "choices.0.logprobs.content.0.token"), "He");
    CHECK_NEAR(num_at(o, "choices.0.logprobs.content.0.bytes.0"), 'H', 0);
    CHECK_STR(str_at(o, "choices.0.logprobs.content.0.top_logprobs.1.token"), "She");
    cJSON_Delete(o);
    free(s);
}

static struct tokenizer *kjv_tokenizer(void)
{
    FILE *f = fopen("models/dllm-kjv.tokenizer.json", "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    struct tokenizer *t = NULL;
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        char err[256];
        t = tok_load_json(buf, (size_t)n, err, sizeof err);
    }
    free(buf);
    fclose(f);
    return t;
}

void test_api_json_frame(void)
{
    struct tokenizer *t = kjv_tokenizer();
    if (!t) {
        check_skip("models/dllm-kjv.tokenizer.json not found");
        return;
    }
    int32_t *ids = NULL;
    int n = 0;
    char err[128];
    CHECK_INT(tok_encode(t, "In the beginning", 16, 0, &ids, &n, err, sizeof err), 0);
    int32_t canvas[16];
    uint8_t masked[16] = {0}, fresh[16] = {0};
    float conf[16] = {0};
    for (int i = 0; i < n && i < 12; i++) canvas[i] = ids[i];
    canvas[n] = canvas[n + 1] = 0;
    masked[n + 1] = 1;
    fresh[n] = 1;
    conf[n] = 0.75f;
    struct api_frame f = {1, 3, 8, n + 2, canvas, masked, fresh, conf, n, n + 2, n, n + 2, NULL, 0};
    char *s = api_frame_event(t, &f);
    cJSON *o = sse_json(s, "frame");
    CHECK_STR(str_at(o, "object"), "dllm.frame");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "choices")), 0);
    CHECK_NEAR(num_at(o, "index"), 1, 0);
    CHECK_NEAR(num_at(o, "step"), 3, 0);
    CHECK_NEAR(num_at(o, "steps"), 8, 0);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "tokens")), n + 2);
    CHECK_STR(str_at(o, "tokens.0"), "In");
    char path[32];
    snprintf(path, sizeof path, "tokens.%d", n + 1);
    CHECK_STR(str_at(o, path), "(null)");
    snprintf(path, sizeof path, "masked.%d", n + 1);
    CHECK_NEAR(num_at(o, path), 1, 0);
    CHECK_NEAR(num_at(o, "fresh.0"), n, 0);
    snprintf(path, sizeof path, "conf.%d", n);
    CHECK_NEAR(num_at(o, path), 0.75, 1e-4);
    cJSON_Delete(o);
    free(s);
    free(ids);
    tok_free(t);
}

/* api_build over a model that has only a tokenizer and a config. */
void test_api_build_span_and_seeds(void)
{
    struct tokenizer *t = kjv_tokenizer();
    if (!t) {
        check_skip("models/dllm-kjv.tokenizer.json not found");
        return;
    }
    struct model m;
    memset(&m, 0, sizeof m);
    m.tok = t;
    m.cfg.vocab_size = tok_vocab_size(t);
    m.cfg.max_seq = 512;
    m.cfg.add_bos = 0;
    struct config c;
    memset(&c, 0, sizeof c);
    c.max_tokens = 1024;
    c.max_n = 8;
    c.max_canvas = 4096;
    c.gen_length = 64;
    c.block_length = 32;
    c.remasking = "low_confidence";
    c.top_p = 1;
    c.temperature = 0;
    c.chat_template = "auto";
    struct api_request r;
    struct api_error e;
    struct api_job *jobs;
    int n;
    const char *body = "{\"prompt\": [\"In the beginning\", \"And God said\"], \"n\": 2, \"max_tokens\": 40,"
                       " \"seed\": 100, \"suffix\": \" Amen.\", \"steps\": 3}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), 0);
    CHECK_INT(n, 4);
    /* 40 > block 32: rounded up to two blocks; steps round up to a multiple of the blocks */
    CHECK_INT(jobs[0].params.gen_length, 64);
    CHECK_INT(jobs[0].params.block_length, 32);
    CHECK_INT(jobs[0].params.steps, 4);
    CHECK_INT(jobs[0].n_segs, 3);
    CHECK(jobs[0].segs[1].ids == NULL);
    CHECK_INT(jobs[0].segs[1].n, 64);
    CHECK(jobs[0].segs[2].ids != NULL);
    CHECK_INT((int)jobs[0].params.seed, 100);
    CHECK_INT((int)jobs[1].params.seed, 101);
    CHECK_INT(jobs[3].choice_index, 3);
    CHECK_INT(jobs[3].prompt_index, 1);
    CHECK_INT(jobs[0].params.remasking, REMASK_LOW_CONFIDENCE);
    api_jobs_free(jobs, n);
    api_request_free(&r);

    /* max_tokens within one block: exactly max_tokens, one block */
    body = "{\"prompt\": \"x\", \"max_tokens\": 10}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), 0);
    CHECK_INT(jobs[0].params.gen_length, 10);
    CHECK_INT(jobs[0].params.block_length, 0);
    CHECK_INT(jobs[0].params.steps, 10);
    CHECK_INT(jobs[0].n_segs, 2);
    api_jobs_free(jobs, n);
    api_request_free(&r);

    /* longer than the model's context: 400 context_length_exceeded */
    body = "{\"prompt\": \"x\", \"max_tokens\": 1000}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
    CHECK_INT(e.status, 400);
    CHECK_STR(e.code, "context_length_exceeded");
    api_request_free(&r);

    /* token ids outside the vocabulary */
    body = "{\"prompt\": [1, 2, 999999]}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
    CHECK_STR(e.param, "prompt");
    api_request_free(&r);

    /* chat through the llama3 template; echo keeps the prompt text */
    c.chat_template = "llama3";
    body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 4, \"logprobs\": true}";
    CHECK_INT(api_parse(API_CHAT, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), 0);
    CHECK(jobs[0].prompt_tokens > 3);
    CHECK_INT(jobs[0].params.n_logprobs, 1);
    char *text = tok_decode(t, jobs[0].ids[0], jobs[0].n_ids[0], 0);
    CHECK(text && strstr(text, "Hi") != NULL);
    free(text);
    api_jobs_free(jobs, n);
    api_request_free(&r);
    tok_free(t);
}

/* Fill in the blanks and the MDLM/SEDD rules through api_build. */
void test_api_build_canvas_and_family_rules(void)
{
    struct tokenizer *t = kjv_tokenizer();
    if (!t) {
        check_skip("models/dllm-kjv.tokenizer.json not found");
        return;
    }
    struct model m;
    memset(&m, 0, sizeof m);
    m.tok = t;
    m.cfg.vocab_size = tok_vocab_size(t);
    m.cfg.max_seq = 512;
    m.cfg.bos_id = 1;
    m.cfg.add_bos = 1;
    struct config c;
    memset(&c, 0, sizeof c);
    c.max_tokens = 1024;
    c.max_n = 8;
    c.max_canvas = 4096;
    c.gen_length = 64;
    c.block_length = 4;
    c.remasking = "low_confidence";
    c.top_p = 1;
    c.temperature = 0;
    c.chat_template = "auto";
    struct api_request r;
    struct api_error e;
    struct api_job *jobs;
    int n;
    const char *body = "{\"canvas\": [{\"mask\": 3}, {\"text\": \"In the beginning\"}, {\"mask\": 5},"
                       " {\"text\": \"\"}, {\"text\": \" God\"}], \"n\": 2, \"seed\": 7}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), 0);
    CHECK_INT(n, 2);
    /* [BOS][mask 3][text][mask 5][text]: the empty text segment is dropped */
    CHECK_INT(jobs[1].n_segs, 5);
    CHECK(jobs[1].segs[0].ids && jobs[1].segs[0].n == 1 && jobs[1].segs[0].ids[0] == 1);
    CHECK(jobs[1].segs[1].ids == NULL && jobs[1].segs[1].n == 3);
    CHECK(jobs[1].segs[2].ids != NULL && jobs[1].segs[2].n > 0);
    CHECK(jobs[1].segs[3].ids == NULL && jobs[1].segs[3].n == 5);
    CHECK(jobs[1].segs[4].ids != NULL);
    CHECK(jobs[1].segs[2].ids != jobs[0].segs[2].ids); /* each job owns its ids */
    char *txt = tok_decode(t, jobs[1].segs[2].ids, jobs[1].segs[2].n, 0);
    CHECK_STR(txt, "In the beginning");
    free(txt);
    /* the span is the blanks' total (8); the server's block 4 divides it: 2 blocks */
    CHECK_INT(jobs[0].params.gen_length, 8);
    CHECK_INT(jobs[0].params.block_length, 4);
    CHECK_INT(jobs[0].params.steps, 8);
    CHECK_INT((int)jobs[1].params.seed, 8);
    CHECK_INT(jobs[0].prompt_tokens, 1 + jobs[0].segs[2].n + jobs[0].segs[4].n);
    api_jobs_free(jobs, n);
    api_request_free(&r);

    /* a block that does not divide the blanks: the server's default gives way
     * to one block; the request's own is a 400 naming block_length */
    body = "{\"canvas\": [{\"mask\": 3}, {\"text\": \"x\"}, {\"mask\": 4}]}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), 0);
    CHECK_INT(jobs[0].params.block_length, 0);
    CHECK_INT(jobs[0].params.gen_length, 7);
    api_jobs_free(jobs, n);
    api_request_free(&r);
    body = "{\"canvas\": [{\"mask\": 3}, {\"text\": \"x\"}, {\"mask\": 4}], \"block_length\": 2}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
    CHECK_STR(e.param, "block_length");
    api_request_free(&r);
    /* longer than the context */
    body = "{\"canvas\": [{\"mask\": 300}, {\"text\": \"x\"}, {\"mask\": 300}]}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
    CHECK_STR(e.param, "canvas");
    CHECK_STR(e.code, "context_length_exceeded");
    api_request_free(&r);
    /* an MDLM sampler on this (LLaDA) model, and t_eps with a LLaDA rule */
    body = "{\"prompt\": \"x\", \"remasking\": \"euler\"}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
    CHECK_STR(e.param, "remasking");
    api_request_free(&r);
    body = "{\"prompt\": \"x\", \"t_eps\": 0.01}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
    CHECK_STR(e.param, "t_eps");
    api_request_free(&r);

    /* MDLM and SEDD models: auto is mdlm / analytic, temperature 1 unless
     * asked, one block, the config's LLaDA rule gives way */
    static const enum arch archs[2] = {ARCH_MDLM, ARCH_SEDD};
    static const enum remask want[2] = {REMASK_MDLM, REMASK_SEDD_ANALYTIC};
    for (int k = 0; k < 2; k++) {
        m.cfg.arch = archs[k];
        body = "{\"prompt\": \"x\", \"max_tokens\": 40, \"t_eps\": 0.001}";
        CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
        CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), 0);
        CHECK_INT(jobs[0].params.remasking, want[k]);
        CHECK_NEAR(jobs[0].params.temperature, 1.0, 0);
        CHECK_INT(jobs[0].params.block_length, 0);
        CHECK_INT(jobs[0].params.gen_length, 40);
        CHECK_INT(jobs[0].params.steps, 40);
        CHECK_NEAR(jobs[0].params.t_eps, 0.001, 1e-9);
        api_jobs_free(jobs, n);
        api_request_free(&r);
        const char *bad[4][2] = {{"{\"prompt\": \"x\", \"remasking\": \"low_confidence\"}", "remasking"},
                                 {"{\"prompt\": \"x\", \"remasking\": \"entropy\"}", "remasking"},
                                 {"{\"prompt\": \"x\", \"block_length\": 8}", "block_length"},
                                 {"{\"prompt\": \"x\", \"cfg_scale\": 1}", "cfg_scale"}};
        for (int b = 0; b < 4; b++) {
            CHECK_INT(api_parse(API_COMPLETION, bad[b][0], strlen(bad[b][0]), &c, &r, &e), 0);
            CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
            CHECK_STR(e.param, bad[b][1]);
            api_request_free(&r);
        }
    }
    /* the uniform graph samples with euler/analytic (auto: analytic), never mdlm */
    m.cfg.arch = ARCH_SEDD;
    m.cfg.graph_uniform = 1;
    body = "{\"prompt\": \"x\"}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), 0);
    CHECK_INT(jobs[0].params.remasking, REMASK_SEDD_ANALYTIC);
    api_jobs_free(jobs, n);
    api_request_free(&r);
    body = "{\"prompt\": \"x\", \"remasking\": \"mdlm\"}";
    CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
    CHECK_INT(api_build(&r, &m, &c, &jobs, &n, &e), -1);
    CHECK_STR(e.param, "remasking");
    api_request_free(&r);
    tok_free(t);
}
