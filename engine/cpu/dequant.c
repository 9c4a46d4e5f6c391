/* Dequantization on the CPU backend's hot paths (conversion at load, streamed
 * weights per step): F16 through the F16C instructions when the CPU has them
 * and BF16 by a shift, both many times faster than the element-by-element
 * converters; every other type goes to tensor_rows_f32. */
#include "engine/cpu/cpu.h"
#include "engine/model/model.h"

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

/* F16C and AVX on the CPU, and the OS saving the YMM registers. */
static int have_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & bit_F16C) || !(c & bit_AVX) || !(c & bit_OSXSAVE))
        return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;
}

__attribute__((target("avx,f16c"))) static void f16_f16c(const uint8_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = dtype_f16_to_f32(h);
    }
}

static void bf16_shift(const uint8_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        uint32_t u = (uint32_t)h << 16;
        memcpy(dst + i, &u, 4);
    }
}

int cpu_rows_f32(const struct tensor *t, int64_t row0, int64_t nrows, float *out)
{
    static int f16c = -1;
    if (f16c < 0)
        f16c = have_f16c();
    int fast = (t->type == DT_F16 && f16c) || t->type == DT_BF16;
    int64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (!fast || row0 < 0 || nrows < 0 || cols <= 0 || row0 > rows || nrows > rows - row0 || !t->data ||
        (uint64_t)(row0 + nrows) * (uint64_t)cols * 2 > t->nbytes)
        return tensor_rows_f32(t, row0, nrows, out);
    const uint8_t *src = (const uint8_t *)t->data + (size_t)row0 * (size_t)cols * 2;
    size_t n = (size_t)nrows * (size_t)cols;
    if (t->type == DT_F16)
        f16_f16c(src, out, n);
    else
        bf16_shift(src, out, n);
    return 0;
}
