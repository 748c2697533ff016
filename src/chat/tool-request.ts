import { z } from 'zod';
import { InvalidRequestError } from '../errors/engine-error.js';
import { fieldIssue, PARAM } from '../validation/field-issue.js';
import { isObject, optionalString, refuse, withDefault, booleanField, optional, type JsonObject } from '../validation/request-fields.js';

/** One function the model may call (OpenAI `tools[i].function`). */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string | undefined;
  /** the arguments' JSON Schema (an object schema); `{ type: 'object' }` when the tool gave none */
  readonly parameters: JsonObject;
}

/** OpenAI `tool_choice`: `auto` lets the model choose, `required` forces some call, `function` forces that one. */
export type ToolChoice = { readonly type: 'auto' } | { readonly type: 'none' } | { readonly type: 'required' } | { readonly type: 'function'; readonly name: string };

/** Tools as a prompt offers them: `isForced` when tool_choice forces a call (the grammar then spells out its shape). */
export interface ToolOffer {
  readonly tools: readonly ToolDefinition[];
  readonly isForced: boolean;
}

/** The tool fields of a chat request; undefined when it offers no tools or `tool_choice` is `none`. */
export interface ToolRequest {
  readonly tools: readonly ToolDefinition[];
  readonly choice: Exclude<ToolChoice, { type: 'none' }>;
  /** whether the model may call several tools in one turn (OpenAI's default: true) */
  readonly isParallel: boolean;
}

const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
export const MAX_TOOLS = 128;

const nameRule = `'${PARAM}' must be 1 to 64 letters, digits, '_' or '-'`;

const functionTool = z.object({
  type: z.literal('function'),
  function: z.object(
    {
      name: z.string({ error: nameRule }).regex(NAME_PATTERN, { error: nameRule }),
      description: optionalString(),
      parameters: withDefault(z.record(z.string(), z.unknown(), { error: `'${PARAM}' must be a JSON Schema object` }), { type: 'object' }),
    },
    { error: `'${PARAM}' must be an object` },
  ),
});

const toolChoice = z.union(
  [
    z.enum(['auto', 'none', 'required'], { error: `'${PARAM}' must be 'auto', 'none', 'required' or a function` }),
    z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
  ],
  { error: `'${PARAM}' must be 'auto', 'none', 'required' or { "type": "function", "function": { "name": ... } }` },
);

/** `tools`, `tool_choice`, `parallel_tool_calls`, checked as OpenAI checks them (400s name the field). */
export const TOOL_SHAPE = {
  tools: optional(
    z
      .array(
        z.discriminatedUnion('type', [functionTool], {
          error: (iss) => (isObject(iss.input) ? `'${PARAM}' must be 'function'` : `'${PARAM}' must be an object`),
        }),
        { error: `'${PARAM}' must be an array` },
      )
      .max(MAX_TOOLS, { error: (iss) => `'${PARAM}' may hold at most ${MAX_TOOLS} tools (got ${(iss.input as unknown[]).length})` }),
  ),
  tool_choice: optional(toolChoice),
  parallel_tool_calls: withDefault(booleanField(), true),
};

type ToolBody = z.output<z.ZodObject<typeof TOOL_SHAPE>>;

/** Names given once each; a forced choice names a tool that is there. */
export function refineTools({ tools = [], tool_choice: choice }: ToolBody, ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  for (const [i, tool] of tools.entries()) {
    const name = tool.function.name;
    if (names.has(name)) refuse(ctx, ['tools', i, 'function', 'name'], `tool name '${name}' is given twice`);
    names.add(name);
  }
  if (choice === 'required' && tools.length === 0) refuse(ctx, ['tool_choice'], `'tool_choice' 'required' needs 'tools'`);
  if (typeof choice === 'object' && !names.has(choice.function.name)) {
    refuse(ctx, ['tool_choice'], `'tool_choice' names '${choice.function.name}', which is not in 'tools'`);
  }
}

/** The request's tools; undefined when it offers none or `tool_choice` is `none`. */
export function toToolRequest({ tools = [], tool_choice: choice = 'auto', parallel_tool_calls: isParallel }: ToolBody): ToolRequest | undefined {
  if (tools.length === 0 || choice === 'none') return undefined;
  return {
    tools: tools.map(({ function: fn }) => ({ name: fn.name, description: fn.description, parameters: fn.parameters })),
    choice: typeof choice === 'string' ? { type: choice } : { type: 'function', name: choice.function.name },
    isParallel,
  };
}

/** The tool fields alone (the library's chat session takes them in wire form too). */
export const toolFields = z.object(TOOL_SHAPE).superRefine(refineTools).transform(toToolRequest);

/** `tools`, `tool_choice`, `parallel_tool_calls` → a ToolRequest; an InvalidRequestError naming the field (`param`) when one is wrong. */
export function readToolRequest(raw: unknown): ToolRequest | undefined {
  const result = toolFields.safeParse(raw);
  if (result.success) return result.data;
  const { param, message } = fieldIssue(result.error, raw);
  throw new InvalidRequestError('INVALID_ARGUMENT', message, { param });
}
