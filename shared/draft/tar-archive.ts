import { gzipSync } from 'node:zlib';

/**
 * A gzipped POSIX tar (ustar with pax headers for long names) of in-memory files, so an exporter
 * that needs the editor's draft folder can fetch it in one download and unpack it with any `tar`.
 * Folder names reach 166 characters (`{creator}_{video}_{task}`), past ustar's 100, hence pax.
 */
export function tarGz(files: Array<{ path: string; bytes: Uint8Array | string }>, mtimeSeconds: number): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const body = typeof file.bytes === 'string' ? Buffer.from(file.bytes, 'utf8') : Buffer.from(file.bytes);
    if (Buffer.byteLength(file.path) > 100) {
      const record = paxRecord('path', file.path);
      blocks.push(header({ name: `PaxHeader/${shortName(file.path)}`, size: record.length, type: 'x', mtime: mtimeSeconds }), pad(record));
    }
    blocks.push(header({ name: shortName(file.path), size: body.length, type: '0', mtime: mtimeSeconds }), pad(body));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** `"<len> key=value\n"` where len counts the whole record, itself included. */
function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
  return Buffer.from(`${length}${rest}`, 'utf8');
}

/** The ustar name field's fallback for tools without pax: the last 100 bytes' worth of the path. */
function shortName(path: string): string {
  let name = path;
  while (Buffer.byteLength(name) > 100) name = name.slice(1);
  return name;
}

function pad(body: Buffer): Buffer {
  const remainder = body.length % 512;
  return remainder ? Buffer.concat([body, Buffer.alloc(512 - remainder)]) : body;
}

function header(a: { name: string; size: number; type: '0' | 'x'; mtime: number }): Buffer {
  const h = Buffer.alloc(512);
  const put = (offset: number, length: number, value: string) => h.write(value, offset, length, 'utf8');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  put(0, 100, a.name);
  put(100, 8, octal(0o644, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(a.size, 12));
  put(136, 12, octal(a.mtime, 12));
  h.fill(' ', 148, 156);
  put(156, 1, a.type);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const byte of h) sum += byte;
  put(148, 8, `${octal(sum, 7)}\0`);
  return h;
}
