import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSettingsDoc } from '../../scripts/settings-doc.js';
import { SETTING_ENV_NAMES } from '../../shared/settings.js';

/** docs/settings.md is generated from the settings schema; the committed copy must be the current one. */
describe('docs/settings.md', () => {
  it('is what npm run docs:settings writes from the schema (run it after changing shared/settings.ts)', () => {
    const committed = readFileSync('docs/settings.md', 'utf8');

    expect(committed).toBe(renderSettingsDoc());
  });

  it('has one row per setting, each naming its variable once', () => {
    const rows = readFileSync('docs/settings.md', 'utf8')
      .split('\n')
      .filter((line) => /^\| `[A-Z0-9_]+` \|/.test(line))
      .map((line) => /^\| `([A-Z0-9_]+)`/.exec(line)![1]);

    expect(rows).toEqual([...SETTING_ENV_NAMES]);
  });
});
