/**
 * The creator's file names under `sources/<creator>/<video>/media/` and `…/music/`: readable
 * Unicode (Chinese names are normal) that can never leave their folder.
 */
import { PREFIX } from '../resources/storage.js';
import { MediaRejectedError } from './media-errors.js';

/** The two folders of a video's media, and what each holds. */
export type MediaFolder = 'media' | 'music';

/** Longest file name, in characters (code points) after NFC. */
export const MAX_MEDIA_NAME_CHARACTERS = 200;

/** The extensions each folder accepts (lower case; the bytes must agree, see media-sniff.ts). */
export const FOLDER_EXTENSIONS: Record<MediaFolder, readonly string[]> = {
  media: ['png', 'jpg', 'jpeg', 'webp', 'mp4', 'm4v', 'mov', 'webm'],
  music: ['mp3', 'wav', 'aac', 'm4a', 'flac', 'ogg', 'oga'],
};

/** Where one folder of a video's media lives: `sources/<creator>/<video>/<folder>/`. */
export const sourceFolderPrefix = (creatorId: string, videoId: string, folder: MediaFolder) => `${PREFIX.sources}${creatorId}/${videoId}/${folder}/`;

/**
 * Control (Cc), format (Cf: bidi overrides, zero-width joiners), line/paragraph separators,
 * unassigned and private-use code points, and the characters no file system or shell handles
 * well: separators and their look-alikes, and the Windows-reserved ones.
 */
export const FORBIDDEN_NAME_CHARACTERS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cn}\p{Co}\p{Cs}/\\:*?"<>|\u2215\u2044\u29f8\uff0f\uff3c]/u;

/**
 * The stored name of an uploaded file: the name as given, NFC-normalized, checked — never
 * rewritten, so what the creator lists is what they uploaded. Refused (`invalid_file_name`, or
 * `unsupported_extension` for a folder that does not take it): empty, `.`/`..` or a leading dot,
 * a separator or a look-alike of one (`/ \ ∕ ⁄ ／ ＼`), NUL and other control or invisible
 * format characters, Windows-reserved characters, leading/trailing spaces, names over
 * {@link MAX_MEDIA_NAME_CHARACTERS} characters, and a name without one of the folder's extensions.
 *
 * @example
 * mediaFileName('media', '01 山顶 日出.JPG'); // '01 山顶 日出.JPG'
 * mediaFileName('media', '../x.png');          // throws MediaRejectedError('invalid_file_name')
 */
export function mediaFileName(folder: MediaFolder, raw: string): string {
  const name = raw.normalize('NFC');
  const refuse = (why: string) => new MediaRejectedError('invalid_file_name', `The file name ${why}; use a plain name such as "01-山顶.jpg".`);
  if (name.length === 0) throw refuse('is empty');
  if ([...name].length > MAX_MEDIA_NAME_CHARACTERS) throw refuse(`is longer than ${MAX_MEDIA_NAME_CHARACTERS} characters`);
  if (FORBIDDEN_NAME_CHARACTERS.test(name)) throw refuse('contains a separator, a control or invisible character, or one of : * ? " < > |');
  if (name.startsWith('.')) throw refuse('starts with a dot (hidden files, "." and ".." are not media)');
  if (name !== name.trim() || name.endsWith('.')) throw refuse('starts or ends with a space or ends with a dot');
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  if (!FOLDER_EXTENSIONS[folder].includes(extension)) {
    const what = folder === 'media' ? 'stills (PNG, JPEG, WebP) and clips (MP4, MOV, WebM)' : 'music (MP3, WAV, AAC/M4A, FLAC, OGG)';
    throw new MediaRejectedError('unsupported_extension', `${folder}/ holds ${what}: the name must end in one of .${FOLDER_EXTENSIONS[folder].join(', .')}.`);
  }
  return name;
}

/** The lower-case extension of a name already accepted by {@link mediaFileName}. */
export const extensionOf = (name: string) => name.slice(name.lastIndexOf('.') + 1).toLowerCase();
