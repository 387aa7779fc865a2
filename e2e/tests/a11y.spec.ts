import { test, expect, Page } from './fixtures';
import AxeBuilder from '@axe-core/playwright';
import { createAccount, createCustomer, createTeam, uniqueUser } from './helpers';

// Accessibility holds through the redesign: axe-core on every page of the app shell, at
// a phone's width, in 中文 and English, light and dark. Serious and critical violations fail.
const PAGES = ['/', '/customers', 'customer', '/customers/new', '/pipeline', '/tasks', '/calendar', '/pool', '/customers/duplicates', '/team', '/import', '/audit', '/lifecycle', '/more'];

async function go(page: Page, path: string) {
  await page.evaluate((p) => {
    history.pushState(null, '', p);
    dispatchEvent(new PopStateEvent('popstate'));
  }, path);
}

async function scan(page: Page, what: string) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const described = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  expect(described, `${what}: ${described.join('\n')}`).toEqual([]);
  return result.violations.length;
}

/** A screenshot kept with the test's results: `shell-<page>-<lang>-<width>.png`. */
async function shot(page: Page, path: string, lang: string, width: number) {
  const name = path === '/' ? 'home' : path.replace(/^\//, '').replace(/\//g, '-');
  await page.screenshot({ path: test.info().outputPath(`shell-${name}-${lang}-${width}.png`), fullPage: true });
}

test('axe finds no serious or critical violation on any page, in both languages and both themes', async ({ page }) => {
  test.setTimeout(180_000);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/');
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await scan(page, `log-in (${scheme})`);
  }
  await createAccount(page, uniqueUser('axe'));
  await createTeam(page);
  await createCustomer(page, { name: 'Canary Axe Qian', company: 'Canary Access Co', phone: '13900004444', email: 'qian@example.cn', notes: 'canary-note axe' });
  const customer = new URL(page.url()).pathname;

  let minor = 0;
  for (const lang of ['en', 'zh-CN']) {
    await go(page, '/more');
    await page.locator('#language-more').selectOption(lang);
    await expect(page.locator('html')).toHaveAttribute('lang', lang);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const p of PAGES) {
        await go(page, p === 'customer' ? customer : p);
        // One visible h1 on every page, a phone's too (axe: page-has-heading-one).
        await expect(page.getByRole('heading', { level: 1 })).toHaveCount(1);
        await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
        minor += await scan(page, `${p} (${lang}, ${scheme})`);
        if (scheme === 'light') await shot(page, p, lang, 390);
      }
    }
    // The same pages on a desk, kept as screenshots too.
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
    for (const p of PAGES) {
      await go(page, p === 'customer' ? customer : p);
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
      await shot(page, p, lang, 1280);
    }
    await page.setViewportSize({ width: 390, height: 844 });
  }
  console.log(`axe: ${PAGES.length * 4 + 2} scans, no serious or critical violations; ${minor} minor or moderate`);
});
