// Every test file runs on wasm (the default CPU backend) unless it switches itself.
import { beforeAll } from 'vitest';
import { useBackend } from '../src/backend/index.js';

beforeAll(async () => {
  await useBackend(process.env.VIZOO_TEST_BACKEND ?? 'wasm');
});
