import { describe, expect, it } from 'vitest';
import { ProgressBar } from './progress-bar.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, columns: 60, write: (s: string) => writes.push(s), writes };
}

describe('ProgressBar', () => {
  it('on a terminal: redraws one line in place, the bar filled in proportion, a newline at the end', () => {
    const s = sink(true);
    const bar = new ProgressBar(s, 'eval', 'windows');
    bar.update(1, 4); // the first update always draws
    bar.update(2, 4); // within 100 ms of the last draw: skipped
    bar.update(4, 4); // the end always draws
    bar.update(4, 4); // after the end: nothing
    expect(s.writes).toHaveLength(3);
    expect(s.writes[0]).toMatch(/^\reval \[#+\.+\] 1\/4 windows \d+\.\d s\x1b\[K$/);
    const [filled, empty] = /\[(#*)(\.*)\]/.exec(s.writes[0]!)!.slice(1) as [string, string];
    expect(filled.length / (filled.length + empty.length)).toBeCloseTo(0.25, 1);
    expect(s.writes[1]).toMatch(/\[#+\] 4\/4 windows/);
    expect(s.writes[2]).toBe('\n');
    for (const w of s.writes) expect(w.replace(/\x1b\[K/, '').length).toBeLessThanOrEqual(61);
  });

  it('elsewhere (a pipe, a log): no carriage returns, one line when the work ends', () => {
    const s = sink(false);
    const bar = new ProgressBar(s, 'peregrine eval', 'windows');
    bar.update(1, 3);
    bar.update(2, 3);
    expect(s.writes).toEqual([]);
    bar.update(3, 3);
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]).toMatch(/^peregrine eval: 3\/3 windows \d+\.\d s\n$/);
  });
});
