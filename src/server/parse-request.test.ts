import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { HttpError } from './http-error.js';
import { PARAM, paramOf } from '../validation/field-issue.js';
import { parseRequest } from './parse-request.js';
import { numberIn, optional, refuse } from '../validation/request-fields.js';

const schema = z
  .object({
    items: z.array(z.object({ name: z.string() })),
    count: optional(numberIn({ min: 1, max: 4, isInteger: true })),
    kind: optional(z.discriminatedUnion('type', [z.object({ type: z.literal('a') })])),
    note: optional(z.string().min(1, { error: `'${PARAM}' must not be empty` })),
  })
  .superRefine((body, ctx) => {
    if (body.items.length > 2) refuse(ctx, ['items'], 'too many items', 'unsupported_value');
  });

function errorOf(body: unknown) {
  try {
    parseRequest(schema, body);
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return (err as HttpError).toBody().error;
  }
  throw new Error('parsed');
}

describe('parseRequest: the first zod issue as a 400 naming the field by its path', () => {
  it('names paths as the OpenAI API does', () => {
    expect(paramOf([])).toBe('body');
    expect(paramOf(['messages', 0, 'content', 2, 'type'])).toBe('messages[0].content[2].type');
  });

  it.each([
    [[], 'body', 'invalid_type', "'body' must be a JSON object"],
    [{}, 'items', 'missing_required_parameter', "'items' is required"],
    [{ items: [{ name: 3 }] }, 'items[0].name', 'invalid_type', "'items[0].name' must be a string"],
    [{ items: [], count: 1.5 }, 'count', 'invalid_type', "'count' must be an integer"],
    [{ items: [], count: 'x' }, 'count', 'invalid_type', "'count' must be a number"],
    [{ items: [], count: 9 }, 'count', 'invalid_value', "'count' must be >= 1 and <= 4 (got 9)"],
    [{ items: [], kind: { type: 'b' } }, 'kind.type', 'unsupported_value', undefined],
    [{ items: [], note: '' }, 'note', 'invalid_value', "'note' must not be empty"],
    [{ items: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }, 'items', 'unsupported_value', 'too many items'],
  ])('%j → %s (%s)', (body, param, code, message) => {
    const error = errorOf(body);
    expect(error).toMatchObject({ type: 'invalid_request_error', param, code });
    if (message !== undefined) expect(error.message).toBe(message);
  });

  it('null counts as absent; the output is the parsed value', () => {
    expect(parseRequest(schema, { items: [], count: null, note: null, extra: 1 })).toEqual({ items: [], count: undefined, kind: undefined, note: undefined });
  });
});
