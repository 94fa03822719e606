/* util.c — allocation, RNG, timing, half floats, CPU detection. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *gnf_calloc(size_t n, size_t size) {
    if (n == 0 || size == 0) n = size = 1;
    if (n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) return NULL;
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void gnf_free(void *p) { free(p); }

size_t gnf_bufs_bytes(const gnf_buf *b, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (b[i].bytes + 63) & ~(size_t)63;
    return total;
}

int gnf_alloc_bufs(const gnf_buf *b, int n, void **block) {
    char *p = *block = gnf_calloc(gnf_bufs_bytes(b, n), 1);
    for (int i = 0; i < n; i++) {
        *b[i].slot = p;
        if (p) p += (b[i].bytes + 63) & ~(size_t)63;
    }
    return p != NULL;
}

char *gnf_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void gnf_rng_seed(gnf_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t s = seed ^ (stream * 0xD1B54A32D192ED03ull);
    r->s = splitmix(&s);
}

uint64_t gnf_rng_u64(gnf_rng *r) { return splitmix(&r->s); }

float gnf_rng_uniform(gnf_rng *r) { return (float)(gnf_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

uint32_t gnf_rng_below(gnf_rng *r, uint32_t n) {
    return (uint32_t)(((gnf_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

double gnf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint16_t gnf_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xFFu;
    uint32_t man = x & 0x7FFFFFu;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00u | (man ? 0x200u : 0)); /* inf/nan */
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7C00u);                         /* overflow */
    if (e <= 0) {                                                            /* subnormal */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++; /* may carry into exponent: ok */
    return (uint16_t)(sign | half);
}

float gnf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t x;
    if (exp == 0) {
        if (man == 0) x = sign;
        else {
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FFu) << 13);
        }
    } else if (exp == 31) x = sign | 0x7F800000u | (man << 13);
    else x = sign | ((exp - 15 + 127) << 23) | (man << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* libgcc detects the CPU in a constructor, so this is cheap and thread-safe. */
int gnf_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}
