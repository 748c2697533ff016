import type { MetadataReader } from '../formats/gguf/index.js';
import { GgufTokenizer } from './gguf-tokenizer.js';
import { loadVocab, type TokenizerModel } from './vocab.js';

export type { TokenizerModel } from './vocab.js';

export interface EncodeOptions {
  /** add BOS/EOS as the model's metadata says (default true) */
  readonly addSpecial?: boolean;
  /** recognise control-token text such as "<|eot_id|>" in the input (default false); user-defined tokens are always recognised */
  readonly parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** render control tokens as their text (default false: they decode to nothing) */
  readonly special?: boolean;
}

/**
 * Text ↔ token ids, matching llama.cpp (llama_tokenize / llama_token_to_piece /
 * llama_detokenize) for the vocabularies a GGUF file carries.
 */
export interface Tokenizer {
  /** `tokenizer.ggml.model`: 'llama' (SentencePiece), 'gpt2' or 'gemma4' (BPE) */
  readonly model: TokenizerModel;
  /** the BPE pre-tokenizer (`tokenizer.ggml.pre`); 'default' for SentencePiece */
  readonly preTokenizer: string;
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** end of turn, from the metadata or found by text (e.g. <|eot_id|>, <|im_end|>) */
  readonly eotId: number | undefined;
  readonly padId: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** SentencePiece prepends a space to the text (and detokenizing drops the first token's leading space) */
  readonly addSpacePrefix: boolean;

  encode(text: string, options?: EncodeOptions): number[];
  /**
   * One token's bytes as llama.cpp's token_to_piece gives them: byte tokens (<0x0A>) give their
   * byte, U+2581 gives a space, GPT-2 byte-level text gives its bytes. Control and unknown
   * tokens give no bytes unless `special`.
   */
  tokenBytes(id: number, special?: boolean): Uint8Array;
  /** llama_detokenize: pieces joined, the first token's leading space dropped where addSpacePrefix, and the
   * vocabulary's clean-up of spaces before punctuation applied (most BPE pre-tokenizers) */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** EOS, EOT and every other token llama.cpp treats as the end of generation (<|eot_id|>, <|im_end|>, <|end|>, ...) */
  isEndOfGeneration(id: number): boolean;
  /** control tokens (BOS, EOS, chat markers) decode to nothing unless asked */
  isControl(id: number): boolean;
  /** the vocabulary's text for a token */
  tokenText(id: number): string;
  /** the id of a vocabulary entry with exactly this text */
  tokenId(text: string): number | undefined;
  /**
   * At least the bytes of text any one token stands for (its vocabulary entry or its piece, and
   * never below 8), so a text of B bytes encodes to at least B / maxTokenBytes tokens.
   */
  readonly maxTokenBytes: number;
}

/**
 * Builds the tokenizer a GGUF file describes (`tokenizer.ggml.*`). Throws ModelLoadError
 * 'UNSUPPORTED_TOKENIZER' for tokenizer models or BPE pre-tokenizers it cannot reproduce, and
 * 'MISSING_METADATA' when required keys are missing or malformed.
 */
export function createTokenizer(metadata: MetadataReader): Tokenizer {
  return new GgufTokenizer(loadVocab(metadata));
}
