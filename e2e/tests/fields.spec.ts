import { test, expect, Page } from './fixtures';
import * as fs from 'fs';
import { createAccount, createCustomer, createTeam, deleteCustomer, openEdit, uniqueUser, waitSynced } from './helpers';

// A built-in customer field is one row of `shared/src/domain/registry.rs` (and its label in the
// two translation tables): the WeChat ID is typed in the form, found by search, written
// by both exports (the same columns in each), and read back by the import from the CSV
// file and from the workbook.

// Typed as literals below too, so the zero-knowledge test looks for them on the server.
const WECHAT = 'canary_wx_fields_gao';
const NAME = 'Canary Field Gao';

/** Search the customer list for the WeChat ID; its one customer's card shows it. */
async function findByWeChat(page: Page) {
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByLabel('Search').fill(WECHAT);
  const links = page.getByRole('list', { name: 'Customers' }).getByRole('link');
  await expect(links).toHaveCount(1);
  await links.filter({ hasText: NAME }).click();
  await expect(page.getByRole('region', { name: 'Customer profile' })).toContainText(WECHAT);
}

/** On the Import page: read `file`, expect the WeChat ID column mapped, import its one row. */
async function importOne(page: Page, file: { name: string; mimeType: string; buffer: Buffer }) {
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await page.getByLabel('CSV file').setInputFiles(file);
  await expect(page.getByRole('table', { name: 'Import preview' })).toContainText(WECHAT);
  await expect(page.getByLabel(/^Column \d+: Name$/)).toHaveValue('name');
  await expect(page.getByLabel(/^Column \d+: WeChat ID$/)).toHaveValue('wechat');
  await page.getByRole('button', { name: 'Import 1 rows' }).click();
  await expect(page.getByRole('status', { name: 'Import summary' })).toContainText('Imported 1 rows. Rejected 0 rows.', { timeout: 30_000 });
}

test('the WeChat ID is in the form and search, goes out in the CSV and .xlsx exports and the selection export, and comes back in through the import', async ({ page, browser }) => {
  test.setTimeout(180_000);
  await page.setViewportSize({ width: 1280, height: 800 });
  await createAccount(page, uniqueUser('fld'));
  await createTeam(page);
  await createCustomer(page, { name: 'Canary Field Gao', company: 'Canary Field Co', phone: '13900007777', email: 'gao@example.cn', notes: 'canary-note fields' });
  await openEdit(page);
  await page.getByLabel('WeChat ID').fill('canary_wx_fields_gao');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('form', { name: 'Customer' }).getByRole('status')).toHaveText('Saved.');
  await waitSynced(page);
  await findByWeChat(page);

  // Both exports of everything carry the WeChat ID.
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const [csvDownload] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Export CSV' }).click()]);
  const csv = fs.readFileSync((await csvDownload.path())!);
  const csvText = csv.toString('utf8').replace(/^\ufeff/, '');
  const header = csvText.split('\r\n')[0];
  expect(header.split(',')).toContain('WeChat ID');
  expect(csvText).toContain(WECHAT);
  const [xlsxDownload] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Export Excel (.xlsx)' }).click()]);
  expect(xlsxDownload.suggestedFilename()).toBe('quietdesk-customers.xlsx');
  const xlsx = fs.readFileSync((await xlsxDownload.path())!);

  // The table's "Export selection" writes the same columns.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('button', { name: 'Table', exact: true }).click();
  await page.getByLabel('Search').fill(WECHAT);
  const table = page.getByRole('table', { name: 'Customers' });
  await table.getByLabel(`Select ${NAME}`).check();
  const bulk = page.getByRole('region', { name: 'Selected customers' });
  const [selection] = await Promise.all([page.waitForEvent('download'), bulk.getByRole('button', { name: 'Export selection (CSV)' }).click()]);
  const selected = fs.readFileSync((await selection.path())!, 'utf8').replace(/^\ufeff/, '');
  expect(selected.split('\r\n')[0]).toBe(header);
  expect(selected).toContain(WECHAT);

  // A fresh team imports the CSV file: the WeChat ID is found by search; then, the
  // customer deleted, the workbook.
  const other = await (await browser.newContext()).newPage();
  await other.setViewportSize({ width: 1280, height: 800 });
  await createAccount(other, uniqueUser('fldb'));
  await createTeam(other);
  await importOne(other, { name: 'quietdesk-customers.csv', mimeType: 'text/csv', buffer: csv });
  await findByWeChat(other);
  await openEdit(other);
  await expect(other.getByLabel('WeChat ID')).toHaveValue(WECHAT);
  await deleteCustomer(other);
  await expect(other.getByRole('status', { name: 'Notifications' })).toContainText('Customer deleted.');
  await expect(other.getByRole('heading', { name: 'Customers' })).toBeVisible();

  await importOne(other, { name: 'quietdesk-customers.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: xlsx });
  await findByWeChat(other);
  await openEdit(other);
  await expect(other.getByLabel('WeChat ID')).toHaveValue(WECHAT);
  await other.context().close();
});
