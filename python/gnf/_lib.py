"""The C library through ctypes: finding libgnf.so, the structs of include/gnf.h and the
prototypes of the functions the package calls.

Every struct here mirrors one of gnf.h field by field, with the C field names;
tests/python/test_abi.py compiles a C program that prints each struct's size and each
field's offset and compares them with these definitions, so a change to gnf.h that is not
made here fails the tests instead of corrupting memory.

The library is loaded with ctypes.CDLL, which releases the GIL for the duration of every call:
other Python threads run while C trains, renders or meshes.
"""
import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_long, c_ubyte, c_uint64, c_void_p)

SONAME = "libgnf.so.0"

MAX_LEVELS = 24
MAX_MLP_LAYERS = 8

# gnf_status
OK, ERR_IO, ERR_FORMAT, ERR_UNSUPPORTED, ERR_NOMEM, ERR_INVALID, ERR_DIVERGED = range(7)
# gnf_task
TASK_NONE, TASK_IMAGE, TASK_SDF, TASK_NERF = range(4)
TASK_NAMES = {TASK_NONE: "none", TASK_IMAGE: "image", TASK_SDF: "sdf", TASK_NERF: "nerf"}


def _candidates():
    """Where libgnf.so.0 is looked for, in order: $GNF_LIBRARY, beside the package (an
    installed copy), the build folder of the source tree the package sits in, then the
    system's library path."""
    env = os.environ.get("GNF_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, SONAME),
            os.path.join(here, "..", "..", "build", "release", SONAME),
            SONAME]


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("gnf: cannot load the C library %s; build it with `make` in the gnf source tree "
                      "(build/release/%s) or point GNF_LIBRARY at it. Tried: %s" % (SONAME, SONAME, "; ".join(tried)))


lib, path = _load()


class gnf_model_config(Structure):
    _fields_ = [("in_dim", c_int), ("out_dim", c_int), ("encoding", c_int), ("hash_log2", c_int),
                ("levels", c_int), ("res", c_int * MAX_LEVELS), ("feat", c_int * MAX_LEVELS),
                ("decoder", c_int), ("basis", c_int), ("rbf_k", c_int), ("mlp_hidden", c_int),
                ("mlp_layers", c_int), ("seed", c_uint64)]


class gnf_progress(Structure):
    _fields_ = [("step", c_long), ("steps", c_long), ("elapsed_s", c_double), ("loss", c_double),
                ("quality_est", c_double), ("quality", c_double), ("points_per_s", c_double),
                ("progress", c_double), ("rollbacks", c_long), ("event", c_char_p)]


PROGRESS_FN = CFUNCTYPE(c_int, POINTER(gnf_progress), c_void_p)
CANCEL_FN = CFUNCTYPE(c_int, c_void_p)


class gnf_train_config(Structure):
    _fields_ = [("steps", c_long), ("seconds", c_double), ("start_time", c_double), ("target_psnr", c_double),
                ("batch", c_long), ("lr0", c_float), ("lr1", c_float), ("lr_grid_scale", c_float),
                ("lr_knee_steps", c_long), ("loss", c_int), ("adam_b1", c_float), ("adam_b2", c_float),
                ("adam_eps", c_float), ("seed", c_uint64), ("threads", c_int), ("progress_every", c_long),
                ("eval_every", c_long), ("progress", PROGRESS_FN), ("user", c_void_p), ("cancel", CANCEL_FN),
                ("cancel_user", c_void_p), ("checkpoint_path", c_char_p), ("checkpoint_every", c_double),
                ("checkpoint_meta", POINTER(c_char_p)), ("resume_path", c_char_p), ("max_rollbacks", c_int),
                ("parallel", c_void_p)]   # const gnf_parallel * (data-parallel training; NULL from Python)


class gnf_train_report(Structure):
    _fields_ = [("steps", c_long), ("seconds", c_double), ("quality", c_double), ("points_per_s", c_double),
                ("stop_reason", c_char_p), ("rollbacks", c_long), ("phase_s", c_double * 8)]


class gnf_sdf_config(Structure):
    _fields_ = [("samples", c_long), ("mix", c_int), ("sigma", c_float), ("uniform_frac", c_float),
                ("sign", c_int), ("seed", c_uint64), ("threads", c_int)]


class gnf_sdf_target_info(Structure):
    _fields_ = [("vertices", c_long), ("faces", c_long), ("boundary_edges", c_long),
                ("non_manifold_edges", c_long), ("degenerate_faces", c_long), ("dropped_faces", c_long),
                ("duplicate_vertices", c_long), ("polygons_triangulated", c_long), ("watertight", c_int),
                ("sign_by_winding", c_int), ("center", c_float * 3), ("scale", c_float), ("load_s", c_double),
                ("bvh_s", c_double), ("samples_s", c_double), ("samples_per_s", c_double)]


class gnf_camera(Structure):
    _fields_ = [("w", c_int), ("h", c_int), ("fx", c_float), ("fy", c_float), ("cx", c_float), ("cy", c_float),
                ("c2w", c_float * 12)]


class gnf_nerf_config(Structure):
    _fields_ = [("box", c_float), ("occ_res", c_int), ("step", c_float), ("samples_per_step", c_long),
                ("heldout_pixels", c_long)]


class gnf_recipe_input(Structure):
    _fields_ = [("width", c_int), ("height", c_int), ("channels", c_int), ("steps", c_long), ("seconds", c_double),
                ("max_params", c_long)]


class gnf_recipe(Structure):
    _fields_ = [("model", gnf_model_config), ("train", gnf_train_config), ("sdf", gnf_sdf_config),
                ("nerf", gnf_nerf_config), ("max_params", c_long), ("max_res", c_int), ("hash_levels", c_int)]


class gnf_image(Structure):
    _fields_ = [("w", c_int), ("h", c_int), ("c", c_int), ("px", POINTER(c_float))]


class gnf_mesh(Structure):
    _fields_ = [("v", POINTER(c_float)), ("f", POINTER(c_int32)), ("nv", c_long), ("nf", c_long),
                ("rgb", POINTER(c_ubyte))]


# C name -> ctypes class, for the layout test
STRUCTS = {cls.__name__: cls for cls in (gnf_model_config, gnf_progress, gnf_train_config, gnf_train_report,
                                         gnf_sdf_config, gnf_sdf_target_info, gnf_camera, gnf_nerf_config,
                                         gnf_recipe_input, gnf_recipe, gnf_image, gnf_mesh)}

P = POINTER
_model_p = c_void_p     # gnf_model *, opaque
_status = c_int


def _proto(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_proto("gnf_last_error", c_char_p)
_proto("gnf_status_name", c_char_p, c_int)
_proto("gnf_now", c_double)
_proto("gnf_default_threads", c_int)
_proto("gnf_kernel_name", c_char_p)
_proto("gnf_model_create", _status, P(gnf_model_config), c_int, P(c_void_p))
_proto("gnf_model_free", None, _model_p)
_proto("gnf_model_get_config", P(gnf_model_config), _model_p)
_proto("gnf_model_get_task", c_int, _model_p)
_proto("gnf_model_param_count", c_long, _model_p)
_proto("gnf_model_set_meta", _status, _model_p, c_char_p, c_char_p)
_proto("gnf_model_get_meta", c_char_p, _model_p, c_char_p)
_proto("gnf_model_meta_at", c_int, _model_p, c_int, P(c_char_p), P(c_char_p))
_proto("gnf_model_eval", _status, _model_p, P(c_float), c_long, P(c_float), c_int)
_proto("gnf_model_save", _status, _model_p, c_char_p, c_int)
_proto("gnf_model_load", _status, c_char_p, P(c_void_p))
_proto("gnf_model_file_bytes", c_long, _model_p, c_int)
_proto("gnf_model_tensor_at", c_int, _model_p, c_int, c_char * 32, P(c_int), c_int64 * 4, P(P(c_float)))
_proto("gnf_model_mesh", _status, _model_p, c_int, c_float, c_int, P(gnf_mesh))
_proto("gnf_mesh_free", None, P(gnf_mesh))
_proto("gnf_image_load", _status, c_char_p, P(gnf_image), P(c_int))
_proto("gnf_image_free", None, P(gnf_image))
_proto("gnf_recipe_for", _status, c_int, c_char_p, P(gnf_recipe_input), P(gnf_recipe))
_proto("gnf_recipe_size_model", _status, P(gnf_recipe), c_int)
_proto("gnf_fit_image", _status, _model_p, P(gnf_image), P(gnf_train_config), P(gnf_train_report))
_proto("gnf_render_image", _status, _model_p, c_int, c_int, c_int, P(gnf_image))
_proto("gnf_sdf_target_create", _status, c_char_p, P(gnf_sdf_config), P(c_void_p))
_proto("gnf_sdf_target_create_from_arrays", _status, P(c_float), c_long, P(c_int32), c_long, P(gnf_sdf_config),
       P(c_void_p))
_proto("gnf_sdf_target_free", None, c_void_p)
_proto("gnf_sdf_target_get_info", None, c_void_p, P(gnf_sdf_target_info))
_proto("gnf_fit_sdf", _status, _model_p, c_void_p, P(gnf_train_config), c_double, P(gnf_train_report))
_proto("gnf_sdf_query", _status, _model_p, P(c_float), c_long, P(c_float), P(c_float), c_int)
_proto("gnf_sdf_render", _status, _model_p, c_int, c_int, c_float, c_float, c_float, c_float, c_int, P(gnf_image))
_proto("gnf_nerf_scene_load", _status, c_char_p, c_char_p, c_int, c_int, P(c_void_p))
_proto("gnf_nerf_scene_load_cameras", _status, c_char_p, c_char_p, c_int, P(c_void_p))
_proto("gnf_nerf_scene_free", None, c_void_p)
_proto("gnf_nerf_scene_count", c_int, c_void_p)
_proto("gnf_nerf_scene_camera", None, c_void_p, c_int, P(gnf_camera))
_proto("gnf_fit_nerf", _status, _model_p, c_void_p, c_void_p, P(gnf_nerf_config), P(gnf_train_config),
       P(gnf_train_report))
_proto("gnf_nerf_renderer_create", _status, _model_p, c_int, P(c_void_p))
_proto("gnf_nerf_renderer_free", None, c_void_p)
_proto("gnf_nerf_render", _status, c_void_p, P(gnf_camera), P(gnf_image), P(gnf_image), P(gnf_image),
       P(c_double))
_proto("gnf_nerf_orbit_camera", None, P(gnf_camera), c_float, c_float, c_float, P(gnf_camera))
_proto("gnf_nerf_model_camera", _status, _model_p, P(gnf_camera), P(c_float))
_proto("gnf_psnr", c_double, P(c_float), P(c_float), c_long)
