import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import { GGML_TYPE_TRAITS, GgmlType, type GgmlTypeName } from '../formats/ggml-type.js';
import { codecFor } from './codec.js';

/**
 * The formats `quantizeModelFile` writes, named as llama-quantize names its file types (llama.cpp's
 * tools/quantize/quantize.cpp). A format is a llama_ftype: the default tensor type and the mixture
 * rules of src/quant/tensor-type-rules.ts that go with it.
 *
 * The list is derived, not kept: every row of the type table (src/formats/ggml-type.ts) with a
 * registered codec and a llama_ftype is a format named after the type, so a new codec with its row
 * is a new format. On top of that come llama-quantize's k-quant mixtures, where their types have
 * codecs: Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, with `Q4_K` and `Q5_K` the aliases of the _M mixes as
 * in llama-quantize (so a table row's own llama_ftype for Q4_K, 14 = Q4_K_S, is not what `Q4_K` means here).
 */
export interface QuantFormat {
  /** the name `--format` takes: llama-quantize's */
  readonly name: string;
  /** llama_ftype, written as general.file_type */
  readonly fileType: number;
  /** the type most 2-D weights get */
  readonly defaultType: GgmlType;
}

/** llama_ftype values the mixture rules test (llama.h). */
export const LlamaFtype = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q8_0: 7,
  MOSTLY_Q5_0: 8,
  MOSTLY_Q4_K_S: 14,
  MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_S: 16,
  MOSTLY_Q5_K_M: 17,
  MOSTLY_Q6_K: 18,
  MOSTLY_BF16: 32,
  MOSTLY_MXFP4_MOE: 38,
} as const;

/** llama-quantize's k-quant mixtures and aliases: name → [default type, llama_ftype] */
const K_QUANT_MIXES: Readonly<Record<string, readonly [GgmlTypeName, number]>> = {
  Q4_K: ['Q4_K', LlamaFtype.MOSTLY_Q4_K_M], // llama-quantize: "alias for Q4_K_M"
  Q4_K_S: ['Q4_K', LlamaFtype.MOSTLY_Q4_K_S],
  Q4_K_M: ['Q4_K', LlamaFtype.MOSTLY_Q4_K_M],
  Q5_K: ['Q5_K', LlamaFtype.MOSTLY_Q5_K_M], // "alias for Q5_K_M"
  Q5_K_S: ['Q5_K', LlamaFtype.MOSTLY_Q5_K_S],
  Q5_K_M: ['Q5_K', LlamaFtype.MOSTLY_Q5_K_M],
};

function deriveFormats(): readonly QuantFormat[] {
  const formats = new Map<string, QuantFormat>();
  for (const t of GGML_TYPE_TRAITS) {
    if (t.hasCodec && codecFor(t.type) && t.fileType !== undefined) formats.set(t.name, { name: t.name, fileType: t.fileType, defaultType: t.type });
  }
  for (const [name, [typeName, fileType]] of Object.entries(K_QUANT_MIXES)) {
    const type = GgmlType[typeName];
    if (codecFor(type)) formats.set(name, { name, fileType, defaultType: type });
  }
  return [...formats.values()];
}

let formatsCache: readonly QuantFormat[] | undefined;

/** Every format, in type-table order then the mixtures. (Derived on first use: codecs register on import.) */
export function quantFormats(): readonly QuantFormat[] {
  formatsCache ??= deriveFormats();
  return formatsCache;
}

/** The format named `name` (case-insensitive, as llama-quantize); an unknown name is an InvalidRequestError listing the formats. */
export function resolveQuantFormat(name: string): QuantFormat {
  const found = quantFormats().find((f) => f.name.toUpperCase() === name.toUpperCase());
  if (!found) {
    throw new InvalidRequestError(
      'INVALID_ARGUMENT',
      `unknown quantization format '${untrustedText(name)}'; formats: ${quantFormats().map((f) => f.name).join(', ')}`,
    );
  }
  return found;
}
