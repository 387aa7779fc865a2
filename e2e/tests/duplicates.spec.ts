import { test, expect } from './fixtures';
import { createAccount, createCustomer, createTeam, uniqueUser, waitSynced } from './helpers';

// Duplicates caught on create, listed, and merged with their records.

test('a duplicate is caught on create; "Find duplicates" lists it; a merge keeps the chosen fields and moves interactions and tasks', async ({ page }) => {
  test.setTimeout(120_000);
  await createAccount(page, uniqueUser('dup'));
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(page, { name: 'Zhao Lei', company: 'Lei Steel', phone: '13800001111', email: 'zhao@example.cn', notes: 'first' });

  // The same phone, typed differently: flagged before saving, with a link.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('link', { name: 'New customer' }).click();
  await page.getByLabel('Name', { exact: true }).fill('赵磊');
  await page.getByLabel('Phone', { exact: true }).fill('+86 138-0000-1111');
  await page.getByRole('button', { name: 'Create customer' }).click();
  const possible = page.getByRole('region', { name: 'Possible duplicates' });
  await expect(possible.getByRole('link', { name: 'Zhao Lei · Lei Steel' })).toBeVisible();
  await expect(possible).toContainText('same phone');
  await expect(page.getByRole('heading', { name: '赵磊' })).toHaveCount(0);
  await possible.getByRole('button', { name: 'Create anyway' }).click();
  await expect(page.getByRole('heading', { name: '赵磊' })).toBeVisible();

  // The second one gets an interaction and a task.
  await page.getByLabel('Summary').fill('called about steel prices');
  await page.getByRole('button', { name: 'Add interaction' }).click();
  await page.getByLabel('Task', { exact: true }).fill('send the quote');
  await page.getByRole('button', { name: 'Add task' }).click();
  await expect(page.getByRole('list', { name: 'Customer tasks' })).toContainText('send the quote');

  // "Find duplicates" lists the pair; merge the second into the first, taking its name.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('link', { name: 'Find duplicates' }).click();
  const groups = page.getByRole('list', { name: 'Likely duplicates' });
  await expect(groups).toContainText('Zhao Lei · Lei Steel');
  await expect(groups).toContainText('赵磊');
  await groups.getByRole('link', { name: 'Merge into Zhao Lei · Lei Steel' }).click();
  await page.getByRole('row', { name: /^Name/ }).getByRole('radio', { name: '赵磊' }).check();
  await page.getByRole('button', { name: 'Merge', exact: true }).click();

  await expect(page.getByRole('heading', { name: '赵磊' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Customer profile' })).toContainText('Lei Steel');
  await expect(page.getByRole('list', { name: 'Interaction timeline' })).toContainText('called about steel prices');
  await expect(page.getByRole('list', { name: 'Customer tasks' })).toContainText('send the quote');
  await expect(page.getByRole('list', { name: 'History' })).toContainText('Name: Zhao Lei → 赵磊');
  await waitSynced(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link')).toHaveCount(1);
  await page.getByRole('link', { name: 'Find duplicates' }).click();
  await expect(page.getByText('No likely duplicates among the customers you can open.')).toBeVisible();
});
