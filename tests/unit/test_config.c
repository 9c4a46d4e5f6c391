#include "config/config.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(struct config *c, int argc, char **argv, char *err)
{
    return config_load(c, argc, argv, err, 256);
}

void test_config_defaults(void)
{
    struct config c;
    char err[256] = "";
    char *argv[] = {"dllm-server"};
    unsetenv("DLLM_CONFIG");
    unsetenv("DLLM_PORT");
    CHECK_INT(load(&c, 1, argv, err), 0);
    CHECK_STR(c.host, "127.0.0.1");
    CHECK_INT(c.port, 8080);
    CHECK(c.api_key == NULL);
    CHECK_STR(c.backend, "cpu");
    config_free(&c);
}

void test_config_precedence_file_env_flag(void)
{
    const char *path = "tests/out/test_config.json";
    FILE *f = fopen(path, "w");
    if (!CHECK(f != NULL))
        return;
    fputs("{\"server\": {\"port\": 9001, \"host\": \"0.0.0.0\", \"threads\": 3}, \"sampling\": {\"temperature\": 0.5}}", f);
    fclose(f);
    struct config c;
    char err[256] = "";
    char *argv[] = {"dllm-server", "--config", (char *)path, "--port", "9003", "-t", "2"};
    setenv("DLLM_PORT", "9002", 1);
    setenv("DLLM_HOST", "127.0.0.2", 1);
    CHECK_INT(load(&c, 7, argv, err), 0);
    CHECK_INT(c.port, 9003);       /* flag beats env and file */
    CHECK_STR(c.host, "127.0.0.2"); /* env beats file */
    CHECK_INT(c.threads, 2);
    CHECK_NEAR(c.temperature, 0.5, 1e-12); /* file beats default */
    config_free(&c);
    unsetenv("DLLM_PORT");
    unsetenv("DLLM_HOST");
}

void test_config_bad_values_name_the_key(void)
{
    struct config c;
    char err[256] = "";
    char *a1[] = {"dllm-server", "--port", "70000"};
    CHECK_INT(load(&c, 3, a1, err), -1);
    CHECK(strstr(err, "port") && strstr(err, "range"));
    config_free(&c);
    char *a2[] = {"dllm-server", "--backend", "tpu"};
    CHECK_INT(load(&c, 3, a2, err), -1);
    CHECK(strstr(err, "backend") && strstr(err, "cpu|cuda"));
    config_free(&c);
    char *a3[] = {"dllm-server", "--no-such-flag", "1"};
    CHECK_INT(load(&c, 3, a3, err), -1);
    CHECK(strstr(err, "--no-such-flag") != NULL);
    config_free(&c);
    char *a4[] = {"dllm-server", "--threads", "two"};
    CHECK_INT(load(&c, 3, a4, err), -1);
    CHECK(strstr(err, "threads") && strstr(err, "not a number"));
    config_free(&c);
    setenv("DLLM_MAX_QUEUE", "0", 1);
    char *a5[] = {"dllm-server"};
    CHECK_INT(load(&c, 1, a5, err), -1);
    CHECK(strstr(err, "max_queue") && strstr(err, "DLLM_MAX_QUEUE"));
    unsetenv("DLLM_MAX_QUEUE");
    config_free(&c);
}

void test_config_file_errors(void)
{
    const char *path = "tests/out/test_config_bad.json";
    FILE *f = fopen(path, "w");
    if (!CHECK(f != NULL))
        return;
    fputs("{\"server\": {\"port\": \"eighty\"}}", f);
    fclose(f);
    struct config c;
    char err[256] = "";
    char *argv[] = {"dllm-server", "--config", (char *)path};
    CHECK_INT(load(&c, 3, argv, err), -1);
    CHECK(strstr(err, "port") && strstr(err, "number"));
    config_free(&c);
    f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    CHECK_INT(load(&c, 3, argv, err), -1);
    CHECK(strstr(err, "JSON") != NULL);
    config_free(&c);
    char *argv2[] = {"dllm-server", "--config", "tests/out/does-not-exist.json"};
    CHECK_INT(load(&c, 3, argv2, err), -1);
    CHECK(strstr(err, "cannot open") != NULL);
    config_free(&c);
}

void test_config_shipped_file_loads(void)
{
    struct config c;
    char err[256] = "";
    char *argv[] = {"dllm-server", "--config", "config/dllm.json"};
    CHECK_INT(load(&c, 3, argv, err), 0);
    CHECK_STR(c.model, "models/dllm-kjv.gguf");
    char *j = config_to_json(&c);
    CHECK(j && strstr(j, "\"max_queue\""));
    free(j);
    config_free(&c);
}
