import { test, expect } from './fixtures';
import { createAccount, createCustomer, createTeam, uniqueUser } from './helpers';

test('a task that falls due raises a browser notification once reminders are allowed', async ({ browser }) => {
  const ctx = await browser.newContext();
  await ctx.grantPermissions(['notifications']);
  // Record notifications instead of showing them (headless has no notification centre).
  await ctx.addInitScript(() => {
    const shown: string[] = [];
    (window as any).__shown = shown;
    const Real = window.Notification;
    class Recorder {
      constructor(title: string) { shown.push(title); }
      static get permission() { return Real.permission; }
      static requestPermission() { return Real.requestPermission(); }
    }
    (window as any).Notification = Recorder;
  });
  const page = await ctx.newPage();
  await createAccount(page, uniqueUser('rem'));
  await createTeam(page);
  await createCustomer(page, { name: 'Canary Reminder Zhou', company: 'Canary Co', phone: '13900001111', email: 'canary.r@example.cn', notes: 'canary-note' });
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  await page.getByLabel('Task', { exact: true }).fill('canary-task call back about the invoice');
  await page.getByLabel('Due date').fill(yesterday);
  await page.getByRole('button', { name: 'Add task' }).click();
  await expect(page.getByRole('list', { name: 'Customer tasks' })).toContainText('overdue');

  await page.getByRole('navigation').getByRole('link', { name: 'Tasks' }).click();
  await expect(page.getByText('Reminders are on')).toBeVisible();
  await expect(page.getByRole('list', { name: 'Overdue' })).toContainText('canary-task call back about the invoice');
  await expect.poll(() => page.evaluate(() => (window as any).__shown as string[]), { timeout: 45_000 })
    .toContain('canary-task call back about the invoice');
  await ctx.close();
});
