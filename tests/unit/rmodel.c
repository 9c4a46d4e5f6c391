/* In-memory models of random F32 tensors, for the engine's unit tests: the
 * same LCG draws in every test, so a test's weights depend only on its seed. */
#include "tests/unit/check.h"

#include <stdlib.h>
#include <string.h>

float rmodel_rand(struct rmodel *rm)
{
    rm->rng = rm->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rm->rng >> 40) / (double)(1ull << 24)) - 0.5f;
}

float *rmodel_add(struct rmodel *rm, const char *name, int64_t cols, int64_t rows, float scale, float offset)
{
    if (rm->n >= RMODEL_MAX)
        abort(); /* a test asked for more tensors than the fixture holds */
    struct tensor *t = &rm->t[rm->n++];
    float *d = malloc(sizeof(float) * (size_t)(cols * rows));
    for (int64_t i = 0; i < cols * rows; i++)
        d[i] = offset + scale * rmodel_rand(rm);
    t->name = strdup(name);
    t->type = DT_F32;
    t->n_dims = rows > 1 ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->ne[2] = t->ne[3] = 1;
    t->data = d;
    t->nbytes = sizeof(float) * (size_t)(cols * rows);
    rm->m.n_tensors = rm->n;
    rm->m.tensors = rm->t;
    return d;
}

void rmodel_free(struct rmodel *rm)
{
    for (int i = 0; i < rm->n; i++) {
        free(rm->t[i].name);
        free((void *)rm->t[i].data);
    }
}
