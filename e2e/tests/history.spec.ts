import { test, expect } from '@playwright/test';
import { addToTeam, createAccount, createCustomer, createTeam, openEdit, uniqueUser, waitSynced } from './helpers';

// No edit is lost in silence: an offline edit that a colleague's later edit replaced
// is flagged to its author, who can put it back; every change is in the history.

test('an offline edit replaced by a colleague\'s later one is flagged to its author, and "Put mine back" restores it on both pages', async ({ browser }) => {
  test.setTimeout(120_000);
  const [admin, support] = [uniqueUser('hadm'), uniqueUser('hsup')];
  const [ctxA, ctxS] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [a, s] = await Promise.all([ctxA.newPage(), ctxS.newPage()]);
  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(s, support);
  await addToTeam(a, s, support, 'support');

  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(a, { name: 'Chen Jie', company: 'Chen Tea', phone: '13900003333', email: 'chen@example.cn', notes: 'canary-history first call' });
  await waitSynced(a);
  await s.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await s.getByRole('link', { name: /Chen Jie/ }).click({ timeout: 20_000 });

  // The admin edits the notes offline: saved on the device.
  await openEdit(a);
  await ctxA.setOffline(true);
  await a.getByLabel('Notes', { exact: true }).fill('admin: renewal in May');
  await a.getByRole('button', { name: 'Save' }).click();
  await expect(a.getByRole('status', { name: 'Sync status' })).toContainText('1 pending', { timeout: 20_000 });

  // Support edits the same notes online, later.
  await openEdit(s);
  await s.getByLabel('Notes', { exact: true }).fill('support: wants a demo first');
  await s.getByRole('button', { name: 'Save' }).click();
  await waitSynced(s);

  // The admin reconnects: support's later change wins, and the admin is told.
  await ctxA.setOffline(false);
  await waitSynced(a);
  const note = a.getByRole('region', { name: 'Your changes that were replaced' });
  await expect(note).toContainText(`Your change to Notes (“admin: renewal in May”) was replaced by a later change from ${support} (“support: wants a demo first”)`, { timeout: 20_000 });
  await expect(a.getByLabel('Notes', { exact: true })).toHaveValue('support: wants a demo first');

  // One action puts it back, on both pages.
  await note.getByRole('button', { name: 'Put mine back' }).click();
  await expect(note).toBeHidden();
  await waitSynced(a);
  for (const p of [a, s]) {
    await expect(p.getByLabel('Notes', { exact: true })).toHaveValue('admin: renewal in May', { timeout: 20_000 });
  }

  // The history says who changed what, from what to what, on both pages.
  for (const p of [a, s]) {
    const history = p.getByRole('list', { name: 'History' });
    await expect(history).toContainText(`Notes: canary-history first call → support: wants a demo first`, { timeout: 20_000 });
    await expect(history).toContainText(support);
    await expect(history).toContainText(`Notes: support: wants a demo first → admin: renewal in May`);
    await expect(history).toContainText(admin);
  }
  // Support, without the sensitive key, sees no phone in the history; the admin does.
  await openEdit(a);
  await a.getByLabel('Phone', { exact: true }).fill('13900004444');
  await a.getByRole('button', { name: 'Save' }).click();
  await expect(a.getByRole('list', { name: 'History' })).toContainText('Phone: 13900003333 → 13900004444');
  await waitSynced(a);
  await expect(s.getByRole('list', { name: 'History' })).not.toContainText('13900004444');
  await a.screenshot({ path: 'test-results/history-desk.png', fullPage: true });
  await ctxA.close();
  await ctxS.close();
});
