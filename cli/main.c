/* bin/dllm-cli: model inspection, tokenization, logits and simple generation. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"info", cmd_info, "info --model PATH                 architecture, dims, vocab, special ids, tensors"},
    {"tokenize", cmd_tokenize, "tokenize --model PATH --text STR    prints ids separated by spaces"},
    {"detokenize", cmd_detokenize, "detokenize --model PATH --ids \"1 2 3\""},
    {"logits", cmd_logits, "logits --model PATH --ids \"1 2 3\" [--causal] [--sigma S] --out FILE"},
    {"generate", cmd_generate,
     "generate --model PATH --prompt TEXT [--causal] [--max-tokens N] [--temperature T] [--seed S]"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: dllm-cli COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].help);
    fprintf(f, "\nPATH: a GGUF file, a Hugging Face directory, a llama2.c checkpoint directory,\n"
               "or (tokenize/detokenize) a tokenizer.json.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "dllm-cli: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
