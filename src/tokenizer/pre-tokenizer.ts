/**
 * Byte-level BPE pre-tokenizers, keyed by the GGUF's `tokenizer.ggml.pre`: the split
 * expressions and flags llama.cpp uses for each (src/llama-vocab.cpp, llm_tokenizer_bpe and
 * llama_vocab::impl::load). Expressions are kept verbatim: the known ones dispatch to
 * hand-written splitters by exact text.
 */
export interface PreTokenizer {
  /** llama.cpp's pre-tokenizer type this name maps to, e.g. 'llama3' for 'llama-bpe' */
  readonly kind: string;
  readonly expressions: readonly string[];
  /** words are mapped to GPT-2's byte-level alphabet before merging (false: raw UTF-8, <0xXX> byte tokens) */
  readonly isByteEncoded: boolean;
  /** a word that is itself a token skips merging */
  readonly ignoresMerges: boolean;
  /** default for add_bos before `tokenizer.ggml.add_bos_token` */
  readonly addsBos: boolean;
  /** detokenize applies clean_up_tokenization_spaces */
  readonly cleansSpaces: boolean;
  /** spaces become U+2581 before splitting (SPM-style BPE) */
  readonly escapesWhitespace: boolean;
  /** the pre-tokenizer disables the BOS token */
  readonly hasNoBos: boolean;
}

const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 = CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const NEWLINES = "[^\\n]+|[\\n]+";
const PORO = " ?[^(\\s|.,!?…。，、।۔،)]+";
const GPT4O_TAIL = "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** expressions per llama.cpp pre-tokenizer type */
const EXPRESSIONS: Readonly<Record<string, readonly string[]>> = {
  default: ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"],
  llama3: [LLAMA3],
  jais2: [
    CONTRACTIONS +
      "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
  ],
  'deepseek-llm': [
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
  ],
  'deepseek3-llm': [
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
  ],
  youtu: [
    "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" + CONTRACTIONS +
      "?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" + CONTRACTIONS +
      "?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  'deepseek-coder': ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"],
  falcon: ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"],
  starcoder: ["\\p{N}", GPT2],
  gpt2: [GPT2],
  qwen2: [QWEN2],
  qwen35: [
    CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  poro: [PORO],
  viking: [PORO, "\\p{N}"],
  tekken: [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  chameleon: [
    "<sentinel:[0-9]+>",
    "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    "([\\t\\n]|    |  )",
    "\\p{N}",
    "[\\p{P}!-/:-@\\[-`{-~]",
    GPT2,
  ],
  gpt4o: [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" + CONTRACTIONS +
      "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" + CONTRACTIONS + "?" + GPT4O_TAIL,
  ],
  'granite-emb-multi': [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+" + CONTRACTIONS +
      "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*" + CONTRACTIONS + "?" + GPT4O_TAIL,
  ],
  bailingmoe: [
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
  ],
  'seed-coder': [
    CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  laguna: [NEWLINES, QWEN2],
  'exaone-moe': [
    CONTRACTIONS +
      "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
  ],
  'tiny-aya': [
    "\\d{1,3}(?=(?:\\d{3})*\\b)",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" + CONTRACTIONS +
      "?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" + CONTRACTIONS + "?" + GPT4O_TAIL,
  ],
  afmoe: [
    "\\p{AFMoE_digits}",
    "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  gemma4: [NEWLINES],
  'sarvam-moe': [NEWLINES],
  minicpm5: [
    "\\p{N}{1,3}",
    CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
};

interface NameEntry {
  readonly kind: string;
  readonly ignoresMerges?: boolean;
  readonly addsBos?: boolean;
  readonly keepsSpaces?: boolean;
  readonly escapesWhitespace?: boolean;
  readonly hasNoBos?: boolean;
}

function names(list: readonly string[], entry: NameEntry): [string, NameEntry][] {
  return list.map((name) => [name, entry]);
}

const KEEP = { keepsSpaces: true } as const;

/** `tokenizer.ggml.pre` → pre-tokenizer type and per-name flags */
const NAMES = new Map<string, NameEntry>([
  ...names(['', 'default'], { kind: 'default' }),
  ...names(['minicpm5'], { kind: 'minicpm5', ignoresMerges: true }),
  ...names(['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'], {
    kind: 'llama3',
    ignoresMerges: true,
    addsBos: true,
  }),
  ...names(['deepseek-llm'], { kind: 'deepseek-llm', ...KEEP }),
  ...names(['deepseek-coder'], { kind: 'deepseek-coder', ...KEEP }),
  ...names(['deepseek-v3', 'hunyuan-dense', 'joyai-llm'], { kind: 'deepseek3-llm', ...KEEP }),
  ...names(['youtu'], { kind: 'youtu', ignoresMerges: true, ...KEEP }),
  ...names(['falcon'], { kind: 'falcon' }),
  ...names(['mpt', 'olmo', 'jais', 'exaone4'], { kind: 'gpt2' }),
  ...names(['starcoder', 'refact', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'], { kind: 'starcoder' }),
  ...names(['command-r', 'smollm'], { kind: 'starcoder', ...KEEP }),
  ...names(
    [
      'gpt-2', 'phi-2', 'jina-es', 'jina-de', 'gigachat', 'jina-v2-es', 'jina-v2-de', 'a.x-4.0', 'mellum', 'modern-bert',
      'jina-v1-en', 'jina-v2-code', 'roberta-bpe',
    ],
    { kind: 'gpt2' },
  ),
  ...names(['trillion', 'granite-docling'], { kind: 'gpt2', ...KEEP }),
  ...names(['jais-2'], { kind: 'jais2' }),
  ...names(['gemma4', 'granite-embed-multi-311m'], { kind: 'gemma4', escapesWhitespace: true }),
  ...names(['sarvam-moe'], { kind: 'sarvam-moe', escapesWhitespace: true, ...KEEP }),
  ...names(['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'hunyuan', 'solar-open'], { kind: 'qwen2', ...KEEP }),
  ...names(['megrez', 'stablelm2'], { kind: 'qwen2' }),
  ...names(['qwen35'], { kind: 'qwen35', ...KEEP }),
  ...names(['dbrx', 'smaug-bpe'], { kind: 'llama3' }),
  ...names(['poro-chat'], { kind: 'poro', ...KEEP }),
  ...names(['bloom', 'gpt3-finnish'], { kind: 'poro' }),
  ...names(['glm4', 'chatglm-bpe'], { kind: 'llama3', hasNoBos: true }),
  ...names(['viking'], { kind: 'viking', ...KEEP }),
  ...names(['tekken'], { kind: 'tekken', ignoresMerges: true, addsBos: true, ...KEEP }),
  ...names(['chameleon'], { kind: 'chameleon', addsBos: true, ...KEEP }),
  ...names(['gpt-4o', 'llama4', 'kanana2', 'talkie', 'minimax-m2'], { kind: 'gpt4o', ...KEEP }),
  ...names(['granite-embed-multi-97m'], { kind: 'granite-emb-multi', ignoresMerges: true, ...KEEP }),
  ...names(['bailingmoe', 'bailingmoe2', 'llada-moe'], { kind: 'bailingmoe', ...KEEP }),
  ...names(['seed-coder'], { kind: 'seed-coder', ...KEEP }),
  ...names(['grok-2'], { kind: 'qwen2', ...KEEP }),
  ...names(['laguna'], { kind: 'laguna', ...KEEP }),
  ...names(['exaone-moe'], { kind: 'exaone-moe' }),
  ...names(['tiny_aya', 'cohere2moe'], { kind: 'tiny-aya', ...KEEP }),
  ...names(['afmoe'], { kind: 'afmoe', ...KEEP }),
]);

/** The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value, or undefined if unsupported here. */
export function resolvePreTokenizer(name: string): PreTokenizer | undefined {
  const entry = NAMES.get(name);
  if (!entry) return undefined;
  const expressions = EXPRESSIONS[entry.kind]!;
  return {
    kind: entry.kind,
    expressions,
    isByteEncoded: entry.kind !== 'gemma4' && entry.kind !== 'sarvam-moe',
    ignoresMerges: entry.ignoresMerges ?? false,
    addsBos: entry.addsBos ?? false,
    cleansSpaces: !(entry.keepsSpaces ?? false),
    escapesWhitespace: entry.escapesWhitespace ?? false,
    hasNoBos: entry.hasNoBos ?? false,
  };
}
