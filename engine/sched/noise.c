/* MDLM/SEDD noise schedules: the total noise sigma(t) and its rate
 * sigma'(t), for t in [0, 1] (SEDD noise_lib.py, MDLM noise_schedule.py),
 * and the time grid their samplers walk. Double precision: the samplers
 * take differences of nearby sigmas. */
#include "engine/sched/sched.h"

#include <math.h>
#include <stdio.h>

/* The references' defaults when a model file does not say. */
#define NOISE_DEFAULT_EPS 1e-3

void noise_from_config(struct noise *n, const struct model_config *cfg)
{
    n->kind = cfg->noise;
    n->eps = cfg->noise_eps > 0.0f ? (double)cfg->noise_eps : NOISE_DEFAULT_EPS;
    n->smin = (double)cfg->sigma_min;
    n->smax = (double)cfg->sigma_max;
}

int noise_check(const struct noise *n, char *err, size_t errlen)
{
    if (n->kind == NOISE_LOGLINEAR) {
        if (!(n->eps > 0.0 && n->eps < 1.0)) {
            snprintf(err, errlen, "model: log-linear noise eps %g is outside (0, 1)", n->eps);
            return SCHED_EINVAL;
        }
        return 0;
    }
    if (n->kind == NOISE_GEOMETRIC) {
        if (!(n->smin > 0.0 && n->smax > n->smin && isfinite(n->smax))) {
            snprintf(err, errlen, "model: geometric noise needs 0 < sigma_min < sigma_max (got %g, %g)",
                     n->smin, n->smax);
            return SCHED_EINVAL;
        }
        return 0;
    }
    snprintf(err, errlen, "model: unknown noise schedule %d", (int)n->kind);
    return SCHED_EINVAL;
}

double noise_sigma(const struct noise *n, double t)
{
    if (n->kind == NOISE_GEOMETRIC)
        return exp((1.0 - t) * log(n->smin) + t * log(n->smax));
    return -log1p(-(1.0 - n->eps) * t);
}

double noise_dsigma(const struct noise *n, double t)
{
    if (n->kind == NOISE_GEOMETRIC)
        return noise_sigma(n, t) * (log(n->smax) - log(n->smin));
    return (1.0 - n->eps) / (1.0 - (1.0 - n->eps) * t);
}

double noise_move_chance(const struct noise *n, double t)
{
    return -expm1(-noise_sigma(n, t));
}

double noise_time(int i, int N, double t_eps)
{
    if (i >= N)
        return t_eps;
    return 1.0 + (double)i * (t_eps - 1.0) / (double)N;
}
