import { test, expect } from '@playwright/test';
import * as fs from 'fs';
import { createAccount, createTeam, passphraseFor, uniqueUser, waitSynced } from './helpers';

// The desk's table: sortable, choosable columns; bulk actions on selected rows; saved
// views (synced encrypted) with one opening by default.
test('the customer table sorts, picks columns, acts on a selection, and saves views that open by default', async ({ page }, info) => {
  test.setTimeout(150_000);
  await page.setViewportSize({ width: 1400, height: 900 });
  const user = uniqueUser('view');
  await createAccount(page, user);
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const csv = 'Name,Company,Email,Owner\nCanary View Ann,Zeta Canary Co,ann@example.cn,li\nCanary View Bo,Alpha Canary Co,bo@example.cn,li\nCanary View Cai,Mid Canary Co,cai@example.cn,wang\n';
  await page.getByLabel('CSV file').setInputFiles({ name: 'v.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Import 3 rows' }).click();
  await expect(page.getByRole('status', { name: 'Import summary' })).toContainText('Imported 3 rows.');

  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('button', { name: 'Table', exact: true }).click();
  const table = page.getByRole('table', { name: 'Customers' });
  const firstRow = table.getByRole('row').nth(1);
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

  // Bulk: select two, set their owner, tag them, set their status.
  await table.getByLabel('Select Canary View Ann').check();
  await table.getByLabel('Select Canary View Bo').check();
  const bulk = page.getByRole('region', { name: 'Selected customers' });
  await expect(bulk).toContainText('2 selected');
  await bulk.getByLabel('Owner').fill('canary-owner zhou');
  await bulk.getByRole('button', { name: 'Set owner' }).click();
  await expect(table.getByRole('row', { name: /Canary View Ann/ })).toContainText('canary-owner zhou');
  await bulk.getByLabel('Tag').fill('hot');
  await bulk.getByRole('button', { name: 'Add tag' }).click();
  await bulk.getByLabel('Status').selectOption({ label: 'Customer' });
  await bulk.getByRole('button', { name: 'Set status' }).click();
  await expect(table.getByRole('row', { name: /Canary View Bo/ })).toContainText('Customer');
  await page.screenshot({ path: info.outputPath('table-1400.png'), fullPage: true });

  // Export the selection.
  const [download] = await Promise.all([page.waitForEvent('download'), bulk.getByRole('button', { name: 'Export selection (CSV)' }).click()]);
  const exported = fs.readFileSync((await download.path())!, 'utf8');
  expect(exported).toContain('Canary View Ann');
  expect(exported).not.toContain('Canary View Cai');

  // A saved view: the "hot" tag, sorted by company; opens by default next time.
  await page.getByLabel('Tag', { exact: true }).first().selectOption('hot');
  await expect(page.getByText('2 of 3 customers')).toBeVisible();
  await page.getByLabel('Save the current view as').fill('Hot ones');
  await page.getByRole('button', { name: 'Save view' }).click();
  await expect(page.getByLabel('View', { exact: true })).toHaveValue('Hot ones');
  await page.getByRole('button', { name: 'Open by default' }).click();
  await waitSynced(page);
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByLabel('View', { exact: true })).toHaveValue('Hot ones');
  await expect(page.getByText('2 of 3 customers')).toBeVisible();
  await expect(page.getByRole('table', { name: 'Customers' }).getByRole('row').nth(1)).toContainText('Zeta Canary Co');

  // Bulk delete asks first.
  await page.getByRole('table', { name: 'Customers' }).getByLabel('Select Canary View Bo').check();
  await page.getByRole('button', { name: 'Delete selected' }).click();
  await page.getByRole('button', { name: 'Delete 1 customers' }).click();
  await expect(page.getByText('1 of 2 customers')).toBeVisible();
});
