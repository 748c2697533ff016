import { invalidParam } from '../http-error.js';
import { readRequestConstraint, type RequestConstraint } from '../structured-output.js';
import { optionalNumber, readSamplingFields, requireObject, type SamplingFields } from '../validation.js';

/** POST /v1/completions, parsed and checked. */
export interface CompletionRequest extends SamplingFields {
  readonly model: unknown;
  /** text, or token ids */
  readonly prompt: string | number[];
  /** top alternatives per token (0..20); undefined = no logprobs */
  readonly numLogprobs: number | undefined;
  /** response_format or a grammar extension field */
  readonly constraint: RequestConstraint | undefined;
}

export function parseCompletionRequest(raw: unknown): CompletionRequest {
  const body = requireObject(raw, 'body');
  if (body.echo === true) throw invalidParam('echo', `'echo' is not supported`, 'unsupported_value');
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== 1 && body.best_of !== body.n) {
    throw invalidParam('best_of', `'best_of' is not supported`, 'unsupported_value');
  }
  if (body.suffix !== undefined && body.suffix !== null) throw invalidParam('suffix', `'suffix' is not supported`, 'unsupported_value');
  return {
    model: body.model,
    prompt: readPrompt(body.prompt),
    numLogprobs: optionalNumber(body, 'logprobs', { min: 0, max: 20, isInteger: true }),
    constraint: readRequestConstraint(body),
    ...readSamplingFields(body),
  };
}

/** A non-empty string, a non-empty array of token ids, or a one-element batch of either. */
function readPrompt(value: unknown): string | number[] {
  if (value === undefined || value === null) throw invalidParam('prompt', `'prompt' is required`, 'missing_required_parameter');
  if (Array.isArray(value) && value.length === 1 && (typeof value[0] === 'string' || Array.isArray(value[0]))) {
    return readPrompt(value[0]);
  }
  if (typeof value === 'string') {
    if (value === '') throw invalidParam('prompt', `'prompt' must not be empty`);
    return value;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw invalidParam('prompt', `'prompt' must not be empty`);
    if (value.every((id) => typeof id === 'number' && Number.isInteger(id) && id >= 0)) return value as number[];
    if (value.every((p) => typeof p === 'string' || Array.isArray(p))) {
      throw invalidParam('prompt', `batched prompts are not supported; send one prompt per request`, 'unsupported_value');
    }
    throw invalidParam('prompt', `'prompt' token ids must be non-negative integers`, 'invalid_type');
  }
  throw invalidParam('prompt', `'prompt' must be a string or an array of token ids`, 'invalid_type');
}
