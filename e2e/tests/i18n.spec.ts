import { test, expect } from './fixtures';
import { passphraseFor, uniqueUser } from './helpers';

// 中文 and English: the language follows the browser's, a picker switches it, and this
// device remembers the choice. Screenshots of both at a phone's and a desk's size.
test('a Chinese browser gets 中文; the picker switches to English and the choice is kept', async ({ browser }, info) => {
  test.setTimeout(90_000);
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('button', { name: '新账号' })).toBeVisible({ timeout: 30_000 });
  await page.screenshot({ path: info.outputPath('login-zh-390.png'), fullPage: true });

  const user = uniqueUser('zh');
  await page.getByRole('button', { name: '新账号' }).click();
  await page.getByLabel('用户名').fill(user);
  await page.getByLabel('密码短语').fill(passphraseFor(user));
  await page.getByRole('button', { name: '创建账号' }).click();
  await expect(page.getByRole('heading', { name: '加入或创建团队' })).toBeVisible({ timeout: 30_000 });
  await page.getByRole('button', { name: '创建团队' }).click();
  await expect(page.getByRole('heading', { name: '首页' })).toBeVisible({ timeout: 30_000 });
  await page.screenshot({ path: info.outputPath('home-zh-390.png'), fullPage: true });
  await expect(page.getByRole('status', { name: '同步状态' })).toContainText('在线', { timeout: 20_000 });

  // A customer with a Chinese name, and money with the yuan sign and digit grouping.
  await page.getByRole('link', { name: '新建客户' }).click();
  await page.getByLabel('姓名', { exact: true }).fill('张伟');
  await page.getByLabel('公司', { exact: true }).fill('上海钢铁有限公司');
  await page.getByRole('button', { name: '创建客户' }).click();
  await expect(page.getByRole('heading', { name: '张伟' })).toBeVisible();
  await page.getByRole('navigation').getByRole('link', { name: '销售管道' }).click();
  await page.getByLabel('商机', { exact: true }).fill('年度合同');
  await page.getByLabel('客户', { exact: true }).selectOption({ label: '张伟' });
  await page.getByLabel('金额').fill('1234567.5');
  await page.getByRole('button', { name: '添加商机' }).click();
  await expect(page.getByRole('region', { name: '阶段：线索' })).toContainText('¥1,234,567.50');
  await page.screenshot({ path: info.outputPath('pipeline-zh-390.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole('navigation').getByRole('link', { name: '客户' }).click();
  await expect(page.getByRole('status', { name: '匹配的客户' })).toContainText('共 1 个客户');
  await page.screenshot({ path: info.outputPath('customers-zh-1280.png'), fullPage: true });

  // Pinyin finds the Chinese name: initials, full syllables, with or without spaces.
  const list = page.getByRole('list', { name: '客户' });
  for (const q of ['zw', 'zhangwei', 'zhang wei', 'Zhang Wei', '张', 'shanghai']) {
    await page.getByLabel('搜索').fill(q);
    await expect(list.getByRole('link', { name: /张伟/ }), q).toBeVisible();
  }
  await page.getByLabel('搜索').fill('zhangwu');
  await expect(list.getByRole('link')).toHaveCount(0);
  await page.getByLabel('搜索').fill('');

  // Switch to English: everything is redrawn, nothing is locked or lost.
  await page.locator('#language-side').selectOption('en');
  await expect(page.getByRole('heading', { name: 'Customers' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('link', { name: /张伟/ })).toBeVisible();
  await page.screenshot({ path: info.outputPath('customers-en-1280.png'), fullPage: true });

  // Remembered on this device, over the browser's language.
  await page.reload();
  await expect(page.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible({ timeout: 30_000 });
  await ctx.close();
});
