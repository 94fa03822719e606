/* fuzz_off.c — feeds OFF meshes ([ST][C][N]OFF, counts, vertex and face lines, comments) to
 * gnf_mesh_load_from_memory as "fuzz.off", the parser behind gnf fit/eval/render on meshes.
 * Checks (fuzz/common.c, gnf_fuzz_mesh): no sanitizer finding, no slow input or huge allocation
 * from a lying count, a failure names the input and leaves no mesh or report behind, a loaded
 * mesh has finite vertices, triangles of three distinct in-range indices and a report whose
 * counts fit the mesh. */
#include "fuzz.h"

gnf_status gnf_fuzz_off(const uint8_t *data, size_t size) { return gnf_fuzz_mesh(data, size, "fuzz.off"); }

GNF_FUZZ_MAIN(off)
