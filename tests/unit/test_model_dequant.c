/* tensor_rows_f32 against values quantized here: each test quantizer packs
 * blocks as the ggml format describes and remembers the unpacked integers and
 * scales, so the expected floats come from those, in natural order, not from
 * unpacking. The dequantized rows must equal them (same float operations, so
 * exactly) and stay within the quantization error of the original values. */
#include "engine/model/model.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

/* Reference half decode by arithmetic (not bit moves). */
static double half_ref(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static float hq(float x) /* x rounded through f16, as the blocks store scales */
{
    return (float)half_ref(f32_to_f16(x));
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void test_model_dequant_f16_all_values(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float got = dtype_f16_to_f32((uint16_t)h);
        double want = half_ref((uint16_t)h);
        if (isnan(want) ? !isnan(got) : ((double)got != want || !signbit(got) != !signbit(want)))
            bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(f32_to_f16(1.0f), 0x3c00);
    CHECK_INT(f32_to_f16(-2.5f), 0xc100);
    CHECK_NEAR(dtype_bf16_to_f32(0x3f80), 1.0, 0);
    CHECK_NEAR(dtype_bf16_to_f32(0xc0a0), -5.0, 0);
}

static int check_rows(const struct tensor *t, const float *want, const float *orig, double tol_orig)
{
    int64_t n = t->ne[0], rows = t->ne[1];
    float *got = malloc((size_t)(n * rows) * sizeof *got);
    int ok = tensor_rows_f32(t, 0, rows, got) == 0;
    double max_exact = 0, max_orig = 0;
    for (int64_t i = 0; ok && i < n * rows; i++) {
        max_exact = fmax(max_exact, fabs(got[i] - want[i]));
        max_orig = fmax(max_orig, fabs(got[i] - orig[i]));
    }
    /* a middle row alone, to check row offsets */
    if (ok && rows > 1) {
        float *one = malloc((size_t)n * sizeof *one);
        ok = tensor_rows_f32(t, 1, 1, one) == 0 && memcmp(one, got + n, (size_t)n * sizeof *one) == 0;
        free(one);
    }
    free(got);
    CHECK(ok);
    CHECK_NEAR(max_exact, 0, 1e-6);
    CHECK(max_orig <= tol_orig);
    return ok;
}

void test_model_dequant_f32_f16_bf16(void)
{
    enum { N = 64, R = 3 };
    float x[N * R], w16[N * R], wb[N * R];
    uint16_t h[N * R], b[N * R];
    unsigned s = 1;
    for (int i = 0; i < N * R; i++) {
        x[i] = frand(&s) * 4;
        h[i] = f32_to_f16(x[i]);
        b[i] = f32_to_bf16(x[i]);
        w16[i] = (float)half_ref(h[i]);
        uint32_t bits = (uint32_t)b[i] << 16;
        memcpy(&wb[i], &bits, 4);
    }
    struct tensor t32 = {(char *)"x", DT_F32, 2, {N, R, 1, 1}, x, sizeof x};
    struct tensor t16 = {(char *)"x", DT_F16, 2, {N, R, 1, 1}, h, sizeof h};
    struct tensor tb = {(char *)"x", DT_BF16, 2, {N, R, 1, 1}, b, sizeof b};
    check_rows(&t32, x, x, 0);
    check_rows(&t16, w16, x, 4 * 1e-3);
    check_rows(&tb, wb, x, 4 * 8e-3);
}

void test_model_dequant_q8_0(void)
{
    enum { N = 96, R = 3, NB = N / 32 * R };
    float x[N * R], want[N * R];
    uint8_t blk[NB * 34];
    unsigned s = 7;
    for (int i = 0; i < N * R; i++)
        x[i] = frand(&s) * (1 + i % 5);
    double tol = 0;
    for (int b = 0; b < NB; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[32 * b + j]));
        float d = hq(amax / 127);
        put16(blk + 34 * b, f32_to_f16(amax / 127));
        for (int j = 0; j < 32; j++) {
            int q = d ? clampi((int)lrintf(x[32 * b + j] / d), -127, 127) : 0;
            blk[34 * b + 2 + j] = (uint8_t)(int8_t)q;
            want[32 * b + j] = d * (float)q;
        }
        tol = fmax(tol, d * 0.51);
    }
    struct tensor t = {(char *)"q", DT_Q8_0, 2, {N, R, 1, 1}, blk, sizeof blk};
    check_rows(&t, want, x, tol + 1e-3);
}

void test_model_dequant_q4_0(void)
{
    enum { N = 64, R = 3, NB = N / 32 * R };
    float x[N * R], want[N * R];
    uint8_t blk[NB * 18];
    unsigned s = 11;
    for (int i = 0; i < N * R; i++)
        x[i] = frand(&s);
    double tol = 0;
    for (int b = 0; b < NB; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[32 * b + j]));
        float d = hq(amax / 7);
        put16(blk + 18 * b, f32_to_f16(amax / 7));
        int q[32];
        for (int j = 0; j < 32; j++) {
            q[j] = clampi((int)lrintf(x[32 * b + j] / d) + 8, 0, 15);
            want[32 * b + j] = d * (float)(q[j] - 8);
        }
        for (int j = 0; j < 16; j++)
            blk[18 * b + 2 + j] = (uint8_t)(q[j] | q[j + 16] << 4);
        tol = fmax(tol, d * 0.51);
    }
    struct tensor t = {(char *)"q", DT_Q4_0, 2, {N, R, 1, 1}, blk, sizeof blk};
    check_rows(&t, want, x, tol + 1e-3);
}

/* One Q4_K super-block of x[256] into p[144]; expected values into want. */
static double q4k_block(const float *x, uint8_t *p, float *want)
{
    float scf[8], mnf[8], maxs = 0, maxm = 0;
    for (int j = 0; j < 8; j++) {
        float lo = x[32 * j], hi = x[32 * j];
        for (int l = 0; l < 32; l++) {
            lo = fminf(lo, x[32 * j + l]);
            hi = fmaxf(hi, x[32 * j + l]);
        }
        mnf[j] = lo < 0 ? -lo : 0;
        scf[j] = (hi + mnf[j]) / 15;
        maxs = fmaxf(maxs, scf[j]);
        maxm = fmaxf(maxm, mnf[j]);
    }
    put16(p, f32_to_f16(maxs / 63));
    put16(p + 2, f32_to_f16(maxm / 63));
    float d = hq(maxs / 63), dmin = hq(maxm / 63);
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = d ? clampi((int)lrintf(scf[j] / d), 0, 63) : 0;
        mn[j] = dmin ? clampi((int)lrintf(mnf[j] / dmin), 0, 63) : 0;
    }
    uint8_t *s = p + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
    int q[256];
    double err = 0;
    for (int i = 0; i < 256; i++) {
        int j = i / 32;
        float step = d * (float)sc[j], m = dmin * (float)mn[j];
        q[i] = step ? clampi((int)lrintf((x[i] + m) / step), 0, 15) : 0;
        want[i] = step * (float)q[i] - m;
        err = fmax(err, fabs(want[i] - x[i]));
    }
    uint8_t *qs = p + 16;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
    return err;
}

void test_model_dequant_q4_k(void)
{
    enum { N = 512, R = 3 };
    static float x[N * R], want[N * R];
    static uint8_t blk[N / 256 * R * 144];
    unsigned s = 5;
    for (int i = 0; i < N * R; i++)
        x[i] = frand(&s) * (0.5f + (float)(i / 32 % 4)) + 0.3f * (float)(i / 256 % 2);
    double err = 0;
    for (int b = 0; b < N / 256 * R; b++)
        err = fmax(err, q4k_block(x + 256 * b, blk + 144 * b, want + 256 * b));
    /* 16 levels over a sub-block's range (<= 2 * 3.8): a step is ~0.5 */
    CHECK(err < 0.35);
    struct tensor t = {(char *)"q", DT_Q4_K, 2, {N, R, 1, 1}, blk, sizeof blk};
    check_rows(&t, want, x, err + 1e-6);
}

static double q6k_block(const float *x, uint8_t *p, float *want)
{
    float scf[16], maxs = 0;
    for (int g = 0; g < 16; g++) {
        float amax = 0;
        for (int l = 0; l < 16; l++)
            amax = fmaxf(amax, fabsf(x[16 * g + l]));
        scf[g] = amax / 31;
        maxs = fmaxf(maxs, scf[g]);
    }
    put16(p + 208, f32_to_f16(maxs / 127));
    float d = hq(maxs / 127);
    int8_t *sc = (int8_t *)(p + 192);
    int L[256];
    double err = 0;
    for (int g = 0; g < 16; g++)
        sc[g] = (int8_t)(d ? clampi((int)lrintf(scf[g] / d), -128, 127) : 0);
    for (int i = 0; i < 256; i++) {
        float step = d * (float)sc[i / 16];
        int q = step ? clampi((int)lrintf(x[i] / step), -32, 31) : 0;
        L[i] = q + 32;
        want[i] = step * (float)q;
        err = fmax(err, fabs(want[i] - x[i]));
    }
    uint8_t *ql = p, *qh = p + 128;
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const int *v = L + 128 * h + l;
            ql[64 * h + l] = (uint8_t)((v[0] & 15) | (v[64] & 15) << 4);
            ql[64 * h + l + 32] = (uint8_t)((v[32] & 15) | (v[96] & 15) << 4);
            qh[32 * h + l] = (uint8_t)((v[0] >> 4) | (v[32] >> 4) << 2 | (v[64] >> 4) << 4 | (v[96] >> 4) << 6);
        }
    return err;
}

void test_model_dequant_q6_k(void)
{
    enum { N = 512, R = 3 };
    static float x[N * R], want[N * R];
    static uint8_t blk[N / 256 * R * 210];
    unsigned s = 9;
    for (int i = 0; i < N * R; i++)
        x[i] = frand(&s) * (0.25f + (float)(i / 16 % 7));
    double err = 0;
    for (int b = 0; b < N / 256 * R; b++)
        err = fmax(err, q6k_block(x + 256 * b, blk + 210 * b, want + 256 * b));
    CHECK(err < 0.2); /* 64 levels over +-6.25 */
    struct tensor t = {(char *)"q", DT_Q6_K, 2, {N, R, 1, 1}, blk, sizeof blk};
    check_rows(&t, want, x, err + 1e-6);
}

void test_model_dequant_bounds(void)
{
    float x[64] = {0}, out[64];
    struct tensor t = {(char *)"x", DT_F32, 2, {32, 2, 1, 1}, x, sizeof x};
    CHECK_INT(tensor_rows_f32(&t, 0, 2, out), 0);
    CHECK(tensor_rows_f32(&t, 1, 2, out) != 0);
    CHECK(tensor_rows_f32(&t, -1, 1, out) != 0);
    CHECK(tensor_rows_f32(&t, 2, 0, out) == 0);
    t.nbytes = 200; /* fewer bytes than two rows */
    CHECK(tensor_rows_f32(&t, 0, 2, out) != 0);
    t.nbytes = sizeof x;
    t.type = (enum dtype)3;
    CHECK(tensor_rows_f32(&t, 0, 1, out) != 0);
    t.type = DT_Q8_0;
    t.ne[0] = 40; /* not a block multiple */
    CHECK(tensor_rows_f32(&t, 0, 1, out) != 0);
    CHECK_STR(dtype_name(DT_Q4_K), "Q4_K");
    CHECK_STR(dtype_name(DT_BF16), "BF16");
    CHECK_INT(dtype_row_bytes(DT_Q6_K, 512), 420);
    CHECK_INT(dtype_row_bytes(DT_Q4_0, 33), -1);
}
