/* scene.h — posed photographs of a scene in the Blender-synthetic ("NeRF") / Instant-NGP
 * transforms.json layout: cameras, intrinsics and images composited over white.  Internal to
 * libgnf (not part of gnf.h). */
#ifndef GNF_SCENE_H
#define GNF_SCENE_H

#include "core/core.h"

typedef struct {
    int w, h;               /* image size in pixels (after downscale) */
    float fx, fy, cx, cy;   /* intrinsics in pixels (after downscale) */
    float c2w[12];          /* camera-to-world, row-major 3x4 [R|t], OpenGL convention: camera
                               looks down -z, +y up, +x right */
    double dist[5];         /* OpenCV lens distortion k1, k2, k3, p1, p2 (0 when not given) */
    int distorted;          /* whether any of dist is non-zero (gnf_view_ray then undistorts) */
    char *path;             /* resolved image file path (malloc'd; without a picture in the
                               cameras-only mode: the path as written) */
    float *rgb;             /* h*w*3 floats in [0,1], composited on white (rgb*a + (1-a));
                               NULL if images were not loaded; gnf_calloc'd */
} gnf_view;

typedef struct {
    int n;                  /* number of views */
    gnf_view *views;
    char *json_path;        /* the transforms file read (malloc'd) */
    int has_box;            /* whether the file set the scene box (aabb_scale, scale, offset, aabb) */
    float box;              /* scene box half-size (file units; 1.5 when has_box is 0) */
    float center[3];        /* the box centre in the file's world; the views' c2w translations
                               are given relative to it (translation - center) */
} gnf_scene;

/* Views of a folder without transforms_<split>.json but with transforms.json: every
 * GNF_SCENE_HOLDOUT-th frame (0, 8, 16, ...) is the "test" (and "val") split, the others "train". */
#define GNF_SCENE_HOLDOUT 8
/* The focal lengths a frame may have, in pixels at native size (and the farthest its principal
 * point may lie from the corner): outside, the load fails naming the frame. */
#define GNF_SCENE_FOCAL_MIN 1e-3
#define GNF_SCENE_FOCAL_MAX 1e9

/* Loads the cameras (and optionally the images) of a scene into *out.
 *
 * path: a folder (then <path>/transforms_<split>.json is read; split is "train", "test" or
 * "val"; a folder without that file but with transforms.json gives that file's frames split by
 * GNF_SCENE_HOLDOUT: "test"/"val" the frames 0, 8, 16, ..., "train" the others) or any other
 * file, read as the transforms JSON itself (every frame; split ignored, may be NULL).
 * The JSON is at most 256 MiB; the top level is an object with a non-empty "frames" array, each
 * frame an object with "file_path" (a string, relative to the JSON file's folder unless it
 * starts with '/'; a leading "./" is fine) and "transform_matrix" (4 rows of 4 numbers finite
 * as floats, or 3 rows; only rows 0-2 are used).  The image of a frame is file_path as written if that
 * names an existing file and has an extension, else the first existing of file_path + ".png",
 * ".jpg", ".jpeg", else file_path as written if it exists (an extensionless image file).
 *
 * Intrinsics, from the keys fl_x, fl_y, camera_angle_x, camera_angle_y (radians, in (0, pi)),
 * cx, cy, w, h, each taken from the frame if it has it, else from the top level:
 *   fx = the first given of frame fl_x, frame camera_angle_x, top fl_x, top camera_angle_x
 *        (an angle gives 0.5*W / tan(0.5*angle), W the image file's width); none is an error;
 *   fy = likewise from fl_y / camera_angle_y (with the image's height), else fy = fx;
 *   cx, cy default to W/2, H/2; w, h, when given, must equal the image file's size.
 * Lens distortion (OpenCV's radial-tangential model, as COLMAP's OPENCV camera, instant-ngp and
 * nerfstudio write it): k1, k2, k3, p1, p2, each from the frame or else the top level, default 0;
 * k4 (nerfstudio's fisheye term) must be 0 or absent; "camera_model" (nerfstudio), when given,
 * must be "OPENCV", "PINHOLE" or "SIMPLE_PINHOLE"; "is_fisheye" (instant-ngp) must be false or
 * absent (GNF_ERR_UNSUPPORTED naming the file and key otherwise).
 * All of these are in the file's native pixels; with downscale N >= 1 the images are
 * box-averaged over N×N blocks (size floor(W/N) × floor(H/N), remainder rows and columns
 * dropped) and fx, fy, cx, cy are divided by N.  N larger than the image's width or height
 * is GNF_ERR_INVALID.  Every key's value must be finite as a float, and the resulting fx, fy
 * positive and finite and cx, cy finite as floats (a tiny angle is GNF_ERR_FORMAT).
 *
 * The scene box (instant-ngp's convention, docs/MODEL.md): with none of the top-level keys
 * aabb_scale, scale, offset, aabb, the box is [-1.5, 1.5]^3 around the origin (has_box 0).  With
 * any of them (defaults aabb_scale 1, scale 0.33, offset 0.5 as a number or 3 numbers): half-size
 * aabb_scale / (2 scale), centre (0.5 - offset) / scale per axis; "aabb" [[x0,y0,z0],[x1,y1,z1]]
 * sets scale = 1 / (its longest side) and the centre to its centre, before aabb_scale applies.
 * The views' camera positions are then stored relative to the centre.  "applied_transform"
 * (nerfstudio: what was already applied to the poses) and other keys are ignored.
 *
 * load_images = 0 reads only each image's header (PNG IHDR or JPEG frame header) to learn its
 * size: views[i].rgb stays NULL and corrupt pixel data are not noticed.  load_images != 0
 * decodes every image with gnf_image_load_on_white (PNG 8/16-bit any layout, or JPEG).
 * threads (<= 0: default) decode images in parallel; the result does not depend on it, nor
 * does which error is reported (the lowest failing frame's).
 *
 * Errors (*out zeroed, everything freed, gnf_last_error() starting with the file concerned):
 * GNF_ERR_INVALID for downscale < 1, a bad split or a downscale larger than an image;
 * GNF_ERR_IO for a missing folder, JSON or image file (the message names the JSON, the frame
 * index and the path tried); GNF_ERR_FORMAT for malformed JSON (with the byte offset), missing
 * or mistyped keys, non-finite or out-of-range numbers, a bad matrix shape, empty frames, an
 * image whose size does not match w/h ("mismatched"), or a corrupt image; GNF_ERR_UNSUPPORTED
 * for a JSON over 256 MiB, an image over the image loader's size limits or a camera model gnf
 * does not have; GNF_ERR_NOMEM. */
gnf_status gnf_scene_load(const char *path, const char *split, int downscale, int load_images,
                          int threads, gnf_scene *out);

/* gnf_scene_load in the cameras-only mode (load_images = 0) where a frame need not have its
 * picture: a frame whose w and h are given takes its size from them; one without them takes
 * the picture's size when the picture exists, else default_w × default_h when both are > 0
 * (native pixels, before downscale); otherwise GNF_ERR_IO naming the JSON, the frame and the
 * picture tried and saying that w and h would do. */
gnf_status gnf_scene_load_cameras_sized(const char *path, const char *split, int downscale, int default_w,
                                        int default_h, gnf_scene *out);

/* gnf_scene_load on a transforms JSON already in memory (json[0..n), not modified, no terminator
 * needed; at most 256 MiB), named name in messages and in out->json_path; frames' relative
 * file_path are resolved against the folder dir ("" for the current one).  load_images = 0 is
 * the cameras-only mode: only the images' headers are read.  Same errors otherwise. */
gnf_status gnf_scene_load_from_memory(const char *json, size_t n, const char *name, const char *dir, int downscale,
                                      int load_images, int threads, gnf_scene *out);

/* Frees everything *s owns and zeroes it; safe on a zeroed scene (and on NULL). */
void gnf_scene_free(gnf_scene *s);

/* Ray through pixel position (px, py) in pixel units of view v (pixel centres are
 * (i+0.5, j+0.5), py grows downward): o = the camera centre (the c2w translation),
 * d = R * (x, -y, -1) normalised (computed in double, stored as float), where (x, y) =
 * ((px-cx)/fx, (py-cy)/fy) for an undistorted view; for a distorted one (x, y) is the point
 * that OpenCV's model maps onto it: with r2 = x²+y², q = 1 + k1 r2 + k2 r2² + k3 r2³,
 *   (px-cx)/fx = x q + 2 p1 x y + p2 (r2 + 2x²),  (py-cy)/fy = y q + p1 (r2 + 2y²) + 2 p2 x y,
 * solved by Newton's method from (x, y) = the distorted point (at most 20 steps, stopping when a
 * step moves less than 1e-15; within that of the exact inverse where the model is invertible). */
void gnf_view_ray(const gnf_view *v, float px, float py, float o[3], float d[3]);

/* Internal (implemented in image_file.c): loads a PNG or JPEG like gnf_image_load but returns
 * RGB composited over white: out->c == 3 always (gray replicated); when the file has alpha,
 * rgb = rgb*a + (1-a) per pixel, in float from the decoded samples (before any rounding).
 * *had_alpha (may be NULL) tells whether alpha was present.  Same errors as gnf_image_load
 * (and *out zeroed on failure). */
gnf_status gnf_image_load_on_white(const char *path, gnf_image *out, int *had_alpha);
/* gnf_image_load_on_white on a file image data[0..size) (not modified), named name in messages. */
gnf_status gnf_image_load_on_white_from_memory(const void *data, size_t size, const char *name, gnf_image *out,
                                               int *had_alpha);
/* GNF_ERR_UNSUPPORTED naming name for a w×h image over the image loader's limits. */
gnf_status gnf_image_check_size(const char *name, unsigned long w, unsigned long h);

#endif
