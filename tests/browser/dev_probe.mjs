import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
const [gnf, file, what] = process.argv.slice(2);
const p = spawn(gnf, ['view', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((r) => p.stdout.on('data', (d) => { const m = /http:\S+/.exec(String(d)); if (m) r(m[0]); }));
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'] });
const page = await b.newPage({ viewport: { width: 64, height: 64 } });
page.on('console', (m) => console.log('console', m.text()));
let t = Date.now();
await page.goto(url);
await page.waitForFunction(() => window.gnfViewer && (window.gnfViewer.state.model || window.gnfViewer.state.error), null, { timeout: 600000 });
console.log('loaded', Date.now() - t, await page.evaluate(() => window.gnfViewer.state.error));
t = Date.now();
await page.evaluate(() => window.gnfViewer.queryPoints(new Float32Array([0, 0, 0, 0.5, 0.5, 0.5])));
console.log('query', Date.now() - t);
for (const s of (what || '8,16').split(',')) {
  t = Date.now();
  const r = await page.evaluate((n) => { const px = window.gnfViewer.renderToFloat(n, n, true); let e = 0; for (let i = 0; i < px.length; i += 4) e += px[i]; return [e / (n * n), px[1]]; }, Number(s));
  console.log('render', s, Date.now() - t, r);
}
await b.close();
p.kill('SIGINT');
