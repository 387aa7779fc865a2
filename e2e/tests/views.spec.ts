import { test, expect } from './fixtures';
import * as fs from 'fs';
import { createAccount, createTeam, logInOnNewDevice, passphraseFor, uniqueUser, waitSynced } from './helpers';

// The desk's table: sortable, choosable columns; bulk actions on selected rows (100 at
// once too); saved views, synced encrypted, one opening by default — after a reload
// and on a new device.
test('the customer table sorts, picks columns, acts on a selection, and saves views that open by default', async ({ page, browser }, info) => {
  test.setTimeout(180_000);
  await page.setViewportSize({ width: 1280, height: 800 });
  const user = uniqueUser('view');
  await createAccount(page, user);
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const lines = ['Name,Company,Email,Owner', 'Canary View Ann,Zeta Canary Co,ann@example.cn,li', 'Canary View Bo,Alpha Canary Co,bo@example.cn,li', 'Canary View Cai,Mid Canary Co,cai@example.cn,wang'];
  for (let i = 0; i < 97; i++) lines.push(`Canary Bulk ${String(i).padStart(2, '0')},Bulk Canary Co ${i},,li`);
  await page.getByLabel('CSV file').setInputFiles({ name: 'v.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n')) });
  await page.getByRole('button', { name: 'Import 100 rows' }).click();
  await expect(page.getByRole('status', { name: 'Import summary' })).toContainText('Imported 100 rows.', { timeout: 60_000 });

  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('button', { name: 'Table', exact: true }).click();
  const table = page.getByRole('table', { name: 'Customers' });
  const firstRow = table.getByRole('row').nth(1);
  await page.getByLabel('Search').fill('Canary View');
  await expect(page.getByText('3 of 100 customers')).toBeVisible();
  await expect(firstRow).toContainText('Canary View Ann');
  await table.getByRole('button', { name: 'Company' }).click();
  await expect(firstRow).toContainText('Alpha Canary Co');
  await expect(table.getByRole('columnheader', { name: 'Company' })).toHaveAttribute('aria-sort', 'ascending');
  await table.getByRole('button', { name: 'Company' }).click();
  await expect(firstRow).toContainText('Zeta Canary Co');
  await expect(table.getByRole('columnheader', { name: 'Company' })).toHaveAttribute('aria-sort', 'descending');

  await page.locator('summary').filter({ hasText: 'Columns' }).click();
  await page.getByLabel('Email', { exact: true }).check();
  await expect(table.getByRole('columnheader', { name: 'Email' })).toBeVisible();
  await expect(table).toContainText('bo@example.cn');

  // Bulk: select two, tag them, set their status; export them.
  await table.getByLabel('Select Canary View Ann').check();
  await table.getByLabel('Select Canary View Bo').check();
  const bulk = page.getByRole('region', { name: 'Selected customers' });
  await expect(bulk).toContainText('2 selected');
  await bulk.getByLabel('Tag').fill('hot');
  await bulk.getByRole('button', { name: 'Add tag' }).click();
  await expect(page.getByRole('status', { name: 'Notifications' })).toContainText('Done for 2 customers.');
  await bulk.getByLabel('Status').selectOption({ label: 'Customer' });
  await bulk.getByRole('button', { name: 'Set status' }).click();
  await expect(table.getByRole('row', { name: /Canary View Bo/ })).toContainText('Customer');
  const [download] = await Promise.all([page.waitForEvent('download'), bulk.getByRole('button', { name: 'Export selection (CSV)' }).click()]);
  const exported = fs.readFileSync((await download.path())!, 'utf8');
  expect(exported).toContain('Canary View Ann');
  expect(exported).not.toContain('Canary View Cai');
  await bulk.getByRole('button', { name: 'Clear selection' }).click();

  // A bulk owner change of all 100: select each page of 50.
  await page.getByLabel('Search').fill('');
  await expect(page.getByText('100 of 100 customers')).toBeVisible();
  await table.getByLabel('All on this page').check();
  await page.getByRole('button', { name: 'Show more' }).click();
  await table.getByLabel('All on this page').check();
  await expect(bulk).toContainText('100 selected');
  await bulk.getByLabel('Owner').fill('canary-owner zhou');
  await bulk.getByRole('button', { name: 'Set owner' }).click();
  await expect(page.getByRole('status', { name: 'Notifications' })).toContainText('Done for 100 customers.');
  await expect(table.getByRole('row', { name: /Canary Bulk 42/ })).toContainText('canary-owner zhou');
  await page.screenshot({ path: info.outputPath('table-1280x800.png'), fullPage: true });
  await bulk.getByRole('button', { name: 'Clear selection' }).click();

  // A saved view: the "hot" tag, sorted by company descending; opens by default next time.
  await page.getByLabel('Tag', { exact: true }).first().selectOption('hot');
  await expect(page.getByText('2 of 100 customers')).toBeVisible();
  await page.getByLabel('Save the current view as').fill('canary-view hot ones');
  await page.getByRole('button', { name: 'Save view' }).click();
  await expect(page.getByLabel('View', { exact: true })).toHaveValue('canary-view hot ones');
  await page.getByRole('button', { name: 'Open by default' }).click();
  await waitSynced(page);
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByLabel('View', { exact: true })).toHaveValue('canary-view hot ones');
  await expect(page.getByText('2 of 100 customers')).toBeVisible();
  await expect(page.getByRole('table', { name: 'Customers' }).getByRole('row').nth(1)).toContainText('Zeta Canary Co');

  // The same view on a new device (synced encrypted, like any record).
  const other = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await logInOnNewDevice(other, user);
  await expect(other.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 60_000 });
  await other.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(other.getByLabel('View', { exact: true })).toHaveValue('canary-view hot ones', { timeout: 30_000 });
  await expect(other.getByText('2 of 100 customers')).toBeVisible();
  await other.screenshot({ path: info.outputPath('views-390x844.png'), fullPage: true });

  // Bulk delete asks first.
  await page.getByRole('table', { name: 'Customers' }).getByLabel('Select Canary View Bo').check();
  await page.getByRole('button', { name: 'Delete selected' }).click();
  await page.getByRole('button', { name: 'Delete 1 customers' }).click();
  await expect(page.getByText('1 of 99 customers')).toBeVisible();
});
