/* The reduction of SEDD's uniform graph (engine/cpu/reduce_sedd.c,
 * cpu_sedd_uniform_logw): its laws against tests/ref/sedd_uniform_ref.py,
 * float64 torch written from graph_lib.py / sampling.py / catsample.py,
 * and its draws' frequencies against those laws. */
#include "engine/cpu/cpu.h"
#include "tests/unit/check.h"

#include <math.h>
#include <string.h>

#define UV 6

struct sedd_uniform_case {
    int analytic;
    double coef;
    int cur;
    float logits[UV];
    double law[UV];
};

/* /usr/bin/python3 tests/ref/sedd_uniform_ref.py */
static const struct sedd_uniform_case sedd_uniform_cases[] = {
    {0, 0.050000000000000003, 3, {-0.64692688f, -0.412984639f, -0.22536929f, 0.0f, 0.377509624f, -0.950912297f}, {0.0043637712815377348, 0.0055139370535955343, 0.0066518449127694612, 0.9680951480590434, 0.012155395678406147, 0.0032199030146477154}},
    {0, 0.90000000000000002, 3, {-3.14993548f, -1.26369786f, 0.0424027555f, 0.0f, 1.13247347f, 0.428380132f}, {0.0064282337410400967, 0.042391057478648186, 0.15649718922031453, 0.098969663766684479, 0.46549844809990459, 0.23021540769340818}},
    {0, 3, 5, {1.06909287f, 0.194993407f, -0.453101844f, 0.443654358f, -0.396160841f, 0.0f}, {0.41640361661732761, 0.17373924077300523, 0.090872762043077163, 0.22278707858041621, 0.096197301986173808, 0}},
    {1, 0.050000000000000003, 2, {1.77915502f, -0.917930722f, 0.0f, -0.724473298f, 1.27987814f, -0.994066238f}, {0.049811026302295225, 0.0025945904250509319, 0.91201470138982155, 0.003322940695039486, 0.029912316987089228, 0.0023444242007034893}},
    {1, 0.59999999999999998, 5, {0.0260027722f, -0.335780621f, 1.19995713f, -0.058022283f, -1.3030256f, 0.0f}, {0.063267777291904762, 0.022130064949519947, 0.36611006818687697, 0.052346419911723924, 0, 0.49614566965997448}},
    {1, 2.5, 0, {0.0f, -0.449226528f, 0.304756135f, 0.111989446f, 0.757359326f, 0.305971622f}, {0, 0, 0.14225448574385904, 0, 0.71427560708033533, 0.14346990717580577}},
    {1, 0.0001, 5, {1.61615098f, 0.251644999f, -0.0509599298f, 0.132264808f, 0.391617119f, 0.0f}, {8.3895806775966314e-05, 2.1433702817339106e-05, 1.5836379188040575e-05, 1.9021434847462478e-05, 2.4654393934235846e-05, 0.99983515828243696}},
    {0, 0.001, 3, {1.3185817f, -3.50511861f, -6.70729828f, 0.0f, 3.85357642f, 0.536960065f}, {0.00062301930787387889, 5.0072016255927303e-06, 2.0366017783275263e-07, 0.99122639826753089, 0.0078602385237175245, 0.00028513303907423736}},
};

#define N_CASES ((int)(sizeof sedd_uniform_cases / sizeof sedd_uniform_cases[0]))

static double lse_of(const float *l)
{
    double m = l[0], s = 0;
    for (int y = 1; y < UV; y++)
        m = l[y] > m ? l[y] : m;
    for (int y = 0; y < UV; y++)
        s += exp(l[y] - m);
    return m + log(s);
}

/* The normalised law of the weights, clamped at zero as the draw does. */
static void law_of(const struct sedd_uniform_case *k, double *law)
{
    double lse = lse_of(k->logits), sum = 0;
    for (int y = 0; y < UV; y++) {
        double lw = cpu_sedd_uniform_logw(k->analytic, k->coef, UV, lse, k->logits[k->cur], k->logits[y],
                                          y == k->cur);
        law[y] = lw == -INFINITY ? 0.0 : exp(lw);
        sum += law[y];
    }
    for (int y = 0; y < UV; y++)
        law[y] /= sum;
}

/* Tolerance 1e-12: both sides are float64 on the same float32 logits. */
void test_cpu_sedd_uniform_weights_match_the_reference(void)
{
    for (int c = 0; c < N_CASES; c++) {
        double law[UV];
        law_of(&sedd_uniform_cases[c], law);
        for (int y = 0; y < UV; y++)
            CHECK_NEAR(law[y], sedd_uniform_cases[c].law[y], 1e-12);
    }
}

/* 40000 draws per case over steps 0..39999 at one position: every
 * count within 5 binomial standard deviations (plus one) of the reference
 * law, zero-weight tokens never drawn, prob = the law of the drawn token. */
void test_cpu_sedd_uniform_draws_follow_the_law(void)
{
    enum { N = 40000 };
    for (int c = 0; c < N_CASES; c++) {
        const struct sedd_uniform_case *k = &sedd_uniform_cases[c];
        struct reduce_params rp = {.seed = 1234 + (uint64_t)c, .banned = {-1, -1}};
        rp.mode = k->analytic ? REDUCE_SEDD_UNIFORM_ANALYTIC : REDUCE_SEDD_UNIFORM_EULER;
        rp.coef = k->coef;
        int count[UV] = {0}, bad_prob = 0;
        for (int n = 0; n < N; n++) {
            struct denoise_pos o;
            rp.step = (uint32_t)n;
            cpu_reduce_sedd_uniform(k->logits, UV, &rp, 17, k->cur, &o);
            if (o.token < 0 || o.token >= UV) {
                CHECK(0);
                return;
            }
            count[o.token]++;
            if (fabs(o.prob - k->law[o.token]) > 1e-6)
                bad_prob++;
        }
        CHECK_INT(bad_prob, 0);
        for (int y = 0; y < UV; y++) {
            double p = k->law[y], want = N * p, sd = sqrt(N * p * (1 - p));
            if (p == 0.0)
                CHECK_INT(count[y], 0);
            else
                CHECK_NEAR(count[y], want, 5 * sd + 1);
        }
    }
}

/* The same (seed, step, position) draws the same token whatever the call
 * around it; a banned token is never a move target. */
void test_cpu_sedd_uniform_draw_is_keyed_and_honours_bans(void)
{
    const struct sedd_uniform_case *k = &sedd_uniform_cases[1];
    struct reduce_params rp = {.seed = 9, .step = 4, .banned = {-1, -1}, .mode = REDUCE_SEDD_UNIFORM_EULER,
                               .coef = k->coef};
    struct denoise_pos a, b;
    cpu_reduce_sedd_uniform(k->logits, UV, &rp, 5, k->cur, &a);
    cpu_reduce_sedd_uniform(k->logits, UV, &rp, 6, k->cur, &b);
    cpu_reduce_sedd_uniform(k->logits, UV, &rp, 5, k->cur, &b);
    CHECK_INT(b.token, a.token);
    CHECK_NEAR(a.logsumexp, lse_of(k->logits), 1e-5);
    rp.banned[0] = 4; /* the most likely target of that case */
    int hit = 0;
    for (int n = 0; n < 2000; n++) {
        rp.step = (uint32_t)n;
        cpu_reduce_sedd_uniform(k->logits, UV, &rp, 5, k->cur, &a);
        hit += a.token == 4;
    }
    CHECK_INT(hit, 0);
}
