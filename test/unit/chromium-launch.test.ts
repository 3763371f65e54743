import { describe, expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.js';

describe('the browser tests without chromium', () => {
  it('fail with the install command instead of skipping', async () => {
    await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow(
      "/nonexistent/chromium is missing: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it).",
    );
  });
});
