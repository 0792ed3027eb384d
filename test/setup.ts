// Every test file runs on wasm (the default CPU backend) unless it switches itself. Caches (ONNX exports of
// `--runtime auto`, pulled weights) go to a folder of the test run, not the user's ~/.cache/vizoo; CLI
// processes the tests start inherit it.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll } from 'vitest';
import { useBackend } from '../src/backend/index.js';

process.env.VIZOO_CACHE ??= join(tmpdir(), 'vizoo-test-cache');

beforeAll(async () => {
  await useBackend(process.env.VIZOO_TEST_BACKEND ?? 'wasm');
});
