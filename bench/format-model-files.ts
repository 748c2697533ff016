/**
 * The synthetic-shape half of `npm run bench:formats` (bench/formats.ts), on the Llama-3.2-1B shape
 * by default: each format's tensor types as `peregrine quantize` would choose them for that shape
 * (llama-quantize's rules, src/quant/tensor-type-rules.ts), the tensor bytes and bits per weight
 * they come to, and a seeded synthetic file in exactly those types to time (our codecs; the k-quants
 * with the synthetic writer's fast scale search, which changes bytes, not speed), cached in the
 * benchmarks' folder beside `npm run bench`'s files and shared with them where the types agree.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { resolveBenchModel, benchModelCacheDir } from '../src/benchmark/run-benchmark.js';
import { GgmlType, ggmlByteSize, ggmlTypeName } from '../src/formats/ggml-type.js';
import { readGguf } from '../src/formats/gguf/index.js';
import { LlamaFtype, resolveQuantFormat } from '../src/quant/quant-format.js';
import { planTensorTypes, type TensorTypePlan } from '../src/quant/tensor-type-rules.js';
import { resolveModelShape, type ModelShapeName } from '../src/testing/model-shapes.js';
import { syntheticTensorInfos, writeSyntheticModel, type SyntheticModelOptions, type SyntheticTensorInfo, type SyntheticWeightType } from '../src/testing/synthetic-model.js';

/** the seed and context length `npm run bench`'s files are written with (resolveBenchModel) */
const BENCH_MODEL_OPTIONS = { seed: 1, contextLength: 4096 } as const;

const f32TensorsCache = new Map<ModelShapeName, SyntheticTensorInfo[]>();

/** The shape's tensors in F32, the input `peregrine quantize` would be given (cached: planning a 128k vocabulary takes a moment). */
function f32Tensors(shapeName: ModelShapeName): SyntheticTensorInfo[] {
  let tensors = f32TensorsCache.get(shapeName);
  if (!tensors) {
    tensors = syntheticTensorInfos({ shape: shapeName, weightType: 'F32', ...BENCH_MODEL_OPTIONS });
    f32TensorsCache.set(shapeName, tensors);
  }
  return tensors;
}

export interface PlannedSize {
  readonly tensorBytes: number;
  readonly numElements: number;
  /** 8 × tensorBytes / numElements */
  readonly bitsPerWeight: number;
}

/** The shape's tensors as `peregrine quantize --format format` would type them, quantizing the shape from F32. */
export function plannedTensorTypes(shapeName: ModelShapeName, format: string): TensorTypePlan[] {
  const shape = resolveModelShape(shapeName);
  const model = { architecture: shape.architecture ?? 'llama', numLayers: shape.numLayers, numExperts: 0, numHeads: shape.numHeads, numKvHeads: shape.numKvHeads };
  return planTensorTypes(model, f32Tensors(shapeName), resolveQuantFormat(format));
}

export function plannedSize(shapeName: ModelShapeName, format: string): PlannedSize {
  const numElementsOf = new Map(f32Tensors(shapeName).map((t) => [t.name, t.shape.reduce((a, b) => a * b, 1)]));
  let tensorBytes = 0;
  let numElements = 0;
  for (const p of plannedTensorTypes(shapeName, format)) {
    const n = numElementsOf.get(p.name)!;
    tensorBytes += ggmlByteSize(p.type, n);
    numElements += n;
  }
  return { tensorBytes, numElements, bitsPerWeight: (8 * tensorBytes) / numElements };
}

/**
 * A seeded synthetic file of the shape in the format's planned types: `npm run bench`'s file for the
 * synthetic weight type when its types are the plan's, else one with the embedding and output types
 * the plan gives (e.g. Q4_0's Q6_K output), written on first use. Either way the file's types are
 * checked against the plan.
 */
export function resolveFormatModel(shapeName: ModelShapeName, format: string, log: (line: string) => void): string {
  const plan = plannedTensorTypes(shapeName, format);
  const typeOf = new Map(plan.map((p) => [p.name, p.type]));
  const weightType = syntheticWeightType(format);
  const options: SyntheticModelOptions = { shape: shapeName, weightType, ...BENCH_MODEL_OPTIONS };
  const isBenchFile = syntheticTensorInfos(options).every((t) => typeOf.get(t.name) === t.type);
  let path: string;
  if (isBenchFile) {
    path = resolveBenchModel(shapeName, weightType, log);
  } else {
    path = join(benchModelCacheDir(), `${shapeName}-${format}-quantize-types.gguf`);
    if (!existsSync(path)) {
      mkdirSync(benchModelCacheDir(), { recursive: true });
      log(`writing ${path} (seeded synthetic weights in ${format}'s types) ...`);
      writeSyntheticModel(path, { ...options, embeddingType: typeOf.get('token_embd.weight'), outputType: typeOf.get('output.weight') });
    }
  }
  const mismatches = readGguf(path).tensors.filter((t) => typeOf.get(t.name) !== t.type);
  if (mismatches.length > 0) {
    const t = mismatches[0]!;
    throw new Error(`${path}: ${mismatches.length} tensors are not in ${format}'s types, e.g. ${t.name} is ${ggmlTypeName(t.type)}, the plan says ${ggmlTypeName(typeOf.get(t.name) ?? GgmlType.F32)}`);
  }
  return path;
}

/** The synthetic writer's name for the format's types: its k-quant mixes for Q4_K / Q5_K (= _M), else the default type's. */
function syntheticWeightType(format: string): SyntheticWeightType {
  const f = resolveQuantFormat(format);
  if (f.fileType === LlamaFtype.MOSTLY_Q4_K_M) return 'Q4_K_M';
  if (f.fileType === LlamaFtype.MOSTLY_Q5_K_M) return 'Q5_K_M';
  return ggmlTypeName(f.defaultType) as SyntheticWeightType;
}
