/**
 * GBNF alternatives for the decimal integers in [lo, hi] (0 ≤ lo ≤ hi, safe integers), written
 * without leading zeros: the ranges are split by digit count, then digit by digit, so the grammar has
 * O(digits²) alternatives, e.g. [5, 123] → [5-9] | [1-9] [0-9] | "1" [0-1] [0-9] | "12" [0-3].
 */
export function nonNegativeRange(lo: number, hi: number): string[] {
  const out: string[] = [];
  for (let len = String(lo).length; len <= String(hi).length; len++) {
    const a = Math.max(lo, len === 1 ? 0 : 10 ** (len - 1));
    const b = Math.min(hi, 10 ** len - 1);
    if (a <= b) out.push(...sameLength(String(a), String(b)));
  }
  return out;
}

function sameLength(a: string, b: string): string[] {
  if (a.length === 0) return [''];
  const x = Number(a[0]);
  const y = Number(b[0]);
  const rest = a.length - 1;
  const digits = (n: number): string => (n === 0 ? '' : ` [0-9]{${n}}`);
  if (x === y) return sameLength(a.slice(1), b.slice(1)).map((s) => `"${x}"${s ? ' ' + s : ''}`);
  const out: string[] = [];
  let from = x;
  let to = y;
  if (!/^0*$/.test(a.slice(1))) {
    out.push(...sameLength(a.slice(1), '9'.repeat(rest)).map((s) => `"${x}" ${s}`));
    from = x + 1;
  }
  let high: string[] = [];
  if (!/^9*$/.test(b.slice(1))) {
    high = sameLength('0'.repeat(rest), b.slice(1)).map((s) => `"${y}" ${s}`);
    to = y - 1;
  }
  if (from <= to) out.push(`${from === to ? `"${from}"` : `[${from}-${to}]`}${digits(rest)}`);
  out.push(...high);
  return out;
}
