/* engine/tok/tokjson.c: a tokenizer from tokenizer.json (Hugging Face
 * tokenizers' format): model BPE or WordPiece, the added tokens, and the
 * normalizer / pre-tokenizer / decoder / post-processor parts dllm knows. A
 * part it does not know is an error that names it, never a silent guess. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RE_LLAMA3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static int jbool(const cJSON *o, const char *k, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct jstate {
    int metaspace; /* pieces spell spaces as ▁ */
    int byte_level;
};

static int parse_normalizer(struct tokenizer *t, const cJSON *n, struct jstate *st, char *err, size_t errlen)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) goto bad;
    if (!strcmp(type, "Sequence")) {
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
        if (parse_normalizer(t, k, st, err, errlen)) return -1;
        return 0;
    }
    if (!strcmp(type, "NFC")) t->nfc = 1;
    else if (!strcmp(type, "Lowercase")) t->lowercase = 1;
    else if (!strcmp(type, "StripAccents") || !strcmp(type, "NFD")) t->strip_accents |= !strcmp(type, "StripAccents");
    else if (!strcmp(type, "BertNormalizer")) {
        t->bert_clean = jbool(n, "clean_text", 1);
        t->bert_chinese = jbool(n, "handle_chinese_chars", 1);
        t->lowercase = jbool(n, "lowercase", 1);
        t->strip_accents = jbool(n, "strip_accents", t->lowercase);
    } else if (!strcmp(type, "Prepend")) {
        const char *p = jstr(n, "prepend");
        if (!p || (strcmp(p, "\xE2\x96\x81") && strcmp(p, " "))) goto bad;
        t->prefix_space = 1;
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *from = pat ? jstr(pat, "String") : NULL, *to = jstr(n, "content");
        if (!from || !to || strcmp(from, " ") || strcmp(to, "\xE2\x96\x81")) goto bad;
        st->metaspace = 1;
    } else
        goto bad;
    return 0;
bad:
    snprintf(err, errlen, "unsupported normalizer %s", type ? type : "(no type)");
    return -1;
}

static int set_regex(struct tokenizer *t, const char *re, char *err, size_t errlen)
{
    if (!strcmp(re, RE_GPT2)) t->pre = TOK_PRE_GPT2;
    else if (!strcmp(re, RE_LLAMA3)) t->pre = TOK_PRE_LLAMA3;
    else if (!strcmp(re, RE_QWEN2)) t->pre = TOK_PRE_QWEN2;
    else {
        snprintf(err, errlen, "unsupported pre-tokenizer regex %.80s", re);
        return -1;
    }
    return 0;
}

static int parse_pretok(struct tokenizer *t, const cJSON *p, struct jstate *st, char *err, size_t errlen)
{
    if (!p || cJSON_IsNull(p)) return 0;
    const char *type = jstr(p, "type");
    if (!type) goto bad;
    if (!strcmp(type, "Sequence")) {
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"))
        if (parse_pretok(t, k, st, err, errlen)) return -1;
        return 0;
    }
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *re = pat ? jstr(pat, "Regex") : NULL, *beh = jstr(p, "behavior");
        if (!re || (beh && strcmp(beh, "Isolated")) || jbool(p, "invert", 0)) goto bad;
        return set_regex(t, re, err, errlen);
    }
    if (!strcmp(type, "ByteLevel")) {
        st->byte_level = 1;
        if (jbool(p, "add_prefix_space", 1)) t->prefix_space = 2;
        if (jbool(p, "use_regex", 1) && t->pre == TOK_PRE_NONE) t->pre = TOK_PRE_GPT2;
        return 0;
    }
    if (!strcmp(type, "BertPreTokenizer")) {
        t->pre = TOK_PRE_BERT;
        return 0;
    }
    if (!strcmp(type, "Metaspace")) {
        const char *scheme = jstr(p, "prepend_scheme");
        st->metaspace = 1;
        if (jbool(p, "split", 0)) goto bad;
        if ((scheme && strcmp(scheme, "never")) || jbool(p, "add_prefix_space", 0)) t->prefix_space = 1;
        return 0;
    }
bad:
    snprintf(err, errlen, "unsupported pre_tokenizer %s", type ? type : "(no type)");
    return -1;
}

static void parse_decoder(struct tokenizer *t, const cJSON *d, struct jstate *st)
{
    if (!d || cJSON_IsNull(d)) return;
    const char *type = jstr(d, "type");
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(d, "decoders")) parse_decoder(t, k, st);
    } else if (!strcmp(type, "ByteLevel"))
        st->byte_level = 1;
    else if (!strcmp(type, "Strip")) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "start");
        if (cJSON_IsNumber(s) && s->valueint > 0) t->decode_strip = 1;
    } else if (!strcmp(type, "Metaspace")) {
        const char *scheme = jstr(d, "prepend_scheme");
        if ((scheme && strcmp(scheme, "never")) || jbool(d, "add_prefix_space", 0)) t->decode_strip = 1;
    } else if (!strcmp(type, "WordPiece")) {
        const char *pre = jstr(d, "prefix");
        if (pre && strlen(pre) < sizeof t->wp_prefix) strcpy(t->wp_prefix, pre);
        t->wp_cleanup = jbool(d, "cleanup", 1);
    }
}

/* A special token named in a post-processor: ["<s>", 0] or a name. */
static int pp_token(const struct tokenizer *t, const cJSON *v)
{
    if (cJSON_IsArray(v)) {
        const cJSON *id = cJSON_GetArrayItem(v, 1);
        if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < t->n) return (int)id->valuedouble;
        return -1;
    }
    return -1;
}

static void parse_post(struct tokenizer *t, const cJSON *p)
{
    if (!p || cJSON_IsNull(p)) return;
    const char *type = jstr(p, "type");
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(p, "processors")) parse_post(t, k);
    } else if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        t->wrap_first = pp_token(t, cJSON_GetObjectItemCaseSensitive(p, "cls"));
        t->wrap_last = pp_token(t, cJSON_GetObjectItemCaseSensitive(p, "sep"));
        t->add_bos = 1;
    } else if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single"), *it;
        int seen_a = 0;
        cJSON_ArrayForEach(it, single)
        {
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            if (cJSON_GetObjectItemCaseSensitive(it, "Sequence")) {
                seen_a = 1;
                continue;
            }
            const char *name = sp ? jstr(sp, "id") : NULL;
            int id = name ? tok_find(t, name) : -1;
            if (id < 0) continue;
            if (seen_a) t->wrap_last = id;
            else t->wrap_first = id;
            t->add_bos = 1;
        }
    }
}

static int count_ids(const cJSON *vocab, const cJSON *added, int *n, char *err, size_t errlen)
{
    double max = -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab)
    {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= TOK_MAX_VOCAB ||
            v->valuedouble != (int)v->valuedouble) {
            snprintf(err, errlen, "model.vocab: bad id for %.40s", v->string ? v->string : "?");
            return -1;
        }
        if (v->valuedouble > max) max = v->valuedouble;
    }
    cJSON_ArrayForEach(v, added)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= TOK_MAX_VOCAB || !jstr(v, "content")) {
            snprintf(err, errlen, "added_tokens: entry without a valid id and content");
            return -1;
        }
        if (id->valuedouble > max) max = id->valuedouble;
    }
    if (max < 0) {
        snprintf(err, errlen, "model.vocab is empty");
        return -1;
    }
    *n = (int)max + 1;
    return 0;
}

static int set_vocab(struct tokenizer *t, const cJSON *vocab, const struct jstate *st, char *err, size_t errlen)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab)
    {
        const char *s = v->string;
        if (!s) continue;
        size_t len = strlen(s);
        int id = (int)v->valuedouble, n = 0, flags = 0, b;
        char *conv = NULL;
        if (st->byte_level) conv = tok_from_byte_level(s, len, &n);
        else if (st->metaspace) conv = tok_from_metaspace(s, len, &n);
        if (t->byte_fallback && tok_parse_byte_piece(s, &b)) {
            free(conv);
            conv = malloc(1);
            if (conv) conv[0] = (char)b;
            n = 1;
            flags = TOK_F_BYTE;
        }
        int rc = conv ? tok_set_piece(t, id, conv, n, 0, flags) : tok_set_piece(t, id, s, (int)len, 0, flags);
        free(conv);
        if (rc) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int set_added(struct tokenizer *t, const cJSON *added, char *err, size_t errlen)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, added)
    {
        const char *s = jstr(v, "content");
        int id = (int)cJSON_GetObjectItemCaseSensitive(v, "id")->valuedouble;
        int flags = TOK_F_MATCH;
        if (jbool(v, "special", 0)) flags |= TOK_F_SPECIAL;
        if (jbool(v, "lstrip", 0)) flags |= TOK_F_LSTRIP;
        if (jbool(v, "rstrip", 0)) flags |= TOK_F_RSTRIP;
        if (tok_set_piece(t, id, s, (int)strlen(s), 0, flags)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* A merge part (as the file spells it) to its id. */
static int part_id(const struct tokenizer *t, const char *s, size_t len, const struct jstate *st)
{
    int n = 0, id;
    char *conv = NULL;
    if (st->byte_level) conv = tok_from_byte_level(s, len, &n);
    else if (st->metaspace) conv = tok_from_metaspace(s, len, &n);
    id = conv ? tok_lookup(t, conv, (size_t)n) : tok_lookup(t, s, len);
    free(conv);
    return id;
}

static int set_merges(struct tokenizer *t, const cJSON *merges, const struct jstate *st, char *err, size_t errlen)
{
    const cJSON *m;
    int rank = 0;
    char *joined = NULL;
    cJSON_ArrayForEach(m, merges)
    {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp) goto bad;
            a = m->valuestring, la = (size_t)(sp - a);
            b = sp + 1, lb = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            a = cJSON_GetArrayItem(m, 0)->valuestring, la = strlen(a);
            b = cJSON_GetArrayItem(m, 1)->valuestring, lb = strlen(b);
        } else
            goto bad;
        int ia = part_id(t, a, la, st), ib = part_id(t, b, lb, st);
        free(joined);
        joined = malloc(la + lb + 1);
        if (!joined) goto oom;
        memcpy(joined, a, la);
        memcpy(joined + la, b, lb);
        int ir = part_id(t, joined, la + lb, st);
        if (ia < 0 || ib < 0 || ir < 0) {
            snprintf(err, errlen, "model.merges[%d]: a part or the result is not in the vocabulary", rank);
            free(joined);
            return -1;
        }
        if (tok_add_merge(t, ia, ib, rank, ir)) goto oom;
        rank++;
    }
    free(joined);
    return 0;
bad:
    free(joined);
    snprintf(err, errlen, "model.merges[%d]: not \"a b\" nor [a, b]", rank);
    return -1;
oom:
    free(joined);
    snprintf(err, errlen, "out of memory");
    return -1;
}

static struct tokenizer *load(const cJSON *root, char *err, size_t errlen)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const char *type = model ? jstr(model, "type") : NULL;
    if (!cJSON_IsObject(model) || !cJSON_IsObject(vocab)) {
        snprintf(err, errlen, "no model.vocab object");
        return NULL;
    }
    if (!type && cJSON_GetObjectItemCaseSensitive(model, "merges")) type = "BPE";
    if (!type || (strcmp(type, "BPE") && strcmp(type, "WordPiece"))) {
        snprintf(err, errlen, "unsupported model.type %s (BPE and WordPiece are known)", type ? type : "(none)");
        return NULL;
    }
    if (added && !cJSON_IsArray(added)) {
        snprintf(err, errlen, "added_tokens is not an array");
        return NULL;
    }
    int n;
    if (count_ids(vocab, added, &n, err, errlen)) return NULL;
    struct tokenizer *t = tok_alloc(n, err, errlen);
    if (!t) return NULL;
    struct jstate st = {0};
    t->kind = strcmp(type, "WordPiece") ? TOK_BPE : TOK_WORDPIECE;
    strcpy(t->wp_prefix, "##");
    t->wp_cleanup = 1;
    t->byte_fallback = jbool(model, "byte_fallback", 0);
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    if (t->kind == TOK_WORDPIECE) {
        const char *pre = jstr(model, "continuing_subword_prefix");
        if (pre && strlen(pre) < sizeof t->wp_prefix) strcpy(t->wp_prefix, pre);
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
        if (cJSON_IsNumber(mx) && mx->valuedouble >= 1 && mx->valuedouble < 1e6) t->wp_max_chars = (int)mx->valuedouble;
    } else {
        const char *cp = jstr(model, "continuing_subword_prefix"), *ew = jstr(model, "end_of_word_suffix");
        if ((cp && *cp) || (ew && *ew)) {
            snprintf(err, errlen, "unsupported BPE continuing_subword_prefix/end_of_word_suffix");
            goto fail;
        }
    }
    if (parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), &st, err, errlen)) goto fail;
    if (parse_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &st, err, errlen)) goto fail;
    parse_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), &st);
    if (t->kind == TOK_WORDPIECE) st.byte_level = st.metaspace = 0;
    t->byte_level = st.byte_level;
    if (set_vocab(t, vocab, &st, err, errlen) || set_added(t, added, err, errlen)) goto fail;
    if (tok_index(t, err, errlen)) goto fail;
    if (t->kind == TOK_BPE) {
        const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
        if (merges && !cJSON_IsArray(merges)) {
            snprintf(err, errlen, "model.merges is not an array");
            goto fail;
        }
        if (set_merges(t, merges, &st, err, errlen)) goto fail;
    }
    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk_id = tok_find(t, unk);
    parse_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    if (tok_finish(t, err, errlen)) goto fail;
    return t;
fail:
    tok_free(t);
    return NULL;
}

struct tokenizer *tok_load_json(const char *json, size_t len, char *err, size_t errlen)
{
    char sub[200];
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        snprintf(err, errlen, "tokenizer.json: not valid JSON (near byte %ld)",
                 at && at >= json && at <= json + len ? (long)(at - json) : -1L);
        return NULL;
    }
    struct tokenizer *t = NULL;
    if (!cJSON_IsObject(root)) snprintf(sub, sizeof sub, "the top level is not an object");
    else t = load(root, sub, sizeof sub);
    if (!t) snprintf(err, errlen, "tokenizer.json: %s", sub);
    cJSON_Delete(root);
    return t;
}
