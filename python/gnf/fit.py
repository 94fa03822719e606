"""gnf.fit_image, gnf.fit_sdf, gnf.fit_scene and gnf.read_image.

A fit here is `gnf fit` without the command line: the same recipe from the library
(gnf_recipe_for: the task, preset and budget give the architecture and training settings), the
same options mapped onto it in the same way as tools/cli/fit.c's apply_flags, and the same model
metadata in the same order, so that with the same seed and settings — and steps, not seconds —
fit_image(path, steps=...).save(p) and `gnf fit path --steps ... -o p` write byte-identical files
(tests/python/test_cli_equal.py checks it for each task).
"""
import ctypes
import os
import warnings

import numpy as np

from . import _lib
from ._lib import lib
from ._train import Session
from ._util import (Error, check, fptr, fs_path, image_arg, image_struct, image_to_array, int_arg, mesh_arg, num_arg,
                    threads_arg)
from .model import Model

_PRESETS = ("fast", "default", "quality")


def read_image(path):
    """Reads a PNG (8/16-bit gray, RGB, RGBA, palette) or JPEG with gnf's reader: float32 (H, W, 3),
    or (H, W) for gray, values in [0, 1]; alpha is dropped."""
    img = _lib.gnf_image()
    check(lib.gnf_image_load(fs_path(path, "image"), ctypes.byref(img), None))
    return image_to_array(img)


def _recipe(task, preset, steps, seconds, params, seed, threads, width=0, height=0, channels=0):
    """The library's recipe for task with `gnf fit`'s options applied (tools/cli/fit.c)."""
    if preset is not None and preset not in _PRESETS:
        raise Error("preset must be 'fast', 'default' or 'quality', got %r" % (preset,))
    steps = int_arg("steps", steps, 1, 100000000)
    seconds = num_arg("seconds", seconds, 1e-3, 1e7)
    params = int_arg("params", params, 1000, 1000000000)
    seed = int_arg("seed", seed, 0, 2 ** 63 - 1)
    rin = _lib.gnf_recipe_input(width, height, channels, steps or 0, seconds or 0.0, params or 0)
    r = _lib.gnf_recipe()
    budget = "params %d: " % params if params else ""
    check(lib.gnf_recipe_for(task, preset.encode() if preset else None, ctypes.byref(rin), ctypes.byref(r)), budget)
    if seed is not None:
        r.model.seed = r.train.seed = r.sdf.seed = seed
    check(lib.gnf_recipe_size_model(ctypes.byref(r), 0), budget)
    r.train.threads = r.sdf.threads = threads_arg(threads)
    return r


def _train_options(r, target_psnr, eval_every, progress, progress_every):
    if target_psnr is not None:
        r.train.target_psnr = num_arg("target_psnr", target_psnr, 1, 200)
    ev = int_arg("eval_every", eval_every, 1, 1000000)
    if ev is not None:
        r.train.eval_every = ev
    return Session(progress, int_arg("progress_every", progress_every, 1, 1 << 40, allow_none=False))


def _new_model(r, task):
    h = ctypes.c_void_p()
    check(lib.gnf_model_create(ctypes.byref(r.model), task, ctypes.byref(h)))
    return Model._own(h)


def _meta(model, key, value):
    check(lib.gnf_model_set_meta(model._h, key.encode(), value.encode("utf-8", "surrogateescape")))


def _basename(path_bytes):
    return os.fsdecode(path_bytes.rsplit(b"/", 1)[-1])


def fit_image(image, *, params=None, seconds=None, steps=None, target_psnr=None, preset=None, seed=None, crop=None,
              eval_every=None, threads=None, progress=None, progress_every=1):
    """Fits a field to a picture and returns the gnf.Model.

    image: a file (PNG or JPEG, as `gnf fit` reads them) or an array — (H, W) or (H, W, 1) gray,
    (H, W, 3) RGB, (H, W, 4) RGBA (alpha dropped); uint8, uint16 or float (0..1).  crop=(w, h):
    the centre crop.  params: the parameter budget (default 2 per pixel, within 20000..4000000);
    steps, seconds (the whole call's wall-clock budget), target_psnr (dB on the full picture,
    checked every eval_every steps, default 25): whichever comes first; with neither steps nor
    seconds, the preset's steps ("fast" 1000, "default" 5000, "quality" 15000).  seed: the
    initialisation and sampling seed (default 1).  progress(p) is called after every step (every
    progress_every steps) with a gnf.Progress; returning False stops training (the model so far is returned), an
    exception stops it and is raised.  Ctrl-C stops training at the next step and returns the
    model so far.  The same settings with steps give the same model on every run and thread count,
    and the same file as `gnf fit` with the same options."""
    t0 = lib.gnf_now()
    source = None
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        p = fs_path(image, "image")
        arr = read_image(p)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        source = _basename(p)
        what = os.fsdecode(p)
    else:
        arr = image_arg(image)
        what = "the image array"
    src_h, src_w = arr.shape[:2]
    if crop is not None:
        if not (isinstance(crop, (tuple, list)) and len(crop) == 2):
            raise Error("crop must be (width, height), got %r" % (crop,))
        cw, ch = (int_arg("crop width", crop[0], 1, 65536, False), int_arg("crop height", crop[1], 1, 65536, False))
        if cw > src_w or ch > src_h:
            raise Error("%s: crop %dx%d is larger than the image (%dx%d)" % (what, cw, ch, src_w, src_h))
        x0, y0 = (src_w - cw) // 2, (src_h - ch) // 2
        arr = np.ascontiguousarray(arr[y0:y0 + ch, x0:x0 + cw])
    h, w, c = arr.shape
    r = _recipe(_lib.TASK_IMAGE, preset, steps, seconds, params, seed, threads, w, h, c)
    session = _train_options(r, target_psnr, eval_every, progress, progress_every)
    model = _new_model(r, _lib.TASK_IMAGE)
    if source is not None:
        _meta(model, "gnf.source", source)
    _meta(model, "gnf.image.source_size", "%dx%d" % (src_w, src_h))
    if crop is not None:
        _meta(model, "gnf.image.crop", "%dx%d" % (w, h))
    img = image_struct(arr)
    session.configure(r.train, t0)
    rep = _lib.gnf_train_report()
    with session.sigint_stops_training():
        st = lib.gnf_fit_image(model._h, ctypes.byref(img), ctypes.byref(r.train), ctypes.byref(rep))
    session.finish(model, st, rep)
    return model


def fit_sdf(mesh, *, params=None, seconds=None, steps=None, target_iou=None, preset=None, seed=None, samples=None,
            eval_every=None, threads=None, progress=None, progress_every=1):
    """Fits a signed distance field to a triangle mesh and returns the gnf.Model.

    mesh: a file (OBJ, PLY, STL, OFF) or (vertices, faces) — vertices (N, 3) real, faces (M, 3)
    integer indices, counter-clockwise seen from outside.  Meshes with holes or other defects are
    accepted (inside/outside then comes from the winding number).  params: the budget (default 1M);
    steps, seconds (default by preset: "fast" 5, "default" 15, "quality" 60 s), target_iou (the
    held-out IoU, checked every eval_every steps): whichever comes first.  samples: the
    ground-truth pool size.  The model answers in the mesh's own coordinates (Model.sdf).
    progress, seed, threads and Ctrl-C as for fit_image; the same file as `gnf fit MESH` with
    the same options."""
    t0 = lib.gnf_now()
    r = _recipe(_lib.TASK_SDF, preset, steps, seconds, params, seed, threads)
    n = int_arg("samples", samples, 1024, 1 << 28)
    if n is not None:
        r.sdf.samples = n
    tiou = num_arg("target_iou", target_iou, 1e-6, 1)
    session = _train_options(r, None, eval_every, progress, progress_every)
    source = None
    if isinstance(mesh, (str, bytes)) or hasattr(mesh, "__fspath__"):
        p = fs_path(mesh, "mesh")
        source = _basename(p)

        def make_target(cfg, out):
            return lib.gnf_sdf_target_create(p, cfg, out)
    elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        v, f = mesh_arg(mesh[0], mesh[1])

        def make_target(cfg, out):
            return lib.gnf_sdf_target_create_from_arrays(fptr(v), v.shape[0], f.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                                                         f.shape[0], cfg, out)
    else:
        raise Error("mesh must be a mesh file or a (vertices, faces) pair, got %s" % type(mesh).__name__)
    model = _new_model(r, _lib.TASK_SDF)
    target = ctypes.c_void_p()
    check(make_target(ctypes.byref(r.sdf), ctypes.byref(target)))
    try:
        info = _lib.gnf_sdf_target_info()
        lib.gnf_sdf_target_get_info(target, ctypes.byref(info))
        if source is not None:
            _meta(model, "gnf.source", source)
        session.configure(r.train, t0)
        rep = _lib.gnf_train_report()
        with session.sigint_stops_training():
            st = lib.gnf_fit_sdf(model._h, target, ctypes.byref(r.train), tiou or 0.0, ctypes.byref(rep))
    finally:
        lib.gnf_sdf_target_free(target)
    session.finish(model, st, rep)
    model._report["mesh"] = {"vertices": info.vertices, "faces": info.faces, "watertight": bool(info.watertight),
                             "boundary_edges": info.boundary_edges, "non_manifold_edges": info.non_manifold_edges,
                             "sign_by_winding": bool(info.sign_by_winding)}
    return model


def fit_scene(path, *, downscale=1, params=None, seconds=None, steps=None, target_psnr=None, preset=None, seed=None,
              eval_every=None, threads=None, progress=None, progress_every=1):
    """Fits a radiance field to posed pictures in the Blender synthetic format and returns the
    gnf.Model.  path: the scene folder (transforms_train.json, and transforms_test.json for the
    held-out PSNR when present) or its transforms_train.json; pictures box-downscaled by
    downscale.  params (default 2.1M), steps, seconds (default by preset: "fast" 60, "default"
    300, "quality" 1800 s), target_psnr (the held-out PSNR, checked every eval_every steps,
    default 250): whichever comes first.  progress, seed, threads and Ctrl-C as for fit_image; the
    same file as `gnf fit DIR` with the same options."""
    t0 = lib.gnf_now()
    p = fs_path(path, "scene")
    ds = int_arg("downscale", downscale, 1, 64, allow_none=False)
    r = _recipe(_lib.TASK_NERF, preset, steps, seconds, params, seed, threads)
    session = _train_options(r, target_psnr, eval_every, progress, progress_every)
    train, held = ctypes.c_void_p(), ctypes.c_void_p()
    check(lib.gnf_nerf_scene_load(p, b"train", ds, r.train.threads, ctypes.byref(train)))
    try:
        folder = p if os.path.isdir(p) else (p.rsplit(b"/", 1)[0] if b"/" in p else b".")
        test_json = folder + b"/transforms_test.json"
        if os.path.exists(test_json) and lib.gnf_nerf_scene_load(test_json, b"test", ds, r.train.threads,
                                                                 ctypes.byref(held)) != _lib.OK:
            warnings.warn("gnf: %s: %s; training without a held-back view" % (
                os.fsdecode(test_json), lib.gnf_last_error().decode("utf-8", "replace")), RuntimeWarning, stacklevel=2)
            held = ctypes.c_void_p()
        model = _new_model(r, _lib.TASK_NERF)
        _meta(model, "gnf.source", os.fsdecode(p))
        _meta(model, "gnf.nerf.downscale", str(ds))
        session.configure(r.train, t0)
        rep = _lib.gnf_train_report()
        with session.sigint_stops_training():
            st = lib.gnf_fit_nerf(model._h, train, held if held.value else None, ctypes.byref(r.nerf),
                                  ctypes.byref(r.train), ctypes.byref(rep))
    finally:
        lib.gnf_nerf_scene_free(train)
        lib.gnf_nerf_scene_free(held)
    session.finish(model, st, rep)
    return model
