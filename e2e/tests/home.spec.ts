import { test, expect } from './fixtures';
import { createAccount, createCustomer, createTeam, uniqueUser } from './helpers';

// Home says how sales are going, from what this device decrypted: the funnel, the
// week's activity, forgotten customers and due tasks; each figure opens its list.
test('home shows the funnel and forgotten customers, and a figure opens the matching list', async ({ page }, info) => {
  test.setTimeout(90_000);
  await createAccount(page, uniqueUser('home'));
  await createTeam(page);
  await expect(page.getByText('No deals yet.')).toBeVisible();
  await createCustomer(page, { name: 'Canary Home Zhao', company: 'Canary Funnel Co', phone: '13900001111', email: 'zhao@example.cn', notes: 'canary-note home' });

  await page.getByRole('navigation').getByRole('link', { name: 'Pipeline' }).click();
  await page.getByLabel('Deal', { exact: true }).fill('canary-deal home funnel');
  await page.getByLabel('Customer', { exact: true }).selectOption({ label: 'Canary Home Zhao' });
  await page.getByLabel('Amount').fill('50000');
  await page.getByRole('button', { name: 'Add deal' }).click();
  await expect(page.getByRole('region', { name: 'Stage Lead' })).toContainText('¥50,000.00');
  await page.getByLabel('Stage of canary-deal home funnel').selectOption({ label: 'Won' });
  await expect(page.getByRole('region', { name: 'Stage Won' })).toContainText('¥50,000.00');

  await page.getByRole('navigation').getByRole('link', { name: 'Home' }).click();
  await expect(page.getByRole('img', { name: /Deals per stage: Lead 0 .*Won 1 \(¥50,000\.00\)/ })).toBeVisible();
  // Won this month, by the date it closed.
  await expect(page.getByRole('img', { name: /Deals closed per month.*: 1 won \(¥50,000\.00\), 0 lost$/ })).toBeVisible();
  const forgotten = page.getByRole('link', { name: /No follow-up in 30 days/ });
  await expect(forgotten).toContainText('1');
  await page.screenshot({ path: info.outputPath('home-en-1280.png'), fullPage: true });

  await forgotten.click();
  await expect(page.getByRole('heading', { name: 'Customers' })).toBeVisible();
  await expect(page.getByLabel('Last contact')).toHaveValue('30');
  await expect(page.getByRole('list', { name: 'Customers' })).toContainText('Canary Home Zhao');

  // On a phone: the tab bar, and the sync state stays in view when the page scrolls.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('navigation').getByRole('link', { name: 'Home' }).click();
  await page.mouse.wheel(0, 2000);
  await expect(page.getByRole('status', { name: 'Sync status' })).toBeInViewport();
  await page.getByRole('navigation').getByRole('link', { name: 'More' }).click();
  await expect(page.getByRole('heading', { name: 'More' })).toBeVisible();
  await page.screenshot({ path: info.outputPath('more-en-390.png'), fullPage: true });
});
