import { test, expect } from './fixtures';
import * as fs from 'fs';
import { createAccount, createCustomer, createTeam, uniqueUser, waitSynced } from './helpers';

const iso = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

test('the calendar shows tasks and meetings by day, moves them by drag and by date, and downloads my tasks as .ics', async ({ page }, info) => {
  test.setTimeout(120_000);
  await page.setViewportSize({ width: 1400, height: 900 });
  await createAccount(page, uniqueUser('cal'));
  await createTeam(page);
  await createCustomer(page, { name: 'Canary Cal Sun', company: 'Canary Dates Co', phone: '13900001111', email: 'sun@example.cn', notes: 'canary-note calendar' });
  // Wednesday of this week, so both days below fall in the week view.
  const now = new Date();
  const monday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - ((now.getDay() + 6) % 7));
  const wednesday = new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 2);
  const friday = new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 4);
  await page.getByLabel('Task', { exact: true }).fill('canary-task send the quote');
  await page.getByLabel('Due date').fill(iso(wednesday));
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.getByLabel('Channel').selectOption({ label: 'Meeting' });
  await page.getByLabel('Day (empty: now)').fill(iso(wednesday));
  await page.getByLabel('Summary').fill('canary-meeting at the plant');
  await page.getByRole('button', { name: 'Add interaction' }).click();
  await expect(page.getByRole('list', { name: 'Interaction timeline' })).toContainText('canary-meeting at the plant');

  await page.getByRole('navigation').getByRole('link', { name: 'Calendar' }).click();
  const dayName = (d: Date) => page.evaluate((ms) => new Date(ms).toLocaleString('en', { weekday: 'short', month: 'numeric', day: 'numeric' }), d.getTime());
  const wedRegion = page.getByRole('region', { name: await dayName(wednesday), exact: true });
  await expect(wedRegion).toContainText('Task: canary-task send the quote');
  await expect(wedRegion).toContainText('Meeting: canary-meeting at the plant');

  // Drag the task to Friday.
  const fri = page.getByRole('region', { name: await dayName(friday), exact: true });
  const item = wedRegion.getByRole('listitem').filter({ hasText: 'canary-task send the quote' });
  const from = (await item.locator('.cal-item__time').boundingBox())!;
  const to = (await fri.getByRole('heading').boundingBox())!;
  await page.mouse.move(from.x + 5, from.y + 5);
  await page.mouse.down();
  await page.mouse.move(from.x + 40, from.y + 40, { steps: 5 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2 + 30, { steps: 10 });
  await page.mouse.up();
  await expect(fri).toContainText('Task: canary-task send the quote');
  await expect(wedRegion).not.toContainText('canary-task send the quote');

  // The keyboard way: the meeting's date field.
  await page.getByLabel('Date of canary-meeting at the plant').fill(iso(friday));
  await page.getByLabel('Date of canary-meeting at the plant').dispatchEvent('change');
  await expect(fri).toContainText('Meeting: canary-meeting at the plant');
  await page.screenshot({ path: info.outputPath('calendar-week-1400.png'), fullPage: true });

  await page.getByRole('button', { name: 'Month' }).click();
  await expect(page.getByRole('button', { name: 'Month' })).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('.calendar--month')).toContainText('canary-task send the quote');
  await page.screenshot({ path: info.outputPath('calendar-month-1400.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('button', { name: 'Week' }).click();
  await page.screenshot({ path: info.outputPath('calendar-week-390x844.png'), fullPage: true });
  await page.setViewportSize({ width: 1400, height: 900 });
  await waitSynced(page);

  // My tasks as an iCalendar file, built in the browser.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download my tasks (.ics)' }).click()]);
  const ics = fs.readFileSync((await download.path())!, 'utf8');
  expect(ics).toContain('BEGIN:VCALENDAR');
  expect(ics).toContain('SUMMARY:canary-task send the quote');
  expect(ics).toContain('DESCRIPTION:Canary Cal Sun');
  // The task's event starts on the Friday it was dragged to (in this machine's time zone).
  const event = ics.split('BEGIN:VEVENT').find((e) => e.includes('SUMMARY:canary-task send the quote')) ?? '';
  const m = event.match(/DTSTART:(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/);
  expect(m, 'the task has a DTSTART in UTC').not.toBeNull();
  const start = new Date(Date.UTC(+m![1], +m![2] - 1, +m![3], +m![4], +m![5], +m![6]));
  expect(iso(start)).toBe(iso(friday));
});
