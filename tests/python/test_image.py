"""Images: fitting from a file and from arrays that never touched the disk, evaluation, rendering,
the parameters and metadata, saving and loading, the progress callback, stopping and Ctrl-C."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gnf
from conftest import IMAGE, ROOT
from helpers import psnr, read_model_file


@pytest.fixture(scope="module")
def fitted():
    return gnf.fit_image(IMAGE, steps=200, seed=3)


def synthetic(h=96, w=128):
    """A smooth RGB picture made in memory (float64, values in 0.1..0.9)."""
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    return np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * y), 0.5 + 0.4 * np.cos(5 * y), 0.5 + 0.3 * np.sin(4 * (x + y))], -1)


def test_fit_from_a_file(fitted):
    assert fitted.task == "image" and fitted.in_dim == 2 and fitted.out_dim == 3
    rep = fitted.report
    assert rep["steps"] == 200 and rep["stop_reason"] == "steps" and rep["rollbacks"] == 0
    img = gnf.read_image(IMAGE)
    assert img.shape == (256, 256, 3) and img.dtype == np.float32
    got = psnr(fitted.render(), img)
    assert got > 28, "PSNR %.2f dB after 200 steps" % got   # 32.7 dB measured
    assert abs(got - rep["quality"]) < 1e-3   # the library's own full-picture PSNR
    assert fitted.info["gnf.source"] == "kodim23_crop.png"
    assert fitted.info["gnf.image.source_size"] == "256x256"


def test_fit_from_an_array_that_never_touched_the_disk():
    pic = synthetic()
    m = gnf.fit_image(pic, steps=300, seed=1)
    out = m.render()
    assert out.shape == pic.shape and out.dtype == np.float32
    got = psnr(out, pic)
    assert got > 35, "PSNR %.2f dB" % got
    assert m.info["gnf.image.source_size"] == "128x96" and "gnf.source" not in m.info
    # the same picture as uint8 gives the same model as its values / 255 in float32
    u8 = np.round(pic * 255).astype(np.uint8)
    a = gnf.fit_image(u8, steps=20, seed=2).params
    b = gnf.fit_image(u8.astype(np.float32) / np.float32(255), steps=20, seed=2).params
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # 16-bit in either byte order is the same picture
    u16 = np.round(pic * 65535).astype("<u2")
    c = gnf.fit_image(u16, steps=5, seed=2).params
    d = gnf.fit_image(u16.astype(">u2"), steps=5, seed=2).params
    assert all(np.array_equal(c[k], d[k]) for k in c)


def test_array_and_file_give_the_same_model(fitted):
    arr = gnf.read_image(IMAGE)
    m = gnf.fit_image(arr, steps=200, seed=3)
    a, b = m.params, fitted.params
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    # RGBA: alpha dropped, as gnf fit drops it; gray pictures fit one channel
    rgba = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 0.25, np.float32)], -1)
    assert all(np.array_equal(gnf.fit_image(rgba, steps=5).params[k], gnf.fit_image(arr, steps=5).params[k]) for k in a)
    g = gnf.fit_image(arr[:, :, 1], steps=50)
    assert g.out_dim == 1 and g.render().shape == (256, 256) and g.eval([0, 0]).shape == (1,)


def test_crop_and_budget(fitted):
    m = gnf.fit_image(IMAGE, steps=20, crop=(100, 60), params=30000, preset="fast")
    assert m.info["gnf.image.crop"] == "100x60" and m.render().shape == (60, 100, 3)
    assert m.param_count <= 30000
    assert m.report["steps"] == 20
    t = gnf.fit_image(IMAGE, target_psnr=22, steps=2000, eval_every=10)
    assert t.report["stop_reason"] == "target" and t.report["quality"] >= 22 and t.report["steps"] < 2000


def test_eval_matches_the_rendered_pixels(fitted):
    w, h = 40, 30
    j, i = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xy = np.stack([(np.float32(2) * (j + np.float32(0.5))) / np.float32(w) - np.float32(1),
                   (np.float32(2) * (i + np.float32(0.5))) / np.float32(h) - np.float32(1)], -1).reshape(-1, 2)
    y = fitted.eval(xy)
    assert y.shape == (w * h, 3) and y.dtype == np.float32
    assert np.array_equal(np.clip(y, 0, 1).reshape(h, w, 3), fitted.render(w, h))
    # any real dtype, any layout, one point or none
    assert np.array_equal(fitted.eval(xy.astype(np.float64)), y)
    assert np.array_equal(fitted.eval(xy.astype(">f4")), y)
    strided = np.asfortranarray(np.repeat(xy, 2, axis=0)[::2])
    assert not strided.flags.c_contiguous and np.array_equal(fitted.eval(strided), y)
    assert np.array_equal(fitted.eval(xy[5]), y[5]) and fitted.eval(xy[5]).shape == (3,)
    assert fitted.eval(np.zeros((0, 2))).shape == (0, 3)
    assert fitted.eval([[0, 0]]).shape == (1, 3)


def test_render_sizes(fitted):
    assert fitted.render().shape == (256, 256, 3)
    assert fitted.render(100).shape == (100, 100, 3)
    assert fitted.render(height=50).shape == (50, 50, 3)
    assert fitted.render(64, 32).shape == (32, 64, 3)
    m = gnf.fit_image(synthetic(), steps=5)
    assert m.render(64).shape == (48, 64, 3)   # the fitted 128x96 aspect, rounded
    r = fitted.render(512)
    assert r.min() >= 0 and r.max() <= 1


def test_params_info_save_load(fitted, tmp_path):
    p = fitted.params
    assert list(p) == ["grid.%d" % i for i in range(7)] + ["rbf.centers", "rbf.log_precision", "rbf.W", "rbf.w0"]
    assert sum(a.size for a in p.values()) == fitted.param_count
    assert all(a.dtype == np.float32 and not a.flags.writeable for a in p.values())
    with pytest.raises(ValueError):
        p["rbf.W"][0, 0] = 1
    path = tmp_path / "m.gnf"
    fitted.save(path)
    tensors, meta = read_model_file(path)
    assert list(tensors) == list(p) and all(np.array_equal(tensors[k], p[k]) for k in p)
    assert list(fitted.info.items()) == list(meta.items())
    assert os.path.getsize(path) == fitted.file_bytes()
    m = gnf.load(path)
    assert m.report is None and m.info == fitted.info
    pts = np.random.default_rng(0).uniform(-1, 1, (500, 2))
    assert np.array_equal(m.eval(pts), fitted.eval(pts))
    fitted.save(tmp_path / "h.gnf", half=True)
    assert os.path.getsize(tmp_path / "h.gnf") == fitted.file_bytes(half=True) < os.path.getsize(path)
    h = gnf.load(str(tmp_path / "h.gnf"))
    assert np.allclose(h.eval(pts), fitted.eval(pts), atol=2e-2)
    # a view keeps its model alive; a closed model refuses work
    w = gnf.load(path).params["rbf.w0"]
    import gc
    gc.collect()
    assert np.array_equal(w, p["rbf.w0"])
    m.close()
    with pytest.raises(gnf.Error, match="closed"):
        m.eval([0, 0])
    # closing a model whose tensors are still viewed frees it only when the views are gone
    m2 = gnf.load(path)
    w0 = m2.params["rbf.w0"]
    m2.close()
    with pytest.raises(gnf.Error, match="closed"):
        m2.params
    assert np.array_equal(w0, p["rbf.w0"])   # still valid memory
    del w0
    gc.collect()
    assert not m2._h.value   # freed with its last view


def test_progress_callback_sees_steps_loss_and_metric():
    seen = []
    m = gnf.fit_image(IMAGE, steps=60, eval_every=20, progress=seen.append)
    assert [p.step for p in seen] == list(range(1, 61))
    assert all(p.steps == 60 and p.loss > 0 and isinstance(p.metric_estimate, float) for p in seen)
    measured = [(p.step, p.metric) for p in seen if p.metric is not None]
    assert [s for s, _ in measured] == [20, 40, 60]
    assert measured[-1][1] == pytest.approx(m.report["quality"], abs=1e-9)
    assert measured[0][1] < measured[-1][1]
    every = []
    gnf.fit_image(IMAGE, steps=30, progress=every.append, progress_every=10)
    assert [p.step for p in every] == [10, 20, 30]


def test_returning_false_stops_training_and_keeps_the_model():
    def stop_at_30(p):
        return p.step < 30
    m = gnf.fit_image(IMAGE, steps=1000, progress=stop_at_30)
    assert m.report["steps"] == 30 and m.report["stop_reason"] == "callback"
    assert m.info["gnf.train.stop"] == "callback" and m.info["gnf.train.steps"] == "30"
    assert psnr(m.render(), gnf.read_image(IMAGE)) > 15


class Boom(Exception):
    pass


def test_an_exception_in_progress_stops_training_and_is_raised():
    calls = []

    def boom(p):
        calls.append(p.step)
        if p.step == 12:
            raise Boom("at 12")
    with pytest.raises(Boom, match="at 12"):
        gnf.fit_image(IMAGE, steps=1000, progress=boom)
    assert calls == list(range(1, 13))
    with pytest.raises(gnf.Error, match="progress must be callable"):
        gnf.fit_image(IMAGE, steps=10, progress=5)


CHILD = textwrap.dedent("""
    import signal, sys
    sys.path.insert(0, sys.argv[1])
    import gnf
    def progress(p):
        if p.step == 10:
            print("training", flush=True)
    m = gnf.fit_image(sys.argv[2], steps=1000000, progress=progress)
    m.save(sys.argv[3])
    print(m.report["stop_reason"], m.report["steps"], m.info["gnf.train.interrupted"], m.info["gnf.train.stopped_step"])
    print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
""")


def test_ctrl_c_stops_training_and_returns_the_model(tmp_path):
    out = tmp_path / "i.gnf"
    p = subprocess.Popen([sys.executable, "-c", CHILD, os.path.join(ROOT, "python"), IMAGE, str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "training\n"
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, stderr
    stop, steps, sig, stopped = stdout.split("\n")[0].split()
    assert stop == "cancelled" and sig == "SIGINT" and stopped == steps and 10 <= int(steps) < 1000000
    assert stdout.split("\n")[1] == "True"          # the previous handler is back
    assert "interrupted (SIGINT)" in stderr
    assert gnf.load(out).info["gnf.train.stop"] == "cancelled"
