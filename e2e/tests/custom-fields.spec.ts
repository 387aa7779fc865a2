import { test, expect } from './fixtures';
import { addToTeam, createAccount, createCustomer, createTeam, openEdit, uniqueUser, waitSynced } from './helpers';

// Admins define custom fields (typed, validated; a sensitive one sealed under the
// sensitive key); they show in the form, the card, the list's filters, import and export;
// support does not see the sensitive one.
test('admins add custom fields; members fill them (validated); support does not see a sensitive one; import maps them', async ({ browser }, info) => {
  test.setTimeout(150_000);
  const admin = await (await browser.newContext()).newPage();
  const support = await (await browser.newContext()).newPage();
  const [a, s] = [uniqueUser('cfa'), uniqueUser('cfs')];
  await createAccount(admin, a);
  await createTeam(admin);
  await createAccount(support, s);
  await addToTeam(admin, support, s, 'support');

  // On the Team page: a single choice, a sensitive money field.
  const editor = admin.getByRole('region', { name: 'Custom fields' });
  await editor.getByLabel('Field name').fill('Industry');
  await editor.getByLabel('Type').selectOption({ label: 'Single choice' });
  await editor.getByLabel('Choices, one per line').fill('Steel\ncanary-tea\nLogistics');
  await editor.getByRole('button', { name: 'Add field' }).click();
  await expect(editor.getByRole('list', { name: 'Custom fields' })).toContainText('Industry');
  await editor.getByLabel('Field name').fill('Contract value');
  await editor.getByLabel('Type').selectOption({ label: 'Money (¥)' });
  await editor.getByLabel('Sensitive (support cannot see it)').check();
  await editor.getByRole('button', { name: 'Add field' }).click();
  await expect(editor.getByRole('list', { name: 'Custom fields' })).toContainText('Contract value');

  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await admin.getByRole('link', { name: 'New customer' }).click();
  await admin.getByLabel('Name', { exact: true }).fill('Canary Custom Gao');
  await admin.getByLabel('Industry').selectOption('canary-tea');
  await admin.getByLabel('Contract value 🔒').fill('a lot');
  await admin.getByRole('button', { name: 'Create customer' }).click();
  await expect(admin.getByRole('alert').filter({ hasText: 'Enter an amount, e.g. 12000.50' })).toBeVisible();
  await admin.getByLabel('Contract value 🔒').fill('88,000');
  await expect(admin.getByRole('alert').filter({ hasText: 'Enter an amount' })).toHaveCount(0);
  await admin.getByRole('button', { name: 'Create customer' }).click();
  const card = admin.getByRole('region', { name: 'Customer profile' });
  await expect(card).toContainText('Industry');
  await expect(card).toContainText('canary-tea');
  await expect(card).toContainText('¥88,000.00');
  await admin.setViewportSize({ width: 1280, height: 800 });
  await admin.screenshot({ path: info.outputPath('custom-fields-1280x800.png'), fullPage: true });
  await waitSynced(admin);

  // Filters: by the choice field.
  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await admin.getByLabel('Industry').selectOption('Steel');
  await expect(admin.getByText('0 of 1 customers')).toBeVisible();
  await admin.getByLabel('Industry').selectOption('canary-tea');
  await expect(admin.getByText('1 of 1 customers')).toBeVisible();

  // Support: sees the industry, not the contract value (sealed under the sensitive key).
  await support.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await support.getByRole('link', { name: /Canary Custom Gao/ }).click({ timeout: 30_000 });
  const supportCard = support.getByRole('region', { name: 'Customer profile' });
  await expect(supportCard).toContainText('canary-tea', { timeout: 20_000 });
  await expect(supportCard).not.toContainText('88,000');
  await openEdit(support);
  await expect(support.getByLabel('Contract value 🔒')).toBeDisabled();
  await expect(support.getByText('Sensitive: your role cannot see or change it.')).toBeVisible();

  // Import maps a column to a custom field by its name, and checks its type.
  await admin.getByRole('navigation').getByRole('link', { name: 'Import' }).click();
  const csv = 'Name,Industry,Contract value\nCanary Import Tea,canary-tea,1200\nCanary Bad Value,Steel,lots\n';
  await admin.getByLabel('CSV file').setInputFiles({ name: 'c.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await expect(admin.getByLabel('Column 2: Industry')).toHaveValue('custom.industry');
  await expect(admin.getByLabel('Column 3: Contract value')).toHaveValue('custom_s.contract_value');
  await admin.getByRole('button', { name: 'Import 2 rows' }).click();
  const summary = admin.getByRole('status', { name: 'Import summary' });
  await expect(summary).toContainText('Imported 1 rows. Rejected 1 rows.');
  await expect(summary).toContainText('not a valid Contract value');
  await admin.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await admin.getByRole('link', { name: /Canary Import Tea/ }).click();
  await expect(admin.getByRole('region', { name: 'Customer profile' })).toContainText('¥1,200.00');
});
