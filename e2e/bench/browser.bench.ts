import { test, expect, Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createAccount, createTeam, passphraseFor, uniqueUser, waitSynced } from '../tests/helpers';

const SIZES = (process.env.QD_BENCH_SIZES ?? '10000,100000').split(',').map(Number);

function csv(n: number): Buffer {
  const lines = ['Name,Company,Phone,Email,Tags,Notes'];
  for (let i = 0; i < n; i++) {
    lines.push(`Bench Customer ${i},Company ${i % 997},138${String(i).padStart(8, '0')},c${i}@example.com,tag${i % 50},note ${i} about order ${i * 7}`);
  }
  return Buffer.from(lines.join('\n'));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function importRows(page: Page, n: number): Promise<number> {
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await page.getByLabel('CSV file').setInputFiles({ name: 'bench.csv', mimeType: 'text/csv', buffer: csv(n) });
  const button = page.getByRole('button', { name: `Import ${n} rows` });
  await expect(button).toBeVisible({ timeout: 120_000 });
  const t0 = Date.now();
  await button.click();
  await expect(page.getByRole('status', { name: 'Import summary' })).toContainText(`Imported ${n} rows`, { timeout: 30 * 60_000 });
  return Date.now() - t0;
}

/** Keystroke → list updated, measured in the page: input event to the next frame. */
async function searchLatencies(page: Page): Promise<number[]> {
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  return page.evaluate(async () => {
    const input = document.getElementById('search') as HTMLInputElement;
    const queries = ['b', 'be', 'ben', 'benc', 'bench', 'bench c', 'bench cu', '1', '12', '123', '1234', 'company 9', 'tag4', 'tag49', 'note 77', 'c500@', 'x', ''];
    const out: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const q of queries) {
        const t0 = performance.now();
        input.value = q;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        out.push(performance.now() - t0);
      }
    }
    return out;
  });
}

for (const n of SIZES) {
  test(`browser: ${n} customers`, async ({ page }) => {
    const user = uniqueUser('bench');
    await createAccount(page, user);
    await createTeam(page);
    const importMs = await importRows(page, n);
    const syncT0 = Date.now();
    await waitSyncedLong(page);
    const syncMs = Date.now() - syncT0;

    await page.reload();
    await page.getByLabel('Passphrase').fill(passphraseFor(user));
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Unlock', exact: true }).click();
    await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).waitFor({ timeout: 10 * 60_000 });
    await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
    await expect(page.getByText(`${n} of ${n} customers`)).toBeVisible({ timeout: 10 * 60_000 });
    const unlockMs = Date.now() - t0;

    const lat = await searchLatencies(page);
    const line = `browser bench n=${n}: import ${importMs} ms (${Math.round(n / (importMs / 1000))} rows/s); ` +
      `upload after import ${syncMs} ms; unlock→list ${unlockMs} ms (includes Argon2id 64 MiB); ` +
      `search keystroke p50 ${pct(lat, 50).toFixed(1)} ms, p95 ${pct(lat, 95).toFixed(1)} ms (${lat.length} keystrokes)`;
    console.log(line);
    fs.appendFileSync(path.join(__dirname, '..', 'bench-results.txt'), line + '\n');
  });
}

async function waitSyncedLong(page: Page) {
  const status = page.getByRole('status', { name: 'Sync status' });
  await expect(status).toContainText('0 pending', { timeout: 30 * 60_000 });
  await expect(status).toContainText('synced', { timeout: 60_000 });
}

test('release .wasm size', async () => {
  const dir = path.join(__dirname, '..', '..', 'dist-release');
  const wasm = fs.readdirSync(dir).find((f) => f.endsWith('.wasm'));
  expect(wasm).toBeTruthy();
  const bytes = fs.readFileSync(path.join(dir, wasm!));
  const gz = zlib.gzipSync(bytes, { level: 9 }).length;
  const line = `release wasm: ${bytes.length} bytes, ${gz} bytes gzipped (goal <= 500 KB gzipped)`;
  console.log(line);
  fs.appendFileSync(path.join(__dirname, '..', 'bench-results.txt'), line + '\n');
});
