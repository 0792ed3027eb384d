/**
 * Which keys each query of (generalized, dilated) neighborhood attention sees: a host-side plan computed
 * once from static shapes (NATTEN 0.17 NA/DiNA semantics, NATTEN >= 0.20 GNA stride and causal masks;
 * docs/families/nat.md#neighborhood-attention-which-keys-a-query-sees). Every implementation (composite, JS,
 * WGSL) reads this plan.
 */

/** Per-axis window rules: kernel, stride, dilation and causality (one entry per spatial axis). */
export interface NeighborhoodSpec {
  kernelSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
}

export interface NeighborhoodPlan {
  /** Cache key (spatial shape + spec). */
  key: string;
  spatial: number[];
  /** Number of queries (= keys) = prod(spatial). */
  numTokens: number;
  /** Neighbor slots per query = prod(kernelSize); slot index is row-major over the per-axis offsets. */
  numSlots: number;
  /** (numTokens * numSlots) flat key index of each slot, or -1 when the slot is masked (causal axes). */
  neighbors: Int32Array;
  /** Whether any slot is masked. */
  masked: boolean;
  /**
   * (numTokens * numSlots) index into the flattened relative-position table of shape prod(2k-1): key minus
   * query in dilation-group units plus k-1 per axis (docs/families/nat.md#relative-positional-bias). Null
   * when the spec cannot carry an RPB.
   */
  rpbIndex: Int32Array | null;
  /** prod(2k-1). */
  rpbSize: number;
}

/** Expands a number or per-axis list to `rank` entries. */
export function perAxis<T>(v: T | readonly T[], rank: number, name: string): T[] {
  const out = Array.isArray(v) ? [...(v as readonly T[])] : Array.from({ length: rank }, () => v as T);
  if (out.length !== rank) throw new Error(`${name}: expected ${rank} values (one per spatial axis), got ${out.length}`);
  return out;
}

/** Window of one axis: for each query position, its k slots (global key position or -1) and RPB offsets. */
interface AxisWindows {
  keys: Int32Array; // (L * k)
  rel: Int32Array; // (L * k): key' - query' + k - 1 (in-group units)
}

/**
 * One axis, one query at a time (docs/families/nat.md#dilation, #generalized-na-stride-and-causal-masks).
 * Dilation splits the axis into d interleaved groups (r = i mod d) of length Lg(r) = ceil((L - r) / d); all
 * rules apply to in-group indices i' = floor(i / d).
 * - non-causal: the stride group floor(i'/s) shares the window of its leader min(floor(i'/s)*s + floor(s/2), Lg-1);
 *   the window starts at clamp(leader - floor(k/2), 0, Lg - k) and holds k keys (it slides inward at borders).
 * - causal: leader = min(floor(i'/s)*s + s - 1, Lg - 1), start = max(leader - k + 1, 0), and the window
 *   ends at the query itself; later slots are masked.
 */
function axisWindows(L: number, k: number, s: number, d: number, causal: boolean): AxisWindows {
  const keys = new Int32Array(L * k);
  const rel = new Int32Array(L * k);
  const wl = Math.floor(k / 2);
  for (let i = 0; i < L; i++) {
    const r = i % d;
    const q = Math.floor(i / d);
    const lg = Math.ceil((L - r) / d);
    let start: number;
    let end: number; // inclusive, in-group
    if (causal) {
      const leader = Math.min(Math.floor(q / s) * s + s - 1, lg - 1);
      start = Math.max(leader - k + 1, 0);
      end = q;
    } else {
      const leader = Math.min(Math.floor(q / s) * s + Math.floor(s / 2), lg - 1);
      start = Math.min(Math.max(leader - wl, 0), lg - k);
      end = start + k - 1;
    }
    for (let t = 0; t < k; t++) {
      const g = start + t;
      keys[i * k + t] = g <= end ? g * d + r : -1;
      rel[i * k + t] = g - q + k - 1;
    }
  }
  return { keys, rel };
}

/** Checks a spec against a spatial shape with NATTEN's rules; throws a message naming the axis. */
export function validateSpec(spatial: readonly number[], spec: NeighborhoodSpec, withRpb: boolean): void {
  spatial.forEach((L, a) => {
    const k = spec.kernelSize[a]!;
    const s = spec.stride[a]!;
    const d = spec.dilation[a]!;
    const where = `axis ${a} (length ${L})`;
    if (!Number.isInteger(k) || k < 1) throw new Error(`neighborhood attention: kernel size ${k} on ${where} must be a positive integer`);
    if (!Number.isInteger(d) || d < 1) throw new Error(`neighborhood attention: dilation ${d} on ${where} must be a positive integer`);
    if (!Number.isInteger(s) || s < 1 || s > k) throw new Error(`neighborhood attention: stride ${s} on ${where} must be in 1..kernel size (${k})`);
    if (k * d > L) throw new Error(`neighborhood attention: kernel size ${k} x dilation ${d} exceeds ${where}; NATTEN requires kernel*dilation <= length`);
    if (withRpb && k % 2 === 0) throw new Error(`neighborhood attention: relative positional bias needs an odd kernel size, got ${k} on ${where}`);
    if (withRpb && spec.isCausal[a]) throw new Error('neighborhood attention: causal masking cannot be combined with relative positional bias (NATTEN 0.17)');
  });
}

const cache = new Map<string, NeighborhoodPlan>();

/** The (cached) plan of a spatial shape and spec. */
export function neighborhoodPlan(spatial: readonly number[], spec: NeighborhoodSpec): NeighborhoodPlan {
  const key = `${spatial.join('x')}|k${spec.kernelSize}|s${spec.stride}|d${spec.dilation}|c${spec.isCausal.map(Number).join('')}`;
  const hit = cache.get(key);
  if (hit) return hit;
  validateSpec(spatial, spec, false);
  const rank = spatial.length;
  const axes = spatial.map((L, a) => axisWindows(L, spec.kernelSize[a]!, spec.stride[a]!, spec.dilation[a]!, spec.isCausal[a]!));
  const numTokens = spatial.reduce((p, v) => p * v, 1);
  const numSlots = spec.kernelSize.reduce((p, v) => p * v, 1);
  const tableDims = spec.kernelSize.map((k) => 2 * k - 1);
  const rpbSize = tableDims.reduce((p, v) => p * v, 1);
  const rpbPossible = spec.kernelSize.every((k) => k % 2 === 1) && spec.isCausal.every((c) => !c);
  const neighbors = new Int32Array(numTokens * numSlots);
  const rpbIndex = rpbPossible ? new Int32Array(numTokens * numSlots) : null;
  let masked = false;
  // Row-major strides of the spatial grid, the slot grid and the RPB table.
  const strides = (dims: readonly number[]) => dims.map((_, a) => dims.slice(a + 1).reduce((p, v) => p * v, 1));
  const tokStride = strides(spatial);
  const slotStride = strides(spec.kernelSize);
  const tabStride = strides(tableDims);
  const qc = new Array<number>(rank).fill(0);
  for (let n = 0; n < numTokens; n++) {
    for (let a = 0; a < rank; a++) qc[a] = Math.floor(n / tokStride[a]!) % spatial[a]!;
    for (let j = 0; j < numSlots; j++) {
      let flat = 0;
      let tab = 0;
      let valid = true;
      for (let a = 0; a < rank; a++) {
        const k = spec.kernelSize[a]!;
        const t = Math.floor(j / slotStride[a]!) % k;
        const key = axes[a]!.keys[qc[a]! * k + t]!;
        if (key < 0) valid = false;
        flat += key * tokStride[a]!;
        tab += axes[a]!.rel[qc[a]! * k + t]! * tabStride[a]!;
      }
      neighbors[n * numSlots + j] = valid ? flat : -1;
      if (!valid) masked = true;
      if (rpbIndex) rpbIndex[n * numSlots + j] = tab;
    }
  }
  const plan: NeighborhoodPlan = { key, spatial: [...spatial], numTokens, numSlots, neighbors, masked, rpbIndex, rpbSize };
  if (cache.size > 256) cache.clear();
  cache.set(key, plan);
  return plan;
}

/** Neighbors with masked slots pointed at the query itself (a valid index for gathers; the mask removes them). */
export function gatherableNeighbors(plan: NeighborhoodPlan): Int32Array {
  if (!plan.masked) return plan.neighbors;
  const out = new Int32Array(plan.neighbors.length);
  for (let i = 0; i < out.length; i++) {
    const v = plan.neighbors[i]!;
    out[i] = v >= 0 ? v : Math.floor(i / plan.numSlots);
  }
  return out;
}
