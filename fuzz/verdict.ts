/**
 * What counts as a good outcome for one input: a result whose tensors (or pixels) are consistent, or a
 * FileError whose message is one line, starts with the file, names it once, and holds no JavaScript
 * engine wording. Anything else is a finding.
 */
import { DTYPE_BYTES, type StateDict, isDType } from '../src/hub/host_tensor.js';
import { FileError } from '../src/util/errors.js';

export const OUTCOMES = ['ok', 'typed', 'untyped', 'timeout', 'oom', 'escape', 'inconsistent', 'crash'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export const GOOD: readonly Outcome[] = ['ok', 'typed'];

/** Wording of V8 / Node errors and raw errno codes: none of it may reach a user. */
const ENGINE_WORDING = [
  /Maximum call stack/i, /outside the bounds of the DataView/i, /Do not know how to serialize/i, /circular structure/i,
  /is not iterable/i, /Cannot mix BigInt/i, /Invalid typed array length/i, /Invalid array length/i, /\[object \w+\]/,
  /Cannot read propert/i, /is not a function/i, /is not a constructor/i, /Cannot convert .* to a BigInt/i, /out of range/i,
  /\bE(NOENT|ISDIR|ACCES|LOOP|MFILE|NOTDIR|INVAL|PERM|IO)\b/, /Unexpected (token|end of JSON)/i, /in JSON at position/i,
  /Array buffer allocation failed/i, /is not defined/i, /Reduce of empty array/i, /undefined/,
  /Invalid (string length|code point|time value)/i, /RangeError|TypeError|SyntaxError|ReferenceError/,
];

/** Why a thrown value is not a proper error for `file`, or null when it is one. */
export function messageProblem(e: unknown, file: string): string | null {
  if (!(e instanceof FileError)) return `not a FileError: ${(e as Error)?.name ?? typeof e}`;
  const m = e.message;
  if (!m.startsWith(`${file}: `)) return 'does not start with the file';
  if (/[\r\n]/.test(m)) return 'more than one line';
  if (m.length > 2000) return `${m.length} characters long`;
  if (m.split(file).length > 2) return 'names the file more than once';
  const w = ENGINE_WORDING.find((re) => re.test(e.problem));
  return w ? `engine wording (${w.source})` : null;
}

/** Why a state dict is inconsistent (a shape that does not match its data, an odd dtype), or null. */
export function stateDictProblem(sd: StateDict): string | null {
  for (const [k, t] of sd) {
    if (typeof k !== 'string') return 'a key that is not a string';
    if (!isDType(t.dtype)) return `'${k.slice(0, 40)}' has dtype ${String(t.dtype).slice(0, 20)}`;
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `'${k.slice(0, 40)}' has shape [${String(t.shape).slice(0, 40)}]`;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n || t.data.byteLength !== n * DTYPE_BYTES[t.dtype]) return `'${k.slice(0, 40)}' has ${t.data.length} elements for shape [${t.shape}]`;
  }
  return null;
}

/** The outcome of an exception: out of memory, a proper error, or an untyped one (with what is wrong). */
export function errorOutcome(e: unknown, file: string): { outcome: Outcome; detail: string } {
  const text = `${(e as Error)?.name ?? 'throw'}: ${String((e as Error)?.message ?? e).split('\n')[0]!.slice(0, 2000)}`;
  if (e instanceof RangeError && /allocation failed/i.test(e.message)) return { outcome: 'oom', detail: text };
  const problem = messageProblem(e, file);
  return problem ? { outcome: 'untyped', detail: `${problem}: ${text}` } : { outcome: 'typed', detail: text };
}
