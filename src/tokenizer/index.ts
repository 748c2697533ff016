export { createTokenizer, type Tokenizer, type TokenizerModel, type EncodeOptions, type DecodeOptions } from './tokenizer.js';
export { StreamingDetokenizer, type StreamingDetokenizerOptions } from './streaming-detokenizer.js';
