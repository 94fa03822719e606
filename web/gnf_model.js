// gnf_model.js — reads a gnf model file (safetensors, docs/FORMAT.md) into plain typed arrays,
// with the checks of the C loader (src/io/safetensors.c, src/io/model_file.c): header length
// against the file size, strict JSON without duplicate keys, known dtypes (F32, F16), shapes
// whose product matches the byte range, ranges inside the data section without overlaps or gaps,
// only finite values, every architecture key present and in range, every tensor present with
// exactly the shape the architecture implies, and no extra tensors.  Every error is an Error whose
// message starts with the file's name.

const HEADER_LIMIT = 1 << 20;
const FORMAT_VERSION = 1;
const MAX_LEVELS = 24;
const MAX_MLP_LAYERS = 8;

// Strict JSON parse of text that refuses duplicate keys (JSON.parse keeps the last one silently).
// Returns the value; throws Error(why) on anything malformed.
function parseJsonStrict(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = (why) => { throw new Error(`${why} at byte ${i} of the header`); };
  function str() {
    const start = i;
    if (text[i] !== '"') fail('expected a string');
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail('control character in a string');
      i += text[i] === '\\' ? 2 : 1;
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i));
  }
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = Object.create(null), keys = [];
      ws();
      if (text[i] === '}') { i++; return { obj, keys }; }
      for (;;) {
        ws();
        const k = str();
        if (Object.prototype.hasOwnProperty.call(obj, k)) fail(`duplicate key '${k}'`);
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        obj[k] = value();
        keys.push(k);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return { obj, keys }; }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 64));
    if (m) { i += m[0].length; return Number(m[0]); }
    for (const [w, v] of [['true', true], ['false', false], ['null', null]])
      if (text.startsWith(w, i)) { i += w.length; return v; }
    fail('unexpected character');
  }
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

// f16 bits -> number (exact).
function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

// Parses a safetensors file.  buf: ArrayBuffer; name: used in messages.  Returns
// {tensors: Map name -> {dtype, shape, data: Float32Array}, meta: Map key -> string}.
export function readSafetensors(buf, name) {
  const size = buf.byteLength;
  const err = (why) => new Error(`${name}: ${why}`);
  if (size < 8) throw err(`not a gnf model file: too short (${size} bytes)`);
  const dv = new DataView(buf);
  const hl = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  if (hl > size) throw err(`not a safetensors/gnf model file: header length ${hl} exceeds file size ${size}`);
  if (8 + hl > size) throw err(`truncated: header length ${hl} needs ${8 + hl} bytes but the file has ${size}`);
  if (hl === 0) throw err('header length is 0');
  if (hl > HEADER_LIMIT) throw err(`header length ${hl} exceeds the 1 MiB limit`);
  let text;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(buf, 8, hl)); }
  catch (e) { throw err('the header is not valid UTF-8'); }
  let root;
  try { root = parseJsonStrict(text.replace(/ +$/, '')); }
  catch (e) { throw err(`the header is not valid JSON: ${e.message}`); }
  if (!root || !root.obj) throw err('the header is not a JSON object');
  const dataStart = 8 + hl, dataLen = size - dataStart;
  const meta = new Map(), entries = [];
  for (const key of root.keys) {
    const v = root.obj[key];
    if (key === '__metadata__') {
      if (!v || !v.obj) throw err('__metadata__ is not a JSON object');
      for (const mk of v.keys) {
        if (typeof v.obj[mk] !== 'string') throw err(`__metadata__ value for key '${mk}' is not a string`);
        meta.set(mk, v.obj[mk]);
      }
      continue;
    }
    if (!v || !v.obj) throw err(`tensor '${key}': entry is not a JSON object`);
    for (const f of v.keys)
      if (!['dtype', 'shape', 'data_offsets'].includes(f)) throw err(`tensor '${key}': unknown field '${f}'`);
    for (const f of ['dtype', 'shape', 'data_offsets'])
      if (!(f in v.obj)) throw err(`tensor '${key}': missing field '${f}'`);
    const { dtype, shape, data_offsets: off } = v.obj;
    if (typeof dtype !== 'string') throw err(`tensor '${key}': dtype is not a string`);
    if (dtype !== 'F32' && dtype !== 'F16') throw err(`tensor '${key}' has dtype '${dtype}'; gnf reads only F32 and F16`);
    if (!Array.isArray(shape)) throw err(`tensor '${key}': shape is not an array`);
    if (shape.length > 8) throw err(`tensor '${key}': shape has more than 8 dimensions`);
    let numel = 1;
    shape.forEach((s, d) => {
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) throw err(`tensor '${key}': shape[${d}] is not a non-negative integer`);
      numel *= s;
    });
    if (numel > 2 ** 40) throw err(`tensor '${key}': shape product overflows`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => typeof o === 'number' && Number.isInteger(o) && o >= 0))
      throw err(`tensor '${key}': data_offsets is not an array of two integers`);
    if (off[0] > off[1]) throw err(`tensor '${key}': data_offsets begin ${off[0]} > end ${off[1]}`);
    if (off[1] > dataLen) throw err(`tensor '${key}': data_offsets end ${off[1]} is past the data section (${dataLen} bytes)`);
    const esz = dtype === 'F32' ? 4 : 2;
    if (off[1] - off[0] !== numel * esz) throw err(`tensor '${key}': data_offsets span ${off[1] - off[0]} bytes but shape needs ${numel * esz}`);
    entries.push({ name: key, dtype, shape, begin: off[0], end: off[1], numel });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (let k = 0; k < sorted.length; k++) {
    const t = sorted[k];
    if (t.begin < at) throw err(`tensors '${sorted[k - 1].name}' and '${t.name}' overlap in the data section`);
    if (t.begin > at) throw err(`${t.begin - at} unused bytes in the data section before tensor '${t.name}' (offset ${t.begin})`);
    at = t.end;
  }
  if (at !== dataLen) throw err(`${dataLen - at} trailing bytes in the data section after the last tensor`);
  const tensors = new Map();
  for (const t of entries) {
    const data = new Float32Array(t.numel), base = dataStart + t.begin;
    if (t.dtype === 'F32') for (let j = 0; j < t.numel; j++) data[j] = dv.getFloat32(base + 4 * j, true);
    else for (let j = 0; j < t.numel; j++) data[j] = halfToFloat(dv.getUint16(base + 2 * j, true));
    for (let j = 0; j < t.numel; j++)
      if (!Number.isFinite(data[j])) throw err(`tensor '${t.name}' element ${j} is ${Number.isNaN(data[j]) ? 'NaN' : 'infinite'}`);
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data });
  }
  return { tensors, meta };
}

// A whole decimal integer in [lo, hi], or throws naming the key.
function metaInt(meta, name, key, lo, hi) {
  const v = meta.get(key);
  if (v === undefined) throw new Error(`${name}: metadata key "${key}" is missing`);
  if (!/^[+-]?[0-9]+$/.test(v) || Number(v) < lo || Number(v) > hi)
    throw new Error(`${name}: metadata "${key}" = "${v}" is not an integer in ${lo}..${hi}`);
  return Number(v);
}

function metaList(meta, name, key, n, lo, hi) {
  const v = meta.get(key);
  if (v === undefined) throw new Error(`${name}: metadata key "${key}" is missing`);
  const parts = v.split(',');
  if (parts.length !== n || !parts.every((p) => /^[+-]?[0-9]+$/.test(p) && Number(p) >= lo && Number(p) <= hi))
    throw new Error(`${name}: metadata "${key}" = "${v}" is not ${n} integers in ${lo}..${hi}`);
  return parts.map(Number);
}

// Parses gnf.nerf.occupancy ("G:" + base64 of zlib-compressed bits, x fastest) into a
// Uint8Array of G^3 flags.  Async: inflates with the browser's DecompressionStream.
async function readOccupancy(text, name) {
  const bad = (why) => new Error(`${name}: gnf.nerf.occupancy: ${why}`);
  const m = /^([0-9]+):([A-Za-z0-9+/=]*)$/.exec(text);
  if (!m || Number(m[1]) < 2 || Number(m[1]) > 1024) throw bad('bad resolution');
  const G = Number(m[1]), b64 = m[2];
  if (b64.length % 4) throw bad('bad base64 length');
  let z;
  try { z = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); } catch (e) { throw bad('bad base64'); }
  const N = G * G * G, nb = (N + 7) >> 3;
  let bits;
  try {
    const stream = new Blob([z]).stream().pipeThrough(new DecompressionStream('deflate'));
    bits = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) { throw bad('corrupt data'); }
  if (bits.length !== nb) throw bad('corrupt data');
  const occ = new Uint8Array(N);
  for (let i = 0; i < N; i++) occ[i] = (bits[i >> 3] >> (i & 7)) & 1;
  return { G, occ };
}

function metaFloat(meta, key, dflt) {
  const v = Number.parseFloat(meta.get(key));
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

// Reads a model from an ArrayBuffer.  Returns {name, task ('image'|'sdf'|'nerf'), cfg, levels:
// [{res, feat, dense, nodes, data}], D, K, O, basis, centers, logPrecision, W, w0 (Float32Arrays,
// row-major as in the file), meta (Map)} and for radiance fields nerf = {box, step, distScale,
// G, occ, camera}.  Throws Error("<name>: ...") on anything the C loader refuses, and on the MLP
// decoder (not drawn by this viewer).
export async function loadModel(buf, name) {
  const { tensors, meta } = readSafetensors(buf, name);
  const fmt = meta.get('format');
  if (fmt !== 'gnf')
    throw new Error(`${name}: a safetensors file but not a gnf model (metadata "format" is ${fmt === undefined ? 'missing' : `"${fmt}"`})`);
  if (meta.has('gnf.ckpt.version'))
    throw new Error(`${name}: a training checkpoint, not a model (training resumes from it; the model is written when training ends)`);
  const ver = metaInt(meta, name, 'gnf.version', 1, 2 ** 31 - 1);
  if (ver > FORMAT_VERSION) throw new Error(`${name}: model format version ${ver} is newer than this viewer reads (${FORMAT_VERSION})`);
  const task = meta.get('gnf.task');
  if (!['image', 'sdf', 'nerf'].includes(task)) throw new Error(`${name}: task "${task ?? '(missing)'}" is not supported by this viewer`);
  const inDim = metaInt(meta, name, 'gnf.in_dim', 2, 3);
  const enc = meta.get('gnf.encoding');
  if (enc !== `dense${inDim}d` && enc !== `hash${inDim}d`)
    throw new Error(`${name}: encoding "${enc ?? '(missing)'}" is not supported for ${inDim}D fields`);
  const hashLog2 = metaInt(meta, name, 'gnf.hash_log2', 4, 26);
  const O = metaInt(meta, name, 'gnf.out_dim', 1, 64);
  const L = metaInt(meta, name, 'gnf.levels', 1, MAX_LEVELS);
  const res = metaList(meta, name, 'gnf.res', L, 2, 16384);
  const feat = metaList(meta, name, 'gnf.feat', L, 1, 64);
  const dec = meta.get('gnf.decoder');
  if (dec !== 'rbf' && dec !== 'mlp') throw new Error(`${name}: decoder "${dec ?? '(missing)'}" unknown`);
  const basis = meta.get('gnf.basis') ?? 'gaussian';
  if (!['gaussian', 'imq', 'mq'].includes(basis)) throw new Error(`${name}: radial basis "${basis}" unknown`);
  const K = metaInt(meta, name, 'gnf.rbf_k', 1, 4096);
  metaInt(meta, name, 'gnf.mlp_hidden', 1, 512);
  metaInt(meta, name, 'gnf.mlp_layers', 1, MAX_MLP_LAYERS - 1);
  if (dec === 'mlp') throw new Error(`${name}: the MLP decoder is not drawn by this viewer (only the GNF decoder, "rbf")`);
  const hash = enc.startsWith('hash');
  const levels = [];
  let D = 0;
  for (let l = 0; l < L; l++) {
    let nodes = res[l] ** inDim, dense = true;
    if (hash && nodes > 2 ** hashLog2) { nodes = 2 ** hashLog2; dense = false; }
    if (nodes * feat[l] > 2 ** 28) throw new Error(`${name}: architecture in metadata is invalid: level ${l} has ${nodes * feat[l]} features, more than 2^28`);
    levels.push({ res: res[l], feat: feat[l], dense, nodes, featOff: D });
    D += feat[l];
  }
  if (D > 1024) throw new Error(`${name}: architecture in metadata is invalid: encoding width ${D} exceeds 1024`);
  const want = [];
  levels.forEach((lv, l) => {
    const R = lv.res, C = lv.feat;
    want.push([`grid.${l}`, !lv.dense ? [lv.nodes, C] : inDim === 3 ? [R, R, R, C] : [R, R, C]]);
  });
  want.push(['rbf.centers', [D, K]], ['rbf.log_precision', [D, K]], ['rbf.W', [O, K]], ['rbf.w0', [O]]);
  for (const [tn, shape] of want) {
    const t = tensors.get(tn);
    if (!t) throw new Error(`${name}: tensor "${tn}" is missing`);
    if (t.shape.length !== shape.length || t.shape.some((s, d) => s !== shape[d]))
      throw new Error(`${name}: tensor "${tn}" has shape [${t.shape}], expected [${shape}]`);
  }
  if (tensors.size !== want.length) throw new Error(`${name}: ${tensors.size} tensors in the file, the architecture has ${want.length}`);
  if (task === 'image' && inDim !== 2) throw new Error(`${name}: an image model must have 2 inputs`);
  if (task === 'sdf' && (inDim !== 3 || O !== 1)) throw new Error(`${name}: an SDF model must have 3 inputs and 1 output`);
  if (task === 'nerf' && (inDim !== 3 || O !== 49)) throw new Error(`${name}: a radiance-field model must have 3 inputs and 49 outputs`);
  levels.forEach((lv, l) => { lv.data = tensors.get(`grid.${l}`).data; });
  const model = {
    name, task, inDim, O, D, K, basis, levels, meta,
    dtype: tensors.get('rbf.W').dtype,
    centers: tensors.get('rbf.centers').data,
    logPrecision: tensors.get('rbf.log_precision').data,
    W: tensors.get('rbf.W').data,
    w0: tensors.get('rbf.w0').data,
  };
  if (task === 'image') {
    const w = Number(meta.get('gnf.image.width')), h = Number(meta.get('gnf.image.height'));
    model.image = (w >= 1 && h >= 1 && w <= 65536 && h <= 65536) ? { w, h } : { w: 512, h: 512 };
  }
  if (task === 'sdf') {
    const c = (meta.get('gnf.sdf.center') ?? '0,0,0').split(',').map(Number);
    const s = Number(meta.get('gnf.sdf.scale') ?? '1');
    model.sdf = { center: c.length === 3 && c.every(Number.isFinite) ? c : [0, 0, 0], scale: Number.isFinite(s) && s > 0 ? s : 1 };
  }
  if (task === 'nerf') {
    const box = metaFloat(meta, 'gnf.nerf.box', 1.5);
    const occText = meta.get('gnf.nerf.occupancy');
    if (occText === undefined) throw new Error(`${name}: the model has no occupancy grid (gnf.nerf.occupancy)`);
    const { G, occ } = await readOccupancy(occText, name);
    const cam = (meta.get('gnf.nerf.camera') ?? '').split(',').map(Number);
    if (!(cam.length === 7 && cam[0] >= 1 && cam[0] <= 32768 && cam[1] >= 1 && cam[1] <= 32768 && cam[2] > 0 && cam[3] > 0 && cam[6] > 0))
      throw new Error(`${name}: the model has no valid training camera (gnf.nerf.camera)`);
    model.nerf = {
      box, step: metaFloat(meta, 'gnf.nerf.step', (2 * box * 1.7320508) / 1024),
      distScale: metaFloat(meta, 'gnf.nerf.dist_scale', 25), G, occ,
      camera: { w: Math.trunc(cam[0]), h: Math.trunc(cam[1]), fx: cam[2], fy: cam[3], cx: cam[4], cy: cam[5], radius: cam[6] },
    };
  }
  return model;
}
