/* fuzz_jpeg.c — feeds JPEG files (baseline, progressive, arithmetic-coded, gray, RGB, CMYK) to
 * gnf_image_load_from_memory.  Checks as fuzz_png.c: no sanitizer finding, a clear error naming
 * the input, a loaded image of sane size with samples in [0, 1], the same pixels over white. */
#include "fuzz.h"

gnf_status gnf_fuzz_jpeg(const uint8_t *data, size_t size) { return gnf_fuzz_image(data, size, "fuzz.jpg"); }

GNF_FUZZ_MAIN(jpeg)
