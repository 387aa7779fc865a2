import { test, expect } from './fixtures';
import { addToTeam, createAccount, createCustomer, createTeam, uniqueUser, waitSynced, deleteCustomer } from './helpers';

test("a member's export waits for an admin's signed approval; the audit page verifies and filters the log; the encrypted file restores", async ({ browser }) => {
  test.setTimeout(150_000);
  const admin = await (await browser.newContext()).newPage();
  const member = await (await browser.newContext()).newPage();
  const [a, m] = [uniqueUser('auda'), uniqueUser('audm')];
  await createAccount(admin, a);
  await createTeam(admin);
  await createAccount(member, m);
  await addToTeam(admin, member, m);

  // The member creates a customer (audited), then asks to export everything.
  await createCustomer(member, { name: 'Audit Canary Ltd', company: 'Audit Co', phone: '13911112222', email: 'audit@example.com', notes: 'n' });
  await waitSynced(member);
  await member.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await member.getByLabel('File passphrase (for the encrypted export)').fill('export file passphrase');
  const downloaded = member.waitForEvent('download', { timeout: 60_000 });
  await member.getByRole('button', { name: 'Export encrypted file' }).click();
  const exportStatus = member.getByRole('status', { name: 'Export status' });
  await expect(exportStatus).toContainText('Waiting for an admin to approve', { timeout: 20_000 });

  // The admin sees the request on the Audit page and approves it (signed with their key).
  await admin.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
  const requests = admin.getByRole('list', { name: 'Approval requests' });
  await expect(requests).toContainText(`${m} asked to export everything — pending`, { timeout: 20_000 });
  await admin.screenshot({ path: 'test-results/approvals.png', fullPage: true });
  await admin.getByRole('button', { name: 'Approve' }).click();
  await expect(admin.getByRole('status', { name: 'Approvals status' })).toContainText(`Approved ${m}'s request.`);

  // The member's export goes ahead: a sealed file.
  const file = await downloaded;
  const path = test.info().outputPath('quietdesk-export.qdx');
  await file.saveAs(path);
  await expect(exportStatus).toContainText('Exported 1 records.', { timeout: 30_000 });
  const bytes = require('node:fs').readFileSync(path) as Buffer;
  expect(bytes.subarray(0, 3).toString()).toBe('QDX');
  expect(bytes.includes(Buffer.from('Audit Canary'))).toBe(false);

  // The audit log, verified, shows who did what; filters narrow it.
  await waitSynced(member);
  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await admin.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
  await expect(admin.getByText(/Verified: \d+ entries, every signature and link intact\./)).toBeVisible({ timeout: 30_000 });
  const table = admin.getByRole('table', { name: 'Audit entries' });
  await expect(table).toContainText('Audit Canary Ltd');
  await expect(table).toContainText(`exported 1 records as an encrypted export file (approved by ${a})`);
  await expect(table).toContainText(`began an approved export of everything (approved by ${a})`);
  await expect(table).toContainText(`added ${m} as member`);
  await admin.getByLabel('User').fill(m);
  await admin.getByLabel('Action', { exact: true }).selectOption('create');
  await expect(table.getByRole('row')).toHaveCount(2);
  await expect(table).toContainText('customer: name, company, phone, email, notes');
  await admin.getByLabel('Action', { exact: true }).selectOption('');
  await admin.getByLabel('User').fill('');
  await admin.getByLabel('Customer').fill('audit canary');
  await admin.screenshot({ path: 'test-results/audit.png', fullPage: true });

  // The member deletes the customer, then restores it from the encrypted file.
  await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await member.getByRole('link', { name: /Audit Canary Ltd/ }).click();
  await deleteCustomer(member);
  await expect(member.getByRole('link', { name: /Audit Canary Ltd/ })).toHaveCount(0);
  await member.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await member.getByLabel('Export file').setInputFiles(path);
  await member.getByLabel('File passphrase', { exact: true }).fill('wrong passphrase!');
  await member.getByRole('button', { name: 'Restore' }).click();
  const restoreStatus = member.getByRole('status', { name: 'Restore status' });
  await expect(restoreStatus).toContainText('Wrong passphrase', { timeout: 30_000 });
  await member.getByLabel('File passphrase', { exact: true }).fill('export file passphrase');
  await member.getByRole('button', { name: 'Restore' }).click();
  await expect(restoreStatus).toContainText('Restored 1 records', { timeout: 30_000 });
  await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(member.getByRole('link', { name: /Audit Canary Ltd/ })).toBeVisible();
});

test('lifecycle: a preview of exactly which customers are old enough, then anonymise them; consent-missing filter', async ({ page }) => {
  test.setTimeout(90_000);
  await createAccount(page, uniqueUser('life'));
  await createTeam(page);
  await createCustomer(page, { name: 'Old Timer Trading', company: 'Old Co', phone: '13933334444', email: 'old@example.com', notes: 'n' });
  await page.getByLabel('Day (empty: now)').fill('2019-01-15');
  await page.getByLabel('Summary').fill('last call, long ago');
  await page.getByRole('button', { name: 'Add interaction' }).click();
  await expect(page.getByRole('list', { name: 'Interaction timeline' })).toContainText('2019-01-15');
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(page, { name: 'Recent Buyer Co', company: 'New Co', phone: '13955557777', email: 'new@example.com', notes: 'n' });

  // Neither has a consent on record.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByLabel('Consent missing').check();
  await expect(page.getByRole('link', { name: /Old Timer Trading/ })).toBeVisible();
  await expect(page.getByRole('link', { name: /Recent Buyer Co/ })).toBeVisible();

  await page.getByRole('navigation').getByRole('link', { name: 'Lifecycle' }).click();
  await expect(page.getByRole('heading', { name: 'Dormant customers: 1' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Eligible for anonymisation or deletion: 1' })).toBeVisible();
  const eligible = page.getByRole('list', { name: 'Eligible customers' });
  await expect(eligible).toContainText('Old Timer Trading');
  await expect(eligible).not.toContainText('Recent Buyer Co');
  await page.screenshot({ path: 'test-results/lifecycle.png', fullPage: true });

  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Anonymise 1 customers' }).click();
  await expect(page.getByRole('status', { name: 'Lifecycle status' })).toContainText('Anonymised 1 customers.');
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByRole('link', { name: /Anonymised customer/ })).toBeVisible();
  await expect(page.getByRole('link', { name: /Old Timer Trading/ })).toHaveCount(0);
});

test("deleting more than the server takes unapproved waits for an admin's approval, then syncs", async ({ browser }) => {
  test.setTimeout(150_000);
  const admin = await (await browser.newContext()).newPage();
  const member = await (await browser.newContext()).newPage();
  const [a, m] = [uniqueUser('dela'), uniqueUser('delm')];
  await createAccount(admin, a);
  await createTeam(admin);
  await createAccount(member, m);
  await addToTeam(admin, member, m);

  // The member imports four customers, then deletes them one by one (the e2e server
  // takes three deletions an hour unapproved).
  await member.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const rows = ['Customer name,Company', ...[1, 2, 3, 4, 5].map((i) => `Deletable ${i},Del Co`)];
  await member.getByLabel('CSV file').setInputFiles({ name: 'c.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n')) });
  await member.getByRole('button', { name: 'Import 5 rows' }).click();
  await expect(member.getByRole('status', { name: 'Import summary' })).toContainText('Imported 5 rows.');
  await waitSynced(member);
  for (const i of [1, 2, 3, 4]) {
    await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
    await member.getByRole('link', { name: new RegExp(`Deletable ${i}`) }).click();
    await deleteCustomer(member);
    await expect(member.getByRole('link', { name: new RegExp(`Deletable ${i}`) })).toHaveCount(0);
  }
  const sync = member.getByRole('status', { name: 'Sync status' });
  await expect(sync).toContainText('Waiting for an admin to approve: delete 1 records', { timeout: 20_000 });
  await expect(sync).toContainText('1 pending');

  // The admin still sees the fourth customer, approves, and then it is gone everywhere.
  await admin.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
  await expect(admin.getByRole('list', { name: 'Approval requests' })).toContainText(`${m} asked to delete 1 records — pending`, { timeout: 20_000 });
  await admin.getByRole('button', { name: 'Approve' }).click();
  await waitSynced(member);
  await admin.getByRole('button', { name: 'Sync now' }).click();
  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(admin.getByRole('link', { name: /Deletable [1-4]/ })).toHaveCount(0, { timeout: 20_000 });

  // One more deletion needs another approval; refused, the customer comes back.
  await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await member.getByRole('link', { name: /Deletable 5/ }).click();
  await deleteCustomer(member);
  await expect(sync).toContainText('Waiting for an admin to approve: delete 1 records', { timeout: 20_000 });
  await admin.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
  await admin.getByRole('button', { name: 'Refuse' }).click();
  await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(member.getByRole('link', { name: /Deletable 5/ })).toBeVisible({ timeout: 20_000 });
  await waitSynced(member);
});
