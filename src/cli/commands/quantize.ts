import { readFileSync } from 'node:fs';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { untrustedPath } from '../../errors/untrusted-text.js';
import { quantFormats } from '../../quant/index.js';
import { quantizeModelFile } from '../../quant/quantize-model.js';
import { defineCommand, parseCommandArgs, threadsFlag, TOKENIZER_FLAG } from '../args.js';
import { ProgressBar, type ProgressStream } from '../progress-bar.js';

export const QUANTIZE_COMMAND = defineCommand({
  name: 'quantize',
  synopsis: '--input IN --output OUT --format F [--calibration TEXT] [--keep PATTERN]',
  summary:
    'Writes a GGUF model or a Hugging Face directory (F32, F16 or BF16 weights) as a GGUF in a quantized format, with the tensor types and bytes ' +
    "llama.cpp's llama-quantize writes for that format (norms and other 1-D tensors stay as they are; output and tied " +
    'embeddings, k-quant mixes and shape fallbacks follow its rules). With --calibration, the 4-bit types (Q4_0, Q4_K, ' +
    'MXFP4, NVFP4) are calibrated on a text, as llama.cpp\'s imatrix and AWQ do: the model runs over it, and the mean ' +
    'squared activations weight the rounding, and per-channel scales found on them (Q4_0, Q4_K, NVFP4) are folded into the ' +
    'norms before q/k/v and gate/up; the rounding of Q5_0, Q5_K and Q6_K (in k-quant mixes) is weighted too. A progress bar shows on a terminal.',
  flags: {
    input: { type: 'string', arg: 'PATH', help: 'the model to quantize: a GGUF or a Hugging Face directory, in F32, F16 or BF16' },
    output: { type: 'string', arg: 'PATH', help: 'where to write the quantized GGUF (written under a temporary name, then renamed)' },
    format: { type: 'string', arg: 'F', help: `one of ${quantFormats().map((f) => f.name).join(', ')} (Q4_K is Q4_K_M, Q5_K is Q5_K_M, as in llama-quantize)` },
    calibration: {
      type: 'string',
      arg: 'TEXT',
      help: 'a UTF-8 text file to calibrate the 4-bit types on (Q4_0, Q4_K, MXFP4, NVFP4; also Q5_0, Q5_K, Q6_K; other types are unchanged); the model runs over it in windows of 512 tokens',
    },
    tokenizer: TOKENIZER_FLAG,
    keep: { type: 'string', arg: 'PATTERN', multiple: true, help: 'leave tensors whose names match this regular expression in their input type' },
    threads: {
      type: 'string',
      arg: 'N',
      help: 'threads converting tensors (above 1, worker threads, while the main thread writes in order; the file is the same bytes whatever N)',
      default: 'all cores',
    },
    json: { type: 'boolean', help: 'print the report (every tensor, its input and output type) as JSON on stdout' },
  },
});

export async function runQuantize(argv: string[], out: NodeJS.WritableStream, err: ProgressStream): Promise<void> {
  const { values } = parseCommandArgs(argv, QUANTIZE_COMMAND);
  for (const flag of ['input', 'output', 'format'] as const) {
    if (values[flag] === undefined) throw new InvalidRequestError('INVALID_ARGUMENT', `--${flag} is required (see peregrine quantize --help)`);
  }
  const threads = threadsFlag(values.threads);
  const calibrationText = values.calibration === undefined ? undefined : readCalibrationText(values.calibration);
  const calibrationBar = new ProgressBar(err, 'calibrating');
  const bar = new ProgressBar(err, `quantizing to ${values.format}`);
  const controller = new AbortController();
  const abort = (): void => controller.abort(new InvalidRequestError('INVALID_ARGUMENT', 'interrupted; nothing was written'));
  process.once('SIGINT', abort);
  const started = Date.now();
  try {
    const report = await quantizeModelFile(values.input!, values.output!, {
      format: values.format!,
      keep: values.keep ?? [],
      ...(values.tokenizer !== undefined && { tokenizer: values.tokenizer }),
      ...(threads !== undefined && { threads }),
      ...(calibrationText !== undefined && {
        calibrationText,
        onCalibrationProgress: (done: number, total: number) => {
          calibrationBar.update(done, total, `${done}/${total} windows`);
          if (done === total) calibrationBar.finish();
        },
      }),
      onProgress: (done, total, name) => bar.update(done, total, name),
      signal: controller.signal,
    });
    bar.finish();
    const mib = (n: number): string => (n / 2 ** 20).toFixed(2);
    const bpw = (n: number): string => ((n * 8) / report.numElements).toFixed(2);
    const changed = report.tensors.filter((t) => t.inputType !== t.outputType).length;
    err.write(
      `peregrine: ${untrustedPath(report.outputPath)}: ${report.format} (file type ${report.fileType}), ` +
        `${mib(report.inputBytes)} MiB (${bpw(report.inputTensorBytes)} bits/weight) -> ${mib(report.outputBytes)} MiB (${bpw(report.outputTensorBytes)} bits/weight), ` +
        `${changed} of ${report.tensors.length} tensors converted` +
        (report.numFallbacks ? `, ${report.numFallbacks} in a fallback type (row length not a multiple of the block)` : '') +
        ` in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    const c = report.calibration;
    if (c) {
      const scaled = c.groups.filter((g) => g.alpha > 0).length;
      err.write(
        `peregrine: calibrated on ${c.numTokens} tokens (${c.numWindows} windows): ${c.numWeighted} tensors rounded by importance, ` +
          `${scaled} of ${c.groups.length} norms' matrices scaled (AWQ); ` +
          (c.numWeighted === 0
            ? 'no tensor is in a type calibration changes (Q4_0, Q4_K, MXFP4, NVFP4; Q5_0, Q5_K, Q6_K), so calibration changed nothing'
            : 'tensors in other types are quantized as without calibration') +
          '\n',
      );
    }
    if (values.json) out.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    calibrationBar.finish();
    bar.finish();
    process.off('SIGINT', abort);
  }
}

function readCalibrationText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e)).split(', ')[0]!; // without the raw path Node appends
    throw new InvalidRequestError('INVALID_ARGUMENT', `--calibration: cannot read ${untrustedPath(path)}: ${reason}`, { cause: e });
  }
}
