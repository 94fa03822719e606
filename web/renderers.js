// renderers.js — the three pictures of a field, each a full-screen fragment shader on top of the
// field's GLSL (gnf_gl.js), with the arithmetic of the C renderers so that a view here and
// `gnf render` of the same camera agree:
//   image  the continuous field at any pan and zoom (src/tasks/image.c gnf_render_image)
//   sdf    sphere tracing, shading from central differences, a slice plane with distance bands
//          (src/tasks/sdf.c gnf_sdf_render, gnf_sdf_render_slice)
//   nerf   ray marching on the step lattice, empty cells of the stored occupancy grid skipped,
//          density softplus(y0 - 10), colour from the SH head, early termination, white
//          background (src/tasks/nerf.c, the reference renderer; src/field/nerf_head.c)
// Every renderer writes linear colour in [0,1] (or, with stats on, per-pixel work: field
// evaluations and texture fetches) into whatever framebuffer is bound.

const DEG = 3.14159265 / 180;

const IMAGE_FS = `
uniform vec2 uSize;        // target size in pixels
uniform vec2 uCenter;      // field point at the target's centre
uniform vec2 uPixel;       // field units per target pixel
uniform int uStats;
out vec4 outColor;
void main() {
  vec2 q = vec2(gl_FragCoord.x, uSize.y - gl_FragCoord.y);   // row 0 at the top, as image.c
  vec2 x = uCenter + (q - 0.5 * uSize) * uPixel;
  if (uStats == 1) { outColor = vec4(1.0, float(FETCHES), 0.0, 1.0); return; }
  vec4 Y[OP];
  field(vec3(x, 0.0), Y);
  vec3 c = O == 1 ? Y[0].xxx : Y[0].xyz;
  c = clamp(c, 0.0, 1.0);
  if (abs(x.x) > 1.0 || abs(x.y) > 1.0) c = mix(vec3(0.13), c, 0.25);   // outside the picture: dimmed
  outColor = vec4(c, 1.0);
}`;

const SDF_FS = `
uniform vec2 uSize;
uniform vec3 uEye, uFwd, uRight, uUp;
uniform float uTanH;
uniform ivec2 uSlice;      // enabled, axis
uniform float uSliceValue; // plane position, normalised
uniform int uStats;
out vec4 outColor;
const float FD_H = 1e-4;
const float BAND = 0.05;
vec3 bands(float v) {      // sdf.c gnf_sdf_render_slice's colours
  float shade = 0.75 + 0.25 * cos(6.2831853 * abs(v) / BAND);
  float fade = exp(-2.0 * abs(v));
  vec3 col = v < 0.0 ? vec3(0.25, 0.45, 0.9) : vec3(0.95, 0.6, 0.25);
  return (col * fade + 0.9 * (1.0 - fade)) * shade;
}
void main() {
  vec2 q = vec2(gl_FragCoord.x, uSize.y - gl_FragCoord.y);
  float sx = (2.0 * q.x / uSize.x - 1.0) * uTanH * uSize.x / uSize.y;
  float sy = (1.0 - 2.0 * q.y / uSize.y) * uTanH;
  vec3 dir = normalize(uFwd + sx * uRight + sy * uUp);
  float t0 = 0.0, t1 = 1e30;
  for (int k = 0; k < 3; k++) {
    float inv = 1.0 / dir[k];
    float a = (-1.0 - uEye[k]) * inv, b = (1.0 - uEye[k]) * inv;
    t0 = max(t0, min(a, b));
    t1 = min(t1, max(a, b));
  }
  vec3 col = vec3(1.0);
  float evals = 0.0;
  float thit = 1e30;
  if (t0 < t1) {
    float t = t0;
    bool hit = false;
    for (int it = 0; it < 160; it++) {
      float d = field0(uEye + t * dir);
      evals += 1.0;
      if (d < 2e-4) { hit = true; break; }
      t += max(0.9 * d, 1e-4);
      if (t >= t1) break;
    }
    if (hit) {
      vec3 p = uEye + t * dir, g;
      for (int k = 0; k < 3; k++) {
        vec3 e = vec3(0.0);
        e[k] = FD_H;
        g[k] = (field0(p + e) - field0(p - e)) / (2.0 * FD_H);
      }
      evals += 6.0;
      vec3 light = 0.4 * uRight + 0.7 * uUp - uFwd;
      float gl = length(g);
      float lam = gl > 0.0 ? dot(g, light) / (gl * length(light)) : 0.0;
      float v = 0.15 + 0.8 * max(lam, 0.0);
      col = min(vec3(1.0), v * vec3(0.85, 0.88, 0.95));
      thit = t;
    }
  }
  if (uSlice.x == 1) {     // the slice plane, where it lies in the box in front of the surface
    int a = uSlice.y;
    float tp = (uSliceValue - uEye[a]) / dir[a];
    vec3 p = uEye + tp * dir;
    if (tp > 0.0 && tp < thit && all(lessThanEqual(abs(p), vec3(1.0)))) {
      float v = field0(p);
      evals += 1.0;
      col = bands(v);
      if (abs(v) < 0.004) col = vec3(0.0);
    }
  }
  outColor = uStats == 1 ? vec4(evals, evals * float(FETCHES), 0.0, 1.0) : vec4(col, 1.0);
}`;

const NERF_FS = `
uniform vec2 uSize;
uniform vec4 uIntr;        // fx, fy, cx, cy (target pixels)
uniform mat4 uC2W;         // columns: right, up, back, position
uniform float uBox, uDt, uOdt;      // box half-size, lattice step, optical step (dt * dist_scale)
uniform vec3 uLo, uHi;     // occupied cells' bounding box
uniform highp usampler3D uOcc;      // G^3 flags
uniform highp usampler3D uCoarse;   // (G/8)^3 flags of 8^3 blocks
uniform int uG, uHasCoarse;
uniform int uMode;         // 0 colour, 1 depth, 2 opacity
uniform float uDepthScale;
uniform int uStats;
out vec4 outColor;
const float SH_C0 = 0.28209479177387814, SH_C1 = 0.4886025119029199;
void sh16(vec3 d, out float Y[16]) {
  float x = d.x, y = d.y, z = d.z, xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
  Y[0] = SH_C0; Y[1] = -SH_C1 * y; Y[2] = SH_C1 * z; Y[3] = -SH_C1 * x;
  Y[4] = 1.0925484305920792 * xy; Y[5] = -1.0925484305920792 * yz;
  Y[6] = 0.31539156525252005 * (2.0 * zz - xx - yy); Y[7] = -1.0925484305920792 * xz;
  Y[8] = 0.5462742152960396 * (xx - yy);
  Y[9] = -0.5900435899266435 * y * (3.0 * xx - yy); Y[10] = 2.890611442640554 * xy * z;
  Y[11] = -0.4570457994644658 * y * (4.0 * zz - xx - yy);
  Y[12] = 0.3731763325901154 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
  Y[13] = -0.4570457994644658 * x * (4.0 * zz - xx - yy); Y[14] = 1.445305721320277 * z * (xx - yy);
  Y[15] = -0.5900435899266435 * x * (xx - 3.0 * yy);
}
float outAt(vec4 Y[OP], int o) { return Y[o >> 2][o & 3]; }
float wAt(int k, int o) { return dec.Wt[k * OP + (o >> 2)][o & 3]; }
int cellIndex(float p) { return clamp(int(floor((p + uBox) * float(uG) / (2.0 * uBox))), 0, uG - 1); }
void main() {
  vec2 q = vec2(gl_FragCoord.x, uSize.y - gl_FragCoord.y);
  vec3 dc = vec3((q.x - uIntr.z) / uIntr.x, -(q.y - uIntr.w) / uIntr.y, -1.0);
  vec3 o = uC2W[3].xyz;
  vec3 d = normalize(mat3(uC2W) * dc);
  // entry and exit of the occupied box (nerf.c gnf_nerf_ray_aabb)
  float tn = 0.0, tf = 1e30;
  bool alive = true;
  for (int a = 0; a < 3; a++) {
    if (d[a] == 0.0) { if (o[a] < uLo[a] || o[a] > uHi[a]) alive = false; continue; }
    float ta = (uLo[a] - o[a]) / d[a], tb = (uHi[a] - o[a]) / d[a];
    tn = max(tn, min(ta, tb));
    tf = min(tf, max(ta, tb));
  }
  alive = alive && tn < tf;
  float Yd[16];
  sh16(d, Yd);
  // the ray's colour matrix: z_c = bz_c + sum_k M[k]_c phi_k (the SH head folded with the
  // direction once per ray, so a sample costs the density row and 3K multiply-adds, not 49K)
  vec3 M[K];
  vec3 bz = vec3(0.0);
  for (int j = 0; j < 16; j++) bz += Yd[j] * vec3(outAt(dec.w0, 1 + j), outAt(dec.w0, 17 + j), outAt(dec.w0, 33 + j));
  for (int k = 0; k < K; k++) {
    vec3 s = vec3(0.0);
    for (int j = 0; j < 16; j++) s += Yd[j] * vec3(wAt(k, 1 + j), wAt(k, 17 + j), wAt(k, 33 + j));
    M[k] = s;
  }
  float T = 1.0, dep = 0.0, evals = 0.0;
  vec3 C = vec3(0.0);
  float cs = 2.0 * uBox / float(uG);
  float tstart = tn + 0.5 * uDt, tt = tstart;
  int i = 0;
  for (int guard = 0; alive && guard < 8192 && tt < tf; guard++) {
    vec3 p = o + tt * d;
    ivec3 ci = ivec3(cellIndex(p.x), cellIndex(p.y), cellIndex(p.z));
    if (texelFetch(uOcc, ci, 0).r != 0u) {
      vec4 F[DP];
      encode(clamp(p / uBox, -1.0, 1.0), F);
      float phi[K];
      float y0 = dec.w0[0].x;
      for (int k = 0; k < K; k++) { phi[k] = phiOf(F, k); y0 += dec.Wt[k * OP].x * phi[k]; }
      evals += 1.0;
      float v = y0 - 10.0;                           // softplus(y0 - 10)
      float sigma = max(v, 0.0) + log(1.0 + exp(-abs(v)));
      float x = sigma * uOdt;
      float keep = exp(-x);
      float alpha = x < 0.05 ? x * (1.0 - 0.5 * x * (1.0 - (1.0 / 3.0) * x * (1.0 - 0.25 * x))) : 1.0 - keep;
      float w = T * alpha;
      if (w > 1e-5) {
        vec3 z = bz;
        for (int k = 0; k < K; k++) z += M[k] * phi[k];
        C += w / (1.0 + exp(-z));
        dep += w * tt;
      }
      T *= keep;
      i++;
      if (T < 1e-4) break;
    } else {               // skip to the first lattice point past the cell, or its empty 8^3 block
      int span = 1;
      if (uHasCoarse == 1 && texelFetch(uCoarse, ci / 8, 0).r == 0u) { span = 8; ci -= ci % 8; }
      float te = 1e30;
      for (int a = 0; a < 3; a++) {
        if (d[a] > 0.0) te = min(te, (float(ci[a] + span) * cs - uBox - o[a]) / d[a]);
        else if (d[a] < 0.0) te = min(te, (float(ci[a]) * cs - uBox - o[a]) / d[a]);
      }
      float k = ceil((te - tt) / uDt);
      i += k < 1.0 ? 1 : int(min(k, 1e7));
    }
    tt = tstart + float(i) * uDt;
  }
  vec3 col = uMode == 1 ? vec3(dep * uDepthScale) : uMode == 2 ? vec3(1.0 - T) : C + T * vec3(1.0);
  outColor = uStats == 1 ? vec4(evals, evals * float(FETCHES), 0.0, 1.0) : vec4(col, 1.0);
}`;

// Orbit camera of a radiance field (nerf.c gnf_nerf_orbit_camera, z up) around target: c2w
// columns right, up, back (-forward), position.
export function nerfOrbit(az, el, radius, target = [0, 0, 0]) {
  const a = Math.fround(az * DEG), e = Math.fround(el * DEG);
  const pos = [radius * Math.cos(e) * Math.cos(a), radius * Math.cos(e) * Math.sin(a), radius * Math.sin(e)];
  const fwd = pos.map((v) => -v / radius);
  let right = [fwd[1], -fwd[0], 0];
  let rn = Math.hypot(...right);
  if (rn < 1e-6) { right = [1, 0, 0]; rn = 1; }
  right = right.map((v) => v / rn);
  const up = [right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2], right[0] * fwd[1] - right[1] * fwd[0]];
  const p = pos.map((v, k) => v + target[k]);
  return { right, up, fwd, pos: p };
}

// SDF camera (sdf.c gnf_sdf_render, y up) around target.
export function sdfOrbit(az, el, distance, target = [0, 0, 0]) {
  const a = Math.fround(az * DEG), e = Math.fround(el * DEG);
  const eye = [distance * Math.cos(e) * Math.cos(a), distance * Math.sin(e), distance * Math.cos(e) * Math.sin(a)];
  const fl = Math.hypot(...eye);
  const fwd = eye.map((v) => -v / fl);
  let right = [-fwd[2], 0, fwd[0]];
  let rl = Math.hypot(...right);
  if (rl < 1e-6) { right = [1, 0, 0]; rl = 1; }
  right = right.map((v) => v / rl);
  const up = [right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2], right[0] * fwd[1] - right[1] * fwd[0]];
  return { eye: eye.map((v, k) => v + target[k]), fwd, right, up };
}

// The renderer of a GpuField's task.  render(view, w, h, stats) draws into the bound framebuffer
// (viewport w x h); view holds the task's camera (see defaultView).
export class Renderer {
  constructor(field) {
    this.field = field;
    const m = field.model;
    const fetches = `#define FETCHES ${field.fetchesPerEval}\n`;
    this.task = m.task;
    if (m.task === 'image') this.prog = field.program(fetches + IMAGE_FS, 'image');
    else if (m.task === 'sdf') this.prog = field.program(fetches + SDF_FS, 'SDF');
    else this.prog = field.program(fetches + NERF_FS, 'radiance-field');
    if (m.task === 'nerf') this.uploadOccupancy();
  }

  // Frees the program and the occupancy textures (not the field).
  dispose() {
    const gl = this.field.gl;
    gl.deleteProgram(this.prog);
    if (this.occ) { gl.deleteTexture(this.occ); gl.deleteTexture(this.coarse); }
  }

  uploadOccupancy() {
    const gl = this.field.gl, { G, occ } = this.field.model.nerf;
    const tex3 = (data, n) => {
      const t = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_3D, t);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texImage3D(gl.TEXTURE_3D, 0, gl.R8UI, n, n, n, 0, gl.RED_INTEGER, gl.UNSIGNED_BYTE, data);
      for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_3D, p, gl.NEAREST);
      return t;
    };
    this.occ = tex3(occ, G);
    // coarse blocks and the occupied bounding box (nerf.c gnf_nerf_space_update_coarse)
    const lo = [G, G, G], hi = [-1, -1, -1];
    this.hasCoarse = G % 8 === 0;
    const Gc = this.hasCoarse ? G / 8 : 1, coarse = new Uint8Array(Gc * Gc * Gc);
    for (let z = 0; z < G; z++)
      for (let y = 0; y < G; y++)
        for (let x = 0; x < G; x++)
          if (occ[x + G * (y + G * z)]) {
            lo[0] = Math.min(lo[0], x); lo[1] = Math.min(lo[1], y); lo[2] = Math.min(lo[2], z);
            hi[0] = Math.max(hi[0], x); hi[1] = Math.max(hi[1], y); hi[2] = Math.max(hi[2], z);
            if (this.hasCoarse) coarse[(x >> 3) + Gc * ((y >> 3) + Gc * (z >> 3))] = 1;
          }
    this.coarse = tex3(coarse, Gc);
    const B = Math.fround(this.field.model.nerf.box), cs = Math.fround((2 * B) / G);
    this.lo = lo.map((v) => Math.fround(-B + Math.fround(v * cs)));
    this.hi = hi.map((v) => Math.fround(-B + Math.fround((v + 1) * cs)));
  }

  render(view, w, h, stats = false) {
    const f = this.field, gl = f.gl, p = this.prog, m = f.model, u = (n) => f.loc(p, n);
    f.use(p);
    gl.viewport(0, 0, w, h);
    gl.uniform2f(u('uSize'), w, h);
    gl.uniform1i(u('uStats'), stats ? 1 : 0);
    if (this.task === 'image') {
      const fit = Math.min(w / m.image.w, h / m.image.h) * view.zoom;
      gl.uniform2f(u('uCenter'), view.cx, view.cy);
      gl.uniform2f(u('uPixel'), 2 / (m.image.w * fit), 2 / (m.image.h * fit));
    } else if (this.task === 'sdf') {
      const c = sdfOrbit(view.az, view.el, view.dist, view.target);
      gl.uniform3fv(u('uEye'), c.eye);
      gl.uniform3fv(u('uFwd'), c.fwd);
      gl.uniform3fv(u('uRight'), c.right);
      gl.uniform3fv(u('uUp'), c.up);
      gl.uniform1f(u('uTanH'), Math.tan(0.5 * view.fov * DEG));
      gl.uniform2i(u('uSlice'), view.slice ? 1 : 0, view.sliceAxis);
      gl.uniform1f(u('uSliceValue'), view.sliceValue);
    } else {
      const n = m.nerf, cam = n.camera, c = nerfOrbit(view.az, view.el, view.dist, view.target);
      const s = h / cam.h;
      gl.uniform4f(u('uIntr'), cam.fx * s, cam.fy * s, w / 2 + (cam.cx - cam.w / 2) * s, cam.cy * s);
      gl.uniformMatrix4fv(u('uC2W'), false, [...c.right, 0, ...c.up, 0, ...c.fwd.map((v) => -v), 0, ...c.pos, 1]);
      gl.uniform1f(u('uBox'), n.box);
      gl.uniform1f(u('uDt'), n.step);
      gl.uniform1f(u('uOdt'), Math.fround(n.step) * Math.fround(n.distScale));
      gl.uniform3fv(u('uLo'), this.lo);
      gl.uniform3fv(u('uHi'), this.hi);
      gl.uniform1i(u('uG'), n.G);
      gl.uniform1i(u('uHasCoarse'), this.hasCoarse ? 1 : 0);
      gl.uniform1i(u('uMode'), view.mode);
      gl.uniform1f(u('uDepthScale'), 1 / (view.dist + n.box * 1.7320508));
      gl.activeTexture(gl.TEXTURE2);
      gl.bindTexture(gl.TEXTURE_3D, this.occ);
      gl.uniform1i(u('uOcc'), 2);
      gl.activeTexture(gl.TEXTURE3);
      gl.bindTexture(gl.TEXTURE_3D, this.coarse);
      gl.uniform1i(u('uCoarse'), 3);
    }
    f.draw();
  }
}

// The starting camera of a model's task: what `gnf render` shows by default.
export function defaultView(model) {
  if (model.task === 'image') return { cx: 0, cy: 0, zoom: 1 };
  if (model.task === 'sdf') return { az: 30, el: 20, dist: 3.2, fov: 40, target: [0, 0, 0], slice: false, sliceAxis: 2, sliceValue: 0 };
  return { az: 30, el: 30, dist: model.nerf.camera.radius, target: [0, 0, 0], mode: 0 };
}
