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

/** A versioned prompt template whose placeholders are `P`. */
export interface PromptTemplate<P extends string> {
  version: string;
  /** first 16 hex digits of the template's sha256: catches an edited file that kept its name */
  sha256: string;
  render(values: Record<P, string>): string;
}

export type NarrationPrompt = PromptTemplate<Placeholder>;

/** Parses a template text with these placeholders; throws naming any it does not know or lacks (`required`). */
export function promptTemplateFrom<const P extends string>(
  version: string,
  template: string,
  placeholders: readonly P[],
  required: readonly P[],
): PromptTemplate<P> {
  const found = new Set([...template.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]));
  const unknown = [...found].filter((name) => !(placeholders as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`Prompt template ${version} has unknown placeholders: ${unknown.join(', ')}`);
  for (const name of required) if (!found.has(name)) throw new Error(`Prompt template ${version} has no {{${name}}} placeholder`);
  return {
    version,
    sha256: createHash('sha256').update(template).digest('hex').slice(0, 16),
    // One pass: text coming in through a value (the source) is never expanded again.
    render: (values) => template.replace(/\{\{(\w+)\}\}/g, (_whole, name: P) => values[name]),
  };
}

/** Parses a narration template text; throws naming any placeholder it does not know or lacks. */
export function narrationPromptFrom(version: string, template: string): NarrationPrompt {
  return promptTemplateFrom(version, template, PLACEHOLDERS, ['source']);
}

/** The text of `prompts/<version>.txt` next to this module. */
export function readPromptFile(version: string): string {
  if (!/^[a-z0-9-]+$/.test(version)) throw new Error(`Invalid prompt version "${version}"`);
  return readFileSync(new URL(`./prompts/${version}.txt`, import.meta.url), 'utf8');
}

export function loadNarrationPrompt(version: string = NARRATION_PROMPT_VERSION): NarrationPrompt {
  return narrationPromptFrom(version, readPromptFile(version));
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
