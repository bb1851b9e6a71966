import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpioArchive } from '../../src/lab/cpio.js';
import { GUEST_MODULES, guestModules } from '../../src/lab/image.js';
import { readNetwork } from '../../src/libvirt/network-xml.js';
import { renderTemplate } from '../../src/libvirt/templates.js';
import { child, parseXml } from '../../src/libvirt/xml.js';

describe('xml templates', () => {
  test('the network template renders a natns network that natns itself accepts', () => {
    const xml = renderTemplate('network', { name: 'n1', bridge: 'virbr7', privateAddress: '10.0.0.1', privatePrefix: 24, upstream: 'pool="default"', extra: '<natns:dhcp start="10.0.0.100" end="10.0.0.199"/>' });
    const net = readNetwork(child(parseXml(xml.replace('<name>', '<uuid>5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10</uuid><name>'), 't'), 'network')!);
    expect(net).toMatchObject({ name: 'n1', bridge: 'virbr7', spec: { upstream: { kind: 'pool', pool: 'default' }, dhcp: { start: '10.0.0.100', end: '10.0.0.199' } } });
    expect(xml).toContain('<natns:dhcp start="10.0.0.100"');
  });

  test('values are escaped and a missing value is an error', () => {
    const xml = renderTemplate('guest', { name: 'g', metadata: '<x/>', kernel: '/k', initrd: '/i', cmdline: 'a=<b>&"c"', network: 'n', mac: '52:54:00:00:00:01', serialLog: '/l' });
    expect(xml).toContain('<cmdline>a=&lt;b&gt;&amp;&quot;c&quot;</cmdline>');
    expect(xml).toContain('<metadata><x/></metadata>');
    expect(() => renderTemplate('network', { name: 'x' })).toThrow(/needs a value for \{\{bridge\}\}/);
  });
});

describe('cpio', () => {
  test('the archive lists back with cpio(1), symlinks and modes intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natns-cpio-'));
    try {
      const file = join(dir, 'a.cpio');
      writeFileSync(file, cpioArchive([
        { path: 'bin', type: 'dir' },
        { path: 'bin/busybox', type: 'file', mode: 0o755, data: Buffer.from('x'.repeat(5)) },
        { path: 'bin/sh', type: 'symlink', data: 'busybox' },
        { path: 'init', type: 'file', mode: 0o755, data: '#!/bin/sh\n' },
      ]));
      const listed = await execa('cpio', ['-itv', '-F', file], { reject: false });
      expect(listed.exitCode).toBe(0);
      const lines = listed.stdout.split('\n');
      expect(lines.map((l) => l.split(/\s+/).slice(-1)[0])).toEqual(['bin', 'bin/busybox', 'busybox', 'init']);
      expect(lines[1]).toMatch(/^-rwxr-xr-x .* 5 /);
      expect(lines[2]).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('guest image', () => {
  test('IPv6 is loaded as a module only where the kernel does not build it in', () => {
    expect(guestModules('kernel/net/ipv4/tcp_bic.ko\nkernel/net/ipv6/ipv6.ko\n')).toEqual(GUEST_MODULES);
    expect(guestModules('kernel/net/ipv4/tcp_bic.ko\n')).toEqual([...GUEST_MODULES, 'ipv6']);
  });
});
