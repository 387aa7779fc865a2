import { test, expect, Page } from '@playwright/test';
import * as fs from 'node:fs';
import { createAccount, createTeam, passphraseFor, uniqueUser } from '../tests/helpers';

const N = Number(process.env.QD_N ?? 10000);
function csv(n: number): Buffer {
  const lines = ['Name,Company,Phone,Email,Tags,Notes'];
  for (let i = 0; i < n; i++) lines.push(`Bench Customer ${i},Company ${i % 997},138${String(i).padStart(8, '0')},c${i}@example.com,tag${i % 50},note ${i} about order ${i * 7}`);
  return Buffer.from(lines.join('\n'));
}

test('trace unlock', async ({ page, browser }) => {
  test.setTimeout(30 * 60_000);
  const user = uniqueUser('tr');
  await createAccount(page, user);
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await page.getByLabel('CSV file').setInputFiles({ name: 'b.csv', mimeType: 'text/csv', buffer: csv(N) });
  await page.getByRole('button', { name: `Import ${N} rows` }).click();
  await expect(page.getByRole('status', { name: 'Import summary' })).toContainText(`Imported ${N} rows`, { timeout: 30 * 60_000 });
  const status = page.getByRole('status', { name: 'Sync status' });
  await expect(status).toContainText(/\b0 pending/, { timeout: 30 * 60_000 });
  await page.waitForTimeout(8000);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await browser.startTracing(page, { categories: ['devtools.timeline', 'v8', 'disabled-by-default-v8.cpu_profiler'] });
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).waitFor({ timeout: 10 * 60_000 });
  const t1 = Date.now();
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByText(`${N.toLocaleString('en-US')} of`)).toBeVisible({ timeout: 10 * 60_000 });
  const t2 = Date.now();
  fs.writeFileSync('/tmp/trace-unlock.json', await browser.stopTracing());
  console.log('unlock', t1 - t0, 'list', t2 - t1);
});
