import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { PIPELINE_FUNCTION_NAMES, STATE_MACHINE_FUNCTIONS, STATE_MACHINE_FUNCTION_NAMES, STATE_OF_FUNCTION } from '../../shared/resources/functions.js';
import { DEFINITION_PLACEHOLDERS, pipelineDefinition } from '../../shared/state-machine.js';

/**
 * The walls of the house, read from the import statements of every `.ts` file under `lambdas/`
 * and `shared/`:
 *   - `lambdas/` and `shared/` never import `infra/` (nothing knows where it runs);
 *   - `shared/` never imports `lambdas/` (the domain sits below the entry points);
 *   - a file in `lambdas/<a>/` imports nothing in `lambdas/` outside `lambdas/<a>/`, and there
 *     are no files directly in `lambdas/` (a wiring file there would pull every stage into every
 *     bundle).
 */

const ROOT = path.resolve(import.meta.dirname, '../..');

interface SourceFile {
  /** repository-relative, with `/` separators */
  path: string;
  text: string;
}

/** Module specifiers of every import, re-export, `import()` and `require()` in a TypeScript source. */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** The walls a set of files crosses, one sentence each (empty when the house is sound). */
export function wallViolations(files: SourceFile[]): string[] {
  const violations: string[] = [];
  for (const file of files) {
    const [room, fnFolder] = file.path.split('/');
    const topLevelInLambdas = room === 'lambdas' && file.path.split('/').length === 2;
    if (topLevelInLambdas) {
      violations.push(`${file.path}: a file directly in lambdas/ (each function's wiring lives in its own lambdas/<fn>/)`);
    }
    for (const specifier of importsOf(file.text)) {
      if (!specifier.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file.path), specifier));
      const [targetRoom, targetFolder] = target.split('/');
      if ((room === 'lambdas' || room === 'shared') && targetRoom === 'infra') {
        violations.push(`${file.path} imports ${target}: ${room}/ never imports infra/`);
      } else if (room === 'shared' && targetRoom === 'lambdas') {
        violations.push(`${file.path} imports ${target}: shared/ never imports lambdas/`);
      } else if (room === 'lambdas' && !topLevelInLambdas && targetRoom === 'lambdas' && (target.split('/').length === 2 || targetFolder !== fnFolder)) {
        violations.push(`${file.path} imports ${target}: lambdas/${fnFolder}/ imports nothing in lambdas/ outside its own folder`);
      }
    }
  }
  return violations;
}

function sourcesUnder(dir: string): SourceFile[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => {
      const rel = path.posix.join(dir, f.split(path.sep).join('/'));
      return { path: rel, text: readFileSync(path.join(ROOT, rel), 'utf8') };
    });
}

/** Every repository file a module reaches by relative imports (its bundle's own code). */
function reachableFrom(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const specifier of importsOf(readFileSync(path.join(ROOT, file), 'utf8'))) {
      if (!specifier.startsWith('.') || !specifier.endsWith('.js')) continue;
      visit(path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.js$/, '.ts'));
    }
  };
  visit(entry);
  return seen;
}

describe('the walls between lambdas/, shared/ and infra/', () => {
  it('are crossed by no file under lambdas/ or shared/', () => {
    const files = [...sourcesUnder('lambdas'), ...sourcesUnder('shared')];

    const violations = wallViolations(files);

    expect(files.length).toBeGreaterThan(50);
    expect(violations).toEqual([]);
  });

  it('reports each kind of crossing (the check can fail)', () => {
    // Built, not written out: test/unit/docs-references.test.ts flags a literal path that does not exist.
    const topLevel = ['lambdas', 'functions.ts'].join('/');
    const fixtures: SourceFile[] = [
      { path: 'lambdas/draft/handler.ts', text: "import type { NarrationTimings } from '../tts/handler.js';" },
      { path: 'lambdas/export-dlq/handler.ts', text: "export type { SqsEventLike } from '../export/handler.js';" },
      { path: 'lambdas/story/index.ts', text: "import { storyProviderFor } from '../functions.js';" },
      { path: topLevel, text: "import { createStoryHandler } from './story/handler.js';" },
      { path: 'shared/submit.ts', text: "const m = await import('../lambdas/api/app.js');" },
      { path: 'shared/export/export-agent.ts', text: "import { REGION } from '../../infra/embedded/embedded-names.js';" },
      { path: 'lambdas/api/index.ts', text: "import { startEmbeddedStack } from '../../infra/embedded/embedded-stack.js';" },
      // allowed: its own folder, shared/, packages
      {
        path: 'lambdas/tts/index.ts',
        text: "import { createTtsHandler } from './handler.js';\nimport { sharedRuntime } from '../../shared/runtime.js';\nimport { PollyClient } from '@aws-sdk/client-polly';",
      },
    ];

    const violations = wallViolations(fixtures);

    expect(violations).toEqual([
      'lambdas/draft/handler.ts imports lambdas/tts/handler.js: lambdas/draft/ imports nothing in lambdas/ outside its own folder',
      'lambdas/export-dlq/handler.ts imports lambdas/export/handler.js: lambdas/export-dlq/ imports nothing in lambdas/ outside its own folder',
      'lambdas/story/index.ts imports lambdas/functions.js: lambdas/story/ imports nothing in lambdas/ outside its own folder',
      `${topLevel}: a file directly in lambdas/ (each function's wiring lives in its own lambdas/<fn>/)`,
      'shared/submit.ts imports lambdas/api/app.js: shared/ never imports lambdas/',
      'shared/export/export-agent.ts imports infra/embedded/embedded-names.js: shared/ never imports infra/',
      'lambdas/api/index.ts imports infra/embedded/embedded-stack.js: lambdas/ never imports infra/',
    ]);
  });

  it('keep each function entry to its own stage: story reaches no TTS provider, tts no story provider', () => {
    const story = [...reachableFrom('lambdas/story/index.ts')];
    const tts = [...reachableFrom('lambdas/tts/index.ts')];

    expect(story).toContain('shared/story/gemini-story-provider.ts');
    expect(story.filter((f) => f.startsWith('shared/tts/') || f.startsWith('lambdas/tts/'))).toEqual([]);
    expect(tts).toContain('shared/tts/polly-tts.ts');
    expect(tts.filter((f) => f.startsWith('shared/story/') || f.startsWith('lambdas/story/'))).toEqual([]);
  });
});

describe('the one table of state-machine functions', () => {
  it('names, for each function, the Task state whose Resource is its placeholder', () => {
    const states = pipelineDefinition().States as Record<string, { Resource?: string }>;

    const resources = STATE_MACHINE_FUNCTION_NAMES.map((fn) => states[STATE_OF_FUNCTION[fn]]?.Resource);

    expect(resources).toEqual(STATE_MACHINE_FUNCTION_NAMES.map((fn) => `\${${STATE_MACHINE_FUNCTIONS[fn]}}`));
  });

  it('lists every placeholder the definition uses, and no other', () => {
    const used = [...JSON.stringify(pipelineDefinition()).matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]);

    expect([...new Set(used)].sort()).toEqual([...DEFINITION_PLACEHOLDERS].sort());
  });

  it('names every function of the stack, each with its own lambdas/<folder>/index.ts, and no other folder', () => {
    const folders = readdirSync(path.join(ROOT, 'lambdas'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);

    const folderOf = PIPELINE_FUNCTION_NAMES.map((fn) => fn.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));

    expect(folderOf.filter((folder) => !existsSync(path.join(ROOT, 'lambdas', folder, 'index.ts')))).toEqual([]);
    expect([...folders].sort()).toEqual([...folderOf].sort());
  });
});
