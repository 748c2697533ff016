import { ModelLoadError } from '../../errors/engine-error.js';
import { untrustedText } from '../../errors/untrusted-text.js';
import { gguf, GgufValueType, type GgufValue } from '../gguf/index.js';

/**
 * tokenizer.json (+ tokenizer_config.json) → the `tokenizer.*` GGUF metadata llama.cpp's
 * convert_hf_to_gguf.py writes for it, so the tokenizer built from it is the one built from the
 * converted GGUF (src/tokenizer reads only that). Three kinds of tokenizer.json are understood:
 * - byte-level BPE (GPT-2, Llama 3, Qwen): tokenizer.ggml.model 'gpt2', the pre-tokenizer named
 *   by its split expression (llama.cpp identifies it by hashing the tokenizer's output; the
 *   expressions below are the ones those names stand for);
 * - BPE over text with spaces replaced by U+2581 and byte fallback, no prefix space (Gemma 3):
 *   tokenizer.ggml.model 'gemma4', llama.cpp's name for exactly this tokenizer;
 * - the same with a prefix space (normalizer Prepend "▁", Replace " " → "▁": Llama 2, Mistral 7B
 *   v0.1, TinyLlama): SentencePiece BPE, tokenizer.ggml.model 'llama', scores from the merges'
 *   order (see spmScores), <unk> the unknown token.
 * Anything else (WordPiece, Unigram, an unknown split expression)
 * is UNSUPPORTED_TOKENIZER naming what the file declares. A normalizer of NFC (Qwen) is not
 * applied, as llama.cpp does not apply it.
 */

/** token types of llama.cpp (gguf.TokenType) */
const NORMAL = 1;
const UNUSED = 5;
const CONTROL = 3;
const USER_DEFINED = 4;
const BYTE = 6;
const UNKNOWN = 2;

/** Llama 2's normalizer: Prepend "▁", then Replace " " → "▁" (SentencePiece's prefix space and escaping) */
function isLlama2Normalizer(normalizer: unknown): boolean {
  if (!isObject(normalizer) || normalizer['type'] !== 'Sequence' || !Array.isArray(normalizer['normalizers'])) return false;
  const [prepend, replace, ...rest] = normalizer['normalizers'] as unknown[];
  return rest.length === 0 && isObject(prepend) && prepend['type'] === 'Prepend' && prepend['prepend'] === '\u2581' &&
    isObject(replace) && replace['type'] === 'Replace' && isObject(replace['pattern']) && (replace['pattern'] as Json)['String'] === ' ' && replace['content'] === '\u2581';
}

/**
 * SentencePiece scores for a Llama 2-style tokenizer.json, from its merges: transformers'
 * LlamaConverter lists the merges in the order of the merged piece's score, and llama.cpp's SPM
 * tokenizer merges the adjacent pair whose piece scores highest, so a piece scores −(rank of the
 * first merge giving it). A piece no merge gives scores below all of those.
 */
function spmScores(numTokens: number, merges: readonly string[], idOf: (text: string) => number | undefined): number[] {
  const scores = Array.from({ length: numTokens }, (_, id) => -(merges.length + id));
  const isSet = new Uint8Array(numTokens);
  merges.forEach((merge, rank) => {
    const id = idOf(merge.replace(' ', ''));
    if (id !== undefined && id < numTokens && !isSet[id]) {
      scores[id] = -rank;
      isSet[id] = 1;
    }
  });
  return scores;
}

/** tokenizer.json's Split expressions → llama.cpp's pre-tokenizer names */
const SPLIT_EXPRESSIONS: ReadonlyMap<string, string> = new Map([
  ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 'llama-bpe'],
  ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 'qwen2'],
]);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface HfTokenizerFiles {
  /** tokenizer.json, parsed */
  readonly tokenizer: unknown;
  /** tokenizer_config.json, parsed (absent: {}) */
  readonly tokenizerConfig?: unknown;
  /** config.json's bos_token_id / eos_token_id, the converter's fallback */
  readonly modelConfig?: unknown;
  /** tokens the model has rows for (config.json vocab_size); absent: the tokenizer's highest id + 1 */
  readonly vocabSize?: number;
  /** the path as messages show it */
  readonly shownPath: string;
}

/** llama.cpp's does_token_look_special: added tokens it marks CONTROL even when not flagged special */
function looksSpecial(text: string): boolean {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(text) ||
    (text.startsWith('<|') && text.endsWith('|>')) ||
    (text.startsWith('<｜') && text.endsWith('｜>')) ||
    (text.startsWith('<start_of_') && text.endsWith('>')) ||
    (text.startsWith('<end_of_') && text.endsWith('>'))
  );
}

/** the Split expression (or GPT-2's ByteLevel regex) of a byte-level BPE pre-tokenizer → llama.cpp's name */
function byteLevelPreName(pre: unknown, fail: (what: string) => never): string {
  if (isObject(pre) && pre['type'] === 'ByteLevel' && pre['use_regex'] !== false) return 'gpt-2';
  const steps = isObject(pre) && pre['type'] === 'Sequence' && Array.isArray(pre['pretokenizers']) ? (pre['pretokenizers'] as unknown[]) : [pre];
  const split = steps.find((s) => isObject(s) && s['type'] === 'Split') as Json | undefined;
  const byteLevel = steps.find((s) => isObject(s) && s['type'] === 'ByteLevel') as Json | undefined;
  const regex = isObject(split?.['pattern']) ? (split!['pattern'] as Json)['Regex'] : undefined;
  if (steps.length !== 2 || !byteLevel || byteLevel['use_regex'] !== false || typeof regex !== 'string') {
    return fail(`byte-level pre-tokenizer ${JSON.stringify(pre)}`);
  }
  const name = SPLIT_EXPRESSIONS.get(regex);
  if (name === undefined) return fail(`pre-tokenizer split expression ${JSON.stringify(regex)}`);
  return name;
}

/** what a tokenizer_config.json token entry names: a string or an AddedToken {content} */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

/** The `tokenizer.*` GGUF metadata of a Hugging Face tokenizer. */
export function hfTokenizerMetadata(files: HfTokenizerFiles): Map<string, GgufValue> {
  const { shownPath } = files;
  const fail = (what: string): never => {
    throw new ModelLoadError('UNSUPPORTED_TOKENIZER', `${shownPath}: tokenizer.json with ${untrustedText(what)} is not supported (supported: byte-level BPE with the GPT-2, Llama 3 or Qwen2 pre-tokenizer; Gemma's ▁-escaped BPE with byte fallback; Llama 2's SentencePiece BPE with a prefix space)`);
  };
  const corrupt = (what: string): never => {
    throw new ModelLoadError('MISSING_METADATA', `${shownPath}: tokenizer.json ${untrustedText(what)}`);
  };
  const tok = files.tokenizer;
  if (!isObject(tok) || !isObject(tok['model'])) return corrupt('has no model');
  const model = tok['model'];
  if (model['type'] !== 'BPE') return fail(`model type ${JSON.stringify(model['type'])}`);
  if (!isObject(model['vocab'])) return corrupt('model has no vocab');
  if (!Array.isArray(model['merges'])) return corrupt('model has no merges');

  // texts by id: the model's vocab, then the added tokens (whose content is raw text)
  const texts = new Map<number, string>();
  const checkId = (id: unknown, text: string): number => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= 2 ** 23) return corrupt(`token ${JSON.stringify(text)} has id ${JSON.stringify(id)}`);
    return id as number;
  };
  const vocabIds = new Map<string, number>();
  for (const [text, id] of Object.entries(model['vocab'])) {
    texts.set(checkId(id, text), text);
    vocabIds.set(text, id as number);
  }
  const added = new Map<number, { readonly special: boolean }>();
  for (const entry of Array.isArray(tok['added_tokens']) ? tok['added_tokens'] : []) {
    if (!isObject(entry) || typeof entry['content'] !== 'string') return corrupt('has an added token without content');
    const id = checkId(entry['id'], entry['content']);
    texts.set(id, entry['content']);
    added.set(id, { special: entry['special'] === true });
  }
  let maxId = -1;
  for (const id of texts.keys()) maxId = Math.max(maxId, id);
  const numTokens = files.vocabSize ?? maxId + 1;

  // the kind of BPE, from the normalizer and pre-tokenizer
  const normalizer = tok['normalizer'];
  const isMetaspace = model['byte_fallback'] === true;
  let ggufModel: string;
  let pre: string | undefined;
  const isLlama2 = isMetaspace && isLlama2Normalizer(normalizer);
  if (isLlama2) {
    ggufModel = 'llama';
  } else if (isMetaspace) {
    const isReplaceSpace = isObject(normalizer) && normalizer['type'] === 'Replace' && isObject(normalizer['pattern']) &&
      (normalizer['pattern'] as Json)['String'] === ' ' && normalizer['content'] === '\u2581';
    if (!isReplaceSpace) fail(`byte-fallback BPE with normalizer ${JSON.stringify(normalizer)} (supported: Replace " " with "▁" (Gemma), or Prepend "▁" then that (Llama 2))`);
    ggufModel = 'gemma4';
    // llama.cpp's gemma4 tokenizer first splits runs of newlines from the rest: the same tokens
    // as one BPE over the whole text only when no token mixes a newline with anything else
    for (const [id, text] of texts) {
      if (!added.has(id) && text.includes('\n') && /[^\n]/.test(text)) fail(`a token mixing newlines and other text (${JSON.stringify(text)})`);
    }
  } else {
    if (normalizer !== null && normalizer !== undefined && !(isObject(normalizer) && normalizer['type'] === 'NFC')) {
      fail(`normalizer ${JSON.stringify(normalizer)}`);
    }
    ggufModel = 'gpt2';
    pre = byteLevelPreName(tok['pre_tokenizer'], fail);
  }

  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < numTokens; id++) {
    const text = texts.get(id);
    if (text === undefined) {
      tokens.push(`[PAD${id}]`);
      types.push(UNUSED);
    } else if (added.has(id) && !(isMetaspace && !added.get(id)!.special && text.includes('\u2581') && vocabIds.get(text) === id)) {
      // an added token is matched in the raw text before encoding (HF and llama.cpp alike); one of
      // Gemma's ▁ runs, also in the BPE vocabulary, never matches raw text (it has spaces): a normal token
      tokens.push(text);
      types.push(isLlama2 && text === model['unk_token'] ? UNKNOWN : added.get(id)!.special || looksSpecial(text) ? CONTROL : USER_DEFINED);
    } else {
      tokens.push(text);
      types.push(isMetaspace && /^<0x[0-9A-F]{2}>$/.test(text) ? BYTE : NORMAL);
    }
  }
  const merges = (model['merges'] as unknown[]).map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return `${m[0]} ${m[1]}`;
    return corrupt(`merge ${i} is neither "a b" nor ["a", "b"]`);
  });

  const metadata = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', gguf.str(ggufModel)],
    ['tokenizer.ggml.tokens', gguf.arr(GgufValueType.STRING, tokens)],
    ['tokenizer.ggml.token_type', gguf.arr(GgufValueType.INT32, types)],
  ]);
  if (isLlama2) {
    const firstId = new Map<string, number>();
    tokens.forEach((text, id) => types[id] === NORMAL && !firstId.has(text) && firstId.set(text, id));
    metadata.set('tokenizer.ggml.scores', gguf.arr(GgufValueType.FLOAT32, spmScores(tokens.length, merges, (text) => firstId.get(text))));
  } else {
    metadata.set('tokenizer.ggml.merges', gguf.arr(GgufValueType.STRING, merges));
  }
  if (pre !== undefined) metadata.set('tokenizer.ggml.pre', gguf.str(pre));
  if (isMetaspace) metadata.set('tokenizer.ggml.add_space_prefix', gguf.bool(isLlama2));

  // special tokens: tokenizer_config.json, else config.json's ids (the converter's SpecialVocab order)
  const idOf = new Map<string, number>();
  for (let id = 0; id < tokens.length; id++) if (!idOf.has(tokens[id]!)) idOf.set(tokens[id]!, id);
  const tc = isObject(files.tokenizerConfig) ? files.tokenizerConfig : {};
  const mc = isObject(files.modelConfig) ? files.modelConfig : {};
  for (const [name, key] of [['bos', 'bos_token_id'], ['eos', 'eos_token_id'], ['unk', 'unknown_token_id'], ['pad', 'padding_token_id']] as const) {
    const text = tokenContent(tc[`${name}_token`]);
    let id = text === undefined ? undefined : idOf.get(text);
    const fromConfig = mc[`${name}_token_id`];
    if (id === undefined && (name === 'bos' || name === 'eos') && Number.isInteger(fromConfig)) id = fromConfig as number;
    if (id !== undefined && id >= 0 && id < tokens.length) metadata.set(`tokenizer.ggml.${key}`, gguf.u32(id));
  }
  // add_bos: tokenizer_config.json's flag, else whether the post-processor's template starts with a special token
  if (typeof tc['add_bos_token'] === 'boolean') metadata.set('tokenizer.ggml.add_bos_token', gguf.bool(tc['add_bos_token']));
  else {
    const post = tok['post_processor'];
    const single = isObject(post) && post['type'] === 'TemplateProcessing' && Array.isArray(post['single']) ? (post['single'] as unknown[]) : undefined;
    if (single) metadata.set('tokenizer.ggml.add_bos_token', gguf.bool(isObject(single[0]) && 'SpecialToken' in single[0]));
  }
  if (typeof tc['add_eos_token'] === 'boolean') metadata.set('tokenizer.ggml.add_eos_token', gguf.bool(tc['add_eos_token']));
  const template = chatTemplate(tc['chat_template']);
  if (template !== undefined) metadata.set('tokenizer.chat_template', gguf.str(template));
  return metadata;
}

/** tokenizer_config.json's chat_template: a string, or a list of {name, template} (the 'default' one) */
function chatTemplate(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => isObject(t) && t['name'] === 'default');
    if (isObject(named) && typeof named['template'] === 'string') return named['template'];
  }
  return undefined;
}
