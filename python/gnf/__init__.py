"""gnf — Gaussian Neural Fields on the CPU, from Python.

The C library libgnf (the engine of the `gnf` command) through ctypes: no compiled extension,
only numpy.  Fit a field to a picture, a mesh or posed photos, then evaluate, query, render and
mesh it with numpy arrays in and out:

    import gnf
    m = gnf.fit_image("photo.png", steps=2000)      # or an (H, W, 3) array
    big = m.render(1024)                            # (H, W, 3) float32
    m.save("photo.gnf")
    s = gnf.fit_sdf("shape.obj", seconds=15)        # or (vertices, faces)
    d, g = s.sdf(points)                            # distances and gradients
    v, f = s.mesh(256)
    n = gnf.fit_scene("lego", downscale=4, seconds=60)
    rgb = n.render_view(gnf.scene_cameras("lego", "test")[0])

Every failure raises gnf.Error with a message naming the argument or file and what is wrong.
The library is found at $GNF_LIBRARY, beside this package, in ../../build/release of the
source tree it sits in, or on the system's library path.
"""
from ._lib import path as library_path
from ._train import Progress
from ._util import Error
from .fit import fit_image, fit_scene, fit_sdf, read_image
from .model import Camera, Model, load, scene_cameras
from ._lib import lib as _clib

__version__ = "0.1.0"
__all__ = ["Camera", "Error", "Model", "Progress", "fit_image", "fit_scene", "fit_sdf", "kernel_name", "load",
           "read_image", "scene_cameras", "library_path"]


def kernel_name():
    """The kernels the library runs on this CPU: "avx2-fma" or "scalar"."""
    return _clib.gnf_kernel_name().decode()
