/**
 * Name matching for the model registry, with no dependency on tfjs: `vizoo list` and `info` answer from the
 * build-time catalog (./catalog.ts) through these same functions without loading the models.
 */

/** A wildcard pattern (`*`, `?`) as an anchored regular expression. */
export function globToRegExp(pattern: string, flags = 'i'): RegExp {
  const esc = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`, flags);
}

/** Sorts 'van_b10' after 'van_b2'. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** The names matching a wildcard pattern (several separated by commas), in natural order. */
export function matchNames(names: Iterable<string>, pattern = '*'): string[] {
  const res = pattern.split(',').map((p) => globToRegExp(p.trim() || '*'));
  return [...names].filter((n) => res.some((r) => r.test(n))).sort(naturalCompare);
}
