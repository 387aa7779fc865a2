// Every test imports `test` from here: a test fails on any uncaught error or Rust panic
// in any page it opened (its own page, and every context it makes with
// `browser.newContext` or `browser.newPage`), and the error is printed with the page's
// address. A panic in the app's wasm poisons the page for good, so a test that passes
// beside one proves nothing.
import { test as base, expect, Browser, BrowserContext, Page } from '@playwright/test';

export * from '@playwright/test';

/** What a page printed or threw that no test may pass beside. */
const PANIC = /panicked at|RuntimeError|already been disposed/;

function watch(ctx: BrowserContext, errors: string[]) {
  const onPage = (page: Page) => {
    page.on('pageerror', (e) => errors.push(`${page.url()}: uncaught ${e.name}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && PANIC.test(m.text())) errors.push(`${page.url()}: console: ${m.text()}`);
    });
  };
  ctx.pages().forEach(onPage);
  ctx.on('page', onPage);
}

export const test = base.extend<{ pageErrors: string[] }>({
  pageErrors: [
    async ({ browser, context }, use) => {
      const errors: string[] = [];
      watch(context, errors);
      const b = browser as Browser & { newContext: Browser['newContext'] };
      const newContext = b.newContext;
      b.newContext = async (...args: Parameters<Browser['newContext']>) => {
        const ctx = await newContext.apply(b, args);
        watch(ctx, errors);
        return ctx;
      };
      try {
        await use(errors);
      } finally {
        b.newContext = newContext;
      }
      expect(errors, 'uncaught errors or panics in the pages this test opened').toEqual([]);
    },
    { auto: true },
  ],
});
