import { test, expect } from './fixtures';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { addToTeam, createAccount, createCustomer, createTeam, uniqueUser, waitSynced } from './helpers';

// The restore drill in the browser (issue 31, item 7): the server is backed up while the
// team works, restored into a new server, and the devices are pointed at it. They change
// nothing on its word that it was restored; the admin confirms the restore on the Team
// page (a signed notice); then every device gives back what the backup lacked.

type Page = import('@playwright/test').Page;

const SERVER = path.join(__dirname, '..', '..', 'target', 'debug', 'quietdesk-server');
const TMP = path.join(__dirname, '..', '.tmp');

async function server(...args: string[]) {
  return promisify(execFile)(SERVER, args, { timeout: 60_000 });
}

/** From now on every API request of `page` goes to `base` instead (the websocket, which
 * only pokes, stays where it was). */
async function pointAt(page: Page, base: string) {
  await page.route('**/api/v1/**', async (route) => {
    const url = new URL(route.request().url());
    const answer = await route.fetch({ url: base + url.pathname + url.search });
    await route.fulfill({ response: answer });
  });
}

test('after a restore from a backup, devices wait for the admin\'s signed confirmation, then give back what the backup lacked', async ({ browser }) => {
  const [adminCtx, memberCtx] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [admin, member] = await Promise.all([adminCtx.newPage(), memberCtx.newPage()]);
  const [adminName, memberName] = [uniqueUser('restorer'), uniqueUser('restored')];
  await createAccount(admin, adminName);
  await createTeam(admin);
  await createAccount(member, memberName);
  await addToTeam(admin, member, memberName);

  const before = { name: 'Backed Up Customer', company: 'Before Ltd', phone: '13900001111', email: 'before@example.com', notes: 'in the backup' };
  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(admin, before);
  await waitSynced(admin);

  // A backup of the live database, then an edit it does not hold, acknowledged.
  const stamp = Date.now();
  const backup = path.join(TMP, `backup-${stamp}.sqlite`);
  const restoredDb = path.join(TMP, `restored-${stamp}.sqlite`);
  const { stdout } = await server('--database', `sqlite:${path.join(TMP, 'e2e.sqlite')}`, 'backup', '--to', backup);
  expect(stdout).toContain('integrity ok');
  const after = { name: 'After Backup Customer', company: 'After Ltd', phone: '13900002222', email: 'after@example.com', notes: 'only on devices' };
  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(admin, after);
  await waitSynced(admin);
  await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(member.getByRole('link', { name: after.name })).toBeVisible({ timeout: 30_000 });

  // The backup is restored into a new server, and both devices are pointed at it.
  await server('--database', `sqlite:${restoredDb}`, 'restore', '--from', backup);
  const port = Number(new URL(String(test.info().project.use.baseURL)).port) + 7;
  const restored = spawn(SERVER, [
    '--listen', `127.0.0.1:${port}`, '--database', `sqlite:${restoredDb}`,
    '--static-dir', path.join(__dirname, '..', '..', 'dist'), '--log-file', path.join(TMP, `restored-${stamp}.log`),
  ], { stdio: 'ignore' });
  try {
    const base = `http://127.0.0.1:${port}`;
    await expect.poll(async () => (await fetch(`${base}/api/v1/health`).catch(() => null))?.status, { timeout: 30_000 }).toBe(200);
    await pointAt(admin, base);
    await pointAt(member, base);

    // The member's device changes nothing on the server's word, and says it waits.
    const memberStatus = member.getByRole('status', { name: 'Sync status' });
    await member.getByRole('button', { name: 'Sync now' }).click();
    await expect(memberStatus).toContainText('The server says it was restored from a backup', { timeout: 30_000 });
    await expect(member.getByRole('link', { name: after.name })).toBeVisible();
    await member.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
    const memberCard = member.getByRole('region', { name: 'Server restored from a backup' });
    await expect(memberCard).toContainText('they wait until an admin confirms the restore');
    await expect(memberCard.getByRole('button', { name: 'Confirm the restore' })).toHaveCount(0);

    // The admin confirms it: a notice signed on the admin's device.
    await admin.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
    const card = admin.getByRole('region', { name: 'Server restored from a backup' });
    await card.getByRole('button', { name: 'Confirm the restore' }).click();
    await expect(card).toContainText('Restore confirmed', { timeout: 30_000 });
    await expect(card).toContainText(`${adminName} confirmed it on`, { timeout: 30_000 });
    await waitSynced(admin);

    // The member's device starts over and carries on; the customer the backup lacked is
    // back on the restored server, for a device that never held it.
    await member.getByRole('button', { name: 'Sync now' }).click();
    await waitSynced(member);
    await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
    await expect(member.getByRole('link', { name: after.name })).toBeVisible();
    await expect(member.getByRole('link', { name: before.name })).toBeVisible();
    const rows = await promisify(execFile)('python3', ['-c', `import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM records").fetchone()[0])`, restoredDb]);
    expect(Number(rows.stdout.trim())).toBeGreaterThanOrEqual(2);
    expect(fs.existsSync(backup)).toBe(true);
  } finally {
    restored.kill();
    await Promise.all([adminCtx.close(), memberCtx.close()]);
  }
});
