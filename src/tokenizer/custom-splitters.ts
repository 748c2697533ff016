import { CodepointFlag, codepointFlags } from './unicode-flags.js';

/**
 * Hand-written equivalents of the most common pre-tokenizer regexes, matching llama.cpp's
 * unicode_regex_split_custom_* (src/unicode.cpp) decision for decision.
 *
 * A splitter takes the text's codepoints and the current chunking (`offsets`: lengths in
 * codepoints that sum to the text length) and returns a finer chunking; matches never cross a
 * chunk boundary.
 */
export type CustomSplitter = (cpts: Uint32Array, offsets: readonly number[]) => number[];

const { NUMBER, LETTER, ACCENT_MARK, WHITESPACE } = CodepointFlag;
const OUT_OF_RANGE = 0xffffffff;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const APOSTROPHE = 0x27;

function asciiLower(cp: number): number {
  return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
}

/** Matches one chunk [ini, end); `emit(end)` closes the word that started at the previous end. */
type ChunkMatcher = (
  ini: number,
  end: number,
  cpAt: (pos: number) => number,
  flagsAt: (pos: number) => number,
  emit: (end: number) => number,
) => void;

function runChunks(cpts: Uint32Array, offsets: readonly number[], match: ChunkMatcher): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const ini = start;
    const end = start + offset;
    start = end;
    const cpAt = (pos: number): number => (pos >= ini && pos < end ? cpts[pos]! : OUT_OF_RANGE);
    const flagsAt = (pos: number): number => (pos >= ini && pos < end ? codepointFlags(cpts[pos]!) : 0);
    let prevEnd = ini;
    const emit = (wordEnd: number): number => {
      const len = wordEnd - prevEnd;
      if (len > 0) out.push(len);
      prevEnd = wordEnd;
      return len;
    };
    match(ini, end, cpAt, flagsAt, emit);
  }
  return out;
}

/** `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (GPT-2). */
export const splitGpt2: CustomSplitter = (cpts, offsets) =>
  runChunks(cpts, offsets, (ini, end, cpAt, flagsAt, emit) => {
    for (let pos = ini; pos < end; ) {
      const cp = cpAt(pos);
      const flags = flagsAt(pos);

      if (cp === APOSTROPHE && pos + 1 < end) {
        const next = cpAt(pos + 1);
        if (next === 0x73 || next === 0x74 || next === 0x6d || next === 0x64) {
          pos += emit(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const next2 = cpAt(pos + 2);
          if ((next === 0x72 && next2 === 0x65) || (next === 0x76 && next2 === 0x65) || (next === 0x6c && next2 === 0x6c)) {
            pos += emit(pos + 3);
            continue;
          }
        }
      }

      let flags2 = cp === SPACE ? flagsAt(pos + 1) : flags;
      if (flags2 & LETTER) {
        if (cp === SPACE) pos++;
        while (flags2 & LETTER) flags2 = flagsAt(++pos);
        emit(pos);
        continue;
      }
      if (flags2 & NUMBER) {
        if (cp === SPACE) pos++;
        while (flags2 & NUMBER) flags2 = flagsAt(++pos);
        emit(pos);
        continue;
      }
      if (!(flags2 & (WHITESPACE | LETTER | NUMBER)) && flags2 !== 0) {
        if (cp === SPACE) pos++;
        while (!(flags2 & (WHITESPACE | LETTER | NUMBER)) && flags2 !== 0) flags2 = flagsAt(++pos);
        emit(pos);
        continue;
      }

      let numWhitespace = 0;
      while (flagsAt(pos + numWhitespace) & WHITESPACE) numWhitespace++;
      if (numWhitespace > 1 && cpAt(pos + numWhitespace) !== OUT_OF_RANGE) {
        pos += numWhitespace - 1;
        emit(pos);
        continue;
      }
      if (numWhitespace > 0) {
        pos += numWhitespace;
        emit(pos);
        continue;
      }
      emit(++pos);
    }
  });

/**
 * The Llama 3 family: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`. Qwen2 takes digits one at a time; Qwen3.5
 * also lets letter runs take combining marks (`[\p{L}\p{M}]+`).
 */
function llama3Family(maxDigits: number, letterMask: number): CustomSplitter {
  const nonPunctuation = WHITESPACE | letterMask | NUMBER;
  return (cpts, offsets) =>
    runChunks(cpts, offsets, (ini, end, cpAt, flagsAt, emit) => {
      for (let pos = ini; pos < end; ) {
        const cp = cpAt(pos);
        const flags = flagsAt(pos);

        if (cp === APOSTROPHE && pos + 1 < end) {
          const next = asciiLower(cpAt(pos + 1));
          if (next === 0x73 || next === 0x74 || next === 0x6d || next === 0x64) {
            pos += emit(pos + 2);
            continue;
          }
          if (pos + 2 < end) {
            const next2 = asciiLower(cpAt(pos + 2));
            if ((next === 0x72 && next2 === 0x65) || (next === 0x76 && next2 === 0x65) || (next === 0x6c && next2 === 0x6c)) {
              pos += emit(pos + 3);
              continue;
            }
          }
        }

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(cp === CR || cp === LF || flags & NUMBER)) {
          if (flags & letterMask || flagsAt(pos + 1) & letterMask) {
            pos++;
            while (flagsAt(pos) & letterMask) pos++;
            emit(pos);
            continue;
          }
        }

        // \p{N}{1,maxDigits}
        if (flags & NUMBER) {
          let ini2 = pos;
          while (flagsAt(pos) & NUMBER) {
            if (++pos - ini2 >= maxDigits) {
              emit(pos);
              ini2 = pos;
            }
          }
          emit(pos);
          continue;
        }

        // <space>?[^\s\p{L}\p{N}]+[\r\n]*
        let flags2 = cp === SPACE ? flagsAt(pos + 1) : flags;
        if (!(flags2 & nonPunctuation) && flags !== 0) {
          if (cp === SPACE) pos++;
          while (!(flags2 & nonPunctuation) && flags2 !== 0) flags2 = flagsAt(++pos);
          let cp2 = cpAt(pos);
          while (cp2 === CR || cp2 === LF) cp2 = cpAt(++pos);
          emit(pos);
          continue;
        }

        let numWhitespace = 0;
        let lastEndOfNewline = 0;
        while (flagsAt(pos + numWhitespace) & WHITESPACE) {
          const cp2 = cpAt(pos + numWhitespace);
          if (cp2 === CR || cp2 === LF) lastEndOfNewline = pos + numWhitespace + 1;
          numWhitespace++;
        }
        // \s*[\r\n]+
        if (lastEndOfNewline > 0) {
          pos = lastEndOfNewline;
          emit(pos);
          continue;
        }
        // \s+(?!\S)
        if (numWhitespace > 1 && cpAt(pos + numWhitespace) !== OUT_OF_RANGE) {
          pos += numWhitespace - 1;
          emit(pos);
          continue;
        }
        // \s+
        if (numWhitespace > 0) {
          pos += numWhitespace;
          emit(pos);
          continue;
        }
        emit(++pos);
      }
    });
}

export const splitLlama3 = llama3Family(3, LETTER);
export const splitQwen2 = llama3Family(1, LETTER);
export const splitQwen35 = llama3Family(1, LETTER | ACCENT_MARK);

/** `[^\n]+|[\n]+`: runs of newlines and runs of everything else. */
export const splitNewlines: CustomSplitter = (cpts, offsets) => {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const end = start + offset;
    let pos = start;
    while (pos < end) {
      const isNewline = cpts[pos] === LF;
      const runStart = pos;
      while (pos < end && (cpts[pos] === LF) === isNewline) pos++;
      out.push(pos - runStart);
    }
    start = end;
  }
  return out;
};

/**
 * AFMoE / tiny_aya digit grouping (`\p{AFMoE_digits}`, `\d{1,3}(?=(?:\d{3})*\b)`): each run of
 * digits splits into a leading group of len % 3 and then groups of three. As in llama.cpp, the
 * text before a run joins the run's first group.
 */
export const splitDigitGroups: CustomSplitter = (cpts, offsets) =>
  runChunks(cpts, offsets, (ini, end, _cpAt, flagsAt, emit) => {
    let prevEnd = ini;
    for (let pos = ini; pos < end; ) {
      if (!(flagsAt(pos) & NUMBER)) {
        pos++;
        continue;
      }
      const digitStart = pos;
      while (flagsAt(pos) & NUMBER) pos++;
      let current = digitStart;
      const remainder = (pos - digitStart) % 3;
      if (remainder > 0) {
        current += remainder;
        emit(current);
      }
      while (current < pos) {
        current += 3;
        emit(current);
      }
      prevEnd = current;
    }
    if (prevEnd < end) emit(end);
  });
