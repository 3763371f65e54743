/**
 * The subtitle font: Noto Sans SC from `@expo-google-fonts/noto-sans-sc`, and a fontconfig file
 * that keeps the static ffmpeg away from the system's font configuration.
 */
import { access, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

/** Family name inside the bundled Noto Sans SC TTFs (what libass matches `FontName` against). */
export const SUBTITLE_FONT_FAMILY = 'Noto Sans SC';

const requireFromHere = createRequire(import.meta.url);
let installedFontsDir: string | undefined;

// Resolved on first use, not at import: a Lambda bundle may ship its own fonts.
function notoSansScDir(): string {
  installedFontsDir ??= path.dirname(requireFromHere.resolve('@expo-google-fonts/noto-sans-sc/package.json'));
  return installedFontsDir;
}

/** Where {@link prepareFonts} put the font files and the fontconfig file. */
export interface RenderFonts {
  /** for libass `fontsdir` */
  fontsDir: string;
  /** for ffmpeg's `FONTCONFIG_FILE` */
  fontconfigFile: string;
}

/**
 * A fonts folder holding only Noto Sans SC Regular and Bold (libass loads every file of
 * `fontsdir` into memory, so not the whole 9-weight package), and a fontconfig file that scans
 * nothing: without it the static ffmpeg reads the system's newer config, warns on every file,
 * and the first render rebuilds a font cache for ~18 s.
 */
export async function prepareFonts(workDir: string): Promise<RenderFonts> {
  const fontsDir = path.join(workDir, 'fonts');
  await mkdir(fontsDir, { recursive: true });
  const pkg = notoSansScDir();
  for (const file of ['400Regular/NotoSansSC_400Regular.ttf', '700Bold/NotoSansSC_700Bold.ttf']) {
    const target = path.join(fontsDir, path.basename(file));
    try {
      await access(target);
    } catch {
      await symlink(path.join(pkg, file), target).catch(() => copyFile(path.join(pkg, file), target));
    }
  }
  const cacheDir = path.join(workDir, 'fontconfig-cache');
  const fontconfigFile = path.join(workDir, 'fonts.conf');
  await writeFile(
    fontconfigFile,
    `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <cachedir>${xmlEscape(cacheDir)}</cachedir>\n</fontconfig>\n`,
  );
  return { fontsDir, fontconfigFile };
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
