// run.mjs — the browser viewer (web/) in a real browser: Debian's chromium, headless, driven by
// playwright-core, WebGL2 on SwiftShader (no GPU needed).  Usage:
//   node tests/browser/run.mjs GNF_BINARY [OUT_DIR]
// Fits small models (image; SDF of ../shared/data/meshes/bunny.obj and radiance field of
// ../shared/data/nerf/lego_400 when present), f32 and f16, and checks:
//   field    raw outputs at points (random, on cell boundaries, outside the box) read back from an
//            RGBA32F target agree with `gnf query --raw` within 1e-4 (relative above 1)
//   picture  a small render of each task against `gnf render` (the radiance field: its reference
//            renderer) of the same camera: PSNR >= 45 dB on the 8-bit pictures (printed)
//   export   `gnf export-web` opens from file:// and renders the same picture
//   serve    `gnf view` serves the viewer and the model, 404 for any other path, 405 for POST,
//            and exits on SIGINT (130)
//   errors   a dropped bad file shows the loader's message; no WebGL2 shows its message
// Writes OUT_DIR/viewer.png (a screenshot of the viewer; default OUT_DIR build/browser) and
// OUT_DIR/results.json (the errors and PSNRs).  GNF_BROWSER_ONLY=image,sdf limits the tasks.
// Ends with "N passed, N failed, N skipped".
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { readPng } from './png.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const args = process.argv.slice(2);
const GNF = resolve(args[0] || join(root, 'build/release/gnf'));
const OUT = resolve(args[1] || join(root, 'build/browser'));
const DATA = process.env.GNF_DATA || resolve(root, '../shared/data');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'];

let passed = 0, failed = 0, skipped = 0;
const ok = (name) => { passed++; console.log(`ok    browser: ${name}`); };
const bad = (name, why) => { failed++; console.log(`FAIL  browser: ${name}: ${why}`); };
const skip = (name, why, n = 1) => { skipped += n; console.log(`skip  browser: ${name} (${why})`); };
const check = (name, cond, why) => (cond ? ok(name) : bad(name, why));
const finish = () => { console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`); process.exit(failed ? 1 : 0); };

let chromium;
try { ({ chromium } = await import('playwright-core')); } catch (e) { /* reported below */ }
if (!chromium || !existsSync(CHROMIUM)) {
  skip('all browser tests', !chromium ? 'playwright-core not installed: npm ci in tests/browser' : `${CHROMIUM} not installed`, 1);
  console.log('SKIPPED: the browser tests need chromium and tests/browser/node_modules (tools/setup.sh installs both)');
  finish();
}
if (!existsSync(GNF)) { bad('setup', `${GNF} not built`); finish(); }

const T = mkdtempSync(join(tmpdir(), 'gnf-browser-'));
mkdirSync(OUT, { recursive: true });
const gnf = (...a) => execFileSync(GNF, a, { cwd: T, encoding: 'utf8', env: { ...process.env, ...(gnf.env || {}) }, stdio: ['ignore', 'pipe', 'pipe'] });

// ---- models ------------------------------------------------------------------------------------
const models = [];
const only = (task) => !process.env.GNF_BROWSER_ONLY || process.env.GNF_BROWSER_ONLY.split(',').includes(task);
const image = join(root, 'data/kodim23_crop.png'), bunny = join(DATA, 'meshes/bunny.obj'), lego = join(DATA, 'nerf/lego_400');
for (const half of [false, true]) {
  const h = half ? ['--half'] : [], tag = half ? 'f16' : 'f32';
  gnf('fit', image, '--steps', '100', '--params', '60000', '-o', `image_${tag}.gnf`, '--quiet', ...h);
  models.push({ task: 'image', tag, file: join(T, `image_${tag}.gnf`) });
  if (existsSync(bunny) && only('sdf')) {
    gnf('fit', bunny, '--steps', '200', '--params', '60000', '-o', `sdf_${tag}.gnf`, '--quiet', ...h);
    models.push({ task: 'sdf', tag, file: join(T, `sdf_${tag}.gnf`) });
  }
  if (existsSync(join(lego, 'transforms_train.json')) && only('nerf')) {
    gnf('fit', lego, '--downscale', '4', '--steps', '50', '--params', '150000', '-o', `nerf_${tag}.gnf`, '--quiet', ...h);
    models.push({ task: 'nerf', tag, file: join(T, `nerf_${tag}.gnf`) });
  }
}
if (!existsSync(bunny)) skip('SDF checks (5)', `${bunny} absent`, 5);
if (!existsSync(join(lego, 'transforms_train.json'))) skip('radiance-field checks (7)', `${lego} absent`, 7);

// ---- gnf view ----------------------------------------------------------------------------------
function startView(file) {
  return new Promise((res, rej) => {
    const p = spawn(GNF, ['view', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) res({ proc: p, url: m[0], port: Number(m[1]), stderr: () => err });
    });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => rej(new Error(`gnf view exited ${code}: ${err}`)));
  });
}
function httpGet(port, path, method = 'GET') {
  return new Promise((res) => {
    const r = http.request({ host: '127.0.0.1', port, path, method }, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => res({ status: resp.statusCode, body: Buffer.concat(chunks) }));
    });
    r.on('error', (e) => res({ status: 0, body: Buffer.from(String(e)) }));
    r.end();
  });
}

// ---- points for the field check ----------------------------------------------------------------
function testPoints(model, dim) {
  const pts = [];
  let s = 12345;
  const rnd = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32; };
  for (let i = 0; i < 400; i++) pts.push([rnd() * 2.4 - 1.2, rnd() * 2.4 - 1.2, dim === 3 ? rnd() * 2.4 - 1.2 : 0]);
  // node positions -1 + 2i/(R-1) of every level (cell boundaries), the box's faces and corners
  for (const R of model.res) {
    for (let k = 0; k < 6; k++) {
      const i = Math.floor(rnd() * R), j = Math.floor(rnd() * R), l = Math.floor(rnd() * R);
      const c = (n) => Math.fround(-1 + (2 * n) / (R - 1));
      pts.push([c(i), c(j), dim === 3 ? c(l) : 0], [c(i), rnd() * 2 - 1, dim === 3 ? c(l) : 0]);
    }
  }
  for (const a of [-1, 1]) for (const b of [-1, 1]) for (const c of [-1, 1]) pts.push([a, b, dim === 3 ? c : 0]);
  pts.push([1.5, -3, 0.25], [-2, 0.5, 9]);
  return new Float32Array(pts.flat());
}
function modelRes(file) {
  const info = gnf('info', file);
  return { res: /gnf\.res = ([0-9,]+)/.exec(info)[1].split(',').map(Number), dim: /gnf\.in_dim = (\d)/.exec(info)[1] === '3' ? 3 : 2 };
}

// PSNR of two 8-bit RGB pictures (Uint8Array, 3 per pixel).
function psnr(a, b) {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += ((a[i] - b[i]) / 255) ** 2;
  const mse = se / a.length;
  return mse > 0 ? -10 * Math.log10(mse) : Infinity;
}
// The float picture (4 per pixel, rows from the top) as 8-bit RGB the way gnf's PNG writer rounds.
function to8(px) {
  const out = new Uint8Array((px.length / 4) * 3);
  for (let i = 0; i < px.length / 4; i++)
    for (let k = 0; k < 3; k++) out[3 * i + k] = Math.floor(Math.min(1, Math.max(0, px[4 * i + k])) * 255 + 0.5);
  return out;
}
function rgbOf(png) {
  const out = new Uint8Array(png.w * png.h * 3);
  for (let i = 0; i < png.w * png.h; i++) for (let k = 0; k < 3; k++) out[3 * i + k] = png.px[i * png.c + (png.c >= 3 ? k : 0)];
  return out;
}

// The reference picture of each task with `gnf render`, and the size the viewer renders it at.
function reference(m) {
  const out = join(T, `${m.task}_${m.tag}_ref.png`);
  if (m.task === 'image') gnf('render', m.file, '-o', out, '--width', '96');
  else if (m.task === 'sdf') gnf('render', m.file, '-o', out, '--width', '64', '--height', '64');
  else {
    gnf.env = { GNF_NERF_REFERENCE: '1' };   // ~240 samples per pixel in a 50-step field: small
    gnf('render', m.file, '-o', out, '--width', '32', '--depth', out.replace('.png', '_depth.png'), '--opacity', out.replace('.png', '_opacity.png'));
    gnf.env = null;
  }
  return readPng(out);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
const results = { psnr: {}, field: {} };
async function openViewer(url) {
  // a tiny page: the viewer draws its canvas once at load, and on SwiftShader a radiance field of
  // ~240 samples per pixel (a 50-step fit) costs seconds per thousand pixels
  const page = await browser.newPage({ viewport: { width: 16, height: 16 } });
  const logs = [];
  page.on('pageerror', (e) => logs.push(String(e)));
  page.on('console', (msg) => { if (msg.type() === 'error') logs.push(msg.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.gnfViewer && (window.gnfViewer.state.model || window.gnfViewer.state.error), null, { timeout: 60000 });
  const err = await page.evaluate(() => window.gnfViewer.state.error);
  if (err) throw new Error(`${err} ${logs.join(' ')}`);
  return page;
}

try {
  for (const m of models) {
    if (!only(m.task)) continue;
    const name = `${m.task} ${m.tag}`;
    let view, page;
    try {
      view = await startView(m.file);
      page = await openViewer(view.url);
    } catch (e) {
      bad(`${name}: viewer loads the model`, e.message);
      if (view) view.proc.kill('SIGTERM');
      continue;
    }
    // field values
    const { res, dim } = modelRes(m.file);
    const pts = testPoints({ res }, dim);
    writeFileSync(join(T, 'pts.f32'), Buffer.from(pts.buffer));
    gnf('query', m.file, 'pts.f32', '--raw', '--binary', '-o', 'ref.f32');
    const rb = readFileSync(join(T, 'ref.f32')), ref = new Float32Array(rb.buffer.slice(rb.byteOffset, rb.byteOffset + rb.length));
    const got = await page.evaluate((p) => Array.from(window.gnfViewer.queryPoints(new Float32Array(p))), Array.from(pts));
    let worst = 0, at = -1;
    for (let i = 0; i < ref.length; i++) {
      const e = Math.abs(got[i] - ref[i]) / Math.max(1, Math.abs(ref[i]));
      if (!(e <= worst)) { worst = e; at = i; }
    }
    results.field[name] = { points: pts.length / 3, outputs: ref.length, max_err: worst };
    check(`${name}: ${pts.length / 3} points x ${ref.length / (pts.length / 3)} outputs agree with gnf query --raw (max error ${worst.toExponential(2)})`,
          got.length === ref.length && worst <= 1e-4, `max error ${worst} at output ${at}: ${got[at]} vs ${ref[at]}`);
    // picture
    const png = reference(m), refPx = rgbOf(png);
    const pic = await page.evaluate(([w, h]) => Array.from(window.gnfViewer.renderToFloat(w, h)), [png.w, png.h]);
    const p = psnr(to8(new Float32Array(pic)), refPx);
    results.psnr[name] = p;
    check(`${name}: ${png.w}x${png.h} render against gnf render: PSNR ${p.toFixed(2)} dB >= 45`, p >= 45, `PSNR ${p.toFixed(2)} dB`);
    if (m.task === 'nerf' && m.tag === 'f32') {   // depth (scaled by its maximum, as gnf render does) and opacity modes
      for (const [mode, what] of [[1, 'depth'], [2, 'opacity']]) {
        const rp = readPng(join(T, `${m.task}_${m.tag}_ref_${what}.png`));
        const v = await page.evaluate(([w, h, md]) => {
          const g = window.gnfViewer;
          return Array.from(g.renderToFloat(w, h, false, { ...g.state.view, mode: md }));
        }, [rp.w, rp.h, mode]);
        let mx = 0;
        for (let i = 0; i < v.length; i += 4) mx = Math.max(mx, v[i]);
        const scaled = v.map((x, i) => (i % 4 === 3 ? 1 : mode === 1 ? (mx > 0 ? x / mx : 0) : x));
        const pm = psnr(to8(new Float32Array(scaled)), rgbOf(rp));
        check(`${name}: ${what} mode against gnf render --${what}: PSNR ${pm.toFixed(2)} dB >= 45`, pm >= 45, `PSNR ${pm.toFixed(2)} dB`);
      }
    }
    // export-web, opened from disk (f32 models)
    if (m.tag === 'f32') {
      const html = join(T, `${m.task}.html`);
      gnf('export-web', m.file, '-o', html);
      const ep = await openViewer(`file://${html}`).catch((e) => e);
      if (ep instanceof Error) bad(`${m.task}: export-web file opens from file://`, ep.message);
      else {
        const epic = await ep.evaluate(([w, h]) => Array.from(window.gnfViewer.renderToFloat(w, h)), [png.w, png.h]);
        const pe = psnr(to8(new Float32Array(epic)), refPx);
        check(`${m.task}: export-web file opens from file:// and renders (PSNR ${pe.toFixed(2)} dB against gnf render)`, pe >= 45, `PSNR ${pe}`);
        await ep.close();
      }
    }
    if ((m.task === 'sdf' || (m.task === 'image' && !models.some((x) => x.task === 'sdf'))) && m.tag === 'f32') {
      // the README's screenshot: the SDF with its slice plane (the image when there is no SDF)
      await page.evaluate(() => {
        const s = window.gnfViewer.state, v = s.view;
        if (v.slice !== undefined) Object.assign(v, { slice: true, sliceAxis: 1, sliceValue: -0.3, az: 60, el: 25 });
        document.getElementById('slice').checked = !!v.slice;
        document.getElementById('sliceAxis').value = '1';
        document.getElementById('sliceValue').value = '-0.3';
      });
      await page.setViewportSize({ width: 400, height: 300 });
      await page.waitForFunction(() => { const s = window.gnfViewer.state; return !s.dirty && !s.lowShown && s.lastSize === '400x300'; }, null, { timeout: 120000 });
      await page.screenshot({ path: join(OUT, 'viewer.png') });
      console.log(`      screenshot: ${join(OUT, 'viewer.png')}`);
      await page.setViewportSize({ width: 16, height: 16 });   // back to the tiny page the checks below assume
      await page.waitForFunction(() => window.gnfViewer.state.lastSize === '16x16', null, { timeout: 60000 });
    }
    if (m.task === 'image' && m.tag === 'f32') {
      // only the viewer's files and the model are served
      const get = async (path, method) => (await httpGet(view.port, path, method)).status;
      const idle = net.connect(view.port, '127.0.0.1');   // a connection that sends nothing holds up no other
      const codes = { '/': await get('/'), '/viewer.js': await get('/viewer.js'), '/model.gnf': await get('/model.gnf'),
                      '/etc/passwd': await get('/etc/passwd'), '/../Makefile': await get('/../Makefile'),
                      '/web/viewer.js': await get('/web/viewer.js'), '/%2e%2e/README.md': await get('/%2e%2e/README.md'),
                      'POST /': await get('/', 'POST') };
      const want = { '/': 200, '/viewer.js': 200, '/model.gnf': 200, '/etc/passwd': 404, '/../Makefile': 404,
                     '/web/viewer.js': 404, '/%2e%2e/README.md': 404, 'POST /': 405 };
      idle.destroy();
      check('gnf view serves the viewer and the model, 404 for other paths, 405 for POST (an idle connection open)',
            Object.keys(want).every((k) => codes[k] === want[k]), JSON.stringify(codes));
      // dragging pans the image: a quarter-resolution frame while moving, full resolution at rest,
      // the camera in the URL, and a page opened at that URL shows the same camera
      const drag = await page.evaluate(async () => {
        const c = document.getElementById('view'), s = window.gnfViewer.state;
        const ev = (type, x) => c.dispatchEvent(new PointerEvent(type, { pointerId: 7, clientX: x, clientY: 4, button: 0, bubbles: true }));
        const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const cx0 = s.view.cx;
        s.restMs = 60000;   // a loaded machine may start the next frame more than REST_MS later
        ev('pointerdown', 4); ev('pointermove', 9);
        await frames();
        const low = s.lowShown;
        ev('pointerup', 9);
        s.restMs = 200;
        await new Promise((r) => setTimeout(r, 600));
        await frames();
        return { cx0, cx: s.view.cx, low, lowAtRest: s.lowShown, hash: location.hash };
      });
      check(`dragging pans (cx ${drag.cx0} -> ${drag.cx.toFixed(4)}), quarter resolution while moving, full at rest, camera in the URL (${drag.hash})`,
            drag.cx < drag.cx0 && drag.low === true && drag.lowAtRest === false && /cx=-0\.\d+/.test(drag.hash), JSON.stringify(drag));
      const p2 = await openViewer(view.url + drag.hash);
      const cx2 = await p2.evaluate(() => window.gnfViewer.state.view.cx);
      check('a page opened at that URL shows the same camera', Math.abs(cx2 - drag.cx) < 1e-4, `cx ${cx2} vs ${drag.cx}`);
      await p2.close();
      // the screenshot button downloads the canvas as a PNG
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }),
                                      page.evaluate(() => document.getElementById('shot').click())]);
      const shot = readPng(await dl.path());
      check(`the screenshot button saves ${dl.suggestedFilename()}, a ${shot.w}x${shot.h} PNG of the canvas`,
            dl.suggestedFilename() === 'image_f32.png' && shot.w === 16 && shot.h === 16, `${dl.suggestedFilename()} ${shot.w}x${shot.h}`);
      // a bad file dropped on the page: the loader's message, not a blank page
      for (const [what, bytes, expect] of [['garbage', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'header length'],
                                           ['truncated model', [...readFileSync(m.file).subarray(0, 5000)], 'past the data section']]) {
        const text = await page.evaluate(async ([b, nm]) => {
          window.gnfViewer.state.error = null;
          const dt = new DataTransfer();
          dt.items.add(new File([new Uint8Array(b)], nm));
          window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
          for (let i = 0; i < 100 && !window.gnfViewer.state.error; i++) await new Promise((r) => setTimeout(r, 50));
          const el = document.getElementById('message');
          return getComputedStyle(el).display !== 'none' ? el.textContent : '';
        }, [bytes, 'bad.gnf']);
        check(`a dropped ${what} shows the error text ("${text.split('\n').join(' ')}")`, text.includes('bad.gnf') && text.includes(expect), `message "${text}"`);
      }
    }
    await page.close();
    // SIGINT stops gnf view
    const code = await new Promise((r) => { view.proc.removeAllListeners('exit'); view.proc.on('exit', (c) => r(c)); view.proc.kill('SIGINT'); setTimeout(() => r('still running'), 5000); });
    if (m.task === 'image' && m.tag === 'f32') check(`gnf view exits on SIGINT (${code}, "${view.stderr().trim()}")`, code === 130, `exit ${code}`);
    else if (code !== 130) bad(`${name}: gnf view exits on SIGINT`, `exit ${code}`);
  }
  // no WebGL2: the page says so
  {
    const view = await startView(models[0].file);
    const page = await browser.newPage();
    await page.addInitScript(() => {
      const orig = HTMLCanvasElement.prototype.getContext;
      HTMLCanvasElement.prototype.getContext = function (kind, ...a) { return kind === 'webgl2' ? null : orig.call(this, kind, ...a); };
    });
    await page.goto(view.url);
    await page.waitForFunction(() => window.gnfViewer, null, { timeout: 30000 });
    const text = await page.evaluate(() => document.getElementById('message').textContent);
    check('a browser without WebGL2 gets a clear message', /does not offer WebGL2/.test(text), `message "${text}"`);
    await page.close();
    view.proc.kill('SIGINT');
  }
} catch (e) {
  bad('browser run', e.stack || String(e));
} finally {
  await browser.close();
  writeFileSync(join(OUT, 'results.json'), JSON.stringify(results, null, 1));
  rmSync(T, { recursive: true, force: true });
}
finish();
