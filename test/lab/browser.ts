// Debian's Chromium for the page tests, through playwright-core (no browser download), with the
// flags this machine needs headless: no sandbox as root, no GPU, and no background connections
// (the closed network refuses them, many at a time).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Chromium with those flags. `executablePath`: another way to start the same binary (e.g. a wrapper
 * that enters a network namespace first); `profile`: the profile directory (by default a fresh one in
 * a temporary directory). The caller closes the context and removes `profile`.
 */
export async function launchChromium(
  opts: { executablePath?: string; profile?: string } = {},
): Promise<{ browser: BrowserContext; profile: string }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`);
  const profile = opts.profile ?? mkdtempSync(join(tmpdir(), 'tunguard-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: opts.executablePath ?? CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
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
  return { browser, profile };
}
