import { test, expect, Page } from './fixtures';
import { createAccount, createCustomer, createTeam, passphraseFor, uniqueUser, waitSynced, openEdit } from './helpers';

function isoDay(offsetDays: number): string {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

async function setAndSave(page: Page, fields: Record<string, string>) {
  await openEdit(page);
  for (const [label, value] of Object.entries(fields)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('form', { name: 'Customer' }).getByRole('status')).toHaveText('Saved.');
}

test('the customer list filters by tag, owner, overdue task and no recent contact; consent is editable', async ({ page }) => {
  const user = uniqueUser('flt');
  await createAccount(page, user);
  await createTeam(page);

  // Alpha: tag vip, owned by the user, contacted today, consent given and later withdrawn.
  await createCustomer(page, { name: 'Filter Alpha', company: 'Canary Alpha Ltd', phone: '13911112222', email: 'alpha@example.cn', notes: 'canary-note alpha' });
  await setAndSave(page, { Tags: 'vip, tea', Owner: user, 'Consent purpose': 'newsletter', 'Consent date': isoDay(-10) });
  await page.getByLabel('Consent withdrawn').check();
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('form', { name: 'Customer' }).getByRole('status')).toHaveText('Saved.');
  await page.getByLabel('Summary').fill('canary-call alpha today');
  await page.getByRole('button', { name: 'Add interaction' }).click();
  await expect(page.getByRole('list', { name: 'Interaction timeline' })).toContainText('canary-call alpha today');

  // Beta: tag steel, another owner, never contacted, a task that fell due yesterday.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(page, { name: 'Filter Beta', company: 'Canary Beta Steel', phone: '13933334444', email: 'beta@example.cn', notes: 'canary-note beta' });
  await setAndSave(page, { Tags: 'steel', Owner: 'someone-else' });
  await page.getByLabel('Task', { exact: true }).fill('canary-task call beta back');
  await page.getByLabel('Due date').fill(isoDay(-1));
  await page.getByRole('button', { name: 'Add task' }).click();
  await expect(page.getByRole('list', { name: 'Customer tasks' })).toContainText('overdue');
  await waitSynced(page);

  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  const list = page.getByRole('list', { name: 'Customers' });
  const shows = async (names: string[]) => {
    await expect(list.getByRole('link')).toHaveCount(names.length);
    for (const n of names) await expect(list).toContainText(n);
  };
  await shows(['Filter Alpha', 'Filter Beta']);

  await page.getByLabel('Tag', { exact: true }).selectOption('vip');
  await shows(['Filter Alpha']);
  await page.getByLabel('Tag', { exact: true }).selectOption('');
  await page.getByLabel('Owner', { exact: true }).selectOption('someone-else');
  await shows(['Filter Beta']);
  await page.getByLabel('Owner', { exact: true }).selectOption('');
  await page.getByLabel('Has an overdue task', { exact: true }).check();
  await shows(['Filter Beta']);
  await page.getByLabel('Has an overdue task', { exact: true }).uncheck();
  await page.getByLabel('Last contact', { exact: true }).selectOption('30');
  await shows(['Filter Beta']);
  // Filters combine with search.
  await page.getByLabel('Search', { exact: true }).fill('alpha');
  await shows([]);
  await page.getByLabel('Last contact', { exact: true }).selectOption('0');
  await shows(['Filter Alpha']);

  // Consent survives a reload (unlock from the device's cache).
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphraseFor(user));
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await page.getByRole('link', { name: /Filter Alpha/ }).click();
  await openEdit(page);
  await expect(page.getByLabel('Consent purpose')).toHaveValue('newsletter');
  await expect(page.getByLabel('Consent date')).toHaveValue(isoDay(-10));
  await expect(page.getByLabel('Consent withdrawn')).toBeChecked();
});
