/**
 * What a file is, from its first bytes (magic numbers) — never from its name or the
 * Content-Type a client sent. The probe (media-probe.ts) then confirms what the bytes claim.
 */

/** The kinds the pipeline uses: stills and clips under `media/`, music under `music/`. */
export type MediaKind = 'still' | 'clip' | 'audio';

export interface SniffedMedia {
  kind: MediaKind;
  /** container or image format, e.g. `png`, `mp4`, `mov`, `webm`, `mp3`, `flac` */
  format: string;
  content_type: string;
  /** the extensions a file of this format may carry */
  extensions: readonly string[];
}

/** How many leading bytes {@link sniffMedia} and the image header reader need at most. */
export const SNIFF_BYTES = 256 * 1024;

const ascii = (b: Buffer, from: number, to: number) => (b.length >= to ? b.toString('latin1', from, to) : '');

const STILL: Record<string, Omit<SniffedMedia, 'kind'>> = {
  png: { format: 'png', content_type: 'image/png', extensions: ['png'] },
  jpeg: { format: 'jpeg', content_type: 'image/jpeg', extensions: ['jpg', 'jpeg'] },
  webp: { format: 'webp', content_type: 'image/webp', extensions: ['webp'] },
};

// ISO base media brands of audio-only files (iTunes audio, audiobooks); anything else in an
// `ftyp` box is treated as a movie and the probe decides whether it has a picture.
const AUDIO_BRANDS = new Set(['M4A ', 'M4B ', 'M4P ', 'F4A ', 'F4B ']);

function isoMedia(b: Buffer): SniffedMedia | undefined {
  if (ascii(b, 4, 8) !== 'ftyp') return undefined;
  const brand = ascii(b, 8, 12);
  if (AUDIO_BRANDS.has(brand)) return { kind: 'audio', format: 'm4a', content_type: 'audio/mp4', extensions: ['m4a', 'aac', 'mp4'] };
  if (brand === 'qt  ') return { kind: 'clip', format: 'mov', content_type: 'video/quicktime', extensions: ['mov', 'mp4', 'm4v'] };
  return { kind: 'clip', format: 'mp4', content_type: 'video/mp4', extensions: ['mp4', 'm4v', 'mov'] };
}

function mp3(b: Buffer): boolean {
  if (ascii(b, 0, 3) === 'ID3') return true;
  // An MPEG audio frame header: 11 sync bits, layer ≠ 0 (ADTS AAC has layer 0).
  return b.length >= 2 && b[0] === 0xff && (b[1] & 0xe0) === 0xe0 && (b[1] & 0x06) !== 0;
}

const adts = (b: Buffer) => b.length >= 2 && b[0] === 0xff && (b[1] & 0xf6) === 0xf0;

/**
 * The media type the bytes begin with, or undefined for anything else (text, HTML, archives,
 * formats the pipeline does not take).
 */
export function sniffMedia(head: Uint8Array): SniffedMedia | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return { kind: 'still', ...STILL.png };
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { kind: 'still', ...STILL.jpeg };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return { kind: 'still', ...STILL.webp };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WAVE') return { kind: 'audio', format: 'wav', content_type: 'audio/wav', extensions: ['wav'] };
  if (b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3) {
    // EBML: WebM and Matroska. Only the `webm` doc type is taken (the probe checks the codecs).
    return b.subarray(0, 64).includes('webm', 0, 'latin1') ? { kind: 'clip', format: 'webm', content_type: 'video/webm', extensions: ['webm'] } : undefined;
  }
  const iso = isoMedia(b);
  if (iso) return iso;
  if (ascii(b, 0, 4) === 'fLaC') return { kind: 'audio', format: 'flac', content_type: 'audio/flac', extensions: ['flac'] };
  if (ascii(b, 0, 4) === 'OggS') return { kind: 'audio', format: 'ogg', content_type: 'audio/ogg', extensions: ['ogg', 'oga'] };
  if (adts(b)) return { kind: 'audio', format: 'aac', content_type: 'audio/aac', extensions: ['aac'] };
  if (mp3(b)) return { kind: 'audio', format: 'mp3', content_type: 'audio/mpeg', extensions: ['mp3'] };
  return undefined;
}
