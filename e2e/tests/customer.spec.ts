import { test, expect } from './fixtures';
import { createAccount, createCustomer, createTeam, deleteCustomer, openEdit, uniqueUser } from './helpers';

// The customer page opens as a card with one-tap actions; editing is on demand, with
// inline validation that clears once fixed; deleting asks first.
test('the customer card: call, message, email, copy WeChat ID; validation clears when fixed; delete confirms', async ({ page, context }, info) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await createAccount(page, uniqueUser('card'));
  await createTeam(page);
  await createCustomer(page, { name: 'Canary Card Sun', company: 'Canary Card Co', phone: '139 0000 3333', email: 'sun@example.cn', notes: 'canary-note card' });
  const card = page.getByRole('region', { name: 'Customer profile' });
  await expect(card.getByRole('heading', { name: 'Canary Card Sun' })).toBeVisible();
  await expect(card.getByRole('link', { name: 'Call' })).toHaveAttribute('href', 'tel:13900003333');
  await expect(card.getByRole('link', { name: 'Message' })).toHaveAttribute('href', 'sms:13900003333');
  await expect(card.getByRole('link', { name: 'Email' })).toHaveAttribute('href', 'mailto:sun@example.cn');
  await expect(card).toContainText('Never');

  await openEdit(page);
  await page.getByLabel('WeChat ID').fill('canary_wx_sun');
  const phone = page.getByLabel('Phone', { exact: true });
  await phone.fill('12345');
  await expect(phone).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByText('Enter a mobile number')).toBeVisible();
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('form', { name: 'Customer' }).getByRole('status')).toContainText('Enter a mobile number');
  await phone.fill('+44 20 7946 0958');
  await expect(page.getByText('Enter a mobile number')).toHaveCount(0);
  await expect(phone).not.toHaveAttribute('aria-invalid', 'true');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('form', { name: 'Customer' }).getByRole('status')).toHaveText('Saved.');
  await expect(card.getByRole('link', { name: 'Call' })).toHaveAttribute('href', 'tel:+442079460958');

  await card.getByRole('button', { name: 'Copy WeChat ID' }).click();
  await expect(page.getByRole('status', { name: 'Notifications' })).toContainText('WeChat ID copied.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('canary_wx_sun');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: info.outputPath('customer-en-390.png'), fullPage: true });

  // A 10,000-character name cannot be typed: the field stops at its limit.
  await page.getByLabel('Name', { exact: true }).fill('N'.repeat(10_000));
  expect((await page.getByLabel('Name', { exact: true }).inputValue()).length).toBeLessThanOrEqual(200);

  await page.getByRole('button', { name: 'Delete customer' }).click();
  await expect(page.getByRole('button', { name: 'Delete for good' })).toBeVisible();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(card).toBeVisible();
  await deleteCustomer(page);
  await expect(page.getByRole('status', { name: 'Notifications' })).toContainText('Customer deleted.');
  await expect(page.getByRole('heading', { name: 'Customers' })).toBeVisible();
});
