import { test, expect, Page } from './fixtures';
import { createAccount, createTeam, passphraseFor, uniqueUser, waitSynced } from './helpers';

// A new device's first sync of a team with thousands of records shows a progress bar:
// how many of how many have arrived and, once there is a rate, about how long is left.
// It goes when the download is done. In English on a desk, in 中文 on a phone.

const N = 2_600;

function csv(n: number): Buffer {
  const lines = ['Name,Company,Phone,Email'];
  for (let i = 0; i < n; i++) lines.push(`Download Customer ${i},Company ${i % 97},137${String(i).padStart(8, '0')},d${i}@example.com`);
  return Buffer.from(lines.join('\n'));
}

/** Each page of the download arrives a little late, so that the bar can be watched. */
async function slowPulls(page: Page) {
  await page.route('**/api/v1/teams/*/pull?*', async (route) => {
    await new Promise((r) => setTimeout(r, 700));
    await route.continue();
  });
}

const EN = { here: 'Log in on this device', username: 'Username', passphrase: 'Passphrase', logIn: 'Log in' };
const ZH = { here: '在此设备登录', username: '用户名', passphrase: '密码短语', logIn: '登录' };

/** Log in on a new device in the page's language, its download slowed (see `slowPulls`). */
async function logInSlowly(page: Page, user: string, words: typeof EN) {
  await slowPulls(page);
  await page.goto('/');
  await page.getByRole('button', { name: words.here }).click();
  await page.getByLabel(words.username).fill(user);
  await page.getByLabel(words.passphrase).fill(passphraseFor(user));
  await page.getByRole('button', { name: words.logIn, exact: true }).click();
}

test('a first sync shows how far it has come and about how long is left', async ({ browser }, info) => {
  test.setTimeout(300_000);
  const user = uniqueUser('download');
  const desk = await browser.newContext();
  const a = await desk.newPage();
  await createAccount(a, user);
  await createTeam(a);
  await a.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await a.getByLabel('CSV file').setInputFiles({ name: 'customers.csv', mimeType: 'text/csv', buffer: csv(N) });
  await a.getByRole('button', { name: `Import ${N} rows` }).click();
  await expect(a.getByRole('status', { name: 'Import summary' })).toContainText(`Imported ${N} rows`, { timeout: 120_000 });
  await waitSynced(a);
  await desk.close();

  // English, at a desk's size.
  const en = await browser.newContext();
  const b = await en.newPage();
  await logInSlowly(b, user, EN);
  const bar = b.getByRole('progressbar', { name: "Bringing this team's records to this device" });
  await expect(bar).toBeVisible({ timeout: 30_000 });
  const max = Number(await bar.getAttribute('max'));
  expect(max).toBeGreaterThanOrEqual(N);
  expect(max).toBeLessThan(N + 50);
  await expect(b.getByText(/^[\d,]+ of [\d,]+ · estimating the time left…$/)).toBeVisible();
  await expect(b.getByText(/^2,\d{3} of 2,6\d\d · about \d+ s left$/)).toBeVisible({ timeout: 30_000 });
  await b.screenshot({ path: info.outputPath('first-sync-1280.png') });
  await expect(bar).toBeHidden({ timeout: 60_000 });
  await b.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(b.getByText(`${N.toLocaleString('en-US')} of ${N.toLocaleString('en-US')} customers`)).toBeVisible({ timeout: 60_000 });
  await waitSynced(b);
  // A later sync (nothing new) shows no bar.
  await b.getByRole('button', { name: 'Sync now' }).click();
  await waitSynced(b);
  await expect(bar).toBeHidden();
  await en.close();

  // 中文, on a phone.
  const zh = await browser.newContext({ locale: 'zh-CN', viewport: { width: 360, height: 740 } });
  const c = await zh.newPage();
  await logInSlowly(c, user, ZH);
  const zhBar = c.getByRole('progressbar', { name: '正在把团队数据下载到本设备' });
  await expect(zhBar).toBeVisible({ timeout: 30_000 });
  await expect(c.getByText(/^2,\d{3} \/ 2,6\d\d · 约剩 \d+ 秒$/)).toBeVisible({ timeout: 30_000 });
  const scroll = await c.evaluate(() => document.documentElement.scrollWidth);
  expect(scroll).toBeLessThanOrEqual(360);
  await c.screenshot({ path: info.outputPath('first-sync-zh-360.png') });
  await expect(zhBar).toBeHidden({ timeout: 60_000 });
  await zh.close();
});
