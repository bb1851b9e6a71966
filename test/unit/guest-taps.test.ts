import { diffGuestTaps, plugLines, tapMatches } from '../../src/plan/guest-taps.js';

const port = (vm: string, mac: string) => ({ port: `p-${vm}`, vm, vmUuid: `u-${vm}`, mac });

test('a guest tap is the guest MAC with 0xfe first', () => {
  expect(tapMatches('fe:54:00:12:34:56', '52:54:00:12:34:56')).toBe(true);
  expect(tapMatches('FE:54:00:12:34:56', '52:54:00:12:34:56')).toBe(true);
  expect(tapMatches('fe:54:00:12:34:57', '52:54:00:12:34:56')).toBe(false);
});

test('loose taps are plugged, taps on another master are only reported, records without a tap are gone', () => {
  const ports = [port('b', '52:54:00:00:00:02'), port('a', '52:54:00:00:00:01'), port('c', '52:54:00:00:00:03'), port('d', '52:54:00:00:00:04')];
  const taps = [
    { name: 'vnet1', mac: 'fe:54:00:00:00:01' },
    { name: 'vnet2', mac: 'fe:54:00:00:00:02', master: 'virbr9' },
    { name: 'vnet3', mac: 'fe:54:00:00:00:03', master: 'br-other' },
  ];
  const d = diffGuestTaps('virbr9', ports, taps);
  expect(d.plug.map((g) => g.tap.name)).toEqual(['vnet1']);
  expect(d.elsewhere.map((g) => g.tap.name)).toEqual(['vnet3']);
  expect(d.gone.map((p) => p.vm)).toEqual(['d']);
  expect(plugLines('virbr9', d.plug)).toEqual(['link set dev vnet1 master virbr9', 'link set dev vnet1 up']);
  // Converged: nothing left to do.
  expect(diffGuestTaps('virbr9', ports.slice(0, 3), taps.map((t) => ({ ...t, master: t.master ?? 'virbr9' }))).plug).toEqual([]);
});
