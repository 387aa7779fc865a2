import { test, expect, Page } from './fixtures';
import { createAccount, createTeam, logInOnNewDevice, uniqueUser, waitSynced } from './helpers';

// Sealing and opening a batch of records hands its signatures to Web Workers running
// the app's own module (app/src/workers.rs); a browser without workers does the same
// work on the page. Both devices read what the other sealed.

function csv(name: string, phonePrefix: string, n: number): Buffer {
  const lines = ['Name,Company,Phone,Email,Notes'];
  for (let i = 0; i < n; i++) {
    lines.push(`${name} ${i},Company ${i},${phonePrefix}${String(i).padStart(4, '0')},p${phonePrefix}x${i}@example.com,note ${i}`);
  }
  return Buffer.from(lines.join('\n'));
}

async function importCsv(page: Page, name: string, phonePrefix: string, n: number) {
  await page.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await page.getByLabel('CSV file').setInputFiles({ name: 'customers.csv', mimeType: 'text/csv', buffer: csv(name, phonePrefix, n) });
  await page.getByRole('button', { name: `Import ${n} rows` }).click();
  await expect(page.getByRole('status', { name: 'Import summary' })).toContainText(`Imported ${n} rows`, { timeout: 60_000 });
}

async function customerCount(page: Page, n: number) {
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByText(`${n} of ${n} customers`)).toBeVisible({ timeout: 60_000 });
}

/** The customer's phone (a sensitive field, in its own signed section) opened: found by it. */
async function findByPhone(page: Page, phone: string, name: string) {
  await page.getByLabel('Search').fill(phone);
  const links = page.getByRole('list', { name: 'Customers' }).getByRole('link');
  await expect(links).toHaveCount(1);
  await expect(links).toContainText(name);
}

test('a batch is signed and checked in Web Workers, and on the page where there are none', async ({ browser }) => {
  test.setTimeout(180_000);
  const user = uniqueUser('workers');
  const desk = await browser.newContext();
  const a = await desk.newPage();
  const started: string[] = [];
  let running = 0;
  a.on('worker', (w) => {
    started.push(new URL(w.url()).pathname);
    running += 1;
    w.on('close', () => (running -= 1));
  });
  await createAccount(a, user);
  await createTeam(a);
  await importCsv(a, 'Worker Customer', '1390000', 40);
  await waitSynced(a);
  expect(started.filter((p) => p.endsWith('/worker.js')).length).toBeGreaterThan(0);

  // A browser without Web Workers.
  const plain = await browser.newContext();
  await plain.addInitScript(() => {
    delete (globalThis as { Worker?: unknown }).Worker;
  });
  const b = await plain.newPage();
  const startedB: string[] = [];
  b.on('worker', (w) => startedB.push(w.url()));
  await logInOnNewDevice(b, user);
  await customerCount(b, 40);
  await waitSynced(b);
  await findByPhone(b, '13900000007', 'Worker Customer 7');
  await importCsv(b, 'Pageside Customer', '1391111', 20);
  await waitSynced(b);
  expect(startedB).toEqual([]);

  // The device with workers opens what the page without them sealed.
  await customerCount(a, 60);
  await waitSynced(a);
  await findByPhone(a, '13911110012', 'Pageside Customer 12');

  // Locking ends the workers, and the signing key they held.
  expect(running).toBeGreaterThan(0);
  await a.getByRole('button', { name: 'Lock', exact: true }).click();
  await expect(a.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible();
  await expect.poll(() => running).toBe(0);
  await desk.close();
  await plain.close();
});
