/* cli/cli.h: bin/dllm-cli, the tool for checking and debugging models.
 * One file per group of commands; each command takes the arguments after its
 * name and returns the process exit status (0 ok, 1 failure, 2 usage). */
#ifndef DLLM_CLI_H
#define DLLM_CLI_H

#include "engine/engine.h"

int cmd_info(int argc, char **argv);       /* cmd_info.c */
int cmd_tokenize(int argc, char **argv);   /* cmd_tok.c */
int cmd_detokenize(int argc, char **argv); /* cmd_tok.c */
int cmd_logits(int argc, char **argv);     /* cmd_run.c */
int cmd_generate(int argc, char **argv);   /* cmd_run.c */

/* --name VALUE lookup; NULL when absent. */
const char *cli_opt(int argc, char **argv, const char *name);
/* --name present (a flag without a value). */
int cli_flag(int argc, char **argv, const char *name);
/* Opens --model or prints why not (exit status 1 follows). */
struct model *cli_open_model(int argc, char **argv);

#endif
