import * as fs from 'node:fs';
import * as path from 'node:path';

// What the zero-knowledge tests look for, and how: every string the suite types into
// the app (read from the tests' own `.fill('…')` calls), the secrets tests meet at run
// time (invitation secrets, recovery keys: `noteSecret`), each searched for in every
// form a store or a log could hold it in.

/** Secrets met while the suite runs, kept beside the server's files. */
const SECRETS = path.join(__dirname, '..', '.tmp', 'suite-secrets.txt');

/** Remember a secret the server must never hold (an invitation link's secret, a recovery key). */
export function noteSecret(secret: string) {
  fs.mkdirSync(path.dirname(SECRETS), { recursive: true });
  fs.appendFileSync(SECRETS, `${secret}\n`);
}

export function notedSecrets(): string[] {
  if (!fs.existsSync(SECRETS)) return [];
  return fs.readFileSync(SECRETS, 'utf8').split('\n').filter((s) => s.length >= 8);
}

/** Every literal the suite types (`.fill('…')`), except what the server is told by
 * design or could hold by chance: short words, plain numbers under 8 digits. */
export function typedLiterals(): string[] {
  const dir = __dirname;
  const found = new Set<string>();
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const code = fs.readFileSync(path.join(dir, f), 'utf8');
    // `.fill('…')`, and the fields of `createCustomer(page, { name: '…', … })`.
    const typed = [
      ...[...code.matchAll(/\.fill\((['"])((?:(?!\1)[^\\]|\\.)*)\1\)/g)].map((m) => m[2]),
      ...[...code.matchAll(/createCustomer\([^,]+,\s*\{([^}]*)\}/g)].flatMap((m) =>
        [...m[1].matchAll(/:\s*(['"])((?:(?!\1)[^\\]|\\.)*)\1/g)].map((v) => v[2]),
      ),
    ];
    for (const raw of typed) {
      const s = raw.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
      if (s.length < 6) continue;
      if (/^[\d.,+\- ]+$/.test(s) && s.replace(/\D/g, '').length < 8) continue;
      // Each line of a multi-line value is stored apart (a choice list).
      for (const line of s.split('\n')) if (line.length >= 6) found.add(line);
    }
  }
  return [...found];
}

/** `needle` as UTF-8, UTF-16 (LE and BE), JSON's `\uXXXX` escapes and base64 (at each
 * of the three alignments a longer encoded run could put it in). */
export function forms(needle: string): { name: string; bytes: Buffer }[] {
  const utf8 = Buffer.from(needle, 'utf8');
  const le = Buffer.from(needle, 'utf16le');
  const be = Buffer.from(le);
  be.swap16();
  const out = [
    { name: 'UTF-8', bytes: utf8 },
    { name: 'UTF-16LE', bytes: le },
    { name: 'UTF-16BE', bytes: be },
  ];
  if (/[^\x20-\x7e]/.test(needle)) {
    for (const upper of [false, true]) {
      const esc = [...needle]
        .map((c) => {
          const code = c.charCodeAt(0);
          if (code >= 0x20 && code < 0x7f && c !== '"' && c !== '\\') return c;
          return [...c].map((u) => {
            const h = u.charCodeAt(0).toString(16).padStart(4, '0');
            return `\\u${upper ? h.toUpperCase() : h}`;
          }).join('');
        })
        .join('');
      out.push({ name: 'JSON escapes', bytes: Buffer.from(esc) });
    }
  }
  for (let shift = 0; shift < 3; shift++) {
    // (JSON escapes of digits-only hex are the same either case: kept once below.)
    const b64 = Buffer.concat([Buffer.alloc(shift), utf8]).toString('base64');
    // Drop the characters that depend on the bytes before and after.
    const start = Math.ceil((shift * 4) / 3);
    const end = b64.length - 4;
    if (end - start >= 6) out.push({ name: `base64+${shift}`, bytes: Buffer.from(b64.slice(start, end)) });
  }
  return out.filter((f, i) => out.findIndex((g) => g.bytes.equals(f.bytes)) === i);
}

/** Which needles (and in which form) `haystack` holds, case-insensitively for ASCII. */
export function findIn(haystack: Buffer, needles: string[]): string[] {
  const lower = Buffer.from(haystack.toString('latin1').toLowerCase(), 'latin1');
  const hits: string[] = [];
  for (const needle of needles) {
    for (const { name, bytes } of forms(needle)) {
      const base64 = name.startsWith('base64');
      const hit = base64 ? haystack.includes(bytes) : lower.includes(Buffer.from(bytes.toString('latin1').toLowerCase(), 'latin1'));
      if (hit) hits.push(`${JSON.stringify(needle)} as ${name}`);
    }
  }
  return hits;
}

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}
