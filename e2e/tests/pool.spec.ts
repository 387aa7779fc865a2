import { test, expect } from './fixtures';
import { addToTeam, createAccount, createCustomer, createTeam, uniqueUser, waitSynced } from './helpers';

// The customer pool (公海): claim up to the admin's limit; customers with no follow-up
// come back after the rule's days, previewed first; the owner is told beforehand.
test('members claim from the pool up to the limit; an admin previews and returns customers with no follow-up; owners are reminded', async ({ browser }, info) => {
  test.setTimeout(150_000);
  const adminCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const memberCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // The admin's device starts 28 days in the past: the customer it claims then has
  // had no follow-up for 28 days once its clock comes back to today.
  const DAY = 86_400_000;
  await adminCtx.clock.install({ time: new Date(Date.now() - 28 * DAY) });
  const admin = await adminCtx.newPage();
  const member = await memberCtx.newPage();
  const [a, m] = [uniqueUser('poola'), uniqueUser('poolm')];
  await createAccount(admin, a);
  await createTeam(admin);
  for (const name of ['Canary Pool Ding', 'Canary Pool Fan', 'Canary Pool Old']) {
    await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
    await createCustomer(admin, { name, company: 'Canary Sea Co', phone: '', email: '', notes: 'canary-note pool' });
  }
  await admin.getByRole('navigation').getByRole('link', { name: 'Customer pool' }).click();
  await admin.getByRole('button', { name: 'Claim Canary Pool Old' }).click();
  await expect(admin.getByRole('status', { name: 'Your customers' })).toContainText('You hold 1 customers.');
  await admin.getByLabel('Most customers a member may hold (0: no limit)').fill('1');
  await admin.getByRole('button', { name: 'Save rules' }).click();
  await waitSynced(admin);
  await adminCtx.clock.setSystemTime(new Date());

  await createAccount(member, m);
  await addToTeam(admin, member, m);
  await member.getByRole('navigation').getByRole('link', { name: 'Customer pool' }).click();
  const pool = member.getByRole('list', { name: 'Customer pool' });
  await expect(pool).toContainText('Canary Pool Ding', { timeout: 30_000 });
  await expect(pool).not.toContainText('Canary Pool Old');
  await expect(member.getByRole('status', { name: 'Your customers' })).toContainText('You hold 0 of at most 1 customers.', { timeout: 30_000 });
  await member.getByRole('button', { name: 'Claim Canary Pool Ding' }).click();
  await expect(member.getByRole('status', { name: 'Your customers' })).toContainText('You hold 1 of at most 1 customers.');
  await expect(pool).not.toContainText('Canary Pool Ding');
  await member.getByRole('button', { name: 'Claim Canary Pool Fan' }).click();
  await expect(member.getByRole('status', { name: 'Notifications' })).toContainText('the most an admin allows');
  await waitSynced(member);

  // Today, with the 30-day rule: the admin, who holds "Old" untouched for 28 days, is
  // reminded on Home and on the pool page.
  await admin.getByRole('navigation').getByRole('link', { name: 'Home' }).click();
  await expect(admin.getByRole('link', { name: /Yours, back to the pool soon/ })).toContainText('1');
  await admin.getByRole('navigation').getByRole('link', { name: 'Customer pool' }).click();
  await expect(admin.getByRole('region', { name: /1 of your customers return to the pool soon/ })).toContainText('Canary Pool Old');
  await admin.screenshot({ path: info.outputPath('pool-1280.png'), fullPage: true });
  await member.setViewportSize({ width: 390, height: 844 });
  await member.screenshot({ path: info.outputPath('pool-390x844.png'), fullPage: true });
  await member.setViewportSize({ width: 1280, height: 900 });

  // With a 27-day rule it is due: the admin sees exactly which, then returns it.
  await admin.getByLabel('Days without follow-up before a customer returns (0: never)').fill('27');
  await admin.getByRole('button', { name: 'Save rules' }).click();
  await admin.getByRole('button', { name: 'Preview who returns now' }).click();
  const preview = admin.getByRole('region', { name: 'Customers due back to the pool' });
  await expect(preview).toContainText('1 customers are due back now:', { timeout: 30_000 });
  await expect(preview).toContainText(`Canary Pool Old owner ${a}`);
  await expect(preview).not.toContainText('Canary Pool Ding');
  await preview.getByRole('button', { name: 'Return 1 customers to the pool' }).click();
  await expect(admin.getByRole('list', { name: 'Customer pool' })).toContainText('Canary Pool Old');
  // Back in the pool, anyone may claim it: the admin raises the limit, the member does.
  await admin.getByLabel('Most customers a member may hold (0: no limit)').fill('2');
  await admin.getByRole('button', { name: 'Save rules' }).click();
  await waitSynced(admin);
  await member.getByRole('navigation').getByRole('link', { name: 'Home' }).click();
  await member.getByRole('navigation').getByRole('link', { name: 'Customer pool' }).click();
  await expect(member.getByRole('status', { name: 'Your customers' })).toContainText('You hold 1 of at most 2 customers.', { timeout: 30_000 });
  await member.getByRole('button', { name: 'Claim Canary Pool Old' }).click({ timeout: 30_000 });
  await expect(member.getByRole('status', { name: 'Your customers' })).toContainText('You hold 2 of at most 2 customers.');
  await adminCtx.close();
  await memberCtx.close();
});
