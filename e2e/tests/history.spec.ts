import { test, expect } from './fixtures';
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
  // Only once support has the new version (its masked phone shows on support's card)
  // does the history's silence about the phone say anything.
  await expect(s.getByRole('region', { name: 'Customer profile' })).toContainText('139****4444', { timeout: 20_000 });
  await expect(s.getByRole('list', { name: 'History' })).not.toContainText('13900004444');
  await a.screenshot({ path: 'test-results/history-desk.png', fullPage: true });
  await ctxA.close();
  await ctxS.close();
});

// Issue 31, item 12: the server keeps replaced versions for the team's retention; a
// colleague opens them (each verified on their device) and puts one back as their edit.
test('a member overwrites a customer\'s notes and phone; the admin opens Earlier versions, puts the earlier one back on both pages, and sets the retention', async ({ browser }) => {
  test.setTimeout(150_000);
  const [admin, member] = [uniqueUser('kadm'), uniqueUser('kmem')];
  const [ctxA, ctxM] = await Promise.all([browser.newContext(), browser.newContext()]);
  const [a, m] = await Promise.all([ctxA.newPage(), ctxM.newPage()]);
  await createAccount(a, admin);
  await createTeam(a);
  await createAccount(m, member);
  await addToTeam(a, m, member, 'member');

  // The member's customer, then the member blanks its notes and changes its phone.
  await m.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(m, { name: 'Wu Fang', company: 'Wu Ceramics', phone: '13900005555', email: 'wu@example.cn', notes: 'canary-kept first notes' });
  await waitSynced(m);
  await openEdit(m);
  await m.getByLabel('Notes', { exact: true }).fill('member: nothing to see');
  await m.getByLabel('Phone', { exact: true }).fill('13900006666');
  await m.getByRole('button', { name: 'Save' }).click();
  await waitSynced(m);

  // The admin sees the overwritten customer, and asks for its earlier versions.
  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await a.getByRole('link', { name: /Wu Fang/ }).click({ timeout: 20_000 });
  const card = a.getByRole('region', { name: 'Customer profile' });
  await expect(card).toContainText('13900006666', { timeout: 20_000 });
  const versions = a.getByRole('region', { name: 'Earlier versions' });
  await expect(versions.getByRole('list')).toHaveCount(0); // nothing fetched at page open
  // Offline, the section says so.
  await ctxA.setOffline(true);
  await versions.getByRole('button', { name: 'Show earlier versions' }).click();
  await expect(versions.getByRole('alert')).toContainText('This device is offline', { timeout: 20_000 });
  await versions.getByRole('button', { name: 'Hide earlier versions' }).click();
  await ctxA.setOffline(false);
  await versions.getByRole('button', { name: 'Show earlier versions' }).click();
  const list = versions.getByRole('list', { name: 'Earlier versions' });
  await expect(versions).toContainText('The server keeps earlier versions for 30 days.', { timeout: 20_000 });
  const first = list.getByRole('listitem').filter({ hasText: `Version 1 · signed by ${member}` });
  await expect(first).toBeVisible();
  await expect(first).toContainText('Notes: now “member: nothing to see”, in this version “canary-kept first notes”');
  await expect(first).toContainText('Phone: now “13900006666”, in this version “13900005555”');

  // Put back: an edit in the admin's name, on both pages.
  await first.getByRole('button', { name: 'Put this version back' }).click();
  await expect(a.getByRole('status', { name: 'Notifications' })).toContainText('Version 1 is back, as your edit.', { timeout: 20_000 });
  await waitSynced(a);
  await expect(card).toContainText('13900005555');
  await openEdit(a);
  await expect(a.getByLabel('Notes', { exact: true })).toHaveValue('canary-kept first notes');
  await expect(m.getByLabel('Notes', { exact: true })).toHaveValue('canary-kept first notes', { timeout: 20_000 });
  await expect(m.getByRole('region', { name: 'Customer profile' })).toContainText('13900005555');
  await expect(a.getByRole('list', { name: 'History' })).toContainText('Notes: member: nothing to see → canary-kept first notes');
  // Fetched again, the member's overwrite is now itself a kept version, and the first
  // reads as the customer does now.
  await versions.getByRole('button', { name: 'Hide earlier versions' }).click();
  await versions.getByRole('button', { name: 'Show earlier versions' }).click();
  await expect(list.getByRole('listitem').filter({ hasText: `signed by ${member}` })).toHaveCount(2, { timeout: 20_000 });
  await expect(first).toContainText('Reads the same as now.');
  await a.screenshot({ path: 'test-results/earlier-versions.png', fullPage: true });

  // The retention: an admin's setting on the Team page (members have none to set).
  await m.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(m.getByRole('heading', { name: 'Members', exact: true })).toBeVisible();
  await expect(m.getByLabel('Days kept (0 to 3650)')).toHaveCount(0);
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  const days = a.getByLabel('Days kept (0 to 3650)');
  await expect(days).toHaveValue('30', { timeout: 20_000 });
  await days.fill('7');
  await a.getByRole('form', { name: 'Earlier versions of records' }).getByRole('button', { name: 'Save' }).click();
  await expect(a.getByText('Earlier versions are kept for 7 days.')).toBeVisible({ timeout: 20_000 });
  await a.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await a.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
  await expect(a.getByLabel('Days kept (0 to 3650)')).toHaveValue('7', { timeout: 20_000 });
  await ctxA.close();
  await ctxM.close();
});
