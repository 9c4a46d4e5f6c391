/* Counter-based random numbers (splitmix64 finaliser over the mixed counters).
 * A draw is a pure function of (seed, step, position, index): no generator
 * state advances, so batching, threading and call order cannot change it. */
#include "engine/engine.h"

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t rng_hash(uint64_t seed, uint64_t step, uint64_t pos, uint64_t index)
{
    uint64_t h = mix64(seed);
    h = mix64(h ^ step);
    h = mix64(h ^ pos);
    return mix64(h ^ index);
}

double rng_u01(uint64_t seed, uint64_t step, uint64_t pos, uint64_t index)
{
    /* top 53 bits: every double in [0,1) on a 2^-53 grid, never 1.0 */
    return (double)(rng_hash(seed, step, pos, index) >> 11) * (1.0 / 9007199254740992.0);
}
