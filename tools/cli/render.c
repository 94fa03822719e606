/* render.c — gnf render: an image model at any size, a sphere-traced view of an SDF model, or a
 * camera / an orbit of a radiance-field model. */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUND_ASPECT(a, num, den) (((a) * (long)(num) + (den) / 2) / (den))

static const char *HEAD =
    "usage: gnf render MODEL.gnf -o OUT.png [options]\n"
    "Renders an image model at any resolution (default: the size it was fitted at).  Writes an 8-bit\n"
    "PNG.  An SDF model gives a sphere-traced, shaded view (default 512x512) from a camera on a sphere.\n"
    "A radiance-field model renders a camera of its scene, or without --scene one orbit view at\n"
    "--azimuth/--elevation (--width/--height rescale the camera), composited on white; --orbit N views\n"
    "around it or the cameras of --path CAMS.json go into the folder -o as PNG files, or with --video\n"
    "OUT.mp4|OUT.webm into one video through ffmpeg.\n";

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

/* ---- --video: frames piped to ffmpeg as raw RGB, written to a hidden temporary file beside the
 * output and renamed over it only when ffmpeg succeeded (so a failed or interrupted encode leaves
 * no partial video) ---- */
typedef struct { pid_t pid; int fd, slot; char tmp[4300]; const char *path; unsigned char *row; int row_w, row_h; } video_out;

/* The ffmpeg on PATH into buf; 0 if there is none. */
static int find_ffmpeg(char *buf, size_t n) {
    const char *p = getenv("PATH");
    while (p && *p) {
        size_t len = strcspn(p, ":");
        snprintf(buf, n, "%.*s/ffmpeg", (int)len, p);
        if (len && access(buf, X_OK) == 0) return 1;
        p += len + (p[len] == ':');
    }
    return 0;
}

static int video_open(video_out *v, const char *path, int w, int h, long fps) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    int webm = dot && strcmp(dot, ".webm") == 0;
    if (!dot || (strcmp(dot, ".mp4") && !webm)) return usage_error("--video must end in .mp4 or .webm, got '%s'", path);
    char ff[4200];
    if (!find_ffmpeg(ff, sizeof ff))
        return fail("--video needs ffmpeg, which is not on PATH (Debian: apt-get install ffmpeg); without --video the frames "
                    "are written as PNG files into the folder -o");
    memset(v, 0, sizeof *v);
    v->path = path;
    v->fd = -1;
    snprintf(v->tmp, sizeof v->tmp, "%.*s.%s.tmp%ld%s", slash ? (int)(slash - path + 1) : 0, path, slash ? slash + 1 : path,
             (long)getpid(), dot);
    v->row = malloc((size_t)w * 3);
    int fds[2];
    if (!v->row || pipe(fds) != 0) { free(v->row); return fail("%s: cannot start ffmpeg (%s)", path, strerror(errno)); }
    char size[32], rate[16];
    snprintf(size, sizeof size, "%dx%d", w, h);
    snprintf(rate, sizeof rate, "%ld", fps);
    const char *args[40] = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                            "-s", size, "-r", rate, "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p"};
    int na = 19;
    static const char *const h264[] = {"-c:v", "libx264", "-crf", "18", "-movflags", "+faststart"};
    static const char *const vp9[] = {"-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0"};
    for (int i = 0; i < 6; i++) args[na++] = webm ? vp9[i] : h264[i];
    args[na++] = v->tmp;
    args[na] = NULL;
    fflush(stdout);
    v->pid = fork();
    if (v->pid == 0) {   /* ffmpeg reads the frames on its standard input */
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1);
        execv(ff, (char *const *)args);
        _exit(127);
    }
    close(fds[0]);
    if (v->pid < 0) { close(fds[1]); free(v->row); return fail("%s: cannot start ffmpeg (%s)", path, strerror(errno)); }
    v->fd = fds[1];
    v->slot = gnf_partial_add(v->tmp);   /* an interrupt removes it (main.c's handler) */
    signal(SIGPIPE, SIG_IGN);   /* an ffmpeg that dies is seen as a write error, not a signal */
    return 0;
}

/* One frame (the renderer's RGB in [0,1]) as 8-bit RGB rows. */
static int video_frame(video_out *v, const gnf_image *img) {
    for (int y = 0; y < img->h; y++) {
        const float *px = img->px + (long)y * img->w * 3;
        for (int i = 0; i < img->w * 3; i++) {
            float c = px[i] < 0 ? 0 : px[i] > 1 ? 1 : px[i];
            v->row[i] = (unsigned char)lrintf(c * 255.0f);
        }
        size_t n = (size_t)img->w * 3, off = 0;
        while (off < n) {
            ssize_t k = write(v->fd, v->row + off, n - off);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) return fail("%s: ffmpeg stopped taking frames (%s)", v->path, strerror(errno));
            off += (size_t)k;
        }
    }
    return 0;
}

/* Ends the encode: the video renamed into place when ffmpeg succeeded and rc == 0, else removed. */
static int video_close(video_out *v, int rc) {
    if (v->fd >= 0) close(v->fd);
    int status = 0;
    while (waitpid(v->pid, &status, 0) < 0 && errno == EINTR) {}
    free(v->row);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = fail("%s: ffmpeg failed (exit status %d)", v->path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (rc == 0 && rename(v->tmp, v->path) != 0) rc = fail("%s: cannot write (%s)", v->path, strerror(errno));
    if (rc != 0) unlink(v->tmp);
    gnf_partial_drop(v->slot);
    return rc;
}

/* The cameras of --path: a frame without w/h nor picture takes --width x --height, else the
 * model's training picture size (native: times gnf.nerf.downscale); shift moves them from the
 * file's box centre (gnf_nerf_scene_box) to the model's (gnf.nerf.center). */
static int path_cameras(const gnf_model *m, const opt_value *o, gnf_nerf_scene **out, float shift[3]) {
    int dw = (int)o[O_WIDTH].i, dh = (int)o[O_HEIGHT].i;
    gnf_camera mc;
    float rad;
    if (!(dw && dh) && gnf_nerf_model_camera(m, &mc, &rad) == GNF_OK) {
        const char *ds = gnf_model_get_meta(m, "gnf.nerf.downscale");
        long d = ds ? atol(ds) : 1;
        if (d < 1 || d > 64) d = 1;
        dw = mc.w * (int)d;
        dh = mc.h * (int)d;
    }
    if (gnf_nerf_scene_load_cameras_sized(o[O_CAM_PATH].s, "test", (int)o[O_DOWNSCALE].i, dw, dh, out) != GNF_OK)
        return runtime_error();
    float box, fc[3], mcen[3] = {0, 0, 0};
    gnf_nerf_scene_box(*out, &box, fc);
    const char *cs = gnf_model_get_meta(m, "gnf.nerf.center");
    if (cs && sscanf(cs, "%f,%f,%f", &mcen[0], &mcen[1], &mcen[2]) != 3) mcen[0] = mcen[1] = mcen[2] = 0;
    for (int k = 0; k < 3; k++) shift[k] = fc[k] - mcen[k];
    return 0;
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
    gnf_nerf_scene *path = NULL;   /* --path: its cameras */
    float shift[3] = {0, 0, 0};    /* --path: from its file's box centre to the model's */
    if (o[O_CAM_PATH].set && (rc = path_cameras(m, o, &path, shift)) != 0) return rc;
    long orbit = o[O_ORBIT].i, frames = path ? gnf_nerf_scene_count(path) : orbit;
    const char *video = o[O_VIDEO].s;
    if (gnf_nerf_renderer_create(m, (int)o[O_THREADS].i, &r) != GNF_OK) { gnf_nerf_scene_free(path); return runtime_error(); }
    if (!frames) rc = nerf_render_one(r, &cam, output, o[O_DEPTH].s, o[O_OPACITY].s, 1);
    else if (!video && !is_dir(output) && mkdir(output, 0755) != 0) rc = fail("%s: cannot create the folder (%s)", output, strerror(errno));
    video_out v;
    int vopen = 0;
    double t0 = gnf_now();
    base = cam;
    for (long i = 0; frames && rc == 0 && i < frames; i++) {
        if (path) {
            gnf_nerf_scene_camera(path, (int)i, &cam);
            for (int k = 0; k < 3; k++) cam.c2w[4 * k + 3] += shift[k];
        }
        else gnf_nerf_orbit_camera(&base, (float)(360.0 * i / orbit) + az, el, dist, &cam);
        if (video && path && i > 0 && (cam.w != v.row_w || cam.h != v.row_h))
            rc = fail("%s: frame %ld is %dx%d, the video is %dx%d (all cameras of a video need one size)", o[O_CAM_PATH].s, i,
                      cam.w, cam.h, v.row_w, v.row_h);
        if (rc) break;
        if (!video) {
            char fp[4200];
            snprintf(fp, sizeof fp, "%s/%03ld.png", output, i);
            rc = nerf_render_one(r, &cam, fp, NULL, NULL, 0);
            continue;
        }
        if (!vopen) {
            if ((rc = video_open(&v, video, cam.w, cam.h, o[O_FPS].i)) != 0) break;
            vopen = 1;
            v.row_w = cam.w;
            v.row_h = cam.h;
        }
        gnf_image rgb;
        if (gnf_nerf_render(r, &cam, &rgb, NULL, NULL, NULL) != GNF_OK) { rc = runtime_error(); break; }
        rc = video_frame(&v, &rgb);
        gnf_image_free(&rgb);
    }
    if (vopen) rc = video_close(&v, rc);
    if (frames && rc == 0)
        printf("%s: %ld %s views of %dx%d in %.2f s (%.2f fps)%s\n", video ? video : output, frames, path ? "path" : "orbit",
               cam.w, cam.h, gnf_now() - t0, frames / (gnf_now() - t0), video ? ", encoded by ffmpeg" : "");
    gnf_nerf_scene_free(path);
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
    if (a.o[O_VIDEO].set && !a.o[O_ORBIT].set && !a.o[O_CAM_PATH].set) return usage_error("--video needs --orbit N or --path CAMS.json");
    if (a.o[O_ORBIT].set && a.o[O_CAM_PATH].set) return usage_error("--orbit and --path exclude each other");
    if (!a.o[O_OUTPUT].s && !a.o[O_VIDEO].set) return usage_error("missing -o OUT.png");
    gnf_model *m = NULL;
    if (gnf_model_load(a.pos[0], &m) != GNF_OK) return runtime_error();
    rc = cli_check_task(&a, gnf_model_get_task(m));
    if (!rc) rc = render(m, a.o[O_OUTPUT].s, a.o);
    gnf_model_free(m);
    return rc;
}
