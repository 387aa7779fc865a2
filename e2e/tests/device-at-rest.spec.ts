import { test, expect } from './fixtures';
import { findIn } from './canaries';
import { createAccount, createCustomer, createTeam, passphraseFor, uniqueUser, waitSynced } from './helpers';

// What a thief of the device finds, locked: IndexedDB (every database, every store,
// keys as well as values), localStorage, sessionStorage and the service worker's
// caches hold none of the customer's text, in any encoding, nor the passphrase.
test('a locked device holds no customer text and no passphrase in any store the browser keeps', async ({ page }) => {
  test.setTimeout(120_000);
  const user = uniqueUser('rst');
  await createAccount(page, user);
  await createTeam(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Customers' }).click();
  await createCustomer(page, {
    name: '王秀英 Canary Rest',
    company: '杭州龙井茶叶有限公司',
    phone: '13966667777',
    email: 'wang.xiuying.rest@example.cn',
    notes: '机密：月底签合同 canary-rest-note',
  });
  await page.getByLabel('Summary').fill('canary-rest-interaction 报价九十八万');
  await page.getByRole('button', { name: 'Add interaction' }).click();
  await waitSynced(page);
  await page.getByRole('button', { name: 'Lock', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Unlock', exact: true })).toBeVisible();
  await page.waitForTimeout(500); // the replica cache is written as the tab locks

  const dump: string = await page.evaluate(async () => {
    const parts: Uint8Array[] = [];
    const enc = new TextEncoder();
    const push = (v: unknown, depth = 0): void => {
      if (v === null || v === undefined || depth > 20) return;
      if (typeof v === 'string') parts.push(enc.encode(v));
      else if (v instanceof ArrayBuffer) parts.push(new Uint8Array(v));
      else if (ArrayBuffer.isView(v)) parts.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      else if (typeof v === 'object') for (const [k, x] of Object.entries(v as object)) { push(k, depth + 1); push(x, depth + 1); }
      else parts.push(enc.encode(String(v)));
    };
    const done = <T>(r: IDBRequest<T>) => new Promise<T>((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
    for (const { name } of await indexedDB.databases()) {
      if (!name) continue;
      push(name);
      const db = await done(indexedDB.open(name));
      for (const store of Array.from(db.objectStoreNames)) {
        const os = db.transaction(store, 'readonly').objectStore(store);
        push(store);
        push(await done(os.getAllKeys()));
        push(await done(os.getAll()));
      }
      db.close();
    }
    for (const storage of [localStorage, sessionStorage]) {
      for (let i = 0; i < storage.length; i++) { const k = storage.key(i)!; push(k); push(storage.getItem(k)); }
    }
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) {
        push(req.url);
        push(new Uint8Array(await (await cache.match(req))!.arrayBuffer()));
      }
    }
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    let bin = '';
    for (let i = 0; i < all.length; i += 0x8000) bin += String.fromCharCode(...all.subarray(i, i + 0x8000));
    return btoa(bin);
  });
  const bytes = Buffer.from(dump, 'base64');
  expect(bytes.length, 'the stores were read').toBeGreaterThan(100_000);
  expect(bytes.includes(Buffer.from(`quietdesk:${user}`)), 'the account database was read').toBe(true);
  const needles = [
    '王秀英', '杭州龙井茶叶有限公司', '13966667777', 'wang.xiuying.rest', '机密：月底签合同', 'canary-rest-note',
    'canary-rest-interaction', '报价九十八万', passphraseFor(user),
  ];
  expect(findIn(bytes, needles)).toEqual([]);
});
