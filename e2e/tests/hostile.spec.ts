import { test, expect } from '@playwright/test';
import { createAccount, createTeam, passphraseFor, uniqueUser } from './helpers';

// A server that lies, in the browser: Playwright rewrites the real server's answers on
// their way to the app (the native scenarios are in server/tests/hostile.rs).

test('log-in refuses weaker passphrase settings from the server and sends no auth key', async ({ browser }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('kdf');
  const first = await browser.newContext();
  await createAccount(await first.newPage(), user);
  await first.close();

  // A new device; the server hands out the cheapest Argon2 settings the format allows.
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  let loginSent = false;
  await page.route('**/api/v1/auth/prelogin', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    body.kdf = { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 };
    await route.fulfill({ response: real, json: body });
  });
  await page.route('**/api/v1/auth/login', async (route) => {
    loginSent = true;
    await route.continue();
  });
  await page.goto('/');
  await page.getByRole('button', { name: 'Log in on this device' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('weaker passphrase protection', { timeout: 20_000 });
  expect(loginSent).toBe(false);
  await ctx.close();
});

test('an invitation the server lists with another role is refused, and nobody is added', async ({ browser }) => {
  test.setTimeout(90_000);
  const [adminCtx, joinerCtx] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [admin, joiner] = await Promise.all([adminCtx.newPage(), joinerCtx.newPage()]);
  const [adminName, joinerName] = [uniqueUser('adm'), uniqueUser('sup')];
  await createAccount(admin, adminName);
  await createTeam(admin);
  await createAccount(joiner, joinerName);

  await admin.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await admin.getByLabel('Invite as').selectOption('support');
  await admin.getByRole('button', { name: 'Create invitation link' }).click();
  const linkField = admin.getByLabel(/^Invitation link/);
  await expect(linkField).toHaveValue(/#join=/);
  await joiner.getByLabel('Invitation link').fill(await linkField.inputValue());
  await joiner.getByRole('button', { name: 'Accept invitation' }).click();
  await expect(joiner.getByRole('status', { name: 'Invitation status' })).toContainText('Invitation answered');

  // The server turns the support invitation into a manager one.
  await admin.route('**/api/v1/teams/*/invites', async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    const real = await route.fetch();
    const body = await real.json();
    for (const i of body.invites) i.role = 'manager';
    await route.fulfill({ response: real, json: body });
  });
  await admin.getByRole('button', { name: 'Check invitations' }).click();
  const open = admin.getByRole('list', { name: 'Open invitations' });
  await expect(open).toContainText('Refused: the server lists this invitation as manager');
  await expect(open.getByRole('button', { name: `Add ${joinerName}` })).toHaveCount(0);
  await expect(admin.getByRole('list', { name: 'Members' })).not.toContainText(joinerName);
  for (const c of [adminCtx, joinerCtx]) await c.close();
});

test('a device_wiped the server forges without a signed order erases nothing', async ({ page }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('wip');
  await createAccount(page, user);
  await createTeam(page);

  // From now on the server claims this device was wiped, with no order anyone signed.
  const forged = { code: 'device_wiped', message: 'this device was signed out remotely' };
  await page.route('**/api/v1/teams/*/push', (route) => route.fulfill({ status: 401, json: forged }));
  await page.route('**/api/v1/teams/*/pull*', (route) => route.fulfill({ status: 401, json: forged }));
  await page.getByRole('link', { name: 'New customer' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Canary Unsent Customer');
  await page.getByRole('button', { name: 'Create customer' }).click();
  await expect(page.getByRole('heading', { name: 'Canary Unsent Customer' })).toBeVisible();

  const status = page.getByRole('status', { name: 'Sync status' });
  await expect(status).toContainText('nothing was erased', { timeout: 20_000 });
  await expect(status).toContainText('gave no signed order');
  // The local database, with the unsent edit, is still there.
  const names = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''));
  expect(names).toContain(`quietdesk:${user}`);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByRole('list', { name: 'Customers' })).toContainText('Canary Unsent Customer');
});
