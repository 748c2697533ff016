import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop-matcher.js';

function run(stops: string[], pieces: string[]): { out: string; isStopped: boolean } {
  const m = new StopMatcher(stops);
  let out = '';
  for (const p of pieces) {
    const r = m.push(p);
    out += r.text;
    if (r.isStopped) return { out, isStopped: true };
  }
  return { out: out + m.flush(), isStopped: false };
}

describe('StopMatcher', () => {
  it('passes text through when there are no stops', () => {
    expect(run([], ['a', 'b'])).toEqual({ out: 'ab', isStopped: false });
  });
  it('stops before a stop string inside one piece', () => {
    expect(run(['END'], ['hello END world'])).toEqual({ out: 'hello ', isStopped: true });
  });
  it('stops before a stop string split across pieces and never leaks its prefix', () => {
    const m = new StopMatcher(['\n\n']);
    expect(m.push('one\n')).toEqual({ text: 'one', isStopped: false });
    expect(m.push('\ntwo')).toEqual({ text: '', isStopped: true });
  });
  it('releases held-back text once it cannot become a stop string', () => {
    const m = new StopMatcher(['STOP']);
    expect(m.push('a ST')).toEqual({ text: 'a ', isStopped: false });
    expect(m.push('AR')).toEqual({ text: 'STAR', isStopped: false });
    expect(m.flush()).toBe('');
  });
  it('picks the earliest of several stops', () => {
    expect(run(['b', 'cd'], ['xxcdb'])).toEqual({ out: 'xx', isStopped: true });
  });
  it('flush returns a held-back partial match at the end', () => {
    expect(run(['STOP'], ['end ST'])).toEqual({ out: 'end ST', isStopped: false });
  });
});
