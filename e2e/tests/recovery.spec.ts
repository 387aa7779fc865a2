import { test, expect } from './fixtures';
import { createAccount, createTeam, logInOnNewDevice, passphraseFor, uniqueUser } from './helpers';
import { noteSecret } from './canaries';

// The recovery kit resets a forgotten passphrase on a new device; the old passphrase
// stops working; the key is shown once.
test('a recovery kit resets a forgotten passphrase on a new device, and the old one no longer works', async ({ browser }) => {
  test.setTimeout(120_000);
  const user = uniqueUser('kit');
  const deskCtx = await browser.newContext();
  const desk = await deskCtx.newPage();
  await createAccount(desk, user);
  await createTeam(desk);
  await desk.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  const card = desk.getByRole('region', { name: 'Recovery kit' }).or(desk.locator('section.card', { hasText: 'Recovery kit' })).first();
  await desk.getByLabel('Your passphrase, to confirm it is you').fill(passphraseFor(user));
  await desk.getByRole('button', { name: 'Create a recovery kit' }).click();
  const key = (await desk.locator('.kit-key').innerText()).trim();
  noteSecret(key);
  expect(key).toMatch(/^([A-HJ-NP-Z2-9]{4}-){7}[A-HJ-NP-Z2-9]{4}$/);
  await expect(desk.getByRole('link', { name: 'Download the recovery kit' })).toHaveAttribute('download', 'quietdesk-recovery-kit.txt');
  await desk.getByRole('button', { name: 'I saved it' }).click();
  await expect(desk.locator('.kit-key')).toHaveCount(0);
  await expect(card).not.toContainText(key);
  await deskCtx.close();

  // A new device, the passphrase forgotten.
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto('/');
  await page.getByRole('button', { name: 'Log in on this device' }).click();
  await page.getByRole('button', { name: 'Forgot passphrase?' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Recovery key').fill('AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH');
  const newPass = `canary-new-pass-${user}`;
  await page.getByLabel('New passphrase').fill(newPass);
  await page.getByRole('button', { name: 'Reset passphrase' }).click();
  await expect(page.getByRole('alert')).toContainText('does not belong to this username', { timeout: 20_000 });
  await page.getByLabel('Recovery key').fill(key.toLowerCase().replaceAll('-', ' '));
  await page.getByLabel('New passphrase').fill(newPass);
  await page.getByRole('button', { name: 'Reset passphrase' }).click();
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
  await ctx.close();

  // Another device: the old passphrase is refused, the new one works.
  const other = await (await browser.newContext()).newPage();
  await logInOnNewDevice(other, user);
  await expect(other.getByRole('alert')).toContainText(/wrong username or passphrase/i, { timeout: 20_000 });
  await other.getByLabel('Passphrase').fill(newPass);
  await other.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(other.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
});
