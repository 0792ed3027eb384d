// The record of official weight sources (src/hub/sources.ts): coverage of every registered variant, the
// deploy variants' inheritance, the shipped file, and well-formed URLs. No network.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_OFFICIAL_WEIGHTS, getModelEntry, listModels, noWeightsReason, resolvePull, sourceLocation, trainFormOf, weightSources } from '../../src/index.js';
import { ROOT } from '../paths.js';

const MODELS = listModels();
const all = () => MODELS.flatMap((m) => Object.entries(weightSources(m)).map(([tag, s]) => ({ model: m, tag, s })));

describe('weight sources', () => {
  it('every registered model has an official default source, or a recorded reason why none is published', () => {
    for (const m of MODELS) {
      const has = weightSources(m).default !== undefined;
      const why = noWeightsReason(m);
      expect(has || why !== null, `${m}: no default source and no reason`).toBe(true);
      expect(has && why !== null, `${m}: has a default source and a no-weights reason`).toBe(false);
    }
    // The no-weights list names registered models only, and the families it covers are the expected ones.
    for (const m of Object.keys(NO_OFFICIAL_WEIGHTS)) expect(MODELS, m).toContain(m);
    const families = new Set(Object.keys(NO_OFFICIAL_WEIGHTS).map((m) => getModelEntry(m).architecture));
    expect([...families].sort()).toEqual(['BEVANet', 'EET', 'KArAt', 'SOFT', 'SOFT-Norm']);
    // Every other family has at least one variant with a direct file.
    const withFile = new Set(all().filter((x) => x.tag === 'default' && x.s.kind === 'file').map((x) => getModelEntry(x.model).architecture));
    for (const a of new Set(MODELS.map((m) => getModelEntry(m).architecture))) if (!['BEVANet', 'EET', 'KArAt', 'SOFT', 'SOFT-Norm'].includes(a)) expect(withFile, a).toContain(a);
  });

  it('URLs and pages are well-formed https, hashes are sha256 hex, tags can be named on the command line', () => {
    const sources = all();
    expect(sources.length).toBeGreaterThan(100);
    for (const { model, tag, s } of sources) {
      const where = `${model}.${tag}`;
      expect(tag, where).toMatch(/^[a-z0-9_]+$/); // resolvePull splits model.tag at the last dot
      expect(['file', 'page', 'shipped'], where).toContain(s.kind);
      if (s.kind === 'shipped') continue;
      const loc = s.kind === 'file' ? s.url : s.page;
      expect(loc, where).toBe(sourceLocation(s));
      expect(loc, where).toMatch(/^https:\/\/[^\s]+$/);
      const u = new URL(loc!);
      expect(u.protocol, where).toBe('https:');
      expect(u.hostname, where).toMatch(/\.[a-z]{2,}$/);
      if (s.kind === 'file') expect(s.page, where).toBeUndefined();
      else expect(s.notes, where).toMatch(/no direct file URL/);
      if (u.hostname === 'huggingface.co' && s.kind === 'file') expect(u.pathname, where).toMatch(/^\/[^/]+\/[^/]+\/resolve\/main\/[^/]+$/);
      if (s.sha256 !== undefined) expect(s.sha256, where).toMatch(/^[0-9a-f]{64}$/);
      expect(s.notes?.length, `${where}: says what the file is`).toBeGreaterThan(10);
    }
  });

  it('agrees with the pretrained configs: a config URL is the default file', () => {
    for (const m of MODELS) {
      const cfg = getModelEntry(m).pretrainedCfg;
      if (!cfg.url) continue;
      const d = weightSources(m).default!;
      expect(d.kind, m).toBe('file');
      expect(d.url, m).toBe(cfg.url);
      if (cfg.sha256) expect(d.sha256, m).toBe(cfg.sha256);
    }
  });

  it('deploy variants take their train form\'s files, noting the re-parameterization', () => {
    const deploys = MODELS.filter((m) => m.endsWith('_deploy'));
    expect(deploys.length).toBeGreaterThanOrEqual(13); // 9 UniRepLKNet + 4 BEVANet
    for (const d of deploys) {
      const train = trainFormOf(d);
      expect(train, d).toBe(d.slice(0, -'_deploy'.length));
      const own = weightSources(d);
      const base = weightSources(train!);
      expect(Object.keys(own), d).toEqual(Object.keys(base));
      for (const [tag, s] of Object.entries(own)) {
        expect(sourceLocation(s), `${d}.${tag}`).toBe(sourceLocation(base[tag]!));
        expect(s.sha256, `${d}.${tag}`).toBe(base[tag]!.sha256);
        expect(s.trainForm, `${d}.${tag}`).toBe(train);
        expect(s.notes, `${d}.${tag}`).toMatch(/re-parameterizes/);
      }
      expect(noWeightsReason(d), d).toBe(noWeightsReason(train!));
    }
    expect(resolvePull('unireplknet_a_deploy').source.url).toBe(getModelEntry('unireplknet_a').pretrainedCfg.url);
    expect(resolvePull('bevanet_seg_deploy').source.page).toBe(weightSources('bevanet_seg').default!.page);
    expect(noWeightsReason('bevanet_l_seg_deploy')).toMatch(/BEVANet/);
    expect(trainFormOf('unireplknet_a')).toBeNull();
  });

  it('van_fmnist\'s default is the shipped file, whose sha256 matches', () => {
    const s = weightSources('van_fmnist').default!;
    expect(s.kind).toBe('shipped');
    const path = join(ROOT, s.path!);
    expect(existsSync(path)).toBe(true);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(s.sha256);
    expect(sourceLocation(s)).toBe('weights/van_fmnist.safetensors');
  });

  it('resolves tags and explains what is missing', () => {
    expect(resolvePull('vig_h_s').source.url).toBe('https://huggingface.co/hustvl/ViG/resolve/main/vig_h_s_83p8acc.pth');
    expect(resolvePull('dinat_large.in22k_384').source.url).toMatch(/dinat_large_in22k_in1k_384\.pth$/);
    expect(resolvePull('unireplknet_s_deploy.in22k_384')).toMatchObject({ model: 'unireplknet_s_deploy', tag: 'in22k_384' });
    expect(() => resolvePull('karat_vit_tiny_g1b')).toThrow(/no weights tagged 'default' \(no known weight source\): .*KArAt.*no code or weights/);
    expect(() => resolvePull('eet_vit_small_cub_16bit')).toThrow(/\(tags: deit\): .*EET.*no trained checkpoints/);
    expect(() => resolvePull('van_b0.nope')).toThrow(/no weights tagged 'nope' \(tags: default, hf, tsinghua\)$/);
  });
});
