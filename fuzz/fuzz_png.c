/* fuzz_png.c — feeds PNG files to gnf_image_load_from_memory (the decoder behind gnf fit/eval on
 * images and behind scenes), every colour type, depth and interlacing libpng accepts.  Checks:
 * no sanitizer finding, a failure names the input and leaves nothing behind, a loaded image has
 * a sane size and samples in [0, 1], and loading it composited over white (what scenes do)
 * agrees with it (fuzz/common.c, gnf_fuzz_image). */
#include "fuzz.h"

gnf_status gnf_fuzz_png(const uint8_t *data, size_t size) { return gnf_fuzz_image(data, size, "fuzz.png"); }

GNF_FUZZ_MAIN(png)
