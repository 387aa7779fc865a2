import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CANARY_PHONES } from './helpers';

// Runs last (files run in name order, one worker): everything the suite typed into the
// app must be absent from every byte the server wrote — database, WAL, log. That
// includes what the app derives from it: history entries (history.spec.ts edits a
// "canary-history" note; crm.spec.ts the canary notes), merged duplicates
// (duplicates.spec.ts, example.cn addresses) and replaced-edit notes; custom field
// definitions and values (custom-fields.spec.ts, a "canary-tea" choice), saved views
// (views.spec.ts, a "canary-view" name), pipelines and lost reasons (pipeline.spec.ts),
// pool claims (pool.spec.ts) and calendar items (calendar.spec.ts).
test('the server database, WAL and log hold none of the typed canaries', async () => {
  const dir = path.join(__dirname, '..', '.tmp');
  const files = ['e2e.sqlite', 'e2e.sqlite-wal', 'e2e.sqlite-shm', 'server.log'];
  let checked = 0;
  for (const f of files) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) continue;
    const bytes = fs.readFileSync(p);
    checked += bytes.length;
    const text = bytes.toString('latin1').toLowerCase();
    for (const needle of ['canary', 'example.cn', 'wechat after', 'discount', ...CANARY_PHONES]) {
      expect(text.includes(needle.toLowerCase()), `${f} contains ${needle}`).toBe(false);
    }
  }
  expect(fs.existsSync(path.join(dir, 'e2e.sqlite-wal'))).toBe(true);
  const log = fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
  expect(log).toContain('push committed');
  expect(checked).toBeGreaterThan(10_000);
});
