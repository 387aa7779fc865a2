import { test, expect } from './fixtures';
import { addToTeam, createAccount, createCustomer, createTeam, passphraseFor, uniqueUser, waitSynced } from './helpers';

test('the app starts offline from its service worker, and an interaction added offline reaches the other user', async ({ browser }) => {
  const admin = uniqueUser('off');
  const member = uniqueUser('onl');
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
    name: 'Canary Offline Wang',
    company: 'Canary Rail Co',
    phone: '13900001111',
    email: 'canary.rail@example.cn',
    notes: 'canary-note met on the train',
  });
  await waitSynced(a);
  // The service worker has installed and cached the shell.
  await a.evaluate(async () => { await navigator.serviceWorker.ready; });

  await ctxA.setOffline(true);
  const reloaded = await a.reload();
  expect(reloaded?.fromServiceWorker(), 'the page came from the service worker').toBe(true);
  await a.getByLabel('Passphrase').fill(passphraseFor(admin));
  await a.getByRole('button', { name: 'Unlock', exact: true }).click();
  await expect(a.getByRole('heading', { name: 'Canary Offline Wang' })).toBeVisible({ timeout: 30_000 });
  await expect(a.getByRole('status', { name: 'Sync status' })).toContainText('Offline', { timeout: 20_000 });

  await a.getByLabel('Summary').fill('canary-visit added with no network');
  await a.getByRole('button', { name: 'Add interaction' }).click();
  await expect(a.getByRole('list', { name: 'Interaction timeline' })).toContainText('canary-visit added with no network');
  await expect(a.getByRole('status', { name: 'Sync status' })).toContainText('1 pending');
  // The pages come in modules (the daily ones, the occasional ones); the service worker
  // kept them all at its install, so a page of a module this start has not fetched yet
  // opens offline too.
  await a.getByRole('navigation').getByRole('link', { name: 'Lifecycle' }).click();
  await expect(a.getByRole('heading', { name: 'Lifecycle' })).toBeVisible();

  await ctxA.setOffline(false);
  await waitSynced(a);
  await b.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await b.getByRole('link', { name: /Canary Offline Wang/ }).click({ timeout: 20_000 });
  await expect(b.getByRole('list', { name: 'Interaction timeline' })).toContainText('canary-visit added with no network', { timeout: 20_000 });
  await ctxA.close();
  await ctxB.close();
});
