import { test, expect, Page } from './fixtures';
import { addToTeam, createAccount, createCustomer, createTeam, uniqueUser, waitSynced } from './helpers';

async function addDeal(page: Page, title: string, customer: string, amount: string) {
  await page.getByLabel('Deal', { exact: true }).fill(title);
  await page.getByLabel('Customer', { exact: true }).selectOption({ label: customer });
  await page.getByLabel('Amount').fill(amount);
  await page.getByRole('button', { name: 'Add deal' }).click();
}

/** Drag with the mouse: press on the card, move in steps, release over the column. */
async function dragTo(page: Page, card: ReturnType<Page['locator']>, column: ReturnType<Page['locator']>) {
  const from = (await card.getByRole('strong').or(card.locator('strong')).first().boundingBox())!;
  const to = (await column.getByRole('heading').boundingBox())!;
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + 30, from.y + 30, { steps: 5 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 10 });
  await page.mouse.up();
}

test('deals move by drag and drop, by keyboard and by touch; a lost deal needs a reason; admins add pipelines', async ({ page, browser }, info) => {
  test.setTimeout(120_000);
  await page.setViewportSize({ width: 1400, height: 900 });
  await createAccount(page, uniqueUser('pipe'));
  await createTeam(page);
  // A colleague, to see the moves arrive.
  const colleagueCtx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const colleague = await colleagueCtx.newPage();
  const other = uniqueUser('pipc');
  await createAccount(colleague, other);
  await addToTeam(page, colleague, other);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(page, { name: 'Canary Pipe Liu', company: 'Canary Drag Co', phone: '13900002222', email: 'liu@example.cn', notes: 'canary-note pipeline' });
  await page.getByRole('navigation').getByRole('link', { name: 'Pipeline' }).click();
  await addDeal(page, 'canary-deal dragged', 'Canary Pipe Liu', '8000');
  const lead = page.getByRole('region', { name: 'Stage Lead' });
  const card = lead.getByRole('listitem').filter({ hasText: 'canary-deal dragged' });
  await expect(card).toBeVisible();

  // Mouse: drag the card to Proposal.
  const proposal = page.getByRole('region', { name: 'Stage Proposal' });
  await dragTo(page, card, proposal);
  await expect(proposal).toContainText('canary-deal dragged');
  await expect(proposal).toContainText('Total: ¥8,000.00');
  await expect(lead).toContainText('Total: 0');
  await expect(page.getByRole('status').filter({ hasText: 'moved to Proposal' })).toBeVisible();
  // The move is an ordinary edit: it reaches the colleague's board.
  await colleague.getByRole('navigation').getByRole('link', { name: 'Pipeline' }).click();
  await expect(colleague.getByRole('region', { name: 'Stage Proposal' })).toContainText('canary-deal dragged', { timeout: 30_000 });

  // Keyboard: the card's Stage select; Lost asks why and will not go on without it.
  await page.getByLabel('Stage of canary-deal dragged').selectOption({ label: 'Lost' });
  const dialog = page.getByRole('dialog', { name: 'Mark “canary-deal dragged” as lost' });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Mark as lost' }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Why was it lost?').fill('canary-reason budget frozen');
  await dialog.getByRole('button', { name: 'Mark as lost' }).click();
  await expect(dialog).toBeHidden();
  const lost = page.getByRole('region', { name: 'Stage Lost' });
  await expect(lost).toContainText('Why lost: canary-reason budget frozen');
  await expect(lost).toContainText(/Lost \d{4}-\d{2}-\d{2}/);
  await expect(colleague.getByRole('region', { name: 'Stage Lost' })).toContainText('Why lost: canary-reason budget frozen', { timeout: 30_000 });
  await page.screenshot({ path: info.outputPath('pipeline-desk-1400.png'), fullPage: true });

  // Reopening clears the reason; the move survives a reload (it is an edit like any).
  await page.getByLabel('Stage of canary-deal dragged').selectOption({ label: 'Negotiation' });
  const negotiation = page.getByRole('region', { name: 'Stage Negotiation' });
  await expect(negotiation).toContainText('canary-deal dragged');
  await expect(negotiation).not.toContainText('Why lost');
  await waitSynced(page);

  // An admin adds a pipeline with its own stages; the board switches to it.
  await page.getByText('Edit pipelines').click();
  await page.getByLabel("New pipeline's name").fill('Renewals');
  await page.getByRole('button', { name: 'Add pipeline' }).click();
  const renewals = page.getByRole('form', { name: 'Pipeline Renewals' });
  await renewals.getByLabel('Stages, one per line').fill('Asked\nQuoted\nSigned off');
  await renewals.getByRole('button', { name: 'Save pipeline' }).click();
  await page.getByLabel('Pipeline', { exact: true }).selectOption({ label: 'Renewals' });
  await expect(page.getByRole('region', { name: 'Stage Quoted' })).toBeVisible();
  await addDeal(page, 'canary-deal renewal', 'Canary Pipe Liu', '1200');
  await expect(page.getByRole('region', { name: 'Stage Asked' })).toContainText('canary-deal renewal');
  await expect(page.getByRole('region', { name: 'Stage Asked' })).not.toContainText('canary-deal dragged');
  await page.getByLabel('Stage of canary-deal renewal').selectOption({ label: 'Won' });
  await expect(page.getByRole('region', { name: 'Stage Won' })).toContainText(/Won \d{4}-\d{2}-\d{2}/);

  // The customer's status is a different thing from a deal's stage.
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await expect(page.getByLabel('Status', { exact: true })).toBeVisible();
  await colleagueCtx.close();
});

test('on a phone, a deal is dragged by its grip with a finger', async ({ browser }, info) => {
  test.setTimeout(90_000);
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await ctx.newPage();
  await createAccount(page, uniqueUser('touch'));
  await createTeam(page);
  await createCustomer(page, { name: 'Canary Touch Ma', company: 'Canary Finger Co', phone: '13900001111', email: 'ma@example.cn', notes: 'canary-note touch' });
  await page.getByRole('navigation').getByRole('link', { name: 'Pipeline' }).click();
  await addDeal(page, 'canary-deal touched', 'Canary Touch Ma', '500');
  const card = page.getByRole('region', { name: 'Stage Lead' }).getByRole('listitem').filter({ hasText: 'canary-deal touched' });
  const grip = card.locator('.deal__grip');
  await page.getByRole('region', { name: 'Stage Lead' }).evaluate((el) => el.scrollIntoView({ block: 'start' }));
  const qualified = page.getByRole('region', { name: 'Stage Qualified' });
  const from = (await grip.boundingBox())!;
  const to = (await qualified.getByRole('heading').boundingBox())!;
  const cdp = await ctx.newCDPSession(page);
  const touch = (type: string, x: number, y: number) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
  const [x0, y0] = [from.x + from.width / 2, from.y + from.height / 2];
  const [x1, y1] = [to.x + to.width / 2, to.y + to.height / 2];
  await touch('touchStart', x0, y0);
  for (let i = 1; i <= 10; i++) await touch('touchMove', x0 + ((x1 - x0) * i) / 10, y0 + ((y1 - y0) * i) / 10);
  await touch('touchEnd', x1, y1);
  await expect(qualified).toContainText('canary-deal touched');
  await page.screenshot({ path: info.outputPath('pipeline-390x844.png'), fullPage: true });
  await ctx.close();
});
