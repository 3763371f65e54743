import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (`apt-get install -y chromium`); `npx playwright install` cannot download here. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Launches Debian's chromium headless, with the platform's flags and a fresh profile (playwright
 * makes a temporary one per launch and refuses `--user-data-dir`). Throws — the browser tests fail, they
 * do not skip — when it is not installed.
 */
export async function launchChromium(executablePath = CHROMIUM_PATH): Promise<{ browser: Browser; close: () => Promise<void> }> {
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it).`);
  }
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}
