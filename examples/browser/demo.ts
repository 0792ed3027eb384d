// The browser demo (`npx vizoo serve`): pick a model and a backend, drop an image, see the top-5 labels or
// a segmentation overlay, the backend in use and the time per image. Built into dist/demo by `npm run build`.
import { type Backbone, type ClassifyResult, classifyImages, getModelEntry, listModels, loadModel, segmentImage, useBackend } from '../../src/browser/index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const modelSelect = $<HTMLSelectElement>('model');
const backendSelect = $<HTMLSelectElement>('backend');
const weightsInput = $<HTMLInputElement>('weights');
const status = $<HTMLDivElement>('status');
const preview = $<HTMLImageElement>('preview');
const canvas = $<HTMLCanvasElement>('overlay');
const top = $<HTMLOListElement>('top');
const result = $<HTMLPreElement>('result');

/** What the page state is, for people and for the tests that drive it. */
interface DemoState {
  ready: boolean;
  busy: boolean;
  backend?: string;
  device?: string;
  model?: string;
  weights?: string;
  ms?: number;
  result?: unknown;
  error?: string;
}
const state: DemoState = { ready: false, busy: false };
(window as unknown as { vizooDemo: DemoState }).vizooDemo = state;

const params = new URLSearchParams(location.search);
let shipped: string[] = [];
let model: Backbone | null = null;
let modelKey = '';

function say(text: string, error = false): void {
  status.textContent = text;
  status.className = error ? 'error' : '';
}

async function ensureModel(): Promise<Backbone> {
  const name = modelSelect.value;
  const spec = weightsInput.value.trim() || (shipped.includes(name) ? `weights/${name}.safetensors` : '');
  const key = `${backendSelect.value}|${name}|${spec}`;
  if (model && key === modelKey) return model;
  model?.dispose();
  model = null;
  const backend = await useBackend(backendSelect.value as 'auto', { wasmPaths: 'wasm/' });
  say(`loading ${name}${spec ? ` from ${spec}` : ' (random weights)'}...`);
  const loaded = await loadModel(name, { weights: spec || null, onProgress: (n, total) => say(`loading ${name}: ${(n / 1e6).toFixed(1)}${total ? ` of ${(total / 1e6).toFixed(1)}` : ''} MB`) });
  model = loaded;
  modelKey = key;
  Object.assign(state, { backend: backend.name, device: backend.device, model: name, weights: spec || 'random initialization' });
  return loaded;
}

function showClassification(r: ClassifyResult): void {
  canvas.hidden = true;
  top.replaceChildren();
  if ('error' in r) throw new Error(r.error);
  for (const p of r.predictions) {
    const li = document.createElement('li');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(1, p.prob * 120)}px`;
    li.append(bar, `${p.label} ${(p.prob * 100).toFixed(2)}%`);
    top.append(li);
  }
}

async function run(image: Blob | string, name: string): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  state.error = undefined;
  try {
    preview.src = typeof image === 'string' ? image : URL.createObjectURL(image);
    const m = await ensureModel();
    say(`running ${m.variant} on ${state.backend}...`);
    const t0 = performance.now();
    let out: unknown;
    if (m.pretrainedCfg.task === 'segmentation') {
      const seg = await segmentImage(m, image, { name });
      canvas.width = seg.overlay.width;
      canvas.height = seg.overlay.height;
      canvas.getContext('2d')!.putImageData(seg.overlay, 0, 0);
      canvas.hidden = false;
      top.replaceChildren(...seg.classes.slice(0, 5).map((c) => Object.assign(document.createElement('li'), { textContent: `${c.label} ${(c.share * 100).toFixed(1)}%` })));
      out = { file: name, classes: seg.classes };
    } else {
      const [r] = await classifyImages(m, [image], { topK: 5, names: [name] });
      showClassification(r!);
      out = r;
    }
    state.ms = performance.now() - t0;
    state.result = out;
    result.textContent = JSON.stringify(out, null, 1);
    say(`${m.variant} on ${state.backend}${state.device ? ` (${state.device})` : ''}, weights: ${state.weights}; ${state.ms.toFixed(0)} ms per image`);
  } catch (e) {
    state.error = (e as Error).message;
    say(`error: ${state.error}`, true);
  } finally {
    state.busy = false;
  }
}

async function main(): Promise<void> {
  shipped = (await fetch('weights/index.json').then((r) => (r.ok ? r.json() : []), () => [])) as string[];
  const names = listModels().filter((n) => !n.endsWith('_deploy'));
  const preferred = params.get('model') ?? shipped[0] ?? 'van_b0';
  for (const n of names) {
    const opt = new Option(`${n}${shipped.includes(n) ? ' (shipped weights)' : ''} - ${getModelEntry(n).architecture}`, n, false, n === preferred);
    modelSelect.add(opt);
  }
  if (params.get('backend')) backendSelect.value = params.get('backend')!;
  $<HTMLInputElement>('file').addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) void run(f, f.name);
  });
  const drop = $<HTMLDivElement>('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void run(f, f.name);
  });
  for (const b of drop.querySelectorAll<HTMLButtonElement>('button[data-sample]')) {
    b.addEventListener('click', () => void run(`samples/${b.dataset.sample}`, b.dataset.sample!));
  }
  state.ready = true;
  say('ready: drop an image or pick a sample');
}

main().catch((e: Error) => {
  state.error = e.message;
  say(`error: ${e.message}`, true);
});
