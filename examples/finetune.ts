// Fine-tune the shipped Fashion-MNIST VAN on a new 4-class task in ten lines: the head is reset for the new
// classes, everything else starts from the shipped weights. Run: npm run build && node dist/examples/finetune.js
import { fit, loadForFinetune, openDataset, useBackend } from 'vizoo';

await useBackend('auto');
const { model } = loadForFinetune('van_fmnist', 'shipped', { numClasses: 4 });
const train = openDataset('synthetic:shapes:512', 'train');
const test = openDataset('synthetic:shapes', 'test');
const result = await fit(model, train, { epochs: 1, batchSize: 32, lr: 2e-3, evalData: test, augment: { scale: [0.6, 1] } });
const last = result.history.at(-1)!.eval!;
console.log(JSON.stringify({ steps: result.steps, top1: last.task === 'classification' ? last.top1 : null }));
process.exit(0);
