/**
 * vizoo in the browser against Node, same machine, same run: van_b0's forward (1x3x224x224) on tfjs-wasm in
 * headless Chromium and in this process, alternating, medians; and the gzipped size of a browser bundle of
 * an app (`vizoo/browser`: every family registered) and of one model alone (VAN through deep imports).
 * Needs Debian's chromium; skipped with a line saying so when it is missing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { createModel, packageRootPath, startDemoServer, tf, useBackend } from '../src/index.js';
import { CHROMIUM, launchChromium } from '../test/helpers/chromium.js';
import type { BenchModule } from './types.js';

const DIST = join(packageRootPath(), 'dist', 'src');

async function bundle(source: string): Promise<Uint8Array> {
  const out = await build({ stdin: { contents: source, resolveDir: DIST, loader: 'js' }, bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, logLevel: 'silent' });
  return out.outputFiles[0]!.contents;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** The page: van_b0 (seed 0) on wasm, one timed forward per call of window.forwardOnce(). */
const PAGE_APP = `import { useBackend, createModel, tf } from './browser/index.js';
await useBackend('wasm', { wasmPaths: '/wasm/' });
const model = createModel('van_b0', { seed: 0 }).eval();
const x = tf.randomNormal([1, 224, 224, 3], 0, 1, 'float32', 1);
window.forwardOnce = async () => { const t0 = performance.now(); const y = model.forward(x); await y.data(); y.dispose(); return performance.now() - t0; };
window.ready = true;`;

export const browser: BenchModule = {
  benchmarks: [],
  reports: [{
    name: 'browser',
    run: async () => {
    const lines: string[] = [];
    const app = await bundle(`export { useBackend, createModel, classifyImages, loadModel } from './browser/index.js';`);
    const oneModel = await bundle(`export { useBackend } from './browser/backend.js'; export { createModel } from './models/registry.js'; import './models/van.js';`);
    lines.push(`browser bundle (minified, gzipped): vizoo/browser app ${(gzipSync(app, { level: 9 }).length / 1024).toFixed(0)} KiB (raw ${(app.length / 1024).toFixed(0)} KiB); one model (VAN only) ${(gzipSync(oneModel, { level: 9 }).length / 1024).toFixed(0)} KiB (raw ${(oneModel.length / 1024).toFixed(0)} KiB); tfjs's .wasm binaries are fetched beside it`);
    if (!existsSync(CHROMIUM)) return [...lines, `browser vs Node: skipped (no chromium at ${CHROMIUM})`];
    const server = await startDemoServer({ port: 0, pages: { '/bench.js': await bundle(PAGE_APP), '/bench.html': '<!doctype html><script type="module" src="/bench.js"></script>' } });
    const chromium = await launchChromium();
    try {
      const page = await chromium.newPage();
      await page.goto(`${server.url}bench.html`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, { timeout: 120_000 });
      await useBackend('wasm');
      const model = createModel('van_b0', { seed: 0 }).eval();
      const x = tf.randomNormal([1, 224, 224, 3], 0, 1, 'float32', 1);
      const nodeOnce = async () => {
        const t0 = performance.now();
        const y = model.forward(x);
        await y.data();
        y.dispose();
        return performance.now() - t0;
      };
      const pageOnce = () => page.evaluate(() => (window as unknown as { forwardOnce(): Promise<number> }).forwardOnce());
      for (let i = 0; i < 2; i++) {
        await pageOnce();
        await nodeOnce();
      }
      const inNode: number[] = [];
      const inPage: number[] = [];
      for (let i = 0; i < 7; i++) {
        inPage.push(await pageOnce());
        inNode.push(await nodeOnce());
      }
      const isolated = await page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true);
      lines.push(`van_b0 forward 1x3x224x224 on wasm, 7 alternating pairs: Chromium ${median(inPage).toFixed(0)} ms (cross-origin isolated: ${isolated}), Node ${median(inNode).toFixed(0)} ms, browser / Node ${(median(inPage) / median(inNode)).toFixed(2)}`);
      tf.dispose(x);
      model.dispose();
    } finally {
      await chromium.close();
      await server.close();
    }
    return lines;
  }}],
};
