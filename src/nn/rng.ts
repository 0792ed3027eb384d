/**
 * Seeded pseudo-random numbers for initialization, augmentation and stochastic depth.
 * Host-side so results do not depend on the backend. Generator: xoshiro128** seeded through splitmix32.
 */
export interface RngState {
  s: number[];
  spare: number | null;
}

export class Rng {
  private s = new Uint32Array(4);
  private spare: number | undefined;

  constructor(seed: number | string = 0) {
    let h = typeof seed === 'string' ? hashString(seed) : seed >>> 0;
    for (let i = 0; i < 4; i++) {
      h = (h + 0x9e3779b9) >>> 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** A generator whose stream depends only on (seed, name): used per parameter so init does not depend on order. */
  static derive(seed: number, name: string): Rng {
    return new Rng(hashString(`${seed >>> 0}:${name}`));
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }

  /** A shuffle drawn from a generator derived from this one's seed state and `name` (does not advance this one). */
  derivedShuffle<T>(a: T[], name: string): T[] {
    return new Rng(hashString(`${this.s.join(',')}:${name}`)).shuffle(a);
  }

  /** Serializable state (including the cached normal), for exact resume. */
  getState(): RngState {
    return { s: [...this.s], spare: this.spare ?? null };
  }

  setState(state: RngState): void {
    if (!Array.isArray(state.s) || state.s.length !== 4) throw new Error('Rng state must have 4 words');
    this.s.set(state.s);
    this.spare = state.spare ?? undefined;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a 32-bit hash. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
