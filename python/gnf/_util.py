"""Errors and argument checks shared by the package: every bad argument, array or file becomes a
gnf.Error with a message that says which argument or file and what is wrong, before any C code
sees it."""
import numbers
import os
import ctypes

import numpy as np

from . import _lib
from ._lib import lib


class Error(Exception):
    """A failure of gnf: a bad argument or array, or the C library's message (which names the
    file, if any, and what is wrong).  `status` is the library's status name ("I/O error",
    "corrupt or malformed input", "invalid value", ...) or "invalid argument" for a value the
    package refused before calling the library."""

    def __init__(self, message, status="invalid argument"):
        super().__init__(message)
        self.status = status


def check(status, prefix=""):
    """Raises Error with the library's message (this thread's gnf_last_error) unless status is OK."""
    if status != _lib.OK:
        msg = (lib.gnf_last_error() or b"").decode("utf-8", "replace")
        raise Error(prefix + msg, lib.gnf_status_name(status).decode())


def fs_path(p, what):
    """A file-system path argument as the bytes C takes."""
    if isinstance(p, (str, bytes)) or hasattr(p, "__fspath__"):
        b = os.fsencode(p)
        if not b:
            raise Error("%s: an empty path" % what)
        if b"\0" in b:
            raise Error("%s: the path %r contains a NUL character" % (what, p))
        return b
    raise Error("%s must be a path (str, bytes or os.PathLike), got %s" % (what, type(p).__name__))


def int_arg(name, v, lo, hi, allow_none=True):
    """An integer argument in [lo, hi] (None allowed when allow_none)."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise Error("%s must be an integer, got %r" % (name, v))
    v = int(v)
    if not lo <= v <= hi:
        raise Error("%s must be in %d..%d, got %d" % (name, lo, hi, v))
    return v


def num_arg(name, v, lo, hi, allow_none=True):
    """A finite real argument in [lo, hi] (None allowed when allow_none)."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise Error("%s must be a number, got %r" % (name, v))
    v = float(v)
    if not lo <= v <= hi:   # also false for NaN
        raise Error("%s must be in %g..%g, got %r" % (name, lo, hi, v))
    return v


def threads_arg(threads):
    """The threads argument as C takes it (0: the default)."""
    t = int_arg("threads", threads, 1, 256)
    return 0 if t is None else t


def _as_array(a, what):
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:
        raise Error("%s is not an array: %s" % (what, e)) from None


def _finite(arr, what, rows=True):
    ok = np.isfinite(arr)
    if not ok.all():
        bad = np.argwhere(~ok)[0]
        where = "row %d" % bad[0] if rows else "index %s" % (tuple(int(i) for i in bad),)
        raise Error("%s has a non-finite value (%r at %s)" % (what, arr[tuple(bad)], where))


def points_arg(a, dim, what="points"):
    """(N, dim) or (dim,) real values -> (C-contiguous float32 (N, dim), whether one point was given)."""
    arr = _as_array(a, what)
    if arr.dtype.kind not in "fiu":
        raise Error("%s must hold real numbers, got dtype %s" % (what, arr.dtype))
    single = arr.ndim == 1
    if single:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise Error("%s must have shape (N, %d) (or (%d,) for one point), got %s" % (what, dim, dim, tuple(np.shape(a))))
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    _finite(out, what)
    return out, single


def image_arg(a, what="image"):
    """A picture as an array -> C-contiguous float32 (H, W, C), C 1 or 3.  Shapes (H, W) and
    (H, W, 1) are gray, (H, W, 3) colour; a fourth (or, for gray, second) channel is alpha and
    dropped, as `gnf fit` drops it.  uint8 is scaled by 1/255 and uint16 by 1/65535 (the
    library's PNG reader does the same), floats are taken as they are (0..1 is black..white)."""
    arr = _as_array(a, what)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise Error("%s must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got %s" % (what, tuple(np.shape(a))))
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise Error("%s is empty (shape %s)" % (what, tuple(np.shape(a))))
    if arr.shape[0] > 32768 or arr.shape[1] > 32768 or arr.shape[0] * arr.shape[1] > 1 << 28:
        raise Error("%s is %dx%d: over 32768 per side or 2^28 pixels" % (what, arr.shape[1], arr.shape[0]))
    if arr.shape[2] in (2, 4):
        arr = arr[:, :, :arr.shape[2] - 1]
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 1:
        out = np.ascontiguousarray(arr, dtype=np.float32) / np.float32(255)
    elif arr.dtype.kind == "u" and arr.dtype.itemsize == 2:   # either byte order
        out = np.ascontiguousarray(arr, dtype=np.float32) / np.float32(65535)
    elif arr.dtype.kind == "f":
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(arr, dtype=np.float32)
        _finite(out, what, rows=False)
    else:
        raise Error("%s must be uint8, uint16 or floating point, got dtype %s" % (what, arr.dtype))
    return np.ascontiguousarray(out)


def mesh_arg(vertices, faces):
    """(vertices (N, 3) real, faces (M, 3) integer indices into them) -> float32 and int32 C arrays."""
    v, _ = points_arg(vertices, 3, "vertices")
    if v.shape[0] < 3:
        raise Error("vertices: a mesh needs at least 3 vertices, got %d" % v.shape[0])
    f = _as_array(faces, "faces")
    if f.dtype.kind not in "iu":
        raise Error("faces must hold integer vertex indices, got dtype %s" % f.dtype)
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] < 1:
        raise Error("faces must have shape (M, 3) with M >= 1 (triangles), got %s" % (tuple(np.shape(faces)),))
    lo, hi = int(f.min()), int(f.max())
    if lo < 0 or hi >= v.shape[0]:
        row = int(np.argwhere((f < 0) | (f >= v.shape[0]))[0][0])
        raise Error("faces: row %d indexes vertex %d, outside 0..%d" % (row, lo if lo < 0 else hi, v.shape[0] - 1))
    return v, np.ascontiguousarray(f, dtype=np.int32)


def fptr(arr):
    """A float * to a C-contiguous float32 array (which must outlive the call)."""
    return arr.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def image_to_array(img, squeeze=True):
    """Copies a library-owned gnf_image into a new float32 array (H, W, C), or (H, W) for one
    channel when squeeze, then frees the image."""
    try:
        n = img.w * img.h * img.c
        arr = np.ctypeslib.as_array(img.px, shape=(n,)).copy().reshape(img.h, img.w, img.c)
    finally:
        lib.gnf_image_free(ctypes.byref(img))
    return arr[:, :, 0] if squeeze and arr.shape[2] == 1 else arr


def image_struct(arr):
    """A gnf_image describing a C-contiguous float32 (H, W, C) array (which must outlive its use)."""
    return _lib.gnf_image(arr.shape[1], arr.shape[0], arr.shape[2], fptr(arr))
