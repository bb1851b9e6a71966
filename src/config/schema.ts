import * as v from 'valibot';
import { isAbsolute } from 'node:path';
import { InputError } from '../domain/errors.js';
import { printable } from '../domain/text.js';

/**
 * The shape of a config file, checked with valibot before any value is used: types, known keys,
 * allowed values and ranges. What needs address arithmetic (a gateway inside its subnet, ranges
 * that overlap) is checked after, on the typed result, in config.ts. Every message names the file
 * and the key, in one line: `/etc/natns/config.json: pools.default.gateway is missing: ...`.
 */
type Got = { received: string };

/** A string, with what to give when it is missing or of another type. */
const str = (like: string) => v.string((i: Got) => i.received === 'undefined' ? `is missing: give ${like}` : `must be a string like ${like} (got ${i.received})`);

/**
 * An object (not an array) that refuses keys it does not know, listing the ones it does. valibot
 * reports a missing required key on the object, with the key in the path: `needs` says what to give.
 */
function strict<E extends v.ObjectEntries>(entries: E, like: string, needs: Record<string, string> = {}, unknown?: string) {
  return v.pipe(v.custom<Record<string, unknown>>(isObject, `must be an object like ${like}`), strictEntries(entries, like, needs, unknown));
}

/** The same without the array guard: what valibot's variant needs for its options (it guards itself). */
function strictEntries<E extends v.ObjectEntries>(entries: E, like: string, needs: Record<string, string> = {}, unknown?: string) {
  const known = Object.keys(entries).join(', ');
  return v.strictObject(entries, (i) => {
    if (i.expected === 'never') return unknown ?? `is not a setting natns knows here (known: ${known})`;
    const key = i.expected.replace(/^"|"$/g, '');
    return i.received === 'undefined' && key in needs ? `is missing: give ${needs[key]}` : `must be an object like ${like}`;
  });
}

const PEM = v.optional(v.pipe(str('"/etc/natns/etcd-ca.pem"'), v.check(isAbsolute, 'must be the absolute path of a PEM file')));

export const poolSchema = strict({
  bridge: str('"br0"'),
  subnet: str('"198.51.100.0/24"'),
  gateway: str('"198.51.100.1"'),
  first: v.optional(str('"198.51.100.100"')),
  last: v.optional(str('"198.51.100.199"')),
  hostAccess: v.optional(v.picklist(['deny', 'allow'], (i) => `must be "deny" or "allow" (got ${i.received})`)),
  prefixLength: v.optional(v.pipe(v.number((i) => `must be a number like 64 (got ${i.received})`), v.integer('must be a whole number'))),
}, '{"bridge": "br0", "subnet": "198.51.100.0/24", ...}', {
  bridge: 'the upstream bridge, like "br0"', subnet: 'the upstream subnet, like "198.51.100.0/24"', gateway: 'the upstream gateway, like "198.51.100.1"',
});

const filesIpam = strictEntries({ backend: v.literal('files') }, '{"backend": "files"}', {}, 'applies only to "backend": "etcd"');
const etcdIpam = strictEntries({
  backend: v.literal('etcd'),
  endpoints: v.pipe(
    v.array(v.unknown(), (i) => `must list etcd's client URLs, like ["https://etcd1.example:2379"] (got ${i.received})`),
    v.minLength(1, 'must list etcd\'s client URLs, like ["https://etcd1.example:2379"] (got none)'),
  ),
  prefix: v.optional(v.pipe(str('"/natns/"'), v.regex(/^\/[\x21-\x7e]{0,126}\/$|^\/$/, (i) => `must start and end with '/' and hold no spaces, like "/natns/" (got ${i.received})`))),
  tls: v.optional(strict({ ca: PEM, cert: PEM, key: PEM }, '{"ca": "/etc/natns/etcd-ca.pem", "cert": "...", "key": "..."}')),
  timeout: v.optional(v.pipe(
    v.number((i) => `must be a number of seconds from 0.1 to 60 (got ${i.received})`),
    v.minValue(0.1, (i) => `must be a number of seconds from 0.1 to 60 (got ${i.received})`),
    v.maxValue(60, (i) => `must be a number of seconds from 0.1 to 60 (got ${i.received})`),
  )),
}, '{"backend": "etcd", "endpoints": [...]}', { endpoints: 'etcd\'s client URLs, like ["https://etcd1.example:2379"]' });

export const configSchema = strict({
  host: v.optional(str('"kvm-a"')),
  vxlanLocal: v.optional(str('"192.0.2.11" (this host\'s VXLAN address)')),
  ipam: v.optional(v.variant('backend', [filesIpam, etcdIpam], (i) => i.received === 'undefined' || !i.path?.length
    ? 'must be an object like {"backend": "etcd", "endpoints": [...]}'
    : `must be "files" or "etcd" (got ${i.received})`)),
  pools: v.optional(v.pipe(
    v.custom<Record<string, unknown>>(isObject, 'must be an object of named pools, like {"default": {"bridge": "br0", ...}}'),
    v.record(v.string(), poolSchema),
  )),
}, '{"pools": {...}}');

export type RawConfig = v.InferOutput<typeof configSchema>;
export type RawPool = v.InferOutput<typeof poolSchema>;

/** Validate a parsed config file; the first issue becomes the one line the admin reads. */
export function validateConfig(raw: unknown, source: string): RawConfig {
  // An ipam block without a backend is the default one: files.
  const input = isObject(raw) && isObject(raw.ipam) && raw.ipam.backend === undefined ? { ...raw, ipam: { ...raw.ipam, backend: 'files' } } : raw;
  const result = v.safeParse(configSchema, input, { abortEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  const key = (issue.path ?? []).map((p) => printable(String(p.key))).join('.');
  throw new InputError(key ? `${source}: ${key} ${issue.message}` : `${source} ${issue.message}`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
