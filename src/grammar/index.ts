export type { CompiledConstraint, ConstraintCompiler, ConstraintSpec, TokenConstraint } from './token-constraint.js';
export { createConstraintCompiler, specToGbnf } from './constraint-compiler.js';
export { parseGbnf } from './gbnf-parser.js';
export { jsonSchemaToGbnf, jsonObjectGbnf } from './json-schema.js';
export { regexToGbnf } from './regex.js';
export { GRAMMAR_LIMITS } from './limits.js';
