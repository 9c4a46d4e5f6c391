/* libFuzzer: every endpoint's JSON body -> request struct (api_parse), then
 * jobs (api_build, with the KJV tokenizer when models/ has it), and the SSE
 * and error serialisers over whatever text the parse produced. The first
 * byte picks the endpoint. Nothing may crash, leak or read out of bounds;
 * every error must name a status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "engine/tok/tok.h"

static struct config cfg;
static struct model model;
static int have_model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cfg.max_tokens = 1024;
    cfg.max_n = 8;
    cfg.max_canvas = 4096;
    cfg.gen_length = 64;
    cfg.block_length = 32;
    cfg.remasking = "low_confidence";
    cfg.top_p = 1;
    cfg.chat_template = "llama3";
    FILE *f = fopen("models/dllm-kjv.tokenizer.json", "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        char err[256];
        model.tok = tok_load_json(buf, (size_t)n, err, sizeof err);
    }
    free(buf);
    fclose(f);
    if (model.tok) {
        model.cfg.vocab_size = tok_vocab_size(model.tok);
        model.cfg.max_seq = 2048;
        have_model = 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1) return 0;
    enum api_kind kind = (enum api_kind)(data[0] % 3);
    struct api_request r;
    struct api_error e;
    if (api_parse(kind, (const char *)data + 1, size - 1, &cfg, &r, &e)) {
        if (e.status < 400 || e.status > 599) abort();
        free(api_error_json(&e));
        free(api_error_event(&e));
        return 0;
    }
    const char *text = r.n_prompts && r.prompts[0].text ? r.prompts[0].text
                       : r.n_messages                   ? r.messages[0].content
                                                        : "";
    struct api_ident id = {"cmpl-fuzz", 0, r.model ? r.model : "m"};
    free(api_chunk(kind, &id, 0, 1, text, strlen(text), FINISH_STOP, NULL, 0));
    /* a canvas request's answer: its own segments, spans filled with text */
    struct api_fill_seg fill[8];
    int n_fill = 0;
    for (int i = 0; i < r.n_canvas && n_fill < 8; i++, n_fill++) {
        fill[n_fill].text = r.canvas[i].text ? r.canvas[i].text : text;
        fill[n_fill].mask = r.canvas[i].mask;
    }
    struct api_choice ch = {0, (char *)text, FINISH_LENGTH, NULL, 0, n_fill ? fill : NULL, n_fill};
    if (n_fill) free(api_fill_chunk(&id, 0, FINISH_STOP, NULL, 0, fill, n_fill));
    struct api_usage u = {1, 2};
    free(api_response(kind, &r, &id, &ch, 1, &u));
    if (have_model) {
        struct api_job *jobs;
        int n;
        if (api_build(&r, &model, &cfg, &jobs, &n, &e) == 0) api_jobs_free(jobs, n);
        else if (e.status < 400 || e.status > 599) abort();
    }
    api_request_free(&r);
    return 0;
}
