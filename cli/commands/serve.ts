import type { Command } from 'commander';
import { startDemoServer } from '../../src/serve.js';
import { action, parseIntArg } from '../options.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the browser demo (models in the page, on WebGPU or wasm) with the wasm binaries and shipped weights')
    .option('-p, --port <n>', 'port (0: any free port)', parseIntArg('--port', 0), 8080)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .action(
      action(async (o: { port: number; host: string }) => {
        const server = await startDemoServer({ port: o.port, host: o.host });
        process.stdout.write(`vizoo demo at ${server.url} (Ctrl-C to stop)\n`);
        await new Promise<void>((done) => {
          process.once('SIGINT', done);
          process.once('SIGTERM', done);
        });
        await server.close();
      }),
    );
}
