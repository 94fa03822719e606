/* render.c — gnf render: an image model at any size, a sphere-traced view of an SDF model, or a
 * camera / an orbit of a radiance-field model. */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ROUND_ASPECT(a, num, den) (((a) * (long)(num) + (den) / 2) / (den))

static const char *HEAD =
    "usage: gnf render MODEL.gnf -o OUT.png [options]\n"
    "Renders an image model at any resolution (default: the size it was fitted at).  Writes an 8-bit\n"
    "PNG.  An SDF model gives a sphere-traced, shaded view (default 512x512) from a camera on a sphere.\n"
    "A radiance-field model renders a camera of its scene, or without --scene one orbit view at\n"
    "--azimuth/--elevation (--width/--height rescale the camera), composited on white.\n";

/* Writes a 1-channel image scaled by 1/scale (scale <= 0: by its maximum) as PNG. */
static gnf_status save_scaled(const char *path, gnf_image *img, float scale) {
    long n = (long)img->w * img->h;
    for (long i = 0; scale <= 0 && i < n; i++) if (img->px[i] > -scale) scale = -img->px[i];
    if (scale < 0) scale = -scale;
    for (long i = 0; i < n; i++) img->px[i] = scale > 0 ? img->px[i] / scale : 0;
    return gnf_image_save_png(path, img);
}

/* Renders one radiance-field view to out (+ optional depth/opacity PNGs); prints a line. */
static int nerf_render_one(gnf_nerf_renderer *r, const gnf_camera *cam, const char *out, const char *depth_path, const char *opac_path, int print) {
    gnf_image rgb, dep, op;
    double smp = 0, t0 = gnf_now();
    if (gnf_nerf_render(r, cam, &rgb, depth_path ? &dep : NULL, opac_path ? &op : NULL, &smp) != GNF_OK) return runtime_error();
    double dt = gnf_now() - t0;
    gnf_status st = gnf_image_save_png(out, &rgb);
    if (st == GNF_OK && depth_path) st = save_scaled(depth_path, &dep, 0);
    if (st == GNF_OK && opac_path) st = save_scaled(opac_path, &op, 1.0f);
    gnf_image_free(&rgb);
    if (depth_path) gnf_image_free(&dep);
    if (opac_path) gnf_image_free(&op);
    if (st != GNF_OK) return runtime_error();
    if (print) printf("%s: %dx%d radiance-field view, %.1f ms (%.1f field samples per pixel)\n", out, cam->w, cam->h, dt * 1e3, smp);
    return 0;
}

/* The --scene camera --view SPLIT:I (at 1/--downscale) into *cam. */
static int scene_camera(const opt_value *o, gnf_camera *cam) {
    const char *view = o[O_VIEW].s, *c = strchr(view, ':');
    char split[16], path[4200];
    long idx = 0;
    if (!c || c - view >= (long)sizeof split || !c[1] || (idx = strtol(c + 1, NULL, 10)) < 0 || strspn(c + 1, "0123456789") != strlen(c + 1))
        return usage_error("--view needs SPLIT:INDEX (e.g. test:17), got '%s'", view);
    snprintf(split, sizeof split, "%.*s", (int)(c - view), view);
    snprintf(path, sizeof path, "%s/transforms_%s.json", o[O_SCENE].s, split);
    gnf_nerf_scene *sc = NULL;
    if (gnf_nerf_scene_load_cameras(is_dir(o[O_SCENE].s) ? o[O_SCENE].s : path, split, (int)o[O_DOWNSCALE].i, &sc) != GNF_OK)
        return runtime_error();
    int n = gnf_nerf_scene_count(sc);
    if (idx < n) gnf_nerf_scene_camera(sc, (int)idx, cam);
    gnf_nerf_scene_free(sc);
    return idx < n ? 0 : fail("%s has %d %s views, no view %ld", o[O_SCENE].s, n, split, idx);
}

static int render_nerf(const gnf_model *m, const char *output, const opt_value *o) {
    gnf_camera cam;
    float radius = 4;
    int angles = o[O_AZIMUTH].set || o[O_ELEVATION].set, rc = 0;
    float az = angles ? (float)o[O_AZIMUTH].d : 0, el = angles ? (float)o[O_ELEVATION].d : 30.0f;
    if (o[O_SCENE].set) rc = scene_camera(o, &cam);
    else if (gnf_nerf_model_camera(m, &cam, &radius) != GNF_OK) rc = runtime_error();
    if (rc) return rc;
    float dist = o[O_DISTANCE].set ? (float)o[O_DISTANCE].d : radius;
    gnf_camera base = cam;
    if (!o[O_SCENE].set) gnf_nerf_orbit_camera(&base, angles ? az : 30.0f, el, dist, &cam);
    long w = o[O_WIDTH].i, h = o[O_HEIGHT].i;
    if (w || h) { /* scale the intrinsics to the requested size */
        if (w && !h) h = ROUND_ASPECT(w, cam.h, cam.w);
        else if (h && !w) w = ROUND_ASPECT(h, cam.w, cam.h);
        float sx = (float)w / cam.w, sy = (float)h / cam.h;
        cam.fx *= sx; cam.cx *= sx; cam.fy *= sy; cam.cy *= sy;
        cam.w = (int)w; cam.h = (int)h;
    }
    gnf_nerf_renderer *r = NULL;
    if (gnf_nerf_renderer_create(m, (int)o[O_THREADS].i, &r) != GNF_OK) return runtime_error();
    long orbit = o[O_ORBIT].i;
    if (!orbit) rc = nerf_render_one(r, &cam, output, o[O_DEPTH].s, o[O_OPACITY].s, 1);
    else if (!is_dir(output) && mkdir(output, 0755) != 0) rc = fail("%s: cannot create the folder (%s)", output, strerror(errno));
    double t0 = gnf_now();
    base = cam;
    for (long i = 0; orbit && rc == 0 && i < orbit; i++) {
        char fp[4200];
        snprintf(fp, sizeof fp, "%s/%03ld.png", output, i);
        gnf_nerf_orbit_camera(&base, (float)(360.0 * i / orbit) + az, el, dist, &cam);
        rc = nerf_render_one(r, &cam, fp, NULL, NULL, 0);
    }
    if (orbit && rc == 0)
        printf("%s: %ld orbit views of %dx%d in %.2f s (%.2f fps)\n", output, orbit, cam.w, cam.h, gnf_now() - t0, orbit / (gnf_now() - t0));
    gnf_nerf_renderer_free(r);
    return rc;
}

/* --slice AXIS=VALUE [--mesh REF]: the field's slice, against the reference mesh when given. */
static int render_slice(const gnf_model *m, const char *output, const opt_value *o, long w, long h) {
    const char *s = o[O_SLICE].s, *axes = "xyz", *ax = s[0] ? strchr(axes, s[0]) : NULL;
    char *end = NULL;
    double v = ax && s[1] == '=' ? strtod(s + 2, &end) : 0;
    if (!ax || s[1] != '=' || end == s + 2 || *end || !isfinite(v)) return usage_error("--slice needs x=V, y=V or z=V, got '%s'", s);
    gnf_sdf_target *ref = NULL;
    if (o[O_MESH_REF].s) {
        gnf_sdf_config sc;
        gnf_sdf_config_default(&sc);
        sc.samples = 1024;   /* the reference is only queried along the slice */
        sc.threads = (int)o[O_THREADS].i;
        if (gnf_sdf_target_create(o[O_MESH_REF].s, &sc, &ref) != GNF_OK) return runtime_error();
    }
    gnf_image img;
    double wrong = NAN;
    gnf_status st = gnf_sdf_render_slice(m, (int)(ax - axes), (float)v, (int)w, (int)h, ref, (int)o[O_THREADS].i, &img, &wrong);
    gnf_sdf_target_free(ref);
    if (st == GNF_OK) {
        st = gnf_image_save_png(output, &img);
        gnf_image_free(&img);
    }
    if (st != GNF_OK) return runtime_error();
    printf("%s: %ldx%ld slice %s", output, w, h, s);
    if (ref) printf(", %.3f%% of the pixels have the wrong sign against %s", 100 * wrong, o[O_MESH_REF].s);
    printf("\n");
    return 0;
}

static int render(const gnf_model *m, const char *output, const opt_value *o) {
    gnf_task task = gnf_model_get_task(m);
    if (task == GNF_TASK_NERF) return render_nerf(m, output, o);
    long w = o[O_WIDTH].i, h = o[O_HEIGHT].i;
    int threads = (int)o[O_THREADS].i;
    gnf_image img;
    double t0 = gnf_now();
    gnf_status st;
    if (task == GNF_TASK_SDF) {
        if (!w && !h) w = h = 512;
        else if (!h) h = w;
        else if (!w) w = h;
        if (o[O_SLICE].set) return render_slice(m, output, o, w, h);
        if (o[O_MESH_REF].set) return usage_error("--mesh goes with --slice");
        st = gnf_sdf_render(m, (int)w, (int)h, (float)o[O_AZIMUTH].d, (float)o[O_ELEVATION].d, (float)o[O_DISTANCE].d,
                            (float)o[O_FOV].d, threads, &img);
    } else {
        const char *sw = gnf_model_get_meta(m, "gnf.image.width"), *sh = gnf_model_get_meta(m, "gnf.image.height");
        long nw = sw ? atol(sw) : 0, nh = sh ? atol(sh) : 0;
        if (nw < 1 || nh < 1 || nw > 65536 || nh > 65536) nw = nh = 512;
        if (w && !h) h = ROUND_ASPECT(w, nh, nw);
        else if (h && !w) w = ROUND_ASPECT(h, nw, nh);
        else if (!w && !h) w = nw, h = nh;
        if (w * h > (1L << 28)) return fail("%ldx%ld is too large", w, h);
        st = gnf_render_image(m, (int)w, (int)h, threads, &img);
    }
    double dt = gnf_now() - t0;
    if (st != GNF_OK) return runtime_error();
    st = gnf_image_save_png(output, &img);
    gnf_image_free(&img);
    if (st != GNF_OK) return runtime_error();
    if (task == GNF_TASK_SDF) printf("%s: %ldx%ld sphere-traced view, rendered in %.3f s\n", output, w, h, dt);
    else printf("%s: %ldx%ld, rendered in %.3f s (%.1f Mpixel/s)\n", output, w, h, dt, (double)w * h / dt / 1e6);
    return 0;
}

int cmd_render(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, V_RENDER, "gnf render", argc, argv, 1, HEAD, NULL);
    if (rc >= 0) return rc;
    if (!a.npos) return usage_error("missing MODEL");
    if (!a.o[O_OUTPUT].s) return usage_error("missing -o OUT.png");
    gnf_model *m = NULL;
    if (gnf_model_load(a.pos[0], &m) != GNF_OK) return runtime_error();
    rc = cli_check_task(&a, gnf_model_get_task(m));
    if (!rc) rc = render(m, a.o[O_OUTPUT].s, a.o);
    gnf_model_free(m);
    return rc;
}
