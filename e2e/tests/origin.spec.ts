import { test, expect } from './fixtures';
import { APP_ORIGIN_PORT } from '../playwright.config';
import { passphraseFor, uniqueUser, waitSynced } from './helpers';

// The recommended deployment: the app from a static host, the API from another origin
// (so whoever takes over the data server does not control the code users run).
test('the app served from another origin than the API works end to end', async ({ page, baseURL }) => {
  test.setTimeout(90_000);
  const appOrigin = `http://127.0.0.1:${APP_ORIGIN_PORT}`;
  const apiOrigin = new URL(baseURL!).origin;
  const apiCalls = new Set<string>();
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) apiCalls.add(u.origin);
  });
  const user = uniqueUser('org');
  await page.goto(`${appOrigin}/`);
  await page.getByRole('button', { name: 'New account' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Create a team' }).click({ timeout: 30_000 });
  await page.getByRole('link', { name: 'New customer' }).click({ timeout: 30_000 });
  await page.getByLabel('Name', { exact: true }).fill('Cross Origin Customer');
  await page.getByRole('button', { name: 'Create customer' }).click();
  await expect(page.getByRole('heading', { name: 'Cross Origin Customer' })).toBeVisible();
  await waitSynced(page);
  expect([...apiCalls]).toEqual([apiOrigin]);
});
