/**
 * A one-line progress bar on a terminal stream (stderr): redrawn in place with `\r`, at most every
 * `minIntervalMs`, cleared by `finish()`. On a stream that is not a TTY (a pipe, a log file) it
 * draws nothing, so logs get no carriage returns; the command prints its own summary line.
 */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export class ProgressBar {
  private lastDrawMs = -Infinity;
  private isDrawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    private readonly minIntervalMs = 100,
  ) {}

  /** Shows `done` of `total` (any unit) and a short note (the current tensor). */
  update(done: number, total: number, note = ''): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    if (done < total && now - this.lastDrawMs < this.minIntervalMs) return;
    this.lastDrawMs = now;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const width = Math.max(20, Math.min(100, this.stream.columns || 80) - 1);
    const head = `${this.label} ${(fraction * 100).toFixed(0).padStart(3)}% `;
    const barWidth = Math.max(10, Math.min(30, width - head.length - 30)); // room for a tensor name
    const filled = Math.round(fraction * barWidth);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
    const room = width - head.length - bar.length - 1;
    const tail = room > 3 ? ` ${note.length > room ? note.slice(0, room - 1) + '…' : note}` : '';
    this.stream.write(`\r${head}${bar}${tail}`.padEnd(width + 1) + '\r');
    this.isDrawn = true;
  }

  /** Clears the bar's line (when one was drawn), so the next output starts on a clean line. */
  finish(): void {
    if (!this.isDrawn) return;
    const width = Math.max(20, Math.min(100, this.stream.columns || 80) - 1);
    this.stream.write(`\r${' '.repeat(width)}\r`);
    this.isDrawn = false;
  }
}
