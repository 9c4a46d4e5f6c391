/* engine/tok/wordpiece.c: BERT's WordPiece over one word: the longest token
 * that starts the rest of the word, continuations spelled with "##"; a word
 * with a part no token covers is [UNK] as a whole. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

#include <stdlib.h>
#include <string.h>

int tok_wordpiece_word(const struct tokenizer *t, const char *w, size_t len, struct tok_ids *out)
{
    size_t nchars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)w[i] & 0xC0) != 0x80) nchars++;
    if (nchars > (size_t)t->wp_max_chars) return t->unk_id >= 0 ? tok_ids_push(out, t->unk_id) : 0;
    size_t plen = strlen(t->wp_prefix);
    char *buf = malloc(plen + len + 1);
    if (!buf) return -1;
    memcpy(buf, t->wp_prefix, plen);
    int first = out->n;
    size_t start = 0;
    while (start < len) {
        size_t end = len;
        int id = -1;
        while (end > start) {
            if (start == 0) id = tok_lookup(t, w, end);
            else {
                memcpy(buf + plen, w + start, end - start);
                id = tok_lookup(t, buf, plen + end - start);
            }
            if (id >= 0) break;
            end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
        }
        if (id < 0) {
            out->n = first;
            free(buf);
            return t->unk_id >= 0 ? tok_ids_push(out, t->unk_id) : 0;
        }
        if (tok_ids_push(out, id)) {
            free(buf);
            return -1;
        }
        start = end;
    }
    free(buf);
    return 0;
}
