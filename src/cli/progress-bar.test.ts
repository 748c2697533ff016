import { describe, expect, it } from 'vitest';
import { ProgressBar } from './progress-bar.js';

function stream(isTTY: boolean, columns = 60) {
  const writes: string[] = [];
  return { writes, isTTY, columns, write: (s: string) => void writes.push(s) };
}

describe('ProgressBar', () => {
  it('draws in place on a TTY, within the width, and clears its line at the end', () => {
    const s = stream(true);
    const bar = new ProgressBar(s, 'quantizing', 0);
    bar.update(0, 200, 'blk.0.attn_q.weight');
    bar.update(100, 200, 'a-very-long-tensor-name-that-cannot-fit-in-the-line.weight');
    bar.update(200, 200, 'output.weight');
    expect(s.writes).toHaveLength(3);
    for (const w of s.writes) {
      expect(w.startsWith('\r')).toBe(true);
      expect(w).not.toContain('\n');
      expect(w.replace(/\r/g, '').length).toBeLessThanOrEqual(60);
    }
    expect(s.writes[1]).toMatch(/quantizing {2}50% \[#+\.+\] a-very-\S*…\r$/);
    expect(s.writes[2]).toMatch(/100% \[#+\] output\.weight/);
    bar.finish();
    expect(s.writes[3]).toMatch(/^\r {59}\r$/);
    bar.finish(); // nothing more to clear
    expect(s.writes).toHaveLength(4);
  });

  it('redraws at most every minIntervalMs, but always shows completion', () => {
    const s = stream(true);
    const bar = new ProgressBar(s, 'q', 60_000);
    bar.update(1, 10);
    bar.update(2, 10);
    bar.update(10, 10);
    expect(s.writes).toHaveLength(2);
  });

  it('takes 80 columns when the terminal reports none (0 under some ptys)', () => {
    const s = stream(true, 0);
    new ProgressBar(s, 'q', 0).update(1, 2, 'blk.0.attn_q.weight');
    expect(s.writes[0]).toContain('blk.0.attn_q.weight');
    expect(s.writes[0]!.replace(/\r/g, '').length).toBe(79); // one column short of the width: no wrap
  });

  it('writes nothing to a stream that is not a TTY', () => {
    const s = stream(false);
    const bar = new ProgressBar(s, 'q', 0);
    bar.update(5, 10, 'x');
    bar.finish();
    expect(s.writes).toEqual([]);
  });
});
