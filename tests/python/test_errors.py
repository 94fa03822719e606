"""Bad input: every wrong dtype, shape, value, file or call raises gnf.Error with a message that
names what is wrong (the library's own message for files), and nothing crashes."""
import os

import numpy as np
import pytest

import gnf
from conftest import IMAGE
from helpers import uv_sphere


@pytest.fixture(scope="module")
def img_model():
    return gnf.fit_image(IMAGE, steps=5)


@pytest.mark.parametrize("points, match", [
    (np.zeros((4, 3)), r"shape \(N, 2\)"),
    (np.zeros((2, 2, 2)), r"shape \(N, 2\)"),
    (np.array([["a", "b"]]), "real numbers"),
    (np.zeros((3, 2), complex), "real numbers"),
    (np.zeros((3, 2), bool), "real numbers"),
    (np.array([[0.0, np.nan]]), "non-finite.*row 0"),
    (np.array([[0.0, 0.0], [np.inf, 0.0]]), "non-finite.*row 1"),
    (np.array([[1e39, 0.0]]), "non-finite"),          # beyond float32
    ([[0, 0], [1]], "not an array|real numbers|shape"),
    (object(), "real numbers|shape"),
])
def test_bad_points(img_model, points, match):
    with pytest.raises(gnf.Error, match=match) as e:
        img_model.eval(points)
    assert e.value.status == "invalid argument"


@pytest.mark.parametrize("image, match", [
    (np.zeros((8, 8, 5)), "shape"),
    (np.zeros(8), "shape"),
    (np.zeros((0, 8, 3)), "empty"),
    (np.zeros((8, 8, 3), np.int32), "uint8, uint16 or floating"),
    (np.zeros((8, 8), bool), "uint8, uint16 or floating"),
    (np.full((8, 8, 3), np.nan), "non-finite"),
    ("/nonexistent/picture.png", "/nonexistent/picture.png"),
    (42, "shape|array"),
])
def test_bad_images(image, match):
    with pytest.raises(gnf.Error, match=match):
        gnf.fit_image(image, steps=1)


def test_a_corrupt_picture_names_the_file(tmp_path):
    p = tmp_path / "broken.png"
    p.write_bytes(open(IMAGE, "rb").read()[:300])
    with pytest.raises(gnf.Error, match="broken.png") as e:
        gnf.fit_image(str(p), steps=1)
    assert e.value.status == "corrupt or malformed input"
    with pytest.raises(gnf.Error, match="broken.png"):
        gnf.read_image(p)


@pytest.mark.parametrize("kw, match", [
    (dict(steps=0), "steps must be in"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(steps=True), "steps must be an integer"),
    (dict(seconds=-1), "seconds must be in"),
    (dict(seconds=float("nan")), "seconds must be in"),
    (dict(params=10), "params must be in"),
    (dict(preset="fastest"), "preset"),
    (dict(crop=(300, 10)), "crop 300x10 is larger than the image"),
    (dict(crop=5), "crop must be"),
    (dict(target_psnr=500), "target_psnr"),
    (dict(threads=0), "threads"),
    (dict(seed=-1), "seed"),
    (dict(eval_every=0), "eval_every"),
    (dict(progress_every=0), "progress_every"),
])
def test_bad_fit_arguments(kw, match):
    kw.setdefault("steps", 1)
    with pytest.raises(gnf.Error, match=match):
        gnf.fit_image(IMAGE, **kw)


def test_bad_meshes(tmp_path):
    v, f = uv_sphere(1.0, (0, 0, 0), 8, 4)
    for mesh, match in [
        ((v, f + 1), "row .* indexes vertex %d, outside 0..%d" % (len(v), len(v) - 1)),
        ((v, -f), "outside"),
        ((v, f.astype(np.float64)), "integer vertex indices"),
        ((v, f[:, :2]), r"shape \(M, 3\)"),
        ((v[:, :2], f), r"shape \(N, 3\)"),
        ((np.where(v == v.max(), np.nan, v), f), "vertices has a non-finite value"),
        ((v[:2], f[:1] % 2), "at least 3 vertices"),
        ((v,), "mesh must be a mesh file or a"),
        ("/nonexistent/shape.obj", "/nonexistent/shape.obj"),
    ]:
        with pytest.raises(gnf.Error, match=match):
            gnf.fit_sdf(mesh, steps=1, samples=1024)
    with pytest.raises(gnf.Error, match="params 1000: no model of 8 hash levels fits") as e:   # the library's refusal
        gnf.fit_sdf((v, f), steps=1, params=1000, samples=1024)
    assert e.value.status == "invalid value"
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    with pytest.raises(gnf.Error, match="bad.obj") as e:
        gnf.fit_sdf(str(bad), steps=1, samples=1024)
    assert e.value.status == "corrupt or malformed input"


def test_bad_model_files(tmp_path, img_model):
    with pytest.raises(gnf.Error, match="/nonexistent/m.gnf") as e:
        gnf.load("/nonexistent/m.gnf")
    assert e.value.status == "I/O error"
    p = tmp_path / "m.gnf"
    img_model.save(p)
    b = p.read_bytes()
    (tmp_path / "short.gnf").write_bytes(b[: len(b) // 2])
    with pytest.raises(gnf.Error, match="short.gnf"):
        gnf.load(tmp_path / "short.gnf")
    (tmp_path / "junk.gnf").write_bytes(b"not a model at all")
    with pytest.raises(gnf.Error, match="junk.gnf"):
        gnf.load(tmp_path / "junk.gnf")
    # a failed save names the path and leaves nothing behind
    with pytest.raises(gnf.Error, match="nofolder"):
        img_model.save(tmp_path / "nofolder" / "x.gnf")
    assert not os.path.exists(tmp_path / "nofolder")
    with pytest.raises(gnf.Error, match="path"):
        img_model.save(None)
    with pytest.raises(gnf.Error, match="NUL"):
        gnf.load("a\0b")


def test_methods_of_another_task(img_model):
    with pytest.raises(gnf.Error, match="signed distance field"):
        img_model.sdf([[0, 0, 0]])
    with pytest.raises(gnf.Error, match="signed distance field or radiance field"):
        img_model.mesh(32)
    with pytest.raises(gnf.Error, match="radiance field"):
        img_model.render_view(gnf.Camera(8, 8, 10))
    with pytest.raises(gnf.Error, match="radiance field"):
        img_model.camera()
    with pytest.raises(gnf.Error, match="azimuth"):
        img_model.render(azimuth=10)
    with pytest.raises(gnf.Error, match="width"):
        img_model.render(0)
    with pytest.raises(gnf.Error, match="made by"):
        gnf.Model()


def test_bad_cameras_and_scenes(tmp_path):
    with pytest.raises(gnf.Error, match="c2w"):
        gnf.Camera(8, 8, 10, c2w=np.zeros((2, 2)))
    with pytest.raises(gnf.Error, match="c2w"):
        gnf.Camera(8, 8, 10, c2w=np.full((3, 4), np.nan))
    with pytest.raises(gnf.Error, match="width"):
        gnf.Camera(0, 8, 10)
    with pytest.raises(gnf.Error, match="transforms_test.json"):
        gnf.scene_cameras(tmp_path)
    with pytest.raises(gnf.Error, match="split"):
        gnf.scene_cameras(tmp_path, "nope")
    with pytest.raises(gnf.Error, match="transforms_train.json"):
        gnf.fit_scene(tmp_path, steps=1)
