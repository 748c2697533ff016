import { describe, expect, it } from 'vitest';
import type { ToolFamily } from './tool-call-family.js';
import { ToolCallStream, type ToolCallEvent } from './tool-call-stream.js';

const names = new Set(['get_weather', 'noop']);
const WEATHER = '{"city":"Paris, \\"FR\\"","days":[1,2.5e3,true,null],"note":"a\\nb é"}';
const WEATHER_SPACED = '{"city": "Paris, \\"FR\\"", "days": [1, 2.5e3, true, null],\n  "note": "a\\nb é"}';

interface Turn {
  content: string;
  calls: { name: string; arguments: string }[];
  /** the number of argument events per call */
  numPieces: number[];
}

/** the events of one output, read in the given pieces, added up */
function read(family: ToolFamily, pieces: readonly string[], isLive: boolean, prefix?: string): Turn {
  const stream = new ToolCallStream(family, names, { isLive, prefix });
  const turn: Turn = { content: '', calls: [], numPieces: [] };
  const add = (events: ToolCallEvent[]): void => {
    for (const e of events) {
      if (e.type === 'content') turn.content += e.text;
      else if (e.type === 'call') {
        expect(e.index).toBe(turn.calls.length);
        turn.calls.push({ name: e.name, arguments: '' });
        turn.numPieces.push(0);
      } else {
        expect(e.text).not.toBe('');
        turn.calls[e.index]!.arguments += e.text;
        turn.numPieces[e.index]!++;
      }
    }
  };
  for (const piece of pieces) add(stream.push(piece));
  add(stream.finish());
  return turn;
}

/**
 * every split of `text` into 1 and 2 pieces, into 3 pieces whose middle one is up to 8 characters
 * (a token inside an escape, a key, a marker), one character per piece, and 100 seeded random splits
 */
function* splits(text: string): Generator<string[]> {
  const n = text.length;
  yield [text];
  for (let i = 1; i < n; i++) {
    yield [text.slice(0, i), text.slice(i)];
    for (let j = i + 1; j < Math.min(n, i + 9); j++) yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
  }
  yield Array.from(text);
  let s = n;
  for (let k = 0; k < 100; k++) {
    const pieces: string[] = [];
    let at = 0;
    while (at < n) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const len = 1 + (s % 7);
      pieces.push(text.slice(at, at + len));
      at += len;
    }
    yield pieces;
  }
}

const weatherCall = (args: string) => ({ name: 'get_weather', arguments: args });

/**
 * outputs with their expected turns: content and calls (arguments without the whitespace between
 * tokens); the well-formed ones (every call complete, or plain text) are read live too, as a
 * grammar-forced call is
 */
const SAMPLES: [ToolFamily, string, Omit<Turn, 'numPieces'>, boolean][] = [
  ['llama3', `{"name": "get_weather", "parameters": ${WEATHER_SPACED}}`, { content: '', calls: [weatherCall(WEATHER)] }, true],
  ['llama3', ` <|python_tag|>{"parameters": ${WEATHER_SPACED}, "name": "get_weather"}`, { content: '', calls: [weatherCall(WEATHER)] }, true],
  ['llama3', `[{"name": "get_weather", "arguments": ${WEATHER_SPACED}}, {"name": "noop"}]\n`, { content: '', calls: [weatherCall(WEATHER), { name: 'noop', arguments: '{}' }] }, true],
  ['hermes', `Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": ${WEATHER_SPACED}}\n</tool_call>\n<tool_call>\n{"name": "noop", "arguments": {}}\n</tool_call>`, { content: 'Let me check.', calls: [weatherCall(WEATHER), { name: 'noop', arguments: '{}' }] }, true],
  ['hermes', `<tool_call>{"name": "get_weather", "arguments": ${WEATHER_SPACED}}`, { content: '', calls: [weatherCall(WEATHER)] }, true],
  ['mistral', `Sure [TOOL_CALLS][{"name": "get_weather", "arguments": ${WEATHER_SPACED}}]`, { content: 'Sure', calls: [weatherCall(WEATHER)] }, true],
  ['mistral', `[{"name": "noop", "arguments": {"a": [[], {}]}}]`, { content: '', calls: [{ name: 'noop', arguments: '{"a":[[],{}]}' }] }, true],
  ['generic', `{"tool_calls": [{"name": "get_weather", "arguments": ${WEATHER_SPACED}}]}`, { content: '', calls: [weatherCall(WEATHER)] }, true],
  ['generic', ` {"tool_calls": {"arguments": {"x": 1}, "name": "noop"}}`, { content: '', calls: [{ name: 'noop', arguments: '{"x":1}' }] }, true],
  // not calls: the whole output is content
  ['llama3', 'It is sunny <today>.', { content: 'It is sunny <today>.', calls: [] }, true],
  ['llama3', `{"name": "get_weather", "parameters": {"city": "Par`, { content: `{"name": "get_weather", "parameters": {"city": "Par`, calls: [] }, false],
  ['llama3', `{"name": "launch", "parameters": {}}`, { content: `{"name": "launch", "parameters": {}}`, calls: [] }, false],
  ['llama3', `{"name": "get_weather", "parameters": "Paris"}`, { content: `{"name": "get_weather", "parameters": "Paris"}`, calls: [] }, false],
  ['hermes', `I think <tool_calls are> fun`, { content: 'I think <tool_calls are> fun', calls: [] }, true],
  ['hermes', `<tool_call>\n{"name": "get_weather", "arguments": {"ci`, { content: `<tool_call>\n{"name": "get_weather", "arguments": {"ci`, calls: [] }, false],
  ['mistral', '[1] Paris', { content: '[1] Paris', calls: [] }, true],
  ['mistral', '[]', { content: '[]', calls: [] }, false],
  ['generic', `{"city": "Paris"}`, { content: `{"city": "Paris"}`, calls: [] }, false],
  // calls, then text that is not a call: the calls stand, the text is content
  ['hermes', `<tool_call>{"name": "noop", "arguments": {}}</tool_call> and more`, { content: ' and more', calls: [{ name: 'noop', arguments: '{}' }] }, false],
  ['generic', `{"tool_calls": [{"name": "noop"}], "more": 1}`, { content: `], "more": 1}`, calls: [{ name: 'noop', arguments: '{}' }] }, false],
  ['llama3', `[{"name": "noop", "parameters": {}}, {"name": "nope"}]`, { content: `, {"name": "nope"}]`, calls: [{ name: 'noop', arguments: '{}' }] }, false],
];

describe('ToolCallStream', () => {
  it.each(SAMPLES.map((s, i) => [i, ...s] as const))('sample %i (%s): every split gives the same content and calls', (_, family, text, expected, isWellFormed) => {
    const whole = read(family, [text], false);
    expect({ content: whole.content, calls: whole.calls }).toEqual(expected);
    for (const pieces of splits(text)) {
      for (const isLive of isWellFormed ? [false, true] : [false]) {
        const turn = read(family, pieces, isLive);
        expect({ content: turn.content, calls: turn.calls }).toEqual(expected);
      }
    }
  });

  it('live: a call starts as soon as its name is read, and its arguments follow piece by piece', () => {
    const stream = new ToolCallStream('llama3', names, { isLive: true });
    expect(stream.push('{"name": "get_w')).toEqual([]);
    expect(stream.push('eather", "parameters": {"ci')).toEqual([
      { type: 'call', index: 0, name: 'get_weather' },
      { type: 'arguments', index: 0, text: '{"ci' },
    ]);
    expect(stream.push('ty": ')).toEqual([{ type: 'arguments', index: 0, text: 'ty":' }]);
    expect(stream.push('"Paris"}}')).toEqual([{ type: 'arguments', index: 0, text: '"Paris"}' }]);
    expect(stream.finish()).toEqual([]);
  });

  it('not live: a call is reported once it closed, in the pieces it was written', () => {
    const stream = new ToolCallStream('generic', names, { isLive: false });
    expect(stream.push('{"tool_calls": [{"name": "noop", "arguments": {"a"')).toEqual([]);
    expect(stream.push(': 1}')).toEqual([]);
    expect(stream.push('}]}')).toEqual([
      { type: 'call', index: 0, name: 'noop' },
      { type: 'arguments', index: 0, text: '{"a"' },
      { type: 'arguments', index: 0, text: ':1}' },
    ]);
  });

  it('content is released as soon as it cannot begin a call; a possible marker and the whitespace before it are held', () => {
    const stream = new ToolCallStream('hermes', names, { isLive: false });
    expect(stream.push('Hello')).toEqual([{ type: 'content', text: 'Hello' }]);
    expect(stream.push(' <tool')).toEqual([]);
    expect(stream.push('s>')).toEqual([{ type: 'content', text: ' <tools>' }]);
    const generic = new ToolCallStream('generic', names, { isLive: false });
    expect(generic.push('  ')).toEqual([]);
    expect(generic.push('Once')).toEqual([{ type: 'content', text: '  Once' }]);
  });

  it('a forced call: the output starts after the prompt prefix; live, a cut-off call stays as sent', () => {
    const turn = read('hermes', ['\n{"name": "noop", "arguments": {"a": ', '[1, 2'], true, '<tool_call>\n');
    expect(turn).toEqual({ content: '', calls: [{ name: 'noop', arguments: '{"a":[1,2' }], numPieces: [2] });
    const held = read('hermes', ['\n{"name": "noop", "arguments": {"a": ', '[1, 2'], false, '<tool_call>\n');
    expect(held).toEqual({ content: '\n{"name": "noop", "arguments": {"a": [1, 2', calls: [], numPieces: [] });
    const mistral = read('mistral', ['[{"name": "noop", "arguments": {}}]'], true, '[TOOL_CALLS]');
    expect(mistral.calls).toEqual([{ name: 'noop', arguments: '{}' }]);
  });

  it('duplicate keys and a second argument key are not calls', () => {
    expect(read('llama3', ['{"name": "noop", "name": "noop"}'], false).calls).toEqual([]);
    expect(read('llama3', ['{"name": "noop", "parameters": {}, "arguments": {}}'], false).calls).toEqual([]);
  });
});
