import { test, expect } from './fixtures';
import { createAccount, createTeam, logInOnNewDevice, passphraseFor, uniqueUser } from './helpers';

// Retried: the app reloads itself around a wipe, and an evaluate caught by that
// navigation is simply asked again.
const dbNames = async (page: import('@playwright/test').Page): Promise<string[]> => {
  for (let i = 0; ; i++) {
    try {
      await page.waitForLoadState();
      return await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''));
    } catch (e) {
      if (i >= 5) throw e;
      await page.waitForTimeout(200);
    }
  }
};

test('a device signed out from another one erases its local data at its next contact', async ({ browser }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('dev');
  const [phoneCtx, laptopCtx] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [phone, laptop] = await Promise.all([phoneCtx.newPage(), laptopCtx.newPage()]);
  await createAccount(phone, user);
  await createTeam(phone);
  expect(await dbNames(phone)).toContain(`quietdesk:${user}`);

  // The same account on a second device.
  await logInOnNewDevice(laptop, user);
  await laptop.getByRole('navigation').getByRole('link', { name: 'Team' }).click({ timeout: 30_000 });
  const devices = laptop.getByRole('list', { name: 'Your devices' });
  await expect(devices.getByRole('listitem')).toHaveCount(2);
  await expect(devices).toContainText('(this device)');
  await laptop.screenshot({ path: 'test-results/devices.png', fullPage: true });

  // The phone is lost: sign it out from the laptop.
  await devices.getByRole('button', { name: 'Sign out and erase' }).click();
  await expect(laptop.getByRole('status', { name: 'Devices status' })).toContainText('Signed out');
  await expect(devices.getByRole('listitem')).toHaveCount(1);

  // The phone's next contact with the server: it erases its database and says why.
  await phone.getByRole('button', { name: 'Sync now' }).click();
  await expect(phone.getByText('This device was signed out remotely')).toBeVisible({ timeout: 20_000 });
  await expect.poll(() => dbNames(phone)).not.toContain(`quietdesk:${user}`);
  // The laptop carries on.
  await laptop.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(laptop.getByRole('heading', { name: 'Customers' })).toBeVisible();
  for (const c of [phoneCtx, laptopCtx]) await c.close();
});

test('a changed passphrase unlocks this device and logs in on another; the old one no longer works', async ({ browser }) => {
  test.setTimeout(120_000);
  const user = uniqueUser('pw');
  const newPass = `new-canary-pass-${user}`;
  const [phoneCtx, laptopCtx] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [phone, laptop] = await Promise.all([phoneCtx.newPage(), laptopCtx.newPage()]);
  await createAccount(phone, user);
  await createTeam(phone);

  await phone.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await phone.getByLabel('Current passphrase').fill('not the passphrase');
  await phone.getByLabel('New passphrase', { exact: true }).fill(newPass);
  await phone.getByLabel('New passphrase again').fill(newPass);
  await phone.getByRole('button', { name: 'Change passphrase' }).click();
  const status = phone.getByRole('status', { name: 'Passphrase status' });
  await expect(status).toContainText('The current passphrase is wrong', { timeout: 20_000 });
  await phone.getByLabel('Current passphrase').fill(passphraseFor(user));
  await phone.getByRole('button', { name: 'Change passphrase' }).click();
  await expect(status).toContainText('Passphrase changed', { timeout: 30_000 });

  // This device unlocks with the new passphrase only.
  await phone.reload();
  await phone.getByLabel('Passphrase').fill(passphraseFor(user));
  await phone.getByRole('button', { name: 'Unlock', exact: true }).click();
  await expect(phone.getByRole('alert')).toContainText('Wrong passphrase', { timeout: 20_000 });
  await phone.getByLabel('Passphrase').fill(newPass);
  await phone.getByRole('button', { name: 'Unlock', exact: true }).click();
  await expect(phone.getByRole('heading', { name: 'Team' })).toBeVisible({ timeout: 30_000 });

  // Another device: the old passphrase is refused by the server, the new one logs in.
  await logInOnNewDevice(laptop, user);
  await expect(laptop.getByRole('alert')).toContainText(/wrong username or passphrase/i, { timeout: 20_000 });
  await laptop.getByLabel('Passphrase').fill(newPass);
  await laptop.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(laptop.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
  await Promise.all([phoneCtx.close(), laptopCtx.close()]);
});
