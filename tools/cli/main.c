/* main.c — gnf <verb> [options]: dispatch, global --help and --version.
 * Results go to stdout, progress and errors to stderr.  Exit codes: 0 success, 1 runtime
 * failure (unreadable/corrupt/unsupported input, I/O error), 2 usage error, 128 + the signal
 * when interrupted (SIGINT 130, SIGTERM 143). */
#include "cli.h"
#include <string.h>

static const char *MAIN_HELP =
    "gnf " GNF_VERSION_STRING " — Gaussian Neural Fields on the CPU\n"
    "usage: gnf <verb> [options]     (gnf <verb> --help for each verb's options and defaults)\n"
    "  fit     fit a field to an image          gnf fit photo.png -o photo.gnf\n"
    "  render  render a model at any size       gnf render photo.gnf -o out.png --width 1920\n"
    "  eval    PSNR/SSIM against the source     gnf eval photo.gnf photo.png [--json]\n"
    "  info    what a model file holds          gnf info photo.gnf\n"
    "  fit     a mesh's signed distance field   gnf fit shape.obj -o shape.gnf --seconds 15\n"
    "  mesh    marching cubes of an SDF model   gnf mesh shape.gnf -o shape.ply --res 512\n"
    "  query   distance + gradient at points    gnf query shape.gnf points.txt\n"
    "  eval    IoU/NAE/Chamfer/F-score vs mesh  gnf eval shape.gnf shape.obj --json\n"
    "  render  sphere-traced view of an SDF     gnf render shape.gnf -o view.png --azimuth 45\n"
    "  fit     a radiance field from photos     gnf fit scene_dir -o scene.gnf\n"
    "  view    the model in a browser (WebGL2)  gnf view scene.gnf [--port 8000]\n"
    "  export-web  one offline HTML viewer file gnf export-web scene.gnf -o scene.html\n"
    "  fit-many one model per manifest line     gnf fit-many list.txt -O out/ [--shard I/N] [-- fit options]\n"
    "  report  table and summary of a batch     gnf report out/ [--json]\n"
    "gnf --options lists every option as 'verb option default'.\n"
    "Environment: GNF_THREADS (worker threads), GNF_SCALAR=1 (force the scalar kernels).\n"
    "Exit codes: 0 success, 1 runtime failure, 2 usage error, 130 / 143 interrupted (SIGINT /\n"
    "SIGTERM; gnf fit first saves the model trained so far).  No output is left half-written.\n";

int main(int argc, char **argv) {
    double t0 = gnf_now();
    cli_signals();
    if (argc < 2) { fputs(MAIN_HELP, stderr); return EXIT_USAGE; }
    const char *verb = argv[1];
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help") || !strcmp(verb, "help")) { fputs(MAIN_HELP, stdout); return 0; }
    if (!strcmp(verb, "--version") || !strcmp(verb, "version")) { printf("gnf %s (%s kernels)\n", GNF_VERSION_STRING, gnf_kernel_name()); return 0; }
    if (!strcmp(verb, "--options")) { cli_print_table(); return 0; }
    if (!strcmp(verb, "fit")) return cmd_fit(argc - 1, argv + 1, t0);
    if (!strcmp(verb, "render")) return cmd_render(argc - 1, argv + 1);
    if (!strcmp(verb, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(verb, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(verb, "mesh")) return cmd_mesh(argc - 1, argv + 1);
    if (!strcmp(verb, "query")) return cmd_query(argc - 1, argv + 1);
    if (!strcmp(verb, "view")) return cmd_view(argc - 1, argv + 1);
    if (!strcmp(verb, "export-web")) return cmd_export_web(argc - 1, argv + 1);
    if (!strcmp(verb, "fit-many")) return cmd_fit_many(argc - 1, argv + 1);
    if (!strcmp(verb, "report")) return cmd_report(argc - 1, argv + 1);
    fprintf(stderr, "gnf: unknown verb '%s' (see 'gnf --help')\n", verb);
    return EXIT_USAGE;
}
