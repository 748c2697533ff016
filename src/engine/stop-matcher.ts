/**
 * Finds stop strings in streamed text. Text that could still turn into a stop string is held
 * back until it is known not to, so a stop string never reaches the output, even when it
 * arrives split across tokens.
 */
export class StopMatcher {
  private pending = '';
  private readonly maxLength: number;

  constructor(private readonly stops: readonly string[]) {
    this.maxLength = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Returns the text safe to emit and whether a stop string was hit (text after it is dropped). */
  push(text: string): { text: string; isStopped: boolean } {
    if (this.stops.length === 0) return { text, isStopped: false };
    this.pending += text;
    let hit = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i !== -1 && (hit === -1 || i < hit)) hit = i;
    }
    if (hit !== -1) {
      const out = this.pending.slice(0, hit);
      this.pending = '';
      return { text: out, isStopped: true };
    }
    // hold back the longest suffix that is a prefix of some stop string
    let keep = 0;
    for (let len = Math.min(this.maxLength - 1, this.pending.length); len > 0; len--) {
      const tail = this.pending.slice(this.pending.length - len);
      if (this.stops.some((s) => s.startsWith(tail))) {
        keep = len;
        break;
      }
    }
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { text: out, isStopped: false };
  }

  /** Text still held back, released when generation ends for another reason. */
  flush(): string {
    const out = this.pending;
    this.pending = '';
    return out;
  }
}
