import { Ajv2020 } from 'ajv/dist/2020.js';
import { zodResponseFormat } from 'openai/helpers/zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidRequestError } from '../errors/engine-error.js';
import { Automaton, DEAD } from './automaton.js';
import { lowerGrammar } from './byte-program.js';
import { parseGbnf } from './gbnf-parser.js';
import { jsonObjectGbnf, jsonSchemaToGbnf } from './json-schema.js';

const ajv = new Ajv2020({ strict: false, allErrors: false });
// reference format validators (what ajv-formats' full mode checks)
const leap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isDate = (s: string): boolean => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= (mo === 2 && leap(y) ? 29 : DAYS[mo - 1]!);
};
// RFC 3339 times; the grammar never writes a leap second (:60), so the reference leaves it out
const TIME = /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i;
ajv.addFormat('date', { validate: isDate });
ajv.addFormat('time', { validate: (s: string) => TIME.test(s) });
ajv.addFormat('date-time', { validate: (s: string) => { const [d, t, ...rest] = s.split(/[tT ]/); return rest.length === 0 && isDate(d ?? '') && TIME.test(t ?? ''); } });
ajv.addFormat('uuid', /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i);
ajv.addFormat('email', /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i);
ajv.addFormat('ipv4', /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/);

const enc = new TextEncoder();
function automatonFor(gbnf: string): Automaton {
  return new Automaton(lowerGrammar(parseGbnf(gbnf)));
}
function fullMatch(a: Automaton, text: string): boolean {
  const s = a.run(a.initial, enc.encode(text));
  return s !== DEAD && a.canEnd(s);
}

type Rand = (n: number) => number;
function makeRand(seed: number): Rand {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}
const pick = <T>(r: Rand, list: readonly T[]): T => list[r(list.length)]!;
const CHARS = ['a', 'b', 'z', 'A', ' ', '-', '0', '7', '"', '\\', '\n', '\t', '\u0001', 'é', '日', '🐦', '/', '@', '.'];
const randString = (r: Rand, min = 0, max = 8): string => {
  let s = '';
  const n = min + r(max - min + 1);
  for (let i = 0; i < n; i++) s += pick(r, CHARS);
  return s;
};
/** numbers the grammar can write: ≤ 15 integer digits, ≤ 16 fraction digits */
const randNumber = (r: Rand): number => pick(r, [0, 1, -1, 42, -7, 0.5, -2.25, 1234.5678, 123456789012345, 3e-7, 150, 151, 999999]);
const randValue = (r: Rand, depth = 0): unknown => {
  switch (r(depth > 2 ? 5 : 7)) {
    case 0: return randString(r);
    case 1: return randNumber(r);
    case 2: return r(2) === 0;
    case 3: return null;
    case 4: return r(100);
    case 5: return Array.from({ length: r(3) }, () => randValue(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r(3) }, () => [randString(r, 1, 4), randValue(r, depth + 1)]));
  }
};
const PATTERN_SAMPLES: Record<string, string[]> = {
  '^[0-9]{5}$': ['12345', '1234', 'abcde', '123456'],
  '^[a-z]+-\\d{2}$': ['ab-12', 'a-1', 'Ab-12', 'abc-123', 'x-00'],
  'a"b|\\\\': ['xa"by', 'a\\b', '\\', 'ab', 'zzz', 'a"b\n'],
};
const FORMAT_SAMPLES: Record<string, string[]> = {
  date: ['2024-02-28', '2024-02-29', '2023-02-29', '2000-02-29', '1900-02-29', '2100-02-29', '2400-02-29', '0000-02-29', '1996-02-29', '2024-13-01', '2024-04-31', '1999-12-31', '24-01-01'],
  time: ['12:34:56Z', '23:59:59+02:00', '24:00:00Z', '12:34:56', '01:02:03.456-05:30', '12:60:00Z', '23:59:60Z', '00:00:00.123456789z'],
  'date-time': ['2024-05-06T07:08:09Z', '2024-05-06t07:08:09Z', '2024-05-06T07:08:09', '2024-06-31T00:00:00Z', '2024-05-06T07:08:09.5+01:00', '2024-05-06 07:08:09Z', '2024-05-06T07:08:09+24:00'],
  uuid: ['123e4567-e89b-12d3-a456-426614174000', '123E4567-E89B-12D3-A456-426614174000', '123e4567-e89b-12d3-a456-42661417400', 'not-a-uuid'],
  email: ['ada@example.com', 'a.b+c@x-y.org', 'ada@', '@x.com', 'ada@example', 'a b@c.com', 'ada@ex.ample.co.uk', 'a-@b-.c', 'x@-y.z', "o'k.x@a1-b2.io"],
  ipv4: ['192.168.0.1', '256.1.1.1', '1.2.3', '01.2.3.4', '0.0.0.0', '255.255.255.255'],
};

/** A value for `schema`, usually valid (in the order and shapes the grammar writes). */
function generate(schema: unknown, root: Record<string, unknown>, r: Rand, depth = 0): unknown {
  if (schema === true || schema === undefined) return randValue(r);
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') {
    const ref = s.$ref;
    const target = ref === '#' ? root : (root[ref.split('/')[1]!] as Record<string, unknown>)[ref.split('/')[2]!];
    return generate(target, root, r, depth + 1);
  }
  if (s.anyOf || s.oneOf) return generate(pick(r, (s.anyOf ?? s.oneOf) as unknown[]), root, r, depth + 1);
  if (s.allOf) return generate((s.allOf as unknown[])[0], root, r, depth + 1);
  if ('const' in s) return s.const;
  if (s.enum) return pick(r, s.enum as unknown[]);
  let type = s.type as string | string[] | undefined;
  if (Array.isArray(type)) type = pick(r, type);
  if (type === undefined) type = s.properties ? 'object' : s.items || s.prefixItems ? 'array' : s.format || s.pattern || s.maxLength !== undefined ? 'string' : pick(r, ['string', 'number', 'object', 'array', 'boolean', 'null']);
  switch (type) {
    case 'null': return null;
    case 'boolean': return r(2) === 0;
    case 'integer': {
      const lo = (s.minimum as number | undefined) ?? (s.exclusiveMinimum !== undefined ? (s.exclusiveMinimum as number) + 1 : -1000);
      const hi = (s.maximum as number | undefined) ?? (s.exclusiveMaximum !== undefined ? (s.exclusiveMaximum as number) - 1 : 1000);
      return Math.ceil(lo) + r(Math.max(1, Math.floor(hi) - Math.ceil(lo) + 1)) + (r(8) === 0 ? pick(r, [-1, 1]) : 0);
    }
    case 'number': {
      if (s.minimum === undefined && s.maximum === undefined && s.exclusiveMinimum === undefined && s.exclusiveMaximum === undefined) return randNumber(r);
      const lo = (s.minimum ?? s.exclusiveMinimum ?? -50) as number;
      const hi = (s.maximum ?? s.exclusiveMaximum ?? 50) as number;
      return Math.round((lo - 1 + r(Math.ceil(hi - lo + 3) * 4) / 4) * 100) / 100;
    }
    case 'string': {
      if (s.format) return pick(r, FORMAT_SAMPLES[s.format as string]!);
      if (s.pattern) return pick(r, PATTERN_SAMPLES[s.pattern as string]!);
      const min = (s.minLength as number | undefined) ?? 0;
      const max = (s.maxLength as number | undefined) ?? min + 8;
      return randString(r, Math.max(0, min - (r(6) === 0 ? 1 : 0)), max + (r(6) === 0 ? 1 : 0));
    }
    case 'array': {
      const prefix = (s.prefixItems as unknown[] | undefined) ?? [];
      const min = (s.minItems as number | undefined) ?? 0;
      const max = (s.maxItems as number | undefined) ?? (s.items === false ? prefix.length : min + 4);
      const n = depth > 4 ? min : min + r(max - min + 1);
      return Array.from({ length: n }, (_, i) => generate(i < prefix.length ? prefix[i] : (s.items ?? true), root, r, depth + 1));
    }
    default: {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = (s.required ?? []) as string[];
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(props)) if (required.includes(k) || (depth < 4 && r(2) === 0)) out[k] = generate(v, root, r, depth + 1);
      for (const k of required) if (!(k in props)) out[k] = generate(s.additionalProperties ?? true, root, r, depth + 1);
      if (s.additionalProperties !== false && r(3) === 0) out[pick(r, ['extra', 'nam', 'name2', 'x"y', ''])] = generate(s.additionalProperties ?? true, root, r, depth + 1);
      return out;
    }
  }
}

/** a random change that keeps the grammar's serialization order: drop a key, change a type, add a key, change an array's length */
function mutate(value: unknown, r: Rand): unknown {
  if (Array.isArray(value)) {
    if (value.length > 0 && r(2) === 0) {
      const copy = [...value];
      const i = r(copy.length);
      copy[i] = mutate(copy[i], r);
      return copy;
    }
    return r(2) === 0 ? value.slice(0, -1) : [...value, value[0] ?? randValue(r)];
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    const k = entries.length > 0 ? r(entries.length) : -1;
    switch (r(3)) {
      case 0: return Object.fromEntries(entries.filter((_, i) => i !== k));
      case 1: return Object.fromEntries(entries.map(([key, v], i) => [key, i === k ? mutate(v, r) : v]));
      default: return Object.fromEntries([...entries, [pick(r, ['extra', 'nam', 'zzz']), randValue(r)]]);
    }
  }
  return randValue(r);
}

/** text-level damage: truncation, a bad escape, a stray character */
function damage(text: string, r: Rand): string {
  const i = r(text.length + 1);
  switch (r(3)) {
    case 0: return text.slice(0, i);
    case 1: return text.slice(0, i) + '\\q' + text.slice(i);
    default: return text.slice(0, i) + pick(r, [',', '}', '"', ']', ' ', '\u0000', '01']) + text.slice(i);
  }
}

const CORPUS: Record<string, Record<string, unknown>> = {
  person: {
    type: 'object',
    properties: { name: { type: 'string', minLength: 1 }, age: { type: 'integer', minimum: 0, maximum: 150 }, email: { type: 'string', format: 'email' }, nick: { type: 'string', maxLength: 3 } },
    required: ['name', 'age'],
    additionalProperties: false,
  },
  nested: {
    type: 'object',
    properties: {
      address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' } }, required: ['city'], additionalProperties: false },
      tags: { type: 'array', items: { enum: ['red', 'green', 'blue'] }, minItems: 1, maxItems: 3 },
    },
    required: ['address', 'tags'],
    additionalProperties: false,
  },
  enums: { type: 'object', properties: { e: { enum: ['a', 1, null, true, { x: [1, 'y'] }, [1, 2], 'q"\\é'] }, c: { const: 'fixed' }, t: { type: 'integer', enum: [1, 'one', 2.5, 3] } }, required: ['e', 'c', 't'], additionalProperties: false },
  anyOf: {
    type: 'object',
    properties: {
      v: { anyOf: [{ type: 'string', maxLength: 2 }, { type: 'integer', minimum: 10 }, { type: 'object', properties: { k: { type: 'boolean' } }, required: ['k'], additionalProperties: false }] },
      n: { type: ['string', 'null'] },
      o: { oneOf: [{ type: 'number', minimum: 0 }, { type: 'array', items: { type: 'null' } }] },
    },
    required: ['v', 'n'],
    additionalProperties: false,
  },
  recursion: {
    $defs: { node: { type: 'object', properties: { label: { type: 'string', maxLength: 4 }, children: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } }, required: ['label', 'children'], additionalProperties: false } },
    $ref: '#/$defs/node',
  },
  definitions: { definitions: { list: { anyOf: [{ type: 'null' }, { type: 'object', properties: { head: { type: 'integer' }, tail: { $ref: '#/definitions/list' } }, required: ['head', 'tail'], additionalProperties: false }] } }, $ref: '#/definitions/list' },
  tuples: { type: 'object', properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false, minItems: 1 }, some: { type: 'array', items: { type: 'boolean' }, minItems: 2, maxItems: 4 }, rest: { type: 'array', prefixItems: [{ const: 0 }], items: { type: 'string' } } }, required: ['pair', 'some'], additionalProperties: false },
  strings: {
    type: 'object',
    properties: {
      s: { type: 'string', minLength: 2, maxLength: 4 },
      d: { type: 'string', format: 'date' }, t: { type: 'string', format: 'time' }, dt: { type: 'string', format: 'date-time' }, u: { type: 'string', format: 'uuid' }, ip: { type: 'string', format: 'ipv4' },
      p: { type: 'string', pattern: '^[a-z]+-\\d{2}$' },
      q: { type: 'string', pattern: 'a"b|\\\\' },
    },
    required: ['s'],
    additionalProperties: false,
  },
  additional: { type: 'object', properties: { name: { type: 'string' }, n: { type: 'integer' } }, required: ['name'] },
  additionalSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['extra'], additionalProperties: { type: 'integer', maximum: 5 } },
  numbers: { type: 'object', properties: { a: { type: 'number', minimum: 0, maximum: 10 }, b: { type: 'number', exclusiveMinimum: -3, exclusiveMaximum: 3 }, c: { type: 'integer', exclusiveMaximum: 0 }, d: { type: 'integer', minimum: -20, maximum: -3 } }, required: ['a', 'b', 'c', 'd'], additionalProperties: false },
  discriminated: {
    $defs: { b: { type: 'object', properties: { kind: { enum: ['b', 'c'] }, y: { type: 'string', maxLength: 3 } }, required: ['kind', 'y'], additionalProperties: false } },
    type: 'object',
    properties: {
      ev: { oneOf: [{ type: 'object', properties: { kind: { type: 'string', const: 'a' }, x: { type: 'integer' } }, required: ['kind', 'x'], additionalProperties: false }, { $ref: '#/$defs/b' }] },
    },
    required: ['ev'],
    additionalProperties: false,
  },
  rootArray: { type: 'array', items: { type: ['number', 'boolean'] }, maxItems: 5 },
  anything: {},
};

describe('jsonSchemaToGbnf against ajv', () => {
  for (const [name, schema] of Object.entries(CORPUS)) {
    it(`${name}: the grammar accepts a document exactly when ajv validates it`, () => {
      const automaton = automatonFor(jsonSchemaToGbnf(schema));
      const validate = ajv.compile(schema);
      const r = makeRand(name.length * 7919 + 1);
      let valid = 0;
      let invalid = 0;
      for (let i = 0; i < 1500; i++) {
        let value = generate(schema, schema, r);
        if (r(3) === 0) value = mutate(value, r);
        let text = JSON.stringify(value, null, pick(r, [undefined, undefined, 1, 2]));
        // damaged text may leave the grammar's serialization (e.g. a space before a colon): only soundness is asserted for it
        const damaged = r(8) === 0;
        if (damaged) text = damage(text, r);
        let expected: boolean;
        try {
          expected = validate(JSON.parse(text)) as boolean;
        } catch {
          expected = false;
        }
        const got = fullMatch(automaton, text);
        if (got !== expected && (got || !damaged)) expect.fail(`${name}: grammar ${got ? 'accepts' : 'rejects'} ${text} but ajv says ${expected ? 'valid' : 'invalid'}`);
        if (expected) valid++;
        else invalid++;
      }
      expect(valid).toBeGreaterThan(100);
      expect(invalid).toBeGreaterThan(150);
    });
  }

  it('schemas as clients write them (zod toJSONSchema, openai zodResponseFormat) compile, and what they accept zod accepts', () => {
    const person = z.object({
      name: z.string(),
      email: z.email(),
      id: z.uuid(),
      when: z.iso.datetime(),
      n: z.number().int(),
      x: z.number().min(0).max(5),
      tags: z.array(z.string()).max(3),
      kind: z.enum(['a', 'b']),
      nul: z.string().nullable(),
      lit: z.literal('x'),
      u: z.union([z.string(), z.number()]),
    });
    const docs: [unknown, boolean][] = [
      [{ name: 'A', email: 'ada@example.com', id: '123e4567-e89b-12d3-a456-426614174000', when: '2024-05-06T07:08:09Z', n: 3, x: 4.5, tags: [], kind: 'a', nul: null, lit: 'x', u: 1 }, true],
      [{ name: 'A', email: 'ada@example', id: '123e4567-e89b-12d3-a456-426614174000', when: '2024-05-06T07:08:09Z', n: 3, x: 4.5, tags: [], kind: 'a', nul: null, lit: 'x', u: 1 }, false],
      [{ name: 'A', email: 'ada@example.com', id: '123e4567-e89b-02d3-a456-426614174000', when: '2024-05-06T07:08:09Z', n: 3, x: 4.5, tags: [], kind: 'a', nul: null, lit: 'x', u: 1 }, false],
      [{ name: 'A', email: 'ada@example.com', id: '123e4567-e89b-12d3-a456-426614174000', when: '2024-02-30T07:08:09Z', n: 3, x: 4.5, tags: [], kind: 'a', nul: null, lit: 'x', u: 1 }, false],
      [{ name: 'A', email: 'ada@example.com', id: '123e4567-e89b-12d3-a456-426614174000', when: '2024-05-06T07:08:09Z', n: 3, x: 5.5, tags: ['a', 'b', 'c', 'd'], kind: 'c', nul: 'y', lit: 'x', u: 's' }, false],
    ];
    const union = z.object({ ev: z.discriminatedUnion('kind', [z.object({ kind: z.literal('a'), x: z.number() }), z.object({ kind: z.literal('b'), y: z.string() })]) });
    const unionDocs: [unknown, boolean][] = [[{ ev: { kind: 'a', x: 1 } }, true], [{ ev: { kind: 'b', y: 'z' } }, true], [{ ev: { kind: 'a', y: 'z' } }, false], [{ ev: { kind: 'c', x: 1 } }, false]];
    const optional = z.object({ name: z.string(), opt: z.string().optional().nullable(), items: z.array(z.object({ k: z.string(), v: z.number() })) });
    for (const [schema, jsonSchema, samples] of [
      [person, z.toJSONSchema(person), docs],
      [person, zodResponseFormat(person, 'person').json_schema.schema, docs],
      [union, z.toJSONSchema(union), unionDocs],
      [union, zodResponseFormat(union, 'u').json_schema.schema, unionDocs],
      [optional, zodResponseFormat(optional, 'o').json_schema.schema, [[{ name: 'n', opt: null, items: [{ k: 'a', v: -1.5 }] }, true], [{ name: 'n', opt: 5, items: [] }, false]]],
    ] as [z.ZodType, unknown, [unknown, boolean][]][]) {
      const a = automatonFor(jsonSchemaToGbnf(jsonSchema));
      for (const [doc, valid] of samples) {
        expect(schema.safeParse(doc).success, `zod on ${JSON.stringify(doc)}`).toBe(valid);
        for (const indent of [undefined, 2]) expect(fullMatch(a, JSON.stringify(doc, null, indent)), JSON.stringify(doc)).toBe(valid);
      }
    }
  });

  it('fractional number bounds: never admits a number outside them (integers and fractions within whole units inside)', () => {
    for (const schema of [
      { type: 'number', minimum: 0.5, maximum: 2.25 },
      { type: 'number', exclusiveMinimum: -1.5, exclusiveMaximum: 1.75 },
      { type: 'integer', minimum: -2.5, exclusiveMaximum: 2.5 },
    ]) {
      const a = automatonFor(jsonSchemaToGbnf(schema));
      const validate = ajv.compile(schema);
      let accepted = 0;
      for (let v = -400; v <= 400; v++) {
        for (const text of [String(v / 100), (v / 100).toFixed(1), (v / 100).toFixed(3)]) {
          if (fullMatch(a, text)) {
            accepted++;
            expect(validate(JSON.parse(text)), text).toBe(true);
          }
        }
      }
      expect(accepted).toBeGreaterThan(4);
    }
  });

  it('json_object: any JSON object, nothing else', () => {
    const a = automatonFor(jsonObjectGbnf());
    const r = makeRand(5);
    for (let i = 0; i < 1000; i++) {
      const v = randValue(r);
      const text = JSON.stringify(v, null, pick(r, [undefined, 2]));
      expect(fullMatch(a, text), text).toBe(v !== null && typeof v === 'object' && !Array.isArray(v));
    }
    expect(fullMatch(a, '{"a": [1, {"b": null}], "c": "\\u00e9\\n"}')).toBe(true);
    expect(fullMatch(a, '{"a": 1,}')).toBe(false);
    expect(fullMatch(a, '{"a": 01}')).toBe(false);
  });

  it('an extra key never repeats a listed one (JSON.parse would keep the last value)', () => {
    const schema = { type: 'object', properties: { name: { type: 'string' }, n: { type: 'integer' } }, required: ['n'] };
    const a = automatonFor(jsonSchemaToGbnf(schema));
    expect(fullMatch(a, '{"name":"a","n":1,"nam":5,"names":5,"x":5}')).toBe(true);
    expect(fullMatch(a, '{"name":"a","n":1,"name":5}')).toBe(false);
    expect(fullMatch(a, '{"n":1,"n":"x"}')).toBe(false);
    expect(fullMatch(a, '{"n":1,"\\u006e":"x"}')).toBe(false); // an escape spelling a listed name
    expect(fullMatch(a, '{"n":1,"x\\u006e":"x"}')).toBe(true);
  });

  it('bounds whitespace: one short run between tokens', () => {
    const a = automatonFor(jsonSchemaToGbnf({ type: 'object', properties: { a: { type: 'integer' } } }));
    expect(fullMatch(a, '{\n  "a": 1\n}')).toBe(true);
    expect(fullMatch(a, '{  "a": 1}')).toBe(false);
    expect(fullMatch(a, `{\n${' '.repeat(21)}"a": 1}`)).toBe(false);
    expect(a.run(a.initial, enc.encode(`{\n${' '.repeat(21)}`))).toBe(DEAD);
  });

  it.each([
    [{ type: 'object', patternProperties: { x: {} } }, /unsupported keyword 'patternProperties' at #/],
    [{ type: 'object', properties: { a: { type: 'array', uniqueItems: true } } }, /unsupported keyword 'uniqueItems' at #\/properties\/a/],
    [{ type: 'number', multipleOf: 3 }, /unsupported keyword 'multipleOf'/],
    [{ type: 'object', minProperties: 1 }, /unsupported keyword 'minProperties'/],
    [{ not: { type: 'string' } }, /unsupported keyword 'not'/],
    [{ if: {}, then: {} }, /unsupported keyword 'if'/],
    [{ type: 'array', contains: { type: 'string' } }, /unsupported keyword 'contains'/],
    [{ oneOf: [{ type: 'string' }, { type: 'string', maxLength: 3 }] }, /'oneOf' is supported only when its branches have different types/],
    [{ oneOf: [{ type: 'object', properties: { k: { enum: ['a', 'b'] } }, required: ['k'] }, { type: 'object', properties: { k: { const: 'b' } }, required: ['k'] }] }, /'oneOf' is supported only when/],
    [{ oneOf: [{ type: 'object', properties: { k: { const: 'a' } } }, { type: 'object', properties: { k: { const: 'b' } }, required: ['k'] }] }, /'oneOf' is supported only when/],
    [{ allOf: [{ type: 'string' }, { maxLength: 3 }] }, /'allOf' is supported only with a single schema/],
    [{ $ref: 'http://example.com/s.json' }, /unsupported \$ref/],
    [{ $ref: '#/$defs/missing' }, /\$ref '#\/\$defs\/missing' not found/],
    [{ type: 'string', format: 'hostname' }, /unsupported format 'hostname'/],
    [{ type: 'string', pattern: '(?=a)b' }, /lookaround is not supported/],
    [{ type: 'string', pattern: '(a)\\1' }, /backreferences are not supported/],
    [{ type: 'string', maxLength: 100000 }, /'maxLength' 100000 exceeds the limit of 4096/],
    [{ type: 'string', pattern: 'a', maxLength: 3 }, /together are not supported/],
    [{ type: 'string', pattern: 'a', format: 'hostname' }, /unsupported format 'hostname'/],
    [{ type: 'integer', minimum: 5, maximum: 4 }, /the bounds admit no number/],
    [{ type: 'strin' }, /unknown type 'strin'/],
    [{ type: 'object', required: ['a'], additionalProperties: false }, /required property 'a' is not in 'properties' and additionalProperties is false/],
    [{ type: 'string', enum: [1, 2] }, /no 'enum' value has the schema's type/],
    [{ $ref: '#' }, /left-recursive/],
  ])('refuses %j', (schema, message) => {
    let error: unknown;
    try {
      lowerGrammar(parseGbnf(jsonSchemaToGbnf(schema)));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses schemas too deep or too large, quickly', () => {
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 100; i++) deep = { type: 'object', properties: { a: deep } };
    const wide = { type: 'object', properties: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`k${i}`, { type: 'string' }])) };
    const t = performance.now();
    expect(() => jsonSchemaToGbnf(deep)).toThrow(/schema too deep: nested more than 64 levels/);
    expect(() => jsonSchemaToGbnf(wide)).toThrow(/schema too large: more than 10000 subschemas/);
    let deepValue: unknown = 1;
    for (let i = 0; i < 5000; i++) deepValue = [deepValue];
    expect(() => jsonSchemaToGbnf({ const: deepValue })).toThrow(/enum\/const value nested more than 64 levels/);
    expect(performance.now() - t).toBeLessThan(2000);
  });
});
