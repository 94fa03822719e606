"""gnf.Model (a fitted field: evaluate, query, render, mesh, save), gnf.load, gnf.Camera and
gnf.scene_cameras."""
import ctypes
import threading

import numpy as np

from . import _lib
from ._lib import lib
from ._util import Error, check, fptr, fs_path, image_to_array, int_arg, num_arg, points_arg, threads_arg

_BASIS = {0: "gaussian", 1: "imq", 2: "mq"}


class Camera:
    """A pinhole camera: width x height pixels, focal lengths fx, fy and principal point cx, cy
    in pixels, and c2w, the 3x4 camera-to-world matrix (OpenGL convention: the camera looks
    down its -z axis, +y is up), as in the Blender scene format."""

    def __init__(self, width, height, fx, fy=None, cx=None, cy=None, c2w=None):
        self.width = int_arg("width", width, 1, 65536, allow_none=False)
        self.height = int_arg("height", height, 1, 65536, allow_none=False)
        self.fx = num_arg("fx", fx, 1e-6, 1e9, allow_none=False)
        self.fy = self.fx if fy is None else num_arg("fy", fy, 1e-6, 1e9)
        self.cx = self.width / 2 if cx is None else num_arg("cx", cx, -1e9, 1e9)
        self.cy = self.height / 2 if cy is None else num_arg("cy", cy, -1e9, 1e9)
        m = np.eye(4, dtype=np.float32)[:3] if c2w is None else np.asarray(c2w)
        if m.dtype.kind not in "fiu" or m.shape not in ((3, 4), (4, 4)):
            raise Error("c2w must be a real 3x4 or 4x4 matrix, got shape %s dtype %s" % (np.shape(c2w), m.dtype))
        m = np.array(m[:3], dtype=np.float32)
        if not np.isfinite(m).all():
            raise Error("c2w has a non-finite value")
        self.c2w = m

    def scaled(self, width=None, height=None):
        """This camera at another size, the intrinsics scaled with it (one side given: the other
        keeps the aspect ratio, as `gnf render --width` does)."""
        w = int_arg("width", width, 1, 65536)
        h = int_arg("height", height, 1, 65536)
        if w is None and h is None:
            return Camera(self.width, self.height, self.fx, self.fy, self.cx, self.cy, self.c2w)
        if h is None:
            h = (w * self.height + self.width // 2) // self.width
        elif w is None:
            w = (h * self.width + self.height // 2) // self.height
        sx, sy = np.float32(w) / np.float32(self.width), np.float32(h) / np.float32(self.height)
        c = self._c()
        c.fx, c.cx, c.fy, c.cy, c.w, c.h = c.fx * sx, c.cx * sx, c.fy * sy, c.cy * sy, w, h
        return Camera._of(c)

    def _c(self):
        c = _lib.gnf_camera(self.width, self.height, self.fx, self.fy, self.cx, self.cy)
        c.c2w[:] = [float(x) for x in self.c2w.reshape(-1)]
        return c

    @classmethod
    def _of(cls, c):
        return cls(c.w, c.h, c.fx, c.fy, c.cx, c.cy, np.array(c.c2w[:], dtype=np.float32).reshape(3, 4))

    def __repr__(self):
        return "gnf.Camera(%dx%d, fx %.2f, fy %.2f, at %s)" % (self.width, self.height, self.fx, self.fy,
                                                                np.round(self.c2w[:, 3], 4).tolist())


def scene_cameras(path, split="test", downscale=1):
    """The cameras of a scene split in the Blender format: path is the scene folder (then its
    transforms_<split>.json) or a transforms file; pictures box-downscaled by downscale (their
    headers give the sizes; no pixels are read).  Returns a list of gnf.Camera."""
    p = fs_path(path, "scene")
    if split not in ("train", "test", "val"):
        raise Error("split must be 'train', 'test' or 'val', got %r" % (split,))
    ds = int_arg("downscale", downscale, 1, 64, allow_none=False)
    s = ctypes.c_void_p()
    check(lib.gnf_nerf_scene_load_cameras(p, split.encode(), ds, ctypes.byref(s)))
    try:
        out = []
        for i in range(lib.gnf_nerf_scene_count(s)):
            c = _lib.gnf_camera()
            lib.gnf_nerf_scene_camera(s, i, ctypes.byref(c))
            out.append(Camera._of(c))
        return out
    finally:
        lib.gnf_nerf_scene_free(s)


class _TensorView:
    """A read-only view of float32 memory the model owns; holding it keeps the model alive."""

    def __init__(self, model, addr, shape):
        self._model = model
        with model._vlock:
            model._views += 1
        self.__array_interface__ = {"shape": tuple(shape), "typestr": "<f4", "data": (addr, True), "version": 3}

    def __del__(self):
        m = self._model
        with m._vlock:
            m._views -= 1
            if m._closed and m._views == 0:   # the model was closed while viewed: free it now
                m._free()


def load(path):
    """Loads a model file (docs/FORMAT.md), every size, offset, dtype and value checked; a bad
    file raises gnf.Error naming it."""
    h = ctypes.c_void_p()
    check(lib.gnf_model_load(fs_path(path, "model"), ctypes.byref(h)))
    return Model._own(h)


class Model:
    """A Gaussian Neural Field: an image, a signed distance field or a radiance field.  Made by
    gnf.fit_image, gnf.fit_sdf, gnf.fit_scene or gnf.load.  Methods release the GIL while the C
    library works; eval and sdf of one model may run from several threads at once."""

    def __init__(self):
        raise Error("gnf.Model is made by gnf.fit_image, gnf.fit_sdf, gnf.fit_scene or gnf.load")

    @classmethod
    def _own(cls, handle):
        self = object.__new__(cls)
        self._h = handle
        self._report = None
        self._renderers = {}
        self._lock = threading.Lock()
        self._views = 0   # live arrays of .params (each holds a reference to self)
        self._vlock = threading.RLock()
        self._closed = False
        return self

    def __del__(self):
        try:
            self._free()
        except Exception:   # interpreter shutdown: the library may be gone already
            pass

    def _free(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            for r in getattr(self, "_renderers", {}).values():
                lib.gnf_nerf_renderer_free(r)
            self._renderers = {}
            lib.gnf_model_free(h)
            self._h = ctypes.c_void_p()

    def close(self):
        """Ends the model's use: every method then raises gnf.Error.  Its memory is freed now, or,
        while arrays from .params still exist (they are views of it), when the last of them goes
        (it is freed anyway when the object goes away)."""
        with self._vlock:
            self._closed = True
            if self._views == 0:
                self._free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if self._closed or not self._h.value:
            raise Error("this gnf.Model was closed")
        return self._h

    def _cfg(self):
        return lib.gnf_model_get_config(self._handle()).contents

    # ---- what the model is ----
    @property
    def task(self):
        """'image', 'sdf' or 'nerf'."""
        return _lib.TASK_NAMES[lib.gnf_model_get_task(self._handle())]

    @property
    def in_dim(self):
        return self._cfg().in_dim

    @property
    def out_dim(self):
        return self._cfg().out_dim

    @property
    def param_count(self):
        """Trained floats (grid features and decoder weights)."""
        return lib.gnf_model_param_count(self._handle())

    def file_bytes(self, half=False):
        """Bytes the model file will have (f32, or f16 with half)."""
        return lib.gnf_model_file_bytes(self._handle(), 1 if half else 0)

    @property
    def report(self):
        """For a model fitted in this process: its training report (steps, seconds, quality —
        the final PSNR in dB or held-out IoU —, points_per_s, stop_reason — "steps",
        "seconds", "target", "callback" (progress returned False) or "cancelled" (Ctrl-C) —,
        rollbacks); None for a loaded model."""
        return None if self._report is None else dict(self._report)

    @property
    def info(self):
        """The model file's metadata (docs/FORMAT.md) as a dict of strings: the format and
        architecture keys, then the model's own (gnf.train.*, gnf.source, ...), in file order."""
        c = self._cfg()
        res = ",".join(str(c.res[i]) for i in range(c.levels))
        feat = ",".join(str(c.feat[i]) for i in range(c.levels))
        arch = {"format": "gnf", "gnf.version": "1", "gnf.task": self.task,
                "gnf.encoding": "%s%dd" % ("hash" if c.encoding == 1 else "dense", c.in_dim),
                "gnf.hash_log2": str(c.hash_log2), "gnf.in_dim": str(c.in_dim), "gnf.out_dim": str(c.out_dim),
                "gnf.levels": str(c.levels), "gnf.res": res, "gnf.feat": feat,
                "gnf.decoder": "mlp" if c.decoder == 1 else "rbf", "gnf.basis": _BASIS.get(c.basis, "gaussian"),
                "gnf.rbf_k": str(c.rbf_k), "gnf.mlp_hidden": str(c.mlp_hidden), "gnf.mlp_layers": str(c.mlp_layers)}
        out = dict(arch)
        k, v = ctypes.c_char_p(), ctypes.c_char_p()
        i = 0
        while lib.gnf_model_meta_at(self._handle(), i, ctypes.byref(k), ctypes.byref(v)):
            key = k.value.decode("utf-8", "replace")
            if key not in arch and not key.startswith("gnf.ckpt."):
                out[key] = v.value.decode("utf-8", "replace")
            i += 1
        return out

    @property
    def params(self):
        """The parameter tensors by their file names (grid.<l>, rbf.centers, rbf.log_precision,
        rbf.W, rbf.w0 or mlp.<i>.weight/bias), in file order: read-only float32 views of the
        model's own memory, with the shapes of docs/FORMAT.md."""
        h = self._handle()
        out = {}
        name = (ctypes.c_char * 32)()
        ndim = ctypes.c_int()
        shape = (ctypes.c_int64 * 4)()
        data = ctypes.POINTER(ctypes.c_float)()
        i = 0
        while lib.gnf_model_tensor_at(h, i, name, ctypes.byref(ndim), shape, ctypes.byref(data)):
            addr = ctypes.cast(data, ctypes.c_void_p).value
            out[name.value.decode()] = np.asarray(_TensorView(self, addr, shape[:ndim.value]))
            i += 1
        return out

    def __repr__(self):
        if self._closed or not self._h.value:
            return "<gnf.Model (closed)>"
        c = self._cfg()
        dec = "RBF K=%d" % c.rbf_k if c.decoder == 0 else "MLP %dx%d" % (c.mlp_layers, c.mlp_hidden)
        return "<gnf.Model %s: %d parameters, %s %d levels, %s, %d outputs>" % (
            self.task, self.param_count, "hash" if c.encoding == 1 else "dense", c.levels, dec, c.out_dim)

    # ---- evaluating ----
    def eval(self, points, threads=None):
        """The field's raw outputs at points, (N, in_dim) in [-1, 1] per axis (images: x right,
        y down; SDFs: the normalised frame; radiance fields: world / box), as float32 (N, out_dim):
        RGB or gray for images, the distance for SDFs (normalised units), the 49 raw outputs for
        radiance fields (docs/FORMAT.md).  One point of shape (in_dim,) gives (out_dim,)."""
        x, single = points_arg(points, self.in_dim)
        y = np.empty((x.shape[0], self.out_dim), dtype=np.float32)
        if x.shape[0]:
            check(lib.gnf_model_eval(self._handle(), fptr(x), x.shape[0], fptr(y), threads_arg(threads)))
        return y[0] if single else y

    def sdf(self, points, grad=True, threads=None):
        """A signed distance field's distance at points (N, 3) in the mesh's own coordinates
        (negative inside, mesh units): float32 (N,); with grad also its gradient (N, 3) (central
        differences), returned as (distances, gradients).  One point (3,) gives a scalar array."""
        if self.task != "sdf":
            raise Error("Model.sdf needs a signed distance field model, this one is %s" % self.task)
        x, single = points_arg(points, 3)
        d = np.empty(x.shape[0], dtype=np.float32)
        g = np.empty((x.shape[0], 3), dtype=np.float32) if grad else None
        if x.shape[0]:
            check(lib.gnf_sdf_query(self._handle(), fptr(x), x.shape[0], fptr(d), fptr(g) if grad else None,
                                    threads_arg(threads)))
        if single:
            d, g = d[0], (g[0] if grad else None)
        return (d, g) if grad else d

    # ---- rendering ----
    def render(self, width=None, height=None, azimuth=None, elevation=None, distance=None, fov=40.0, threads=None):
        """A picture of the field as float32 (H, W, 3) ((H, W) for a gray image), what `gnf render`
        writes: an image model at any size (default the size it was fitted at; one side given,
        the other keeps the aspect ratio); an SDF's sphere-traced, shaded view (default 512x512,
        camera at azimuth 30, elevation 20 degrees, distance 3.2 normalised units, fov degrees);
        a radiance field's view from self.camera(azimuth, elevation, distance, width, height)
        (default azimuth 30, elevation 30, the training cameras' distance), composited on white."""
        task = self.task
        threads = threads_arg(threads)
        w = int_arg("width", width, 1, 65536)
        h = int_arg("height", height, 1, 65536)
        if task == "nerf":
            return self.render_view(self.camera(azimuth, elevation, distance, w, h), threads=threads or None)
        img = _lib.gnf_image()
        if task == "sdf":
            if w is None and h is None:
                w = h = 512
            w, h = w or h, h or w
            az = num_arg("azimuth", 30.0 if azimuth is None else azimuth, -3600, 3600)
            el = num_arg("elevation", 20.0 if elevation is None else elevation, -89.9, 89.9)
            dist = num_arg("distance", 3.2 if distance is None else distance, 0.01, 1000)
            fv = num_arg("fov", fov, 1, 170, allow_none=False)
            check(lib.gnf_sdf_render(self._handle(), w, h, az, el, dist, fv, threads, ctypes.byref(img)))
            return image_to_array(img)
        if task != "image":
            raise Error("this model's task (%s) has nothing to render" % task)
        if azimuth is not None or elevation is not None or distance is not None:
            raise Error("azimuth, elevation and distance are for signed distance and radiance fields, not images")
        info = self.info
        try:
            nw, nh = int(info.get("gnf.image.width", "0")), int(info.get("gnf.image.height", "0"))
        except ValueError:
            nw = nh = 0
        if not (1 <= nw <= 65536 and 1 <= nh <= 65536):
            nw = nh = 512
        if w is not None and h is None:
            h = (w * nh + nw // 2) // nw
        elif h is not None and w is None:
            w = (h * nw + nh // 2) // nh
        elif w is None:
            w, h = nw, nh
        if w * h > 1 << 28:
            raise Error("%dx%d is too large" % (w, h))
        check(lib.gnf_render_image(self._handle(), w, h, threads, ctypes.byref(img)))
        return image_to_array(img)

    def camera(self, azimuth=None, elevation=None, distance=None, width=None, height=None):
        """A radiance field's orbit camera: looking at the origin from azimuth and elevation
        (degrees; default 30 and 30) at distance (default: the training cameras' mean), z up,
        with the first training view's intrinsics, rescaled to width x height when given."""
        if self.task != "nerf":
            raise Error("Model.camera needs a radiance field model, this one is %s" % self.task)
        base = _lib.gnf_camera()
        radius = ctypes.c_float()
        check(lib.gnf_nerf_model_camera(self._handle(), ctypes.byref(base), ctypes.byref(radius)))
        az = num_arg("azimuth", 30.0 if azimuth is None else azimuth, -3600, 3600)
        el = num_arg("elevation", 30.0 if elevation is None else elevation, -89.9, 89.9)
        dist = num_arg("distance", radius.value if distance is None else distance, 0.01, 1000)
        cam = _lib.gnf_camera()
        lib.gnf_nerf_orbit_camera(ctypes.byref(base), az, el, dist, ctypes.byref(cam))
        return Camera._of(cam).scaled(width, height)

    def render_view(self, camera, depth=False, opacity=False, threads=None):
        """A radiance field rendered from camera (a gnf.Camera, e.g. from gnf.scene_cameras or
        self.camera) as float32 (H, W, 3) composited on white; with depth and/or opacity a tuple
        (rgb, depth, opacity) whose extra entries are (H, W) arrays — the expected distance along
        each ray (world units, 0 where empty) and 1 - transmittance — or None when not asked."""
        if self.task != "nerf":
            raise Error("Model.render_view needs a radiance field model, this one is %s" % self.task)
        if not isinstance(camera, Camera):
            raise Error("camera must be a gnf.Camera, got %s" % type(camera).__name__)
        cam = camera._c()
        rgb, dep, op = _lib.gnf_image(), _lib.gnf_image(), _lib.gnf_image()
        t = threads_arg(threads)
        with self._lock:   # a renderer's scratch buffers serve one frame at a time
            r = self._renderers.get(t)
            if r is None:
                r = ctypes.c_void_p()
                check(lib.gnf_nerf_renderer_create(self._handle(), t, ctypes.byref(r)))
                self._renderers[t] = r
            check(lib.gnf_nerf_render(r, ctypes.byref(cam), ctypes.byref(rgb), ctypes.byref(dep) if depth else None,
                                      ctypes.byref(op) if opacity else None, None))
        out = image_to_array(rgb)
        if not depth and not opacity:
            return out
        return out, image_to_array(dep) if depth else None, image_to_array(op) if opacity else None

    def mesh(self, res=None, iso=None, colours=False, threads=None):
        """The surface `gnf mesh` writes, in memory: (vertices float32 (N, 3), faces int32 (M, 3)),
        welded, outward-oriented, in the model's own coordinates.  SDFs: the zero level set by
        marching cubes at res^3 (default 512) over the normalised box.  Radiance fields: where
        density = iso (default 10) at res^3 (default 256) over the scene box; with colours also
        the vertex colours, uint8 (N, 3), as a third entry."""
        task = self.task
        if task not in ("sdf", "nerf"):
            raise Error("Model.mesh needs a signed distance field or radiance field model, this one is %s" % task)
        r = int_arg("res", res, 2, 4096)
        if r is None:
            r = 512 if task == "sdf" else 256
        if task == "sdf":
            if iso not in (None, 0):
                raise Error("an SDF model's mesh is its zero level set (iso must be 0 or None)")
            level = 0.0
        else:
            level = num_arg("iso", 10.0 if iso is None else iso, 1e-6, 1e9)
        m = _lib.gnf_mesh()
        check(lib.gnf_model_mesh(self._handle(), r, level, threads_arg(threads), ctypes.byref(m)))
        try:
            v = np.ctypeslib.as_array(m.v, shape=(m.nv, 3)).copy()
            f = np.ctypeslib.as_array(m.f, shape=(m.nf, 3)).copy()
            rgb = np.ctypeslib.as_array(m.rgb, shape=(m.nv, 3)).copy() if (colours and m.rgb) else None
        finally:
            lib.gnf_mesh_free(ctypes.byref(m))
        if colours:
            if rgb is None:
                raise Error("only a radiance field's mesh has colours")
            return v, f, rgb
        return v, f

    # ---- files ----
    def save(self, path, half=False):
        """Writes the model file (safetensors, docs/FORMAT.md): f32, or f16 with half.  Written
        to a temporary file in the same folder and renamed: a failure leaves no partial file."""
        check(lib.gnf_model_save(self._handle(), fs_path(path, "path"), 1 if half else 0))
