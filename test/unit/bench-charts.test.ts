import { XMLValidator } from 'fast-xml-parser';
import { PATHS, startVsNSpec, throughputSpec } from '../../bench/charts.js';
import { toPng, toSvg } from '../../bench/render.js';

const dataplane = {
  seconds: 5, rounds: 5,
  natns: { gbps1: 10.4, gbps4: 10.9 }, natnsMacvlan: { gbps1: 16.6, gbps4: 11.3 },
  hostNat: { gbps1: 12.6, gbps4: 12.4 }, direct: { gbps1: 25, gbps4: 22 },
};
const scale = { networks: 1000, series: [[1, 62.5], [10, 61], [500, 63.2], [1000, 64.1]], floorMsFirst: 35, floorMsLast: 49 };
const virsh = { libvirtNat: { startMs: 260, destroyMs: 477 }, natns: { startMs: 350, destroyMs: 448 } };

// The parts of a spec the tests read, without depending on vega-lite's full union types.
interface Layer { data?: { values: Record<string, unknown>[] }; transform?: unknown[]; mark: { type: string; color?: string; strokeDash?: number[] }; encoding: Record<string, Record<string, unknown>> }
const layersOf = (spec: object): Layer[] => ((spec as { spec?: { layer: Layer[] } }).spec?.layer ?? (spec as { layer: Layer[] }).layer);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('throughput chart', () => {
  const spec = throughputSpec(dataplane);
  const bars = (spec as { data: { values: { path: string; streams: string; gbps: number }[] } }).data.values;
  const [bar, label, rule, ruleLabel] = layersOf(spec);

  test('a bar per path in a panel per stream count', () => {
    expect(bars).toHaveLength(8);
    expect(new Set(bars.map((b) => b.streams))).toEqual(new Set(['1 stream', '4 streams']));
    expect(bars.filter((b) => b.streams === '4 streams').map((b) => b.path)).toEqual([PATHS.natns.label, PATHS.natnsMacvlan.label, PATHS.hostNat.label, PATHS.direct.label]);
    expect(bars.find((b) => b.path === PATHS.natnsMacvlan.label && b.streams === '1 stream')!.gbps).toBe(16.6);
    expect((spec as { facet: { column: { field: string } } }).facet.column.field).toBe('streams');
  });

  test('an axis with units, the value on each bar, one colour per path', () => {
    expect(bar!.encoding.x!.title).toBe('throughput (Gbit/s)');
    expect(label!.encoding.text!.field).toBe('gbps');
    expect(bar!.encoding.color!.scale).toEqual({
      domain: [PATHS.natns.label, PATHS.natnsMacvlan.label, PATHS.hostNat.label, PATHS.direct.label],
      range: [PATHS.natns.colour, PATHS.natnsMacvlan.colour, PATHS.hostNat.colour, PATHS.direct.colour],
    });
    expect(new Set(Object.values(PATHS).map((p) => p.colour)).size).toBe(Object.keys(PATHS).length);
  });

  test('host NAT drawn as a dashed reference line in each panel, labelled', () => {
    expect(rule!.mark).toMatchObject({ type: 'rule', color: PATHS.hostNat.colour });
    expect(rule!.mark.strokeDash).toBeDefined();
    expect(rule!.transform).toEqual([{ filter: { field: 'path', equal: PATHS.hostNat.label } }]);
    expect(ruleLabel!.encoding.text).toEqual({ value: 'baseline' });
  });

  test('renders to an SVG that parses and shows every label, and to a PNG', async () => {
    const svg = await toSvg(spec);
    expect(XMLValidator.validate(svg)).toBe(true);
    for (const text of [...Object.values(PATHS).slice(0, 4).map((p) => p.label), '1 stream', '4 streams', 'throughput (Gbit/s)', 'baseline', '16.6', '12.4']) {
      expect(svg).toContain(`>${text}</text>`);
    }
    expect(svg).toContain(`fill="${PATHS.natnsMacvlan.colour}"`);
    expect(svg).toMatch(new RegExp(`stroke="${PATHS.hostNat.colour}"[^>]*stroke-dasharray`));
    expect(toPng(svg).subarray(0, 8)).toEqual(PNG);
  });

  test('a path missing from the figures is left out, not drawn at zero', () => {
    const { direct: _direct, ...rest } = dataplane;
    const values = (throughputSpec(rest) as { data: { values: { path: string }[] } }).data.values;
    expect(values.map((v) => v.path)).not.toContain(PATHS.direct.label);
    expect(values).toHaveLength(6);
  });
});

describe('start time against N', () => {
  const spec = startVsNSpec(scale, virsh);
  const layers = layersOf(spec);
  const line = layers[0]!;

  test('the natns series and the shell floor as lines, in their paths colours', () => {
    const points = line.data!.values;
    expect(points.filter((p) => p.series === 'natns start work (in-process)').map((p) => p.n)).toEqual([1, 10, 500, 1000]);
    expect(points.filter((p) => String(p.series).startsWith('shell floor'))).toEqual([
      { series: 'shell floor (same batches from bash)', n: 1, ms: 35 }, { series: 'shell floor (same batches from bash)', n: 1001, ms: 49 },
    ]);
    expect(line.encoding.color!.scale).toEqual({ domain: ['natns start work (in-process)', 'shell floor (same batches from bash)'], range: [PATHS.natns.colour, PATHS.floor.colour] });
    expect(line.encoding.x!.title).toBe('N (networks running, this one included)');
    expect(line.encoding.y!.title).toBe('start time (ms)');
  });

  test('libvirt NAT and natns virsh net-start as labelled dashed reference lines', () => {
    const rules = layers.filter((l) => l.mark.type === 'rule');
    expect(rules.map((r) => [r.data!.values[0]!.ms, r.mark.color])).toEqual([[260, PATHS.hostNat.colour], [350, PATHS.natns.colour]]);
    for (const r of rules) expect(r.mark.strokeDash).toBeDefined();
    const labels = layers.filter((l) => l.mark.type === 'text').map((l) => l.encoding.text!.value);
    expect(labels).toEqual(['libvirt NAT: whole virsh net-start: 260 ms', 'natns: whole virsh net-start: 350 ms']);
  });

  test('without the virsh figures there are no reference lines', () => {
    expect(layersOf(startVsNSpec(scale)).map((l) => l.mark.type)).toEqual(['line']);
  });

  test('renders every series name and reference label', async () => {
    const svg = await toSvg(spec);
    expect(XMLValidator.validate(svg)).toBe(true);
    for (const text of ['natns start work (in-process)', 'shell floor (same batches from bash)', 'libvirt NAT: whole virsh net-start: 260 ms', 'start time (ms)', 'N (networks running, this one included)']) {
      expect(svg).toContain(`>${text}</text>`);
    }
    expect(svg).toContain(`stroke="${PATHS.floor.colour}"`);
  });
});
