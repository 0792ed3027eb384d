/** A one-line progress bar on stderr (only when stderr is a terminal, or when forced). */
export interface ProgressOptions {
  total: number;
  label?: string;
  force?: boolean;
  stream?: NodeJS.WriteStream;
}

export class ProgressBar {
  private done = 0;
  private readonly start = performance.now();
  private readonly stream: NodeJS.WriteStream;
  /** Whether the bar draws (stderr is a terminal, or forced). */
  readonly enabled: boolean;
  private lastDraw = 0;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.force ?? Boolean(this.stream.isTTY);
  }

  setTotal(total: number): void {
    this.opts.total = total;
  }

  tick(n = 1, info = ''): void {
    this.done += n;
    this.draw(info);
  }

  update(done: number, info = ''): void {
    this.done = done;
    this.draw(info);
  }

  private draw(info: string): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && this.done < this.opts.total) return;
    this.lastDraw = now;
    const { total } = this.opts;
    const frac = total > 0 ? Math.min(1, this.done / total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (total - this.done) / rate : 0;
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const line = `${this.opts.label ?? ''} [${bar}] ${this.done}/${total} ${rate.toFixed(1)}/s ETA ${formatSeconds(eta)}${info ? ` ${info}` : ''}`;
    this.stream.write(`\r${line.slice(0, 160)}\x1b[K`);
  }

  finish(): void {
    if (this.enabled) this.stream.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
