import { test, expect } from './fixtures';
import { createHmac } from 'node:crypto';
import { createAccount, createTeam, passphraseFor, uniqueUser } from './helpers';

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as authenticator apps compute it. */
function totp(base32: string, atSeconds: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atSeconds / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[19] & 0xf;
  return ((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

test('two-factor enrolment with a QR code, then a log-in that needs the code', async ({ page }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('tfa');
  await createAccount(page, user);
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(page.getByText('Two-factor authentication is off.')).toBeVisible();
  // Nothing dangling before set-up: no "type:" without a key.
  await expect(page.getByText('Scan it with an authenticator app')).toHaveCount(0);
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await expect(page.locator('.qr svg')).toBeVisible();
  const key = (await page.locator('.hint code').innerText()).trim();
  expect(key).toMatch(/^[A-Z2-7]{32}$/);
  await page.getByLabel('Code from your authenticator app').fill(totp(key, Date.now() / 1000));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const status = page.getByRole('status', { name: 'Two-factor status' });
  await expect(status).toContainText('Two-factor authentication is on.');
  // The recovery codes: a list to download, shown until the user says they saved them;
  // the devices card says 2FA is on without a reload.
  const codes = page.getByRole('list', { name: 'Recovery codes' });
  expect(await codes.getByRole('listitem').count()).toBeGreaterThanOrEqual(8);
  await expect(page.getByRole('link', { name: 'Download the codes' })).toHaveAttribute('download', 'quietdesk-recovery-codes.txt');
  await expect(page.getByText('Two-factor authentication is on.', { exact: true })).toHaveCount(2);
  await page.screenshot({ path: 'test-results/two-factor.png', fullPage: true });
  await page.getByRole('button', { name: 'I saved them' }).click();
  await expect(codes).toHaveCount(0);
  await expect(page.locator('.hint code')).toHaveCount(0);
  // Once on, the card no longer offers to set it up.
  await expect(page.getByRole('button', { name: 'Set up two-factor authentication' })).toHaveCount(0);
  await expect(page.getByLabel('Code from your authenticator app')).toHaveCount(0);

  // Log out; logging in again needs the code.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in on this device' }).click({ timeout: 20_000 });
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('authenticator', { timeout: 20_000 });
  await page.getByRole('button', { name: 'Log in on this device' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByLabel('Two-factor code').fill(totp(key, Date.now() / 1000 + 30));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Sync now' })).toBeVisible({ timeout: 30_000 });
});
