import { test, expect } from './fixtures';
import { createAccount, createTeam, uniqueUser } from './helpers';

// Script in the app's origin (SECURITY.md, "Script in the app's origin"): no markup from
// the server reaches the page, the page's policy refuses inline script, and the service
// worker keeps only the release's own files.

test('the page is served with a strict Content-Security-Policy and runs without breaking it', async ({ page }) => {
  test.setTimeout(90_000);
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  const response = await page.goto('/');
  const csp = response!.headers()['content-security-policy'] ?? '';
  for (const d of ["script-src 'self' 'wasm-unsafe-eval'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) {
    expect(csp).toContain(d);
  }
  const user = uniqueUser('csp');
  await createAccount(page, user);
  await createTeam(page);
  // Markup that reaches the page anyway cannot run script.
  const ran = await page.evaluate(async () => {
    const s = document.createElement('script');
    s.textContent = 'window.__injected = true;';
    document.head.appendChild(s);
    const img = document.createElement('img');
    img.setAttribute('src', 'data:,x');
    img.setAttribute('onerror', 'window.__injected = true');
    img.setAttribute('onload', 'window.__injected = true');
    document.body.appendChild(img);
    await new Promise((r) => setTimeout(r, 300));
    return (window as any).__injected === true;
  });
  expect(ran, 'inline script ran').toBe(false);
  expect(violations.filter((v) => !v.includes('__injected') && !v.includes("'unsafe-inline'")), 'the app itself needs nothing the policy refuses').toEqual([]);
});

test('two-factor set-up draws its own QR code and ignores markup from the server', async ({ page }) => {
  test.setTimeout(90_000);
  await createAccount(page, uniqueUser('qrx'));
  await createTeam(page);
  // A server that sends script as the QR code, as the old answer's `qr_svg` would have.
  await page.route('**/api/v1/2fa/setup', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    body.qr_svg = '<img src=x onerror="window.__pwned = true">';
    await route.fulfill({ response: real, json: body });
  });
  await page.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toBeVisible();
  await expect(page.locator('.qr img')).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
});

test('two-factor set-up refuses a key that is not one', async ({ page }) => {
  test.setTimeout(90_000);
  await createAccount(page, uniqueUser('qrk'));
  await createTeam(page);
  await page.route('**/api/v1/2fa/setup', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    body.secret = '<svg onload=alert(1)>';
    await route.fulfill({ response: real, json: body });
  });
  await page.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await expect(page.getByText('The server sent an authenticator key that is not one')).toBeVisible();
  await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toHaveCount(0);
});

test('the service worker drops a kept file a script altered and serves the released one', async ({ page }) => {
  test.setTimeout(90_000);
  await page.goto('/');
  await expect(page.getByRole('button', { name: 'New account' })).toBeVisible({ timeout: 30_000 });
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  const start = await page.evaluate(() => document.querySelector('script[type=module][src]')!.getAttribute('src')!);
  // A script of the origin writes its own code over the kept start script and page.
  await page.evaluate(async (path) => {
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      await cache.put(path, new Response('window.__pwned = true;', { headers: { 'content-type': 'text/javascript' } }));
      await cache.put('/', new Response('<!doctype html><p id=evil>changed</p>', { headers: { 'content-type': 'text/html' } }));
    }
  }, start);
  const again = await page.reload();
  expect(again?.fromServiceWorker()).toBe(true);
  await expect(page.getByRole('button', { name: 'New account' })).toBeVisible({ timeout: 30_000 });
  expect(await page.locator('#evil').count()).toBe(0);
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  // The released copies are kept again.
  const kept = await page.evaluate(async (path) => [await (await caches.match(path))?.text(), await (await caches.match('/'))?.text()], start);
  expect(kept[0]).toContain("import init from");
  expect(kept[1]).toContain('id="app-modules"');
});
