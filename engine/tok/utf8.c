/* engine/tok/utf8.c: UTF-8 decoding and the Unicode classes the pre-tokenizers
 * and normalizers ask about, over the generated tables in unicode_tab.c. */
#define DLLM_TOK_PRIVATE
#include "engine/tok/tok.h"

extern const uint32_t uni_letter[][2], uni_number[][2], uni_punct[][2];
extern const uint32_t uni_mark_nonspacing[][2], uni_control[][2], uni_space[][2];
extern const int uni_letter_n, uni_number_n, uni_punct_n, uni_mark_nonspacing_n;
extern const int uni_control_n, uni_space_n;
extern const uint32_t uni_ccc_ranges[][3], uni_decomp[][3], uni_comp[][3], uni_lower_map[][2];
extern const int uni_ccc_ranges_n, uni_decomp_n, uni_comp_n, uni_lower_map_n;

int utf8_check(const unsigned char *s, size_t len, int *need)
{
    *need = 0;
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 0;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    for (int k = 1; k < n; k++) {
        if ((size_t)k >= len) {
            *need = n - k;
            return k; /* cut short: ill-formed unless more bytes come */
        }
        unsigned b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return k;
    }
    return 0;
}

int utf8_next(const char *s, size_t len, size_t *i, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = len - *i;
    int need;
    if (utf8_check(p, left, &need)) {
        *cp = 0xFFFD;
        *i += 1;
        return 0;
    }
    if (p[0] < 0x80) {
        *cp = p[0];
        *i += 1;
    } else if (p[0] < 0xE0) {
        *cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        *i += 2;
    } else if (p[0] < 0xF0) {
        *cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        *i += 3;
    } else {
        *cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
              ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        *i += 4;
    }
    return 1;
}

int utf8_put(uint32_t c, char *o)
{
    unsigned char *u = (unsigned char *)o;
    if (c < 0x80) {
        u[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        u[0] = (unsigned char)(0xC0 | (c >> 6));
        u[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (c >> 12));
        u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (c >> 18));
    u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t c)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < r[mid][0]) hi = mid - 1;
        else if (c > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int uni_is_letter(uint32_t c)
{
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return in_ranges(uni_letter, uni_letter_n, c);
}

int uni_is_number(uint32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    return in_ranges(uni_number, uni_number_n, c);
}

int uni_is_space(uint32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13);
    return in_ranges(uni_space, uni_space_n, c);
}

int uni_is_punct(uint32_t c) { return in_ranges(uni_punct, uni_punct_n, c); }
int uni_is_mark_nonspacing(uint32_t c) { return in_ranges(uni_mark_nonspacing, uni_mark_nonspacing_n, c); }
int uni_is_control(uint32_t c) { return in_ranges(uni_control, uni_control_n, c); }

int uni_ccc(uint32_t c)
{
    if (c < 0x300) return 0;
    int lo = 0, hi = uni_ccc_ranges_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < uni_ccc_ranges[mid][0]) hi = mid - 1;
        else if (c > uni_ccc_ranges[mid][1]) lo = mid + 1;
        else return (int)uni_ccc_ranges[mid][2];
    }
    return 0;
}

uint32_t uni_lower(uint32_t c)
{
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    int lo = 0, hi = uni_lower_map_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < uni_lower_map[mid][0]) hi = mid - 1;
        else if (c > uni_lower_map[mid][0]) lo = mid + 1;
        else return uni_lower_map[mid][1];
    }
    return c;
}

/* Hangul syllables decompose and compose by arithmetic (Unicode 3.12). */
enum { H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7,
       H_LCOUNT = 19, H_VCOUNT = 21, H_TCOUNT = 28, H_NCOUNT = 588, H_SCOUNT = 11172 };

int uni_decompose(uint32_t c, uint32_t *out, int cap)
{
    if (cap <= 0) return 0;
    if (c >= H_SBASE && c < H_SBASE + H_SCOUNT) {
        uint32_t s = c - H_SBASE;
        int n = 0;
        out[n++] = H_LBASE + s / H_NCOUNT;
        if (n < cap) out[n++] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
        if (s % H_TCOUNT && n < cap) out[n++] = H_TBASE + s % H_TCOUNT;
        return n;
    }
    if (c >= 0xC0) {
        int lo = 0, hi = uni_decomp_n - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            if (c < uni_decomp[mid][0]) hi = mid - 1;
            else if (c > uni_decomp[mid][0]) lo = mid + 1;
            else {
                int n = uni_decompose(uni_decomp[mid][1], out, cap);
                if (uni_decomp[mid][2] && n < cap) n += uni_decompose(uni_decomp[mid][2], out + n, cap - n);
                return n;
            }
        }
    }
    out[0] = c;
    return 1;
}

uint32_t uni_compose(uint32_t a, uint32_t b)
{
    if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 && b > H_TBASE &&
        b < H_TBASE + H_TCOUNT)
        return a + (b - H_TBASE);
    int lo = 0, hi = uni_comp_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a < uni_comp[mid][0] || (a == uni_comp[mid][0] && b < uni_comp[mid][1])) hi = mid - 1;
        else if (a > uni_comp[mid][0] || b > uni_comp[mid][1]) lo = mid + 1;
        else return uni_comp[mid][2];
    }
    return 0;
}
