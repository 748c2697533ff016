import { stringifyForTerminal, untrustedPath, untrustedText } from '../../errors/untrusted-text.js';
import { statSync } from 'node:fs';
import { readModel } from '../../formats/read-model.js';
import { describeNativeAddon, loadNativeAddon } from '../../kernels/native/native-addon.js';
import { SUPPORTED_ARCHITECTURES } from '../../models/registry.js';
import { describeModel, type ModelInfo } from '../../models/model-info.js';
import { defaultContextSize, DEFAULT_MAX_CONTEXT } from '../../models/model-config.js';
import { kvCapacity, type KvCapacity } from '../../engine/kv-capacity.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { defineCommand, numberFlag, parseCommandArgs, positiveIntegerFlag } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const INFO_COMMAND = defineCommand({
  name: 'info',
  synopsis: '[PATH] [--model PATH] [--json] [--kv-memory GIB [--context-size N]]',
  summary: 'Prints architecture (and whether Peregrine runs it), shapes, tensor types, parameter count and size of a GGUF model or Hugging Face directory (PATH, else --model, else the bundled stories260K), and which native addon file this installation loads.',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'the GGUF model or Hugging Face directory, when PATH is not given', default: 'the bundled stories260K' },
    json: { type: 'boolean', help: 'print the description as JSON' },
    'kv-memory': { type: 'string', arg: 'GIB', help: 'also say how many sequences of --context-size tokens a KV cache of GIB GiB holds, per KV cache type' },
    'context-size': { type: 'string', arg: 'N', help: 'the context per sequence for --kv-memory', default: "the model's, at most 4096" },
  },
  positionals: true,
});

export function runInfo(argv: string[], out: NodeJS.WritableStream): void {
  const { values, positionals } = parseCommandArgs(argv, INFO_COMMAND);
  const path = positionals[0] ?? values.model ?? DEFAULT_MODEL_PATH;
  const info = describeModel(readModel(path));
  const isSupported = SUPPORTED_ARCHITECTURES.includes(info.architecture);
  const isDirectory = statSync(path).isDirectory();
  // not the model's: which native kernels this installation runs it on (a local compile or a prebuilt)
  const nativeAddon = describeNativeAddon(loadNativeAddon());
  const capacity = values['kv-memory'] === undefined ? undefined : kvCapacityOf(info.hyperparameters, values['kv-memory'], values['context-size']);
  if (values.json) {
    out.write(stringifyForTerminal({ ...info, format: isDirectory ? 'huggingface' : 'gguf', isSupported, nativeAddon: nativeAddon.json, kvCapacity: capacity }, 2) + '\n');
    return;
  }
  // every name and value below comes from the file: shown escaped and bounded (see untrustedText)
  const text = (s: string): string => untrustedText(s, SHOWN_VALUE_MAX_CHARS);
  const h = info.hyperparameters;
  const lines = [
    `path:          ${untrustedPath(info.path)}`,
    `architecture:  ${text(info.architecture)}${info.name ? ` (${text(info.name)})` : ''}, ${isSupported ? 'supported' : `not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`}`,
    `format:        ${isDirectory ? 'Hugging Face directory (safetensors), read as the GGUF llama.cpp converts it to' : `GGUF v${info.ggufVersion}`}`,
    `parameters:    ${formatCount(info.numParameters)} (${info.numParameters})`,
    `file size:     ${formatBytes(info.fileBytes)}`,
    `tensor types:  ${Object.entries(info.tensorTypes).map(([t, n]) => `${t} ×${n}`).join(', ')}`,
    `tokenizer:     ${text(info.tokenizer.model ?? 'none')}${info.tokenizer.pre ? ` (pre: ${text(info.tokenizer.pre)})` : ''}, ${info.tokenizer.vocabSize} tokens`,
    'shape:',
    ...Object.entries(h).map(([k, v]) => `  ${text(k)}: ${text(String(v))}`),
    `native addon:  ${nativeAddon.line}`,
    ...(capacity
      ? [
          `KV capacity:   sequences of ${capacity.contextSize} tokens in ${capacity.memoryGib} GiB of KV cache`,
          ...capacity.types.map((c) => `  ${c.kvCacheType.padEnd(5)} ${String(c.numSequences).padStart(6)}  (${formatBytes(c.bytesPerToken)} per token)`),
        ]
      : []),
  ];
  out.write(lines.join('\n') + '\n');
}

/**
 * --kv-memory's table: the KV shape from the GGUF hyperparameters (block_count, attention.head_count_kv,
 * attention.key_length, else embedding_length / attention.head_count) and kvCapacity per type.
 */
function kvCapacityOf(h: ModelInfo['hyperparameters'], memoryFlag: string, contextFlag: string | undefined): { memoryGib: number; contextSize: number; types: KvCapacity[] } {
  const memoryGib = numberFlag(memoryFlag, '--kv-memory');
  const num = (key: string): number | undefined => (typeof h[key] === 'number' ? h[key] : undefined);
  const numLayers = num('block_count');
  const numHeads = num('attention.head_count');
  const embedding = num('embedding_length');
  const headDim = num('attention.key_length') ?? (numHeads && embedding ? embedding / numHeads : undefined);
  const numKvHeads = num('attention.head_count_kv') ?? numHeads;
  if (memoryGib === undefined || !numLayers || !numKvHeads || !headDim) {
    throw new InvalidRequestError('INVALID_ARGUMENT', '--kv-memory needs a GiB amount and a model whose GGUF gives block_count and attention head counts');
  }
  const contextSize = positiveIntegerFlag(contextFlag, '--context-size') ?? defaultContextSize(num('context_length') ?? DEFAULT_MAX_CONTEXT);
  return { memoryGib, contextSize, types: kvCapacity({ numLayers, numKvHeads, headDim }, memoryGib * 2 ** 30, contextSize) };
}

/** Longest a name or metadata value is shown, in characters (longer ones end with `…` and their length). */
const SHOWN_VALUE_MAX_CHARS = 120;

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}
