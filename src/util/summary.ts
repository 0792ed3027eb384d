/**
 * Bounded one-line descriptions of values read from untrusted files. Error messages are built from these,
 * never by serializing a value (which may be huge, deeply nested, cyclic or hold BigInts).
 */

const escape = (c: string): string => (c === '"' || c === '\\' ? `\\${c}` : /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c);

/** `s` in double quotes, control characters escaped, cut to about `max` characters of output. */
export function quote(s: string, max = 80): string {
  let body = '';
  let i = 0;
  for (; i < s.length; i++) {
    const e = escape(s[i]!);
    if (body.length + e.length > max) break;
    body += e;
  }
  return i < s.length ? `"${body}..." (${s.length} characters)` : `"${body}"`;
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return `a sequence of ${v.length} items`;
  if (v instanceof Map) return `a dict of ${v.size} entries`;
  if (v instanceof Set) return `a set of ${v.size} items`;
  if (ArrayBuffer.isView(v)) return `${v.byteLength} bytes`;
  if (typeof v === 'function') return 'a function';
  const ctor = (v as object).constructor?.name;
  return ctor && ctor !== 'Object' ? `a ${ctor.length > 40 ? 'value' : ctor}` : 'an object';
}

function scalar(v: unknown, max: number): string | null {
  if (v === null || v === undefined) return String(v === null ? 'None' : 'nothing');
  if (typeof v === 'string') return quote(v, max);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') {
    const s = v.toString();
    return s.length > 24 ? `an integer of ${s.length} digits` : s;
  }
  return null;
}

/**
 * A short description of any value: scalars as themselves (strings quoted and cut), sequences as their
 * first few scalar items, containers by kind and size. Never recurses more than one level.
 */
export function summarize(v: unknown, max = 80): string {
  const s = scalar(v, max);
  if (s !== null) return s;
  if (Array.isArray(v) && v.length <= 8) {
    const items = v.map((x) => scalar(x, 24) ?? `<${typeName(x)}>`);
    const text = `(${items.join(', ')})`;
    if (text.length <= max + 16) return text;
  }
  return `<${typeName(v)}>`;
}

/** A state-dict key as written in messages: as it is when it looks like one, else quoted and cut. */
export function keyName(k: string): string {
  return /^[\w.\-{},]{1,100}$/.test(k) ? k : quote(k, 60);
}
