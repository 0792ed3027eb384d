// Post-compile build steps (run by `npm run build` after tsc):
// 1. tfjs-core publishes its gradient definitions only as extension-less ES modules, which Node cannot
//    import, so they are bundled here into one CommonJS file that src/backend/gradients_node.ts loads.
//    (Bundlers for the browser entry import them directly.)
// 2. The browser demo (examples/browser) is bundled into dist/demo for `vizoo serve`.
// 3. The CLI entry stays executable, so a fresh clone can run `npx vizoo`.
// 4. The model catalog (every model's `vizoo info` card and the token mixers), so that `vizoo list` and
//    `info` answer without loading tfjs and the models (src/models/describe.ts; a test checks it).
import { chmodSync, copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
mkdirSync('dist/vendor', { recursive: true });
await build({
  entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
  bundle: true,
  format: 'cjs',
  platform: 'neutral',
  mainFields: ['module', 'main'],
  minify: true,
  legalComments: 'eof',
  outfile: 'dist/vendor/tfjs-gradients.cjs',
  logLevel: 'warning',
});
await build({
  entryPoints: ['dist/examples/browser/demo.js'],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  minify: true,
  legalComments: 'eof',
  outfile: 'dist/demo/demo.js',
  logLevel: 'warning',
});
copyFileSync('examples/browser/index.html', 'dist/demo/index.html');
chmodSync('dist/cli/main.js', 0o755);

const { modelCatalog } = await import('../dist/src/models/describe.js');
writeFileSync('dist/src/models/catalog.json.tmp', JSON.stringify(modelCatalog()));
renameSync('dist/src/models/catalog.json.tmp', 'dist/src/models/catalog.json');
