import { InvalidRequestError } from '../errors/engine-error.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { lowerGrammar } from './byte-program.js';
import { parseGbnf } from './gbnf-parser.js';
import { CompiledGrammar } from './grammar-constraint.js';
import { jsonObjectGbnf, jsonSchemaToGbnf } from './json-schema.js';
import { GRAMMAR_LIMITS } from './limits.js';
import { regexToGbnf } from './regex.js';
import type { CompiledConstraint, ConstraintCompiler, ConstraintSpec } from './token-constraint.js';
import { tokenTrie } from './token-trie.js';

/** compiled specs kept per compiler (least recently used dropped first) */
const CACHE_ENTRIES = 32;

/** The GBNF text a spec compiles to (before parsing). */
export function specToGbnf(spec: ConstraintSpec): string {
  switch (spec.type) {
    case 'json_object': return jsonObjectGbnf();
    case 'json_schema': return jsonSchemaToGbnf(spec.schema);
    case 'gbnf': return spec.grammar;
    case 'regex': return `root ::= ${regexToGbnf(spec.pattern, { encoding: 'raw' })}\n`;
    default: throw new InvalidRequestError('INVALID_ARGUMENT', `unknown constraint type '${String((spec as { type: unknown }).type)}'`);
  }
}

/**
 * Compiles constraint specs against `tokenizer`'s vocabulary: spec → GBNF → grammar → byte program
 * → CompiledGrammar (lazy automaton + cached masks). Compiled specs are cached by the spec's JSON
 * (key order kept: property order is part of a schema's meaning here), least recently used first out.
 */
export function createConstraintCompiler(tokenizer: Tokenizer): ConstraintCompiler {
  const cache = new Map<string, CompiledConstraint>();
  return {
    compile(spec: ConstraintSpec): CompiledConstraint {
      let key: string;
      try {
        key = JSON.stringify(spec);
      } catch (cause) {
        throw new InvalidRequestError('INVALID_ARGUMENT', 'constraint spec is not serializable as JSON (a cycle?)', { cause });
      }
      if (key === undefined || key.length > GRAMMAR_LIMITS.maxSpecChars) {
        throw new InvalidRequestError('INVALID_ARGUMENT', `constraint spec too large: over ${GRAMMAR_LIMITS.maxSpecChars} characters as JSON`);
      }
      const hit = cache.get(key);
      if (hit) {
        cache.delete(key);
        cache.set(key, hit);
        return hit;
      }
      // a user's grammar text is bounded by maxGrammarChars; generated ones by the schema limits (and this)
      const maxChars = spec.type === 'gbnf' ? GRAMMAR_LIMITS.maxGrammarChars : 32 * GRAMMAR_LIMITS.maxGrammarChars;
      const program = lowerGrammar(parseGbnf(specToGbnf(spec), 'root', maxChars));
      const compiled = new CompiledGrammar(program, tokenTrie(tokenizer));
      cache.set(key, compiled);
      if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
      return compiled;
    },
  };
}
