import { test, expect } from './fixtures';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { filesUnder, findIn, notedSecrets, typedLiterals } from './canaries';
import { CANARY_PHONES } from './helpers';

// Runs last (files run in name order, one worker): nothing the suite typed into the
// app may be in any byte the server wrote — its database, WAL and shared memory, its
// log file, its stdout and stderr. The needles are every literal the suite types
// (Chinese names, emails, notes, amounts, custom field names and choices, pipeline and
// view names, search terms, wrong passphrases), the secrets met on the way (invitation
// secrets, recovery keys), each in UTF-8, UTF-16, JSON escapes and base64. That covers
// what the app derives from them too: history entries, merged duplicates, replaced-edit
// notes, saved views, pool claims, calendar items.
test('nothing the suite typed, and no secret it met, is in any file the server wrote', async () => {
  const dir = path.join(__dirname, '..', '.tmp');
  const files = filesUnder(dir).filter((f) => !f.endsWith('suite-secrets.txt'));
  const typed = typedLiterals();
  const secrets = notedSecrets();
  const needles = [...new Set([...typed, ...secrets, 'example.cn', ...CANARY_PHONES])];
  expect(typed.length, 'the suite types many strings').toBeGreaterThan(40);
  expect(typed.some((t) => /[\u4e00-\u9fff]/.test(t)), 'Chinese among them').toBe(true);
  expect(secrets.length, 'invitation secrets and a recovery key were noted').toBeGreaterThan(3);
  let checked = 0;
  const hits: string[] = [];
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    checked += bytes.length;
    hits.push(...findIn(bytes, needles).map((h) => `${path.basename(f)}: ${h}`));
  }
  expect(hits).toEqual([]);
  const names = files.map((f) => path.basename(f));
  for (const f of ['e2e.sqlite', 'e2e.sqlite-wal', 'server.log', 'server.stderr']) expect(names).toContain(f);
  const log = fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
  expect(log).toContain('push committed');
  expect(checked).toBeGreaterThan(100_000);
});
