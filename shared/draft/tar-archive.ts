import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';

/**
 * A gzipped POSIX tar (ustar with pax headers for long names) of in-memory files, so an exporter
 * that needs the editor's draft folder can fetch it in one download and unpack it with any `tar`.
 * Folder names reach 166 characters (`{creator}_{video}_{task}`), past ustar's 100, hence pax.
 */
export function tarGz(files: Array<{ path: string; bytes: Uint8Array | string }>, mtimeSeconds: number): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const body = typeof file.bytes === 'string' ? Buffer.from(file.bytes, 'utf8') : Buffer.from(file.bytes);
    blocks.push(tarEntryHeader(file.path, body.length, mtimeSeconds), body, tarPadding(body.length));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** The bytes of one archive entry, opened when the archive reaches it. */
export interface TarStreamEntry {
  path: string;
  /** the entry's size and its bytes as a stream (read once, to its end) */
  open: () => Promise<{ size: number; body: AsyncIterable<Uint8Array> | Iterable<Uint8Array> }>;
}

/** The stream ended short of, or ran past, the size its tar header announced. */
export class TarEntrySizeError extends Error {
  constructor(path: string, announced: number, actual: number) {
    super(`The archive entry ${path} announced ${announced} bytes but its stream ${actual > announced ? 'ran past that' : `ended after ${actual}`}.`);
    this.name = 'TarEntrySizeError';
  }
}

/**
 * The same gzipped tar as {@link tarGz}, as a stream: each entry is opened when the archive
 * reaches it and its bytes pass straight through, so the archive of a folder of large clips
 * never sits in memory (only the streams' buffers do). The stream fails if an entry's bytes do
 * not match the size it announced.
 */
export function tarGzStream(entries: TarStreamEntry[], mtimeSeconds: number): Readable {
  async function* tar(): AsyncGenerator<Buffer> {
    for (const entry of entries) {
      const { size, body } = await entry.open();
      yield tarEntryHeader(entry.path, size, mtimeSeconds);
      let seen = 0;
      for await (const chunk of body) {
        seen += chunk.length;
        if (seen > size) throw new TarEntrySizeError(entry.path, size, seen);
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      if (seen !== size) throw new TarEntrySizeError(entry.path, size, seen);
      yield tarPadding(size);
    }
    yield Buffer.alloc(1024);
  }
  const source = Readable.from(tar(), { objectMode: false });
  // Media are compressed already: the fastest level costs a fraction of the default's time and
  // still shrinks the JSON files.
  const gzip = createGzip({ level: 1 });
  source.on('error', (error) => gzip.destroy(error));
  gzip.on('close', () => source.destroy());
  return source.pipe(gzip);
}

/** The header block(s) of an entry: a pax record first when the path is longer than ustar's 100 bytes. */
function tarEntryHeader(path: string, size: number, mtimeSeconds: number): Buffer {
  const main = header({ name: shortName(path), size, type: '0', mtime: mtimeSeconds });
  if (Buffer.byteLength(path) <= 100) return main;
  const record = paxRecord('path', path);
  return Buffer.concat([
    header({ name: `PaxHeader/${shortName(path)}`, size: record.length, type: 'x', mtime: mtimeSeconds }),
    record,
    tarPadding(record.length),
    main,
  ]);
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

/** Zeros up to the next 512-byte block after `size` bytes. */
function tarPadding(size: number): Buffer {
  const remainder = size % 512;
  return Buffer.alloc(remainder ? 512 - remainder : 0);
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
