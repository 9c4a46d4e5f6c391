#include "engine/engine.h"
#include "tests/unit/check.h"

void test_rng_is_a_pure_function(void)
{
    CHECK(rng_hash(1, 2, 3, 4) == rng_hash(1, 2, 3, 4));
    CHECK(rng_hash(1, 2, 3, 4) != rng_hash(1, 2, 3, 5));
    CHECK(rng_hash(1, 2, 3, 4) != rng_hash(2, 2, 3, 4));
}

void test_rng_uniform_mean_and_range(void)
{
    double sum = 0, lo = 1, hi = 0;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        double u = rng_u01(42, 0, 0, (uint64_t)i);
        sum += u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    /* mean of U[0,1) over 1e5 draws: sd 0.0009, so 0.005 is > 5 sigma */
    CHECK_NEAR(sum / n, 0.5, 0.005);
    CHECK(lo >= 0.0 && lo < 0.001);
    CHECK(hi < 1.0 && hi > 0.999);
}
