"""pytest setup for the Python package's tests (tests/python/run.sh runs them; `make test` through
tests/run_all.sh).  The package is imported from python/ of this tree and the library from
build/release (or $GNF_LIBRARY); the CLI is build/release/gnf.  Tests that need ../shared/data
are skipped when it is absent.  Ends with the summary line run_all.sh reads:
"N passed, N failed, N skipped"."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

import gnf  # noqa: E402  (after the path above)

CLI = os.path.join(ROOT, "build", "release", "gnf")
IMAGE = os.path.join(ROOT, "data", "kodim23_crop.png")


def data_dir():
    """../shared/data (or $GNF_DATA), or None when absent."""
    for d in (os.environ.get("GNF_DATA"), os.path.join(ROOT, "..", "shared", "data")):
        if d and os.path.isdir(os.path.join(d, "meshes")):
            return os.path.abspath(d)
    return None


@pytest.fixture(scope="session")
def data():
    d = data_dir()
    if d is None:
        pytest.skip("../shared/data is absent (set GNF_DATA)")
    return d


@pytest.fixture(scope="session")
def cli():
    if not os.access(CLI, os.X_OK):
        pytest.fail("%s is missing: run make" % CLI)
    return CLI


SPHERE_C, SPHERE_R = np.array([0.3, -0.2, 1.0]), 0.8


@pytest.fixture(scope="session")
def sphere():
    """A signed distance field fitted from arrays: a UV sphere of radius SPHERE_R around SPHERE_C."""
    from helpers import uv_sphere
    v, f = uv_sphere(SPHERE_R, SPHERE_C)
    return gnf.fit_sdf((v, f), steps=200, samples=1 << 19, seed=4)


LEGO_ARGS = dict(downscale=8, steps=30, seed=1)   # `gnf fit LEGO --downscale 8 --steps 30 --seed 1`


@pytest.fixture(scope="session")
def lego(data):
    """(scene folder, the radiance field fitted to it from Python with LEGO_ARGS, the progress seen)."""
    scene = os.path.join(data, "nerf", "lego_400")
    if not os.path.isfile(os.path.join(scene, "transforms_train.json")):
        pytest.skip("%s is absent" % scene)
    seen = []
    return scene, gnf.fit_scene(scene, eval_every=10, progress=seen.append, **LEGO_ARGS), seen


def run_cli(*args):
    """Runs build/release/gnf with args; returns its stdout (fails the test on a non-zero exit)."""
    p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)
    assert p.returncode == 0, "gnf %s exited %d: %s" % (" ".join(map(str, args)), p.returncode, p.stderr[-2000:])
    return p.stdout


def pytest_terminal_summary(terminalreporter):
    st = terminalreporter.stats
    passed = len(st.get("passed", []))
    failed = len(st.get("failed", [])) + len(st.get("error", []))
    skipped = len(st.get("skipped", []))
    terminalreporter.write_line("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
