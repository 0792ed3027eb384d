// vizoo in headless Chromium: the demo page served by `vizoo serve` classifies the shipped sample on wasm
// and on WebGPU (SwiftShader) like Node does, and an app bundled with esbuild from `vizoo/browser` runs.
// A screenshot of the demo is kept in artifacts/ as a record of the run.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClassifyResult, type DemoServer, classifyImages, loadModel, startDemoServer } from '../../src/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { ROOT } from '../paths.js';

const SAMPLE = join(ROOT, 'assets', 'samples', 'ankle_boot.png');
const ARTIFACTS = join(ROOT, 'artifacts');

let server: DemoServer;
let browser: Browser;
let node: ClassifyResult;

beforeAll(async () => {
  server = await startDemoServer({ port: 0 });
  browser = await launchChromium();
  [node] = await classifyImages(loadModel('van_fmnist'), [SAMPLE], { topK: 10 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

interface DemoState {
  ready: boolean;
  busy: boolean;
  backend?: string;
  device?: string;
  result?: ClassifyResult;
  error?: string;
  ms?: number;
}

async function classifyInDemo(page: Page, backend: string): Promise<DemoState> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}?model=van_fmnist&backend=${backend}`);
  await page.waitForFunction(() => (window as unknown as { vizooDemo?: DemoState }).vizooDemo?.ready === true, { timeout: 60_000 });
  const input = await page.$('#file');
  await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(SAMPLE);
  await page.waitForFunction(() => {
    const s = (window as unknown as { vizooDemo: DemoState }).vizooDemo;
    return !s.busy && (s.result !== undefined || s.error !== undefined);
  }, { timeout: 240_000, polling: 200 });
  expect(errors).toEqual([]);
  return page.evaluate(() => (window as unknown as { vizooDemo: DemoState }).vizooDemo);
}

function expectSameAsNode(r: ClassifyResult | undefined): void {
  if (!r || 'error' in r || 'error' in node) throw new Error(`expected predictions, got ${JSON.stringify(r)}`);
  expect(r.predictions[0]!.label).toBe('Ankle boot');
  const probs = new Map(node.predictions.map((p) => [p.index, p.prob]));
  for (const p of r.predictions) expect(Math.abs(p.prob - probs.get(p.index)!)).toBeLessThan(1e-5);
}

describe('the browser demo (vizoo serve)', () => {
  it('serves the page cross-origin isolated, with the wasm binaries, weights and samples, and nothing outside them', async () => {
    for (const [path, type] of [['', 'text/html'], ['demo.js', 'text/javascript'], ['wasm/tfjs-backend-wasm-simd.wasm', 'application/wasm'], ['weights/van_fmnist.safetensors', 'application/octet-stream'], ['samples/ankle_boot.png', 'image/png']]) {
      const res = await fetch(`${server.url}${path}`);
      expect([path, res.status, res.headers.get('content-type')?.split(';')[0]]).toEqual([path, 200, type]);
      expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    }
    expect(await (await fetch(`${server.url}weights/index.json`)).json()).toContain('van_fmnist');
    for (const bad of ['..%2Fpackage.json', 'wasm/..%2F..%2Fpackage.json', 'samples/%2e%2e/README.md', 'package.json', 'weights/../../package.json']) {
      expect([bad, (await fetch(`${server.url}${bad}`)).status]).toEqual([bad, 404]);
    }
  });

  it('classifies the shipped sample on wasm as Node does', async () => {
    const page = await browser.newPage();
    const s = await classifyInDemo(page, 'wasm');
    expect(s.error).toBeUndefined();
    expect(s.backend).toBe('wasm');
    expectSameAsNode(s.result);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'browser-demo-wasm.png') as `${string}.png` });
    await page.close();
  });

  it('classifies the shipped sample on WebGPU (SwiftShader) as Node does', async () => {
    const page = await browser.newPage();
    const s = await classifyInDemo(page, 'webgpu');
    expect(s.error).toBeUndefined();
    expect(s.backend).toBe('webgpu');
    expectSameAsNode(s.result);
    await page.screenshot({ path: join(ARTIFACTS, 'browser-demo-webgpu.png') as `${string}.png` });
    await page.close();
  });
});

describe('an app bundled from vizoo/browser', () => {
  let app: DemoServer;

  beforeAll(async () => {
    // A consumer project: `vizoo` resolved through its package.json exports, as npm would install it.
    const dir = mkdtempSync(join(tmpdir(), 'vizoo-web-app-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'vizoo'));
    writeFileSync(
      join(dir, 'app.js'),
      `import { useBackend, loadModel, classifyImages, listModels, wasmSimdStatus } from 'vizoo/browser';
const backend = await useBackend('wasm', { wasmPaths: '/wasm/' });
const simd = wasmSimdStatus();
const model = await loadModel('van_fmnist', { weights: '/weights/van_fmnist.safetensors' });
const [result] = await classifyImages(model, ['/samples/ankle_boot.png'], { topK: 10 });
window.appResult = { backend: backend.name, models: listModels().length, result, simd };
`,
    );
    const out = await build({ entryPoints: [join(dir, 'app.js')], absWorkingDir: dir, bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    app = await startDemoServer({ port: 0, pages: { '/app.js': out.outputFiles[0]!.contents, '/app.html': '<!doctype html><script type="module" src="/app.js"></script>' } });
  }, 120_000);

  afterAll(() => app?.close());

  it('classifies in Chromium with the same probabilities as Node', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${app.url}app.html`);
    await page.waitForFunction(() => 'appResult' in window, { timeout: 120_000 });
    const r = await page.evaluate(() => (window as unknown as { appResult: { backend: string; models: number; result: ClassifyResult; simd: { active: boolean; reason: string | null } } }).appResult);
    expect(errors).toEqual([]);
    expect(r.backend).toBe('wasm');
    // vizoo's SIMD kernels compiled in the page (asynchronously: Chromium refuses synchronous compiles over 4 KB).
    expect(r.simd).toEqual({ active: true, reason: null });
    expect(r.models).toBeGreaterThan(80);
    expectSameAsNode(r.result);
    await page.close();
  });
});
