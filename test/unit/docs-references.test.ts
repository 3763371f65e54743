import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * What the documents and comments point to exists: markdown links in README.md and docs/*.md
 * (files and #anchors), repository paths named anywhere in them or in source comments
 * (`shared/…`, `docs/…`, …), and bare document names such as `SETTINGS.md`. And the documents
 * stay inside the repository: a reader of a clone can follow every link.
 */
const FILES = execFileSync('git', ['ls-files'], { encoding: 'utf8' }).split('\n').filter(Boolean);
const DOCS = FILES.filter((f) => f === 'README.md' || /^docs\/[^/]+\.md$/.test(f));
// This file names missing documents on purpose (in its own comments), so it is not read.
const SOURCES = FILES.filter((f) => /^(shared|lambdas|infra|test|bench|scripts|types)\/.*\.ts$/.test(f) && f !== 'test/unit/docs-references.test.ts');
const NAMES = new Set(FILES.map((f) => basename(f)));

const REPO_PATH = /(?<![\w./-])((?:shared|lambdas|infra|test|docs|bench|scripts|types)\/[\w./-]*\.(?:md|ts|json|svg|csv))(?![\w/-])/g;
const BARE_DOC = /(?<![\w./-])([A-Za-z][\w-]*\.md)(?![\w/-])/g;

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string) =>
  heading
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}_ -]/gu, '')
    .replace(/ /g, '-');

const withoutCodeBlocks = (text: string) => text.replace(/^```[\s\S]*?^```/gm, '');

function headingsOf(file: string): Set<string> {
  const text = withoutCodeBlocks(readFileSync(file, 'utf8'));
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1])));
}

function missingReferences(file: string, text: string): string[] {
  const missing: string[] = [];
  for (const [, path] of text.matchAll(REPO_PATH)) if (!existsSync(path)) missing.push(`${file}: ${path}`);
  for (const [, name] of text.matchAll(BARE_DOC)) if (!NAMES.has(name)) missing.push(`${file}: ${name}`);
  return missing;
}

describe('references in documents and comments', () => {
  it('resolves every relative markdown link of README.md and docs/, anchors included', () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      for (const [, target] of withoutCodeBlocks(readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path, fragment] = target.split('#');
        const resolved = path ? normalize(join(dirname(file), path)) : file;
        if (!existsSync(resolved)) broken.push(`${file}: ${target}`);
        else if (fragment && resolved.endsWith('.md') && !headingsOf(resolved).has(fragment)) broken.push(`${file}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('links nowhere outside the repository: no web addresses, no relative link that climbs out of it', () => {
    const outside: string[] = [];
    for (const file of DOCS) {
      const prose = withoutCodeBlocks(readFileSync(file, 'utf8')).replace(/`[^`\n]*`/g, '');
      for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const [path] = target.split('#');
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || (path && normalize(join(dirname(file), path)).startsWith('..'))) outside.push(`${file}: ${target}`);
      }
      for (const [url] of prose.matchAll(/\b(?:https?|ftp):\/\/[^\s)>]+|\bwww\.[^\s)>]+/gi)) outside.push(`${file}: ${url}`);
    }
    expect(outside).toEqual([]);
  });

  it("keeps README.md a newcomer's page of at most 250 lines, the depth in docs/", () => {
    expect(readFileSync('README.md', 'utf8').split('\n').length).toBeLessThanOrEqual(250);
  });

  it('names only files that exist, in the documents and in source comments', () => {
    const missing = [
      ...DOCS.flatMap((file) => missingReferences(file, readFileSync(file, 'utf8'))),
      ...SOURCES.flatMap((file) => missingReferences(file, readFileSync(file, 'utf8'))),
    ];
    expect(missing).toEqual([]);
  });
});
