/* fuzz.h — what the harnesses in fuzz/ share.
 *
 * A harness is one function per input, gnf_fuzz_<name>(data, size): it hands the bytes to a
 * reader of untrusted input through the same entry point the library and the CLI use, checks
 * the reader's promises on the result (FUZZ_ASSERT), frees everything and returns the reader's
 * status.  Sanitizers (ASan, UBSan) catch the memory and undefined-behaviour errors; libFuzzer's
 * -timeout and -rss_limit_mb/-malloc_limit_mb catch slow inputs and lying sizes.
 *
 * Built with GNF_FUZZ_LIBFUZZER (make fuzz, clang -fsanitize=fuzzer) a harness is also the
 * binary's LLVMFuzzerTestOneInput; without it (make test) tests/test_fuzz.c calls the functions
 * on every file in tests/fuzz_regressions/<name>/ and fuzz/seeds/<name>/.  Not part of libgnf. */
#ifndef GNF_FUZZ_H
#define GNF_FUZZ_H

#include "core/core.h"
#include <stddef.h>
#include <stdint.h>

#ifdef GNF_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#define GNF_FUZZ_MAIN(name)                                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {           \
        gnf_fuzz_##name(data, size);                                         \
        return 0;                                                            \
    }
#else
#define GNF_FUZZ_MAIN(name)
#endif

/* The harnesses, one per reader (fuzz/fuzz_<name>.c); each returns the reader's status. */
gnf_status gnf_fuzz_png(const uint8_t *data, size_t size);   /* PNG decoding */
gnf_status gnf_fuzz_jpeg(const uint8_t *data, size_t size);  /* JPEG decoding */
gnf_status gnf_fuzz_obj(const uint8_t *data, size_t size);   /* meshes: Wavefront OBJ */
gnf_status gnf_fuzz_ply(const uint8_t *data, size_t size);   /* meshes: PLY ascii and binary */
gnf_status gnf_fuzz_stl(const uint8_t *data, size_t size);   /* meshes: STL ascii and binary */
gnf_status gnf_fuzz_off(const uint8_t *data, size_t size);   /* meshes: OFF */
gnf_status gnf_fuzz_model(const uint8_t *data, size_t size); /* safetensors + gnf model files */
gnf_status gnf_fuzz_scene(const uint8_t *data, size_t size); /* transforms_*.json scenes */
gnf_status gnf_fuzz_query(const uint8_t *data, size_t size); /* gnf query's point input */

/* Called for a broken promise (message formatted like printf).  Default: print it and abort,
 * which libFuzzer records as a crash; tests/test_fuzz.c installs a hook that records a test
 * failure instead. */
void gnf_fuzz_violation(const char *file, int line, const char *fmt, ...) GNF_PRINTF(3, 4);
extern void (*gnf_fuzz_hook)(const char *msg);
#define FUZZ_ASSERT(c, ...)                                                  \
    do {                                                                     \
        if (!(c)) gnf_fuzz_violation(__FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)

/* A failed load's promises: s is one of the statuses readers return (never GNF_ERR_INVALID
 * unless invalid_ok), and gnf_last_error() names the input (contains name) and says more. */
void gnf_fuzz_check_error(gnf_status s, const char *name, int invalid_ok);

/* Shared bodies: an image (PNG or JPEG by its signature) and a mesh (format by name's
 * extension) loaded from data and checked; they return the reader's status. */
gnf_status gnf_fuzz_image(const uint8_t *data, size_t size, const char *name);
gnf_status gnf_fuzz_mesh(const uint8_t *data, size_t size, const char *name);

#endif
