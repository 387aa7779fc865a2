import { test, expect } from '@playwright/test';

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
