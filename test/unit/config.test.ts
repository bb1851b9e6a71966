import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
    ['an unknown key', { typo: 1 }, /unknown key/],
    ['a missing key', { gateway: undefined }, /needs "gateway"/],
  ])('refuses %s', (_what, override, message) => {
    expect(refusal({ ...pool, ...override })).toMatch(message);
  });

  test('refuses malformed JSON with the file name', () => {
    expect(() => parseConfig('{"pools": ', '/etc/natns/config.json')).toThrow(/\/etc\/natns\/config.json is not valid JSON/);
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

  test('no main file: drop-ins alone', () => {
    writeFileSync(join(dir, 'config.d', 'only.json'), JSON.stringify({ pools: { only: pool } }));
    expect([...loadConfig(join(dir, 'config.json')).pools.keys()]).toEqual(['only']);
  });
});
