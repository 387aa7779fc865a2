import { test, expect } from './fixtures';
import { createAccount, createTeam, passphraseFor, uniqueUser } from './helpers';

// One account's tabs on one device act as one once each has been unlocked: locking one
// locks all, unlocking one unlocks the others. A tab opened while another is unlocked
// asks for the passphrase once: it could be a script of the origin (see tabs.rs).
test('a second tab asks once; lock one, all lock; unlock one, all unlock', async ({ context }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('tab');
  const first = await context.newPage();
  await createAccount(first, user);
  await createTeam(first);

  const second = await context.newPage();
  await second.goto('/');
  await expect(second.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible({ timeout: 30_000 });
  await second.waitForTimeout(1000);
  await expect(second.getByRole('heading', { name: 'Home' })).toBeHidden();
  await second.getByLabel('Passphrase').fill(passphraseFor(user));
  await second.getByRole('button', { name: 'Unlock', exact: true }).click();
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
  await first.getByLabel('Passphrase').fill(passphraseFor(user));
  await first.getByRole('button', { name: 'Unlock', exact: true }).click();
  await expect(first.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
  await expect(first.getByLabel('Lock this device')).toHaveValue('15');
});

// A script of the origin (here: one run in a page of the origin that never unlocked)
// asks the tabs channel for the key: the unlocked tab answers only with a sealed
// message, which holds no raw key and unlocks nothing it is replayed to.
test('a same-origin script that asks the tabs channel gets no key it can use', async ({ context }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('tsc');
  const victim = await context.newPage();
  await createAccount(victim, user);
  await createTeam(victim);

  const attacker = await context.newPage();
  await attacker.goto('/');
  await expect(attacker.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible({ timeout: 30_000 });
  const answers: any[] = await attacker.evaluate(async (name) => {
    const channel = new BroadcastChannel('quietdesk-tabs');
    const got: any[] = [];
    channel.onmessage = (e) => got.push(JSON.parse(e.data));
    channel.postMessage(JSON.stringify({ kind: 'ask', user: name }));
    await new Promise((r) => setTimeout(r, 1500));
    // Replay what came back, and an old-style message with a made-up key.
    for (const m of got) channel.postMessage(JSON.stringify(m));
    channel.postMessage(JSON.stringify({ kind: 'key', user: name, wrap: Array(32).fill(7) }));
    await new Promise((r) => setTimeout(r, 1500));
    return got;
  }, user);
  const keys = answers.filter((m) => m.kind === 'key');
  expect(keys.length, 'the unlocked tab answered').toBeGreaterThan(0);
  for (const m of keys) {
    expect(Object.keys(m).sort()).toEqual(['at', 'kind', 'sealed', 'user']);
    expect(m.sealed.length).toBe(1 + 12 + 32 + 16); // format, nonce, the sealed key, the tag: no raw key
  }
  // Nothing the script sent or replayed unlocked the page it runs in.
  await expect(attacker.getByRole('heading', { name: 'Home' })).toBeHidden();
  await expect(attacker.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible();
  await expect(victim.getByRole('heading', { name: 'Home' })).toBeVisible();
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
