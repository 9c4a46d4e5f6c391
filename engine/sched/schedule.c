/* How many positions a fixed schedule commits at each step: LLaDA's even
 * spread over a block, and Dream's count from its timestep grid. */
#include "engine/sched/sched.h"

int sched_llada_k(int M, int S, int i)
{
    if (S <= 0 || i < 0 || i >= S)
        return 0;
    return M / S + (i < M % S ? 1 : 0);
}

float sched_dream_t(int i, int S, float eps)
{
    /* torch.linspace(1, eps, S + 1) in float32 as its CUDA kernel computes it:
     * the first half counts up from the start, the second half down from the
     * end. (torch's CPU vector path rounds some entries differently in the
     * last bit; for S <= 300, 512, 1024 and M up to 1024 no count changed.) */
    float start = 1.0f, end = eps;
    float step = (end - start) / (float)S;
    int halfway = (S + 1) / 2;
    if (i < halfway)
        return start + step * (float)i;
    return end - step * (float)(S - i);
}

int sched_dream_n(int M, int i, int S, float eps)
{
    if (i >= S - 1)
        return M;
    float t = sched_dream_t(i, S, eps);
    float s = sched_dream_t(i + 1, S, eps);
    float frac = 1.0f - s / t;
    float n = (float)M * frac;
    return (int)n;
}
