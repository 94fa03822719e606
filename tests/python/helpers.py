"""Small helpers shared by the Python package's tests (numpy only)."""
import json
import struct

import numpy as np


def psnr(a, b):
    """-10 log10(MSE) of a clamped to [0, 1] against b, as gnf_psnr computes it (in double)."""
    a = np.clip(np.asarray(a, np.float64), 0, 1)
    return float(-10 * np.log10(np.mean((a - np.asarray(b, np.float64)) ** 2)))


def read_model_file(path):
    """(tensors by name as float32 arrays, metadata dict in file order): the reader of
    docs/FORMAT.md, independent of gnf."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    data = b[8 + n:]
    meta = h.pop("__metadata__")
    out = {}
    for name, e in h.items():
        s, t = e["data_offsets"]
        out[name] = np.frombuffer(data[s:t], {"F32": "<f4", "F16": "<f2"}[e["dtype"]]).reshape(e["shape"]).astype(np.float32)
    return out, meta


def quantise(img):
    """What gnf's PNG writer stores, read back as gnf reads it: (uint8)(clamp(v) * 255 + 0.5) / 255."""
    v = np.clip(np.asarray(img, np.float32), 0, 1) * np.float32(255) + np.float32(0.5)
    return v.astype(np.uint8).astype(np.float32) / np.float32(255)


def read_ply(path):
    """A binary little-endian PLY as gnf writes it: (vertices float32 (N, 3), faces int32 (M, 3),
    colours uint8 (N, 3) or None)."""
    b = open(path, "rb").read()
    end = b.index(b"end_header\n") + len(b"end_header\n")
    header = b[:end].decode().split("\n")
    nv = int(next(l for l in header if l.startswith("element vertex")).split()[-1])
    nf = int(next(l for l in header if l.startswith("element face")).split()[-1])
    rgb = "property uchar red" in header
    vt = np.dtype([("xyz", "<f4", 3)] + ([("rgb", "u1", 3)] if rgb else []))
    v = np.frombuffer(b, vt, nv, end)
    f = np.frombuffer(b, np.dtype([("n", "u1"), ("i", "<i4", 3)]), nf, end + nv * vt.itemsize)
    assert (f["n"] == 3).all()
    return v["xyz"].copy(), f["i"].copy(), (v["rgb"].copy() if rgb else None)


def uv_sphere(r=1.0, c=(0.0, 0.0, 0.0), nu=32, nl=16):
    """A closed UV sphere: vertices float64 (N, 3), faces int64 (M, 3), counter-clockwise from outside."""
    th = np.pi * np.arange(1, nl) / nl
    ph = 2 * np.pi * np.arange(nu) / nu
    ring = np.stack([np.sin(th)[:, None] * np.cos(ph), np.sin(th)[:, None] * np.sin(ph),
                     np.cos(th)[:, None] * np.ones(nu)], -1).reshape(-1, 3)
    v = np.concatenate([[[0, 0, 1]], ring, [[0, 0, -1]]]) * r + np.asarray(c)
    last = len(v) - 1
    f = []
    for j in range(nu):
        f.append((0, 1 + j, 1 + (j + 1) % nu))
    for i in range(nl - 2):
        for j in range(nu):
            a, b = 1 + i * nu + j, 1 + i * nu + (j + 1) % nu
            f += [(a, a + nu, b + nu), (a, b + nu, b)]
    for j in range(nu):
        a, b = 1 + (nl - 2) * nu + j, 1 + (nl - 2) * nu + (j + 1) % nu
        f.append((a, last, b))
    return v, np.array(f)


def write_obj(path, v, f):
    with open(path, "w") as o:
        for p in v:
            o.write("v %.9g %.9g %.9g\n" % tuple(p))
        for t in f:
            o.write("f %d %d %d\n" % tuple(np.asarray(t) + 1))
