/* engine/tok/chat.c: chat templates without Jinja. The two families dllm
 * serves are recognised in the model's template text and rendered here the
 * way their templates render them:
 *   Llama 3 (LLaDA-Instruct): BOS, then per message
 *     <|start_header_id|>ROLE<|end_header_id|>\n\n + content.strip() + <|eot_id|>
 *   and always <|start_header_id|>assistant<|end_header_id|>\n\n at the end.
 *   ChatML (Qwen2.5, Dream): a system turn (the default one when the first
 *   message is not a system message), then per message
 *     <|im_start|>ROLE\n + content + <|im_end|>\n
 *   and <|im_start|>assistant\n at the end. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char QWEN25_SYSTEM[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

enum chat_family chat_detect(const char *tpl)
{
    if (!tpl) return CHAT_NONE;
    if (strstr(tpl, "<|start_header_id|>") && strstr(tpl, "<|end_header_id|>") && strstr(tpl, "<|eot_id|>"))
        return CHAT_LLAMA3;
    if (strstr(tpl, "<|im_start|>") && strstr(tpl, "<|im_end|>")) return CHAT_CHATML;
    return CHAT_NONE;
}

const char *chat_family_name(enum chat_family f)
{
    switch (f) {
    case CHAT_LLAMA3: return "llama3";
    case CHAT_CHATML: return "chatml";
    case CHAT_NONE: return "none";
    }
    return "unknown";
}

enum chat_family chat_family_parse(const char *name)
{
    if (!name) return (enum chat_family)-1;
    if (!strcmp(name, "llama3") || !strcmp(name, "llama-3") || !strcmp(name, "llada")) return CHAT_LLAMA3;
    if (!strcmp(name, "chatml") || !strcmp(name, "qwen") || !strcmp(name, "dream")) return CHAT_CHATML;
    if (!strcmp(name, "none")) return CHAT_NONE;
    return (enum chat_family)-1;
}

int chat_resolve(const char *tpl, const char *override, const char *override_name, enum chat_family *out,
                 char *err, size_t errlen)
{
    const char *key = override_name ? override_name : "the chat template override";
    if (override && *override) {
        enum chat_family f = chat_family_parse(override);
        if ((int)f < 0) {
            snprintf(err, errlen, "%s: unknown chat template family '%s' (llama3, chatml or none)", key, override);
            return -1;
        }
        *out = f;
        return 0;
    }
    if (!tpl || !*tpl) {
        *out = CHAT_NONE;
        return 0;
    }
    *out = chat_detect(tpl);
    if (*out == CHAT_NONE) {
        snprintf(err, errlen,
                 "the model's chat template is not one dllm knows (Llama-3 style or ChatML); "
                 "set %s to llama3, chatml or none",
                 key);
        return -1;
    }
    return 0;
}

char *chat_default_system(const char *tpl)
{
    static const char head[] = "<|im_start|>system\\n";
    for (const char *p = tpl ? strstr(tpl, head) : NULL; p; p = strstr(p + 1, head)) {
        const char *s = p + strlen(head), *e = strstr(s, "<|im_end|>");
        if (!e || e == s) continue;
        size_t n = (size_t)(e - s);
        if (memchr(s, '\'', n) || memchr(s, '"', n) || memchr(s, '{', n) || memchr(s, '\\', n)) continue;
        char *r = malloc(n + 1);
        if (!r) return NULL;
        memcpy(r, s, n);
        r[n] = 0;
        return r;
    }
    return NULL;
}

static int put(struct tok_buf *b, const char *s) { return tok_buf_put(b, s, strlen(s)); }

/* Python's str.strip(): white space off both ends. */
static int put_stripped(struct tok_buf *b, const char *s)
{
    size_t len = strlen(s), a = 0, e = len;
    while (a < len) {
        size_t i = a;
        uint32_t c;
        if (!utf8_next(s, len, &i, &c) || !uni_is_space(c)) break;
        a = i;
    }
    while (e > a) {
        size_t st = e - 1;
        while (st > a && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
        size_t i = st;
        uint32_t c;
        if (!utf8_next(s, len, &i, &c) || i != e || !uni_is_space(c)) break;
        e = st;
    }
    return tok_buf_put(b, s + a, e - a);
}

char *chat_render_sys(enum chat_family f, const struct tokenizer *t, const struct chat_msg *msgs, int n,
                      const char *default_system)
{
    struct tok_buf b = {0};
    int rc = put(&b, "");
    if (f == CHAT_LLAMA3) {
        const char *bos = t && t->bos_id >= 0 ? tok_piece(t, t->bos_id) : NULL;
        if (bos) rc |= put(&b, bos);
        for (int i = 0; i < n; i++) {
            rc |= put(&b, "<|start_header_id|>");
            rc |= put(&b, msgs[i].role ? msgs[i].role : "user");
            rc |= put(&b, "<|end_header_id|>\n\n");
            rc |= put_stripped(&b, msgs[i].content ? msgs[i].content : "");
            rc |= put(&b, "<|eot_id|>");
        }
        rc |= put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    } else if (f == CHAT_CHATML) {
        if ((n == 0 || !msgs[0].role || strcmp(msgs[0].role, "system")) && default_system) {
            rc |= put(&b, "<|im_start|>system\n");
            rc |= put(&b, default_system);
            rc |= put(&b, "<|im_end|>\n");
        }
        for (int i = 0; i < n; i++) {
            rc |= put(&b, "<|im_start|>");
            rc |= put(&b, msgs[i].role ? msgs[i].role : "user");
            rc |= put(&b, "\n");
            rc |= put(&b, msgs[i].content ? msgs[i].content : "");
            rc |= put(&b, "<|im_end|>\n");
        }
        rc |= put(&b, "<|im_start|>assistant\n");
    } else {
        for (int i = 0; i < n; i++) {
            if (i) rc |= put(&b, "\n");
            rc |= put(&b, msgs[i].content ? msgs[i].content : "");
        }
    }
    if (rc) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

char *chat_render(enum chat_family f, const struct tokenizer *t, const struct chat_msg *msgs, int n)
{
    return chat_render_sys(f, t, msgs, n, f == CHAT_CHATML ? QWEN25_SYSTEM : NULL);
}
