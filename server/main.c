/* dllm-server: the OpenAI-compatible HTTP server. Exit status: 0 after a
 * clean shutdown or --help, 1 when the model cannot be loaded or the port
 * cannot be opened, 2 for a bad setting. */
#include <signal.h>
#include <stdio.h>

#include "config/config.h"
#include "server/server.h"

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    int rc = config_load(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) return 0;
    if (rc < 0) {
        fprintf(stderr, "dllm-server: %s\n", err);
        return 2;
    }
    /* A client that vanishes mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    rc = server_run(&cfg);
    config_free(&cfg);
    return rc;
}
