/**
 * Bounds on the work one constrained-decoding spec may cause. Each is checked where the work happens
 * and refused with InvalidRequestError('INVALID_ARGUMENT', ...) naming the limit, so no request can
 * make compilation or matching hang or exhaust memory.
 */
export const GRAMMAR_LIMITS = {
  /** characters of GBNF text or of a regex pattern */
  maxGrammarChars: 256 * 1024,
  /** rules after repetition expansion (the grammar's own rules plus generated ones) */
  maxRules: 50_000,
  /** elements (terminals and rule references) after repetition expansion */
  maxElements: 400_000,
  /** the largest m or n in x{m,n} (or minLength/maxLength/minItems/maxItems of a schema) */
  maxRepetition: 4096,
  /** nesting of groups in a GBNF grammar or regex */
  maxNesting: 200,
  /** schema nodes (every object in the schema) */
  maxSchemaNodes: 10_000,
  /** schema nesting depth */
  maxSchemaDepth: 64,
  /** characters of the spec serialized as JSON */
  maxSpecChars: 512 * 1024,
  /** depth of the matcher's stack: deeper nesting of rules (e.g. JSON arrays inside arrays) is not matched */
  maxStackDepth: 2048,
  /** distinct stacks one matcher state may hold (an ambiguous grammar multiplies them) */
  maxStacksPerState: 4096,
} as const;
