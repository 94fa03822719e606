/* test.h — a tiny test framework: TEST(name) { ... } registers a test; CHECK* record failures
 * with file:line and keep going; SKIP("why") marks a test skipped (said in the summary). */
#ifndef GNF_TEST_H
#define GNF_TEST_H
#include <math.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
/* Path to ../shared/data (from the project root), or NULL if absent. */
const char *test_data_dir(void);
/* A fresh temporary directory for this test run (created once). */
const char *test_tmp_dir(void);

#define TEST(name)                                                                       \
    static void test_##name(void);                                                       \
    __attribute__((constructor)) static void reg_##name(void) { test_register(#name, test_##name); } \
    static void test_##name(void)

#define CHECK(c) do { if (!(c)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #c); } while (0)
#define CHECK_MSG(c, ...) do { if (!(c)) test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) test_fail(__FILE__, __LINE__, "%s == %s: %lld vs %lld", #a, #b, _a, _b); } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (double)(a), _b = (double)(b), _t = (double)(tol); \
    if (!(fabs(_a - _b) <= _t)) test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, _a, _b, _t); } while (0)
#define SKIP(why) do { test_skip(why); return; } while (0)
#endif
