import { test, expect, chromium } from './fixtures';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromiumArgs, chromiumExecutable } from '../chromium';

test('the app loads from the server on the account form', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Quietdesk', level: 1 })).toBeVisible();
  await expect(page.getByLabel('Username')).toBeVisible();
  await expect(page.getByLabel('Passphrase')).toBeVisible();
});

test('unknown paths fall back to the app (client-side routes)', async ({ page }) => {
  await page.goto('/customers/some-id');
  await expect(page.getByRole('heading', { name: 'Quietdesk', level: 1 })).toBeVisible();
});

test('usable at 360 px wide with no horizontal scroll', async ({ page }, info) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto('/');
  await expect(page.getByLabel('Username')).toBeVisible();
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(scrollWidth).toBeLessThanOrEqual(360);
  await page.screenshot({ path: info.outputPath('auth-360x740.png'), fullPage: true });
});

test('API errors are JSON with a code and a message', async ({ request }) => {
  const r = await request.post('/api/v1/auth/login', { data: Buffer.from('{not json'), headers: { 'content-type': 'application/json' } });
  expect(r.status()).toBe(400);
  const body = await r.json();
  expect(body.code).toBe('bad_request');
  expect(typeof body.message).toBe('string');
});

test('Chromium finds the app installable (manifest, icons, service worker)', async ({ baseURL }) => {
  // Installability is only judged outside incognito, which every Playwright context is:
  // use a persistent profile in a throwaway folder.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-install-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: chromiumExecutable,
    headless: true,
    args: chromiumArgs,
  });
  try {
    const page = await ctx.newPage();
    await page.goto(baseURL + '/');
    await expect(page.getByLabel('Username')).toBeVisible();
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    const cdp = await ctx.newCDPSession(page);
    const manifest = await cdp.send('Page.getAppManifest');
    expect(manifest.errors).toEqual([]);
    expect(manifest.url).toContain('/manifest.webmanifest');
    await expect
      .poll(async () => (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors.map((e) => e.errorId), { timeout: 20_000 })
      .toEqual([]);
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
