import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../src/config/config.js';

const pool = { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199' };

function refusal(p: Record<string, unknown>): string {
  try {
    parseConfig(JSON.stringify({ pools: { default: p } }), 'config.json');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('host config', () => {
  test('reads the documented example', () => {
    const config = parseConfig(JSON.stringify({ pools: { default: pool } }), 'config.json');
    const p = config.pools.get('default')!;
    expect([p.bridge, p.first, p.last, p.gateway, p.subnet.prefix]).toEqual(['br0', '198.51.100.100', '198.51.100.199', '198.51.100.1', 24]);
  });

  test('an empty object has no pools', () => {
    expect(parseConfig('{}', 'c').pools.size).toBe(0);
  });

  test.each([
    ['a reversed range', { first: '198.51.100.199', last: '198.51.100.100' }, /comes after last/],
    ['a range outside the subnet', { last: '198.51.101.10' }, /outside the pool's subnet/],
    ['a gateway inside the range', { gateway: '198.51.100.150' }, /must not be handed out/],
    ['a gateway outside the subnet', { gateway: '203.0.113.1' }, /outside the pool's subnet/],
    ['the broadcast address in the range', { last: '198.51.100.255' }, /network or broadcast/],
    ['a bad subnet', { subnet: '198.51.100.0' }, /CIDR form/],
    ['a hostile bridge', { bridge: 'br0 up; reboot' }, /not a valid interface name/],
    ['an unknown key', { typo: 1 }, /^config.json: pools.default.typo is not a setting natns knows here \(known: bridge, subnet, gateway, first, last, hostAccess, prefixLength\)$/],
    ['a missing key', { gateway: undefined }, /^config.json: pools.default.gateway is missing: give the upstream gateway, like "198.51.100.1"$/],
    ['a number for a string', { first: 100 }, /^config.json: pools.default.first must be a string like "198.51.100.100" \(got 100\)$/],
    ['an unknown hostAccess', { hostAccess: 'sometimes' }, /^config.json: pools.default.hostAccess must be "deny" or "allow" \(got "sometimes"\)$/],
  ])('refuses %s', (_what, override, message) => {
    expect(refusal({ ...pool, ...override })).toMatch(message);
  });

  test('refuses malformed JSON with the file name', () => {
    expect(() => parseConfig('{"pools": ', '/etc/natns/config.json')).toThrow(/\/etc\/natns\/config.json is not valid JSON/);
  });
});

describe('host and ipam settings', () => {
  const etcd = { backend: 'etcd', endpoints: ['https://etcd1.example:2379', 'https://10.0.0.2:2379/'] };
  const parse = (extra: Record<string, unknown>) => parseConfig(JSON.stringify({ pools: { default: pool }, ...extra }), 'config.json');
  const refusal = (extra: Record<string, unknown>) => {
    try {
      parse(extra);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected a refusal');
  };

  test('the file backend and the machine host name by default', () => {
    const c = parse({});
    expect(c.ipam).toEqual({ backend: 'files' });
    expect(c.host).toBe(hostname());
  });

  test('an etcd backend with its defaults, endpoints reduced to their origin', () => {
    const c = parse({ host: 'kvm-a', ipam: etcd });
    expect(c.host).toBe('kvm-a');
    expect(c.ipam).toEqual({ backend: 'etcd', endpoints: ['https://etcd1.example:2379', 'https://10.0.0.2:2379'], prefix: '/natns/', timeoutMs: 3000 });
  });

  test('TLS files and a timeout', () => {
    const tls = { ca: '/etc/natns/ca.pem', cert: '/etc/natns/kvm-a.pem', key: '/etc/natns/kvm-a.key' };
    expect(parse({ ipam: { ...etcd, tls, timeout: 1.5, prefix: '/prod/natns/' } }).ipam).toMatchObject({ tls, timeoutMs: 1500, prefix: '/prod/natns/' });
  });

  test.each([
    ['a host name with a space', { host: 'kvm a' }, /config.json: "host": 'kvm a' is not a host name/],
    ['a host that is not a string', { host: 7 }, /^config.json: host must be a string like "kvm-a" \(got 7\)$/],
    ['an unknown backend', { ipam: { backend: 'consul' } }, /^config.json: ipam.backend must be "files" or "etcd" \(got "consul"\)$/],
    ['etcd settings on the file backend', { ipam: { backend: 'files', endpoints: [] } }, /^config.json: ipam.endpoints applies only to "backend": "etcd"$/],
    ['no endpoints', { ipam: { backend: 'etcd' } }, /^config.json: ipam.endpoints is missing: give etcd's client URLs/],
    ['an empty list of endpoints', { ipam: { backend: 'etcd', endpoints: [] } }, /^config.json: ipam.endpoints must list etcd's client URLs, like \["https:\/\/etcd1.example:2379"\] \(got none\)$/],
    ['pools as a list', { pools: [pool] }, /^config.json: pools must be an object of named pools/],
    ['an unknown top-level key', { pool: {} }, /^config.json: pool is not a setting natns knows here \(known: host, vxlanLocal, ipam, pools\)$/],
    ['an endpoint that is not a URL', { ipam: { ...etcd, endpoints: ['etcd1 2379'] } }, /endpoint 1: "etcd1 2379" is not a URL/],
    ['an endpoint of another scheme', { ipam: { ...etcd, endpoints: ['unix://etcd:2379'] } }, /endpoint 1: "unix:\/\/etcd:2379" must be an http:\/\/ or https:\/\/ URL/],
    ['an endpoint with a path', { ipam: { ...etcd, endpoints: ['https://etcd1:2379/v3'] } }, /must be only scheme, host and port/],
    ['an endpoint without a port', { ipam: { ...etcd, endpoints: ['https://etcd1'] } }, /needs its port \(etcd's client port is usually 2379\)/],
    ['a prefix without slashes', { ipam: { ...etcd, prefix: 'natns' } }, /^config.json: ipam.prefix must start and end with '\/' and hold no spaces, like "\/natns\/" \(got "natns"\)$/],
    ['a timeout of an hour', { ipam: { ...etcd, timeout: 3600 } }, /^config.json: ipam.timeout must be a number of seconds from 0.1 to 60 \(got 3600\)$/],
    ['a typo in ipam', { ipam: { ...etcd, endpoint: [] } }, /^config.json: ipam.endpoint is not a setting natns knows here \(known: backend, endpoints, prefix, tls, timeout\)$/],
    ['a relative TLS path', { ipam: { ...etcd, tls: { ca: 'ca.pem' } } }, /^config.json: ipam.tls.ca must be the absolute path of a PEM file$/],
    ['a client certificate without its key', { ipam: { ...etcd, tls: { cert: '/c.pem' } } }, /"cert" and "key" go together/],
    ['TLS with a plain http endpoint', { ipam: { ...etcd, endpoints: ['http://127.0.0.1:2379'], tls: { ca: '/ca.pem' } } }, /"tls" is set but endpoint http:\/\/127.0.0.1:2379 is plain http/],
  ])('refuses %s', (_what, extra, message) => {
    expect(refusal(extra)).toMatch(message);
  });
});

describe('config drop-ins', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'natns-config-'));
    mkdirSync(join(dir, 'config.d'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('pools from config.d/*.json join the main file', () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ pools: { default: pool } }));
    writeFileSync(join(dir, 'config.d', 'extra.json'), JSON.stringify({ pools: { extra: { ...pool, bridge: 'br1' } } }));
    writeFileSync(join(dir, 'config.d', 'notes.txt'), 'ignored');
    expect([...loadConfig(join(dir, 'config.json')).pools.keys()]).toEqual(['default', 'extra']);
  });

  test('a pool defined twice names both files', () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ pools: { default: pool } }));
    writeFileSync(join(dir, 'config.d', 'again.json'), JSON.stringify({ pools: { default: pool } }));
    expect(() => loadConfig(join(dir, 'config.json'))).toThrow(/pool "default" is defined twice: in .*config.json and in .*again.json/);
  });

  test('host and ipam belong to the main file only', () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ pools: { default: pool } }));
    writeFileSync(join(dir, 'config.d', 'etcd.json'), JSON.stringify({ ipam: { backend: 'files' } }));
    expect(() => loadConfig(join(dir, 'config.json'))).toThrow(/etcd.json: "ipam" may be set only in .*config.json; files in config.d add pools/);
  });

  test('pools whose ranges overlap on one bridge are refused, naming both and their files; disjoint ranges or other bridges are fine', () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ pools: { default: pool, side: { ...pool, first: '198.51.100.200', last: '198.51.100.209' } } }));
    writeFileSync(join(dir, 'config.d', 'other.json'), JSON.stringify({ pools: { elsewhere: { ...pool, bridge: 'br1' } } }));
    expect([...loadConfig(join(dir, 'config.json')).pools.keys()]).toEqual(['default', 'side', 'elsewhere']);
    writeFileSync(join(dir, 'config.d', 'more.json'), JSON.stringify({ pools: { more: { ...pool, first: '198.51.100.199', last: '198.51.100.201' } } }));
    expect(() => loadConfig(join(dir, 'config.json'))).toThrow(
      `pool "default" (198.51.100.100-198.51.100.199, in ${join(dir, 'config.json')}) and pool "more" (198.51.100.199-198.51.100.201, in ${join(dir, 'config.d', 'more.json')}) overlap on bridge br0; give each pool a range of its own`,
    );
  });

  test('no main file: drop-ins alone', () => {
    writeFileSync(join(dir, 'config.d', 'only.json'), JSON.stringify({ pools: { only: pool } }));
    expect([...loadConfig(join(dir, 'config.json')).pools.keys()]).toEqual(['only']);
  });
});
