import { Page, expect } from '@playwright/test';

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

export async function createTeam(page: Page) {
  await page.getByRole('button', { name: 'Create a team' }).click();
  await expect(page.getByRole('heading', { name: 'Customers' })).toBeVisible({ timeout: 30_000 });
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

/** Admin page `a` adds `member` (whose page `b` waits on "Join or start a team"); `b` enters the team. */
export async function addToTeam(a: Page, b: Page, member: string) {
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await a.getByLabel('Username to add').fill(member);
  await a.getByRole('button', { name: 'Add member' }).click();
  await expect(a.getByRole('list', { name: 'Members' })).toContainText(member);
  await b.getByRole('button', { name: 'Check again' }).click();
  await expect(b.getByRole('heading', { name: 'Customers' })).toBeVisible({ timeout: 30_000 });
}
