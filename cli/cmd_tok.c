/* dllm-cli tokenize / detokenize: a model's tokenizer from the command line.
 * --model is a model path (GGUF, Hugging Face directory, llama2.c directory)
 * or a tokenizer.json alone. */
#include "cli/cli.h"
#include "engine/tok/tok.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* The tokenizer behind --model: a tokenizer.json file directly, else the
 * model's own. *m is set when a model was opened (free it after use). */
static const struct tokenizer *open_tok(int argc, char **argv, struct model **m, struct tokenizer **own)
{
    const char *path = cli_opt(argc, argv, "--model");
    size_t pl = path ? strlen(path) : 0;
    struct stat st;
    *m = NULL;
    *own = NULL;
    if (path && pl >= 5 && strcmp(path + pl - 5, ".json") == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        size_t len;
        char *text = read_file(path, &len);
        if (!text) {
            fprintf(stderr, "dllm-cli: %s: %s\n", path, strerror(errno));
            return NULL;
        }
        char err[512];
        *own = tok_load_json(text, len, err, sizeof err);
        free(text);
        if (!*own) fprintf(stderr, "dllm-cli: %s: %s\n", path, err);
        return *own;
    }
    *m = cli_open_model(argc, argv);
    if (!*m) return NULL;
    if (!(*m)->tok) fprintf(stderr, "dllm-cli: %s has no tokenizer\n", path);
    return (*m)->tok;
}

static void close_tok(struct model *m, struct tokenizer *own)
{
    if (m) model_free(m);
    tok_free(own);
}

static void print_ids(const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
}

/* --json-lines FILE: one JSON string literal per line ('#' lines skipped),
 * one line of ids out per string; for tests that compare many strings. */
static int tokenize_lines(const struct tokenizer *t, const char *file, int add_bos)
{
    size_t len;
    char *buf = read_file(file, &len);
    if (!buf) {
        fprintf(stderr, "dllm-cli: %s: %s\n", file, strerror(errno));
        return 1;
    }
    int rc = 0, lineno = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        if (*line == '#' || *line == 0) continue;
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsString(j)) {
            fprintf(stderr, "dllm-cli: %s:%d: not a JSON string\n", file, lineno);
            cJSON_Delete(j);
            rc = 1;
            break;
        }
        int32_t *ids;
        int n;
        char err[256];
        if (tok_encode(t, j->valuestring, strlen(j->valuestring), add_bos, &ids, &n, err, sizeof err)) {
            fprintf(stderr, "dllm-cli: %s:%d: %s\n", file, lineno, err);
            rc = 1;
        } else {
            print_ids(ids, n);
            free(ids);
        }
        cJSON_Delete(j);
    }
    free(buf);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *text = cli_opt(argc, argv, "--text"), *file = cli_opt(argc, argv, "--text-file");
    const char *lines = cli_opt(argc, argv, "--json-lines");
    if ((text != NULL) + (file != NULL) + (lines != NULL) != 1) {
        fprintf(stderr, "usage: dllm-cli tokenize --model PATH (--text STR | --text-file FILE | --json-lines FILE) [--bos]\n");
        return 2;
    }
    struct model *m;
    struct tokenizer *own;
    const struct tokenizer *t = open_tok(argc, argv, &m, &own);
    if (!t) {
        close_tok(m, own);
        return 1;
    }
    if (lines) {
        int rc = tokenize_lines(t, lines, cli_flag(argc, argv, "--bos"));
        close_tok(m, own);
        return rc;
    }
    char *buf = NULL;
    size_t len = text ? strlen(text) : 0;
    if (file && !(buf = read_file(file, &len))) {
        fprintf(stderr, "dllm-cli: %s: %s\n", file, strerror(errno));
        close_tok(m, own);
        return 1;
    }
    int32_t *ids;
    int n;
    char err[256];
    int rc = tok_encode(t, buf ? buf : text, len, cli_flag(argc, argv, "--bos"), &ids, &n, err, sizeof err);
    if (rc == 0) {
        print_ids(ids, n);
        free(ids);
    } else
        fprintf(stderr, "dllm-cli: %s\n", err);
    free(buf);
    close_tok(m, own);
    return rc ? 1 : 0;
}

/* "1 2 3" (spaces or commas) to ids; 0, or -1 with a message printed. */
static int parse_ids(const char *list, int32_t **out, int *count)
{
    int cap = 16, n = 0;
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    for (const char *p = list; ids;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "dllm-cli: --ids: not a token id at '%.20s'\n", p);
            free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *b = realloc(ids, sizeof *ids * (size_t)(cap *= 2));
            if (!b) free(ids);
            ids = b;
            if (!ids) break;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (!ids) {
        fprintf(stderr, "dllm-cli: out of memory\n");
        return -1;
    }
    *out = ids;
    *count = n;
    return 0;
}

/* Whole, or one id at a time through a stream as a server sends it: the
 * pieces must add up to the same text. */
static char *decode_ids(const struct tokenizer *t, const int32_t *ids, int n, int skip, int stream)
{
    if (!stream) return tok_decode(t, ids, n, skip);
    struct tok_stream *s = tok_stream_new(t, skip);
    char *out = calloc(1, 1);
    size_t len = 0;
    int ok = s && out;
    for (int i = 0; ok && i <= n; i++) {
        char *piece = i < n ? tok_stream_push(s, &ids[i], 1) : tok_stream_flush(s);
        size_t pl = piece ? strlen(piece) : 0;
        char *grown = piece ? realloc(out, len + pl + 1) : NULL;
        if (grown) {
            memcpy(grown + len, piece, pl + 1);
            out = grown;
            len += pl;
        }
        ok = grown != NULL;
        free(piece);
    }
    tok_stream_free(s);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *list = cli_opt(argc, argv, "--ids"), *lines = cli_opt(argc, argv, "--ids-lines");
    if (!list == !lines) {
        fprintf(stderr, "usage: dllm-cli detokenize --model PATH (--ids \"1 2 3\" | --ids-lines FILE)"
                        " [--skip-special] [--stream]\n");
        return 2;
    }
    int32_t *ids = NULL;
    int n = 0;
    if (list && parse_ids(list, &ids, &n)) return 2;
    struct model *m;
    struct tokenizer *own;
    const struct tokenizer *t = open_tok(argc, argv, &m, &own);
    if (!t) {
        free(ids);
        close_tok(m, own);
        return 1;
    }
    int skip = cli_flag(argc, argv, "--skip-special"), stream = cli_flag(argc, argv, "--stream"), rc = 0;
    if (list) {
        char *text = decode_ids(t, ids, n, skip, stream);
        if (text) fputs(text, stdout);
        else rc = 1;
        free(text);
        free(ids);
        close_tok(m, own);
        return rc;
    }
    /* --ids-lines: one id list per line in, one JSON string per line out */
    size_t len;
    char *buf = read_file(lines, &len);
    if (!buf) {
        fprintf(stderr, "dllm-cli: %s: %s\n", lines, strerror(errno));
        close_tok(m, own);
        return 1;
    }
    for (char *line = buf, *next; rc == 0 && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (parse_ids(line, &ids, &n)) {
            rc = 2;
            break;
        }
        char *text = decode_ids(t, ids, n, skip, stream);
        free(ids);
        cJSON *j = text ? cJSON_CreateString(text) : NULL;
        char *q = j ? cJSON_PrintUnformatted(j) : NULL;
        if (q) printf("%s\n", q);
        else rc = 1;
        free(q);
        cJSON_Delete(j);
        free(text);
    }
    free(buf);
    close_tok(m, own);
    return rc;
}
