import { test, expect } from './fixtures';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { addToTeam, createAccount, createInvitationLink, createTeam, logInOnNewDevice, openEdit, passphraseFor, uniqueUser, waitSynced } from './helpers';

// A server that lies, in the browser: Playwright rewrites the real server's answers on
// their way to the app (the native scenarios are in server/tests/hostile.rs).

type Page = import('@playwright/test').Page;

/** From now on, GET answers on `pattern` reach `page` rewritten by `change`. */
async function rewriteJson(page: Page, pattern: string, change: (body: any) => void) {
  await page.route(pattern, async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    const real = await route.fetch();
    const body = await real.json();
    change(body);
    await route.fulfill({ response: real, json: body });
  });
}

/** An admin with a team, and a second account on its own browser context. */
async function adminAndJoiner(browser: import('@playwright/test').Browser, prefixes: [string, string]) {
  const [adminCtx, joinerCtx] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [admin, joiner] = await Promise.all([adminCtx.newPage(), joinerCtx.newPage()]);
  const [adminName, joinerName] = [uniqueUser(prefixes[0]), uniqueUser(prefixes[1])];
  await createAccount(admin, adminName);
  await createTeam(admin);
  await createAccount(joiner, joinerName);
  return { admin, joiner, joinerName, close: () => Promise.all([adminCtx.close(), joinerCtx.close()]) };
}

/** A new device logs in to a fresh account while the server rewrites its prelogin
 * answer with `change` (a POST: rewriteJson is for GETs). Returns the alert the app
 * shows and whether anything derived from the passphrase was sent. */
async function logInWithPrelogin(browser: import('@playwright/test').Browser, prefix: string, change: (body: any) => void) {
  const user = uniqueUser(prefix);
  const first = await browser.newContext();
  await createAccount(await first.newPage(), user);
  await first.close();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  let loginSent = false;
  await page.route('**/api/v1/auth/prelogin', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    change(body);
    await route.fulfill({ response: real, json: body });
  });
  await page.route('**/api/v1/auth/login', async (route) => {
    loginSent = true;
    await route.continue();
  });
  await page.goto('/');
  await page.getByRole('button', { name: 'Log in on this device' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible({ timeout: 20_000 });
  const text = await alert.innerText();
  await ctx.close();
  return { text, loginSent };
}

test('log-in refuses weaker passphrase settings from the server and sends no auth key', async ({ browser }) => {
  test.setTimeout(90_000);
  // The cheapest Argon2 settings the format allows.
  const r = await logInWithPrelogin(browser, 'kdf', (body) => { body.kdf = { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 }; });
  expect(r.text).toContain('weaker passphrase protection');
  expect(r.loginSent).toBe(false);
});

test('log-in on a new device refuses a salt the server could hand everybody (not bound to the username)', async ({ browser }) => {
  test.setTimeout(90_000);
  const r = await logInWithPrelogin(browser, 'salt', (body) => {
    body.salt = 'AAAAAAAAAAAAAAAAAAAAAA==';
    body.kdf.binding = 'random';
  });
  expect(r.text).toContain('older passphrase protection');
  expect(r.loginSent).toBe(false);
});

test('an invitation the server lists with another role is refused, and nobody is added', async ({ browser }) => {
  test.setTimeout(90_000);
  const { admin, joiner, joinerName, close } = await adminAndJoiner(browser, ['adm', 'sup']);

  await admin.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await admin.getByLabel('Invite as').selectOption('support');
  await admin.getByRole('button', { name: 'Create invitation link' }).click();
  const linkField = admin.getByLabel(/^Invitation link/);
  await expect(linkField).toHaveValue(/#join=/);
  // The server turns the support invitation into a manager one (before the answer
  // arrives: the admin's device looks at answers as soon as it hears of one).
  await rewriteJson(admin, '**/api/v1/teams/*/invites', (body) => {
    for (const i of body.invites) i.role = 'manager';
  });
  await joiner.getByLabel('Invitation link').fill(await linkField.inputValue());
  await joiner.getByRole('button', { name: 'Accept invitation' }).click();
  await expect(joiner.getByRole('status', { name: 'Invitation status' })).toContainText('Invitation answered');
  await admin.getByRole('button', { name: 'Check invitations' }).click();
  const open = admin.getByRole('list', { name: 'Open invitations' });
  await expect(open).toContainText('Refused: the server lists this invitation as manager');
  await expect(open.getByRole('button', { name: `Add ${joinerName}` })).toHaveCount(0);
  await expect(admin.getByRole('list', { name: 'Members' })).not.toContainText(joinerName);
  await close();
});

test('a device_wiped the server forges without a signed order erases nothing', async ({ page }) => {
  test.setTimeout(90_000);
  const user = uniqueUser('wip');
  await createAccount(page, user);
  await createTeam(page);

  // From now on the server claims this device was wiped, with no order anyone signed.
  const forged = { code: 'device_wiped', message: 'this device was signed out remotely' };
  await page.route('**/api/v1/teams/*/push', (route) => route.fulfill({ status: 401, json: forged }));
  await page.route('**/api/v1/teams/*/pull*', (route) => route.fulfill({ status: 401, json: forged }));
  await page.getByRole('link', { name: 'New customer' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Canary Unsent Customer');
  await page.getByRole('button', { name: 'Create customer' }).click();
  await expect(page.getByRole('heading', { name: 'Canary Unsent Customer' })).toBeVisible();

  const status = page.getByRole('status', { name: 'Sync status' });
  await expect(status).toContainText('nothing was erased', { timeout: 20_000 });
  await expect(status).toContainText('gave no signed order');
  // The local database, with the unsent edit, is still there.
  const names = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''));
  expect(names).toContain(`quietdesk:${user}`);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByRole('list', { name: 'Customers' })).toContainText('Canary Unsent Customer');
});

test('a new device takes its team from the account pins, never the server listing, and refuses a chain older than the pinned one', async ({ browser }) => {
  test.setTimeout(120_000);
  const user = uniqueUser('pin');
  const first = await browser.newContext();
  const desk = await first.newPage();
  await createAccount(desk, user);
  await createTeam(desk);
  await desk.getByRole('link', { name: 'New customer' }).click();
  await desk.getByLabel('Name', { exact: true }).fill('Pinned Team Customer');
  await desk.getByRole('button', { name: 'Create customer' }).click();
  await expect(desk.getByRole('heading', { name: 'Pinned Team Customer' })).toBeVisible();
  // A rotation: the chain (and the account's pinned head) grows to two entries.
  await desk.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await desk.getByRole('button', { name: 'Rotate keys now' }).click();
  await expect(desk.getByText('Key epoch 2', { exact: true })).toBeVisible();
  await waitSynced(desk);

  // A new phone: the server lists another team first (one it made up).
  const phoneCtx = await browser.newContext();
  const phone = await phoneCtx.newPage();
  await rewriteJson(phone, '**/api/v1/teams', (body) => body.teams.unshift({ team: 'f'.repeat(32), chain_len: 1 }));
  await logInOnNewDevice(phone, user);
  await phone.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(phone.getByRole('list', { name: 'Customers' })).toContainText('Pinned Team Customer', { timeout: 30_000 });
  await phoneCtx.close();

  // Another new device, to which the server serves the chain before the rotation.
  const tabletCtx = await browser.newContext();
  const tablet = await tabletCtx.newPage();
  await rewriteJson(tablet, '**/api/v1/teams/*/chain', (body) => (body.entries = body.entries.slice(0, 1)));
  await logInOnNewDevice(tablet, user);
  await expect(tablet.getByRole('alert')).toContainText('membership chain was refused', { timeout: 30_000 });
  await expect(tablet.getByRole('alert')).toContainText('rollback');
  await tabletCtx.close();
  await first.close();
});

// "This account has no pins" is the server's word; the account's own sealed bundle
// says it keeps pins, so a new device refuses to go on and opens no team at all (before,
// it took the first team the server listed: one an attacker made and added the victim to).
test('a new device told "no pins" by the server opens no team: the sealed account says it has pins', async ({ browser }) => {
  test.setTimeout(120_000);
  const user = uniqueUser('nop');
  const first = await browser.newContext();
  const desk = await first.newPage();
  await createAccount(desk, user);
  await createTeam(desk);
  await waitSynced(desk);

  const phoneCtx = await browser.newContext();
  const phone = await phoneCtx.newPage();
  await rewriteJson(phone, '**/api/v1/account/pins', (body) => { body.version = 0; });
  await rewriteJson(phone, '**/api/v1/teams', (body) => body.teams.unshift({ team: 'f'.repeat(32), chain_len: 1 }));
  const chains: string[] = [];
  phone.on('request', (r) => { if (/\/api\/v1\/teams\/[^/]+\/(chain|wraps)/.test(r.url())) chains.push(r.url()); });
  await logInOnNewDevice(phone, user);
  await expect(phone.getByRole('alert')).toContainText('has no pins', { timeout: 30_000 });
  await expect(phone.getByRole('heading', { name: 'Home' })).toHaveCount(0);
  expect(chains, 'no team was even read').toEqual([]);
  await phoneCtx.close();
  await first.close();
});

test('after a rotation, a server that withholds the new keys gets no edit sealed under the old ones', async ({ browser }) => {
  test.setTimeout(120_000);
  const { admin, joiner: member, joinerName: memberName, close } = await adminAndJoiner(browser, ['rot', 'mem']);
  await addToTeam(admin, member, memberName, 'member');

  // The server hides every key wrap of epoch 2 and later from the member.
  await rewriteJson(member, '**/api/v1/teams/*/wraps', (body) => {
    body.wraps = body.wraps.filter((w: { epoch: number }) => w.epoch < 2);
  });
  let pushes = 0;
  await member.route('**/api/v1/teams/*/push', async (route) => {
    pushes += 1;
    await route.continue();
  });
  await admin.getByRole('button', { name: 'Rotate keys now' }).click();
  await expect(admin.getByText('Key epoch 2', { exact: true })).toBeVisible();
  // The member's device learns of the new epoch (the chain is signed; the keys are not
  // there).
  await member.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(member.getByText('Key epoch 2', { exact: true })).toBeVisible({ timeout: 20_000 });
  await member.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();

  await member.getByRole('link', { name: 'New customer' }).click();
  await member.getByLabel('Name', { exact: true }).fill('Canary Waiting Customer');
  await member.getByRole('button', { name: 'Create customer' }).click();
  const status = member.getByRole('status', { name: 'Sync status' });
  await expect(status).toContainText("the team's keys for its current epoch (2) have not reached it", { timeout: 20_000 });
  await expect(status).toContainText('1 pending');
  expect(pushes).toBe(0);

  // The keys arrive: the edit goes out under epoch 2.
  await member.unrouteAll();
  await member.getByRole('button', { name: 'Sync now' }).click();
  await waitSynced(member);
  await close();
});

test('a new device notices a customer served older than another device of the account saw, and builds nothing on it', async ({ browser }) => {
  test.setTimeout(120_000);
  const user = uniqueUser('rollback');
  const first = await browser.newContext();
  const desk = await first.newPage();
  // Every record's first version, as the desk sends it (read in the page: a push's
  // body is a Blob, which the browser does not show its tools).
  const firstVersions = new Map<string, string>();
  await desk.exposeFunction('__qdPushed', (body: string) => {
    for (const item of JSON.parse(body).items) if (item.base_version === 0) firstVersions.set(item.record, item.sealed);
  });
  await desk.addInitScript(() => {
    const fetch = window.fetch;
    window.fetch = async function (input: RequestInfo | URL, init?: RequestInit) {
      if (input instanceof Request && input.method === 'POST' && input.url.endsWith('/push')) {
        await (window as any).__qdPushed(await input.clone().text());
      }
      return fetch.call(this, input, init);
    };
  });
  await createAccount(desk, user);
  await createTeam(desk);
  const pinned = () => desk.waitForResponse((r) => r.url().endsWith('/api/v1/account/pins') && r.request().method() === 'PUT');
  let pin = pinned();
  await desk.getByRole('link', { name: 'New customer' }).click();
  await desk.getByLabel('Name', { exact: true }).fill('Rolled Back Customer');
  await desk.getByLabel('Notes', { exact: true }).fill('call on Monday');
  await desk.getByRole('button', { name: 'Create customer' }).click();
  await expect(desk.getByRole('heading', { name: 'Rolled Back Customer' })).toBeVisible();
  await waitSynced(desk);
  await pin;
  pin = pinned();
  await openEdit(desk);
  await desk.getByLabel('Notes', { exact: true }).fill('consent withdrawn: never call');
  await desk.getByRole('button', { name: 'Save' }).click();
  await waitSynced(desk);
  await pin;

  // A new phone, to which the server serves every record as its first version.
  const phoneCtx = await browser.newContext();
  const phone = await phoneCtx.newPage();
  await rewriteJson(phone, '**/api/v1/teams/*/pull*', (body) => {
    for (const c of body.changes) {
      const old = firstVersions.get(c.record);
      if (old && c.version > 1) Object.assign(c, { version: 1, sealed: old });
    }
  });
  await logInOnNewDevice(phone, user);
  const alert = phone.getByRole('alert');
  await expect(alert).toContainText('“Rolled Back Customer” was served at version 1, older than version 2', { timeout: 30_000 });
  await expect(alert).toContainText('its edits wait on this device');
  await phoneCtx.close();
  await first.close();
});

/** `sealed` (base64 of a sealed record) with every section's collection id changed:
 * an unverified header naming another collection (the signature no longer holds). */
function withOtherCollection(sealed: string): string {
  const b = Buffer.from(sealed, 'base64');
  const sections = b[1];
  let at = 2;
  for (let i = 0; i < sections; i++) {
    const len = b.readUInt32BE(at);
    for (let j = 0; j < 16; j++) b[at + 4 + 1 + j] ^= 0x5a; // after the envelope's version byte
    at += 4 + len;
  }
  return b.toString('base64');
}

// A forged change (a header naming another collection, or junk, neither signed by a
// member) erases neither the customer nor the edit waiting for the network, and after
// a reload the verified version is still what the device holds (issue 31, item 9).
test('a forged change erases neither a customer nor its unsent edit, and junk never replaces the verified version', async ({ browser }) => {
  test.setTimeout(120_000);
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const user = uniqueUser('fgd');
  await createAccount(page, user);
  await createTeam(page);
  const pushed = new Map<string, { version: number; sealed: string }>();
  page.on('request', (r) => {
    if (!/\/push$/.test(new URL(r.url()).pathname) || r.method() !== 'POST') return;
    for (const item of r.postDataJSON().items) pushed.set(item.record, { version: item.base_version + 1, sealed: item.sealed });
  });
  let forged: any[] = [];
  await page.route('**/api/v1/teams/*/pull*', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    if (forged.length) {
      body.changes.push(...forged.map((c) => ({ ...c, seq: body.cursor })));
      forged = [];
    }
    await route.fulfill({ response: real, json: body });
  });
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('link', { name: 'New customer' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Forged Move Target');
  await page.getByRole('button', { name: 'Create customer' }).click();
  await expect(page.getByRole('heading', { name: 'Forged Move Target' })).toBeVisible();
  await waitSynced(page);
  const [id, first] = [...pushed.entries()].find(([, v]) => v.version === 1)!;

  // Offline, an edit waits; then the server slips in a "move" and junk as newer versions.
  await ctx.setOffline(true);
  await openEdit(page);
  await page.getByLabel('Notes', { exact: true }).fill('canary-kept-edit written offline');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status', { name: 'Sync status' })).toContainText('1 pending', { timeout: 20_000 });
  const junk = Buffer.from(first.sealed, 'base64');
  junk[junk.length - 1] ^= 1; // the signature
  forged = [
    { record: id, version: 2, sealed: withOtherCollection(first.sealed) },
    { record: id, version: 3, sealed: junk.toString('base64') },
  ];
  await ctx.setOffline(false);
  await page.getByRole('button', { name: 'Sync now' }).click();
  await waitSynced(page);
  await expect(page.getByRole('heading', { name: 'Forged Move Target' })).toBeVisible();
  await expect(page.getByText('canary-kept-edit written offline')).toBeVisible();

  // After a reload the verified version is what this device holds, with the edit.
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click({ timeout: 30_000 });
  await page.getByRole('link', { name: /Forged Move Target/ }).click({ timeout: 20_000 });
  await expect(page.getByText('canary-kept-edit written offline')).toBeVisible({ timeout: 20_000 });
  await ctx.close();
});

// A member whose device clock runs hours ahead edits a customer: the other members'
// clients refuse that version, say who signed it and why, and still write the record
// (before, every colleague's edit of it was answered 409 and waited for good; issue 31
// item 5). The edit lands on the server: a new device of the admin sees it.
test('a version from a member whose clock runs hours ahead is refused, named, and does not stop the others writing', async ({ browser }) => {
  test.setTimeout(150_000);
  const [adminCtx, aheadCtx] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [admin, ahead] = await Promise.all([adminCtx.newPage(), aheadCtx.newPage()]);
  // Two hours: past the 10 minutes of skew a stamp may have, within the day an admin's
  // confirmation of the team lasts (a device a year ahead sees every confirmation as a
  // year old, and seals nothing: native tests cover a year).
  await ahead.clock.install({ time: Date.now() + 2 * 3600 * 1000 });
  const [adminName, aheadName] = [uniqueUser('clk'), uniqueUser('fut')];
  await createAccount(admin, adminName);
  await createTeam(admin);
  await createAccount(ahead, aheadName);
  await addToTeam(admin, ahead, aheadName);

  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await admin.getByRole('link', { name: 'New customer' }).click();
  await admin.getByLabel('Name', { exact: true }).fill('Clock Skew Trading');
  await admin.getByRole('button', { name: 'Create customer' }).click();
  await expect(admin.getByRole('heading', { name: 'Clock Skew Trading' })).toBeVisible();
  await waitSynced(admin);

  // The member two hours ahead edits the customer's notes.
  await ahead.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await ahead.getByRole('link', { name: /Clock Skew Trading/ }).click({ timeout: 30_000 });
  await openEdit(ahead);
  await ahead.getByLabel('Notes', { exact: true }).fill('written two hours from now');
  await ahead.getByRole('button', { name: 'Save' }).click();
  await waitSynced(ahead);

  // The admin's client refuses it, says so, and its own edit still lands.
  await admin.getByRole('button', { name: 'Sync now' }).click();
  const refused = admin.getByRole('alert').filter({ hasText: 'ahead of this device' });
  await expect(refused).toContainText(aheadName, { timeout: 30_000 });
  await expect(admin.getByText('written two hours from now')).toHaveCount(0);
  await openEdit(admin);
  await admin.getByLabel('Phone', { exact: true }).fill('13900002222');
  await admin.getByRole('button', { name: 'Save' }).click();
  await waitSynced(admin);

  // A new device of the admin's account reads the server: the admin's edit is there,
  // the version stamped hours ahead is not what it shows.
  const freshCtx = await browser.newContext();
  const fresh = await freshCtx.newPage();
  await logInOnNewDevice(fresh, adminName);
  await fresh.getByRole('navigation').getByRole('link', { name: 'Customers' }).click({ timeout: 30_000 });
  await fresh.getByRole('link', { name: /Clock Skew Trading/ }).click({ timeout: 30_000 });
  await expect(fresh.getByRole('region', { name: 'Customer profile' })).toContainText('139', { timeout: 30_000 });
  await expect(fresh.getByText('written two hours from now')).toHaveCount(0);
  await Promise.all([adminCtx.close(), aheadCtx.close(), freshCtx.close()]);
});

/** A member's modified client (`server/examples/modified_client.rs`, built by `cargo
 * xtask test`'s server step): it seals with its member's real keys what the app never
 * would, and prints it as JSON. */
const MODIFIED_CLIENT = path.join(__dirname, '..', '..', 'target', 'debug', 'examples', 'modified_client');

async function modifiedClient(user: string, ...args: string[]): Promise<any> {
  if (!fs.existsSync(MODIFIED_CLIENT)) {
    throw new Error(`${MODIFIED_CLIENT} is missing: cargo build -p quietdesk-server --example modified_client`);
  }
  const env = { ...process.env, QD_SERVER: String(test.info().project.use.baseURL), QD_USER: user, QD_PASSPHRASE: passphraseFor(user) };
  const { stdout } = await promisify(execFile)(MODIFIED_CLIENT, args, { env, timeout: 60_000 });
  return JSON.parse(stdout);
}

/** The admin invites the modified client's member `name` through a link, which the tool
 * answers; the admin's device adds them on its own. Returns the team's id. */
async function inviteModifiedClient(admin: Page, name: string): Promise<string> {
  const link = await createInvitationLink(admin);
  const { team } = await modifiedClient(name, 'join', link);
  await expect(admin.getByRole('status', { name: 'Notifications' })).toContainText(`Added ${name}.`, { timeout: 30_000 });
  await expect(admin.getByRole('list', { name: 'Members' })).toContainText(name);
  return team;
}

/** The next pull answer `page` gets carries `changes` too: a lying server slipping in
 * versions the real one never held. */
async function slipIntoPull(page: Page, changes: any[]) {
  let slipped = false;
  await page.route('**/api/v1/teams/*/pull*', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    if (!slipped) {
      slipped = true;
      body.changes.push(...changes.map((c) => ({ ...c, seq: body.cursor })));
    }
    await route.fulfill({ response: real, json: body });
  });
}

async function newCustomer(page: Page, name: string, notes: string) {
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('link', { name: 'New customer' }).click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Notes', { exact: true }).fill(notes);
  await page.getByRole('button', { name: 'Create customer' }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
}

// Issue 31 item 4: a member's modified client seals an edit of a customer and a new
// customer on a chain head the team's chain does not have (five entries past it, a
// made-up hash); a lying server slips both into the admin's pull. The admin's device
// reads the chain again (as it does for a longer head), isolates that member (names
// them, takes neither version) and its own edit of that very customer still lands: a
// new device of the admin's account sees it, and nothing of the member's.
test("a member's made-up chain head isolates that member, and the admin's edit still lands", async ({ browser }) => {
  test.setTimeout(150_000);
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  const [adminName, memberName] = [uniqueUser('hadm'), uniqueUser('hfrg')];
  await createAccount(admin, adminName);
  await createTeam(admin);
  await newCustomer(admin, 'Made Up Head Trading', 'canary-head first notes');
  await waitSynced(admin);
  const team = await inviteModifiedClient(admin, memberName);

  const forged = await modifiedClient(memberName, 'made-up-head', team, 'Made Up Head Trading');
  await slipIntoPull(admin, forged.changes);
  await admin.getByRole('button', { name: 'Sync now' }).click();
  const isolated = admin.getByRole('alert').filter({ hasText: 'signed changes on a team history' });
  await expect(isolated).toContainText(`${memberName} signed changes on a team history this device’s verified chain does not have`, { timeout: 30_000 });
  await expect(isolated).toContainText('2 of their changes were refused');
  await expect(isolated).toContainText('Everyone else’s edits go on');
  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  const list = admin.getByRole('list', { name: 'Customers' });
  await expect(list).toContainText('Made Up Head Trading');
  await expect(list).not.toContainText(forged.texts.planted);

  // The admin's own edit of that very customer goes out.
  await admin.getByRole('link', { name: /Made Up Head Trading/ }).click();
  await openEdit(admin);
  await expect(admin.getByLabel('Notes', { exact: true })).toHaveValue('canary-head first notes');
  await admin.getByLabel('Notes', { exact: true }).fill('canary-head the admin wrote on');
  await admin.getByRole('button', { name: 'Save' }).click();
  await waitSynced(admin);

  // A new device of the admin's account, from the server: the admin's edit, nothing of the member's.
  const freshCtx = await browser.newContext();
  const fresh = await freshCtx.newPage();
  await logInOnNewDevice(fresh, adminName);
  await fresh.getByRole('navigation').getByRole('link', { name: 'Customers' }).click({ timeout: 30_000 });
  await expect(fresh.getByRole('list', { name: 'Customers' })).not.toContainText(forged.texts.planted);
  await fresh.getByRole('link', { name: /Made Up Head Trading/ }).click({ timeout: 30_000 });
  await openEdit(fresh);
  await expect(fresh.getByLabel('Notes', { exact: true })).toHaveValue('canary-head the admin wrote on', { timeout: 30_000 });
  await expect(fresh.getByRole('list', { name: 'History' })).not.toContainText(forged.texts.notes);
  await Promise.all([adminCtx.close(), freshCtx.close()]);
});

// Issue 31 item 3: who created an interaction or a history entry comes from signatures,
// not stamps. The admin logs a call (the app certifies it); a member's modified client
// seals, at version 2 (no version 1 anywhere), an interaction and a history entry
// stamped as the admin's with no certificate, and an interaction carrying the
// certificate copied from the admin's call. A lying server slips the three into the
// first pull of the admin's new device: the first two are named for the member who
// signed them, never the admin; the third is refused with a sentence naming both.
test('a record made up at version 2 in the admin\'s name is named for its signer, or refused', async ({ browser }) => {
  test.setTimeout(150_000);
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  const [adminName, memberName] = [uniqueUser('cadm'), uniqueUser('cfrg')];
  await createAccount(admin, adminName);
  await createTeam(admin);
  await newCustomer(admin, 'Creator Check Trading', 'canary-creator first notes');
  await admin.getByLabel('Summary', { exact: true }).fill('canary-creator called about the quote');
  await admin.getByRole('button', { name: 'Add interaction' }).click();
  await expect(admin.getByRole('list', { name: 'Interaction timeline' })).toContainText('canary-creator called about the quote');
  await waitSynced(admin);
  const team = await inviteModifiedClient(admin, memberName);
  const forged = await modifiedClient(memberName, 'in-anothers-name', team, 'Creator Check Trading', adminName);

  const freshCtx = await browser.newContext();
  const fresh = await freshCtx.newPage();
  await slipIntoPull(fresh, forged.changes);
  await logInOnNewDevice(fresh, adminName);
  const refused = fresh.getByRole('alert').filter({ hasText: 'as its creator' });
  await expect(refused).toContainText(`A record signed by ${memberName} names ${adminName} as its creator without ${adminName}’s signature`, { timeout: 30_000 });

  // Who logged what, per person: the admin's one call, and the member's made-up one.
  await expect(fresh.getByRole('heading', { name: 'Home' })).toBeVisible();
  const people = fresh.getByRole('table', { name: 'Activities by person' });
  const total = (who: string) => people.getByRole('row').filter({ has: fresh.getByRole('rowheader', { name: who, exact: true }) }).locator('td').last();
  await expect(total(memberName)).toHaveText('1', { timeout: 30_000 });
  await expect(total(adminName)).toHaveText('1');

  // On the customer's page: the made-up call is shown (as the member's, above), the one
  // with a copied certificate is not; the made-up history entry names the member.
  await fresh.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await fresh.getByRole('link', { name: /Creator Check Trading/ }).click({ timeout: 30_000 });
  const timeline = fresh.getByRole('list', { name: 'Interaction timeline' });
  await expect(timeline).toContainText('canary-creator called about the quote', { timeout: 30_000 });
  await expect(timeline).toContainText(forged.texts.bare_interaction);
  await expect(timeline).not.toContainText(forged.texts.copied_interaction);
  const entries = fresh.getByRole('list', { name: 'History' }).getByRole('listitem').filter({ hasText: forged.texts.history_notes });
  await expect(entries.filter({ hasText: memberName })).toHaveCount(1);
  await expect(entries.filter({ hasText: adminName })).toHaveCount(0);
  await Promise.all([adminCtx.close(), freshCtx.close()]);
});
