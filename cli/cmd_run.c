/* placeholder until the owning work lands: replaced, not kept */
#include "cli/cli.h"
#include <stdio.h>
int cmd_logits(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not built yet\n"); return 1; }
int cmd_generate(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not built yet\n"); return 1; }
