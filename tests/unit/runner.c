/* The unit test runner: runs every test (or those whose name contains argv[1])
 * and ends with the line "N passed, N failed[, N skipped]". */
#include "tests/unit/check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "unit_list.h"

static int failures;
static int skipped;

int check_true(int ok, const char *what, const char *file, int line)
{
    if (!ok) {
        printf("    %s:%d: check failed: %s\n", file, line, what);
        failures++;
    }
    return ok;
}

int check_int(long long got, long long want, const char *what, const char *file, int line)
{
    if (got != want) {
        printf("    %s:%d: %s is %lld, want %lld\n", file, line, what, got, want);
        failures++;
        return 0;
    }
    return 1;
}

int check_near(double got, double want, double tol, const char *what, const char *file, int line)
{
    if (!(fabs(got - want) <= tol)) {
        printf("    %s:%d: %s is %.9g, want %.9g within %.3g\n", file, line, what, got, want, tol);
        failures++;
        return 0;
    }
    return 1;
}

int check_str(const char *got, const char *want, const char *what, const char *file, int line)
{
    if (!got || !want || strcmp(got, want) != 0) {
        printf("    %s:%d: %s is \"%s\", want \"%s\"\n", file, line, what, got ? got : "(null)",
               want ? want : "(null)");
        failures++;
        return 0;
    }
    return 1;
}

void check_skip(const char *why)
{
    printf("    skipped: %s\n", why);
    skipped = 1;
}

const char *check_shared_dir(void)
{
    static const char *const candidates[] = {"../shared", "../../shared"};
    struct stat st;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode))
            return candidates[i];
    return NULL;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, nskipped = 0;
    size_t n = sizeof unit_tests / sizeof unit_tests[0];
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && !strstr(unit_tests[i].name, argv[1]))
            continue;
        failures = 0;
        skipped = 0;
        unit_tests[i].fn();
        if (failures) {
            printf("FAIL %s\n", unit_tests[i].name);
            failed++;
        } else if (skipped) {
            printf("skip %s\n", unit_tests[i].name);
            nskipped++;
        } else {
            printf("ok   %s\n", unit_tests[i].name);
            passed++;
        }
        fflush(stdout);
    }
    if (nskipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, nskipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
