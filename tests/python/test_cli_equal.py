"""The package and `gnf` give the same results: with the same seed and settings a fit from Python
writes the byte-identical model file the CLI writes, for images, SDFs and radiance fields, and
renders, meshes and queries of one model are equal value for value (renders after the PNG
writer's 8-bit rounding)."""
import filecmp
import os

import numpy as np
import pytest

import gnf
from conftest import IMAGE, LEGO_ARGS, run_cli
from helpers import quantise, read_ply, uv_sphere, write_obj


def same_file(a, b):
    assert os.path.getsize(a) == os.path.getsize(b)
    assert filecmp.cmp(a, b, shallow=False), "%s and %s differ" % (a, b)


@pytest.mark.parametrize("flags, kw", [
    (["--steps", "150", "--seed", "5"], dict(steps=150, seed=5)),
    (["--steps", "40", "--crop", "200x120", "--params", "40000", "--preset", "fast", "--half"],
     dict(steps=40, crop=(200, 120), params=40000, preset="fast")),
    (["--target-psnr", "24", "--eval-every", "10", "--steps", "500"], dict(target_psnr=24, eval_every=10, steps=500)),
])
def test_image_fit_is_byte_identical(cli, tmp_path, flags, kw):
    run_cli("fit", IMAGE, "-o", tmp_path / "cli.gnf", "--quiet", *flags)
    gnf.fit_image(IMAGE, **kw).save(tmp_path / "py.gnf", half="--half" in flags)
    same_file(tmp_path / "cli.gnf", tmp_path / "py.gnf")


def test_image_render_equals_the_cli(cli, tmp_path):
    m = gnf.fit_image(IMAGE, steps=50)
    m.save(tmp_path / "m.gnf")
    run_cli("render", tmp_path / "m.gnf", "-o", tmp_path / "r.png", "--width", 100)
    assert np.array_equal(quantise(m.render(100)), gnf.read_image(tmp_path / "r.png"))


@pytest.fixture(scope="module")
def sdf_pair(tmp_path_factory):
    """(folder, the Python model) after fitting one sphere file from Python and with gnf fit."""
    d = tmp_path_factory.mktemp("sdf")
    v, f = uv_sphere(0.7, (0.1, 0.2, -0.3))
    write_obj(d / "sphere.obj", v.astype(np.float32), f)
    run_cli("fit", d / "sphere.obj", "-o", d / "cli.gnf", "--quiet", "--steps", 60, "--params", 100000, "--samples", 65536,
            "--seed", 2)
    m = gnf.fit_sdf(str(d / "sphere.obj"), steps=60, params=100000, samples=65536, seed=2)
    m.save(d / "py.gnf")
    return d, m


def test_sdf_fit_is_byte_identical(sdf_pair):
    d, _ = sdf_pair
    same_file(d / "cli.gnf", d / "py.gnf")


def test_sdf_mesh_query_render_equal_the_cli(sphere, tmp_path):
    d, m = tmp_path, sphere
    m.save(d / "py.gnf")
    run_cli("mesh", d / "py.gnf", "-o", d / "m.ply", "--res", 40)
    v, f, rgb = read_ply(d / "m.ply")
    mv, mf = m.mesh(40)
    assert rgb is None and np.array_equal(v, mv) and np.array_equal(f, mf)
    pts = np.random.default_rng(5).uniform(-1, 1, (1000, 3)).astype(np.float32)
    pts.tofile(d / "p.f32")
    run_cli("query", d / "py.gnf", d / "p.f32", "--binary", "-o", d / "q.f32")
    q = np.fromfile(d / "q.f32", np.float32).reshape(-1, 4)
    dist, grad = m.sdf(pts)
    assert np.array_equal(q[:, 0], dist) and np.array_equal(q[:, 1:], grad)
    run_cli("render", d / "py.gnf", "-o", d / "r.png", "--width", 64, "--azimuth", 45, "--elevation", 10)
    assert np.array_equal(quantise(m.render(64, azimuth=45, elevation=10)), gnf.read_image(d / "r.png"))


def test_scene_fit_render_mesh_equal_the_cli(lego, tmp_path):
    scene, m, _ = lego
    run_cli("fit", scene, "-o", tmp_path / "cli.gnf", "--quiet", "--downscale", LEGO_ARGS["downscale"],
            "--steps", LEGO_ARGS["steps"], "--seed", LEGO_ARGS["seed"])
    m.save(tmp_path / "py.gnf")
    same_file(tmp_path / "cli.gnf", tmp_path / "py.gnf")
    run_cli("render", tmp_path / "py.gnf", "--scene", scene, "--view", "test:3", "--downscale", 8, "-o", tmp_path / "v.png")
    cam = gnf.scene_cameras(scene, "test", 8)[3]
    assert np.array_equal(quantise(m.render_view(cam)), gnf.read_image(tmp_path / "v.png"))
    run_cli("render", tmp_path / "py.gnf", "-o", tmp_path / "o.png", "--width", 64, "--azimuth", 45, "--elevation", 20)
    assert np.array_equal(quantise(m.render(64, azimuth=45, elevation=20)), gnf.read_image(tmp_path / "o.png"))
    from test_scene import density_level
    iso = density_level(m)
    run_cli("mesh", tmp_path / "py.gnf", "-o", tmp_path / "m.ply", "--res", 48, "--iso", repr(iso))
    v, f, rgb = read_ply(tmp_path / "m.ply")
    mv, mf, mrgb = m.mesh(48, iso=iso, colours=True)
    assert np.array_equal(v, mv) and np.array_equal(f, mf) and np.array_equal(rgb, mrgb)
