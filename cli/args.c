/* Argument helpers shared by the CLI commands. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

const char *cli_opt(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

int cli_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

struct model *cli_open_model(int argc, char **argv)
{
    const char *path = cli_opt(argc, argv, "--model");
    if (!path) {
        fprintf(stderr, "dllm-cli: --model PATH is required\n");
        return NULL;
    }
    char err[512];
    struct model *m = NULL;
    if (model_open(path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "dllm-cli: %s\n", err);
        return NULL;
    }
    return m;
}
