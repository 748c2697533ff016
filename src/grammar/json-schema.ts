import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import { gbnfClass, gbnfLiteral } from './gbnf-text.js';
import { complementRanges, normalizeRanges } from './grammar-ir.js';
import { nonNegativeRange } from './integer-range.js';
import { GRAMMAR_LIMITS } from './limits.js';
import { regexToGbnf } from './regex.js';

/**
 * JSON Schema (the subset OpenAI's structured outputs documents) → GBNF for the JSON texts that
 * validate against it. Sound by construction: every keyword is either enforced by the grammar or
 * the schema is refused (InvalidRequestError naming the keyword and where it is), so the grammar
 * never admits a document the schema rejects. It admits one serialization per value shape:
 * properties in the order the schema lists them (optional ones may be left out; extra keys, where
 * allowed, come after them), strings with JSON's escapes, numbers of at most 15 integer and 16
 * fraction digits, and at most one short whitespace run (a space, or a newline and up to 20
 * spaces/tabs) between tokens, so a model cannot loop on whitespace. A `pattern` next to a `format`
 * (zod writes both, the pattern defining the format) is enforced as the pattern.
 */
export function jsonSchemaToGbnf(schema: unknown): string {
  return new SchemaCompiler(schema).compile();
}

/** GBNF for any JSON object (response_format json_object) */
export function jsonObjectGbnf(): string {
  const c = new SchemaCompiler(true);
  c.prim('object');
  return `root ::= object\n${c.text()}`;
}

/** the JSON value rules, written once each on demand */
const PRIMITIVES: Record<string, string> = {
  ws: '( " " | "\\n" [ \\t]{0,20} )?',
  char: '[^"\\\\\\x00-\\x1f] | "\\\\" ( ["\\\\/bfnrt] | "u" [0-9a-fA-F]{4} )',
  string: '"\\"" char* "\\""',
  integer: '"-"? ( "0" | [1-9] [0-9]{0,14} )',
  fraction: '"." [0-9]{1,16}',
  number: 'integer fraction? ( [eE] [-+]? [0-9]{1,2} )?',
  boolean: '"true" | "false"',
  null: '"null"',
  value: 'object | array | string | number | boolean | null',
  object: '"{" ws ( string ":" ws value ws ( "," ws string ":" ws value ws )* )? "}"',
  array: '"[" ws ( value ws ( "," ws value ws )* )? "]"',
};
const PRIMITIVE_DEPS: Record<string, string[]> = {
  string: ['char'],
  number: ['integer', 'fraction'],
  value: ['object', 'array', 'string', 'number', 'boolean', 'null'],
  object: ['ws', 'string', 'value'],
  array: ['ws', 'value'],
};

/** the largest integer the default number grammar writes (15 digits) */
const MAX_GRAMMAR_INTEGER = 10 ** 15 - 1;

const ANNOTATIONS = new Set(['title', 'description', '$schema', '$id', '$comment', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly', 'contentEncoding', 'contentMediaType', '$defs', 'definitions']);
const OBJECT_KEYWORDS = new Set(['properties', 'required', 'additionalProperties']);
const ARRAY_KEYWORDS = new Set(['items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems']);
const STRING_KEYWORDS = new Set(['minLength', 'maxLength', 'pattern', 'format']);
const NUMBER_KEYWORDS = new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf']);
const COMBINATORS = new Set(['anyOf', 'oneOf', 'allOf', '$ref', 'enum', 'const', 'type']);
const JSON_TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
type JsonType = (typeof JSON_TYPES)[number];

const FORMATS: Record<string, string> = {
  // days per month, and February 29 only in leap years (divisible by 4, centuries by 400)
  date: '[0-9]{4} "-" ( ( "01" | "03" | "05" | "07" | "08" | "10" | "12" ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | ( "04" | "06" | "09" | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ) | "02" "-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) ) | ( [0-9]{2} ( "0" [48] | [2468] [048] | [13579] [26] ) | ( "0" [048] | [2468] [048] | [13579] [26] ) "00" ) "-02-29"',
  time: '( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,9} )? ( [Zz] | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )',
  uuid: '[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}',
  // the local part's atoms and the domain's labels of the usual email regex (ajv-formats, HTML)
  email: '[a-zA-Z0-9!#$%&\'*+/=?^_`{|}~-]+ ( "." [a-zA-Z0-9!#$%&\'*+/=?^_`{|}~-]+ )* "@" ( [a-zA-Z0-9] ( [a-zA-Z0-9-]* [a-zA-Z0-9] )? "." )+ [a-zA-Z0-9] ( [a-zA-Z0-9-]* [a-zA-Z0-9] )?',
  ipv4: '( "25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9]? [0-9] ) ( "." ( "25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9]? [0-9] ) ){3}',
};
// RFC 3339: T and Z in either case (no leap seconds: :60 is never written)
FORMATS['date-time'] = `( ${FORMATS.date} ) [Tt ] ${FORMATS.time}`;

function refuse(path: string, message: string): never {
  throw new InvalidRequestError('INVALID_ARGUMENT', `json_schema: ${message} at ${untrustedText(path || '#')}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class SchemaCompiler {
  private readonly rules = new Map<string, string>();
  private readonly refRules = new Map<string, string>();
  private nodes = 0;
  private ruleCount = 0;

  constructor(private readonly root: unknown) {}

  compile(): string {
    const body = this.visit(this.root, '#', 0);
    return `root ::= ${body}\n${this.text()}`;
  }

  text(): string {
    return [...this.rules].map(([name, body]) => `${name} ::= ${body}`).join('\n') + '\n';
  }

  /** the name of primitive rule `name`, adding it (and what it uses) */
  prim(name: string): string {
    if (!this.rules.has(name)) {
      this.rules.set(name, PRIMITIVES[name]!);
      for (const dep of PRIMITIVE_DEPS[name] ?? []) this.prim(dep);
    }
    return name;
  }

  private rule(hint: string, body: string): string {
    const name = `${hint}-${++this.ruleCount}`;
    this.rules.set(name, body);
    return name;
  }

  /** a GBNF expression for the documents `schema` accepts */
  private visit(schema: unknown, path: string, depth: number): string {
    if (++this.nodes > GRAMMAR_LIMITS.maxSchemaNodes) refuse(path, `schema too large: more than ${GRAMMAR_LIMITS.maxSchemaNodes} subschemas`);
    if (depth > GRAMMAR_LIMITS.maxSchemaDepth) refuse(path, `schema too deep: nested more than ${GRAMMAR_LIMITS.maxSchemaDepth} levels`);
    if (schema === true) return this.prim('value');
    if (schema === false) refuse(path, 'schema false matches nothing');
    if (!isObject(schema)) refuse(path, 'a schema must be an object or a boolean');
    for (const key of Object.keys(schema)) {
      if (!ANNOTATIONS.has(key) && !OBJECT_KEYWORDS.has(key) && !ARRAY_KEYWORDS.has(key) && !STRING_KEYWORDS.has(key) && !NUMBER_KEYWORDS.has(key) && !COMBINATORS.has(key)) {
        refuse(path, `unsupported keyword '${untrustedText(key)}'`);
      }
    }
    const constraintKeys = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));
    if (constraintKeys.length === 0) return this.prim('value');
    const only = (keyword: string, allowed: string[] = []): void => {
      for (const k of constraintKeys) if (k !== keyword && !allowed.includes(k)) refuse(path, `'${keyword}' combined with '${untrustedText(k)}' is not supported`);
    };

    if ('$ref' in schema) {
      only('$ref');
      return this.ref(schema.$ref, path, depth);
    }
    if ('allOf' in schema) {
      only('allOf');
      const list = schema.allOf;
      if (!Array.isArray(list) || list.length !== 1) refuse(path, "'allOf' is supported only with a single schema");
      return this.visit(list[0], `${path}/allOf/0`, depth + 1);
    }
    if ('anyOf' in schema || 'oneOf' in schema) {
      const keyword = 'anyOf' in schema ? 'anyOf' : 'oneOf';
      only(keyword);
      const list = schema[keyword];
      if (!Array.isArray(list) || list.length === 0) refuse(path, `'${keyword}' must be a non-empty array`);
      if (keyword === 'oneOf') this.checkExclusive(list, path);
      const alts = list.map((s, i) => this.visit(s, `${path}/${keyword}/${i}`, depth + 1));
      return this.rule('any-of', alts.join(' | '));
    }
    const types = this.types(schema, path);
    if ('enum' in schema || 'const' in schema) {
      const keyword = 'enum' in schema ? 'enum' : 'const';
      only(keyword, ['type']);
      const values = keyword === 'enum' ? schema.enum : [schema.const];
      if (!Array.isArray(values) || values.length === 0) refuse(path, "'enum' must be a non-empty array");
      const kept = values.filter((v) => types.some((t) => hasType(v, t)));
      if (kept.length === 0) refuse(path, `no '${keyword}' value has the schema's type`);
      return this.rule(keyword, kept.map((v) => this.constant(v, path, 0)).join(' | '));
    }
    const alts = types.map((t) => this.typed(t, schema, path, depth));
    return alts.length === 1 ? alts[0]! : this.rule('types', alts.join(' | '));
  }

  /** exactly `value`, with the same whitespace freedom as any other value */
  private constant(value: unknown, path: string, depth: number): string {
    if (depth > GRAMMAR_LIMITS.maxSchemaDepth) refuse(path, `enum/const value nested more than ${GRAMMAR_LIMITS.maxSchemaDepth} levels`);
    const ws = this.prim('ws');
    if (Array.isArray(value)) {
      if (value.length === 0) return `"[" ${ws} "]"`;
      return `"[" ${ws} ${value.map((v) => `${this.constant(v, path, depth + 1)} ${ws}`).join(` "," ${ws} `)} "]"`;
    }
    if (isObject(value)) {
      const entries = Object.entries(value);
      if (entries.length === 0) return `"{" ${ws} "}"`;
      return `"{" ${ws} ${entries.map(([k, v]) => `${gbnfLiteral(JSON.stringify(k))} ":" ${ws} ${this.constant(v, path, depth + 1)} ${ws}`).join(` "," ${ws} `)} "}"`;
    }
    return gbnfLiteral(JSON.stringify(value));
  }

  /** the types a schema allows: `type` (a name or a list), else what its keywords imply, else all */
  private types(schema: Record<string, unknown>, path: string): JsonType[] {
    const t = schema.type;
    if (t !== undefined) {
      const list = Array.isArray(t) ? t : [t];
      if (list.length === 0) refuse(path, "'type' must not be empty");
      for (const x of list) if (!JSON_TYPES.includes(x as JsonType)) refuse(path, `unknown type '${untrustedText(String(x))}'`);
      const set = new Set(list as JsonType[]);
      if (set.has('number')) set.delete('integer');
      return [...set];
    }
    const keys = Object.keys(schema);
    const implied: JsonType[] = [];
    if (keys.some((k) => OBJECT_KEYWORDS.has(k))) implied.push('object');
    if (keys.some((k) => ARRAY_KEYWORDS.has(k))) implied.push('array');
    if (keys.some((k) => STRING_KEYWORDS.has(k))) implied.push('string');
    if (keys.some((k) => NUMBER_KEYWORDS.has(k))) implied.push('number');
    if (implied.length > 1) refuse(path, 'keywords for several types without a \'type\'');
    if (implied.length === 1) return implied;
    return ['object', 'array', 'string', 'number', 'boolean', 'null'];
  }

  private typed(type: JsonType, schema: Record<string, unknown>, path: string, depth: number): string {
    const foreign = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k) && !COMBINATORS.has(k));
    const own = type === 'object' ? OBJECT_KEYWORDS : type === 'array' ? ARRAY_KEYWORDS : type === 'string' ? STRING_KEYWORDS : type === 'number' || type === 'integer' ? NUMBER_KEYWORDS : new Set<string>();
    const mine = Object.fromEntries(foreign.filter((k) => own.has(k)).map((k) => [k, schema[k]]));
    switch (type) {
      case 'object': return this.object(mine, path, depth);
      case 'array': return this.array(mine, path, depth);
      case 'string': return this.string(mine, path);
      case 'number': case 'integer': return this.number(type, mine, path);
      case 'boolean': return this.prim('boolean');
      case 'null': return this.prim('null');
    }
  }

  private object(s: Record<string, unknown>, path: string, depth: number): string {
    const props = s.properties ?? {};
    if (!isObject(props)) refuse(path, "'properties' must be an object");
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) refuse(path, "'required' must be an array of strings");
    const names = Object.keys(props);
    const listed = new Set(names);
    const requiredSet = new Set(required as string[]);
    const schemas: unknown[] = names.map((n) => props[n]);
    const additional = s.additionalProperties ?? true;
    for (const r of required as string[]) {
      if (!listed.has(r)) {
        listed.add(r);
        // a required key not in properties is an additional property
        if (additional === false) refuse(path, `required property '${untrustedText(r)}' is not in 'properties' and additionalProperties is false`);
        names.push(r);
        schemas.push(additional);
      }
    }
    const ws = this.prim('ws');
    let extraFirst = '""';
    let extraRest = '""';
    if (additional !== false) {
      const value = this.visit(additional, `${path}/additionalProperties`, depth + 1);
      const kv = this.rule('extra-kv', `${this.keyNotIn(names)} ":" ${ws} ${value} ${ws}`);
      extraRest = this.rule('extra-rest', `( "," ${ws} ${kv} )*`);
      extraFirst = this.rule('extra-first', `( ${kv} ${extraRest} )?`);
    }
    // first[i] / rest[i]: properties i.. when nothing / something was written before (a comma is needed)
    let first = extraFirst;
    let rest = extraRest;
    for (let i = names.length - 1; i >= 0; i--) {
      const value = this.visit(schemas[i], `${path}/properties/${names[i]}`, depth + 1);
      const kv = `${gbnfLiteral(JSON.stringify(names[i]))} ":" ${ws} ${value} ${ws}`;
      if (requiredSet.has(names[i]!)) {
        first = this.rule('props', `${kv} ${rest}`);
        rest = this.rule('props', `"," ${ws} ${kv} ${rest}`);
      } else {
        first = this.rule('props', `${kv} ${rest} | ${first}`);
        rest = this.rule('props', `"," ${ws} ${kv} ${rest} | ${rest}`);
      }
    }
    return this.rule('object', `"{" ${ws} ${first} "}"`);
  }

  /**
   * A JSON string that is none of `names` (an extra key must not repeat a listed one: JSON.parse
   * keeps the last value). While the text so far is a prefix of a listed name, escapes are not
   * allowed (one could spell a listed name's character); once it differs, anything goes.
   */
  private keyNotIn(names: readonly string[]): string {
    interface TrieNode { word: boolean; next: Map<number, TrieNode> }
    const root: TrieNode = { word: false, next: new Map() };
    for (const name of names) {
      let node = root;
      for (const ch of name) {
        const cp = ch.codePointAt(0)!;
        let child = node.next.get(cp);
        if (!child) node.next.set(cp, (child = { word: false, next: new Map() }));
        node = child;
      }
      node.word = true;
    }
    const tail = this.rule('key-tail', `${this.prim('char')}* "\\""`);
    const emit = (node: TrieNode): string => {
      const edges = [...node.next.keys()];
      const excluded = normalizeRanges([0x22, 0x22, 0x5c, 0x5c, 0, 0x1f, ...edges.flatMap((e) => [e, e])]);
      const alts = [`${gbnfClass(complementRanges(excluded))} ${tail}`];
      for (const [cp, child] of node.next) {
        if (cp <= 0x1f || cp === 0x22 || cp === 0x5c) continue; // only reachable through escapes, which are refused here
        alts.push(`${gbnfLiteral(String.fromCodePoint(cp))} ${emit(child)}`);
      }
      if (!node.word) alts.push('"\\""');
      return this.rule('key', alts.join(' | '));
    };
    return `"\\"" ${emit(root)}`;
  }

  private array(s: Record<string, unknown>, path: string, depth: number): string {
    const count = (k: string, dflt: number): number => {
      const v = s[k] ?? dflt;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) refuse(path, `'${k}' must be a non-negative integer`);
      if (v > GRAMMAR_LIMITS.maxRepetition && v !== Infinity) refuse(path, `'${k}' ${v} exceeds the limit of ${GRAMMAR_LIMITS.maxRepetition}`);
      return v;
    };
    if (s.uniqueItems !== undefined && s.uniqueItems !== false) refuse(path, "unsupported keyword 'uniqueItems'");
    const min = count('minItems', 0);
    let max = s.maxItems === undefined ? Infinity : count('maxItems', 0);
    const prefix = s.prefixItems ?? [];
    if (!Array.isArray(prefix)) refuse(path, "'prefixItems' must be an array");
    if (s.items === false) max = Math.min(max, prefix.length);
    if (min > max) refuse(path, "'minItems' is above 'maxItems'");
    const ws = this.prim('ws');
    const itemRule = max > prefix.length ? this.visit(s.items === undefined || s.items === false ? true : s.items, `${path}/items`, depth + 1) : '';
    const at = (i: number): string => (i < prefix.length ? this.visit(prefix[i], `${path}/prefixItems/${i}`, depth + 1) : itemRule);
    if (max === 0) return this.rule('array', `"[" ${ws} "]"`);
    // items from index i (each after a comma)
    const from = (i: number): string => {
      if (i >= max) return '""';
      if (i >= prefix.length) {
        const need = Math.max(min - i, 0);
        return this.rule('items', `( "," ${ws} ${itemRule} ${ws} ){${need},${max === Infinity ? '' : max - i}}`);
      }
      const body = `"," ${ws} ${at(i)} ${ws} ${from(i + 1)}`;
      return this.rule('items', i < min ? body : `( ${body} )?`);
    };
    const firstBody = `${at(0)} ${ws} ${from(1)}`;
    return this.rule('array', `"[" ${ws} ${min > 0 ? firstBody : `( ${firstBody} )?`} "]"`);
  }

  private string(s: Record<string, unknown>, path: string): string {
    const keys = Object.keys(s);
    if (s.format !== undefined && (typeof s.format !== 'string' || FORMATS[s.format] === undefined)) {
      refuse(path, `unsupported format '${untrustedText(String(s.format))}' (supported: ${Object.keys(FORMATS).join(', ')})`);
    }
    if (s.pattern !== undefined) {
      // a pattern with a format (as zod writes them: the pattern is the format's definition) is
      // enforced as the pattern; a pattern with lengths cannot be (no intersection of the two)
      if (keys.some((k) => k !== 'pattern' && k !== 'format')) refuse(path, `'${keys.join("', '")}' together are not supported`);
      if (typeof s.pattern !== 'string') refuse(path, "'pattern' must be a string");
      return this.rule('pattern', `"\\"" ${regexToGbnf(s.pattern, { encoding: 'json-string', search: true })} "\\""`);
    }
    if (s.format !== undefined) {
      if (keys.length > 1) refuse(path, `'${keys.join("', '")}' together are not supported`);
      return this.rule('format', `"\\"" ( ${FORMATS[s.format as string]} ) "\\""`);
    }
    if (s.minLength === undefined && s.maxLength === undefined) return this.prim('string');
    const len = (k: string, dflt: number): number => {
      const v = s[k] ?? dflt;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) refuse(path, `'${k}' must be a non-negative integer`);
      if (v > GRAMMAR_LIMITS.maxRepetition) refuse(path, `'${k}' ${v} exceeds the limit of ${GRAMMAR_LIMITS.maxRepetition}`);
      return v;
    };
    const min = len('minLength', 0);
    const max = s.maxLength === undefined ? Infinity : len('maxLength', 0);
    if (min > max) refuse(path, "'minLength' is above 'maxLength'");
    return this.rule('string', `"\\"" ${this.prim('char')}{${min},${max === Infinity ? '' : max}} "\\""`);
  }

  private number(type: 'number' | 'integer', s: Record<string, unknown>, path: string): string {
    const num = (k: string): number | undefined => {
      const v = s[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) refuse(path, `'${k}' must be a number`);
      return v;
    };
    const multipleOf = num('multipleOf');
    if (multipleOf !== undefined && !(type === 'integer' && multipleOf === 1)) refuse(path, "unsupported keyword 'multipleOf'");
    const minimum = num('minimum');
    const maximum = num('maximum');
    const exMin = num('exclusiveMinimum');
    const exMax = num('exclusiveMaximum');
    if (minimum === undefined && maximum === undefined && exMin === undefined && exMax === undefined) return this.prim(type);
    // the integers the bounds allow: [lo, hi], clipped to what the default grammar writes anyway
    let lo = -MAX_GRAMMAR_INTEGER;
    let hi = MAX_GRAMMAR_INTEGER;
    if (minimum !== undefined) lo = Math.max(lo, Math.ceil(minimum));
    if (exMin !== undefined) lo = Math.max(lo, Math.floor(exMin) + 1);
    if (maximum !== undefined) hi = Math.min(hi, Math.floor(maximum));
    if (exMax !== undefined) hi = Math.min(hi, Math.ceil(exMax) - 1);
    if (lo > hi) refuse(path, 'the bounds admit no number the grammar can write');
    const alts = integersIn(lo, hi);
    if (type === 'number') {
      // I.F lies in [I, I+1): allowed when I is and I+1 is at most the upper bound (inclusive or not);
      // -I.F lies in (-(I+1), -I]: allowed when -I is and -(I+1) is at least the lower bound
      const fraction = this.prim('fraction');
      const upper = Math.min(maximum ?? Infinity, exMax ?? Infinity, MAX_GRAMMAR_INTEGER);
      const lower = Math.max(minimum ?? -Infinity, exMin ?? -Infinity, -MAX_GRAMMAR_INTEGER);
      const [plo, phi] = [Math.max(lo, 0), Math.floor(upper) - 1];
      if (plo <= phi) alts.push(...nonNegativeRange(plo, phi).map((a) => `${a} ${fraction}`));
      const [nlo, nhi] = [Math.max(-hi, 0), Math.floor(-lower) - 1];
      if (nlo <= nhi) alts.push(...nonNegativeRange(nlo, nhi).map((a) => `"-" ${a} ${fraction}`));
    }
    return this.rule(type, alts.map((a) => `( ${a} )`).join(' | '));
  }

  private ref(ref: unknown, path: string, depth: number): string {
    if (typeof ref !== 'string') refuse(path, "'$ref' must be a string");
    const known = this.refRules.get(ref);
    if (known) return known;
    let target: unknown;
    if (ref === '#') target = this.root;
    else {
      const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
      if (!m) refuse(path, `unsupported $ref '${untrustedText(ref)}' (only '#', '#/$defs/name' and '#/definitions/name')`);
      const name = decodeURIComponent(m[2]!).replace(/~1/g, '/').replace(/~0/g, '~');
      const defs = isObject(this.root) ? this.root[m[1]!] : undefined;
      if (!isObject(defs) || !Object.prototype.hasOwnProperty.call(defs, name)) refuse(path, `$ref '${untrustedText(ref)}' not found`);
      target = defs[name];
    }
    const name = `ref-${++this.ruleCount}`;
    this.refRules.set(ref, name);
    this.rules.set(name, ''); // reserved, so a recursive reference finds it
    this.rules.set(name, this.visit(target, ref, depth + 1));
    return name;
  }

  /**
   * oneOf is matched as anyOf only when no document can match two branches: their types are
   * disjoint, or they are objects with a required discriminator property whose const/enum values
   * (strings, numbers, booleans, null) differ between branches (zod's discriminatedUnion).
   */
  private checkExclusive(list: unknown[], path: string): void {
    const typeSets = list.map((s) => this.possibleTypes(s, 0));
    const disjointTypes = typeSets.every((a, i) => typeSets.every((b, j) => j <= i || ![...a].some((t) => b.has(t))));
    if (!disjointTypes && !this.discriminated(list)) {
      refuse(path, "'oneOf' is supported only when its branches have different types or a discriminator property with different constant values (use 'anyOf')");
    }
  }

  private discriminated(list: unknown[]): boolean {
    const branches = list.map((s) => this.resolve(s));
    if (!branches.every((b) => isObject(b) && (b.type === 'object' || (b.type === undefined && isObject(b.properties))) && isObject(b.properties) && Array.isArray(b.required))) return false;
    const objects = branches as Record<string, unknown>[];
    const first = objects[0]!;
    for (const name of first.required as unknown[]) {
      if (typeof name !== 'string') continue;
      const sets = objects.map((b) => {
        if (!(b.required as unknown[]).includes(name)) return undefined;
        const ps = this.resolve((b.properties as Record<string, unknown>)[name]);
        if (!isObject(ps)) return undefined;
        const values = 'const' in ps ? [ps.const] : Array.isArray(ps.enum) ? ps.enum : undefined;
        if (!values || values.some((v) => v !== null && typeof v === 'object')) return undefined;
        return new Set(values.map((v) => JSON.stringify(v)));
      });
      if (sets.some((x) => x === undefined)) continue;
      const seen = new Set<string>();
      let disjoint = true;
      for (const set of sets as Set<string>[]) {
        for (const v of set) {
          if (seen.has(v)) disjoint = false;
        }
        for (const v of set) seen.add(v);
      }
      if (disjoint) return true;
    }
    return false;
  }

  /** follows $ref (a few levels) to the schema it names; the schema itself otherwise */
  private resolve(schema: unknown, depth = 0): unknown {
    if (!isObject(schema) || typeof schema.$ref !== 'string' || depth > 16) return schema;
    if (schema.$ref === '#') return this.resolve(this.root, depth + 1);
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(schema.$ref);
    const defs = m && isObject(this.root) ? this.root[m[1]!] : undefined;
    return isObject(defs) ? this.resolve(defs[decodeURIComponent(m![2]!).replace(/~1/g, '/').replace(/~0/g, '~')], depth + 1) : schema;
  }

  private possibleTypes(schema: unknown, depth: number): Set<string> {
    const all = new Set(['object', 'array', 'string', 'number', 'boolean', 'null']);
    if (!isObject(schema) || depth > 16) return all;
    if (typeof schema.$ref === 'string') {
      const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(schema.$ref);
      const defs = m && isObject(this.root) ? this.root[m[1]!] : undefined;
      return isObject(defs) ? this.possibleTypes(defs[decodeURIComponent(m![2]!)], depth + 1) : all;
    }
    const values = 'enum' in schema && Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : undefined;
    if (values) return new Set(values.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? 'number' : typeof v)));
    if (schema.type !== undefined) {
      const list = (Array.isArray(schema.type) ? schema.type : [schema.type]).map((t) => (t === 'integer' ? 'number' : String(t)));
      return new Set(list);
    }
    return all;
  }
}

function integersIn(lo: number, hi: number): string[] {
  const alts: string[] = [];
  if (lo < 0) alts.push(...nonNegativeRange(Math.max(-hi, 1), -lo).map((a) => `"-" ${a}`));
  if (hi >= 0) alts.push(...nonNegativeRange(Math.max(lo, 0), hi));
  return alts;
}

function hasType(v: unknown, t: JsonType): boolean {
  switch (t) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'boolean': return typeof v === 'boolean';
    case 'null': return v === null;
  }
}
