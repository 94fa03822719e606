// browser_speed.mjs — the browser viewer's speed: ms per frame at SIZE x SIZE (default 800) for
// each model, and the shader's work per pixel (field evaluations, texture fetches), in headless
// chromium (WebGL2 on SwiftShader unless GNF_CHROMIUM_ARGS says otherwise, e.g. a real GPU:
// GNF_CHROMIUM_ARGS="--use-angle=gl --enable-gpu").  Usage:
//   node bench/browser_speed.mjs GNF MODEL.gnf... [--size N] [--frames N]
// Needs tests/browser/node_modules (npm ci there).  Each frame is drawn in 100x100 scissor tiles,
// each finished before the next (a whole 800x800 frame in one draw can run longer than the
// browser's GPU watchdog allows on a CPU renderer); the frame time is the sum.  The shader is
// compiled by the work count at 100x100 before the timed frames; the median frame is printed
// (of an even count, the upper middle one), and every frame's time.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '../tests/browser/package.json'));
const { chromium } = require('playwright-core');
const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? Number(argv.splice(i, 2)[1]) : d; };
const SIZE = opt('--size', 800), FRAMES = opt('--frames', 3);
const [gnf, ...models] = argv;
if (!gnf || !models.length) { console.error('usage: node bench/browser_speed.mjs GNF MODEL.gnf... [--size N] [--frames N]'); process.exit(2); }
const args = (process.env.GNF_CHROMIUM_ARGS || '--use-angle=swiftshader --enable-unsafe-swiftshader').split(/\s+/);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
for (const file of models) {
  const p = spawn(resolve(gnf), ['view', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((r) => p.stdout.on('data', (d) => { const m = /http:\S+\//.exec(String(d)); if (m) r(m[0]); }));
  const page = await browser.newPage({ viewport: { width: 64, height: 64 } });
  await page.goto(url);
  await page.waitForFunction(() => window.gnfViewer && (window.gnfViewer.state.model || window.gnfViewer.state.error), null, { timeout: 600000 });
  const r = await page.evaluate(async ([S, F]) => {
    const g = window.gnfViewer, st = g.state, gl = document.getElementById('view').getContext('webgl2');
    if (st.error) return { error: st.error };
    // per-pixel work at 100x100 (the stats output: evaluations, fetches)
    const work = g.renderToFloat(100, 100, true);
    let ev = 0, fe = 0;
    for (let i = 0; i < work.length; i += 4) { ev += work[i]; fe += work[i + 1]; }
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, S, S, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
    const fb = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    const px = new Uint8Array(4), times = [];
    gl.enable(gl.SCISSOR_TEST);
    for (let f = 0; f < F; f++) {
      let ms = 0;
      for (let y = 0; y < S; y += 100)
        for (let x = 0; x < S; x += 100) {
          const t0 = performance.now();
          gl.scissor(x, y, 100, 100);
          st.renderer.render(st.view, S, S);
          gl.readPixels(x, y, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
          ms += performance.now() - t0;
          await new Promise((res) => setTimeout(res, 0));
        }
      times.push(ms);
    }
    gl.disable(gl.SCISSOR_TEST);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const sorted = [...times].sort((a, b) => a - b), m = st.model;
    return { task: m.task, size: S, ms_per_frame: sorted[Math.floor(sorted.length / 2)], frames_ms: times.map((t) => Math.round(t)),
             evals_per_pixel: ev / 1e4, fetches_per_pixel: fe / 1e4, fetches_per_eval: st.field.fetchesPerEval,
             levels: m.levels.length, D: m.D, K: m.K, O: m.O, renderer: gl.getParameter(gl.RENDERER) };
  }, [SIZE, FRAMES]);
  console.log(`${file}: ${JSON.stringify(r)}`);
  await page.close();
  p.kill('SIGINT');
}
await browser.close();
