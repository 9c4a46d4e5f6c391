/* The "cache" request field and the config's default: parsed names, 400
 * naming the field for anything else, and what a request gets when it names
 * none (the config's choice, or the model family's with "auto"). */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "tests/unit/check.h"

static struct config cache_cfg(const char *cache)
{
    struct config c;
    memset(&c, 0, sizeof c);
    c.max_tokens = 1024;
    c.max_n = 8;
    c.max_canvas = 4096;
    c.gen_length = 16;
    c.block_length = 8;
    c.remasking = "auto";
    c.top_p = 1;
    c.chat_template = "auto";
    c.cache = (char *)cache;
    return c;
}

void test_api_cache_field(void)
{
    struct config c = cache_cfg("auto");
    struct api_request r;
    struct api_error e;
    static const char *names[3] = {"none", "prefix", "dual"};
    for (int i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"prompt\": \"x\", \"cache\": \"%s\"}", names[i]);
        CHECK_INT(api_parse(API_COMPLETION, body, strlen(body), &c, &r, &e), 0);
        CHECK_INT(r.cache, i == 0 ? CACHE_OFF : i == 1 ? CACHE_PREFIX : CACHE_DUAL);
        api_request_free(&r);
    }
    const char *ok = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";
    CHECK_INT(api_parse(API_CHAT, ok, strlen(ok), &c, &r, &e), 0);
    CHECK_INT(r.cache, -1);
    api_request_free(&r);
    static const char *bad[] = {"{\"prompt\": \"x\", \"cache\": \"auto\"}", "{\"prompt\": \"x\", \"cache\": \"full\"}",
                                "{\"prompt\": \"x\", \"cache\": 1}", "{\"prompt\": \"x\", \"cache\": true}",
                                "{\"input_prefix\": \"x\", \"cache\": \"\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum api_kind k = i == 4 ? API_INFILL : API_COMPLETION;
        CHECK_INT(api_parse(k, bad[i], strlen(bad[i]), &c, &r, &e), -1);
        CHECK_INT(e.status, 400);
        if (!CHECK_STR(e.param, "cache"))
            printf("    body: %s\n", bad[i]);
    }
}

/* gen_params.cache: the request's choice, else the config's, else (auto)
 * the family's: dual for LLaDA and Dream, prefix for causal models (exact
 * there), none for BERT-style and time-conditioned ones. */
void test_api_cache_defaults(void)
{
    struct model m;
    memset(&m, 0, sizeof m);
    m.cfg.arch = ARCH_LLADA;
    CHECK_INT(api_cache_auto(&m), CACHE_DUAL);
    m.cfg.arch = ARCH_DREAM;
    CHECK_INT(api_cache_auto(&m), CACHE_DUAL);
    m.cfg.arch = ARCH_LLAMA;
    m.cfg.causal = 1;
    CHECK_INT(api_cache_auto(&m), CACHE_PREFIX);
    m.cfg.causal = 0;
    m.cfg.arch = ARCH_BERT;
    CHECK_INT(api_cache_auto(&m), CACHE_OFF);
    m.cfg.arch = ARCH_MDLM;
    m.cfg.time_cond = 1;
    CHECK_INT(api_cache_auto(&m), CACHE_OFF);
    CHECK_INT(api_cache_parse("dual"), CACHE_DUAL);
    CHECK_INT(api_cache_parse("auto"), -1);
}

/* Through api_build on the default model: a request's cache reaches
 * gen_params; the config's server-wide cache applies to LLaDA but gives way
 * to an MDLM model's sampler (which takes none), where a request that asks
 * for one is a 400 naming cache. */
void test_api_cache_build(void)
{
    struct model *m;
    char err[256];
    FILE *f = fopen("models/dllm-kjv.gguf", "rb");
    if (!f) {
        check_skip("models/dllm-kjv.gguf not found");
        return;
    }
    fclose(f);
    if (!CHECK(model_open("models/dllm-kjv.gguf", &m, err, sizeof err) == 0))
        return;
    struct config c = cache_cfg("prefix");
    struct api_request r;
    struct api_error e;
    struct api_job *jobs;
    int n;
    static const char *bodies[3] = {"{\"prompt\": \"x\"}", "{\"prompt\": \"x\", \"cache\": \"dual\"}",
                                    "{\"prompt\": \"x\", \"cache\": \"none\"}"};
    static const enum cache_mode want_llada[3] = {CACHE_PREFIX, CACHE_DUAL, CACHE_OFF};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(api_parse(API_COMPLETION, bodies[i], strlen(bodies[i]), &c, &r, &e), 0);
        if (CHECK_INT(api_build(&r, m, &c, &jobs, &n, &e), 0)) {
            CHECK_INT(jobs[0].params.cache, want_llada[i]);
            api_jobs_free(jobs, n);
        }
        api_request_free(&r);
    }
    c.cache = "auto";
    CHECK_INT(api_parse(API_COMPLETION, bodies[0], strlen(bodies[0]), &c, &r, &e), 0);
    if (CHECK_INT(api_build(&r, m, &c, &jobs, &n, &e), 0)) {
        CHECK_INT(jobs[0].params.cache, CACHE_DUAL);
        api_jobs_free(jobs, n);
    }
    api_request_free(&r);
    m->cfg.arch = ARCH_MDLM;
    m->cfg.time_cond = 1;
    c.cache = "dual";
    for (int i = 0; i < 3; i++) {
        CHECK_INT(api_parse(API_COMPLETION, bodies[i], strlen(bodies[i]), &c, &r, &e), 0);
        int rc = api_build(&r, m, &c, &jobs, &n, &e);
        if (i == 1) {
            CHECK_INT(rc, -1);
            CHECK_STR(e.param, "cache");
        } else if (CHECK_INT(rc, 0)) {
            CHECK_INT(jobs[0].params.cache, CACHE_OFF);
            api_jobs_free(jobs, n);
        }
        api_request_free(&r);
    }
    model_free(m);
}
