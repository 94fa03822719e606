/* text.c — the scanner behind the text mesh formats (see text.h).  Numbers are read without
 * sscanf/strtod: locale-independent, fast, and never past the end of the data. */
#include "io/text.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Case-insensitive comparison of the n bytes at s with the NUL-terminated word w. */
int gnf_word_is(const char *s, size_t n, const char *w) {
    size_t i = 0;
    for (; i < n && w[i]; i++)
        if (lower(s[i]) != w[i]) return 0;
    return i == n && w[i] == 0;
}

/* Copies the token at p (up to whitespace, at most 24 bytes) into buf with non-printable bytes
 * shown as '?', for error messages that quote the input without trusting it. */
const char *gnf_show(char buf[32], const char *p, const char *end) {
    size_t n = 0;
    while (p < end && !is_space(*p) && n < 24) {
        unsigned char c = (unsigned char)*p++;
        buf[n++] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (p < end && !is_space(*p)) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = 0;
    return buf;
}

const double gnf_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Scans a decimal number ([sign] digits [. digits] [e [sign] digits]) or nan/inf/infinity at s,
 * never reading at or past end.  Returns the position after it, or NULL if there is none.
 * Locale-independent (strtod follows LC_NUMERIC) and fast.  Up to 19 significant digits are
 * kept, plenty for float results; with at most 15 digits and |exponent| <= 22 the double is
 * correctly rounded (one exact operation), and otherwise it is within a few double ulps, far
 * from deciding a float's rounding for any 9-digit decimal of a float: float -> %.9g -> float
 * is exact (the save path checks each number it writes anyway).  Callers check what follows. */
const char *gnf_scan_double(const char *s, const char *end, double *out) {
    const char *p = s;
    int neg = 0, any = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    uint64_t mant = 0;
    long exp10 = 0;
    for (; p < end && is_digit(*p); p++, any = 1) {
        if (mant < 1000000000000000000ull) mant = mant * 10 + (uint64_t)(*p - '0');
        else exp10++; /* digits past the 19th only scale */
    }
    if (p < end && *p == '.') {
        p++;
        for (; p < end && is_digit(*p); p++, any = 1)
            if (mant < 1000000000000000000ull) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                exp10--;
            }
    }
    if (!any) {
        /* "." alone is not a number; nan and inf are, so that they fail as non-finite. */
        p = s + neg;
        size_t left = (size_t)(end - p);
        if (left >= 3 && gnf_word_is(p, 3, "nan")) {
            *out = NAN;
            return p + 3;
        }
        if (left >= 8 && gnf_word_is(p, 8, "infinity")) p += 8;
        else if (left >= 3 && gnf_word_is(p, 3, "inf")) p += 3;
        else return NULL;
        *out = neg ? -INFINITY : INFINITY;
        return p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        int eneg = 0;
        if (q < end && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q < end && is_digit(*q)) { /* else "1e": p stays at 'e' and the caller rejects it */
            long e = 0;
            for (; q < end && is_digit(*q); q++)
                if (e < 100000) e = e * 10 + (*q - '0');
            exp10 += eneg ? -e : e;
            p = q;
        }
    }
    double v = (double)mant;
    if (mant != 0) {
        for (; exp10 < -22 && v != 0.0; exp10 += 22) v /= 1e22;
        for (; exp10 > 22 && !isinf(v); exp10 -= 22) v *= 1e22;
        if (exp10 < 0 && exp10 >= -22) v /= gnf_pow10[-exp10];
        else if (exp10 > 0 && exp10 <= 22) v *= gnf_pow10[exp10];
    }
    *out = neg ? -v : v;
    return p;
}

/* Scans [sign] digits at s (not past end) into *out, saturating at +-10^18 so that a huge value
 * stays huge (and then fails a range check) without overflow.  NULL if there are no digits. */
const char *gnf_scan_long(const char *s, const char *end, long long *out) {
    const char *p = s;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p >= end || !is_digit(*p)) return NULL;
    long long v = 0;
    for (; p < end && is_digit(*p); p++)
        v = v < 100000000000000000ll ? v * 10 + (*p - '0') : 1000000000000000000ll;
    *out = neg ? -v : v;
    return p;
}

/* ---- cursor ---------------------------------------------------------------------------- */

void gnf_text_blank(gnf_text *t) {
    while (t->p < t->end && is_blank(*t->p)) t->p++;
}

/* Moves to the start of the next line (or the end). */
void gnf_text_next_line(gnf_text *t) {
    const char *nl = memchr(t->p, '\n', (size_t)(t->end - t->p));
    if (nl) {
        t->p = nl + 1;
        t->line++;
    } else t->p = t->end;
}

/* Skips whitespace across lines, and '#' comments to the end of their line if hash != 0. */
void gnf_text_space(gnf_text *t, int hash) {
    for (;;) {
        gnf_text_blank(t);
        if (t->p < t->end && *t->p == '\n') {
            t->p++;
            t->line++;
        } else if (hash && t->p < t->end && *t->p == '#') gnf_text_next_line(t);
        else return;
    }
}

int gnf_text_eol(gnf_text *t) {
    gnf_text_blank(t);
    return t->p >= t->end || *t->p == '\n';
}

/* The whitespace-delimited word at p on the current line (length 0 at the end of the line). */
size_t gnf_text_word(gnf_text *t, const char **w) {
    gnf_text_blank(t);
    const char *q = t->p;
    while (q < t->end && !is_space(*q)) q++;
    *w = t->p;
    return (size_t)(q - t->p);
}

gnf_status gnf_text_expected(gnf_text *t, const char *what) {
    char tok[32];
    if (t->p >= t->end)
        return gnf_fail(GNF_ERR_FORMAT,
                        "%s:%ld: expected %s, found the end of the file (truncated)", t->path,
                        t->line, what);
    if (*t->p == '\n')
        return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: expected %s, found the end of the line", t->path,
                        t->line, what);
    return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: expected %s, found '%s'", t->path, t->line, what,
                    gnf_show(tok, t->p, t->end));
}

/* Reads a number on the current line; it must end at whitespace or the end of the data. */
gnf_status gnf_text_double(gnf_text *t, double *v, const char *what) {
    gnf_text_blank(t);
    const char *q = t->p < t->end && *t->p != '\n' ? gnf_scan_double(t->p, t->end, v) : NULL;
    if (!q || (q < t->end && !is_space(*q))) return gnf_text_expected(t, what);
    t->p = q;
    return GNF_OK;
}

/* Reads a coordinate on the current line: a number that is finite as a float. */
gnf_status gnf_text_coord(gnf_text *t, float *c) {
    const char *start;
    gnf_text_word(t, &start);
    double v;
    gnf_status s = gnf_text_double(t, &v, "a coordinate");
    if (s != GNF_OK) return s;
    *c = (float)v;
    if (!isfinite(*c)) {
        char tok[32];
        return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: non-finite coordinate '%s'", t->path, t->line,
                        gnf_show(tok, start, t->end));
    }
    return GNF_OK;
}

/* Reads an integer on the current line; it must end at whitespace or the end of the data. */
gnf_status gnf_text_long(gnf_text *t, long long *v, const char *what) {
    gnf_text_blank(t);
    const char *q = t->p < t->end && *t->p != '\n' ? gnf_scan_long(t->p, t->end, v) : NULL;
    if (!q || (q < t->end && !is_space(*q))) return gnf_text_expected(t, what);
    t->p = q;
    return GNF_OK;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static pthread_mutex_t g_json_lock = PTHREAD_MUTEX_INITIALIZER;

gnf_status gnf_json_parse(const char *name, const char *what, const char *txt, size_t n, cJSON **root) {
    const char *end = NULL;
    pthread_mutex_lock(&g_json_lock);
    cJSON *r = cJSON_ParseWithLengthOpts(txt, n, &end, 0);
    pthread_mutex_unlock(&g_json_lock);
    size_t at = end && end >= txt && end <= txt + n ? (size_t)(end - txt) : n;
    if (!r && n == 0) return gnf_fail(GNF_ERR_FORMAT, "%s: %s is empty, not JSON", name, what);
    if (!r) return gnf_fail(GNF_ERR_FORMAT, "%s: %s is not valid JSON (error near byte %zu of %zu)", name, what, at, n);
    while (at < n && is_space(txt[at]) && txt[at] != '\v' && txt[at] != '\f') at++;
    gnf_status s = GNF_OK;
    if (at < n) s = gnf_fail(GNF_ERR_FORMAT, "%s: %s has extra characters after the JSON value (byte %zu)", name, what, at);
    else if (!cJSON_IsObject(r)) s = gnf_fail(GNF_ERR_FORMAT, "%s: %s is not a JSON object", name, what);
    if (s != GNF_OK) cJSON_Delete(r);
    else *root = r;
    return s;
}
