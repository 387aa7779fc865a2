// Opening an invitation link on a device with no account: the sign-up says it is an
// invitation before the account exists, and joining is the next step once it does.
import { test, expect } from './fixtures';
import { createAccount, createInvitationLink, createTeam, passphraseFor, uniqueUser } from './helpers';

test('an invitation link opens a sign-up that names the invitation, then joins the team', async ({ page, browser }) => {
  test.setTimeout(120_000);
  const admin = uniqueUser('inviter');
  await createAccount(page, admin);
  await createTeam(page);
  const link = await createInvitationLink(page, 'member');

  const ctx = await browser.newContext();
  const joiner = await ctx.newPage();
  const name = uniqueUser('invitee');
  await joiner.goto(link.replace(/^https?:\/\/[^/]+/, ''));
  await expect(joiner.getByRole('note')).toContainText('You were invited to join a team as member');
  await joiner.getByRole('button', { name: 'New account' }).click();
  await joiner.getByLabel('Username').fill(name);
  await joiner.getByLabel('Passphrase').fill(passphraseFor(name));
  await joiner.getByRole('button', { name: 'Create account' }).click();
  await expect(joiner.getByRole('heading', { name: 'Join or start a team' })).toBeVisible({ timeout: 30_000 });
  await expect(joiner.getByLabel('Invitation link')).toHaveValue(/#join=/);
  await joiner.getByRole('button', { name: 'Accept invitation' }).click();
  await expect(page.getByRole('status', { name: 'Notifications' })).toContainText(`Added ${name}.`, { timeout: 30_000 });
  await expect(joiner.getByRole('heading', { name: 'Home' })).toBeVisible({ timeout: 30_000 });
  await ctx.close();
});
