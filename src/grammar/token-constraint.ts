/**
 * What the engine needs from a constrained-decoding request (JSON schema, json_object, a GBNF grammar,
 * a forced tool call): which tokens may come next, and what has been generated so far.
 *
 * One TokenConstraint per request (it holds that request's matcher state); the compiled grammar it
 * matches against is shared and cached (see ConstraintCompiler). The engine calls, per step:
 *   fillAllowedMask(mask) → masks the logits row (disallowed → -Infinity) → samples → acceptToken(id).
 * A request's constraint is released with its KV blocks (dispose).
 */
export interface TokenConstraint {
  /**
   * Sets bit t (mask[t >>> 5] & (1 << (t & 31))) for every token t that may come next and clears every
   * other bit. `mask.length` is ceil(vocabSize / 32). End-of-generation tokens are allowed exactly
   * when `canEnd`; other control tokens never.
   *
   * Both this and acceptToken may throw InvalidRequestError('INVALID_ARGUMENT') when the grammar
   * turns out too ambiguous for the matcher's bounds (GRAMMAR_LIMITS.maxStacksPerState): fail that
   * request, not the engine. The first call for a new matcher state walks the vocabulary (a few
   * milliseconds at 128K tokens); states met before, by this request or another with the same spec,
   * are served from a cache.
   */
  fillAllowedMask(mask: Uint32Array): void;
  /** Advances over a sampled token. Throws (an invariant failure) if the token was not allowed. */
  acceptToken(tokenId: number): void;
  /** the output so far is a complete match: an end-of-generation token may be sampled */
  readonly canEnd: boolean;
  /** no token can extend the output: the request should finish ('stop') now */
  readonly mustEnd: boolean;
  /** frees per-request state; the constraint is not used afterwards */
  dispose(): void;
}

/** What a request asks to be constrained to. */
export type ConstraintSpec =
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly schema: unknown }
  | { readonly type: 'gbnf'; readonly grammar: string }
  | { readonly type: 'regex'; readonly pattern: string };

/** A spec compiled against one vocabulary; shared by every request with the same spec. */
export interface CompiledConstraint {
  /** a fresh matcher at the start of the output */
  create(): TokenConstraint;
}

/**
 * Compiles specs against the loaded model's vocabulary, caching per spec. `compile` throws
 * InvalidRequestError('INVALID_ARGUMENT', ...) naming the problem for an unsupported schema feature, a
 * schema too large or deep, or an invalid grammar; its work is bounded (never a hang).
 */
export interface ConstraintCompiler {
  compile(spec: ConstraintSpec): CompiledConstraint;
}
