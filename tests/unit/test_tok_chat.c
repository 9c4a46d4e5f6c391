/* Chat templates: the Llama 3 family against prompts the template itself
 * rendered (tests/tok/chat_golden.json, from tests/tok/ref_chat.js), ChatML
 * against the Qwen2.5/Qwen3 template text, detection and the override. */
#include "engine/engine.h"
#include "engine/tok/tok.h"
#include "tests/unit/check.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

/* A tokenizer whose BOS is <|begin_of_text|>, as in the golden file. */
static struct tokenizer *llama3_tok(void)
{
    static const char json[] = "{\"added_tokens\":[{\"id\":1,\"content\":\"<|begin_of_text|>\",\"special\":true}],"
                               "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
    char err[128];
    return tok_load_json(json, strlen(json), err, sizeof err);
}

void test_tok_chat_llama3_matches_template(void)
{
    char *text = slurp("tests/tok/chat_golden.json");
    if (!text) {
        check_skip("tests/tok/chat_golden.json not found (run from the repository root)");
        return;
    }
    cJSON *root = cJSON_Parse(text);
    struct tokenizer *t = llama3_tok();
    CHECK(cJSON_IsArray(root) && t != NULL);
    int cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, root)
    {
        const cJSON *msgs = cJSON_GetObjectItem(c, "messages");
        int n = cJSON_GetArraySize(msgs);
        struct chat_msg m[8];
        if (n > 8) continue;
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(msgs, i);
            m[i].role = cJSON_GetObjectItem(e, "role")->valuestring;
            m[i].content = cJSON_GetObjectItem(e, "content")->valuestring;
        }
        char *got = chat_render(CHAT_LLAMA3, t, m, n);
        CHECK_STR(got, cJSON_GetObjectItem(c, "text")->valuestring);
        free(got);
        cases++;
    }
    CHECK(cases >= 4);
    cJSON_Delete(root);
    tok_free(t);
    free(text);
}

void test_tok_chat_chatml(void)
{
    struct chat_msg m[] = {{"user", "Hi there"}};
    char *s = chat_render(CHAT_CHATML, NULL, m, 1);
    CHECK_STR(s, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n");
    free(s);
    struct chat_msg m2[] = {{"system", "Be brief."}, {"user", " q "}, {"assistant", "a"}, {"user", "q2"}};
    s = chat_render(CHAT_CHATML, NULL, m2, 4);
    CHECK_STR(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n q <|im_end|>\n"
                 "<|im_start|>assistant\na<|im_end|>\n<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n");
    free(s);
    s = chat_render_sys(CHAT_CHATML, NULL, m, 1, NULL); /* Qwen3: no default system turn */
    CHECK_STR(s, "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n");
    free(s);
    s = chat_render(CHAT_NONE, NULL, m2, 2);
    CHECK_STR(s, "Be brief.\n q ");
    free(s);
}

void test_tok_chat_detect_and_override(void)
{
    static const char llama3[] = "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
                                 "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}";
    static const char qwen25[] = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
                                 "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou "
                                 "are a helpful assistant.<|im_end|>\\n' }}{%- endif %}";
    static const char odd[] = "{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}";
    CHECK_INT(chat_detect(llama3), CHAT_LLAMA3);
    CHECK_INT(chat_detect(qwen25), CHAT_CHATML);
    CHECK_INT(chat_detect(odd), CHAT_NONE);
    CHECK_INT(chat_detect(NULL), CHAT_NONE);
    char *sys = chat_default_system(qwen25);
    CHECK_STR(sys, "You are a helpful assistant.");
    free(sys);
    CHECK(chat_default_system("{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>' }}") == NULL);
    CHECK_INT(chat_family_parse("llama3"), CHAT_LLAMA3);
    CHECK_INT(chat_family_parse("chatml"), CHAT_CHATML);
    CHECK_INT((int)chat_family_parse("jinja"), -1);
    CHECK_STR(chat_family_name(CHAT_CHATML), "chatml");

    enum chat_family f = CHAT_NONE;
    char err[256] = "";
    CHECK_INT(chat_resolve(llama3, NULL, "chat_template", &f, err, sizeof err), 0);
    CHECK_INT(f, CHAT_LLAMA3);
    CHECK_INT(chat_resolve(odd, "chatml", "chat_template", &f, err, sizeof err), 0);
    CHECK_INT(f, CHAT_CHATML);
    CHECK_INT(chat_resolve(NULL, NULL, "chat_template", &f, err, sizeof err), 0);
    CHECK_INT(f, CHAT_NONE);
    CHECK(chat_resolve(odd, NULL, "chat_template", &f, err, sizeof err) < 0);
    CHECK(strstr(err, "chat_template") != NULL && strstr(err, "llama3") != NULL);
    CHECK(chat_resolve(llama3, "jinja", "--chat-template", &f, err, sizeof err) < 0);
    CHECK(strstr(err, "--chat-template") != NULL && strstr(err, "jinja") != NULL);
}
