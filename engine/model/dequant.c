/* Tensor types and their dequantization to float32, by rows.
 *
 * Block layouts (ggml's, little-endian, from the format description):
 *   Q8_0: 32 values: f16 d, int8 q[32];                     x = d * q
 *   Q4_0: 32 values: f16 d, uint8 qs[16];                   x = d * (nibble - 8),
 *         low nibbles are values 0..15, high nibbles 16..31
 *   Q4_K: 256 values: f16 d, f16 dmin, uint8 scales[12], uint8 qs[128];
 *         8 sub-blocks of 32 with 6-bit scale sc and min mn packed in scales;
 *         x = d * sc * nibble - dmin * mn; each 32 bytes of qs hold two
 *         sub-blocks (low nibbles first)
 *   Q6_K: 256 values: uint8 ql[128], uint8 qh[64], int8 scales[16], f16 d;
 *         6-bit q = 4 low bits from ql | 2 high bits from qh, minus 32;
 *         x = d * scales[value / 16] * q
 * Reads go through memcpy: data in a file need not be aligned for the host. */
#include "engine/model/model.h"

#include <string.h>

int dtype_block(int type, int *block_elems, int *block_bytes)
{
    int n, b;
    switch (type) {
    case DT_F32: n = 1; b = 4; break;
    case DT_F16: n = 1; b = 2; break;
    case DT_BF16: n = 1; b = 2; break;
    case DT_Q8_0: n = 32; b = 34; break;
    case DT_Q4_0: n = 32; b = 18; break;
    case DT_Q4_K: n = 256; b = 144; break;
    case DT_Q6_K: n = 256; b = 210; break;
    default: return -1;
    }
    *block_elems = n;
    *block_bytes = b;
    return 0;
}

int64_t dtype_row_bytes(int type, int64_t n)
{
    int be, bb;
    if (dtype_block(type, &be, &bb) != 0 || n < 0 || n % be != 0)
        return -1;
    return n / be * bb;
}

const char *dtype_name(enum dtype t)
{
    switch (t) {
    case DT_F32: return "F32";
    case DT_F16: return "F16";
    case DT_BF16: return "BF16";
    case DT_Q8_0: return "Q8_0";
    case DT_Q4_0: return "Q4_0";
    case DT_Q4_K: return "Q4_K";
    case DT_Q6_K: return "Q6_K";
    }
    return "unknown";
}

float dtype_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0 && mant == 0) {
        bits = sign;
    } else if (exp == 0) {
        /* subnormal half: renormalize into a float32 exponent */
        int e = 127 - 15 + 1;
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        bits = sign | ((uint32_t)e << 23) | ((mant & 0x3ff) << 13);
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float dtype_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void row_q8_0(const uint8_t *p, int64_t n, float *y)
{
    for (int64_t b = 0; b < n / 32; b++, p += 34) {
        float d = dtype_f16_to_f32(rd16(p));
        for (int j = 0; j < 32; j++)
            *y++ = d * (float)(int8_t)p[2 + j];
    }
}

static void row_q4_0(const uint8_t *p, int64_t n, float *y)
{
    for (int64_t b = 0; b < n / 32; b++, p += 18, y += 32) {
        float d = dtype_f16_to_f32(rd16(p));
        const uint8_t *qs = p + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((qs[j] & 0x0f) - 8);
            y[j + 16] = d * (float)((qs[j] >> 4) - 8);
        }
    }
}

/* Scale and min of sub-block j (0..7) from Q4_K's 12 packed bytes: the first
 * four sub-blocks use the low 6 bits of bytes 0..3 (scale) and 4..7 (min);
 * the last four take 4 bits from bytes 8..11 and their top 2 bits from the
 * high bits of bytes 0..7. */
static void q4k_scale_min(int j, const uint8_t *s, int *sc, int *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void row_q4_k(const uint8_t *p, int64_t n, float *y)
{
    for (int64_t b = 0; b < n / 256; b++, p += 144) {
        float d = dtype_f16_to_f32(rd16(p));
        float dmin = dtype_f16_to_f32(rd16(p + 2));
        const uint8_t *scales = p + 4;
        const uint8_t *qs = p + 16;
        for (int c = 0; c < 4; c++) {
            int sc0, mn0, sc1, mn1;
            q4k_scale_min(2 * c, scales, &sc0, &mn0);
            q4k_scale_min(2 * c + 1, scales, &sc1, &mn1);
            float d0 = d * sc0, m0 = dmin * mn0, d1 = d * sc1, m1 = dmin * mn1;
            const uint8_t *q = qs + 32 * c;
            for (int l = 0; l < 32; l++)
                y[l] = d0 * (float)(q[l] & 0x0f) - m0;
            for (int l = 0; l < 32; l++)
                y[32 + l] = d1 * (float)(q[l] >> 4) - m1;
            y += 64;
        }
    }
}

/* Q6_K: each half of the super-block (128 values) uses 64 bytes of ql, 32 of
 * qh and 8 scales; value l + 32k (k = 0..3) of the half takes its low nibble
 * from ql[l] (k = 0, 2: low/high nibble) or ql[l + 32] (k = 1, 3) and its two
 * high bits from bits 2k..2k+1 of qh[l]. */
static void row_q6_k(const uint8_t *p, int64_t n, float *y)
{
    for (int64_t b = 0; b < n / 256; b++, p += 210) {
        const uint8_t *ql = p;
        const uint8_t *qh = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        float d = dtype_f16_to_f32(rd16(p + 208));
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

int tensor_rows_f32(const struct tensor *t, int64_t row0, int64_t nrows, float *out)
{
    if (!t || !out || row0 < 0 || nrows < 0)
        return -1;
    int64_t n = t->ne[0];
    int64_t rb = dtype_row_bytes(t->type, n);
    if (rb < 0)
        return -1;
    int64_t total = 1;
    for (int i = 1; i < 4; i++) {
        if (t->ne[i] < 1 || total > INT64_MAX / t->ne[i])
            return -1;
        total *= t->ne[i];
    }
    if (row0 > total || nrows > total - row0)
        return -1;
    if (rb > 0 && (uint64_t)(row0 + nrows) > t->nbytes / (uint64_t)rb)
        return -1;
    if (nrows > 0 && rb > 0 && !t->data)
        return -1;
    for (int64_t r = 0; r < nrows; r++) {
        const uint8_t *p = (const uint8_t *)t->data + (row0 + r) * rb;
        float *y = out + r * n;
        switch (t->type) {
        case DT_F32:
            memcpy(y, p, (size_t)n * 4);
            break;
        case DT_F16:
            for (int64_t i = 0; i < n; i++)
                y[i] = dtype_f16_to_f32(rd16(p + 2 * i));
            break;
        case DT_BF16:
            for (int64_t i = 0; i < n; i++)
                y[i] = dtype_bf16_to_f32(rd16(p + 2 * i));
            break;
        case DT_Q8_0: row_q8_0(p, n, y); break;
        case DT_Q4_0: row_q4_0(p, n, y); break;
        case DT_Q4_K: row_q4_k(p, n, y); break;
        case DT_Q6_K: row_q6_k(p, n, y); break;
        }
    }
    return 0;
}
