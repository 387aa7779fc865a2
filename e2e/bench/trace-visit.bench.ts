import { test } from '@playwright/test';
import * as fs from 'node:fs';

// A repeat visit (service worker installed) under the first-visit bench's throttling,
// traced: `QD_TRACE_VISIT=/tmp/visit.json npx playwright test --config bench.config.ts trace-visit`.
test('trace repeat visit', async ({ browser }) => {
  const out = process.env.QD_TRACE_VISIT ?? '/tmp/trace-visit.json';
  const ctx = await browser.newContext();
  const first = await ctx.newPage();
  await first.goto('/');
  await first.getByRole('button', { name: 'Create account' }).waitFor();
  await first.waitForFunction(() => navigator.serviceWorker.ready.then(() => true));
  await first.waitForTimeout(3000);
  await first.close();
  for (let i = 0; i < 3; i++) {
    const page = await ctx.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 150, downloadThroughput: (1.6 * 1024 * 1024) / 8, uploadThroughput: (750 * 1024) / 8 });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
    if (i === 2) await browser.startTracing(page, { categories: ['devtools.timeline', 'v8', 'v8.wasm', 'disabled-by-default-v8.wasm.detailed', 'loading', 'blink.user_timing', 'disabled-by-default-devtools.timeline', 'ServiceWorker', 'disabled-by-default-v8.cpu_profiler'] });
    const t0 = Date.now();
    await page.goto('/', { waitUntil: 'commit' });
    await page.getByRole('button', { name: 'Create account' }).waitFor();
    const ms = await page.evaluate(() => performance.now());
    console.log('visit', i, 'wall', Date.now() - t0, 'page now', Math.round(ms));
    if (i === 2) fs.writeFileSync(out, await browser.stopTracing());
    await page.close();
  }
  await ctx.close();
});
