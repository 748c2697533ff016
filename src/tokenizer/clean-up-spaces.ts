const SPACE = 0x20;
const APOSTROPHE = 0x27;

/**
 * clean_up_tokenization_spaces as llama.cpp's detokenize applies it, byte for byte (three passes
 * over the buffer, in place): drops the space in " ?", " !", " .", " ,", strips a lone
 * apostrophe's surrounding spaces (" ' "), and joins " 's", " 'm", " 're", " 've". Returns a view
 * of `text`, which it modifies.
 */
export function cleanUpSpaces(text: Uint8Array): Uint8Array {
  const is = (i: number, ch: string): boolean => text[i] === ch.charCodeAt(0);

  // first pass: " ?", " !", " .", " ,"
  const total1 = text.length;
  let total = total1 ? 1 : 0;
  for (let i = 1; i < total1; i++) {
    const x = text[i]!;
    if (text[i - 1] === SPACE && (is(i, '?') || is(i, '!') || is(i, '.') || is(i, ','))) total--;
    text[total++] = x;
  }

  // second pass: " ' "
  const total2 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total2; i++) {
    const x = text[i]!;
    if (x === APOSTROPHE && i + 1 < total2 && text[i - 1] === SPACE && text[i + 1] === SPACE) {
      total--; // the space before
      text[++i] = 0; // the space after
    }
    text[total++] = x;
  }

  // third pass: contractions
  const total3 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total3; i++) {
    const x = text[i]!;
    if (text[i - 1] === SPACE && x === APOSTROPHE && i + 1 < total3) {
      if (is(i + 1, 't') || is(i + 1, 'd')) {
        // kept: " 't", " 'd"
      } else if (is(i + 1, 's') || is(i + 1, 'm')) {
        total--;
      } else if (i + 2 < total3) {
        if ((is(i + 1, 'r') && is(i + 2, 'e')) || (is(i + 1, 'v') && is(i + 2, 'e'))) total--;
      }
    }
    text[total++] = x;
  }
  return text.subarray(0, total);
}
