import { stringifyForTerminal, untrustedPath, untrustedText } from '../../errors/untrusted-text.js';
import { statSync } from 'node:fs';
import { readModel } from '../../formats/read-model.js';
import { describeNativeAddon, loadNativeAddon } from '../../kernels/native/native-addon.js';
import { SUPPORTED_ARCHITECTURES } from '../../models/registry.js';
import { describeModel } from '../../models/model-info.js';
import { defineCommand, parseCommandArgs } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const INFO_COMMAND = defineCommand({
  name: 'info',
  synopsis: '[PATH] [--model PATH] [--json]',
  summary: 'Prints architecture (and whether Peregrine runs it), shapes, tensor types, parameter count and size of a GGUF model or Hugging Face directory (PATH, else --model, else the bundled stories260K), and which native addon file this installation loads.',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'the GGUF model or Hugging Face directory, when PATH is not given', default: 'the bundled stories260K' },
    json: { type: 'boolean', help: 'print the description as JSON' },
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
  if (values.json) {
    out.write(stringifyForTerminal({ ...info, format: isDirectory ? 'huggingface' : 'gguf', isSupported, nativeAddon: nativeAddon.json }, 2) + '\n');
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
  ];
  out.write(lines.join('\n') + '\n');
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
