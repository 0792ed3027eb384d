import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** ../shared beside the checkout (fixtures, reference key lists). */
export const SHARED = process.env.VIZOO_SHARED ?? join(ROOT, '..', 'shared');
export const PARITY = join(SHARED, 'fixtures', 'parity');
export const KEYS = join(SHARED, 'reference', 'keys');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
