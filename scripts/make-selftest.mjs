// Writes assets/selftest/: a small subset of the golden parity cases (test/fixtures/parity) that ships in
// the npm package, so `vizoo selftest` can certify a user's backend. Each family gets cases that exercise
// its own kernels; the case files are copied unchanged and the manifests keep only the chosen cases, each
// tagged with the family name `vizoo selftest` reports. Run: node scripts/make-selftest.mjs
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SRC = 'test/fixtures/parity';
const OUT = 'assets/selftest';

/** family -> [fixture folder, case names]. */
const CHOSEN = {
  VAN: ['large_kernel', ['van_tiny']],
  BEVANet: ['large_kernel', ['bevanet_sdlska_k35', 'bevanet_evan_k23']],
  UniRepLKNet: ['gated_and_reparam', ['unireplknet_tiny_model', 'dilated_reparam_block_k13_deploy']],
  LITv2: ['global_attention', ['litv2_hilo_pad_nonsquare', 'litv2_dtm', 'litv2_convffn_block']],
  SOFT: ['global_attention', ['soft_block']],
  KArAt: ['global_attention', ['karat_block']],
  'NAT/DiNAT': ['local_sparse', ['nat_tiny_model', 'dinat_tiny_model', 'gna2d_k5_s2x3_d2x1_causal_h']],
  EET: ['local_sparse', ['eet_attention', 'eet_block_with_pruning']],
  ViG: ['gated_and_reparam', ['vig_tiny_model']],
  'ViG-H': ['gated_and_reparam', ['vigh_tiny_model']],
};

rmSync(OUT, { recursive: true, force: true });
const byFolder = new Map();
for (const [family, [folder, names]] of Object.entries(CHOSEN)) {
  const manifest = JSON.parse(readFileSync(join(SRC, folder, 'manifest.json'), 'utf8'));
  for (const name of names) {
    const c = manifest.cases.find((x) => x.case === name);
    if (!c) throw new Error(`${folder}/${name}: no such case`);
    if (!byFolder.has(folder)) byFolder.set(folder, { ...manifest, cases: [] });
    byFolder.get(folder).cases.push({ ...c, selftest_family: family });
  }
}
for (const [folder, manifest] of byFolder) {
  mkdirSync(join(OUT, folder), { recursive: true });
  for (const c of manifest.cases) copyFileSync(join(SRC, folder, c.file), join(OUT, folder, c.file));
  writeFileSync(join(OUT, folder, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
}
writeFileSync(
  join(OUT, 'README.md'),
  '# Self-test cases\n\nA subset of the golden parity cases in the repository (`test/fixtures/parity`, see its README for how\nthey were made by the official PyTorch code), written by `scripts/make-selftest.mjs` and shipped in the npm\npackage. `vizoo selftest` runs them on the chosen backend and reports pass/fail per family.\n',
);
