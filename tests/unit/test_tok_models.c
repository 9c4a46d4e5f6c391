/* Unit tests of the tokenizer models and loaders on small vocabularies made
 * here: merge ranking, added tokens, SentencePiece scores with byte fallback,
 * WordPiece, the GGUF and llama2.c loaders, streaming decode, bad files. */
#include "engine/engine.h"
#include "engine/tok/tok.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tokenizer *json_tok(const char *json)
{
    char err[256] = "";
    struct tokenizer *t = tok_load_json(json, strlen(json), err, sizeof err);
    if (!t) fprintf(stderr, "    tok_load_json: %s\n", err);
    return t;
}

/* ids of text as "1 2 3" */
static char *ids_str(const struct tokenizer *t, const char *text, int bos)
{
    static char buf[512];
    int32_t *ids;
    int n;
    char err[128];
    buf[0] = 0;
    if (tok_encode(t, text, strlen(text), bos, &ids, &n, err, sizeof err)) return strcpy(buf, "error");
    for (int i = 0; i < n && strlen(buf) < sizeof buf - 16; i++)
        sprintf(buf + strlen(buf), i ? " %d" : "%d", ids[i]);
    free(ids);
    return buf;
}

#define VOCAB_ABC "\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,\"abc\":5"

void test_tok_bpe_merges_by_rank(void)
{
    /* "b c" ranked first: a + bc, then "a bc" -> abc */
    struct tokenizer *t = json_tok("{\"model\":{\"type\":\"BPE\",\"vocab\":{" VOCAB_ABC "},"
                                   "\"merges\":[\"b c\",\"a b\",\"a bc\"]}}");
    CHECK(t != NULL);
    if (!t) return;
    CHECK_STR(ids_str(t, "abc", 0), "5");
    CHECK_STR(ids_str(t, "abcab", 0), "5 3");
    tok_free(t);
    /* "a b" first: ab + c, and no "ab c" merge; pair arrays spell the same */
    t = json_tok("{\"model\":{\"type\":\"BPE\",\"vocab\":{" VOCAB_ABC "},"
                 "\"merges\":[[\"a\",\"b\"],[\"b\",\"c\"],[\"a\",\"bc\"]]}}");
    CHECK(t != NULL);
    if (!t) return;
    CHECK_STR(ids_str(t, "abc", 0), "3 2");
    CHECK_STR(ids_str(t, "bcbc", 0), "4 4");
    tok_free(t);
}

void test_tok_added_tokens_matched_first(void)
{
    struct tokenizer *t = json_tok(
        "{\"added_tokens\":[{\"id\":6,\"content\":\"<x>\",\"special\":true},"
        "{\"id\":7,\"content\":\"<x>>\",\"special\":true},"
        "{\"id\":8,\"content\":\"<m>\",\"special\":true,\"lstrip\":true,\"rstrip\":true},"
        "{\"id\":9,\"content\":\"bca\",\"special\":false}],"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{" VOCAB_ABC ",\" \":10},\"merges\":[\"a b\"]}}");
    CHECK(t != NULL);
    if (!t) return;
    CHECK_STR(ids_str(t, "a<x>b", 0), "0 6 1");
    CHECK_STR(ids_str(t, "<x>>a", 0), "7 0");             /* longest first */
    CHECK_STR(ids_str(t, "a  <m>  b", 0), "0 8 1");         /* lstrip/rstrip eat the spaces */
    CHECK_STR(ids_str(t, "abcab", 0), "0 9 1");             /* added before merges */
    CHECK(tok_is_special(t, 6) && !tok_is_special(t, 9) && !tok_is_special(t, 0));
    CHECK_INT(tok_find(t, "<x>"), 6);
    CHECK_INT(tok_find(t, "nope"), -1);
    char *s = tok_decode(t, (const int32_t[]){0, 6, 1, 9}, 4, 1);
    CHECK_STR(s, "abbca");
    free(s);
    s = tok_decode(t, (const int32_t[]){0, 6, 1}, 3, 0);
    CHECK_STR(s, "a<x>b");
    free(s);
    tok_free(t);
}

/* A llama-style GGUF vocabulary: <unk> <s> </s>, 256 byte tokens, then pieces. */
static struct tokenizer *spm_tok(void)
{
    static const char *extra[] = {"\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab", "\xc3\xa9"};
    static const float extra_score[] = {-1, -2, -3, -4, -5, -1.5f, -6};
    enum { N = 3 + 256 + 7 };
    static char bytes[256][8];
    const char *tokens[N];
    float scores[N];
    int32_t types[N];
    tokens[0] = "<unk>", tokens[1] = "<s>", tokens[2] = "</s>";
    types[0] = 2, types[1] = types[2] = 3;
    scores[0] = scores[1] = scores[2] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        tokens[3 + b] = bytes[b];
        types[3 + b] = 6;
        scores[3 + b] = 0;
    }
    for (int i = 0; i < 7; i++) {
        tokens[259 + i] = extra[i];
        types[259 + i] = 1;
        scores[259 + i] = extra_score[i];
    }
    struct tok_gguf_vocab v = {.model = "llama", .n_tokens = N, .tokens = tokens, .scores = scores, .types = types,
                               .bos_id = 1, .eos_id = 2, .unk_id = 0, .pad_id = -1, .mask_id = -1, .sep_id = -1,
                               .cls_id = -1, .add_bos = 1, .add_space_prefix = 1};
    char err[256] = "";
    struct tokenizer *t = tok_load_gguf(&v, err, sizeof err);
    if (!t) fprintf(stderr, "    tok_load_gguf: %s\n", err);
    return t;
}

void test_tok_spm_scores_and_byte_fallback(void)
{
    struct tokenizer *t = spm_tok();
    CHECK(t != NULL);
    if (!t) return;
    /* " ab": "▁ab" (-1.5) beats building from "ab" (-5) */
    CHECK_STR(ids_str(t, "ab", 1), "1 264");
    CHECK_STR(ids_str(t, "ab b", 0), "264 259 261");
    /* é is a piece; ü is not: its two bytes */
    CHECK_STR(ids_str(t, "\xc3\xa9\xc3\xbc", 0), "259 265 198 191");
    /* <s> in the text is the control token */
    CHECK_STR(ids_str(t, "<s>a", 0), "1 262");
    char *s = tok_decode(t, (const int32_t[]){1, 264, 259, 261, 198, 191}, 6, 1);
    CHECK_STR(s, "ab b\xc3\xbc"); /* the leading space of the first piece goes */
    free(s);
    tok_free(t);
}

void test_tok_stream_never_splits_a_character(void)
{
    struct tokenizer *t = spm_tok();
    CHECK(t != NULL);
    if (!t) return;
    struct tok_stream *s = tok_stream_new(t, 1);
    const int32_t ids[] = {1, 262, 3 + 0xE2, 3 + 0x82, 3 + 0xAC, 3 + 0xFF, 3 + 0xC3, 3 + 0xC3, 3 + 0xA9, 3 + 0xF0, 3 + 0x9F};
    const char *want[] = {"", "a", "", "", "\xe2\x82\xac", "\xef\xbf\xbd", "", "\xef\xbf\xbd", "\xc3\xa9", "", ""};
    for (int i = 0; i < 11; i++) {
        char *p = tok_stream_push(s, &ids[i], 1);
        CHECK_STR(p, want[i]);
        free(p);
    }
    char *p = tok_stream_flush(s); /* the cut emoji: one U+FFFD */
    CHECK_STR(p, "\xef\xbf\xbd");
    free(p);
    tok_stream_free(s);
    char *all = tok_decode(t, ids, 11, 1);
    CHECK_STR(all, "a\xe2\x82\xac\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd");
    free(all);
    tok_free(t);
}

void test_tok_gguf_gpt2_byte_level(void)
{
    /* GPT-2 spelling: Ġ is the space byte */
    static char chars[256][4];
    const char *tokens[256 + 3];
    int32_t types[256 + 3];
    int n = 0;
    /* token b is byte b, spelled as GPT-2 does: printable bytes as themselves,
     * the rest from U+0100 on */
    int shifted = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)shifted++;
        if (cp < 0x80) chars[b][0] = (char)cp, chars[b][1] = 0;
        else chars[b][0] = (char)(0xC0 | (cp >> 6)), chars[b][1] = (char)(0x80 | (cp & 0x3F)), chars[b][2] = 0;
        tokens[n] = chars[b];
        types[n++] = 1;
    }
    tokens[n] = "\xc4\xa0t", types[n++] = 1;        /* "Ġt" = " t" */
    tokens[n] = "\xc4\xa0the", types[n++] = 1;      /* never reached: no merge makes it */
    tokens[n] = "<|endoftext|>", types[n++] = 3;
    const char *merges[] = {"\xc4\xa0 t"};
    struct tok_gguf_vocab v = {.model = "gpt2", .pre = "gpt-2", .n_tokens = n, .tokens = tokens, .types = types,
                               .n_merges = 1, .merges = merges, .bos_id = n - 1, .eos_id = n - 1, .unk_id = -1,
                               .pad_id = -1, .mask_id = -1, .sep_id = -1, .cls_id = -1};
    char err[256] = "";
    struct tokenizer *t = tok_load_gguf(&v, err, sizeof err);
    CHECK(t != NULL);
    if (!t) return;
    CHECK_STR(ids_str(t, "a t", 0), "97 256");
    CHECK_STR(ids_str(t, "x<|endoftext|>", 0), "120 258");
    CHECK_STR(ids_str(t, "\n\xff", 0), "10 255");
    CHECK_INT(tok_find(t, " t"), 256);
    char *s = tok_decode(t, (const int32_t[]){97, 256, 258}, 3, 0);
    CHECK_STR(s, "a t<|endoftext|>");
    free(s);
    tok_free(t);
    v.pre = "no-such-pre";
    t = tok_load_gguf(&v, err, sizeof err);
    CHECK(t == NULL && strstr(err, "no-such-pre") != NULL);
    v.pre = "gpt-2";
    v.model = "t5";
    t = tok_load_gguf(&v, err, sizeof err);
    CHECK(t == NULL && strstr(err, "t5") != NULL);
}

void test_tok_wordpiece(void)
{
    struct tokenizer *t = json_tok(
        "{\"added_tokens\":[{\"id\":0,\"content\":\"[UNK]\",\"special\":true},"
        "{\"id\":1,\"content\":\"[CLS]\",\"special\":true},{\"id\":2,\"content\":\"[SEP]\",\"special\":true},"
        "{\"id\":3,\"content\":\"[MASK]\",\"special\":true}],"
        "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},"
        "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
        "\"post_processor\":{\"type\":\"BertProcessing\",\"cls\":[\"[CLS]\",1],\"sep\":[\"[SEP]\",2]},"
        "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
        "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,"
        "\"[MASK]\":3,\"un\":4,\"##aff\":5,\"##able\":6,\"cafe\":7,\",\":8,\"!\":9,\"play\":10,\"##s\":11}}}");
    CHECK(t != NULL);
    if (!t) return;
    CHECK_STR(ids_str(t, "Unaffable, CAF\xc3\x89 plays!", 0), "4 5 6 8 7 10 11 9");
    CHECK_STR(ids_str(t, "un [MASK] xyz", 1), "1 4 3 0 2");
    char *s = tok_decode(t, (const int32_t[]){1, 4, 5, 6, 8, 7, 10, 11, 9, 2}, 10, 1);
    CHECK_STR(s, "unaffable, cafe plays!");
    free(s);
    tok_free(t);
}

void test_tok_json_errors_are_clear(void)
{
    static const char *bad[] = {
        "",
        "{",
        "[1,2]",
        "{\"model\":{}}",
        "{\"model\":{\"type\":\"Unigram\",\"vocab\":{\"a\":0}}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1}}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1e12}}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a q\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"nospace\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":7}}",
        "{\"added_tokens\":[{\"id\":\"x\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
        "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"}},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
        "{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        struct tokenizer *t = tok_load_json(bad[i], strlen(bad[i]), err, sizeof err);
        CHECK(t == NULL);
        CHECK(strncmp(err, "tokenizer.json: ", 16) == 0 && strlen(err) > 20);
        tok_free(t);
    }
}

void test_tok_llama2c_story_round_trip(void)
{
    const char *sh = check_shared_dir();
    if (!sh) {
        check_skip("shared/models/stories260K not found");
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/models/stories260K/tok512.bin", sh);
    char err[256] = "";
    struct tokenizer *t = tok_load_llama2c(path, 512, err, sizeof err);
    CHECK(t != NULL);
    if (!t) return;
    const char *text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.\n"
                       "Lily's mom said, \"Lily, let's go to the park.\"";
    int32_t *ids;
    int n;
    CHECK_INT(tok_encode(t, text, strlen(text), 1, &ids, &n, err, sizeof err), 0);
    CHECK(n > 10 && ids[0] == 1);
    char *back = tok_decode(t, ids, n, 1);
    CHECK_STR(back, text);
    free(back);
    free(ids);
    tok_free(t);
    t = tok_load_llama2c(path, 100000, err, sizeof err); /* more tokens than the file has */
    CHECK(t == NULL && strstr(err, "truncated") != NULL);
    t = tok_load_llama2c("/nonexistent/tok.bin", 512, err, sizeof err);
    CHECK(t == NULL && strstr(err, "/nonexistent/tok.bin") != NULL);
}

void test_tok_gguf_bert_phantom_space(void)
{
    /* llama.cpp writes BERT vocabularies with ▁ on word starts and no "##" */
    const char *tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\xe2\x96\x81un", "aff", "able",
                            "\xe2\x96\x81,", "\xe2\x96\x81" "cafe"};
    const int32_t types[] = {3, 3, 3, 3, 3, 1, 1, 1, 1, 1};
    struct tok_gguf_vocab v = {.model = "bert", .n_tokens = 10, .tokens = tokens, .types = types, .bos_id = -1,
                               .eos_id = -1, .unk_id = 1, .pad_id = 0, .mask_id = 4, .sep_id = 3, .cls_id = 2,
                               .add_bos = 1};
    char err[256] = "";
    struct tokenizer *t = tok_load_gguf(&v, err, sizeof err);
    CHECK(t != NULL);
    if (!t) return;
    CHECK_STR(ids_str(t, "Unaffable, CAF\xc3\x89", 0), "5 6 7 8 9");
    CHECK_STR(ids_str(t, "un [MASK] zz", 1), "2 5 4 1 3");
    char *s = tok_decode(t, (const int32_t[]){2, 5, 6, 7, 8, 9, 3}, 7, 1);
    CHECK_STR(s, "unaffable, cafe");
    free(s);
    tok_free(t);
}
