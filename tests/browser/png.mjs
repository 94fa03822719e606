// png.mjs — reads the 8-bit PNGs `gnf render` writes (gray, RGB or RGBA, not interlaced) into
// {w, h, c, px: Uint8Array}; anything else is refused with an error naming the file.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export function readPng(path) {
  const b = readFileSync(path);
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (b.length < 8 || sig.some((v, i) => b[i] !== v)) throw new Error(`${path}: not a PNG file`);
  let at = 8, w = 0, h = 0, c = 0;
  const idat = [];
  while (at + 8 <= b.length) {
    const len = b.readUInt32BE(at), type = b.toString('latin1', at + 4, at + 8), data = b.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0); h = data.readUInt32BE(4);
      const depth = data[8], ct = data[9], interlace = data[12];
      c = { 0: 1, 2: 3, 6: 4 }[ct];
      if (depth !== 8 || !c || interlace) throw new Error(`${path}: only 8-bit gray/RGB/RGBA non-interlaced PNGs are read here`);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat)), stride = w * c, px = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)], row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= c ? px[y * stride + x - c] : 0, up = y ? px[(y - 1) * stride + x] : 0;
      const ul = y && x >= c ? px[(y - 1) * stride + x - c] : 0;
      let v = row[x];
      if (f === 1) v += a;
      else if (f === 2) v += up;
      else if (f === 3) v += (a + up) >> 1;
      else if (f === 4) {
        const p = a + up - ul, pa = Math.abs(p - a), pb = Math.abs(p - up), pc = Math.abs(p - ul);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? up : ul;
      } else if (f !== 0) throw new Error(`${path}: unknown PNG filter ${f}`);
      px[y * stride + x] = v & 255;
    }
  }
  return { w, h, c, px };
}
