/* engine/tok/tok.h: the tokenizer room's door inside the engine: how the
 * model loaders build a tokenizer. Encoding, decoding and chat templates for
 * everyone else are declared in engine/engine.h. */
#ifndef DLLM_TOK_H
#define DLLM_TOK_H

#include "engine/engine.h"

/* A vocabulary as GGUF stores it (tokenizer.ggml.*). */
struct tok_gguf_vocab {
    const char *model;            /* tokenizer.ggml.model: "gpt2", "llama", "bert", ... */
    const char *pre;              /* tokenizer.ggml.pre, or NULL */
    int n_tokens;
    const char *const *tokens;    /* n_tokens strings (NUL-terminated) */
    const float *scores;          /* n_tokens, or NULL */
    const int32_t *types;         /* n_tokens (1 normal, 2 unknown, 3 control, 4 user, 6 byte), or NULL */
    int n_merges;
    const char *const *merges;    /* "a b" strings, rank order */
    int bos_id, eos_id, unk_id, pad_id, mask_id, sep_id, cls_id; /* -1 if absent */
    int add_bos;
    int add_space_prefix;         /* SentencePiece: prepend a space (default 1) */
};

struct tokenizer *tok_load_gguf(const struct tok_gguf_vocab *v, char *err, size_t errlen);
/* tokenizer.json text (Hugging Face tokenizers format). */
struct tokenizer *tok_load_json(const char *json, size_t len, char *err, size_t errlen);
/* llama2.c tokenizer.bin for a model of vocab_size tokens. */
struct tokenizer *tok_load_llama2c(const char *path, int vocab_size, char *err, size_t errlen);
void tok_free(struct tokenizer *t);

/* Special ids and whether plain prompts start with BOS. tokenizer.json has no
 * field for BOS/EOS (tokenizer_config.json does): the loader guesses them from
 * the usual texts (<|begin_of_text|>, <s>, [CLS], ...), and a model loader that
 * knows better sets them. -1: none. */
struct tok_specials {
    int bos_id, eos_id, unk_id, pad_id, mask_id, cls_id, sep_id, eot_id;
    int add_bos;
};
void tok_get_specials(const struct tokenizer *t, struct tok_specials *s);
/* Ids out of range are set to -1. */
void tok_set_specials(struct tokenizer *t, const struct tok_specials *s);
/* The text of one token as it decodes (byte-level mapping undone), or NULL. */
const char *tok_piece(const struct tokenizer *t, int id);

/* ------------------------------------------------- private to engine/tok
 * The tokenizer's insides, shared by the files of engine/tok only. */
#ifdef DLLM_TOK_PRIVATE

#include <stdint.h>

enum tok_kind {
    TOK_BPE,       /* merges ranked by file order (tokenizer.json, GGUF gpt2) */
    TOK_SPM,       /* SentencePiece-style: merge the best-scored pair (llama) */
    TOK_WORDPIECE, /* BERT: greedy longest match, "##" continuations */
};

/* Pre-tokenizer splits (regex of the family, written out by hand). */
enum tok_pre { TOK_PRE_NONE, TOK_PRE_GPT2, TOK_PRE_LLAMA3, TOK_PRE_QWEN2, TOK_PRE_BERT };

#define TOK_F_SPECIAL 1 /* control token: dropped by decode when skip_special */
#define TOK_F_MATCH 2   /* added token: found in the input before pre-tokenization */
#define TOK_F_BYTE 4    /* <0xXX> byte fallback token: text is the one byte */
#define TOK_F_LSTRIP 8  /* added token eats the white space on its left */
#define TOK_F_RSTRIP 16 /* ... and on its right */
#define TOK_F_UNUSED 32 /* no text (hole in the id range) */

/* Largest vocabulary accepted (the largest real ones are ~260k): a corrupt
 * file cannot make the loader allocate gigabytes. */
#define TOK_MAX_VOCAB (1 << 21)

struct tok_piece {
    char *text; /* the bytes the token stands for (byte-level and ▁ undone) */
    int len;
    float score;
    uint8_t flags;
};

struct tokenizer {
    enum tok_kind kind;
    enum tok_pre pre;
    int n;
    struct tok_piece *pieces;
    /* text -> id, open addressing, slot holds id + 1 */
    uint32_t *slots;
    uint32_t cap;
    /* BPE merges: (left id, right id) -> rank, result id */
    uint64_t *mkeys;
    int32_t *mrank, *mres;
    uint32_t mcap;
    int n_merges;
    /* added tokens matched in the input, longest first */
    int32_t *match;
    int n_match;
    int byte_id[256];    /* token of each single byte, -1 when none */
    int byte_level;      /* BPE: first symbols are bytes (GPT-2 style) */
    int ignore_merges;   /* BPE: a word that is a token is taken whole */
    int byte_fallback;   /* unknown characters become <0xXX> tokens */
    int nfc;             /* normalizer: NFC */
    int lowercase, strip_accents, bert_clean, bert_chinese; /* BertNormalizer */
    int prefix_space;    /* 1: prepend " " to each text segment; 2: only if it
                          * does not start with white space (ByteLevel) */
    int decode_strip;    /* decode drops one leading space (SentencePiece) */
    int space_words;     /* no piece has a space after another character, so
                          * unsplit text may be cut before each space run */
    int wp_cleanup;      /* WordPiece decoder's cleanup of spaces before punctuation */
    char wp_prefix[8];   /* WordPiece continuation prefix, "##" */
    int wp_max_chars;
    int unk_id, bos_id, eos_id, pad_id, mask_id, cls_id, sep_id, eot_id;
    int add_bos;         /* the model wants wrap_first before a plain prompt */
    int wrap_first, wrap_last; /* post-processor tokens around a sequence, -1 none */
};

/* vocab.c */
struct tokenizer *tok_alloc(int n, char *err, size_t errlen);
int tok_set_piece(struct tokenizer *t, int id, const char *text, int len, float score, int flags);
/* Builds the text index and the added-token list once every piece is set. */
int tok_index(struct tokenizer *t, char *err, size_t errlen);
int tok_lookup(const struct tokenizer *t, const char *s, size_t len);
int tok_add_merge(struct tokenizer *t, int a, int b, int rank, int res);
int tok_merge_find(const struct tokenizer *t, int a, int b, int *res);
/* Common finish for every loader: special ids sanity, index. */
int tok_finish(struct tokenizer *t, char *err, size_t errlen);

/* A growing id list. */
struct tok_ids {
    int32_t *v;
    int n, cap;
};
int tok_ids_push(struct tok_ids *a, int32_t id);

/* File spellings of piece texts, to the bytes they stand for (malloc'd;
 * NULL when the text is not in that spelling). <0xXX> to its byte value. */
char *tok_from_byte_level(const char *s, size_t len, int *outlen);
char *tok_from_metaspace(const char *s, size_t len, int *outlen);
int tok_parse_byte_piece(const char *s, int *b);

/* utf8.c: UTF-8 and Unicode classes. */
/* Decodes one character at s[*i]; an invalid or cut sequence yields one byte
 * with *cp = 0xFFFD and returns 0. */
int utf8_next(const char *s, size_t len, size_t *i, uint32_t *cp);
int utf8_put(uint32_t cp, char *out); /* up to 4 bytes */
/* Length of the maximal prefix of an ill-formed sequence at s (>= 1), or 0
 * when s starts a well-formed character. need: bytes a cut sequence lacks. */
int utf8_check(const unsigned char *s, size_t len, int *need);
int uni_is_letter(uint32_t c);
int uni_is_number(uint32_t c);
int uni_is_space(uint32_t c);
int uni_is_punct(uint32_t c);
int uni_is_mark_nonspacing(uint32_t c);
int uni_is_control(uint32_t c);
int uni_ccc(uint32_t c);
uint32_t uni_lower(uint32_t c);
/* Appends the canonical decomposition of c (recursive, Hangul included). */
int uni_decompose(uint32_t c, uint32_t *out, int cap);
uint32_t uni_compose(uint32_t a, uint32_t b); /* 0 when none */

/* norm.c: the tokenizer's normalizer over one text segment; malloc'd. */
char *tok_normalize(const struct tokenizer *t, const char *s, size_t len, size_t *outlen);

/* pretok.c: calls fn for each piece [start, end) of s. */
typedef int (*tok_span_fn)(void *ctx, const char *s, size_t start, size_t end);
int tok_pretok(enum tok_pre p, const char *s, size_t len, tok_span_fn fn, void *ctx);

/* bpe.c, wordpiece.c: one word (a pre-tokenizer piece) to ids. */
int tok_bpe_word(const struct tokenizer *t, const char *w, size_t len, struct tok_ids *out);
int tok_wordpiece_word(const struct tokenizer *t, const char *w, size_t len, struct tok_ids *out);

/* decode.c: appends the text of one token as it follows the tokens before it
 * (first: no token was taken before it); 1 taken, 0 skipped, -1 no memory. */
struct tok_buf {
    char *s;
    size_t n, cap;
};
int tok_buf_put(struct tok_buf *b, const char *s, size_t n);
int tok_piece_text(const struct tokenizer *t, int id, int first, int skip_special, struct tok_buf *b);
/* Appends s, every ill-formed UTF-8 sequence replaced by U+FFFD. */
int tok_buf_put_valid(struct tok_buf *b, const char *s, size_t n);

#endif
#endif
