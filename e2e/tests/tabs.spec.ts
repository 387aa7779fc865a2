import { test, expect } from '@playwright/test';
import { createAccount, createTeam, passphraseFor, uniqueUser } from './helpers';

// One account's tabs on one device act as one: a new tab opens unlocked while another
// is, locking one locks all, and unlocking one unlocks the others.
test('a second tab starts unlocked; lock one, all lock; unlock one, all unlock', async ({ context }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('tab');
  const first = await context.newPage();
  await createAccount(first, user);
  await createTeam(first);

  const second = await context.newPage();
  await second.goto('/');
  await expect(second.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });

  await first.getByRole('button', { name: 'Lock', exact: true }).click();
  await expect(first.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible();
  await expect(second.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible({ timeout: 10_000 });

  await second.getByLabel('Passphrase').fill(passphraseFor(user));
  await second.getByRole('button', { name: 'Unlock', exact: true }).click();
  await expect(second.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
  await expect(first.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 10_000 });

  // The lock setting is kept on this device.
  await first.getByLabel('Lock this device').selectOption('15');
  await first.reload();
  await expect(first.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
  await expect(first.getByLabel('Lock this device')).toHaveValue('15');
});

// "Never on this device": the app opens unlocked after the browser is closed, until
// the user locks by hand.
test('a device set never to lock opens unlocked after the browser closes; locking by hand asks again', async ({ context }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('nvr');
  const page = await context.newPage();
  await createAccount(page, user);
  await createTeam(page);
  await page.getByLabel('Lock this device').selectOption({ label: 'Never on this device' });
  await expect(page.getByText('Anyone who uses this browser can open your customers.')).toBeVisible();
  await page.waitForTimeout(500); // the key is written to this device's store
  await page.close(); // no other tab is left to hand the key over

  const again = await context.newPage();
  await again.goto('/');
  await expect(again.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });

  await again.getByRole('button', { name: 'Lock', exact: true }).click();
  await expect(again.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible();
  await again.reload();
  await expect(again.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible({ timeout: 30_000 });
  await again.waitForTimeout(1000);
  await expect(again.getByRole('heading', { name: 'Home' })).toBeHidden();
});
