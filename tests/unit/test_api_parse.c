/* api/: request bodies -> struct api_request, and the 400s for bad fields. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "tests/unit/check.h"

static struct config test_cfg(void)
{
    struct config c;
    memset(&c, 0, sizeof c);
    c.max_tokens = 1024;
    c.max_n = 8;
    c.max_canvas = 4096;
    c.gen_length = 64;
    c.block_length = 32;
    c.steps = 0;
    c.remasking = "low_confidence";
    c.top_p = 1;
    c.chat_template = "auto";
    return c;
}

static int parse(enum api_kind kind, const char *body, struct api_request *r, struct api_error *e)
{
    struct config c = test_cfg();
    return api_parse(kind, body, strlen(body), &c, r, e);
}

/* The body must be refused with 400 naming param. */
static void expect_400(enum api_kind kind, const char *body, const char *param)
{
    struct api_request r;
    struct api_error e;
    int rc = parse(kind, body, &r, &e);
    if (!CHECK_INT(rc, -1)) {
        printf("    body accepted: %s\n", body);
        api_request_free(&r);
        return;
    }
    CHECK_INT(e.status, 400);
    if (param && !CHECK_STR(e.param, param)) printf("    body: %s (message: %s)\n", body, e.message);
    CHECK(strlen(e.message) > 0);
}

void test_api_parse_completion_defaults(void)
{
    struct api_request r;
    struct api_error e;
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": \"In the beginning\", \"user\": \"u1\", \"logit_bias\": {}}", &r, &e), 0);
    CHECK_INT(r.n_prompts, 1);
    CHECK_STR(r.prompts[0].text, "In the beginning");
    CHECK_INT(r.n, 1);
    CHECK_INT(r.stream, 0);
    CHECK_INT(r.max_tokens.set, 0);
    CHECK_INT(r.temperature.set, 0);
    CHECK_INT(r.remasking, -1);
    CHECK_INT(r.n_stop, 0);
    CHECK_INT(r.want_logprobs, 0);
    api_request_free(&r);
}

void test_api_parse_completion_fields(void)
{
    struct api_request r;
    struct api_error e;
    const char *body =
        "{\"model\": \"m\", \"prompt\": \"p\", \"suffix\": \"s\", \"max_tokens\": 40, \"temperature\": 0.5,"
        " \"top_p\": 0.9, \"top_k\": 5, \"n\": 3, \"best_of\": 3, \"stop\": [\"a\", \"\", \"b\"], \"seed\": -7,"
        " \"stream\": true, \"stream_options\": {\"include_usage\": true, \"frames\": true}, \"logprobs\": 2,"
        " \"echo\": true, \"steps\": 16, \"block_length\": 8, \"algorithm\": \"entropy\", \"alg_temp\": 0.1,"
        " \"threshold\": 0.9, \"cfg_scale\": 1.5}";
    CHECK_INT(parse(API_COMPLETION, body, &r, &e), 0);
    CHECK_STR(r.model, "m");
    CHECK_STR(r.suffix, "s");
    CHECK_INT(r.max_tokens.v, 40);
    CHECK_NEAR(r.temperature.v, 0.5, 0);
    CHECK_NEAR(r.top_p.v, 0.9, 0);
    CHECK_INT(r.top_k.v, 5);
    CHECK_INT(r.n, 3);
    CHECK_INT(r.n_stop, 2); /* empty stop strings are dropped */
    CHECK_STR(r.stop[1], "b");
    CHECK_INT(r.seed.v, -7);
    CHECK_INT(r.stream, 1);
    CHECK_INT(r.include_usage, 1);
    CHECK_INT(r.frames, 1);
    CHECK_INT(r.want_logprobs, 1);
    CHECK_INT(r.top_logprobs, 2);
    CHECK_INT(r.echo, 1);
    CHECK_INT(r.steps.v, 16);
    CHECK_INT(r.block_length.v, 8);
    CHECK_INT(r.remasking, REMASK_ENTROPY);
    CHECK_NEAR(r.alg_temp.v, 0.1, 0);
    CHECK_NEAR(r.threshold.v, 0.9, 0);
    CHECK_NEAR(r.cfg_scale.v, 1.5, 0);
    api_request_free(&r);
}

void test_api_parse_prompt_forms(void)
{
    struct api_request r;
    struct api_error e;
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": [\"a\", \"bc\"]}", &r, &e), 0);
    CHECK_INT(r.n_prompts, 2);
    CHECK_STR(r.prompts[1].text, "bc");
    api_request_free(&r);
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": [1, 2, 3]}", &r, &e), 0);
    CHECK_INT(r.n_prompts, 1);
    CHECK(r.prompts[0].text == NULL);
    CHECK_INT(r.prompts[0].n_ids, 3);
    CHECK_INT(r.prompts[0].ids[2], 3);
    api_request_free(&r);
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": [[1], [2, 3]]}", &r, &e), 0);
    CHECK_INT(r.n_prompts, 2);
    CHECK_INT(r.prompts[1].n_ids, 2);
    api_request_free(&r);
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": \"\"}", &r, &e), 0);
    api_request_free(&r);
    expect_400(API_COMPLETION, "{}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": null}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": []}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": [[]]}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": [\"a\", 1]}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": [1, \"a\"]}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": [1.5]}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": [-1]}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": [[1], \"a\"]}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": {\"text\": \"a\"}}", "prompt");
    expect_400(API_COMPLETION, "{\"prompt\": 12}", "prompt");
}

/* Every field with a value of the wrong type or out of range. */
void test_api_parse_wrong_types(void)
{
    static const char *cases[][2] = {
        {"max_tokens", "\"8\""}, {"max_tokens", "8.5"}, {"max_tokens", "0"}, {"max_tokens", "2000"},
        {"max_tokens", "1e300"}, {"n", "true"}, {"n", "0"}, {"n", "9"}, {"stop", "5"}, {"stop", "[1]"},
        {"stop", "{}"}, {"stream", "\"yes\""}, {"stream", "1"}, {"frames", "0"}, {"stream_options", "1"},
        {"seed", "\"s\""}, {"seed", "0.5"}, {"temperature", "\"hot\""}, {"temperature", "-0.1"},
        {"temperature", "101"}, {"top_p", "[]"}, {"top_p", "1.5"}, {"top_k", "1.5"}, {"top_k", "-1"},
        {"steps", "0"}, {"steps", "\"4\""}, {"block_length", "0"}, {"block_length", "-8"},
        {"remasking", "\"bogus\""}, {"remasking", "3"}, {"algorithm", "\"nope\""}, {"alg_temp", "{}"},
        {"alg_temp", "-1"}, {"threshold", "2"}, {"cfg_scale", "-1"}, {"model", "7"},
        {"logprobs", "99"}, {"logprobs", "true"}, {"echo", "1"}, {"suffix", "3"}, {"best_of", "2"},
        {"best_of", "\"2\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\": \"x\", \"%s\": %s}", cases[i][0], cases[i][1]);
        expect_400(API_COMPLETION, body, cases[i][0]);
    }
    expect_400(API_COMPLETION, "{\"prompt\": \"x\", \"stream_options\": {\"include_usage\": \"y\"}}", "include_usage");
    expect_400(API_COMPLETION, "{\"prompt\": \"x\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
               "\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", "stop");
}

void test_api_parse_stop_forms(void)
{
    struct api_request r;
    struct api_error e;
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": \"x\", \"stop\": \"\\n\"}", &r, &e), 0);
    CHECK_INT(r.n_stop, 1);
    CHECK_STR(r.stop[0], "\n");
    api_request_free(&r);
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": \"x\", \"stop\": null}", &r, &e), 0);
    CHECK_INT(r.n_stop, 0);
    api_request_free(&r);
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": \"x\", \"stop\": []}", &r, &e), 0);
    CHECK_INT(r.n_stop, 0);
    api_request_free(&r);
}

void test_api_parse_malformed_bodies(void)
{
    expect_400(API_COMPLETION, "", "");
    expect_400(API_COMPLETION, "{\"prompt\": \"x\",", "");
    expect_400(API_COMPLETION, "{\"prompt\": \"x\"} trailing", "");
    expect_400(API_COMPLETION, "[1, 2]", "");
    expect_400(API_COMPLETION, "\"just a string\"", "");
    expect_400(API_COMPLETION, "{\"prompt\": \"\xff\xfe\"}", "");
    expect_400(API_COMPLETION, "{\"prompt\": \"\xc0\x80\"}", ""); /* overlong NUL */
    expect_400(API_COMPLETION, "{\"prompt\": \"\xed\xa0\x80\"}", ""); /* surrogate */
    struct api_request r;
    struct api_error e;
    struct config c = test_cfg();
    const char nul[] = "{\"prompt\": \"a\0b\"}";
    CHECK_INT(api_parse(API_COMPLETION, nul, sizeof nul - 1, &c, &r, &e), -1);
    CHECK_INT(e.status, 400);
    /* deep nesting is refused, not a stack overflow */
    char deep[8192];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"prompt\": \"x\", \"extra\": ");
    for (int i = 0; i < 3000; i++) deep[n++] = '[';
    deep[n] = 0;
    CHECK_INT(api_parse(API_COMPLETION, deep, n, &c, &r, &e), -1);
    CHECK_INT(e.status, 400);
    /* valid multi-byte text is kept as is */
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", &r, &e), 0);
    CHECK_STR(r.prompts[0].text, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    api_request_free(&r);
}

void test_api_parse_chat(void)
{
    struct api_request r;
    struct api_error e;
    const char *body =
        "{\"messages\": [{\"role\": \"developer\", \"content\": \"Be brief.\"},"
        " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hello \"}, {\"type\": \"text\", \"text\": \"there\"}]},"
        " {\"role\": \"assistant\", \"content\": null}, {\"role\": \"user\", \"content\": \"Again\", \"name\": \"bob\"}],"
        " \"max_completion_tokens\": 12, \"logprobs\": true, \"top_logprobs\": 3}";
    CHECK_INT(parse(API_CHAT, body, &r, &e), 0);
    CHECK_INT(r.n_messages, 4);
    CHECK_STR(r.messages[0].role, "system");
    CHECK_STR(r.messages[1].content, "Hello there");
    CHECK_STR(r.messages[2].content, "");
    CHECK_INT(r.max_tokens.v, 12);
    CHECK_INT(r.want_logprobs, 1);
    CHECK_INT(r.top_logprobs, 3);
    api_request_free(&r);
    expect_400(API_CHAT, "{}", "messages");
    expect_400(API_CHAT, "{\"messages\": []}", "messages");
    expect_400(API_CHAT, "{\"messages\": \"hi\"}", "messages");
    expect_400(API_CHAT, "{\"messages\": [\"hi\"]}", "messages");
    expect_400(API_CHAT, "{\"messages\": [{\"content\": \"hi\"}]}", "messages.role");
    expect_400(API_CHAT, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", "messages.role");
    expect_400(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages.content");
    expect_400(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}",
               "messages.content");
    expect_400(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": 1}]}]}",
               "messages.content.text");
    expect_400(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2}", "top_logprobs");
    expect_400(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": 1}", "logprobs");
    expect_400(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_completion_tokens\": 0}",
               "max_completion_tokens");
}

void test_api_parse_infill(void)
{
    struct api_request r;
    struct api_error e;
    const char *body =
        "{\"input_prefix\": \"def f(\", \"input_suffix\": \"):\\n\", \"prompt\": \"x\", \"n_predict\": -1,"
        " \"input_extra\": [{\"filename\": \"a.py\", \"text\": \"import os\"}, {\"text\": \"y = 1\"}]}";
    CHECK_INT(parse(API_INFILL, body, &r, &e), 0);
    CHECK_STR(r.prefix, "def f(");
    CHECK_STR(r.suffix, "):\n");
    CHECK_STR(r.prompts[0].text, "x");
    CHECK_INT(r.max_tokens.set, 0);
    CHECK_STR(r.extra, "a.py\nimport os\ny = 1\n");
    api_request_free(&r);
    CHECK_INT(parse(API_INFILL, "{\"n_predict\": 7}", &r, &e), 0);
    CHECK_INT(r.max_tokens.v, 7);
    CHECK_STR(r.prompts[0].text, "");
    api_request_free(&r);
    expect_400(API_INFILL, "{\"n_predict\": 0}", "n_predict");
    expect_400(API_INFILL, "{\"input_prefix\": 1}", "input_prefix");
    expect_400(API_INFILL, "{\"input_extra\": {}}", "input_extra");
    expect_400(API_INFILL, "{\"input_extra\": [{\"filename\": \"a\"}]}", "input_extra.text");
}

void test_api_parse_canvas(void)
{
    struct api_request r;
    struct api_error e;
    const char *body = "{\"canvas\": [{\"mask\": 2}, {\"text\": \"In the\"}, {\"mask\": 5}, {\"text\": \"\"}],"
                       " \"t_eps\": 0.001, \"remasking\": \"analytic\"}";
    CHECK_INT(parse(API_COMPLETION, body, &r, &e), 0);
    CHECK_INT(r.n_canvas, 4);
    CHECK_INT(r.n_prompts, 0);
    CHECK(r.canvas[0].text == NULL && r.canvas[0].mask == 2);
    CHECK_STR(r.canvas[1].text, "In the");
    CHECK_INT(r.canvas[2].mask, 5);
    CHECK_STR(r.canvas[3].text, "");
    CHECK_INT(r.canvas_masked, 7);
    CHECK(r.t_eps.set && r.t_eps.v == 0.001);
    CHECK_INT(r.remasking, REMASK_SEDD_ANALYTIC);
    api_request_free(&r);
    /* every sampler name round trips; auto is the family's own */
    for (int k = REMASK_LOW_CONFIDENCE; k <= REMASK_SEDD_ANALYTIC; k++)
        CHECK_INT(api_remask_parse(api_remask_name(k)), k);
    CHECK_INT(parse(API_COMPLETION, "{\"prompt\": \"x\", \"remasking\": \"auto\"}", &r, &e), 0);
    CHECK_INT(r.remasking, -1);
    api_request_free(&r);

    expect_400(API_COMPLETION, "{\"canvas\": [{\"text\": \"no blank\"}]}", "canvas");
    expect_400(API_COMPLETION, "{\"canvas\": []}", "canvas");
    expect_400(API_COMPLETION, "{\"canvas\": \"a [mask:3]\"}", "canvas");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 3}], \"prompt\": \"x\"}", "canvas");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 3}], \"suffix\": \"x\"}", "canvas");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 3}, 7]}", "canvas[1]");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 3}, {\"image\": \"x\"}]}", "canvas[1]");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 3, \"text\": \"x\"}]}", "canvas[0]");
    expect_400(API_COMPLETION, "{\"canvas\": [{}]}", "canvas[0]");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": \"3\"}]}", "canvas[0].mask");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 2.5}]}", "canvas[0].mask");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 0}]}", "canvas[0].mask");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 1025}]}", "canvas[0].mask");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 1000}, {\"mask\": 1000}]}", "canvas");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"text\": 3}, {\"mask\": 2}]}", "canvas[0].text");
    expect_400(API_COMPLETION, "{\"canvas\": [{\"mask\": 2}], \"echo\": true}", "echo");
    expect_400(API_COMPLETION, "{\"prompt\": \"x\", \"t_eps\": 0}", "t_eps");
    expect_400(API_COMPLETION, "{\"prompt\": \"x\", \"t_eps\": 1}", "t_eps");
    expect_400(API_COMPLETION, "{\"prompt\": \"x\", \"t_eps\": \"small\"}", "t_eps");
    expect_400(API_COMPLETION, "{\"prompt\": \"x\", \"remasking\": \"tau_leaping\"}", "remasking");
}
