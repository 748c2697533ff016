/** The stream a progress bar draws on: stderr, or any writable that may say it is a terminal. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/**
 * A one-line progress bar for long commands: on a terminal, `label [#####.....] 3/8 windows 1.2 s`
 * redrawn in place (at most every 100 ms, and at the end); elsewhere (a pipe, a log file) one line
 * when the work ends, so logs get no carriage returns.
 */
export class ProgressBar {
  private lastDrawMs = -Infinity;
  private readonly startMs = performance.now();
  private isFinished = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    private readonly unit: string,
  ) {}

  update(done: number, total: number): void {
    if (this.isFinished) return;
    const now = performance.now();
    if (this.stream.isTTY && (done >= total || now - this.lastDrawMs >= REDRAW_MS)) {
      this.lastDrawMs = now;
      this.stream.write(`\r${this.line(done, total, now)}\x1b[K`);
    }
    if (done >= total) this.finish(done, total, now);
  }

  private finish(done: number, total: number, now: number): void {
    this.isFinished = true;
    this.stream.write(this.stream.isTTY ? '\n' : `${this.line(done, total, now)}\n`);
  }

  private line(done: number, total: number, now: number): string {
    const seconds = `${((now - this.startMs) / 1000).toFixed(1)} s`;
    const text = `${done}/${total} ${this.unit} ${seconds}`;
    if (!this.stream.isTTY) return `${this.label}: ${text}`;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - this.label.length - text.length - 6));
    const filled = total > 0 ? Math.round((width * Math.min(done, total)) / total) : width;
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`;
  }
}

const REDRAW_MS = 100;
