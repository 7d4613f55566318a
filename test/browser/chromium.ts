/** Debian's Chromium, headless, through playwright-core: one launcher for the browser tests, screenshots and bench. */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const VIEWPORT = { width: 1280, height: 800 };

export interface ConsoleBrowser {
  browser: Browser;
  /** A new page (its own context: empty sessionStorage) at `url`, signed in with `key` when given. */
  open(url: string, key?: string): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<ConsoleBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    // playwright gives every launch a fresh --user-data-dir of its own (and removes it on close).
  });
  return {
    browser,
    open: async (url, key) => {
      const context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-US' });
      if (key) {
        await context.addInitScript(`sessionStorage.setItem('whetstone.apiKey', ${JSON.stringify(key)})`);
      }
      const page = await context.newPage();
      await page.goto(url);
      return page;
    },
    close: () => browser.close(),
  };
}
