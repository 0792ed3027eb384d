/** Weight and model interop: convert (PyTorch / foreign namings -> safetensors or .pth), export (ONNX, Triton), pull (hub). */
import { extname } from 'node:path';
import type { Command } from 'commander';
import {
  type StateDict, createModel, download, resolveLabels, listModels, noWeightsReason, shippedWeightsPath, sourceLocation, weightSources, exportOnnx, getModelEntry, loadStateDictInto, mapStateDict, readWeightsFile, resolvePull, resolveWeights,
  writeSafetensors, writeTorchCheckpoint, writeTritonRepository, atomicWriteFile,
} from '../../src/index.js';
import { DEFAULT_MODEL, action, backendOption, buildModel, checkpointKeyOption, keyMapOption, parseImgSize, parseIntArg, resolveWeightsOption, seedOption, selectBackend } from '../common.js';

function writeStateDict(path: string, sd: StateDict, metadata?: Record<string, string>): void {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors') writeSafetensors(path, sd, { format: 'pt', ...(metadata ?? {}) });
  else if (['.pth', '.pt', '.bin'].includes(ext)) writeTorchCheckpoint(path, sd);
  else throw new Error(`${path}: output must be .safetensors or .pth/.pt/.bin`);
}

function list(keys: string[]): string {
  return keys.length > 20 ? `${keys.slice(0, 20).join(', ')}, ... (${keys.length - 20} more)` : keys.join(', ');
}

/** "HxW" -> [h, w] */
function parseSize(v: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(v.trim());
  if (!m) throw new Error(`--size must be HEIGHTxWIDTH or SIZE, got '${v}'`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

export function registerInterop(program: Command): void {
  program
    .command('convert')
    .description('convert weights (PyTorch .pth/.bin/.ckpt, safetensors, ONNX initializers) to .safetensors or .pth; with --model, to that model\'s official keys')
    .argument('<in>', 'input weights file, hf:org/repo[/file] or https://...')
    .argument('<out>', 'output .safetensors or .pth')
    .option('-m, --model <name>', 'map the keys to this registered model (key maps, wrapper prefixes, train -> deploy reparameterization)')
    .option('--num-classes <n>', 'classes of the model\'s head (default: from the checkpoint)', parseIntArg('--num-classes', 0))
    .addOption(checkpointKeyOption())
    .addOption(keyMapOption())
    .option('--json', 'print a JSON report')
    .addOption(backendOption())
    .action(
      action(async (input: string, out: string, o: { model?: string; numClasses?: number; checkpointKey?: string; keyMap: string; json?: boolean; backend: string }) => {
        const file = await resolveWeights(input);
        const sd = readWeightsFile(file, { checkpointKey: o.checkpointKey });
        if (!o.model) {
          writeStateDict(out, sd);
          const r = { out, tensors: sd.size };
          process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `wrote ${sd.size} tensors (as stored) to ${out}\n`);
          return 0;
        }
        await selectBackend(o.backend, true);
        const cls = getModelEntry(o.model).pretrainedCfg.classifier;
        let numClasses = o.numClasses;
        const probe = createModel(o.model, { init: false, numClasses });
        const want = new Set(probe.stateEntries().map(([k]) => k));
        const mapped = mapStateDict(sd, want, o.keyMap, new Map(probe.stateEntries().map(([k, p]) => [k, p.shape])));
        if (numClasses === undefined && cls) {
          const w = mapped.sd.get(`${cls}.weight`);
          if (w && w.shape[0] !== probe.numClasses) numClasses = w.shape[0];
        }
        probe.dispose();
        const model = createModel(o.model, { init: false, numClasses });
        const order = model.stateEntries().map(([k]) => k);
        const missing = order.filter((k) => !mapped.sd.has(k));
        const unexpected = [...mapped.sd.keys()].filter((k) => !want.has(k));
        let result: StateDict;
        let reparameterized: string | undefined;
        if (missing.length === 0) {
          result = new Map(order.map((k) => [k, mapped.sd.get(k)!]));
        } else {
          // A deploy model given a train-form checkpoint: load (re-parameterizing) and write the model's state.
          try {
            const r = loadStateDictInto(model, sd, { keyMap: o.keyMap, strict: true }, file);
            reparameterized = r.report.reparameterized;
          } catch {
            reparameterized = undefined;
          }
          if (!reparameterized) {
            const report = { model: o.model, out: null, missing, unexpected, keyMap: mapped.report.keyMap ?? null, strippedPrefixes: mapped.report.strippedPrefixes };
            if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
            process.stderr.write(`vizoo: ${file} does not fit ${o.model}: missing keys (${missing.length}): ${list(missing)}${unexpected.length ? `; unexpected keys (${unexpected.length}): ${list(unexpected)}` : ''}\n`);
            return 1;
          }
          result = await model.stateDict();
        }
        writeStateDict(out, result, { vizoo_model: o.model, vizoo_config: JSON.stringify(model.pretrainedCfg) });
        const report = {
          model: o.model, out, tensors: result.size, keyMap: mapped.report.keyMap ?? null, strippedPrefixes: mapped.report.strippedPrefixes,
          dropped: mapped.report.dropped, unexpected, reparameterized: reparameterized ?? null,
        };
        if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        else {
          const notes = [
            report.keyMap ? `key map ${report.keyMap}` : '',
            report.strippedPrefixes.length ? `stripped prefix ${report.strippedPrefixes.join(', ')}` : '',
            reparameterized ? `re-parameterized from ${reparameterized}` : '',
          ].filter(Boolean);
          process.stdout.write(`wrote ${result.size} tensors under ${o.model}'s keys to ${out}${notes.length ? ` (${notes.join('; ')})` : ''}\n`);
          if (unexpected.length) process.stderr.write(`vizoo: warning: ${unexpected.length} checkpoint keys not in ${o.model} were left out: ${list(unexpected)}\n`);
          if (report.dropped.length) process.stderr.write(`vizoo: warning: ${report.dropped.length} keys outside the stripped prefix were left out: ${list(report.dropped)}\n`);
        }
        return 0;
      }),
    );

  program
    .command('export')
    .description('export a model to ONNX (standard opset, no custom ops) or a Triton model repository')
    .option('-m, --model <name>', 'registered model name (default: the model the weights file names, else van_fmnist)')
    .option('-w, --weights <file>', 'weights (.safetensors, .pth, .onnx, hf:..., https://...); default: shipped weights, else random init')
    .requiredOption('-o, --out <path>', 'output .onnx file (--format onnx) or repository folder (--format triton)')
    .option('--format <f>', 'onnx or triton', 'onnx')
    .option('--opset <n>', 'ONNX opset', parseIntArg('--opset', 13), 17)
    .option('--static-batch', 'a fixed batch dimension (--batch-size) instead of the default symbolic one (triton is always dynamic)')
    .option('--batch-size <n>', 'batch size of a --static-batch export', parseIntArg('--batch-size', 1), 1)
    .option('--size <HxW>', 'input size (default: the model\'s pretrained input size)', parseSize)
    .option('--img-size <size>', 'build the model for this input size (SIZE or HxW; resamples position embeddings of other-size weights)', parseImgSize)
    .option('--num-classes <n>', 'classes of the head', parseIntArg('--num-classes', 0))
    .option('--triton-name <name>', 'model name in the Triton repository (default: the model)')
    .option('--max-batch-size <n>', 'Triton max_batch_size', parseIntArg('--max-batch-size', 1), 32)
    .addOption(checkpointKeyOption())
    .addOption(keyMapOption())
    .option('--json', 'print a JSON summary')
    .addOption(seedOption())
    .addOption(backendOption())
    .action(
      action(async (o: {
        model?: string; weights?: string; out: string; format: string; opset: number; staticBatch?: boolean; batchSize: number; size?: [number, number]; imgSize?: [number, number]; numClasses?: number;
        tritonName?: string; maxBatchSize: number; checkpointKey?: string; keyMap: string; json?: boolean; seed: number; backend: string;
      }) => {
        if (!['onnx', 'triton'].includes(o.format)) throw new Error(`--format must be onnx or triton, got '${o.format}'`);
        await selectBackend(o.backend === 'auto' ? 'wasm' : o.backend, true);
        await resolveWeightsOption(o);
        const model = buildModel(o, DEFAULT_MODEL);
        const name = model.variant;
        const triton = o.format === 'triton';
        if (triton && o.staticBatch) throw new Error('--static-batch: Triton repositories always have a dynamic batch (max_batch_size)');
        const r = await exportOnnx(model, { opset: o.opset, dynamicBatch: !o.staticBatch, batchSize: o.batchSize, inputSize: o.size });
        let files: Record<string, string>;
        if (triton) {
          const cfg = model.pretrainedCfg;
          const labels = cfg.task === 'segmentation' ? undefined : resolveLabels(cfg.labels, model.numClasses);
          const w = writeTritonRepository(o.out, r, { name: o.tritonName ?? name, maxBatchSize: o.maxBatchSize, labels });
          files = { config: w.config, model: w.model };
        } else {
          atomicWriteFile(o.out, r.bytes);
          files = { model: o.out };
        }
        const summary = { model: name, weights: model.weightsFile, format: o.format, files, input: { name: r.inputName, shape: r.inputShape }, outputs: r.outputNames.map((n, i) => ({ name: n, shape: r.outputShapes[i] })), opset: o.opset, bytes: r.bytes.byteLength, kernels: r.kernels };
        if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(`exported ${name} to ${Object.values(files).join(', ')}: input ${r.inputName} [${r.inputShape.map((d) => (d < 0 ? 'batch' : d)).join(', ')}], output ${r.outputNames.map((n, i) => `${n} [${r.outputShapes[i]!.map((d) => (d < 0 ? 'batch' : d)).join(', ')}]`).join(', ')} (opset ${o.opset}, ${(r.bytes.byteLength / 1048576).toFixed(1)} MB)\n`);
      }),
    );

  program
    .command('pull')
    .description('download a model\'s official weights into the cache ($VIZOO_CACHE, default ~/.cache/vizoo); prints the path')
    .argument('<model>', 'registered model, optionally with a tag: van_b0, van_b0.hf')
    .option('--offline', 'only look in the cache')
    .option('--tags', 'list the known weight sources of the model instead')
    .option('--json', 'print JSON')
    .action(
      action(async (spec: string, o: { offline?: boolean; tags?: boolean; json?: boolean }) => {
        if (o.tags) {
          const model = spec.includes('.') && !listModels(spec).length ? spec.slice(0, spec.lastIndexOf('.')) : spec;
          getModelEntry(model);
          const sources = weightSources(model);
          if (o.json) process.stdout.write(`${JSON.stringify(sources)}\n`);
          else for (const [tag, src] of Object.entries(sources)) process.stdout.write(`${model}.${tag}\t${src.kind}\t${sourceLocation(src)}${src.notes ? `\t${src.notes}` : ''}\n`);
          if (!Object.keys(sources).length) process.stderr.write(`vizoo: ${model}: ${noWeightsReason(model) ?? 'no known weight source'}\n`);
          return Object.keys(sources).length ? 0 : 1;
        }
        const { model, tag, source } = resolvePull(spec);
        const label = `${model}${tag === 'default' ? '' : `.${tag}`}`;
        let path: string;
        if (source.kind === 'shipped') {
          const shipped = shippedWeightsPath(model);
          if (!shipped) throw new Error(`${label}: the weights should ship in the package (${source.path}) but are missing from this installation`);
          path = shipped;
          if (!o.json) process.stderr.write(`vizoo: ${label} ships with vizoo; nothing to download\n`);
        } else if (source.kind === 'page' || !source.url) {
          throw new Error(`${label}: no direct download; the official files are listed at ${source.page}${source.notes ? ` (${source.notes})` : ''}`);
        } else {
          path = await download(source.url, { sha256: source.sha256, offline: o.offline, fileName: source.file });
        }
        if (o.json) process.stdout.write(`${JSON.stringify({ model, tag, kind: source.kind, url: source.url ?? null, path, sha256: source.sha256 ?? null })}\n`);
        else process.stdout.write(`${path}\n`);
      }),
    );
}
