/* Dequantization on the CPU backend's hot paths (conversion at load, streamed
 * weights per step): F16 through F16C and Q8_0 through AVX2 when the CPU has
 * them, BF16 by a shift, all many times faster than the element-by-element
 * converters and giving the same bits; every other type goes to
 * tensor_rows_f32. */
#include "engine/cpu/cpu.h"
#include "engine/model/model.h"

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

/* F16C, AVX and AVX2 on the CPU, and the OS saving the YMM registers. */
static int have_avx2_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & bit_F16C) || !(c & bit_AVX) || !(c & bit_OSXSAVE))
        return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & bit_AVX2) != 0;
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

/* Blocks of 32: an f16 scale d, then 32 int8; y = d * q as float. */
__attribute__((target("avx2,f16c"))) static void q8_0_avx2(const uint8_t *src, float *dst, size_t n_blocks)
{
    for (size_t b = 0; b < n_blocks; b++, src += 34, dst += 32) {
        uint16_t h;
        memcpy(&h, src, 2);
        __m256 d = _mm256_set1_ps(dtype_f16_to_f32(h));
        for (int j = 0; j < 4; j++) {
            __m128i q8 = _mm_loadl_epi64((const __m128i *)(src + 2 + 8 * j));
            __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
            _mm256_storeu_ps(dst + 8 * j, _mm256_mul_ps(d, q));
        }
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
    static int simd = -1;
    if (simd < 0)
        simd = have_avx2_f16c();
    int fast = ((t->type == DT_F16 || t->type == DT_Q8_0) && simd) || t->type == DT_BF16;
    int64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    int64_t row_bytes = t->type == DT_Q8_0 ? cols / 32 * 34 : cols * 2;
    if (!fast || row0 < 0 || nrows < 0 || cols <= 0 || (t->type == DT_Q8_0 && cols % 32) || row0 > rows ||
        nrows > rows - row0 || !t->data || (uint64_t)(row0 + nrows) * (uint64_t)row_bytes > t->nbytes)
        return tensor_rows_f32(t, row0, nrows, out);
    const uint8_t *src = (const uint8_t *)t->data + (size_t)row0 * (size_t)row_bytes;
    size_t n = (size_t)nrows * (size_t)cols;
    if (t->type == DT_F16)
        f16_f16c(src, out, n);
    else if (t->type == DT_Q8_0)
        q8_0_avx2(src, out, n / 32);
    else
        bf16_shift(src, out, n);
    return 0;
}
