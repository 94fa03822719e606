/* fuzz_obj.c — feeds OBJ meshes (v/f lines, polygons, negative and v/t/n indices) to
 * gnf_mesh_load_from_memory as "fuzz.obj", the parser behind gnf fit/eval/render on meshes.
 * Checks (fuzz/common.c, gnf_fuzz_mesh): no sanitizer finding, no slow input or huge allocation
 * from a lying count, a failure names the input and leaves no mesh or report behind, a loaded
 * mesh has finite vertices, triangles of three distinct in-range indices and a report whose
 * counts fit the mesh. */
#include "fuzz.h"

gnf_status gnf_fuzz_obj(const uint8_t *data, size_t size) { return gnf_fuzz_mesh(data, size, "fuzz.obj"); }

GNF_FUZZ_MAIN(obj)
