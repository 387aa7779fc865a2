import { test, expect } from '@playwright/test';

// What a first visit costs on the wire: the app's files come precompressed (brotli),
// and everything before a usable login screen stays within the budget. Bytes, not
// time: the time under a throttled link is in the browser benchmark.
test('a first visit moves at most 500,000 bytes before the login screen, brotli-compressed', async ({ browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e: any) => { bytes += e.encodedDataLength; });
  const encodings = new Map<string, string>();
  page.on('response', async (r) => {
    encodings.set(new URL(r.url()).pathname, (await r.allHeaders())['content-encoding'] ?? 'none');
  });
  await page.goto('/');
  await expect(page.getByRole('button', { name: 'Create account' })).toBeVisible({ timeout: 30_000 });
  const wasm = [...encodings.keys()].find((p) => p.endsWith('.wasm'));
  expect(wasm, 'the app module was fetched').toBeTruthy();
  expect(encodings.get(wasm!)).toBe('br');
  expect(bytes).toBeGreaterThan(100_000);
  expect(bytes).toBeLessThanOrEqual(500_000);
  console.log(`first visit: ${bytes} bytes on the wire before the login screen`);
  await ctx.close();
});
