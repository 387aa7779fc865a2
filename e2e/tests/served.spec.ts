import { test, expect } from './fixtures';

// What a first visit costs on the wire: the app's files come precompressed (brotli),
// and everything before a usable login screen stays within the budget. Bytes, not
// time: the time under a throttled link is in the browser benchmark.
for (const locale of ['en-US', 'zh-CN']) test(`a first visit (${locale}) moves at most 300,000 bytes before the login screen, brotli-compressed`, async ({ browser }) => {
  const ctx = await browser.newContext({ locale });
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  const urls = new Map<string, string>();
  cdp.on('Network.requestWillBeSent', (e: any) => { urls.set(e.requestId, e.request.url); });
  cdp.on('Network.loadingFinished', (e: any) => { bytes += e.encodedDataLength; if (process.env.QD_BYTES) console.log(e.encodedDataLength, urls.get(e.requestId)); });
  const encodings = new Map<string, string>();
  page.on('response', async (r) => {
    encodings.set(new URL(r.url()).pathname, (await r.allHeaders())['content-encoding'] ?? 'none');
  });
  await page.goto('/');
  await expect(page.getByRole('button', { name: locale === 'en-US' ? 'Create account' : '创建账号' })).toBeVisible({ timeout: 30_000 });
  const wasm = [...encodings.keys()].find((p) => p.endsWith('.wasm'));
  expect(wasm, 'the app module was fetched').toBeTruthy();
  expect(encodings.get(wasm!)).toBe('br');
  expect(bytes).toBeGreaterThan(100_000);
  expect(bytes).toBeLessThanOrEqual(300_000);
  console.log(`first visit (${locale}): ${bytes} bytes on the wire before the login screen`);
  await ctx.close();
});
