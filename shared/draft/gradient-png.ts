import { crc32, deflateSync } from 'node:zlib';

/**
 * An RGB PNG with a vertical gradient from `top` to `bottom` (`#rrggbb`): the generated background
 * as a picture file, for editors that lay files, not generators (the CapCut/JianYing draft).
 */
export function gradientPng(width: number, height: number, top: string, bottom: string): Buffer {
  const [from, to] = [top, bottom].map((hex) => {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex.trim());
    if (!m) throw new RangeError(`colour "${hex}" is not #rrggbb`);
    return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
  });
  const stride = 1 + width * 3;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = height > 1 ? y / (height - 1) : 0;
    const rgb = from.map((c, i) => Math.round(c + (to[i] - c) * f));
    const row = y * stride; // filter byte 0 (None) stays 0
    for (let x = 0; x < width; x++) raw.set(rgb, row + 1 + x * 3);
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body) >>> 0, 4 + body.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit truecolour, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
