/* The per-position reduction of the CPU backend: the pure per-element
 * functions, and cpu_reduce on small logit vectors whose answers are known
 * in closed form. */
#include "tests/unit/check.h"
#include "engine/cpu/cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct reduce_params params(float T)
{
    struct reduce_params rp;
    memset(&rp, 0, sizeof rp);
    rp.temperature = T;
    rp.top_p = 1.0f;
    rp.banned[0] = rp.banned[1] = -1;
    rp.seed = 7;
    return rp;
}

static struct denoise_pos run(const float *logits, int V, const struct reduce_params *rp, int pos)
{
    struct cpu_reduce_scratch s;
    struct denoise_pos out;
    float *l = malloc(sizeof(float) * (size_t)V);
    memcpy(l, logits, sizeof(float) * (size_t)V);
    CHECK(cpu_reduce_scratch_init(&s, V) == 0);
    cpu_reduce(l, V, rp, pos, &s, &out);
    cpu_reduce_scratch_free(&s);
    free(l);
    return out;
}

void test_cpu_reduce_math(void)
{
    CHECK_NEAR(cpu_cfg_mix(2.0f, 1.0f, 0.5f), 1.0 + 1.5 * 1.0, 1e-6);
    CHECK_NEAR(cpu_cfg_mix(2.0f, 1.0f, 0.0f), 2.0, 1e-6);
    CHECK_NEAR(cpu_temper(3.0f, 0.5f), 6.0, 1e-6);
    CHECK_NEAR(cpu_temper(3.0f, 0.0f), 3.0, 1e-6);
    CHECK_NEAR(cpu_gumbel(0.5), -log(log(2.0)), 1e-12);
    CHECK(cpu_gumbel(0.0) == -INFINITY);
    /* one pass gives logsumexp and sum p ln p */
    float x[4] = {0.5f, -1.0f, 2.0f, -INFINITY};
    double ss = 0, qq = 0, z = exp(0.5) + exp(-1.0) + exp(2.0), ent = 0;
    for (int i = 0; i < 4; i++)
        cpu_softmax_acc(x[i], 2.0f, &ss, &qq);
    for (int i = 0; i < 3; i++)
        ent += exp(x[i]) / z * (x[i] - log(z));
    CHECK_NEAR(2.0 + log(ss), log(z), 1e-6);
    CHECK_NEAR(qq / ss - log(ss), ent, 1e-6);
}

void test_cpu_reduce_argmax_stats(void)
{
    float l[] = {1.0f, 2.0f, 3.0f, 0.0f};
    struct reduce_params rp = params(0.0f);
    rp.n_logprobs = 3;
    struct denoise_pos o = run(l, 4, &rp, 0);
    double z = exp(1) + exp(2) + exp(3) + exp(0);
    CHECK_INT(o.token, 2);
    CHECK_NEAR(o.prob, exp(3) / z, 1e-6);
    CHECK_NEAR(o.prob_raw, exp(3) / z, 1e-6);
    CHECK_NEAR(o.logprob_raw, 3 - log(z), 1e-6);
    CHECK_NEAR(o.margin, (exp(3) - exp(2)) / z, 1e-6);
    double ent = 0;
    for (int i = 0; i < 4; i++)
        ent += exp(l[i]) / z * (l[i] - log(z));
    CHECK_NEAR(o.neg_entropy, ent, 1e-6);
    CHECK_NEAR(o.logsumexp, log(z), 1e-6);
    CHECK_INT(o.n_top, 3);
    CHECK_INT(o.top_ids[0], 2);
    CHECK_INT(o.top_ids[1], 1);
    CHECK_INT(o.top_ids[2], 0);
    CHECK_NEAR(o.top_logprobs[1], 2 - log(z), 1e-6);
}

void test_cpu_reduce_banned(void)
{
    float l[] = {1.0f, 2.0f, 3.0f, 0.0f};
    struct reduce_params rp = params(0.0f);
    rp.banned[0] = 2;
    struct denoise_pos o = run(l, 4, &rp, 0);
    double z = exp(1) + exp(2) + exp(0);
    CHECK_INT(o.token, 1);
    CHECK_NEAR(o.prob_raw, exp(2) / z, 1e-6);
    CHECK_NEAR(o.logsumexp, log(z), 1e-6);
}

void test_cpu_reduce_top_k_top_p(void)
{
    float l[] = {1.0f, 2.0f, 3.0f, 0.0f};
    struct reduce_params rp = params(0.0f);
    rp.top_k = 2;
    struct denoise_pos o = run(l, 4, &rp, 0);
    CHECK_INT(o.token, 2);
    CHECK_NEAR(o.prob, exp(3) / (exp(2) + exp(3)), 1e-6);
    CHECK_NEAR(o.prob_raw, exp(3) / (exp(0) + exp(1) + exp(2) + exp(3)), 1e-6);

    /* probabilities 0.5 0.3 0.15 0.05: top_p 0.7 keeps the first two (the
     * one that crosses 0.7 stays), so the best has 0.5 / 0.8 */
    float p[] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    rp = params(0.0f);
    rp.top_p = 0.7f;
    o = run(p, 4, &rp, 0);
    CHECK_INT(o.token, 1);
    CHECK_NEAR(o.prob, 0.5 / 0.8, 1e-5);
    CHECK_NEAR(o.margin, (0.5 - 0.3) / 0.8, 1e-5);

    /* a flat vocabulary of 1000 forces the selection to grow past 64:
     * token i has weight 1 + i/1000, the nucleus is the top of the order */
    int V = 1000;
    float *f = malloc(sizeof(float) * V);
    double z = 0;
    for (int i = 0; i < V; i++) {
        f[i] = logf(1.0f + (float)i / V);
        z += 1.0 + (double)i / V;
    }
    double cum = 0;
    int keep = 0;
    while (cum <= 0.5 * z)
        cum += 1.0 + (double)(V - 1 - keep++) / V;
    rp = params(0.0f);
    rp.top_p = 0.5f;
    o = run(f, V, &rp, 0);
    CHECK_INT(o.token, V - 1);
    CHECK_NEAR(o.prob, (1.0 + (V - 1.0) / V) / cum, 1e-5);
    free(f);
}

void test_cpu_reduce_sampling(void)
{
    float l[] = {logf(0.1f), logf(0.2f), logf(0.7f)};
    struct reduce_params rp = params(1.0f);
    int count[3] = {0, 0, 0};
    int n = 6000;
    for (int s = 0; s < n; s++) {
        rp.step = (uint32_t)s;
        struct denoise_pos o = run(l, 3, &rp, 5);
        CHECK(o.token >= 0 && o.token < 3);
        count[o.token]++;
        CHECK_NEAR(o.prob, o.token == 0 ? 0.1 : o.token == 1 ? 0.2 : 0.7, 1e-5);
    }
    CHECK_NEAR(count[0] / (double)n, 0.1, 0.02);
    CHECK_NEAR(count[1] / (double)n, 0.2, 0.02);
    CHECK_NEAR(count[2] / (double)n, 0.7, 0.02);

    /* the draw depends only on (seed, step, position, index) */
    rp.step = 3;
    struct denoise_pos a = run(l, 3, &rp, 9), b = run(l, 3, &rp, 9);
    CHECK_INT(a.token, b.token);

    /* a low temperature sharpens: nearly always the best */
    rp = params(0.05f);
    int best = 0;
    for (int s = 0; s < 200; s++) {
        rp.step = (uint32_t)s;
        best += run(l, 3, &rp, 0).token == 2;
    }
    CHECK(best >= 199);
}
