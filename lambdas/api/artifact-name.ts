import { FORBIDDEN_NAME_CHARACTERS, MAX_MEDIA_NAME_CHARACTERS } from '../../shared/media/media-name.js';

/** Deepest artifact path the route serves (e.g. `draft/<folder>/materials/<file>` is 4). */
const MAX_SEGMENTS = 8;

/**
 * The artifact name in the still percent-encoded tail of an artifacts URL (`draft/草稿/materials/01-%E5%B1%B1.jpg`),
 * or undefined when it is not a plain relative name inside the task's folder.
 *
 * Real slashes separate the segments; each segment is decoded once, on its own, so an encoded
 * slash or backslash (`..%2f`, `%5c`) stays inside a segment and is refused there rather than
 * becoming a separator. A segment is refused when it is empty (a leading slash, `//`), is `.` or
 * `..` or starts with a dot, has a broken escape, NUL or another control or invisible character,
 * a separator or a look-alike of one (`∕ ⁄ ／ ＼`), a Windows-reserved character, a leading or
 * trailing space, or more than {@link MAX_MEDIA_NAME_CHARACTERS} characters — the rules of the
 * creator's media names, which become material names in the draft. Names are NFC, as stored.
 *
 * @example
 * artifactNameFromPath('draft/f/materials/01-%E5%B1%B1.jpg'); // 'draft/f/materials/01-山.jpg'
 * artifactNameFromPath('..%2f..%2fsources%2fx');              // undefined
 */
export function artifactNameFromPath(encoded: string): string | undefined {
  const raw = encoded.split('/');
  if (raw.length > MAX_SEGMENTS) return undefined;
  const segments: string[] = [];
  for (const part of raw) {
    let segment: string;
    try {
      segment = decodeURIComponent(part).normalize('NFC');
    } catch {
      return undefined;
    }
    if (segment.length === 0 || segment.startsWith('.') || segment !== segment.trim()) return undefined;
    if ([...segment].length > MAX_MEDIA_NAME_CHARACTERS || FORBIDDEN_NAME_CHARACTERS.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments.join('/');
}

/** The URL tail of an artifact name: each segment percent-encoded, the slashes kept. */
export const artifactPathOf = (name: string) => name.split('/').map(encodeURIComponent).join('/');
