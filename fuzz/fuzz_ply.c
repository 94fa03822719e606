/* fuzz_ply.c — feeds PLY meshes (ascii, binary little and big endian, any elements and lists) to
 * gnf_mesh_load_from_memory as "fuzz.ply", the parser behind gnf fit/eval/render on meshes.
 * Checks (fuzz/common.c, gnf_fuzz_mesh): no sanitizer finding, no slow input or huge allocation
 * from a lying count, a failure names the input and leaves no mesh or report behind, a loaded
 * mesh has finite vertices, triangles of three distinct in-range indices and a report whose
 * counts fit the mesh. */
#include "fuzz.h"

gnf_status gnf_fuzz_ply(const uint8_t *data, size_t size) { return gnf_fuzz_mesh(data, size, "fuzz.ply"); }

GNF_FUZZ_MAIN(ply)
