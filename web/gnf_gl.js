// gnf_gl.js — the field on the GPU (WebGL2, GLSL ES 3.00): the grids in one float texture, the
// decoder in a uniform block, and GLSL that evaluates the field with the C code's arithmetic
// (src/field/grid.c, src/field/rbf.c): the same cell and weight computation, the same integer
// hash (GLSL uint multiplication wraps at 32 bits like C's uint32_t), texelFetch of the 2^d
// corner nodes with explicit weights, never the hardware's filtering.
//
// Texture layout: one RGBA32F (or RG32F / R32F when every level has <= 2 / 1 features) 2D
// texture 2048 texels wide; the levels follow each other, level l starting at texel base_l, node
// n's features in texels base_l + n*TPN .. + TPN-1 (TPN texels per node), feature c in texel
// c / NCOMP, component c % NCOMP.  One texture for all levels instead of one array layer per level:
// the layers of an array all have the size of the largest, which for dense image grids (a coarse
// level of 16^2 nodes next to a fine one of 1000^2) multiplies the memory by the level count.
//
// Decoder block (std140, vec4 arrays): C[k*DP + j] and B[k*DP + j] the centres and precisions
// beta = exp(b) of neuron k, features 4j..4j+3 (zero-padded to DP*4, so padding adds 0 to q);
// Wt[k*OP + j] the head's column k, outputs 4j..4j+3; w0[j] the bias.

const TW_LOG2 = 11;
const TW = 1 << TW_LOG2;

// Per-task and per-model constants of the GLSL, as #defines.
function defines(model, L, NCOMP, TPN) {
  const DP = Math.ceil(model.D / 4), OP = Math.ceil(model.O / 4);
  const basis = { gaussian: 0, imq: 1, mq: 2 }[model.basis];
  return `#define IN_DIM ${model.inDim}
#define L ${L}
#define D ${model.D}
#define DP ${DP}
#define K ${model.K}
#define O ${model.O}
#define OP ${OP}
#define NCOMP ${NCOMP}
#define TPN ${TPN}
#define TW_LOG2 ${TW_LOG2}
#define BASIS ${basis}
`;
}

// The field's GLSL: field(x) -> outputs Y[OP] (vec4s), x in the field's input space.
const FIELD_GLSL = `
uniform highp sampler2D uGrid;
uniform ivec4 uLev[L];      // res, features, dense (1) or hash (0), first texel
uniform uint uMask[L];      // hash: table size - 1
uniform int uFeatOff[L];    // first feature of the level in the D-vector
layout(std140) uniform Decoder {
  vec4 C[K * DP];
  vec4 B[K * DP];
  vec4 Wt[K * OP];
  vec4 w0[OP];
} dec;

// Cell index and fractional position of coordinate v on a grid of res nodes (grid.c cell_of).
void cellOf(float v, int res, out int i0, out float w) {
  float pos = ((v + 1.0) * 0.5) * float(res - 1);
  if (pos < 0.0) pos = 0.0;
  if (pos > float(res - 1)) pos = float(res - 1);
  int i = int(pos);
  if (i > res - 2) i = res - 2;
  i0 = i;
  w = pos - float(i);
}

int nodeIndex(ivec4 lv, uint mask, int ix, int iy, int iz) {
  int R = lv.x;
  if (lv.z == 1) return IN_DIM == 2 ? iy * R + ix : (iz * R + iy) * R + ix;
  uint h = uint(ix) ^ (uint(iy) * 2654435761u);
  if (IN_DIM == 3) h ^= uint(iz) * 805459861u;
  return int(h & mask);
}

vec4 fetchTexel(int t) { return texelFetch(uGrid, ivec2(t & ((1 << TW_LOG2) - 1), t >> TW_LOG2), 0); }

// Features of all levels at x, into F (DP vec4s, zero-padded).
void encode(vec3 x, out vec4 F[DP]) {
  float f[DP * 4];
  for (int d = 0; d < DP * 4; d++) f[d] = 0.0;
  for (int l = 0; l < L; l++) {
    ivec4 lv = uLev[l];
    int ix, iy, iz = 0;
    float wx, wy, wz = 0.0;
    cellOf(x.x, lv.x, ix, wx);
    cellOf(x.y, lv.x, iy, wy);
    if (IN_DIM == 3) cellOf(x.z, lv.x, iz, wz);
    int fo = uFeatOff[l], Cl = lv.y;
    for (int k = 0; k < (IN_DIM == 2 ? 4 : 8); k++) {
      int dx = k & 1, dy = (k >> 1) & 1, dz = k >> 2;
      float wt = (dx == 1 ? wx : 1.0 - wx) * (dy == 1 ? wy : 1.0 - wy);
      if (IN_DIM == 3) wt *= dz == 1 ? wz : 1.0 - wz;
      int node = nodeIndex(lv, uMask[l], ix + dx, iy + dy, iz + dz);
      int t0 = lv.w + node * TPN;
      for (int t = 0; t < TPN; t++) {
        vec4 v = fetchTexel(t0 + t);
        for (int c = 0; c < NCOMP; c++) {
          int fc = t * NCOMP + c;
          if (fc < Cl) f[fo + fc] += wt * v[c];
        }
      }
    }
  }
  for (int j = 0; j < DP; j++) F[j] = vec4(f[4 * j], f[4 * j + 1], f[4 * j + 2], f[4 * j + 3]);
}

float rho(float q) {
#if BASIS == 1
  return 1.0 / sqrt(q + 1.0);
#elif BASIS == 2
  return sqrt(q + 1.0);
#else
  return exp(-0.5 * q);
#endif
}

// Squared feature-space distance of F to neuron k and its activation.
float phiOf(vec4 F[DP], int k) {
  float q = 0.0;
  for (int j = 0; j < DP; j++) {
    vec4 u = F[j] - dec.C[k * DP + j];
    q += dot(dec.B[k * DP + j], u * u);
  }
  return rho(q);
}

// Every output of the field at x.
void field(vec3 x, out vec4 Y[OP]) {
  vec4 F[DP];
  encode(x, F);
  for (int j = 0; j < OP; j++) Y[j] = dec.w0[j];
  for (int k = 0; k < K; k++) {
    float phi = phiOf(F, k);
    for (int j = 0; j < OP; j++) Y[j] += dec.Wt[k * OP + j] * phi;
  }
}

// Output 0 only (SDF distance, radiance-field density input).
float field0(vec3 x) {
  vec4 F[DP];
  encode(x, F);
  float y = dec.w0[0].x;
  for (int k = 0; k < K; k++) y += dec.Wt[k * OP].x * phiOf(F, k);
  return y;
}
`;

const VERT = `#version 300 es
void main() {
  vec2 p = vec2(gl_VertexID == 1 ? 3.0 : -1.0, gl_VertexID == 2 ? 3.0 : -1.0);
  gl_Position = vec4(p, 0.0, 1.0);
}`;

function compile(gl, type, src, what) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) {
    const log = gl.getShaderInfoLog(s);
    gl.deleteShader(s);
    throw new Error(`the ${what} shader does not compile on this GPU: ${log}`);
  }
  return s;
}

// A GPU field of a loaded model (gnf_model.js).  Holds the textures and the decoder buffer;
// program(fragmentBody, what) links a full-screen program whose fragment shader gets the
// field's GLSL before fragmentBody.  Throws Error with a clear reason when the model does not
// fit this GPU's limits.
export class GpuField {
  constructor(gl, model) {
    this.gl = gl;
    this.model = model;
    if (!gl.getExtension('EXT_color_buffer_float')) throw new Error('this browser cannot render to float targets (EXT_color_buffer_float)');
    const levels = model.levels, L = levels.length;
    const Cmax = Math.max(...levels.map((lv) => lv.feat));
    const NCOMP = Cmax <= 1 ? 1 : Cmax <= 2 ? 2 : 4, TPN = Math.ceil(Cmax / NCOMP);
    let texels = 0;
    const base = levels.map((lv) => { const b = texels; texels += lv.nodes * TPN; return b; });
    const rows = Math.ceil(texels / TW);
    const maxTex = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    if (rows > maxTex || texels >= 2 ** 31) throw new Error(`${model.name}: the grids need ${TW}x${rows} texels, more than this GPU's texture limit (${maxTex})`);
    const data = new Float32Array(rows * TW * NCOMP);
    levels.forEach((lv, l) => {
      const C = lv.feat, g = lv.data;
      for (let n = 0; n < lv.nodes; n++)
        for (let c = 0; c < C; c++) data[(base[l] + n * TPN + Math.floor(c / NCOMP)) * NCOMP + (c % NCOMP)] = g[n * C + c];
    });
    const fmt = [null, [gl.R32F, gl.RED], [gl.RG32F, gl.RG], null, [gl.RGBA32F, gl.RGBA]][NCOMP];
    this.grid = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.grid);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, fmt[0], TW, rows, 0, fmt[1], gl.FLOAT, data);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
    // decoder block
    const D = model.D, K = model.K, O = model.O, DP = Math.ceil(D / 4), OP = Math.ceil(O / 4);
    const ub = new Float32Array(4 * (2 * K * DP + K * OP + OP));
    const offB = 4 * K * DP, offW = 8 * K * DP, offW0 = offW + 4 * K * OP;
    for (let k = 0; k < K; k++)
      for (let d = 0; d < D; d++) {
        ub[4 * k * DP + d] = model.centers[d * K + k];
        ub[offB + 4 * k * DP + d] = Math.fround(Math.exp(model.logPrecision[d * K + k]));
      }
    for (let k = 0; k < K; k++) for (let o = 0; o < O; o++) ub[offW + 4 * k * OP + o] = model.W[o * K + k];
    for (let o = 0; o < O; o++) ub[offW0 + o] = model.w0[o];
    const maxBlock = gl.getParameter(gl.MAX_UNIFORM_BLOCK_SIZE);
    if (ub.byteLength > maxBlock)
      throw new Error(`${model.name}: the decoder needs ${ub.byteLength} bytes of uniforms, more than this GPU's block limit (${maxBlock})`);
    this.ubo = gl.createBuffer();
    gl.bindBuffer(gl.UNIFORM_BUFFER, this.ubo);
    gl.bufferData(gl.UNIFORM_BUFFER, ub, gl.STATIC_DRAW);
    this.lev = new Int32Array(4 * L);
    this.mask = new Uint32Array(L);
    this.featOff = new Int32Array(L);
    levels.forEach((lv, l) => {
      this.lev.set([lv.res, lv.feat, lv.dense ? 1 : 0, base[l]], 4 * l);
      this.mask[l] = lv.dense ? 0 : lv.nodes - 1;
      this.featOff[l] = lv.featOff;
    });
    this.header = `#version 300 es
precision highp float;
precision highp int;
${defines(model, L, NCOMP, TPN)}${FIELD_GLSL}`;
    this.vert = compile(gl, gl.VERTEX_SHADER, VERT, 'vertex');
    this.vao = gl.createVertexArray();
    // per-pixel work: texture fetches per field evaluation
    this.fetchesPerEval = levels.length * (model.inDim === 2 ? 4 : 8) * TPN;
  }

  // Frees the GPU objects (programs made by program() are the caller's).
  dispose() {
    const gl = this.gl;
    gl.deleteTexture(this.grid);
    gl.deleteBuffer(this.ubo);
    gl.deleteShader(this.vert);
    gl.deleteVertexArray(this.vao);
    if (this.queryProg) gl.deleteProgram(this.queryProg);
  }

  // Links a program: the field's GLSL, then body (which declares `out vec4` and main()).
  program(body, what) {
    const gl = this.gl;
    const fs = compile(gl, gl.FRAGMENT_SHADER, this.header + body, what);
    const p = gl.createProgram();
    gl.attachShader(p, this.vert);
    gl.attachShader(p, fs);
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`the ${what} program does not link: ${gl.getProgramInfoLog(p)}`);
    gl.deleteShader(fs);
    const bi = gl.getUniformBlockIndex(p, 'Decoder');
    if (bi !== gl.INVALID_INDEX) gl.uniformBlockBinding(p, bi, 0);
    p.loc = new Map();
    return p;
  }

  // Binds the program with the field's textures and uniforms; the caller sets its own.
  use(p) {
    const gl = this.gl;
    gl.useProgram(p);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.grid);
    gl.uniform1i(this.loc(p, 'uGrid'), 0);
    gl.uniform4iv(this.loc(p, 'uLev'), this.lev);
    gl.uniform1uiv(this.loc(p, 'uMask'), this.mask);
    gl.uniform1iv(this.loc(p, 'uFeatOff'), this.featOff);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, this.ubo);
    gl.bindVertexArray(this.vao);
  }

  loc(p, name) {
    if (!p.loc.has(name)) p.loc.set(name, this.gl.getUniformLocation(p, name));
    return p.loc.get(name);
  }

  // Draws the full-screen triangle.
  draw() { this.gl.drawArrays(this.gl.TRIANGLES, 0, 3); }
}

// An RGBA32F render target of w x h.
export function floatTarget(gl, w, h) {
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, w, h, 0, gl.RGBA, gl.FLOAT, null);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  const fb = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  const ok = gl.checkFramebufferStatus(gl.FRAMEBUFFER) === gl.FRAMEBUFFER_COMPLETE;
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  if (!ok) throw new Error('this GPU cannot render into an RGBA32F target');
  return { tex, fb, w, h };
}

// Raw outputs at points: pts (Float32Array, 3 per point; 2D fields use x, y).  Renders one
// fragment per (point, vec4 of outputs) into an RGBA32F target and reads it back.  Returns a
// Float32Array of n * O values.
export function queryPoints(field, pts) {
  const gl = field.gl, model = field.model, n = pts.length / 3, OP = Math.ceil(model.O / 4);
  if (!field.queryProg) {
    field.queryProg = field.program(`
uniform highp sampler2D uPts;
out vec4 outColor;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec3 x = texelFetch(uPts, ivec2(p.y & 1023, p.y >> 10), 0).xyz;
  vec4 Y[OP];
  field(x, Y);
  outColor = Y[p.x];
}`, 'query');
  }
  const rows = Math.ceil(n / 1024), ptex = new Float32Array(rows * 1024 * 4);
  for (let i = 0; i < n; i++) ptex.set([pts[3 * i], pts[3 * i + 1], pts[3 * i + 2], 0], 4 * i);
  const tex = gl.createTexture();
  gl.activeTexture(gl.TEXTURE1);
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, 1024, rows, 0, gl.RGBA, gl.FLOAT, ptex);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  const target = floatTarget(gl, OP, n);
  const p = field.queryProg;
  field.use(p);
  gl.activeTexture(gl.TEXTURE1);
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.uniform1i(field.loc(p, 'uPts'), 1);
  gl.bindFramebuffer(gl.FRAMEBUFFER, target.fb);
  gl.viewport(0, 0, OP, n);
  field.draw();
  const out = new Float32Array(OP * 4 * n);
  gl.readPixels(0, 0, OP, n, gl.RGBA, gl.FLOAT, out);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  gl.deleteFramebuffer(target.fb);
  gl.deleteTexture(target.tex);
  gl.deleteTexture(tex);
  const y = new Float32Array(n * model.O);
  for (let i = 0; i < n; i++) for (let o = 0; o < model.O; o++) y[i * model.O + o] = out[i * OP * 4 + o];
  return y;
}
