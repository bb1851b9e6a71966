/**
 * Vega-Lite spec → SVG (vega's headless renderer, no canvas needed) → PNG (resvg, whose binary
 * comes inside its npm package; node-canvas would fetch one from GitHub). Bench-only: nothing the
 * hooks or the CLI load imports this.
 */
import { Resvg } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const warnings: string[] = [];
  const logger = { level: () => logger, error: (...a: unknown[]) => warnings.push(a.join(' ')), warn: (...a: unknown[]) => warnings.push(a.join(' ')), info: () => logger, debug: () => logger };
  const compiled = compile(spec, { logger: logger as never }).spec;
  // A spec vega-lite had to correct draws something other than what its tests describe.
  if (warnings.length) throw new Error(`vega-lite: ${warnings.join('; ')}`);
  const view = new View(parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The SVG at twice its size, on white; text in the system's fonts. */
export function toPng(svg: string): Buffer {
  const png = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return png.render().asPng();
}
