/** Training curves as a PNG: loss per step (left) and evaluation metrics per epoch (right), drawn as SVG and rasterized by sharp. */
import { loadSharp } from '../util/optional.js';
import { atomicWriteFile } from '../util/fs.js';

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
}

function panel(x0: number, title: string, xLabel: string, series: Series[], w: number, h: number): string {
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const pad = 44;
  const out = [`<text x="${x0 + w / 2}" y="18" font-size="14" text-anchor="middle" font-family="sans-serif">${title}</text>`];
  out.push(`<rect x="${x0 + pad}" y="28" width="${w - pad - 10}" height="${h - 28 - pad}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${x0 + w / 2}" y="${h - 8}" font-size="12" text-anchor="middle" font-family="sans-serif">${xLabel}</text>`);
  if (!pts.length) return out.join('');
  let [xmin, xmax] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [ymin, ymax] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (xmax === xmin) xmax = xmin + 1;
  if (ymax === ymin) [ymin, ymax] = [ymin - 0.5, ymax + 0.5];
  const sx = (x: number) => x0 + pad + ((x - xmin) / (xmax - xmin)) * (w - pad - 10);
  const sy = (y: number) => 28 + (1 - (y - ymin) / (ymax - ymin)) * (h - 28 - pad);
  for (const [v, y] of [[ymax, sy(ymax)], [ymin, sy(ymin)]] as const) {
    out.push(`<text x="${x0 + pad - 4}" y="${y + 4}" font-size="10" text-anchor="end" font-family="sans-serif">${v.toPrecision(3)}</text>`);
  }
  out.push(`<text x="${sx(xmin)}" y="${h - pad + 14}" font-size="10" text-anchor="middle" font-family="sans-serif">${xmin}</text>`);
  out.push(`<text x="${sx(xmax)}" y="${h - pad + 14}" font-size="10" text-anchor="middle" font-family="sans-serif">${xmax}</text>`);
  series.forEach((s, i) => {
    const p = s.points.filter(([, y]) => Number.isFinite(y));
    if (!p.length) return;
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${p.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    if (p.length === 1) out.push(`<circle cx="${sx(p[0]![0])}" cy="${sy(p[0]![1])}" r="3" fill="${s.color}"/>`);
    out.push(`<text x="${x0 + pad + 8}" y="${44 + 14 * i}" font-size="11" fill="${s.color}" font-family="sans-serif">${s.label}</text>`);
  });
  return out.join('');
}

export async function writeCurvesPng(path: string, loss: Series[], metrics: Series[]): Promise<void> {
  const w = 420;
  const h = 300;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${h}"><rect width="100%" height="100%" fill="white"/>${panel(0, 'training loss', 'step', loss, w, h)}${panel(w, 'evaluation', 'epoch', metrics, w, h)}</svg>`;
  atomicWriteFile(path, await (await loadSharp())(Buffer.from(svg)).png().toBuffer());
}
