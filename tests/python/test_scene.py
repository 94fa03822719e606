"""Radiance fields (a short fit of lego_400 at 1/8 size; skipped without ../shared/data): the
fit, its held-out metric, rendering dataset and orbit cameras with depth and opacity, coloured
meshes, raw evaluation."""
import numpy as np

import gnf


def test_fit_scene(lego):
    scene, m, seen = lego
    assert m.task == "nerf" and m.in_dim == 3 and m.out_dim == 49
    rep = m.report
    assert rep["steps"] == 30 and rep["stop_reason"] == "steps"
    assert [p.step for p in seen] == list(range(1, 31))
    held = [p.metric for p in seen if p.metric is not None]
    assert len(held) == 3 and all(8 < q < 40 for q in held)   # 30 steps: ~13 dB measured
    assert held[-1] == rep["quality"]
    assert m.info["gnf.source"] == scene and m.info["gnf.nerf.downscale"] == "8"


def test_scene_cameras_and_render_view(lego):
    scene, m, _ = lego
    cams = gnf.scene_cameras(scene, "test", downscale=8)
    assert len(cams) == 200 and (cams[0].width, cams[0].height) == (50, 50)
    assert cams[0].c2w.shape == (3, 4)
    rgb = m.render_view(cams[3])
    assert rgb.shape == (50, 50, 3) and rgb.dtype == np.float32 and 0 <= rgb.min() and rgb.max() <= 1
    rgb2, depth, opacity = m.render_view(cams[3], depth=True, opacity=True)
    assert np.array_equal(rgb, rgb2)
    assert depth.shape == opacity.shape == (50, 50)
    assert depth.min() >= 0 and 0 <= opacity.min() and opacity.max() <= 1 and opacity.max() > 0.1
    _, d, o = m.render_view(cams[3], opacity=True)
    assert d is None and np.array_equal(o, opacity)
    big = m.render_view(cams[3].scaled(100))
    assert big.shape == (100, 100, 3)


def test_orbit_render(lego):
    _, m, _ = lego
    cam = m.camera()
    assert (cam.width, cam.height) == (50, 50)
    assert np.array_equal(m.render(), m.render_view(cam))
    assert m.render(80).shape == (80, 80, 3) and m.render(64, 32).shape == (32, 64, 3)
    a, b = m.render(azimuth=0), m.render(azimuth=180)
    assert not np.array_equal(a, b)
    # the orbit camera looks at the origin from the recorded distance
    radius = float(m.info["gnf.nerf.camera"].split(",")[-1])
    assert abs(np.linalg.norm(cam.c2w[:, 3]) - radius) < 1e-3 * radius


def test_coloured_mesh_and_eval(lego):
    _, m, _ = lego
    iso = density_level(m)
    v, f, rgb = m.mesh(48, iso=iso, colours=True)
    assert len(f) > 0 and v.shape == rgb.shape and rgb.dtype == np.uint8
    assert np.abs(v).max() <= 1.5 + 1e-4   # inside the scene box
    v2, f2 = m.mesh(48, iso=iso)
    assert np.array_equal(v, v2) and np.array_equal(f, f2)
    y = m.eval(np.zeros((7, 3)))
    assert y.shape == (7, 49)


def density_level(m, res=48):
    """A density level with some surface after 30 steps (the default 10 has none yet): the 99.9th
    percentile of the density at the marching-cubes grid's points (field input = world / box)."""
    g = np.linspace(-1, 1, res, dtype=np.float32)
    pts = np.stack(np.meshgrid(g, g, g), -1).reshape(-1, 3)
    sigma = np.logaddexp(0, m.eval(pts)[:, 0].astype(np.float64) - 10)
    return float(np.percentile(sigma, 99.9))
