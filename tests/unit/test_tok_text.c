/* Unit tests of the tokenizer's text layer: UTF-8, normalizers, pre-tokenizer
 * splits. Expected splits are worked out by hand from the regexes in
 * engine/tok/pretok.c. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <string.h>

void test_tok_utf8_check(void)
{
    int need;
    CHECK_INT(utf8_check((const unsigned char *)"a", 1, &need), 0);
    CHECK_INT(utf8_check((const unsigned char *)"\xc3\xa9", 2, &need), 0);
    CHECK_INT(utf8_check((const unsigned char *)"\xc3", 1, &need), 1);
    CHECK_INT(need, 1);                                                       /* cut: may complete */
    CHECK_INT(utf8_check((const unsigned char *)"\xc3(", 2, &need), 1);       /* broken */
    CHECK_INT(need, 0);
    CHECK_INT(utf8_check((const unsigned char *)"\xff", 1, &need), 1);
    CHECK_INT(utf8_check((const unsigned char *)"\xed\xa0\x80", 3, &need), 1); /* surrogate */
    CHECK_INT(utf8_check((const unsigned char *)"\xe0\x80\x80", 3, &need), 1); /* overlong */
    CHECK_INT(utf8_check((const unsigned char *)"\xf0\x9f\x98", 3, &need), 3);
    CHECK_INT(need, 1);
    CHECK_INT(utf8_check((const unsigned char *)"\xf4\x90\x80\x80", 4, &need), 1); /* > U+10FFFF */
}

void test_tok_unicode_classes(void)
{
    CHECK(uni_is_letter('q') && uni_is_letter(0xE9) && uni_is_letter(0x65E5) && uni_is_letter(0x3B1));
    CHECK(!uni_is_letter('1') && !uni_is_letter(' ') && !uni_is_letter(0x1F600));
    CHECK(uni_is_number('7') && uni_is_number(0xB2) && uni_is_number(0x216B) && uni_is_number(0xFF11));
    CHECK(uni_is_space(0xA0) && uni_is_space(0x3000) && uni_is_space(0x2009) && !uni_is_space(0x200B));
    CHECK(uni_is_mark_nonspacing(0x301) && !uni_is_mark_nonspacing('a'));
    CHECK_INT(uni_ccc(0x301), 230);
    CHECK_INT(uni_ccc(0x323), 220);
    CHECK_INT((int)uni_lower('Q'), 'q');
    CHECK_INT((int)uni_lower(0xC9), 0xE9);
    CHECK_INT((int)uni_lower(0x391), 0x3B1);
}

static char *norm(struct tokenizer *t, const char *s)
{
    size_t n;
    return tok_normalize(t, s, strlen(s), &n);
}

static void check_norm(struct tokenizer *t, const char *in, const char *want)
{
    char *got = norm(t, in);
    CHECK_STR(got, want);
    free(got);
}

void test_tok_nfc(void)
{
    char err[128];
    struct tokenizer *t = tok_alloc(1, err, sizeof err);
    t->nfc = 1;
    check_norm(t, "e\xcc\x81", "\xc3\xa9");                            /* e + acute -> é */
    check_norm(t, "A\xcc\x8a", "\xc3\x85");                            /* A + ring -> Å */
    check_norm(t, "\xe2\x84\xab", "\xc3\x85");                         /* Angstrom sign -> Å */
    check_norm(t, "a\xcc\x82\xcc\xa3", "\xe1\xba\xad");                /* a + ^ + dot below -> ậ */
    check_norm(t, "a\xcc\xa3\xcc\x82", "\xe1\xba\xad");                /* other order, same */
    check_norm(t, "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"); /* jamo -> 각 */
    check_norm(t, "a\xff" "b\xc3", "a\xff" "b\xc3");                   /* ill-formed bytes pass */
    check_norm(t, "plain ascii", "plain ascii");
    tok_free(t);
}

void test_tok_bert_normalizer(void)
{
    char err[128];
    struct tokenizer *t = tok_alloc(1, err, sizeof err);
    t->bert_clean = t->bert_chinese = t->lowercase = t->strip_accents = 1;
    check_norm(t, "Caf\xc3\xa9 \xc3\x89" "COLE", "cafe ecole");
    check_norm(t, "a\tb\x01" "c", "a bc");
    check_norm(t, "x\xe6\x97\xa5\xe6\x9c\xacy", "x \xe6\x97\xa5  \xe6\x9c\xac y");
    tok_free(t);
}

struct spans {
    char out[512];
};

static int collect(void *ctx, const char *s, size_t a, size_t b)
{
    struct spans *sp = ctx;
    size_t n = strlen(sp->out);
    if (n + (b - a) + 2 >= sizeof sp->out) return -1;
    memcpy(sp->out + n, s + a, b - a);
    sp->out[n + (b - a)] = '|';
    sp->out[n + (b - a) + 1] = 0;
    return 0;
}

static void check_split(enum tok_pre p, const char *in, const char *want)
{
    struct spans sp = {{0}};
    CHECK_INT(tok_pretok(p, in, strlen(in), collect, &sp), 0);
    CHECK_STR(sp.out, want);
}

void test_tok_pretok_gpt2(void)
{
    check_split(TOK_PRE_GPT2, "Hello world", "Hello| world|");
    check_split(TOK_PRE_GPT2, "it's  12345!!", "it|'s| | 12345|!!|");
    check_split(TOK_PRE_GPT2, "a   b", "a|  | b|");
    check_split(TOK_PRE_GPT2, "x\n\n y ", "x|\n\n| y| |");
    check_split(TOK_PRE_GPT2, "IT'S", "IT|'|S|"); /* case-sensitive contractions */
}

void test_tok_pretok_llama3(void)
{
    check_split(TOK_PRE_LLAMA3, "Hello world", "Hello| world|");
    check_split(TOK_PRE_LLAMA3, "IT'S 1234567", "IT|'S| |123|456|7|");
    check_split(TOK_PRE_LLAMA3, "a \n\n  b", "a| \n\n| | b|");
    check_split(TOK_PRE_LLAMA3, "(x)...\n\ny", "(x|)...\n\n|y|");
    check_split(TOK_PRE_LLAMA3, "\tword", "\tword|");
    check_split(TOK_PRE_QWEN2, "x 123", "x| |1|2|3|");
}

void test_tok_pretok_bert(void)
{
    check_split(TOK_PRE_BERT, "  Hello,world! a-b  ", "Hello|,|world|!|a|-|b|");
}
