// PyTorch checkpoint reader: the shared torch.save fixtures, ZIP64, views, the whitelist.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { readSafetensors, readTorchCheckpoint, withTorchObject } from '../../src/hub/weight_files.js';
import { UnsafePickleError } from '../../src/hub/pickle.js';
import { WeightsFormatError } from '../../src/util/errors.js';
import { type StateDict, toFloat32 } from '../../src/hub/host_tensor.js';
import { ZipReader, buildStoredZip, bufferSource } from '../../src/hub/zip.js';
import { writeTorchCheckpoint } from '../../src/hub/pytorch_writer.js';
import { readManifest } from '../../src/parity/manifest.js';
import { findParityBuilder } from '../../src/parity/registry.js';
import '../../src/parity/builders/index.js';
import { nchwToNhwc } from '../../src/nn/functional.js';
import { PARITY, PTH } from '../paths.js';

const LARGE = join(PARITY, 'large_kernel');
const dir = mkdtempSync(join(tmpdir(), 'vizoo-pth-'));

/** Runs the van_tiny parity case with `sd` as weights; returns max |ours - official|. */
async function vanTinyDiff(sd: StateDict): Promise<number> {
  const c = readManifest(LARGE).cases.find((x) => x.case === 'van_tiny')!;
  const target = findParityBuilder(c.architecture, c.class)!({ kwargs: c.kwargs ?? {}, forwardKwargs: {}, parityCase: c });
  target.module!.loadStateDict(sd, { strict: true });
  target.module!.eval();
  const file = readSafetensors(join(LARGE, 'van_tiny.safetensors')).tensors;
  const x = file.get('__input__')!;
  const ref = toFloat32(file.get('__output__')!);
  const xt = nchwToNhwc(tf.tensor(toFloat32(x), x.shape));
  const y = target.run([xt]) as tf.Tensor;
  const ours = await y.data();
  tf.dispose([xt, y]);
  target.module!.dispose();
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(ours[i]! - ref[i]!));
  return m;
}

describe('torch.save fixtures', () => {
  const reference = () => new Map([...readSafetensors(join(LARGE, 'van_tiny.safetensors')).tensors].filter(([k]) => !k.startsWith('__')));

  for (const f of ['van_tiny_state_dict', 'van_tiny_legacy', 'van_tiny_wrapped_model', 'van_tiny_wrapped_module_prefix']) {
    it(`${f}.pth holds the van_tiny weights bit-exactly and reproduces the parity output`, async () => {
      const sd = readTorchCheckpoint(join(PTH, `${f}.pth`));
      const ref = reference();
      expect([...sd.keys()]).toEqual([...ref.keys()]);
      for (const [k, t] of ref) {
        const got = sd.get(k)!;
        // num_batches_tracked: an int64 scalar () in the checkpoint, float32 (1,) in the safetensors fixture.
        if (k.endsWith('num_batches_tracked')) expect(got.shape).toEqual([]);
        else expect(got.shape).toEqual(t.shape);
        expect(Array.from(toFloat32(got))).toEqual(Array.from(toFloat32(t)));
      }
      expect(await vanTinyDiff(sd)).toBeLessThanOrEqual(2e-4);
    });
  }

  it('van_tiny_fp16.pth loads float16 storages (as float32 in the model) and stays close', async () => {
    const sd = readTorchCheckpoint(join(PTH, 'van_tiny_fp16.pth'));
    const w = sd.get('patch_embed1.proj.weight')!;
    expect(w.dtype).toBe('F16');
    const ref = toFloat32(reference().get('patch_embed1.proj.weight')!);
    const got = toFloat32(w);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) * 1e-3 + 1e-7);
    expect(await vanTinyDiff(sd)).toBeLessThan(2e-2);
  });

  it('views_and_dtypes.pth: a transposed view and an offset slice of one storage, int64, bfloat16', () => {
    const sd = readTorchCheckpoint(join(PTH, 'views_and_dtypes.pth'));
    const want = JSON.parse(readFileSync(join(PTH, 'views_and_dtypes.expected.json'), 'utf8')) as Record<string, unknown>;
    expect(sd.get('t')!.shape).toEqual([6, 4]);
    expect(sd.get('s')!.shape).toEqual([2, 3]);
    expect(sd.get('i64')!.dtype).toBe('I64');
    expect(sd.get('bf16')!.dtype).toBe('BF16');
    for (const [k, v] of Object.entries(want)) expect(Array.from(toFloat32(sd.get(k)!))).toEqual((v as number[]).flat());
  });

  it('malicious_os_system.pth is refused, naming the global, and nothing runs', () => {
    const marker = '/tmp/vizoo_pwned';
    const before = existsSync(marker);
    let err: unknown;
    try {
      readTorchCheckpoint(join(PTH, 'malicious_os_system.pth'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect((err as Error).message).toMatch(/posix\.system/);
    expect((err as Error).message).toMatch(/refusing/);
    if (!before) expect(existsSync(marker)).toBe(false);
  });

  it('truncated.pth is a clear format error', () => {
    expect(() => readTorchCheckpoint(join(PTH, 'truncated.pth'))).toThrow(WeightsFormatError);
    expect(() => readTorchCheckpoint(join(PTH, 'truncated.pth'))).toThrow(/truncated/);
  });

  it('--checkpoint-key picks a nested entry and names the top-level keys when absent', () => {
    const f = join(PTH, 'van_tiny_wrapped_model.pth');
    expect(readTorchCheckpoint(f, { checkpointKey: 'model' }).size).toBe(178);
    expect(() => readTorchCheckpoint(f, { checkpointKey: 'model_ema' })).toThrow(/top-level keys: model, epoch, optimizer/);
  });

  it('a checkpoint cut anywhere is an error, never a crash or a partial state dict', () => {
    const bytes = readFileSync(join(PTH, 'van_tiny_legacy.pth'));
    for (const frac of [0.01, 0.3, 0.7, 0.999]) {
      const p = join(dir, `cut_${frac}.pth`);
      writeFileSync(p, bytes.subarray(0, Math.floor(bytes.byteLength * frac)));
      expect(() => readTorchCheckpoint(p)).toThrow(WeightsFormatError);
    }
  });
});

describe('zip and pickle details', () => {
  it('reads a ZIP64 archive (forced 64-bit records) written by the zip writer', () => {
    const entries = [
      { name: 'a/data.pkl', data: new Uint8Array([1, 2, 3]) },
      { name: 'a/data/0', data: new Uint8Array(1000).map((_, i) => i & 0xff) },
    ];
    for (const zip64 of [false, true]) {
      const parts = buildStoredZip(entries, { zip64 });
      const bytes = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
      let o = 0;
      for (const p of parts) (bytes.set(p, o), (o += p.byteLength));
      const z = new ZipReader(bufferSource(bytes), 'x.zip');
      expect([...z.read('a/data/0')]).toEqual([...entries[1]!.data]);
      expect([...z.read('a/data.pkl')]).toEqual([1, 2, 3]);
    }
  });

  it('round-trips a state dict through the .pth writer (zip and ZIP64), dtypes kept', () => {
    const sd: StateDict = new Map([
      ['w', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['h', { dtype: 'F16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) }],
      ['n', { dtype: 'I64', shape: [], data: BigInt64Array.from([7n]) }],
    ]);
    for (const zip64 of [false, true]) {
      const p = join(dir, `rt${zip64}.pth`);
      writeTorchCheckpoint(p, sd, { zip64 });
      const back = readTorchCheckpoint(p);
      expect([...back.keys()]).toEqual(['w', 'h', 'n']);
      for (const [k, t] of sd) {
        expect(back.get(k)!.dtype).toBe(t.dtype);
        expect(back.get(k)!.shape).toEqual(t.shape);
        expect(Array.from(back.get(k)!.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
      }
    }
  });

  it('refuses GLOBAL, STACK_GLOBAL and INST of anything off the whitelist', () => {
    const enc = (s: string) => Array.from(new TextEncoder().encode(s));
    const cases: number[][] = [
      [0x80, 2, 0x63, ...enc('subprocess\ncall\n'), 0x2e],
      [0x80, 4, 0x8c, 8, ...enc('builtins'), 0x8c, 4, ...enc('eval'), 0x93, 0x2e],
      [0x28, 0x69, ...enc('os\nsystem\n'), 0x2e],
    ];
    cases.forEach((bytes, i) => {
      const p = join(dir, `evil${i}.pkl`);
      const zip = buildStoredZip([{ name: 'e/data.pkl', data: Uint8Array.from(bytes) }]);
      writeFileSync(p, Buffer.concat(zip));
      expect(() => withTorchObject(p, () => 0)).toThrow(UnsafePickleError);
      expect(() => withTorchObject(p, () => 0)).toThrow(/subprocess\.call|builtins\.eval|os\.system/);
    });
  });
});
