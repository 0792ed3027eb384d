import type { Command } from 'commander';
import { type HostTensor, OrtModel, nchwToNhwcHost, nhwcToNchwHost, ortModelFor, readWeightsFile, tf, toFloat32, writeSafetensors } from '../../src/index.js';
import { DEFAULT_MODEL, type ModelCliOptions, action, addModelOptions, buildModel, commandRuntime, deviceOption, resolveWeightsOption, runtimeOption, selectBackend } from '../common.js';

/** Runs `x` through an onnxruntime model and writes every output (the first also as "output"). */
async function forwardOrt(m: OrtModel, x: HostTensor, path: string): Promise<void> {
  const outs = await m.runBatched(toFloat32(x), x.shape);
  const tensors: Record<string, HostTensor> = {};
  const first = m.session.outputNames[0]!;
  tensors.output = { dtype: 'F32', shape: outs.get(first)!.shape, data: outs.get(first)!.data };
  for (const [name, t] of outs) if (name !== 'output') tensors[name] = { dtype: 'F32', shape: t.shape, data: t.data };
  writeSafetensors(path, tensors);
  await m.dispose();
  process.stderr.write(`vizoo: wrote ${Object.keys(tensors).length === 1 ? `output [${tensors.output!.shape.join(', ')}]` : Object.keys(tensors).join(', ')} to ${path}\n`);
}

export function registerForward(program: Command): void {
  addModelOptions(
    program
      .command('forward')
      .description('run a model on a tensor file: NCHW input in, logits (B, classes) out, PyTorch conventions')
      .requiredOption('-i, --input <file>', 'input .safetensors holding an NCHW float tensor')
      .requiredOption('-o, --output <file>', 'output .safetensors (key "output")')
      .option('--input-key <key>', 'tensor to read (default: the only tensor, or "input" / "__input__")')
      .option('--onnx <file>', 'run this ONNX model in onnxruntime instead (outputs keep their ONNX names; the first is also "output")')
      .addOption(runtimeOption())
      .addOption(deviceOption()),
    DEFAULT_MODEL,
  ).action(
    action(async (o: ModelCliOptions & { input: string; output: string; inputKey?: string; backend: string; onnx?: string; runtime: string; device: string }) => {
      const x = pickInput(readWeightsFile(o.input), o.input, o.inputKey);
      if (o.onnx) return forwardOrt(await OrtModel.open(o.onnx, { device: o.device as 'cpu' | 'webgpu' }), x, o.output);
      await selectBackend(o.backend);
      await resolveWeightsOption(o);
      const model = buildModel(o, DEFAULT_MODEL);
      const channels = model.pretrainedCfg.inputSize[0];
      if (x.shape[1] !== channels) {
        const nhwc = x.shape[3] === channels ? '; it looks like NHWC: transpose it to NCHW' : '';
        throw new Error(`${o.input}: the input has shape [${x.shape.join(', ')}] but ${model.variant} takes NCHW with ${channels} channel${channels === 1 ? '' : 's'} ([N, ${channels}, H, W])${nhwc}`);
      }
      if ((await commandRuntime(o)) === 'ort') {
        return forwardOrt(await ortModelFor(model, { weightsFile: model.weightsFile, seed: o.seed, inputSize: [x.shape[2]!, x.shape[3]!], device: o.device as 'cpu' | 'webgpu' }), x, o.output);
      }
      const xt = tf.tensor4d(toFloat32(nchwToNhwcHost(x)), [x.shape[0]!, x.shape[2]!, x.shape[3]!, x.shape[1]!]);
      const y = model.forward(xt);
      const data = new Float32Array((await y.data()) as Float32Array);
      const out: HostTensor = y.rank === 4 ? nhwcToNchwHost({ dtype: 'F32', shape: y.shape, data }) : { dtype: 'F32', shape: [...y.shape], data };
      writeSafetensors(o.output, { output: out });
      tf.dispose([xt, y]);
      process.stderr.write(`vizoo: wrote output [${out.shape.join(', ')}] to ${o.output}\n`);
    }),
  );
}

function pickInput(sd: Map<string, HostTensor>, file: string, key?: string): HostTensor {
  const name = key ?? (sd.size === 1 ? [...sd.keys()][0] : ['input', '__input__'].find((k) => sd.has(k)));
  const t = name ? sd.get(name) : undefined;
  if (!t) throw new Error(`${file}: ${key ? `no tensor '${key}'` : `cannot tell which of ${sd.size} tensors is the input; pass --input-key`}`);
  if (t.shape.length !== 4) throw new Error(`${file}: input '${name}' must be NCHW (4-D), got shape [${t.shape}]`);
  return t;
}
