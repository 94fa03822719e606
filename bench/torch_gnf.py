#!/usr/bin/python3
"""torch_gnf.py — gnf's model and training recipe in PyTorch, for the side-by-side benchmark.

The same field as gnf (docs/MODEL.md): multi-resolution feature grids (dense, or Instant-NGP
hash tables where a level has more nodes than the table), bilinear/trilinear interpolation,
features of all levels concatenated, then one layer of K Gaussian RBF neurons in feature space
and a linear head:

    q_k = sum_d beta_dk (f_d - c_dk)^2,  beta = exp(b)      (b: log-precisions)
    y   = W exp(-q/2) + w0

trained with gnf's recipe (src/tasks/recipe.c, train.c, optim/adam.c): the same batch, loss,
Adam settings (gnf's update: eps added to sqrt(v), bias correction folded into the step) and
learning-rate schedule, including gnf's way of turning a time budget into a step count.

The architecture is read from a gnf model file (a template written by `gnf fit ... --steps 1`),
so both sides have the same grids, table sizes and K.  gnf's random numbers (splitmix64 streams,
src/core/util.c) are reproduced, so with the same seed both sides start from the same
parameters and draw the same pixels or pool points at every step: after one step the parameters
agree to float rounding, and the runs part only as rounding differences grow.  A trained model is
written back as a .gnf file (the template's layout and metadata), so `gnf eval` measures both
sides with the same code.

usage:
  torch_gnf.py fit TEMPLATE.gnf DATA [--seconds S | --steps N] [-o OUT.gnf] [--targets 35,40]
                   [--eval-every N] [--threads T] [--seed N] [--encoder gather|grid_sample]
      DATA: the image the template was fitted to (image task), or a pool file written by
      gnf_sdf_pool (sdf task).  Prints one JSON line: steps, training seconds, points/s and,
      for images, the full-image PSNR and the training time at which each target was reached.
  torch_gnf.py check MODEL.gnf DATA [-o POINTS.f32]
      Loads a gnf-trained model into the PyTorch field, to compare its forward pass with gnf's:
      for an image model it prints the full-image PSNR (compare with `gnf eval`); for an SDF
      model it writes the pool's first 65536 points (mesh coordinates) to POINTS.f32 and the
      PyTorch values to POINTS.f32.torch (compare with `gnf query MODEL POINTS.f32 --binary`).

Needs python3-torch, python3-numpy (and python3-pil for images) from Debian.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

# Training settings gnf's recipe adds to what the model file records (gnf.train.batch, lr0, lr1,
# loss): src/tasks/train.c gnf_train_config_default and the SDF case of src/tasks/recipe.c.
RECIPES = {
    "image": dict(adam_b1=0.9, adam_b2=0.99, adam_eps=1e-15, lr_knee_steps=0),
    "sdf": dict(adam_b1=0.9, adam_b2=0.999, adam_eps=1e-8, lr_knee_steps=3000),
}
HASH_PRIMES = (1, 2654435761, 805459861)   # src/field/grid.c: ix*1 ^ iy*P1 ^ iz*P2
REL_L2_EPS = 0.1                            # src/tasks/sdf.c: weight 1 / (|d| + 0.1) for L2


# ---- gnf model files (safetensors) ---------------------------------------------------------

def read_safetensors(path):
    """The tensors (name -> float32 numpy array, in header order) and the metadata of a
    safetensors file, as docs/FORMAT.md describes it."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = e["data_offsets"]
        dt = {"F32": "<f4", "F16": "<f2"}[e["dtype"]]
        tensors[name] = np.frombuffer(data[a:b], dt).astype(np.float32).reshape(e["shape"])
    return tensors, meta


def write_safetensors(path, tensors, meta):
    """Writes tensors (name -> float32 array, kept in insertion order) and string metadata as a
    safetensors file (header padded with spaces to a multiple of 8, like gnf's writer)."""
    header, off, blobs = {"__metadata__": meta}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


# ---- gnf's random numbers (src/core/util.c), vectorised -------------------------------------

U64 = np.uint64
GOLDEN = U64(0x9E3779B97F4A7C15)                        # splitmix64's state increment
MIX1, MIX2 = U64(0xBF58476D1CE4E5B9), U64(0x94D049BB133111EB)
STREAM = U64(0xD1B54A32D192ED03)                        # gnf_rng_seed: seed ^ stream * this


def _mix(z):
    """splitmix64's output function on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> U64(30))) * MIX1
    z = (z ^ (z >> U64(27))) * MIX2
    return z ^ (z >> U64(31))


def gnf_rng_u64(seed, stream, n):
    """The first n outputs of gnf_rng_seed(seed, stream) followed by gnf_rng_u64 calls: a
    splitmix64 stream whose state advances by the golden gamma per call, so output i is
    mix(state0 + (i + 1) gamma)."""
    with np.errstate(over="ignore"):
        s0 = _mix((U64(seed) ^ (U64(stream) * STREAM)) + GOLDEN)
        return _mix(s0 + (np.arange(1, n + 1, dtype=U64) * GOLDEN))


def gnf_rng_uniform(seed, stream, n):
    """gnf_rng_uniform: the top 24 bits of each output as a float32 in [0, 1)."""
    return (gnf_rng_u64(seed, stream, n) >> U64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def gnf_rng_below(seed, stream, n, bound):
    """gnf_rng_below: ((output >> 32) * bound) >> 32, integers in [0, bound)."""
    with np.errstate(over="ignore"):
        return ((gnf_rng_u64(seed, stream, n) >> U64(32)) * U64(bound)) >> U64(32)


def gnf_batch_indices(seed, step, batch, bound, chunk=2048):
    """The pool or pixel indices gnf's training loop draws at a step: chunks of 2048 points,
    chunk ch from the stream (step << 20) ^ ch (src/tasks/train.c)."""
    return torch.from_numpy(np.concatenate([
        gnf_rng_below(seed, (step << 20) ^ ch, min(chunk, batch - ch * chunk), bound)
        for ch in range((batch + chunk - 1) // chunk)]).astype(np.int64))


# ---- the field -----------------------------------------------------------------------------

class GridInterp(torch.autograd.Function):
    """Interpolation from the node planes: feature c of level l at point b is
    sum_k wt[k, l, b] * table[c, idx[k, l, b]]; the backward scatters wt * dL/dfeature back to
    the nodes (scatter_add_, linear in the points).  The weights carry no gradient (the points
    are not trained).  Planes [C, N] and corner-major [n, L, B] indices keep every operation on
    long contiguous rows; embedding_bag over [L*B, n] bags was slower forward, and its backward,
    which sorts the indices, several times slower."""

    @staticmethod
    def forward(ctx, table, idx, wt):
        """Features [B, L*C] (level-major, feature fastest, as gnf concatenates them)."""
        n, L, B = idx.shape
        ctx.save_for_backward(idx, wt)
        ctx.n_nodes = table.shape[1]
        flat = idx.view(-1)
        f = torch.stack([(p.index_select(0, flat).view(n, L, B) * wt).sum(0) for p in table])  # [C, L, B]
        return f.permute(2, 1, 0).reshape(B, L * table.shape[0])

    @staticmethod
    def backward(ctx, grad):
        """dL/dtable [C, N]: each corner node receives weight * dL/dfeature."""
        idx, wt = ctx.saved_tensors
        n, L, B = idx.shape
        C = grad.shape[1] // L
        g = grad.view(B, L, C).permute(2, 1, 0)                                     # [C, L, B]
        flat = idx.view(-1)
        out = torch.zeros(C, ctx.n_nodes, dtype=grad.dtype)
        for c in range(C):
            out[c].scatter_add_(0, flat, (wt * g[c]).view(-1))
        return out, None, None


class GNFField(torch.nn.Module):
    """gnf's field: the grid levels' nodes in one table stored as C planes [C, N] (every level
    has the same feature count C; level l's nodes from base[l]), the RBF centres c [D, K],
    log-precisions b [D, K], head W [O, K] and bias w0 [O]."""

    def __init__(self, meta, seed=1, encoder="gather"):
        """Builds the architecture of a gnf model file's metadata and initialises it as
        src/field/model.c does, with gnf's random numbers (the same values as `gnf fit --seed
        seed`): grids and centres U(-1e-4, 1e-4), b = 0, W, w0 U(-1/sqrt(K), 1/sqrt(K))."""
        super().__init__()
        if meta.get("gnf.decoder") != "rbf" or meta.get("gnf.basis") != "gaussian":
            raise SystemExit("torch_gnf: only the Gaussian RBF decoder is implemented")
        self.dim = int(meta["gnf.in_dim"])
        self.out_dim = int(meta["gnf.out_dim"])
        self.res = [int(v) for v in meta["gnf.res"].split(",")]
        self.feat = [int(v) for v in meta["gnf.feat"].split(",")]
        self.levels = len(self.res)
        if len(set(self.feat)) != 1:
            raise SystemExit("torch_gnf: levels with different feature counts are not implemented")
        self.C = self.feat[0]
        self.D = sum(self.feat)
        self.K = int(meta["gnf.rbf_k"])
        table = 1 << int(meta["gnf.hash_log2"])
        hashed = meta["gnf.encoding"].startswith("hash")
        # a level is dense unless the encoding is hash and its res^dim nodes exceed the table
        self.dense = [not (hashed and r ** self.dim > table) for r in self.res]
        self.nodes = [r ** self.dim if d else table for r, d in zip(self.res, self.dense)]
        self.n_dense = sum(self.dense)
        if self.dense != [True] * self.n_dense + [False] * (self.levels - self.n_dense):
            raise SystemExit("torch_gnf: dense levels must come before hashed ones")
        self.encoder = encoder
        if encoder == "grid_sample" and (self.dim != 2 or self.n_dense != self.levels):
            raise SystemExit("torch_gnf: --encoder grid_sample needs dense 2D grids")
        base = np.cumsum([0] + self.nodes[:-1])
        resm1 = torch.tensor(self.res, dtype=torch.float32) - 1
        self.register_buffer("resm1", resm1)                       # res - 1 per level
        self.register_buffer("base", torch.tensor(base, dtype=torch.int64))
        # per-axis index multipliers: dense ix + R*iy + R^2*iz; hash the primes
        mult = [[r ** a if d else HASH_PRIMES[a] for a in range(self.dim)] for r, d in zip(self.res, self.dense)]
        self.register_buffer("mult", torch.tensor(mult, dtype=torch.int64))
        self.register_buffer("mask", torch.tensor([n - 1 for n in self.nodes], dtype=torch.int64))
        self.register_buffer("resm2", resm1.long() - 1)                   # last cell per level
        # dense levels: offset of corner k from the cell's first node, sum_a bit_a(k) mult_a
        bits = [[(k >> a) & 1 for a in range(self.dim)] for k in range(1 << self.dim)]
        off = [[sum(b * m for b, m in zip(bk, mult[l])) for bk in bits] for l in range(self.n_dense)]
        off = torch.tensor(off, dtype=torch.int64).reshape(self.n_dense, 1 << self.dim)
        self.register_buffer("corner_off", off.t().contiguous())              # [2^dim, Ld]
        # gnf's initial values, drawn in gnf's parameter order from its stream (seed, 0x6E66)
        N, DK, OK = sum(self.nodes), self.D * self.K, self.out_dim * self.K
        u = gnf_rng_uniform(seed, 0x6E66, N * self.C + DK + OK + self.out_dim) * np.float32(2) - np.float32(1)
        a = np.float32(1) / np.sqrt(np.float32(self.K))
        grids = u[:N * self.C] * np.float32(1e-4)
        centers = u[N * self.C:N * self.C + DK] * np.float32(1e-4)
        head = u[N * self.C + DK:] * a
        self.table = torch.nn.Parameter(torch.from_numpy(grids.reshape(N, self.C).T.copy()))
        self.centers = torch.nn.Parameter(torch.from_numpy(centers.reshape(self.D, self.K)))
        self.log_precision = torch.nn.Parameter(torch.zeros(self.D, self.K))
        self.W = torch.nn.Parameter(torch.from_numpy(head[:OK].reshape(self.out_dim, self.K)))
        self.w0 = torch.nn.Parameter(torch.from_numpy(head[OK:].copy()))

    # -- encoding --

    def corners(self, x):
        """Node indices into the table and interpolation weights, both [2^dim, L, B], of points
        x [B, dim] in [-1, 1]; corner k has offsets (k & 1, k >> 1 & 1, k >> 2) as in
        src/field/grid.c (cell clamped to the border, weights in [0, 1]).  Computed per corner
        on contiguous [L, B] rows: broadcasting over a short trailing axis ran several times
        slower on the CPU."""
        L, nd, dim = self.levels, self.n_dense, self.dim
        pos = ((x.t()[None] + 1.0) * 0.5) * self.resm1[:, None, None]          # [L, dim, B]
        pos = torch.minimum(pos.clamp_min_(0.0), self.resm1[:, None, None])
        i0 = torch.minimum(pos.long(), self.resm2[:, None, None])
        w = pos - i0
        parts = []
        if nd > 0:      # dense: the cell's first node plus each corner's fixed offset
            first = (i0[:nd] * self.mult[:nd, :, None]).sum(1) + self.base[:nd, None]   # [Ld, B]
            parts.append(first[None] + self.corner_off[:, :, None])
        if nd < L:      # hashed: xor of the axes' terms, modulo the table size
            h = i0[nd:] * self.mult[nd:, :, None]                                # [Lh, dim, B]
            terms = [(h[:, a], h[:, a] + self.mult[nd:, a, None]) for a in range(dim)]
            acc = list(terms[0])
            for a in range(1, dim):     # corner k: bits below a from acc, bit a from this axis
                acc = [acc[k % (1 << a)] ^ terms[a][k >> a] for k in range(1 << (a + 1))]
            parts.append((torch.stack(acc) & self.mask[None, nd:, None]) + self.base[None, nd:, None])
        ws = [(1.0 - w[:, a], w[:, a]) for a in range(dim)]
        acc = list(ws[0])
        for a in range(1, dim):
            acc = [acc[k % (1 << a)] * ws[a][k >> a] for k in range(1 << (a + 1))]
        idx = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
        return idx, torch.stack(acc)

    def encode(self, x):
        """Features [B, D] of points x [B, dim]: every level interpolated, levels concatenated
        (level l's C features at columns l*C .. l*C+C-1)."""
        if self.encoder == "grid_sample":
            return self.encode_grid_sample(x)
        idx, wt = self.corners(x)
        return GridInterp.apply(self.table, idx, wt)

    def encode_grid_sample(self, x):
        """The same features for dense 2D grids through torch's grid_sample, one call per level
        (align_corners: node i at -1 + 2i/(res-1); border padding: gnf's clamp).  The levels
        come from one split of the table (its backward is one concatenation)."""
        g = x.view(1, 1, -1, 2)
        out = []
        for r, plane in zip(self.res, self.table.split(self.nodes, 1)):
            img = plane.view(1, self.C, r, r)                                   # [1, C, iy, ix]
            out.append(torch.nn.functional.grid_sample(img, g, mode="bilinear", padding_mode="border",
                                                       align_corners=True)[0, :, 0].t())
        return torch.cat(out, 1)

    # -- decoder --

    def decode(self, f):
        """y [B, O] from features f [B, D]: the Gaussian RBF layer in expanded form, one GEMM for
        the exponents -q/2 = [f*f, f] @ [-beta/2; beta*c] - sum_d beta c^2 / 2 (no B x K x D
        tensor), then exp and the head."""
        beta = torch.exp(self.log_precision)
        bc = beta * self.centers
        e = torch.addmm(-0.5 * (bc * self.centers).sum(0, keepdim=True), torch.cat((f * f, f), 1),
                        torch.cat((-0.5 * beta, bc), 0))
        return torch.addmm(self.w0[None, :], torch.exp(e), self.W.t())

    def forward(self, x):
        """Field values y [B, O] at points x [B, dim]."""
        return self.decode(self.encode(x))

    # -- gnf model files --

    def load_gnf_tensors(self, tensors):
        """Copies a gnf model's parameters (grid.<l>, rbf.*) into this field."""
        with torch.no_grad():
            self.table.copy_(torch.from_numpy(np.concatenate(
                [tensors["grid.%d" % l].reshape(-1, self.C) for l in range(self.levels)]).T))
            self.centers.copy_(torch.from_numpy(tensors["rbf.centers"]))
            self.log_precision.copy_(torch.from_numpy(tensors["rbf.log_precision"]))
            self.W.copy_(torch.from_numpy(tensors["rbf.W"]))
            self.w0.copy_(torch.from_numpy(tensors["rbf.w0"]))

    def gnf_tensors(self, template):
        """This field's parameters as gnf model tensors, shaped like the template's."""
        t = self.table.detach().numpy().T                                    # [N, C]
        out, off = {}, 0
        for l, n in enumerate(self.nodes):
            out["grid.%d" % l] = t[off:off + n].reshape(template["grid.%d" % l].shape)
            off += n
        for name, p in (("rbf.centers", self.centers), ("rbf.log_precision", self.log_precision),
                        ("rbf.W", self.W), ("rbf.w0", self.w0)):
            out[name] = p.detach().numpy().reshape(template[name].shape)
        return out


# ---- optimiser and schedule ----------------------------------------------------------------

class GnfAdam:
    """Adam as src/optim/adam.c computes it: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    p -= lr sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps); every parameter, every step (dense)."""

    def __init__(self, params, b1, b2, eps):
        """Zero moments for each parameter tensor."""
        self.params = list(params)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0

    @torch.no_grad()
    def step(self, lr):
        """One update with learning rate lr from the parameters' .grad."""
        self.t += 1
        step = lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.mul_(self.b1).add_(g, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            p.addcdiv_(m, v.sqrt().add_(self.eps), value=-step)


def lr_at(step, planned, seconds, lr0, lr1, knee):
    """gnf's learning rate at a step (src/tasks/train.c): exponential lr0 -> lr1 over the
    (planned) steps, or over the first `knee` steps and then lr1 -> lr1/10 over the rest when
    more than `knee` steps are planned; lr0 while a time budget is still being calibrated."""
    def sched(a, b, p):
        return a * (b / a) ** min(1.0, max(0.0, p))
    kneed = knee > 0 and planned > knee
    if kneed and step >= knee:
        return sched(lr1, lr1 / 10, (step - knee) / (planned - knee))
    if kneed:
        return sched(lr0, lr1, step / knee)
    if planned > 0:
        return sched(lr0, lr1, step / planned)
    return lr0 if seconds > 0 else sched(lr0, lr1, step / 2000)


# ---- tasks ---------------------------------------------------------------------------------

class ImageData:
    """The image as gnf trains on it: pixel centres in [-1, 1]^2 (x = column, y = row) and
    their colours in [0, 1]; random pixels with replacement (gnf's draws)."""

    def __init__(self, path):
        """Loads a PNG or JPEG with PIL as gnf does: gray stays one channel, alpha is dropped,
        values / 255 (16-bit gray / 65535; PIL reads 16-bit colour PNGs as 8-bit)."""
        from PIL import Image
        im = Image.open(path)
        if im.mode.startswith("I"):
            a = np.asarray(im).astype(np.float32) / 65535.0
        elif im.mode in ("L", "LA"):
            a = np.asarray(im.convert("L")).astype(np.float32) / 255.0
        else:
            a = np.asarray(im.convert("RGB")).astype(np.float32) / 255.0
        if a.ndim == 2:
            a = a[:, :, None]
        self.h, self.w, self.c = a.shape
        self.rgb = torch.from_numpy(a.reshape(-1, self.c).copy())
        j = (2.0 * (torch.arange(self.w, dtype=torch.float32) + 0.5)) / self.w - 1.0
        i = (2.0 * (torch.arange(self.h, dtype=torch.float32) + 0.5)) / self.h - 1.0
        self.xy = torch.stack((j[None, :].expand(self.h, -1), i[:, None].expand(-1, self.w)), -1).reshape(-1, 2)

    def batch(self, n, step, seed):
        """The n pixels gnf draws at this step: coordinates [n, 2], targets [n, C], no weights."""
        k = gnf_batch_indices(seed, step, n, self.xy.shape[0])
        return self.xy.index_select(0, k), self.rgb.index_select(0, k), None

    @torch.no_grad()
    def psnr(self, field):
        """PSNR (dB) of the whole image: predictions clamped to [0, 1], MSE over all pixels and
        channels (gnf_psnr)."""
        y = torch.cat([field(self.xy[i:i + 65536]) for i in range(0, self.xy.shape[0], 65536)])
        mse = ((y.clamp(0, 1) - self.rgb).double() ** 2).mean().item()
        return -10 * math.log10(mse) if mse > 0 else float("inf")


class SdfData:
    """gnf's ground-truth pool (gnf_sdf_pool): points in the normalised frame and their signed
    distances; random pool entries with replacement (gnf's draws), loss weights 1 / (|d| + 0.1)."""

    def __init__(self, path):
        """Loads the pool file."""
        t, self.meta = read_safetensors(path)
        self.pts = torch.from_numpy(t["points"].copy())
        self.sdf = torch.from_numpy(t["sdf"].copy())[:, None]

    def batch(self, n, step, seed):
        """The n pool points gnf draws at this step: coordinates [n, 3], distances [n, 1],
        weights [n, 1]."""
        k = gnf_batch_indices(seed, step, n, self.pts.shape[0])
        d = self.sdf.index_select(0, k)
        return self.pts.index_select(0, k), d, 1.0 / (d.abs() + REL_L2_EPS)


def loss_of(y, t, w):
    """gnf's loss: the mean over points and outputs of (y - t)^2, times the point's weight for
    the SDF's relative L2."""
    e = (y - t) ** 2
    return (e * w).mean() if w is not None else e.mean()


# ---- training ------------------------------------------------------------------------------

def train(field, data, task, meta, seconds, steps, targets, eval_every, seed):
    """Trains `field` on `data` with gnf's recipe for the task until `steps` steps or `seconds`
    of training time (checks excluded).  A time budget becomes a step count as in gnf: planned
    from the time of steps 8..32, re-planned a quarter of the way.  Returns a result dict."""
    rec = RECIPES[task]
    batch = int(meta["gnf.train.batch"])
    lr0, lr1 = float(meta["gnf.train.lr0"]), float(meta["gnf.train.lr1"])
    opt = GnfAdam(field.parameters(), rec["adam_b1"], rec["adam_b2"], rec["adam_eps"])
    planned, cal0, cal1, cal2, tcal = steps, 8, 32, -1, 0.0
    reached, curve = {}, []
    train_s, step = 0.0, 0
    while True:
        if steps == 0 and seconds > 0:
            if step == cal0:
                tcal = train_s
            if step in (cal1, cal2):
                per = (train_s - tcal) / (step - cal0)
                planned = step + 1 + int(0.98 * (seconds - train_s) / per)
                if step == cal1:
                    cal2 = step + (planned - step) // 4 if step + (planned - step) // 4 > cal1 + 24 else -1
        if (planned > 0 and step >= planned) or (seconds > 0 and train_s >= seconds):
            break
        t0 = time.perf_counter()
        lr = lr_at(step, planned, seconds, lr0, lr1, rec["lr_knee_steps"])
        x, t, w = data.batch(batch, step, seed)
        for p in field.parameters():
            p.grad = None
        loss = loss_of(field(x), t, w)
        loss.backward()
        opt.step(lr)
        train_s += time.perf_counter() - t0
        step += 1
        if task == "image" and eval_every > 0 and step % eval_every == 0:
            q = data.psnr(field)
            curve.append((step, round(train_s, 3), round(q, 3)))
            for tg in targets:
                if q >= tg and tg not in reached:
                    reached[tg] = (step, train_s)
    r = {"impl": "torch", "task": task, "steps": step, "train_seconds": round(train_s, 3),
         "points_per_s": round(step * batch / train_s, 1) if train_s > 0 else 0.0,
         "batch": batch, "loss": round(loss.item(), 8)}
    if task == "image":
        r["psnr"] = round(data.psnr(field), 4)
        r["targets"] = {("%g" % tg): ({"step": reached[tg][0], "seconds": round(reached[tg][1], 3)}
                                     if tg in reached else None) for tg in targets}
        r["curve"] = curve
    return r


def blas_in_use():
    """The BLAS library torch's matrix products run on (from this process's mapped files):
    Debian's torch calls whatever libblas.so.3 the system provides."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    try:
        paths = {l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() or "mkl" in l.lower()}
    except OSError:
        return "unknown"
    real = sorted({os.path.realpath(p) for p in paths if p.startswith("/") and "lapack" not in p})
    return ", ".join(real) or "none found"


def main():
    """Command line: fit or check (see the module docstring)."""
    ap = argparse.ArgumentParser(description="gnf's model in PyTorch (bench/README.md)")
    ap.add_argument("mode", choices=("fit", "check"))
    ap.add_argument("model", help="fit: a gnf template model (architecture); check: a trained gnf model")
    ap.add_argument("data", help="image file, or SDF pool written by gnf_sdf_pool")
    ap.add_argument("--seconds", type=float, default=0.0, help="training-time budget (checks excluded)")
    ap.add_argument("--steps", type=int, default=0, help="training steps (the schedule spans them)")
    ap.add_argument("-o", "--output", help="write the trained field as a gnf model file")
    ap.add_argument("--targets", default="", help="images: PSNR targets in dB, e.g. 35,40")
    ap.add_argument("--eval-every", type=int, default=0, help="images: full-image PSNR every N steps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--encoder", choices=("gather", "grid_sample"), default="gather",
                    help="grid lookup: gather (GridInterp, any grid) or torch's grid_sample (dense 2D grids; "
                         "slower here: 0.57 against 0.68-0.80 M points/s on the image)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tensors, meta = read_safetensors(a.model)
    task = meta.get("gnf.task")
    if task not in RECIPES:
        raise SystemExit("torch_gnf: task %r is not implemented (image and sdf are)" % task)
    field = GNFField(meta, a.seed, a.encoder)
    data = ImageData(a.data) if task == "image" else SdfData(a.data)
    if a.mode == "check":
        field.load_gnf_tensors(tensors)
        if task == "image":
            print(json.dumps({"impl": "torch", "psnr": round(data.psnr(field), 4)}))
        else:
            if not a.output:
                raise SystemExit("torch_gnf: check of an SDF model needs -o POINTS.f32")
            n = 65536
            with torch.no_grad():
                y = field(data.pts[:n])[:, 0].numpy()
            c = np.array([float(v) for v in meta["gnf.sdf.center"].split(",")], np.float32)
            s = np.float32(meta["gnf.sdf.scale"])
            (data.pts[:n].numpy() / s + c).astype("<f4").tofile(a.output)      # mesh coordinates
            (y / s).astype("<f4").tofile(a.output + ".torch")                 # distances, mesh units
            print(json.dumps({"impl": "torch", "points": n, "points_file": a.output, "values_file": a.output + ".torch"}))
        return
    if a.seconds <= 0 and a.steps <= 0:
        raise SystemExit("torch_gnf: give --seconds or --steps")
    blas = blas_in_use()
    if "/blas/" in blas:
        print("torch_gnf: warning: torch's matrix products run on the reference BLAS (%s); install "
              "libopenblas0-openmp for a fair comparison" % blas, file=sys.stderr)
    targets = [float(v) for v in a.targets.split(",") if v]
    r = train(field, data, task, meta, a.seconds, a.steps, targets, a.eval_every, a.seed)
    r.update(params=sum(p.numel() for p in field.parameters()), threads=torch.get_num_threads(),
             torch=torch.__version__, blas=blas, encoder=field.encoder)
    if a.output:
        out_meta = dict(meta)
        out_meta.update({"gnf.train.steps": str(r["steps"]), "gnf.train.stop": "steps" if a.steps else "seconds",
                         "gnf.train.trainer": "bench/torch_gnf.py, PyTorch %s" % torch.__version__})
        for k in ("gnf.train.psnr", "gnf.train.iou", "gnf.train.schedule"):
            out_meta.pop(k, None)
        write_safetensors(a.output, field.gnf_tensors(tensors), out_meta)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
