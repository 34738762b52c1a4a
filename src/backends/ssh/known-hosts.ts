/**
 * OpenSSH known_hosts files (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): parsing, host matching and
 * verification of a server's host key, plus appending a new key for trust-on-first-use.
 *
 * A line is `[@marker] patterns keytype base64 [comment]`. Patterns are a comma list of names,
 * `[host]:port` forms, wildcards (`*`, `?`) and negations (`!`), or one hashed name
 * `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. The name looked up is `host` on port 22 and
 * `[host]:port` elsewhere.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { matchPattern } from './config.ts';

/** One parsed known_hosts line. */
export interface KnownHostEntry {
  /** `@revoked` or `@cert-authority`; absent for a plain host key. */
  marker?: 'revoked' | 'cert-authority';
  /** The host pattern field as written. */
  patterns: string;
  /** Key type as written (`ssh-ed25519`, `ssh-rsa`, …). */
  keyType: string;
  /** The decoded public key blob. */
  key: Buffer;
  /** Where the line came from, for messages: `file:line`. */
  source: string;
}

/** What a known_hosts lookup concluded about a server's key. */
export type HostKeyVerdict =
  | { status: 'ok'; entry: KnownHostEntry }
  | { status: 'unknown'; knownTypes: string[] }
  | { status: 'changed'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry };

/** Parses known_hosts text; malformed lines are skipped, as ssh does. */
export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [patterns, keyType, base64] = fields;
    if (patterns === undefined || keyType === undefined || base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    const entry: KnownHostEntry = { patterns, keyType, key: Buffer.from(base64, 'base64'), source: `${file}:${i + 1}` };
    if (marker !== undefined) entry.marker = marker;
    entries.push(entry);
  }
  return entries;
}

/** Reads and parses several known_hosts files in order; missing files count as empty. */
export async function readKnownHosts(files: readonly string[]): Promise<KnownHostEntry[]> {
  const all: KnownHostEntry[] = [];
  for (const file of files) {
    try {
      all.push(...parseKnownHosts(await readFile(file, 'utf8'), file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return all;
}

/** The name a host is filed under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

/** True when the entry's pattern field selects `name` (a {@link knownHostName}). */
export function entryMatchesName(entry: Pick<KnownHostEntry, 'patterns'>, name: string): boolean {
  if (entry.patterns.startsWith('|1|')) return hashedNameMatches(entry.patterns, name);
  let matched = false;
  for (const pattern of entry.patterns.split(',')) {
    const negated = pattern.startsWith('!');
    if (matchPattern(name, (negated ? pattern.slice(1) : pattern).toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function hashedNameMatches(field: string, name: string): boolean {
  const [, , salt64, hash64] = field.split('|');
  if (salt64 === undefined || hash64 === undefined) return false;
  const expected = Buffer.from(hash64, 'base64');
  const actual = createHmac('sha1', Buffer.from(salt64, 'base64')).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Renders `name` hashed as OpenSSH's HashKnownHosts does (`salt` is 20 random bytes there). */
export function hashKnownHostName(name: string, salt: Buffer): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

/**
 * Checks the server's key blob for `host`:`port` against known_hosts entries, as ssh does:
 * a revoked key is refused wherever it appears for the host; a listed key is ok; a different key
 * of the same type means the key changed; otherwise the key is unknown.
 */
export function verifyHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  return verifyHostKeyAs(entries, knownHostName(host, port), key);
}

/** {@link verifyHostKey} for a name as known_hosts files it (a HostKeyAlias, or a {@link knownHostName}). */
export function verifyHostKeyAs(entries: readonly KnownHostEntry[], name: string, key: Buffer): HostKeyVerdict {
  const mine = entries.filter(e => e.marker !== 'cert-authority' && entryMatchesName(e, name));
  const revoked = mine.find(e => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const plain = mine.filter(e => e.marker === undefined);
  const same = plain.find(e => e.key.equals(key));
  if (same) return { status: 'ok', entry: same };
  const type = keyTypeOf(key);
  const changed = plain.find(e => keyTypeOf(e.key) === type);
  if (changed) return { status: 'changed', entry: changed };
  return { status: 'unknown', knownTypes: [...new Set(plain.map(e => keyTypeOf(e.key)))] };
}

/** The key types known_hosts lists for a host, in file order (to prefer them in negotiation). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  return knownKeyTypesAs(entries, knownHostName(host, port));
}

/** {@link knownKeyTypes} for a name as known_hosts files it. */
export function knownKeyTypesAs(entries: readonly KnownHostEntry[], name: string): string[] {
  return [...new Set(entries.filter(e => e.marker === undefined && entryMatchesName(e, name)).map(e => keyTypeOf(e.key)))];
}

/** The key type named inside an SSH public key blob (its first string), '' when malformed. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return len > 0 && 4 + len <= blob.length ? blob.subarray(4, 4 + len).toString('latin1') : '';
}

/** OpenSSH's SHA256 fingerprint of a key blob: `SHA256:` + unpadded base64. */
export function fingerprintSha256(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The known_hosts line that records `key` for `host`:`port` (no trailing newline). */
export function renderKnownHostLine(host: string, port: number, key: Buffer): string {
  return renderKnownHostLineAs(knownHostName(host, port), key);
}

/** The known_hosts line that records `key` under `name` (no trailing newline). */
export function renderKnownHostLineAs(name: string, key: Buffer): string {
  return `${name} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** Appends a line for `key` to `file`, creating it (0600, parent 0700) when needed. */
export async function recordHostKey(file: string, host: string, port: number, key: Buffer): Promise<void> {
  await recordHostKeyAs(file, knownHostName(host, port), key);
}

/** {@link recordHostKey} under a name as known_hosts files it (a HostKeyAlias). */
export async function recordHostKeyAs(file: string, name: string, key: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // Start on a fresh line even when the file's last line lacks its newline.
  let prefix = '';
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await appendFile(file, `${prefix}${renderKnownHostLineAs(name, key)}\n`, { mode: 0o600 });
}
