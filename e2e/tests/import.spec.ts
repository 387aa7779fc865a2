import { test, expect } from './fixtures';
import { createAccount, createCustomer, createTeam, openEdit, uniqueUser, waitSynced } from './helpers';
import { workbook } from './xlsx';

test('CSV import of 1,000 rows shows progress, explains rejects, and ends searchable', async ({ page }) => {
  test.setTimeout(180_000);
  await createAccount(page, uniqueUser('imp'));
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();

  const lines = ['Customer name,Company,Mobile,E-mail,Tags'];
  for (let i = 0; i < 1000; i++) {
    lines.push(`Canary Import ${i},Canary Co ${i % 37},139${String(i).padStart(8, '0')},canary${i}@example.cn,imported;batch${i % 3}`);
  }
  lines.push(',Nameless Co,,,');
  lines.push('Canary Bad Phone,X,call me maybe,,');
  await page.getByLabel('CSV file').setInputFiles({ name: 'customers.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n')) });

  await expect(page.getByRole('table', { name: 'Import preview' })).toBeVisible();
  await expect(page.getByLabel('Column 1: Customer name')).toHaveValue('name');
  await expect(page.getByLabel('Column 3: Mobile')).toHaveValue('phone');
  await expect(page.getByLabel('Column 4: E-mail')).toHaveValue('email');
  await page.getByRole('button', { name: 'Import 1002 rows' }).click();
  await expect(page.getByRole('progressbar')).toBeVisible();
  const summary = page.getByRole('status', { name: 'Import summary' });
  await expect(summary).toContainText('Imported 1000 rows. Rejected 2 rows.', { timeout: 120_000 });
  await expect(summary).toContainText('Row 1002: no name');
  await expect(summary).toContainText('Row 1003: not a phone number');
  await waitSynced(page);

  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByText('1,000 of 1,000 customers')).toBeVisible();
  await page.getByLabel('Search').fill('Canary Import 777');
  await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link')).toHaveCount(1);
  await page.getByLabel('Search').fill('13900000123');
  await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link')).toHaveCount(1);
  await page.getByLabel('Search').fill('batch2');
  await expect(page.getByText('333 of 1,000 customers')).toBeVisible();
  // The list renders a page of 50 at a time; "Show more" adds the next 50.
  const links = page.getByRole('list', { name: 'Customers' }).getByRole('link');
  await expect(links).toHaveCount(50);
  for (let shown = 100; shown < 350; shown += 50) {
    await page.getByRole('button', { name: 'Show more' }).click();
    await expect(links).toHaveCount(shown);
  }
  await page.getByRole('button', { name: 'Show more' }).click();
  await expect(links).toHaveCount(333);
  await expect(page.getByRole('button', { name: 'Show more' })).toHaveCount(0);
});

test('a CSV saved by Excel on Chinese Windows (GBK) imports with its Chinese headers mapped, and says how it was read', async ({ page }) => {
  test.setTimeout(90_000);
  await createAccount(page, uniqueUser('gbk'));
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  // 姓名,公司,电话 / 张伟,明达贸易,13812345678 / 李娜,华茶,13900001111 — in GBK, CRLF.
  const gbk = Buffer.from('d0d5c3fb2cb9abcbbe2cb5e7bbb00d0ad5c5ceb02cc3f7b4efc3b3d2d72c31333831323334353637380d0ac0eec4c82cbbaab2e82c31333930303030313131310d0a', 'hex');
  await page.getByLabel('CSV file').setInputFiles({ name: '客户.csv', mimeType: 'text/csv', buffer: gbk });
  await expect(page.getByText('Read as GB18030 (GBK).')).toBeVisible();
  const preview = page.getByRole('table', { name: 'Import preview' });
  await expect(preview).toContainText('张伟');
  await expect(preview).toContainText('明达贸易');
  await expect(page.getByLabel('Column 1: 姓名')).toHaveValue('name');
  await expect(page.getByLabel('Column 3: 电话')).toHaveValue('phone');
  await page.getByRole('button', { name: 'Import 2 rows' }).click();
  await expect(page.getByRole('status', { name: 'Import summary' })).toContainText('Imported 2 rows. Rejected 0 rows.');
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByLabel('Search').fill('zw');
  await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link', { name: /张伟/ })).toBeVisible();

  // The same rows in UTF-8 read as UTF-8.
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await page.getByLabel('CSV file').setInputFiles({ name: 'utf8.csv', mimeType: 'text/csv', buffer: Buffer.from('\ufeff姓名,公司\n王芳,华茶\n') });
  await expect(page.getByText('Read as UTF-8.')).toBeVisible();
  await expect(page.getByLabel('Column 1: 姓名')).toHaveValue('name');
});

test('an import flags rows that look like customers already here or earlier rows; skip, merge or create anyway; the CSV export opens in Excel', async ({ page }) => {
  test.setTimeout(120_000);
  await createAccount(page, uniqueUser('dupimp'));
  await createTeam(page);
  await createCustomer(page, { name: 'Canary Dup Qian', company: 'Canary Dup Co', phone: '13900003333', email: 'qian@example.cn', notes: 'canary-note original' });
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const csv = [
    'Name,Company,Phone,Address,Notes',
    'Qian (from the fair),Other Co,139 0000 3333,Canary Road 1,canary-note imported',
    'Canary Fresh Zhou,Canary New Co,13900004444,,',
    'canary fresh zhou,CANARY NEW CO,,,',
    'Canary Third Wu,Canary Third Co,13900005555,,',
  ].join('\r\n');
  await page.getByLabel('CSV file').setInputFiles({ name: 'fair.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Import 4 rows' }).click();

  const review = page.getByRole('region', { name: '2 rows look like customers already here' });
  await expect(review).toBeVisible();
  await expect(review.getByRole('link', { name: 'Canary Dup Qian' })).toBeVisible();
  await expect(review).toContainText('an earlier row (Canary Fresh Zhou)');
  await review.getByLabel('For Qian (from the fair)').selectOption({ label: 'Merge into the existing customer' });
  await expect(review.getByLabel('For canary fresh zhou')).toHaveValue('skip');
  await review.getByRole('button', { name: 'Import with these choices (4 rows)' }).click();
  const summary = page.getByRole('status', { name: 'Import summary' });
  await expect(summary).toContainText('Imported 2 rows. Rejected 0 rows.');
  await expect(summary).toContainText('1 merged into customers already here, 1 duplicates skipped.');

  // The merge filled what was empty and overwrote nothing.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByText('3 of 3 customers')).toBeVisible();
  await page.getByRole('list', { name: 'Customers' }).getByRole('link', { name: /Canary Dup Qian/ }).click();
  await openEdit(page);
  await expect(page.getByLabel('Address')).toHaveValue('Canary Road 1');
  await expect(page.getByLabel('Notes', { exact: true })).toHaveValue('canary-note original');
  await expect(page.getByLabel('Company', { exact: true })).toHaveValue('Canary Dup Co');

  // The encoding can be chosen: a GBK file is not valid UTF-8, and says so.
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const gbk = Buffer.from('d0d5c3fb2cb9abcbbe0d0ad5c5ceb02cc3f7b4efc3b3d2d70d0a', 'hex'); // 姓名,公司 / 张伟,明达贸易
  await page.getByLabel('CSV file').setInputFiles({ name: 'gbk.csv', mimeType: 'text/csv', buffer: gbk });
  await expect(page.getByText('Read as GB18030 (GBK).')).toBeVisible();
  await page.getByLabel('Read the file as').selectOption({ label: 'UTF-8' });
  await expect(page.getByRole('alert')).toContainText('The file is not valid UTF-8.');
  await page.getByLabel('Read the file as').selectOption({ label: 'GB18030 (GBK)' });
  await expect(page.getByRole('table', { name: 'Import preview' })).toContainText('明达贸易');

  // CSV export for Excel starts with a UTF-8 byte-order mark.
  await expect(page.getByLabel('For Excel (UTF-8 with a byte-order mark, so Chinese opens correctly)')).toBeChecked();
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Export CSV' }).click()]);
  const bytes = require('node:fs').readFileSync((await download.path())!) as Buffer;
  expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  expect(bytes.toString('utf8')).toContain('Canary Dup Qian');
});

test('an Excel workbook of 1,000 rows imports through the same mapping, checks and progress; export and the template are workbooks', async ({ page }) => {
  test.setTimeout(180_000);
  await createAccount(page, uniqueUser('xlsx'));
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const rows: (string | number)[][] = [['姓名', '公司', '手机', '标签']];
  for (let i = 0; i < 1000; i++) rows.push([`Canary Excel ${i}`, `Canary Sheet Co ${i % 41}`, 13700000000 + i, i % 2 ? 'excel;odd' : 'excel']);
  rows.push(['', 'Nameless Co', '', '']);
  await page.getByLabel('CSV file').setInputFiles({ name: '客户.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: workbook(rows) });
  await expect(page.getByText('Read as an Excel workbook (its first sheet).')).toBeVisible();
  await expect(page.getByRole('table', { name: 'Import preview' })).toContainText('Canary Excel 3');
  await expect(page.getByLabel('Column 1: 姓名')).toHaveValue('name');
  await expect(page.getByLabel('Column 3: 手机')).toHaveValue('phone');
  await page.getByRole('button', { name: 'Import 1001 rows' }).click();
  await expect(page.getByRole('progressbar')).toBeVisible();
  const summary = page.getByRole('status', { name: 'Import summary' });
  await expect(summary).toContainText('Imported 1000 rows. Rejected 1 rows.', { timeout: 120_000 });
  await waitSynced(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByText('1,000 of 1,000 customers')).toBeVisible();
  await page.getByLabel('Search').fill('13700000777');
  await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link')).toHaveCount(1);

  // Export as a workbook, and the import template: both read back as workbooks here.
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const [exported] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Export Excel (.xlsx)' }).click()]);
  expect(exported.suggestedFilename()).toBe('quietdesk-customers.xlsx');
  const xlsxBytes = require('node:fs').readFileSync((await exported.path())!) as Buffer;
  expect(xlsxBytes.subarray(0, 2).toString()).toBe('PK');
  const [template] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download an import template (.xlsx)' }).click()]);
  await page.getByLabel('CSV file').setInputFiles((await template.path())!);
  await expect(page.getByLabel('Column 1: Name')).toHaveValue('name');
  await expect(page.getByLabel('Column 3: Phone')).toHaveValue('phone');
  // The exported workbook imports too (its header row and 1,000 customers).
  await page.getByLabel('CSV file').setInputFiles({ name: 'again.xlsx', mimeType: 'application/octet-stream', buffer: xlsxBytes });
  await expect(page.getByRole('button', { name: 'Import 1000 rows' })).toBeVisible();
});
