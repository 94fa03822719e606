/* eval.c — gnf eval: a model against its source (image, mesh or scene). */
#include "cli.h"
#include <math.h>

static const char *HEAD =
    "usage: gnf eval MODEL.gnf IMAGE|MESH|SCENE_DIR [options]\n"
    "       gnf eval --exact MESH [--mc-res R] [--json]\n"
    "Image model: rendered at IMAGE's resolution (a model fitted on a centre crop: that crop), PSNR (dB)\n"
    "and SSIM (11x11 Gaussian window, sigma 1.5).  SDF model vs a mesh: IoU (occupancy on 2^20 points,\n"
    "half near the surface, half uniform), normal angular error (degrees, 100352 surface points),\n"
    "Chamfer-L1 and F-score (tau 0.005) between 2^20 points on the extracted and the reference mesh\n"
    "(normalised frame: bounding-box diagonal 1.9); and the anchors' protocol (NeuRBF, Instant-NGP):\n"
    "grid IoU on the --mc-res^3 marching-cubes grid points (up to 2048) and the mesh-to-mesh normal\n"
    "angle (2^20 points per direction).  Radiance-field model vs a scene: every view of\n"
    "--split at the pictures' resolution (--scale S: S times it) on white (a folder with only transforms.json:\n"
    "its every 8th view, 0, 8, 16, ...; distorted views through their lens), mean PSNR and SSIM, median frame\n"
    "time and fps after a warm-up frame, mean time by phase.  All: parameters and model bytes; --json gives the same as one JSON object.\n";

static int eval_nerf(const gnf_model *m, const char *model, const char *ref, const opt_value *o) {
    gnf_nerf_scene *sc = NULL;
    const char *split = o[O_SPLIT].s;
    int threads = (int)o[O_THREADS].i;
    if (gnf_nerf_scene_load(ref, split, (int)o[O_DOWNSCALE].i, threads, &sc) != GNF_OK) return runtime_error();
    gnf_nerf_metrics mt;
    gnf_status st = gnf_nerf_evaluate_scaled(m, sc, (int)o[O_VIEWS].i, (int)o[O_EVERY].i, (int)o[O_SCALE].i, threads, &mt);
    gnf_nerf_scene_free(sc);
    long np = gnf_model_param_count(m), bytes = file_size(model);
    if (st != GNF_OK) return runtime_error();
    if (o[O_JSON].set)
        printf("{\"psnr\": %.4f, \"ssim\": %.6f, \"views\": %d, \"params\": %ld, \"bytes\": %ld, \"fps\": %.3f, "
               "\"ms_per_frame\": %.2f, \"samples_per_pixel\": %.2f, \"split\": \"%s\", \"downscale\": %ld, \"every\": %ld, "
               "\"width\": %d, \"height\": %d, \"scale\": %ld, \"ms_march\": %.2f, \"ms_lookup\": %.2f, \"ms_decoder\": %.2f, "
               "\"ms_composite\": %.2f, \"setup_ms\": %.1f, \"seconds\": %.2f}\n",
               mt.psnr, mt.ssim, mt.views, np, bytes, mt.fps, mt.ms_per_frame, mt.samples_per_pixel, split, o[O_DOWNSCALE].i, o[O_EVERY].i,
               mt.width, mt.height, o[O_SCALE].i, mt.phase_ms[0], mt.phase_ms[1], mt.phase_ms[2], mt.phase_ms[3], mt.setup_ms, mt.seconds);
    else
        printf("%s vs %s (%s split, %d views at %dx%d): PSNR %.2f dB, SSIM %.4f, %ld parameters, %ld bytes, %.1f ms per frame "
               "(%.2f fps, %.1f field samples per pixel; marching %.1f, grid lookup %.1f, decoder %.1f, compositing %.1f ms), "
               "%.1f s\n", model, ref, split, mt.views, mt.width, mt.height, mt.psnr, mt.ssim, np, bytes, mt.ms_per_frame, mt.fps,
               mt.samples_per_pixel, mt.phase_ms[0], mt.phase_ms[1], mt.phase_ms[2], mt.phase_ms[3], mt.seconds);
    return 0;
}

/* v with `digits` decimals into buf, or null when v is not finite (JSON has no NaN); returns buf. */
static const char *json_num(char *buf, size_t n, int digits, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.*f", digits, v);
    else snprintf(buf, n, "null");
    return buf;
}

static int eval_sdf(const gnf_model *m, const char *model, const char *ref, const opt_value *o) {
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = 1024; /* evaluation draws its own points */
    sc.threads = (int)o[O_THREADS].i;
    gnf_sdf_target *t = NULL;
    if (gnf_sdf_target_create(ref, &sc, &t) != GNF_OK) return runtime_error();
    gnf_sdf_metrics mt;
    gnf_status st = gnf_sdf_evaluate(m, t, (int)o[O_MC_RES].i, sc.threads, &mt);
    gnf_sdf_target_free(t);
    long np = gnf_model_param_count(m), bytes = file_size(model);
    if (st != GNF_OK) return runtime_error();
    char igrid[32], nmesh[32], cham[32];
    if (o[O_JSON].set)   /* no surface: Chamfer is infinite, written as null (JSON has no inf) */
        printf("{\"iou\": %.6f, \"iou_uniform\": %.6f, \"nae_deg\": %.4f, \"chamfer_l1\": %s, \"fscore\": %.6f, \"iou_grid\": %s, "
               "\"nae_mesh_deg\": %s, \"params\": %ld, \"bytes\": %ld, \"mc_res\": %d, \"iou_points\": %ld, \"nae_points\": %ld, "
               "\"chamfer_points\": %ld, \"iou_grid_res\": %d, \"nae_mesh_points\": %ld, \"seconds\": %.3f}\n",
               mt.iou, mt.iou_uniform, mt.nae_deg, json_num(cham, sizeof cham, 7, mt.chamfer_l1), mt.fscore,
               json_num(igrid, sizeof igrid, 6, mt.iou_grid),
               json_num(nmesh, sizeof nmesh, 4, mt.nae_mesh_deg), np, bytes, mt.mc_res, mt.iou_points, mt.nae_points,
               mt.chamfer_points, mt.iou_grid_res, mt.nae_mesh_points, mt.seconds);
    else
        printf("%s vs %s: IoU %.5f (uniform points alone %.5f), NAE %.2f deg, Chamfer-L1 %.6f, F-score %.4f (tau 0.005); "
               "anchors' protocol: grid IoU %.5f, mesh NAE %.2f deg; %ld parameters, %ld bytes (marching cubes %d^3, %.1f s)\n",
               model, ref, mt.iou, mt.iou_uniform, mt.nae_deg, mt.chamfer_l1, mt.fscore, mt.iou_grid, mt.nae_mesh_deg, np, bytes,
               mt.mc_res, mt.seconds);
    return 0;
}

/* gnf eval --exact MESH: the floor of the mesh metrics at --mc-res (gnf_sdf_evaluate_exact). */
static int eval_exact(const char *ref, const opt_value *o) {
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = 1024;
    sc.threads = (int)o[O_THREADS].i;
    gnf_sdf_target *t = NULL;
    if (gnf_sdf_target_create(ref, &sc, &t) != GNF_OK) return runtime_error();
    gnf_sdf_metrics mt;
    gnf_status st = gnf_sdf_evaluate_exact(t, (int)o[O_MC_RES].i, sc.threads, &mt);
    gnf_sdf_target_free(t);
    if (st != GNF_OK) return runtime_error();
    if (o[O_JSON].set)
        printf("{\"exact\": true, \"chamfer_l1\": %.7f, \"fscore\": %.6f, \"nae_mesh_deg\": %.4f, \"mc_res\": %d, "
               "\"chamfer_points\": %ld, \"nae_mesh_points\": %ld, \"seconds\": %.3f}\n",
               mt.chamfer_l1, mt.fscore, mt.nae_mesh_deg, mt.mc_res, mt.chamfer_points, mt.nae_mesh_points, mt.seconds);
    else
        printf("%s, its exact SDF through marching cubes %d^3 (the floor of the mesh metrics): Chamfer-L1 %.6f, "
               "F-score %.4f (tau 0.005), mesh NAE %.2f deg (%.1f s)\n", ref, mt.mc_res, mt.chamfer_l1, mt.fscore,
               mt.nae_mesh_deg, mt.seconds);
    return 0;
}

static int eval_image(const gnf_model *m, const char *model, const char *ref, const opt_value *o, gnf_image *img) {
    int json = o[O_JSON].set, cw = o[O_CROP].v[0], ch = o[O_CROP].v[1];
    if (gnf_image_load(ref, img, NULL) != GNF_OK) return runtime_error();
    const char *mc = gnf_model_get_meta(m, "gnf.image.crop");
    if (!o[O_CROP].set && mc) {
        if (sscanf(mc, "%dx%d", &cw, &ch) != 2 || cw < 1 || ch < 1) cw = ch = 0;
        else if (!json) fprintf(stderr, "note: the model was fitted on the centre %s crop; comparing with that crop of %s\n", mc, ref);
    }
    if (cw && crop_center(img, cw, ch) != GNF_OK) return fail("%s: cannot take a %dx%d crop of a %dx%d image", ref, cw, ch, img->w, img->h);
    if (gnf_model_get_config(m)->out_dim != img->c)
        return fail("%s has %d channel(s) but %s predicts %d", ref, img->c, model, gnf_model_get_config(m)->out_dim);
    gnf_image out;
    double t0 = gnf_now();
    gnf_status st = gnf_render_image(m, img->w, img->h, (int)o[O_THREADS].i, &out);
    double dt = gnf_now() - t0;
    if (st != GNF_OK) return runtime_error();
    double psnr = gnf_psnr(out.px, img->px, (long)img->w * img->h * img->c), ssim = gnf_ssim(&out, img);
    long np = gnf_model_param_count(m), bytes = file_size(model);
    if (json)
        printf("{\"psnr\": %.4f, \"ssim\": %.6f, \"params\": %ld, \"bytes\": %ld, \"width\": %d, \"height\": %d, \"seconds\": %.4f}\n",
               isfinite(psnr) ? psnr : 999.0, ssim, np, bytes, img->w, img->h, dt);
    else
        printf("%s vs %s (%dx%d): PSNR %.2f dB, SSIM %.4f, %ld parameters, %ld bytes, rendered in %.3f s\n", model, ref, img->w,
               img->h, psnr, ssim, np, bytes, dt);
    gnf_image_free(&out);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, V_EVAL, "gnf eval", argc, argv, 2, HEAD, NULL);
    if (rc >= 0) return rc;
    if (a.o[O_EXACT].set) {
        if (a.npos != 1) return usage_error("--exact takes one MESH and no model");
        return eval_exact(a.pos[0], a.o);
    }
    if (a.npos < 2) return usage_error("needs MODEL and IMAGE (or MESH)");
    gnf_model *m = NULL;
    if (gnf_model_load(a.pos[0], &m) != GNF_OK) return runtime_error();
    gnf_task task = gnf_model_get_task(m);
    gnf_image img = {0};
    if ((rc = cli_check_task(&a, task))) {}
    else if (task == GNF_TASK_NERF) rc = eval_nerf(m, a.pos[0], a.pos[1], a.o);
    else if (task == GNF_TASK_SDF) rc = eval_sdf(m, a.pos[0], a.pos[1], a.o);
    else rc = eval_image(m, a.pos[0], a.pos[1], a.o, &img);
    gnf_image_free(&img);
    gnf_model_free(m);
    return rc;
}
