import type { ConstraintSpec } from '../grammar/token-constraint.js';
import type { JsonObject } from '../validation/request-fields.js';
import type { ToolDefinition, ToolRequest } from './tool-request.js';
import { HERMES_OPEN, MISTRAL_MARKER, type ToolFamily } from './tool-call-family.js';
import { ToolCallStream } from './tool-call-stream.js';

export { detectToolFamily, type ToolFamily } from './tool-call-family.js';

/** A parsed call: `arguments` is a JSON object's text, as the model wrote it without the whitespace between tokens. */
export interface ParsedToolCall {
  readonly name: string;
  readonly arguments: string;
}

/** A turn that holds tool calls: `content` is the text around them ('' when none). */
export interface ParsedToolTurn {
  readonly content: string;
  readonly toolCalls: readonly ParsedToolCall[];
}

/**
 * A whole output's tool calls, or undefined when it holds none (then it is plain content): every
 * call must be JSON naming one of `tools`, with an object of arguments; text that fails to be a call
 * is content (see ToolCallStream, which reads outputs as they stream, with the same result).
 */
export function parseToolCalls(family: ToolFamily, text: string, tools: readonly ToolDefinition[]): ParsedToolTurn | undefined {
  const stream = new ToolCallStream(family, new Set(tools.map((t) => t.name)), { isLive: false });
  let content = '';
  const toolCalls: { name: string; arguments: string }[] = [];
  for (const event of [...stream.push(text), ...stream.finish()]) {
    if (event.type === 'content') content += event.text;
    else if (event.type === 'call') toolCalls.push({ name: event.name, arguments: '' });
    else toolCalls[event.index]!.arguments += event.text;
  }
  return toolCalls.length === 0 ? undefined : { content, toolCalls };
}

/**
 * A forced call (tool_choice `required` or a named function) as a constraint: `prefix` is appended to
 * the prompt (the family's opening marker, so the output is the JSON alone) and `spec` constrains
 * the output to calls of `tools` whose arguments match their parameter schemas. Llama 3 and Hermes
 * make one call; Mistral and generic an array (one call unless `isParallel`).
 */
export function forcedToolCall(family: ToolFamily, tools: readonly ToolDefinition[], isParallel: boolean): { prefix: string; spec: ConstraintSpec } {
  const argumentKey = family === 'llama3' ? 'parameters' : 'arguments';
  // each tool's `$defs` move to the root, where their '#/$defs/...' refs now point
  const defs: JsonObject = {};
  const calls = tools.map((tool) => {
    const { $defs, ...parameters } = tool.parameters;
    if (typeof $defs === 'object' && $defs !== null) Object.assign(defs, $defs);
    return {
      type: 'object',
      properties: { name: { const: tool.name }, [argumentKey]: parameters },
      required: ['name', argumentKey],
      additionalProperties: false,
    };
  });
  const withDefs = (schema: JsonObject): JsonObject => (Object.keys(defs).length > 0 ? { ...schema, $defs: defs } : schema);
  const call: JsonObject = calls.length === 1 ? calls[0]! : { anyOf: calls };
  const array = { type: 'array', items: call, minItems: 1, ...(isParallel ? {} : { maxItems: 1 }) };
  switch (family) {
    case 'llama3':
      return { prefix: '', spec: { type: 'json_schema', schema: withDefs(call) } };
    case 'hermes':
      return { prefix: `${HERMES_OPEN}\n`, spec: { type: 'json_schema', schema: withDefs(call) } };
    case 'mistral':
      return { prefix: MISTRAL_MARKER, spec: { type: 'json_schema', schema: withDefs(array) } };
    case 'generic': {
      const schema = { type: 'object', properties: { tool_calls: array }, required: ['tool_calls'], additionalProperties: false };
      return { prefix: '', spec: { type: 'json_schema', schema: withDefs(schema) } };
    }
  }
}

/**
 * The forced call a request's tool_choice asks for, or undefined for `auto`: a named function is
 * called once; `required` may call several tools when parallel tool calls are allowed.
 */
export function forcedToolCallFor(family: ToolFamily, request: ToolRequest): { prefix: string; spec: ConstraintSpec } | undefined {
  const choice = request.choice;
  if (choice.type === 'function') return forcedToolCall(family, request.tools.filter((t) => t.name === choice.name), false);
  if (choice.type === 'required') return forcedToolCall(family, request.tools, request.isParallel);
  return undefined;
}

/**
 * The system text that offers tools to a model whose template ignores them (the generic family).
 * A forced call lists only the tools' names and descriptions: the grammar spells out each call's
 * shape token by token, and small contexts have no room for the schemas.
 */
export function genericToolsPrompt(tools: readonly ToolDefinition[], isForced = false): string {
  if (isForced) {
    const list = tools.map((t) => (t.description ? `${t.name} (${t.description})` : t.name)).join(', ');
    return `Call one of these tools: ${list}. Answer with only a JSON object: {"tool_calls": [{"name": ..., "arguments": {...}}]}.`;
  }
  const list = tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters }));
  return (
    `You can call these tools:\n${JSON.stringify(list)}\n` +
    `To call tools, answer with only a JSON object: {"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}. ` +
    `Otherwise answer normally.`
  );
}
