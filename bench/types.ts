/** Benchmark cases: each family contributes a file under bench/ that exports `benchmarks`. */
import type { BackendName } from '../src/backend/index.js';

export interface BenchRun {
  /** One timed iteration; must await its results (await t.data()) so GPU work is included. */
  run: () => Promise<void>;
  dispose?: () => void;
}

export interface BenchCase {
  /** Row label, e.g. 'van_b0 1x3x224x224'. */
  name: string;
  /** Prepares the model and inputs on the current backend. */
  setup: () => Promise<BenchRun>;
  /** Backends to run on (default: every available one). */
  backends?: BackendName[];
  warmup?: number;
  iterations?: number;
  /** Images per iteration: the summary prints images/s. */
  images?: number;
  /** The same work timed outside vizoo in this run (e.g. the official PyTorch model), or null to skip. */
  reference?: () => Promise<Reference | null>;
}

/** A timing of the same work by another implementation. */
export interface Reference {
  label: string;
  ms: number;
  peakBytes?: number;
}

/** A case's medians: wall-clock time, and CPU time of the process (the compute itself on a shared machine). */
export interface BenchTimes {
  medianMs: number;
  cpuMs: number;
}

/** A ratio printed after the table: time(numerator) / time(denominator), both measured in this run on one backend. */
export interface BenchRatio {
  label: string;
  numerator: string;
  denominator: string;
}

/**
 * A measurement that does not fit one timed case per backend (alternating pairs of two runtimes, a table
 * over every family): it runs once, after the table, and returns the lines it prints.
 */
export interface BenchReport {
  name: string;
  run: () => Promise<string[]>;
}

export interface BenchModule {
  benchmarks: BenchCase[];
  ratios?: BenchRatio[];
  /** Extra lines printed last, from this run's medians (`times(case, backend)`, undefined if not run). */
  summary?: (times: (name: string, backend: BackendName) => BenchTimes | undefined, backends: BackendName[]) => string[];
  reports?: BenchReport[];
}
