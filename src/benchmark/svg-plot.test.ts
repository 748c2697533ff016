import { describe, expect, it } from 'vitest';
import { escapeXml, niceTicks, renderDistributionChart, renderLineChart } from './svg-plot.js';

interface XmlElement {
  readonly name: string;
  readonly attributes: Map<string, string>;
  readonly children: XmlElement[];
  text: string;
}

/**
 * A minimal XML well-formedness check written as a character scanner: balanced tags, quoted and
 * unique attributes, no raw '<' or '&' in text or attribute values, one root. Throws on error.
 */
function parseXml(source: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (why: string): never => {
    throw new Error(`${why} at ${i}: ${JSON.stringify(source.slice(Math.max(0, i - 30), i + 30))}`);
  };
  const isNameChar = (c: string): boolean =>
    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '-' || c === '_' || c === ':' || c === '.';
  const readName = (): string => {
    const start = i;
    while (i < source.length && isNameChar(source[i]!)) i++;
    if (i === start) fail('expected a name');
    return source.slice(start, i);
  };
  const skipSpace = (): void => {
    while (i < source.length && ' \t\r\n'.includes(source[i]!)) i++;
  };
  const checkText = (text: string): string => {
    for (let j = 0; j < text.length; j++) {
      if (text[j] === '<') fail('raw < in text');
      if (text[j] === '&') {
        const end = text.indexOf(';', j);
        const entity = end < 0 ? '' : text.slice(j + 1, end);
        if (!['amp', 'lt', 'gt', 'quot', 'apos'].includes(entity) && !entity.startsWith('#')) fail(`bad entity &${entity};`);
      }
    }
    return text;
  };
  while (i < source.length) {
    if (source[i] !== '<') {
      const end = source.indexOf('<', i);
      const text = source.slice(i, end < 0 ? source.length : end);
      if (stack.length === 0 && text.trim() !== '') fail('text outside the root');
      if (stack.length > 0) stack[stack.length - 1]!.text += checkText(text);
      i = end < 0 ? source.length : end;
      continue;
    }
    if (source.startsWith('<?', i) || source.startsWith('<!--', i)) {
      const close = source.startsWith('<?', i) ? '?>' : '-->';
      const end = source.indexOf(close, i);
      if (end < 0) fail('unterminated');
      i = end + close.length;
      continue;
    }
    if (source[i + 1] === '/') {
      i += 2;
      const name = readName();
      skipSpace();
      if (source[i] !== '>') fail('expected >');
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) fail(`</${name}> does not close <${open?.name}>`);
      continue;
    }
    i++;
    const element: XmlElement = { name: readName(), attributes: new Map(), children: [], text: '' };
    if (root && stack.length === 0) fail('second root element');
    root ??= element;
    stack[stack.length - 1]?.children.push(element);
    for (;;) {
      skipSpace();
      if (source.startsWith('/>', i)) {
        i += 2;
        break;
      }
      if (source[i] === '>') {
        i++;
        stack.push(element);
        break;
      }
      const attribute = readName();
      skipSpace();
      if (source[i] !== '=') fail('expected =');
      i++;
      skipSpace();
      const quote = source[i];
      if (quote !== '"' && quote !== "'") fail('unquoted attribute');
      const end = source.indexOf(quote!, i + 1);
      if (end < 0) fail('unterminated attribute');
      if (element.attributes.has(attribute)) fail(`duplicate attribute ${attribute}`);
      element.attributes.set(attribute, checkText(source.slice(i + 1, end)));
      i = end + 1;
    }
  }
  if (stack.length > 0) fail(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) fail('no root element');
  return root!;
}

function findAll(element: XmlElement, name: string): XmlElement[] {
  return [...(element.name === name ? [element] : []), ...element.children.flatMap((c) => findAll(c, name))];
}

function legendNames(svg: XmlElement): string[] {
  const legend = findAll(svg, 'g').find((g) => g.attributes.get('class') === 'legend')!;
  return findAll(legend, 'text').map((t) => t.text);
}

describe('the well-formedness checker', () => {
  it('rejects broken documents', () => {
    expect(() => parseXml('<a><b></a></b>')).toThrow();
    expect(() => parseXml('<a x=1/>')).toThrow();
    expect(() => parseXml('<a>x & y</a>')).toThrow();
    expect(() => parseXml('<a></a><b/>')).toThrow();
    expect(() => parseXml('<a>')).toThrow();
    expect(parseXml('<?xml version="1.0"?><a k="&amp;"><b/>t &lt; u</a>').children).toHaveLength(1);
  });
});

describe('renderLineChart', () => {
  const series = [
    { name: 'peregrine', points: [{ x: 1, y: 50 }, { x: 4, y: 180 }, { x: 8, y: 300 }] },
    { name: 'node-llama-cpp <3.21> & co', points: [{ x: 1, y: 60 }, { x: 4, y: 200 }, { x: 8, y: Number.NaN }] },
  ];
  const svg = renderLineChart({ title: 'Throughput "vs" latency', xLabel: 'TTFT p99 (ms)', yLabel: 'output tok/s', series });
  const root = parseXml(svg);

  it('is a standalone SVG document', () => {
    expect(root.name).toBe('svg');
    expect(root.attributes.get('xmlns')).toBe('http://www.w3.org/2000/svg');
    expect(root.attributes.get('viewBox')).toBe('0 0 720 420');
  });

  it('draws one path per series and names every series in the legend', () => {
    expect(findAll(root, 'path')).toHaveLength(2);
    expect(legendNames(root)).toEqual(['peregrine', 'node-llama-cpp &lt;3.21&gt; &amp; co']);
    expect(findAll(root, 'circle')).toHaveLength(5); // NaN points are dropped
    expect(svg).toContain('Throughput &quot;vs&quot; latency');
  });

  it('labels the axes with ticks', () => {
    const texts = findAll(root, 'text').map((t) => t.text);
    expect(texts).toContain('TTFT p99 (ms)');
    expect(texts).toContain('output tok/s');
    expect(texts).toContain('0'); // y starts at zero
    expect(texts).toContain('300');
  });

  it('survives empty input', () => {
    const empty = parseXml(renderLineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'none', points: [] }] }));
    expect(findAll(empty, 'path')).toHaveLength(1);
  });
});

describe('renderDistributionChart', () => {
  const series = [
    { name: 'TTFT', values: [10, 12, 15, 15, 20, 40, 41, 90] },
    { name: 'TPOT', values: [5, 6, 6, 7] },
  ];

  it('draws a histogram outline per series', () => {
    const root = parseXml(renderDistributionChart({ title: 'Latency', xLabel: 'ms', yLabel: 'requests', series, numBins: 8 }));
    expect(findAll(root, 'path')).toHaveLength(2);
    expect(legendNames(root)).toEqual(['TTFT', 'TPOT']);
    const d = findAll(root, 'path')[0]!.attributes.get('d')!;
    expect(d.split(' ')).toHaveLength(2 * 8 + 2);
  });

  it('draws a CDF from 0 to 1', () => {
    const root = parseXml(renderDistributionChart({ title: 'CDF', xLabel: 'ms', yLabel: 'fraction', series, kind: 'cdf' }));
    expect(findAll(root, 'path')).toHaveLength(2);
    const texts = findAll(root, 'text').map((t) => t.text);
    expect(texts).toContain('1');
    expect(texts).toContain('0');
  });
});

describe('helpers', () => {
  it('picks 1-2-5 ticks covering the range', () => {
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(3, 3.7)).toEqual([3, 3.2, 3.4, 3.6, 3.8]);
    expect(niceTicks(5, 5).length).toBeGreaterThan(1);
  });

  it('escapes XML text', () => {
    expect(escapeXml(`<a href="x">'&'</a>\u0001`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;\uFFFD');
  });
});
