import { test, expect } from './fixtures';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addToTeam, createAccount, createCustomer, createTeam, uniqueUser, waitSynced, openEdit } from './helpers';

test('members join by invitation link; support sees masked phones; an offboarded member is cut off and new data skips them', async ({ browser }) => {
  test.setTimeout(120_000);
  const [admin, member, support] = [uniqueUser('adm'), uniqueUser('mem'), uniqueUser('sup')];
  const ctx = await Promise.all([browser.newContext(), browser.newContext(), browser.newContext()]);
  const [a, m, s] = await Promise.all(ctx.map((c) => c.newPage()));
  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(m, member);
  await createAccount(s, support);
  await addToTeam(a, m, member, 'member');
  await addToTeam(a, s, support, 'support');
  // Safety numbers: the admin's page and the member's page show the same number.
  await m.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  const mSees = await m.getByRole('listitem').filter({ hasText: admin }).locator('.fingerprint').innerText();
  const aSees = await a.getByRole('listitem').filter({ hasText: member }).locator('.fingerprint').innerText();
  const digits = (t: string) => t.replace(/^.*: /, '');
  expect(digits(mSees)).toMatch(/^(\d{5} ){11}\d{5}$/);
  expect(digits(mSees)).toBe(digits(aSees));
  // The admin sees when and on what each member was last active.
  await expect(a.getByRole('listitem').filter({ hasText: member })).toContainText(/Last seen .* on Chrome on \w+ \(1 device\)/);
  await m.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();

  // The member writes a customer with a full phone number.
  await createCustomer(m, { name: 'Canary Offboard Person', company: 'Canary Exit Ltd', phone: '13955556666', email: 'canary.exit@example.cn', notes: 'canary-note before offboarding' });
  await waitSynced(m);

  // Support holds no sensitive key: the list and the page show only the mask.
  await s.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  const sList = s.getByRole('list', { name: 'Customers' });
  await expect(sList).toContainText('139****6666', { timeout: 20_000 });
  await expect(sList).not.toContainText('13955556666');
  await s.getByRole('link', { name: /Canary Offboard Person/ }).click();
  // The card shows the mask where the phone is; the form's phone field is read-only.
  await expect(s.getByRole('region', { name: 'Customer profile' })).toContainText('139****6666');
  await expect(s.getByRole('region', { name: 'Customer profile' })).not.toContainText('13955556666');
  await openEdit(s);
  await expect(s.getByLabel('Phone', { exact: true })).toHaveValue('');
  await expect(s.getByLabel('Phone', { exact: true })).toHaveAttribute('readonly', '');
  await expect(s.getByLabel('Phone', { exact: true })).toHaveAttribute('placeholder', '139****6666');

  // The admin offboards the member in one action (with a confirmation).
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(a.getByText('Key epoch 1', { exact: true })).toBeVisible();
  await a.getByRole('button', { name: `Remove ${member}` }).click();
  await a.getByRole('button', { name: `Confirm removing ${member}` }).click();
  await expect(a.getByRole('status', { name: 'Team status' })).toContainText(`Removed ${member}`, { timeout: 20_000 });
  await expect(a.getByText('Key epoch 2', { exact: true })).toBeVisible();
  await expect(a.getByRole('list', { name: 'Members' })).not.toContainText(member);

  // The admin's client re-encrypts the member's old record onto epoch 2, then the
  // server shreds the epoch-1 key wraps.
  await expect(a.getByRole('status', { name: 'Re-encryption status' })).toHaveText('All records (1) are on key epoch 2.', { timeout: 30_000 });
  const log = path.join(__dirname, '..', '.tmp', 'server.log');
  await expect.poll(() => fs.readFileSync(log, 'utf8').includes('old key wraps shredded'), { timeout: 20_000 }).toBe(true);

  // The removed member's device is refused at once.
  await m.getByRole('button', { name: 'Sync now' }).click();
  await expect(m.getByRole('status', { name: 'Sync status' })).toContainText('sync error', { timeout: 20_000 });

  // New data, sealed under the new epoch, still reaches support.
  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(a, { name: 'Canary After Offboard', company: 'Canary Later Co', phone: '13900001111', email: 'canary.later@example.cn', notes: 'canary-note after offboarding' });
  await waitSynced(a);
  await s.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(sList).toContainText('Canary After Offboard', { timeout: 20_000 });
  await expect(s.getByRole('navigation').getByRole('link', { name: 'Team' })).toBeVisible();
  await s.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(s.getByText('Key epoch 2', { exact: true })).toBeVisible();
  for (const c of ctx) await c.close();
});

test('a role change is a key change: promotion reveals sensitive fields, demotion rotates', async ({ browser }) => {
  test.setTimeout(120_000);
  const [admin, user] = [uniqueUser('adr'), uniqueUser('usr')];
  const ctx = await Promise.all([browser.newContext(), browser.newContext()]);
  const [a, u] = await Promise.all(ctx.map((c) => c.newPage()));
  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(u, user);
  await addToTeam(a, u, user, 'support');

  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(a, { name: 'Canary Role Person', company: 'Canary Roles', phone: '13977778888', email: 'canary.role@example.cn', notes: 'canary-note roles' });
  await waitSynced(a);
  await u.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  const uList = u.getByRole('list', { name: 'Customers' });
  await expect(uList).toContainText('139****8888', { timeout: 20_000 });

  // Promoted to member: the sensitive key is wrapped to them, the full number shows.
  // Support read the basic section of every portfolio and a member reads only their
  // own and the shared one, so the promotion also starts a new epoch.
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await a.getByLabel(`Role of ${user}`).selectOption('member');
  await expect(a.getByRole('status', { name: 'Team status' })).toContainText(`${user} is now member`);
  await expect(a.getByText('Key epoch 2', { exact: true })).toBeVisible();
  // No reload: the new key arrives as an event and the record opens in full in place.
  await expect(uList).toContainText('13977778888', { timeout: 20_000 });

  // Demoted to support again: a new epoch starts without a sensitive key for them.
  await a.getByLabel(`Role of ${user}`).selectOption('support');
  await expect(a.getByRole('status', { name: 'Team status' })).toContainText(`${user} is now support`);
  await expect(a.getByText('Key epoch 3', { exact: true })).toBeVisible();

  // A rotation schedule is a team setting (an encrypted record) that survives a reload.
  await a.getByLabel('Rotate keys automatically').selectOption('90');
  await expect(a.getByRole('status', { name: 'Team status' })).toContainText('Keys will rotate every 90 days.');
  // So is the beacon lease: an admin sets it, a support member reads it (issue 31 item 14).
  const lease = 'Confirm membership at least every N hours (1 to 720)';
  await a.getByLabel(lease).fill('12');
  await a.getByRole('form', { name: 'Membership confirmation' }).getByRole('button', { name: 'Save' }).click();
  await expect(a.getByText('Membership is now confirmed at least every 12 hours.')).toBeVisible();
  await waitSynced(a);
  await u.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(u.getByText('Membership is confirmed at least every 12 hours', { exact: false })).toBeVisible({ timeout: 20_000 });
  await expect(u.getByLabel(lease)).toHaveCount(0);
  await a.reload();
  await a.getByLabel('Passphrase').fill(`canary-pass-${admin}-Winter!`);
  await a.getByRole('button', { name: 'Unlock', exact: true }).click();
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(a.getByLabel('Rotate keys automatically')).toHaveValue('90');
  await expect(a.getByLabel(lease)).toHaveValue('12');
  for (const c of ctx) await c.close();
});

test('re-encryption after an offboarding resumes after a reload in the middle', async ({ browser }) => {
  test.setTimeout(180_000);
  const [admin, member] = [uniqueUser('adz'), uniqueUser('mez')];
  const ctx = await Promise.all([browser.newContext(), browser.newContext()]);
  const [a, m] = await Promise.all(ctx.map((c) => c.newPage()));
  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(m, member);
  await addToTeam(a, m, member);

  // The member brings 3,000 customers (sealed under epoch 1).
  const n = 3000;
  const lines = ['Name,Company,Phone'];
  for (let i = 0; i < n; i++) lines.push(`Canary Resume ${i},Canary Resume Co,139${String(i).padStart(8, '0')}`);
  await m.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  await m.getByLabel('CSV file').setInputFiles({ name: 'resume.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n')) });
  await m.getByRole('button', { name: `Import ${n} rows` }).click();
  await expect(m.getByRole('status', { name: 'Import summary' })).toContainText(`Imported ${n} rows`, { timeout: 60_000 });
  await waitSynced(m);
  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(a.getByText(`${n.toLocaleString("en-US")} of ${n.toLocaleString("en-US")} customers`)).toBeVisible({ timeout: 30_000 });

  // Offboard; reload while the progress bar runs; the work resumes after unlocking.
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await a.getByRole('button', { name: `Remove ${member}` }).click();
  await a.getByRole('button', { name: `Confirm removing ${member}` }).click();
  await expect(a.getByRole('progressbar')).toBeVisible({ timeout: 20_000 });
  await a.reload();
  await a.getByLabel('Passphrase').fill(`canary-pass-${admin}-Winter!`);
  await a.getByRole('button', { name: 'Unlock', exact: true }).click();
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(a.getByRole('status', { name: 'Re-encryption status' })).toHaveText(`All records (${n}) are on key epoch 2.`, { timeout: 90_000 });
  await waitSynced(a);

  // Nothing lost or doubled in what this device stored (re-sealed pages are stored as
  // packs): after another reload, every customer is there once, readable.
  await a.reload();
  await a.getByLabel('Passphrase').fill(`canary-pass-${admin}-Winter!`);
  await a.getByRole('button', { name: 'Unlock', exact: true }).click();
  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await waitSynced(a);
  await expect(a.getByText(`${n.toLocaleString("en-US")} of ${n.toLocaleString("en-US")} customers`)).toBeVisible({ timeout: 30_000 });
  await a.getByLabel('Search').fill('Canary Resume 2999');
  await expect(a.getByRole('list', { name: 'Customers' })).toContainText('13900002999');
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(a.getByRole('status', { name: 'Re-encryption status' })).toHaveText(`All records (${n}) are on key epoch 2.`);
  for (const c of ctx) await c.close();
});

test('each member has a portfolio: another member never sees it; a reassignment moves the customer', async ({ browser }) => {
  test.setTimeout(120_000);
  const [admin, bob, carol] = [uniqueUser('adp'), uniqueUser('bob'), uniqueUser('car')];
  const ctx = await Promise.all([browser.newContext(), browser.newContext(), browser.newContext()]);
  const [a, b, c] = await Promise.all(ctx.map((x) => x.newPage()));
  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(b, bob);
  await createAccount(c, carol);
  await addToTeam(a, b, bob);
  await addToTeam(a, c, carol);

  // Bob's own customer (owner: bob) and a shared one.
  await createCustomer(b, { name: 'Canary Bobs Own', company: 'Canary Portfolio Co', phone: '13911112222', email: 'canary.own@example.cn', notes: 'canary-note portfolio' });
  await openEdit(b);
  await b.getByLabel('Owner', { exact: true }).fill(bob);
  await b.getByRole('button', { name: 'Save' }).click();
  await expect(b.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  await b.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(b, { name: 'Canary Everyones', company: 'Canary Shared Co', phone: '13933334444', email: 'canary.shared@example.cn', notes: 'canary-note shared' });
  await waitSynced(b);

  // Bob cannot hand his customer to Carol: only a manager or an admin can.
  await b.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await b.getByRole('link', { name: /Canary Bobs Own/ }).click();
  await openEdit(b);
  await b.getByLabel('Owner', { exact: true }).fill(carol);
  await b.getByRole('button', { name: 'Save' }).click();
  await expect(b.getByText(/Not saved: .*manager or an admin/)).toBeVisible();

  // Carol sees the shared customer, never Bob's; the admin sees both.
  await c.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  const cList = c.getByRole('list', { name: 'Customers' });
  await expect(cList).toContainText('Canary Everyones', { timeout: 20_000 });
  await expect(cList).not.toContainText('Canary Bobs Own');
  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  const aList = a.getByRole('list', { name: 'Customers' });
  await expect(aList).toContainText('Canary Bobs Own', { timeout: 20_000 });
  await expect(aList).toContainText('13911112222');

  // The admin gives it to Carol: it moves to her portfolio and out of Bob's.
  await a.getByRole('link', { name: /Canary Bobs Own/ }).click();
  await openEdit(a);
  await a.getByLabel('Owner', { exact: true }).fill(carol);
  await a.getByRole('button', { name: 'Save' }).click();
  await expect(a.getByText('Saved.')).toBeVisible();
  await waitSynced(a);
  await expect(cList).toContainText('Canary Bobs Own', { timeout: 20_000 });
  await expect(cList).toContainText('13911112222');
  await b.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  const bList = b.getByRole('list', { name: 'Customers' });
  await expect(bList).not.toContainText('Canary Bobs Own', { timeout: 20_000 });
  await expect(bList).toContainText('Canary Everyones');
  for (const x of ctx) await x.close();
});

test('incident mode: one admin action signs everyone out, rotates keys and records why', async ({ browser }) => {
  test.setTimeout(90_000);
  const [admin, member] = [uniqueUser('adi'), uniqueUser('mei')];
  const ctx = await Promise.all([browser.newContext(), browser.newContext()]);
  const [a, m] = await Promise.all(ctx.map((c) => c.newPage()));
  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(m, member);
  await addToTeam(a, m, member);
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(a.getByText('Key epoch 1', { exact: true })).toBeVisible();
  a.once('dialog', (d) => d.accept('canary laptop stolen from a car'));
  await a.getByRole('button', { name: 'Declare an incident' }).click();
  await expect(a.getByRole('status', { name: 'Team status' })).toContainText('Incident declared', { timeout: 20_000 });
  await expect(a.getByText('Key epoch 2', { exact: true })).toBeVisible();
  // The member's session is gone.
  await m.getByRole('button', { name: 'Sync now' }).click();
  await expect(m.getByRole('status', { name: 'Sync status' })).toContainText('sync error', { timeout: 20_000 });
  // The alert says who and why.
  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(a.getByRole('list', { name: 'Security alerts' })).toContainText(`${admin} declared an incident`);
  await a.screenshot({ path: 'test-results/incident.png', fullPage: true });
  // The reason is on the audit page (kept as an encrypted team record).
  await a.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
  await a.getByLabel('Action', { exact: true }).selectOption('incident');
  await expect(a.getByRole('table', { name: 'Audit entries' })).toContainText('canary laptop stolen from a car');
  for (const c of ctx) await c.close();
});
