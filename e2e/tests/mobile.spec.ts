import { test, expect, Page } from './fixtures';
import { createAccount, createCustomer, createTeam, uniqueUser } from './helpers';

async function noHorizontalScroll(page: Page) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(w).toBeLessThanOrEqual(360);
}

test('list and detail pages at 360 x 740 with no horizontal scroll', async ({ page }, info) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await createAccount(page, uniqueUser('mob'));
  await createTeam(page);
  await createCustomer(page, {
    name: 'Canary Mobile Chen Jing',
    company: 'Canary Very Long Company Name Holdings International Limited',
    phone: '13900001111',
    email: 'canary.a.very.long.email.address@example.cn',
    notes: 'canary-note a long note that should wrap on a narrow phone screen without scrolling sideways',
  });
  await page.getByLabel('Summary').fill('canary-meeting at their office');
  await page.getByRole('button', { name: 'Add interaction' }).click();
  await noHorizontalScroll(page);
  await page.screenshot({ path: info.outputPath('detail-360x740.png'), fullPage: true });

  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByRole('list', { name: 'Customers' }).getByRole('link')).toHaveCount(1);
  await noHorizontalScroll(page);
  await page.screenshot({ path: info.outputPath('list-360x740.png'), fullPage: true });

  await page.getByRole('navigation').getByRole('link', { name: 'Pipeline' }).click();
  await page.getByLabel('Deal', { exact: true }).fill('canary-deal annual contract');
  await page.getByLabel('Customer', { exact: true }).selectOption({ label: 'Canary Mobile Chen Jing' });
  await page.getByLabel('Amount').fill('12000.50');
  await page.getByRole('button', { name: 'Add deal' }).click();
  const lead = page.getByRole('region', { name: 'Stage Lead' });
  await expect(lead).toContainText('canary-deal annual contract');
  await expect(lead).toContainText('Total: ¥12,000.50');
  await lead.getByRole('button', { name: 'Move to Qualified' }).click();
  await expect(page.getByRole('region', { name: 'Stage Qualified' })).toContainText('Total: ¥12,000.50');
  await expect(lead).toContainText('Total: 0');
  await noHorizontalScroll(page);
  await page.screenshot({ path: info.outputPath('pipeline-360x740.png'), fullPage: true });
});
