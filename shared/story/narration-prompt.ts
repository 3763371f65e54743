import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * The narration prompt: a versioned template file, `prompts/<version>.txt` next to this module
 * (a Lambda bundle must ship the `prompts/` folder beside its entry file). A new wording is a new
 * file and a new version, so every story in the task records names the exact prompt behind it.
 *
 * Placeholders: `{{language}}`, `{{target_chars}}`, `{{max_chars}}`, `{{source}}`.
 */
export const NARRATION_PROMPT_VERSION = 'narration-v1';

const PLACEHOLDERS = ['language', 'target_chars', 'max_chars', 'source'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

export interface NarrationPrompt {
  version: string;
  /** first 16 hex digits of the template's sha256: catches an edited file that kept its name */
  sha256: string;
  render(values: Record<Placeholder, string>): string;
}

/** Parses a template text; throws naming any placeholder it does not know or lacks. */
export function narrationPromptFrom(version: string, template: string): NarrationPrompt {
  const found = new Set([...template.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]));
  const unknown = [...found].filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`Prompt template ${version} has unknown placeholders: ${unknown.join(', ')}`);
  if (!found.has('source')) throw new Error(`Prompt template ${version} has no {{source}} placeholder`);
  return {
    version,
    sha256: createHash('sha256').update(template).digest('hex').slice(0, 16),
    // One pass: text coming in through a value (the source) is never expanded again.
    render: (values) => template.replace(/\{\{(\w+)\}\}/g, (_whole, name: Placeholder) => values[name]),
  };
}

export function loadNarrationPrompt(version: string = NARRATION_PROMPT_VERSION): NarrationPrompt {
  if (!/^[a-z0-9-]+$/.test(version)) throw new Error(`Invalid prompt version "${version}"`);
  const template = readFileSync(new URL(`./prompts/${version}.txt`, import.meta.url), 'utf8');
  return narrationPromptFrom(version, template);
}

/** `auto` → follow the source; a BCP 47 tag → its English name and the tag ("Chinese (China) [zh-CN]"). */
export function describeLanguage(tag: string): string {
  if (tag === 'auto') return 'the same language as the source material';
  let name: string | undefined;
  try {
    name = new Intl.DisplayNames(['en'], { type: 'language' }).of(tag);
  } catch {
    throw new ConfigError('STORY_LANGUAGE', `"${tag}" is not a language tag (use e.g. zh-CN, en, ja, or auto)`);
  }
  return name && name !== tag ? `${name} [${tag}]` : tag;
}
