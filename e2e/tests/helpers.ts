import { Page, expect } from '@playwright/test';
import { noteSecret } from './canaries';

/** Every string the suite types that the server must never see in the clear. */
export const CANARY_PHONES = ['13900001111', '13900002222', '13977778888', '13955556666'];

export function uniqueUser(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

export function passphraseFor(user: string): string {
  return `canary-pass-${user}-Winter!`;
}

export async function createAccount(page: Page, user: string) {
  await page.goto('/');
  await page.getByRole('button', { name: 'New account' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Join or start a team' })).toBeVisible({ timeout: 30_000 });
}

/** A device that has not seen the account logs in (the passphrase is the user's unless given). */
export async function logInOnNewDevice(page: Page, user: string, passphrase = passphraseFor(user)) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Log in on this device' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Passphrase').fill(passphrase);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

export async function createTeam(page: Page) {
  await page.getByRole('button', { name: 'Create a team' }).click();
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
}

export async function waitSynced(page: Page) {
  const status = page.getByRole('status', { name: 'Sync status' });
  await expect(status).toContainText('Online', { timeout: 20_000 });
  await expect(status).toContainText(/\b0 pending/, { timeout: 20_000 });
  await expect(status).toContainText('synced', { timeout: 20_000 });
}

export async function createCustomer(page: Page, c: { name: string; company: string; phone: string; email: string; notes: string }) {
  await page.getByRole('link', { name: 'New customer' }).click();
  await page.getByLabel('Name', { exact: true }).fill(c.name);
  await page.getByLabel('Company', { exact: true }).fill(c.company);
  await page.getByLabel('Phone', { exact: true }).fill(c.phone);
  await page.getByLabel('Email', { exact: true }).fill(c.email);
  await page.getByLabel('Notes', { exact: true }).fill(c.notes);
  await page.getByRole('button', { name: 'Create customer' }).click();
  await expect(page.getByRole('heading', { name: c.name })).toBeVisible();
}

/** On a customer's page (it opens as a read-only card): open the edit form. */
export async function openEdit(page: Page) {
  const card = page.getByRole('region', { name: 'Customer profile' });
  await expect(card).toBeVisible({ timeout: 30_000 });
  const edit = card.getByRole('button', { name: 'Edit', exact: true });
  if (await edit.isVisible()) await edit.click();
  await expect(page.getByRole('form', { name: 'Customer' })).toBeVisible();
}

/** On a customer's page: delete it, confirming. */
export async function deleteCustomer(page: Page) {
  await openEdit(page);
  await page.getByRole('button', { name: 'Delete customer' }).click();
  await page.getByRole('button', { name: 'Delete for good' }).click();
}

/** The admin (page `admin`) invites `name` with `role` through a link; the joiner (page
 * `joiner`, waiting on "Join or start a team") answers it; the admin's device verifies
 * the joiner's keys and adds them on its own, and says so; the joiner goes in on its
 * own. Nobody presses "Check". */
/** The admin makes an invitation link for `role` on the Team page; its secret is noted
 * as a canary. */
export async function createInvitationLink(admin: Page, role = 'member'): Promise<string> {
  await admin.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await admin.getByLabel('Invite as').selectOption(role);
  await admin.getByRole('button', { name: 'Create invitation link' }).click();
  const linkField = admin.getByLabel(/^Invitation link/);
  await expect(linkField).toHaveValue(/#join=/);
  const link = await linkField.inputValue();
  // The link's secret (`#join=team.invite.SECRET.role.genesis`) never reaches the
  // server: the last test checks, as it is written and as raw bytes in hex.
  const secret = (link.split('#join=')[1] ?? '').split('.')[2] ?? '';
  noteSecret(secret);
  noteSecret(Buffer.from(secret, 'base64url').toString('hex'));
  return link;
}

export async function addToTeam(admin: Page, joiner: Page, name: string, role = 'member') {
  const link = await createInvitationLink(admin, role);
  await joiner.getByLabel('Invitation link').fill(link);
  await joiner.getByRole('button', { name: 'Accept invitation' }).click();
  await expect(admin.getByRole('status', { name: 'Notifications' })).toContainText(`Added ${name}.`, { timeout: 30_000 });
  await expect(admin.getByRole('list', { name: 'Members' })).toContainText(name);
  await expect(joiner.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
}
