/**
 * The accuracy half of `npm run bench:formats` (bench/formats.ts): every format's file quantized
 * from the reference by `quantizeModelFile` (and, for the 4-bit types calibration handles, a
 * calibrated one), scored against the reference on a text by `evaluateAgainstReference` (what
 * `peregrine eval` runs), and checked against its default gate with `checkGate`, the gate's anchor
 * (the reference quantized to the anchor format, as `peregrine eval --gate` makes it) scored in the
 * same pass. A model's statistics do not depend on the other models in the pass: each one is
 * compared, window by window, with the same reference log-probabilities.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/engine/loaded-model.js';
import type { Model } from '../src/engine/model.js';
import { InvalidRequestError } from '../src/errors/engine-error.js';
import { checkGate, findGate, type AccuracyGate, type AnchorFormat, type GateOutcome } from '../src/eval/accuracy-gates.js';
import type { DivergenceStatistics } from '../src/eval/divergence-statistics.js';
import { evaluateAgainstReference } from '../src/eval/evaluate-against-reference.js';
import { DEFAULT_GATE_WINDOW_TOKENS, gateForFormat } from '../src/planner/format-gate.js';
import { CALIBRATED_TYPES } from '../src/quant/calibration.js';
import { resolveQuantFormat } from '../src/quant/quant-format.js';
import { quantizeModelFile } from '../src/quant/quantize-model.js';

/** One file to score: a format, calibrated or not. */
export interface FormatVariant {
  /** llama-quantize's name, as `--format` takes it */
  readonly format: string;
  readonly isCalibrated: boolean;
}

export function variantLabel(v: FormatVariant): string {
  const name = v.format.toUpperCase() === 'Q4_K' ? 'Q4_K (Q4_K_M)' : v.format.toUpperCase() === 'Q5_K' ? 'Q5_K (Q5_K_M)' : v.format;
  return v.isCalibrated ? `${name}, calibrated` : name;
}

/** Each format, each 4-bit one (a default type calibration changes: CALIBRATED_TYPES) followed by its calibrated variant. */
export function formatVariants(formats: readonly string[]): FormatVariant[] {
  return formats.flatMap((format) => {
    const plain = { format, isCalibrated: false };
    return CALIBRATED_TYPES.includes(resolveQuantFormat(format).defaultType) ? [plain, { format, isCalibrated: true }] : [plain];
  });
}

/** The default gate a variant is held to: `calibrated-4bit` when calibrated, else its format's (FP8_E4M3: fp8), or none (F32, Q6_K, ...). */
export function gateForVariant(v: FormatVariant): AccuracyGate | undefined {
  return v.isCalibrated ? findGate('calibrated-4bit') : gateForFormat(v.format);
}

export interface AccuracyRow {
  readonly variant: FormatVariant;
  /** 8 × tensor bytes / weights of the quantized reference */
  readonly bitsPerWeight: number;
  /**
   * tensors left in the reference's type because the format has no type Peregrine can write for
   * their row length (NVFP4's 64-blocks have no fallback in llama.cpp; Q5_K's, Q5_1, has no codec)
   */
  readonly keptTensors: readonly string[];
  /** the quantized reference's matrices (2-D tensors) by output type, most first: what was really scored */
  readonly matrixTypes: readonly { readonly type: string; readonly count: number }[];
  readonly statistics: DivergenceStatistics;
  /** the gate's verdict and its anchor's statistics on the same windows; undefined without a default gate */
  readonly gate: { readonly outcome: GateOutcome; readonly anchor: DivergenceStatistics } | undefined;
}

export interface AccuracyResult {
  readonly rows: readonly AccuracyRow[];
  /** the eval text's tokens, windows and window length, as `peregrine eval` reports them */
  readonly numTextTokens: number;
  readonly numWindows: number;
  readonly contextSize: number;
}

export interface AccuracyOptions {
  /** the F32/F16/BF16 GGUF every file is quantized from and compared with */
  readonly referencePath: string;
  /** the text the files are scored on */
  readonly evalText: string;
  /** the text calibrated variants are calibrated on (required when there is one); it should not be the eval text */
  readonly calibrationText?: string;
  readonly log?: (line: string) => void;
}

export async function measureFormatAccuracy(variants: readonly FormatVariant[], options: AccuracyOptions): Promise<AccuracyResult> {
  const log = options.log ?? (() => {});
  if (variants.some((v) => v.isCalibrated) && options.calibrationText === undefined) throw new Error('a calibrated variant needs a calibration text');
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-bench-formats-'));
  try {
    const files: { readonly path: string; readonly bitsPerWeight: number; readonly keptTensors: readonly string[]; readonly matrixTypes: AccuracyRow['matrixTypes'] }[] = [];
    for (const v of variants) {
      log(`quantizing the reference to ${variantLabel(v)} ...`);
      const path = join(dir, `${v.format}${v.isCalibrated ? '-calibrated' : ''}.gguf`);
      const calibrationText = v.isCalibrated ? options.calibrationText : undefined;
      const { report, keptTensors } = await quantizeKeepingMisfits(options.referencePath, path, v.format, calibrationText);
      files.push({ path, bitsPerWeight: (8 * report.outputTensorBytes) / report.numElements, keptTensors, matrixTypes: countMatrixTypes(report.tensors) });
    }
    // as `peregrine eval --gate`: the reference quantized to the anchor format, nothing kept
    const anchors = [...new Set(variants.flatMap((v) => gateForVariant(v)?.anchor ?? []))];
    const anchorPaths = new Map<AnchorFormat, string>();
    for (const anchor of anchors) {
      log(`quantizing the reference to ${anchor} (gate anchor) ...`);
      const path = join(dir, `anchor-${anchor}.gguf`);
      await quantizeModelFile(options.referencePath, path, { format: anchor });
      anchorPaths.set(anchor, path);
    }

    using reference = await loadModel(options.referencePath);
    const models: Model[] = [];
    try {
      for (const path of [...files.map((f) => f.path), ...anchorPaths.values()]) models.push(await loadModel(path));
      const contextSize = Math.min(DEFAULT_GATE_WINDOW_TOKENS, ...[reference, ...models].map((m) => m.contextSize));
      const result = await evaluateAgainstReference(reference, models, options.evalText, {
        contextSize,
        onProgress: (done, total) => log(`scoring ${models.length} files against the reference: window ${done}/${total}`),
      });
      const anchorStatistics = new Map([...anchorPaths.keys()].map((a, i) => [a, result.statistics[files.length + i]!]));
      const rows = variants.map((variant, i): AccuracyRow => {
        const statistics = result.statistics[i]!;
        const gate = gateForVariant(variant);
        const anchor = gate && anchorStatistics.get(gate.anchor)!;
        return {
          variant,
          bitsPerWeight: files[i]!.bitsPerWeight,
          keptTensors: files[i]!.keptTensors,
          matrixTypes: files[i]!.matrixTypes,
          statistics,
          gate: gate && anchor ? { outcome: checkGate(gate, statistics, anchor), anchor } : undefined,
        };
      });
      return { rows, numTextTokens: result.numTextTokens, numWindows: result.numWindows, contextSize };
    } finally {
      for (const m of models) m.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** output types of the 2-D tensors, most frequent first (ties by name) */
function countMatrixTypes(tensors: readonly { readonly shape: readonly number[]; readonly outputType: string }[]): AccuracyRow['matrixTypes'] {
  const counts = new Map<string, number>();
  for (const t of tensors) if (t.shape.filter((d) => d > 1).length === 2) counts.set(t.outputType, (counts.get(t.outputType) ?? 0) + 1);
  return [...counts].map(([type, count]) => ({ type, count })).sort((a, b) => b.count - a.count || a.type.localeCompare(b.type));
}

/**
 * quantizeModelFile, keeping in their input type the tensors for which the format has no type
 * Peregrine can write (the quantizer refuses them by name before it reads any weights), one at a time.
 */
async function quantizeKeepingMisfits(inputPath: string, outputPath: string, format: string, calibrationText: string | undefined) {
  const keptTensors: string[] = [];
  for (;;) {
    try {
      const keep = keptTensors.map((name) => `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
      const report = await quantizeModelFile(inputPath, outputPath, { format, keep, calibrationText });
      return { report, keptTensors };
    } catch (err) {
      const name = misfitTensor(err);
      if (name === undefined || keptTensors.includes(name)) throw err;
      keptTensors.push(name);
    }
  }
}

/** The tensor named by the quantizer's refusal of a row length the format's types cannot hold (tensor-type-rules.ts, quantize-model.ts). */
function misfitTensor(err: unknown): string | undefined {
  if (!(err instanceof InvalidRequestError) || (err.code !== 'INVALID_ARGUMENT' && err.code !== 'UNSUPPORTED_TENSOR_TYPE')) return undefined;
  return /^tensor '([^']+)' (?:has rows of \d+, not a multiple|\[[\d,]+\] would be \w+ in)/.exec(err.message)?.[1];
}
