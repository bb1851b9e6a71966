/** Two small hand-drawn SVG charts: start time against N, and throughput per path. */
export function lineChart(title: string, points: number[][], xLabel: string, yLabel: string): string {
  const W = 640, H = 320, L = 60, B = 40, T = 30, R = 20;
  const xs = points.map((p) => p[0]!), ys = points.map((p) => p[1]!);
  const xMax = Math.max(...xs, 1), yMax = Math.max(...ys, 1) * 1.1;
  const x = (v: number) => L + (v / xMax) * (W - L - R);
  const y = (v: number) => H - B - (v / yMax) * (H - B - T);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]!).toFixed(1)},${y(p[1]!).toFixed(1)}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${L - 6}" y="${y(f * yMax) + 4}" text-anchor="end" font-size="11">${(f * yMax).toFixed(0)}</text>`).join('');
  return svg(W, H, `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${title}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
${ticks}<text x="${W / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${xLabel} (0 to ${xMax})</text>
<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle" font-size="12">${yLabel}</text>
<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`);
}

export function barChart(title: string, bars: { label: string; value: number }[], unit: string): string {
  const W = 640, H = 320, L = 60, B = 50, T = 30;
  const max = Math.max(...bars.map((b) => b.value), 1) * 1.15;
  const bw = (W - L - 20) / bars.length;
  const body = bars.map((b, i) => {
    const h = (b.value / max) * (H - B - T);
    const x0 = L + i * bw + bw * 0.15;
    return `<rect x="${x0.toFixed(1)}" y="${(H - B - h).toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="#2ca02c"/>
<text x="${(x0 + bw * 0.35).toFixed(1)}" y="${(H - B - h - 4).toFixed(1)}" text-anchor="middle" font-size="11">${b.value.toFixed(2)}</text>
<text x="${(x0 + bw * 0.35).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${b.label}</text>`;
  }).join('\n');
  return svg(W, H, `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${title} (${unit})</text>
<line x1="${L}" y1="${H - B}" x2="${W - 20}" y2="${H - B}" stroke="#333"/>\n${body}`);
}

function svg(w: number, h: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}
