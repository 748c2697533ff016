import { untrustedText } from '../errors/untrusted-text.js';
import { ModelLoadError } from '../errors/engine-error.js';
import { GgufValueType, type MetadataReader } from '../formats/gguf/index.js';
import { resolvePreTokenizer, type PreTokenizer } from './pre-tokenizer.js';
import { attrFromTokenType, MAX_TOKEN_TYPE, TokenAttr } from './token-attr.js';

/** Values of `tokenizer.ggml.model` this package can tokenize. */
export type TokenizerModel = 'llama' | 'gpt2' | 'gemma4';

/**
 * A vocabulary as llama.cpp's llama_vocab::impl::load builds it from GGUF metadata: token texts,
 * scores and attributes (including the attributes llama.cpp infers from token text), special
 * token ids, the end-of-generation set and the tokenizer flags.
 */
export interface Vocab {
  readonly model: TokenizerModel;
  /** SentencePiece (`llama`) or byte-pair encoding (`gpt2`, `gemma4`) */
  readonly isSpm: boolean;
  /** `tokenizer.ggml.pre` as llama.cpp resolves it ('default' when absent) */
  readonly preName: string;
  /** BPE only */
  readonly pre: PreTokenizer | undefined;
  /** [numTokens] token texts ('[EMPTY_i]' for empty ones, as llama.cpp renames them) */
  readonly texts: readonly string[];
  /** [numTokens] f32 scores (SPM merge priority) */
  readonly scores: Float32Array;
  /** [numTokens] TokenAttr bits */
  readonly attrs: Uint16Array;
  /** token text → id (the last id wins for duplicate texts) */
  readonly idByText: ReadonlyMap<string, number>;
  /** BPE merges: "left right" → rank (the first occurrence wins) */
  readonly mergeRanks: ReadonlyMap<string, number>;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly eotId: number | undefined;
  readonly eomId: number | undefined;
  readonly unkId: number | undefined;
  readonly padId: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly escapesWhitespace: boolean;
  readonly cleansSpaces: boolean;
  readonly endOfGenerationIds: ReadonlySet<number>;
  /** ids with CONTROL, USER_DEFINED or UNKNOWN attributes, longest text (in UTF-8 bytes) first */
  readonly specialIds: readonly number[];
}

const KEY = 'tokenizer.ggml.';

// Texts llama.cpp recognises as special tokens when the metadata does not name them.
const EOT_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>',
  '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>',
];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_PRE_TEXTS = ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'];
const FIM_SUF_TEXTS = ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'];
const FIM_MID_TEXTS = ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'];
const FIM_PAD_TEXTS = ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'];
const FIM_REP_TEXTS = ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'];
const FIM_SEP_TEXTS = ['<|file_sep|>'];
const EOG_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>',
  '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
];
const ALWAYS_RENDERED_TEXTS = ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>'];

export function loadVocab(md: MetadataReader): Vocab {
  const modelName = md.string(`${KEY}model`);
  if (modelName !== 'llama' && modelName !== 'gpt2' && modelName !== 'gemma4') {
    throw new ModelLoadError(
      'UNSUPPORTED_TOKENIZER',
      `tokenizer model '${untrustedText(modelName)}' is not supported (supported: llama (SentencePiece), gpt2 and gemma4 (BPE))`,
    );
  }
  const model: TokenizerModel = modelName;
  const isSpm = model === 'llama';
  const preName = model === 'gemma4' ? 'gemma4' : md.string(`${KEY}pre`, '');
  let pre: PreTokenizer | undefined;
  if (!isSpm) {
    pre = resolvePreTokenizer(preName);
    if (!pre) throw new ModelLoadError('UNSUPPORTED_TOKENIZER', `BPE pre-tokenizer '${untrustedText(preName)}' is not supported`);
  }

  const { texts, scores, attrs, idByText } = readTokens(md);
  const ids = readSpecialIds(md, model, pre, texts.length);
  const addBos = pre?.kind === 'gemma4' || md.bool(`${KEY}add_bos_token`, isSpm || (pre?.addsBos ?? false));
  const addEos = md.bool(`${KEY}add_eos_token`, false);

  // what llama.cpp infers from token texts, in its order
  const markControl = (id: number): void => {
    attrs[id] = attrs[id]! | TokenAttr.CONTROL;
  };
  const detect = (current: number | undefined, candidates: readonly string[]): number | undefined => {
    if (current !== undefined) return current;
    for (const text of candidates) {
      const id = idByText.get(text);
      if (id !== undefined) {
        markControl(id);
        return id;
      }
    }
    return undefined;
  };
  ids.eot = detect(ids.eot, EOT_TEXTS);
  ids.eom = detect(ids.eom, EOM_TEXTS);
  ids.fimPre = detect(ids.fimPre, FIM_PRE_TEXTS);
  ids.fimSuf = detect(ids.fimSuf, FIM_SUF_TEXTS);
  ids.fimMid = detect(ids.fimMid, FIM_MID_TEXTS);
  ids.fimPad = detect(ids.fimPad, FIM_PAD_TEXTS);
  ids.fimRep = detect(ids.fimRep, FIM_REP_TEXTS);
  ids.fimSep = detect(ids.fimSep, FIM_SEP_TEXTS);
  for (const [text, id] of idByText) {
    if (attrs[id]! & TokenAttr.CONTROL && text.includes('unused')) attrs[id] = attrs[id]! | TokenAttr.UNUSED;
  }
  const endOfGenerationIds = findEndOfGeneration(ids, idByText, attrs);

  // special tokens, longest (in UTF-8 bytes) first
  const specialIds: number[] = [];
  const byteLengths = new Map<number, number>();
  for (let id = 0; id < texts.length; id++) {
    if (attrs[id]! & (TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN)) {
      specialIds.push(id);
      byteLengths.set(id, Buffer.byteLength(texts[id]!, 'utf8'));
    }
  }
  specialIds.sort((a, b) => byteLengths.get(b)! - byteLengths.get(a)! || a - b);
  applyModelAttributes(md, attrs, idByText, specialIds);

  return {
    model,
    isSpm,
    preName: isSpm ? 'default' : preName || 'default',
    pre,
    texts,
    scores,
    attrs,
    idByText,
    mergeRanks: isSpm ? new Map() : readMergeRanks(md),
    bosId: ids.bos,
    eosId: ids.eos,
    eotId: ids.eot,
    eomId: ids.eom,
    unkId: ids.unk,
    padId: ids.pad,
    addBos,
    addEos,
    addSpacePrefix: md.bool(`${KEY}add_space_prefix`, isSpm),
    escapesWhitespace: isSpm || (pre?.escapesWhitespace ?? false),
    cleansSpaces: !isSpm && (pre?.cleansSpaces ?? false),
    endOfGenerationIds,
    specialIds,
  };
}

function readTokens(md: MetadataReader): Pick<Vocab, 'texts' | 'scores' | 'attrs' | 'idByText'> & { attrs: Uint16Array } {
  const rawTexts = md.stringArray(`${KEY}tokens`);
  const numTokens = rawTexts.length;
  const texts = rawTexts.map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
  const scores = new Float32Array(numTokens);
  // llama.cpp reads both arrays' raw bytes as float32 and int32: any other item type is garbage there
  const rawScores = md.typedArray(`${KEY}scores`, GgufValueType.FLOAT32, 'an array of float32');
  if (rawScores) {
    if (rawScores.length < numTokens) {
      throw new ModelLoadError('MISSING_METADATA', `${KEY}scores has ${rawScores.length} entries for ${numTokens} tokens`);
    }
    for (let i = 0; i < numTokens; i++) {
      const score = rawScores[i]!;
      if (!Number.isFinite(score)) throw new ModelLoadError('GGUF_CORRUPT', `${KEY}scores[${i}] is ${score}; token scores must be finite`);
      scores[i] = score;
    }
  }
  const attrs = new Uint16Array(numTokens).fill(TokenAttr.NORMAL);
  const tokenTypes = md.typedArray(`${KEY}token_type`, GgufValueType.INT32, 'an array of int32');
  if (tokenTypes) {
    if (tokenTypes.length < numTokens) {
      throw new ModelLoadError('MISSING_METADATA', `${KEY}token_type has ${tokenTypes.length} entries for ${numTokens} tokens`);
    }
    for (let i = 0; i < numTokens; i++) {
      const type = tokenTypes[i]!;
      if (type < 0 || type > MAX_TOKEN_TYPE) {
        throw new ModelLoadError('GGUF_CORRUPT', `${KEY}token_type[${i}] is ${type}; token types are 0 to ${MAX_TOKEN_TYPE} (undefined, normal, unknown, control, user-defined, unused, byte)`);
      }
      attrs[i] = attrFromTokenType(type);
    }
  }
  const idByText = new Map<string, number>();
  for (let i = 0; i < numTokens; i++) idByText.set(texts[i]!, i);
  return { texts, scores, attrs, idByText };
}

function readMergeRanks(md: MetadataReader): Map<string, number> {
  if (!md.has(`${KEY}merges`)) throw new ModelLoadError('MISSING_METADATA', `BPE tokenizer has no ${KEY}merges`);
  const merges = md.stringArray(`${KEY}merges`);
  const ranks = new Map<string, number>();
  for (let i = merges.length - 1; i >= 0; i--) ranks.set(merges[i]!, i); // backwards: the first occurrence wins
  return ranks;
}

interface SpecialIds {
  bos: number | undefined;
  eos: number | undefined;
  eot: number | undefined;
  eom: number | undefined;
  unk: number | undefined;
  pad: number | undefined;
  fimPre: number | undefined;
  fimSuf: number | undefined;
  fimMid: number | undefined;
  fimPad: number | undefined;
  fimRep: number | undefined;
  fimSep: number | undefined;
}

/** The model type's default special ids, replaced by the metadata's where those are in range. */
function readSpecialIds(md: MetadataReader, model: TokenizerModel, pre: PreTokenizer | undefined, numTokens: number): SpecialIds {
  const inRange = (id: number | undefined): number | undefined =>
    id !== undefined && Number.isInteger(id) && id >= 0 && id < numTokens ? id : undefined;
  const read = (name: string, fallback?: number): number | undefined => {
    const key = `${KEY}${name}`;
    return (md.has(key) ? inRange(md.number(key)) : undefined) ?? inRange(fallback);
  };
  const isSpm = model === 'llama';
  const bpeDefault = model === 'gpt2' ? 11 : undefined;
  return {
    bos: read('bos_token_id', pre?.hasNoBos ? undefined : isSpm ? 1 : bpeDefault),
    eos: read('eos_token_id', isSpm ? 2 : bpeDefault),
    eot: read('eot_token_id'),
    eom: read('eom_token_id'),
    unk: read('unknown_token_id', isSpm ? 0 : undefined),
    pad: read('padding_token_id'),
    // the deprecated keys are read last, so they win
    fimPre: read('prefix_token_id', read('fim_pre_token_id')),
    fimSuf: read('suffix_token_id', read('fim_suf_token_id')),
    fimMid: read('middle_token_id', read('fim_mid_token_id')),
    fimPad: read('fim_pad_token_id'),
    fimRep: read('fim_rep_token_id'),
    fimSep: read('fim_sep_token_id'),
  };
}

/** llama.cpp's special_eog_ids, with the attribute changes it makes on the way. */
function findEndOfGeneration(ids: SpecialIds, idByText: ReadonlyMap<string, number>, attrs: Uint16Array): Set<number> {
  const eog = new Set<number>();
  for (const id of [ids.fimPad, ids.fimRep, ids.fimSep]) if (id !== undefined) eog.add(id);
  for (const text of EOG_TEXTS) {
    const id = idByText.get(text);
    if (id === undefined) continue;
    eog.add(id);
    attrs[id] = attrs[id]! | TokenAttr.CONTROL;
  }
  for (const text of ALWAYS_RENDERED_TEXTS) {
    const id = idByText.get(text);
    if (id !== undefined) attrs[id] = TokenAttr.USER_DEFINED;
  }
  for (const id of [ids.eos, ids.eot, ids.eom]) if (id !== undefined) eog.add(id);

  const eogIdOf = (text: string): number | undefined => {
    const id = idByText.get(text);
    return id !== undefined && eog.has(id) ? id : undefined;
  };
  // o200k_harmony / solar-open: <|end|> ends a message, not the generation
  const hasCall = eogIdOf('<|call|>') !== undefined || eogIdOf('<|calls|>') !== undefined;
  const endId = eogIdOf('<|end|>');
  if (endId !== undefined && hasCall && (eogIdOf('<|return|>') !== undefined || eogIdOf('<|flush|>') !== undefined)) {
    eog.delete(endId);
    attrs[endId] = TokenAttr.USER_DEFINED;
  }
  // gemma4 / paddleocr: </s> is not an end of generation
  const closeSId = eogIdOf('</s>');
  if (closeSId !== undefined && eogIdOf('<|tool_response>') !== undefined) {
    eog.delete(closeSId);
    attrs[closeSId] = TokenAttr.NORMAL;
  }
  return eog;
}

/** lstrip/rstrip attributes llama.cpp sets by model or pre-tokenizer name. */
function applyModelAttributes(
  md: MetadataReader,
  attrs: Uint16Array,
  idByText: ReadonlyMap<string, number>,
  specialIds: readonly number[],
): void {
  const setAttr = (text: string, bit: number, on: boolean): void => {
    const id = idByText.get(text);
    if (id !== undefined) attrs[id] = on ? attrs[id]! | bit : attrs[id]! & ~bit;
  };
  const containsAny = (s: string, parts: readonly string[]): boolean => parts.some((p) => s.includes(p));
  const name = md.string('general.name', '').toLowerCase();
  const pre = md.string(`${KEY}pre`, '');
  const arch = md.string('general.architecture', '');
  if (containsAny(pre, ['jina-v2-de', 'jina-v2-es', 'jina-v2-code']) || containsAny(arch, ['nomic-bert-moe', 'jina-bert-v3'])) {
    setAttr('<mask>', TokenAttr.LSTRIP, true);
  } else if (containsAny(name, ['phi-3', 'phi3'])) {
    for (const id of specialIds) attrs[id] = attrs[id]! | TokenAttr.RSTRIP;
    setAttr('</s>', TokenAttr.RSTRIP, true);
    for (const text of ['<unk>', '<s>', '<|endoftext|>']) setAttr(text, TokenAttr.RSTRIP, false);
  } else if (name.includes('modern-bert')) {
    setAttr('[MASK]', TokenAttr.LSTRIP, true);
  }
}
