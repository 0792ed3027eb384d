/**
 * The anchors' weights, made on demand instead of stored (the official ONNX exports in this folder read their
 * initializers from these bytes as external data, see README.md): every entry of the model's official state
 * dict drawn from a generator seeded by (ANCHOR_SEED, key), so the file depends only on the official keys and
 * shapes. Weights ~ N(0, 1/fan_in) keep activations at a steady scale through the network; BatchNorm
 * statistics and affine terms are drawn away from their identity so the folding of the official export is
 * exercised. The bytes are checked against the sha256 the exports were made from.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HostTensor, type StateDict, createModel, fromNumbers, serializeTorchCheckpoint } from '../../src/index.js';
import { Rng } from '../../src/nn/rng.js';

export const ANCHOR_SEED = 20261203;

/** sha256 of each anchor's .pth, as the official exports next to it were made from. */
export const ANCHOR_SHA256: Record<string, string> = {
  van_b0: '0580313f871b8b607fe0ba7ff1a21587406dcaea66ba83b82cb7b0d8b68e7ebc',
  unireplknet_a_deploy: 'b5bec4770ab047a3c62874a74a51f17b6ec0dc22ba6f8ed52ef1149549ecdc47',
};

function draw(key: string, shape: number[]): number[] {
  const rng = Rng.derive(ANCHOR_SEED, key);
  const n = shape.reduce((a, b) => a * b, 1);
  const leaf = key.slice(key.lastIndexOf('.') + 1);
  const values = (f: () => number) => Array.from({ length: n }, f);
  if (leaf === 'running_var') return values(() => 0.5 + rng.uniform());
  if (leaf === 'running_mean' || leaf === 'bias') return values(() => 0.1 * rng.normal());
  if (shape.length <= 1) return values(() => 0.5 + rng.uniform());
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return values(() => rng.normal() / Math.sqrt(fanIn));
}

export function anchorStateDict(name: string): StateDict {
  const model = createModel(name, { init: false });
  const entries = model.stateDictInfo();
  model.dispose();
  return new Map(
    entries.map(({ key, shape, dtype }): [string, HostTensor] => [key, dtype === 'int64' ? fromNumbers('I64', shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(0)) : fromNumbers('F32', shape, draw(key, shape))]),
  );
}

export function anchorWeightsBytes(name: string): Buffer {
  return Buffer.concat(serializeTorchCheckpoint(anchorStateDict(name), { archiveName: name }));
}

/** Writes `<dir>/<name>.pth`; returns its path and sha256. */
function writeWeights(name: string, dir: string): { path: string; sha256: string } {
  const bytes = anchorWeightsBytes(name);
  const path = join(dir, `${name}.pth`);
  writeFileSync(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Writes `<dir>/<name>.pth` and checks it is the file the official export was made from. */
export function writeAnchorWeights(name: string, dir: string): string {
  const { path, sha256 } = writeWeights(name, dir);
  const want = ANCHOR_SHA256[name];
  if (sha256 !== want) throw new Error(`bench/anchors: the weights made for ${name} (sha256 ${sha256}) are not those its official export was made from (${want}); make them again (bench/anchors/README.md)`);
  return path;
}

// `node dist/bench/anchors/weights.js DIR NAME...`: writes the weights for making an official export and
// prints the sha256 to record in ANCHOR_SHA256 (no check: a new anchor has no recorded sha256 yet).
if (process.argv[1]?.endsWith('weights.js') && process.argv.length > 3) {
  for (const name of process.argv.slice(3)) {
    const { path, sha256 } = writeWeights(name, process.argv[2]!);
    console.log(`${path} ${sha256}`);
  }
}
