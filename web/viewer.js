// viewer.js — the page: finds the model (embedded by `gnf export-web`, served by `gnf view` as
// model.gnf, or dropped on the page), draws it with the task's renderer, and handles the
// controls: mouse and touch orbit / pan / zoom, the camera in the URL's hash, a lower
// resolution while the camera moves, a screenshot button and an fps readout.
// window.gnfViewer exposes the state for the browser tests (tests/browser/).

import { loadModel } from 'gnf/gnf_model.js';
import { GpuField, queryPoints, floatTarget } from 'gnf/gnf_gl.js';
import { Renderer, defaultView } from 'gnf/renderers.js';

const canvas = document.getElementById('view');
const msg = document.getElementById('message');
const fpsEl = document.getElementById('fps');
const MOVING_SCALE = 0.25;   // resolution while the camera moves
const REST_MS = 200;         // full resolution this long after the last movement

// restMs: REST_MS; the tests lengthen it so that a slow machine's late frame still counts as moving
const state = { model: null, field: null, renderer: null, view: null, moving: 0, restMs: REST_MS, dirty: true, frameMs: [], error: null };
window.gnfViewer = { state, loadBuffer, queryPoints: (pts) => queryPoints(state.field, pts), renderToFloat, floatTarget };

function showMessage(text, isError) {
  msg.textContent = text;
  msg.className = isError ? 'error' : '';
  msg.style.display = text ? 'block' : 'none';
  if (isError) state.error = text;
}

const gl = canvas.getContext('webgl2', { antialias: false, preserveDrawingBuffer: true });
if (!gl) {
  showMessage('This browser does not offer WebGL2, which the gnf viewer needs to run the field on the GPU.\n' +
              'Try a current Chrome, Edge, Firefox or Safari, with hardware acceleration enabled.', true);
}

// Loads a model from an ArrayBuffer and shows it; errors are shown on the page (and thrown).
async function loadBuffer(buf, name) {
  if (!gl) throw new Error(state.error);
  try {
    const model = await loadModel(buf, name);
    if (state.renderer) { state.renderer.dispose(); state.field.dispose(); }   // the previous model's GPU objects
    Object.assign(state, { model: null, field: null, renderer: null });
    const field = new GpuField(gl, model);
    let renderer;
    try { renderer = new Renderer(field); } catch (e) { field.dispose(); throw e; }
    Object.assign(state, { model, field, renderer, error: null });
    state.view = viewFromHash(defaultView(model));
    document.body.className = `task-${model.task}`;
    document.getElementById('title').textContent = `${name} — ${model.task}, ${model.levels.length} levels, K ${model.K}, ${model.dtype}`;
    syncControls();
    showMessage('', false);
    state.dirty = true;
    return model;
  } catch (e) {
    if (state.renderer) { state.renderer.dispose(); state.field.dispose(); }
    Object.assign(state, { model: null, field: null, renderer: null });
    document.getElementById('title').textContent = 'gnf viewer';
    showMessage(`Cannot show ${name}:\n${e.message}`, true);
    throw e;
  }
}

// ---- the camera in the URL hash: #az=..&el=..&dist=..&t=x,y,z | #cx=..&cy=..&zoom=.. ----------

const HASH_KEYS = { az: 1, el: 1, dist: 1, cx: 1, cy: 1, zoom: 1, mode: 1, fov: 1 };
function viewFromHash(view) {
  const h = new URLSearchParams(location.hash.slice(1));
  for (const [k, v] of h) {
    const x = Number(v);
    if (HASH_KEYS[k] && k in view && Number.isFinite(x)) view[k] = x;
    if (k === 't' && view.target) {
      const t = v.split(',').map(Number);
      if (t.length === 3 && t.every(Number.isFinite)) view.target = t;
    }
  }
  return view;
}
function writeHash() {
  const v = state.view, p = [];
  for (const k of Object.keys(HASH_KEYS)) if (k in v) p.push(`${k}=${+v[k].toFixed(4)}`);
  if (v.target) p.push(`t=${v.target.map((x) => +x.toFixed(4)).join(',')}`);
  history.replaceState(null, '', `#${p.join('&')}`);
}

// ---- drawing -------------------------------------------------------------------------------

let lowFb = null;
function lowTarget(w, h) {
  if (lowFb && lowFb.w === w && lowFb.h === h) return lowFb;
  if (lowFb) { gl.deleteFramebuffer(lowFb.fb); gl.deleteTexture(lowFb.tex); }
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
  const fb = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  lowFb = { tex, fb, w, h };
  return lowFb;
}

function resize() {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; state.dirty = true; }
}

const syncPixel = new Uint8Array(4);
function frame() {
  requestAnimationFrame(frame);
  if (!state.renderer) return;
  resize();
  const moving = performance.now() - state.moving < state.restMs;
  if (!state.dirty && !state.lowShown) return;
  if (!state.dirty && state.lowShown && moving) return;
  const t0 = performance.now();
  const W = canvas.width, H = canvas.height;
  if (moving) {   // a quarter of the pixels' side, scaled up for display
    const w = Math.max(1, Math.round(W * MOVING_SCALE)), h = Math.max(1, Math.round(H * MOVING_SCALE)), t = lowTarget(w, h);
    gl.bindFramebuffer(gl.FRAMEBUFFER, t.fb);
    state.renderer.render(state.view, w, h);
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, t.fb);
    gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, null);
    gl.blitFramebuffer(0, 0, w, h, 0, 0, W, H, gl.COLOR_BUFFER_BIT, gl.LINEAR);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    state.lowShown = true;
  } else {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    state.renderer.render(state.view, W, H);
    state.lowShown = false;
  }
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, syncPixel);   // waits for the frame
  const ms = performance.now() - t0;
  if (state.frameKind !== moving) state.frameMs = [];   // the readout averages frames of one resolution
  state.frameKind = moving;
  state.frameMs.push(ms);
  if (state.frameMs.length > 10) state.frameMs.shift();
  const avg = state.frameMs.reduce((a, b) => a + b, 0) / state.frameMs.length;
  fpsEl.textContent = `${(1000 / avg).toFixed(1)} fps, ${avg.toFixed(1)} ms${moving ? ' (¼ res)' : ''}`;
  state.dirty = false;
  state.lastSize = `${W}x${H}`;
}
requestAnimationFrame(frame);

function changed() {
  state.moving = performance.now();
  state.dirty = true;
  writeHash();
}

// Renders the current view at w x h into an RGBA32F target and returns its pixels (rows from
// the top, 4 floats each) — for the tests and the bench; stats: per-pixel work instead.
function renderToFloat(w, h, stats = false, view = state.view) {
  const t = floatTarget(gl, w, h);
  gl.bindFramebuffer(gl.FRAMEBUFFER, t.fb);
  state.renderer.render(view, w, h, stats);
  const px = new Float32Array(w * h * 4);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.FLOAT, px);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  gl.deleteFramebuffer(t.fb);
  gl.deleteTexture(t.tex);
  const out = new Float32Array(w * h * 4);
  for (let i = 0; i < h; i++) out.set(px.subarray((h - 1 - i) * w * 4, (h - i) * w * 4), i * w * 4);
  return out;
}

// ---- controls ------------------------------------------------------------------------------

const pointers = new Map();
let pinch = 0;
canvas.addEventListener('pointerdown', (e) => {
  try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* a pointer the browser does not track */ }
  pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, button: e.button, shift: e.shiftKey });
  if (pointers.size === 2) { const [a, b] = [...pointers.values()]; pinch = Math.hypot(a.x - b.x, a.y - b.y); }
});
canvas.addEventListener('pointerup', (e) => pointers.delete(e.pointerId));
canvas.addEventListener('pointercancel', (e) => pointers.delete(e.pointerId));
canvas.addEventListener('contextmenu', (e) => e.preventDefault());
canvas.addEventListener('pointermove', (e) => {
  const p = pointers.get(e.pointerId);
  if (!p || !state.view) return;
  const dx = e.clientX - p.x, dy = e.clientY - p.y;
  p.x = e.clientX; p.y = e.clientY;
  if (pointers.size === 2) {        // two fingers: pinch zooms, moving pans
    const [a, b] = [...pointers.values()], d = Math.hypot(a.x - b.x, a.y - b.y);
    if (pinch > 0) zoom(pinch / d);
    pinch = d;
    pan(dx / 2, dy / 2);
  } else if (p.button === 2 || p.shift || state.model.task === 'image') pan(dx, dy);
  else orbit(dx, dy);
  changed();
});
canvas.addEventListener('wheel', (e) => {
  e.preventDefault();
  if (!state.view) return;
  zoom(Math.exp(e.deltaY * 0.001));
  changed();
}, { passive: false });

function orbit(dx, dy) {
  const v = state.view;
  v.az += (state.model.task === 'nerf' ? -dx : dx) * 0.3;
  v.el = Math.max(-89, Math.min(89, v.el + dy * 0.3));
}
function pan(dx, dy) {
  const v = state.view, m = state.model, H = canvas.clientHeight || 1;
  if (m.task === 'image') {
    const fit = Math.min(canvas.clientWidth / m.image.w, H / m.image.h) * v.zoom;
    v.cx -= (dx * 2) / (m.image.w * fit);
    v.cy -= (dy * 2) / (m.image.h * fit);
    return;
  }
  // move the target in the camera's plane, by the distance a pixel spans at the target
  const a = (v.az * Math.PI) / 180, e = (v.el * Math.PI) / 180, s = (v.dist * 0.8) / H;
  const zUp = m.task === 'nerf';
  const fwd = zUp ? [-Math.cos(e) * Math.cos(a), -Math.cos(e) * Math.sin(a), -Math.sin(e)]
                  : [-Math.cos(e) * Math.cos(a), -Math.sin(e), -Math.cos(e) * Math.sin(a)];
  const up0 = zUp ? [0, 0, 1] : [0, 1, 0];
  let r = [fwd[1] * up0[2] - fwd[2] * up0[1], fwd[2] * up0[0] - fwd[0] * up0[2], fwd[0] * up0[1] - fwd[1] * up0[0]];
  const rl = Math.hypot(...r) || 1;
  r = r.map((x) => x / rl);
  const u = [r[1] * fwd[2] - r[2] * fwd[1], r[2] * fwd[0] - r[0] * fwd[2], r[0] * fwd[1] - r[1] * fwd[0]];
  v.target = v.target.map((t, k) => t - dx * s * r[k] + dy * s * u[k]);
}
function zoom(f) {
  const v = state.view;
  if (state.model.task === 'image') v.zoom = Math.max(0.05, Math.min(1e4, v.zoom / f));
  else v.dist = Math.max(0.05, Math.min(100, v.dist * f));
}

function syncControls() {
  const v = state.view;
  if (state.model.task === 'nerf') document.getElementById('mode').value = String(v.mode);
  if (state.model.task === 'sdf') {
    document.getElementById('slice').checked = v.slice;
    document.getElementById('sliceAxis').value = String(v.sliceAxis);
    document.getElementById('sliceValue').value = String(v.sliceValue);
  }
}
document.getElementById('mode').addEventListener('change', (e) => { state.view.mode = Number(e.target.value); changed(); });
document.getElementById('slice').addEventListener('change', (e) => { state.view.slice = e.target.checked; changed(); });
document.getElementById('sliceAxis').addEventListener('change', (e) => { state.view.sliceAxis = Number(e.target.value); changed(); });
document.getElementById('sliceValue').addEventListener('input', (e) => { state.view.sliceValue = Number(e.target.value); changed(); });
document.getElementById('reset').addEventListener('click', () => {
  if (!state.model) return;
  history.replaceState(null, '', '#');
  state.view = defaultView(state.model);
  syncControls();
  changed();
});
document.getElementById('shot').addEventListener('click', () => {
  if (!state.renderer) return;
  state.moving = 0;
  frame();   // a full-resolution frame first
  canvas.toBlob((blob) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${(state.model.name || 'gnf').replace(/\.gnf$/, '')}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, 'image/png');
});

// ---- where the model comes from --------------------------------------------------------------

const dropEl = document.getElementById('drop');
window.addEventListener('dragover', (e) => { e.preventDefault(); dropEl.style.display = 'block'; });
window.addEventListener('dragleave', () => { dropEl.style.display = 'none'; });
window.addEventListener('drop', async (e) => {
  e.preventDefault();
  dropEl.style.display = 'none';
  const f = e.dataTransfer && e.dataTransfer.files[0];
  if (f) loadBuffer(await f.arrayBuffer(), f.name).catch(() => {});
});

async function start() {
  if (!gl) return;
  const embedded = document.getElementById('gnf-model');
  if (embedded) {
    const bin = atob(embedded.textContent.trim()), buf = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    return loadBuffer(buf.buffer, embedded.dataset.name || 'model.gnf').catch(() => {});
  }
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    const r = await fetch('model.gnf').catch(() => null);
    if (r && r.ok) {
      const cd = r.headers.get('Content-Disposition') || '', m = /filename="([^"]*)"/.exec(cd);
      return loadBuffer(await r.arrayBuffer(), m ? m[1] : 'model.gnf').catch(() => {});
    }
  }
  showMessage('Drop a gnf model file (.gnf) here.', false);
}
window.gnfViewer.ready = start();
