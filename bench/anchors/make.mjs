// Writes an official ONNX export into bench/anchors with its weights as external data read from the
// .pth they were exported from (which bench/anchors/weights.ts makes again on demand): every initializer of 64 bytes or more whose
// bytes occur exactly once in the .pth points at that byte range; the others stay inline.
// usage: node bench/anchors/make.mjs OFFICIAL.onnx DIR/NAME.pth bench/anchors/NAME_official.onnx (NAME.pth from anchors/weights.ts)
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const [src, pth, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node bench/anchors/make.mjs OFFICIAL.onnx NAME.pth OUT.onnx');
  process.exit(2);
}
const model = onnx.ModelProto.decode(readFileSync(src));
const weights = readFileSync(pth);
let external = 0;
for (const t of model.graph.initializer) {
  const raw = t.rawData;
  if (!raw || raw.length < 64) continue;
  const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  const at = weights.indexOf(bytes);
  if (at < 0 || weights.indexOf(bytes, at + 1) >= 0) continue;
  t.rawData = new Uint8Array(0);
  t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  t.externalData = [
    { key: 'location', value: basename(pth) },
    { key: 'offset', value: String(at) },
    { key: 'length', value: String(raw.length) },
  ];
  external++;
}
writeFileSync(out, onnx.ModelProto.encode(model).finish());
console.log(`${out}: ${external} of ${model.graph.initializer.length} initializers read from ${basename(pth)}`);
