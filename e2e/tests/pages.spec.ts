// Every page of the app, loaded afresh with the account unlocked: the page comes up
// and nothing panics or throws (the fixture fails the test on either). A reload is
// how a user lands on a page from a bookmark, a link or a restored tab.
import { test, expect, Page } from './fixtures';
import { createAccount, createCustomer, createTeam, passphraseFor, uniqueUser, waitSynced } from './helpers';

async function unlockAt(page: Page, user: string, path: string) {
  await page.goto(path);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await expect(page.getByRole('status', { name: 'Sync status' })).toContainText('Online', { timeout: 30_000 });
}

test('every page loads afresh with the account unlocked, without a panic', async ({ page }) => {
  test.setTimeout(240_000);
  const user = uniqueUser('pages');
  await createAccount(page, user);
  await createTeam(page);
  const ids: string[] = [];
  for (const [name, phone] of [['Reload Li Na', '13900002222'], ['Reload Wang Fang', '13900001111']]) {
    await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
    await createCustomer(page, { name, company: `${name} Co`, phone, email: `${phone}@example.cn`, notes: 'reload' });
    ids.push(new URL(page.url()).pathname.split('/').pop()!);
  }
  await waitSynced(page);

  const pages: [string, RegExp][] = [
    ['/', /Home/],
    ['/customers', /Customers/],
    ['/customers/new', /New customer/],
    [`/customers/${ids[0]}`, /Reload Li Na/],
    ['/customers/duplicates', /duplicate/i],
    [`/customers/merge/${ids[0]}/${ids[1]}`, /Merge/i],
    ['/tasks', /Tasks/],
    ['/calendar', /Calendar/],
    ['/pipeline', /Pipeline/],
    ['/pool', /pool/i],
    ['/import', /Import/],
    ['/team', /Team/],
    ['/audit', /Audit/i],
    ['/lifecycle', /lifecycle|Data/i],
    ['/more', /More/],
  ];
  for (const [path, heading] of pages) {
    await test.step(path, async () => {
      await unlockAt(page, user, path);
      await expect(page.getByRole('heading', { name: heading }).first()).toBeVisible({ timeout: 30_000 });
      // What a page starts after it is drawn (loads, timers) gets its moment too.
      await page.waitForTimeout(500);
    });
  }
});
