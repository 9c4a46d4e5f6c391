/* tests/unit/check.h: the door of the unit tests: checks and the runner's table.
 * A test is any `void test_NAME(void)` in a tests/unit file; it passes when none
 * of its checks fail. CHECK records the file and line of a failure. */
#ifndef DLLM_CHECK_H
#define DLLM_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

struct unit_test {
    const char *name;
    void (*fn)(void);
};

int check_true(int ok, const char *what, const char *file, int line);
int check_int(long long got, long long want, const char *what, const char *file, int line);
int check_near(double got, double want, double tol, const char *what, const char *file, int line);
int check_str(const char *got, const char *want, const char *what, const char *file, int line);
/* Marks the running test skipped (a printed reason, not counted as passed). */
void check_skip(const char *why);
/* Path to the shared folder beside the checkout (../shared), or NULL. */
const char *check_shared_dir(void);

/* rmodel.c: an in-memory model of random F32 tensors (values offset +
 * scale * U[-0.5, 0.5) from an LCG seeded by rng); the test fills m.cfg. */
#define RMODEL_MAX 128
struct rmodel {
    struct model m;
    struct tensor t[RMODEL_MAX];
    int n;
    uint64_t rng;
};
float rmodel_rand(struct rmodel *rm);
float *rmodel_add(struct rmodel *rm, const char *name, int64_t cols, int64_t rows, float scale, float offset);
void rmodel_free(struct rmodel *rm);

#define CHECK(c) check_true((c) != 0, #c, __FILE__, __LINE__)
#define CHECK_INT(got, want) check_int((got), (want), #got, __FILE__, __LINE__)
#define CHECK_NEAR(got, want, tol) check_near((got), (want), (tol), #got, __FILE__, __LINE__)
#define CHECK_STR(got, want) check_str((got), (want), #got, __FILE__, __LINE__)

#endif
