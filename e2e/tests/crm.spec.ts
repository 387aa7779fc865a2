import { test, expect } from './fixtures';
import { addToTeam, createAccount, createCustomer, createTeam, passphraseFor, uniqueUser, waitSynced, openEdit } from './helpers';

test('a customer with an interaction and a task survives a reload and a fresh log-in', async ({ page }) => {
  const user = uniqueUser('ann');
  await createAccount(page, user);
  await createTeam(page);
  await createCustomer(page, {
    name: 'Canary Zhang Wei',
    company: 'Canary Steel Works',
    phone: '13900001111',
    email: 'canary.zhang@example.cn',
    notes: 'canary-note wants a discount',
  });

  await page.getByLabel('Summary').fill('canary-call discussed the quote');
  await page.getByRole('button', { name: 'Add interaction' }).click();
  await expect(page.getByRole('list', { name: 'Interaction timeline' })).toContainText('canary-call discussed the quote');
  await page.getByLabel('Task', { exact: true }).fill('canary-task send the contract');
  await page.getByRole('button', { name: 'Add task' }).click();
  await expect(page.getByRole('list', { name: 'Customer tasks' })).toContainText('canary-task send the contract');
  await waitSynced(page);
  // Home counts the interaction for the person who logged it, this week.
  await page.getByRole('navigation').getByRole('link', { name: 'Home' }).click();
  const byPerson = page.getByRole('table', { name: 'Activities by person' });
  await expect(byPerson.getByRole('row', { name: new RegExp(user) })).toContainText(/0\s*0\s*0\s*1\s*1/);
  await page.goBack();

  const check = async () => {
    await openEdit(page);
    await expect(page.getByLabel('Name', { exact: true })).toHaveValue('Canary Zhang Wei');
    await expect(page.getByLabel('Phone', { exact: true })).toHaveValue('13900001111');
    await expect(page.getByLabel('Notes', { exact: true })).toHaveValue('canary-note wants a discount');
    await expect(page.getByRole('list', { name: 'Interaction timeline' })).toContainText('canary-call discussed the quote');
    await expect(page.getByRole('list', { name: 'Customer tasks' })).toContainText('canary-task send the contract');
  };

  // Reload: the device unlocks from IndexedDB with the passphrase alone.
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await check();

  // Log out (wipes the device), log in again: everything comes back from the server.
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('button', { name: 'Log in on this device' })).toBeVisible({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Log in on this device' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('link', { name: /Canary Zhang Wei/ }).click({ timeout: 20_000 });
  await check();

  // Search finds it by phone, company and notes; nonsense finds nothing.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  for (const q of ['139000011', 'steel works', 'DISCOUNT']) {
    await page.getByLabel('Search').fill(q);
    await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link')).toHaveCount(1);
  }
  await page.getByLabel('Search').fill('no such customer anywhere');
  await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link')).toHaveCount(0);
});

test('two users edit one customer, one of them offline: both edits survive on both pages', async ({ browser }) => {
  const admin = uniqueUser('adm');
  const member = uniqueUser('mem');
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();

  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(b, member);

  await addToTeam(a, b, member);

  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(a, {
    name: 'Canary Li Na',
    company: 'Canary Tea House',
    phone: '13900002222',
    email: 'canary.li@example.cn',
    notes: 'canary-note first contact',
  });
  await waitSynced(a);

  // B hears about it (websocket poke) and opens it.
  await b.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await b.getByRole('link', { name: /Canary Li Na/ }).click({ timeout: 20_000 });
  await openEdit(b);
  await expect(b.getByLabel('Phone', { exact: true })).toHaveValue('13900002222');

  // A goes offline and edits the phone; B edits the notes.
  await openEdit(a);
  await ctxA.setOffline(true);
  await a.getByLabel('Phone', { exact: true }).fill('13977778888');
  await a.getByRole('button', { name: 'Save' }).click();
  await expect(a.getByRole('status', { name: 'Sync status' })).toContainText('1 pending', { timeout: 20_000 });
  await b.getByLabel('Notes', { exact: true }).fill('canary-note prefers WeChat after 6pm');
  await b.getByRole('button', { name: 'Save' }).click();
  await waitSynced(b);

  // A comes back: both edits on both pages.
  await ctxA.setOffline(false);
  await waitSynced(a);
  for (const p of [a, b]) {
    await expect(p.getByLabel('Phone', { exact: true })).toHaveValue('13977778888', { timeout: 20_000 });
    await expect(p.getByLabel('Notes', { exact: true })).toHaveValue('canary-note prefers WeChat after 6pm', { timeout: 20_000 });
  }
  await ctxA.close();
  await ctxB.close();
});
