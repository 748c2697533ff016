import type { TokenDivergence } from './token-divergence.js';

const f32 = Math.fround;

/** A mean (or a quantity derived from means) and its standard error. */
export interface Estimate {
  readonly value: number;
  readonly uncertainty: number;
}

/** A quantile's label as llama.cpp prints it and its fraction of the sorted values. */
export type Quantile = readonly [label: string, fraction: number];

/** The KL-divergence quantiles llama.cpp prints, top down ("Median" is the middle value, or the mean of the two middle ones). */
export const KLD_QUANTILES: readonly Quantile[] = [
  ['max', 1],
  ['99.9%', 0.999],
  ['99%', 0.99],
  ['95%', 0.95],
  ['90%', 0.9],
  ['median', 0.5],
  ['10%', 0.1],
  ['5%', 0.05],
  ['1%', 0.01],
  ['0.1%', 0.001],
  ['min', 0],
];

/** The Δp quantiles llama.cpp prints: the KL ones plus 75% and 25%. */
export const DELTA_P_QUANTILES: readonly Quantile[] = [...KLD_QUANTILES.slice(0, 5), ['75%', 0.75], ['median', 0.5], ['25%', 0.25], ...KLD_QUANTILES.slice(6)];

/**
 * What `llama-perplexity --kl-divergence` reports at its end ("Perplexity statistics", "KL
 * divergence statistics", "Token probability statistics"), over every scored token. Probabilities
 * and Δp are fractions (llama.cpp prints them in %); log-perplexities are in nats.
 */
export interface DivergenceStatistics {
  readonly numTokens: number;
  /** PPL(Q): the model's perplexity */
  readonly ppl: Estimate;
  /** PPL(base): the reference's perplexity (from its 16-bit log-probabilities) */
  readonly pplReference: Estimate;
  /** Cor(ln PPL(Q), ln PPL(base)); null with too few tokens to estimate it */
  readonly pplCorrelation: number | null;
  /** ln(PPL(Q) / PPL(base)) = mean of nll − nll_base */
  readonly lnPplRatio: Estimate;
  readonly pplRatio: Estimate;
  readonly pplDifference: Estimate;
  readonly kld: { readonly mean: Estimate; readonly quantiles: Readonly<Record<string, number>> };
  readonly deltaP: { readonly mean: Estimate; readonly rms: Estimate; readonly quantiles: Readonly<Record<string, number>> };
  /** the fraction of tokens where both models' most likely token is the same */
  readonly sameTop: Estimate;
}

/**
 * Sums over scored tokens, as llama.cpp's `kl_divergence_result` keeps them (doubles; squares of
 * f32 values taken in f32, as its `nll*nll`), plus every token's KL divergence and Δp (f32) for the
 * quantiles.
 */
export class DivergenceAccumulator {
  private sumNll = 0;
  private sumNll2 = 0;
  private sumNllReference = 0;
  private sumNllReference2 = 0;
  private sumNllNllReference = 0;
  private sumKld = 0;
  private sumKld2 = 0;
  private sumDeltaP = 0;
  private sumDeltaP2 = 0;
  private sumDeltaP4 = 0;
  private numSameTop = 0;
  private readonly klds: number[] = [];
  private readonly deltaPs: number[] = [];

  get numTokens(): number {
    return this.klds.length;
  }

  add(t: TokenDivergence): void {
    this.sumNll += t.nll;
    this.sumNll2 += f32(t.nll * t.nll);
    this.sumNllReference += t.nllReference;
    this.sumNllReference2 += f32(t.nllReference * t.nllReference);
    this.sumNllNllReference += f32(t.nll * t.nllReference);
    this.sumKld += t.kld;
    this.sumKld2 += t.kld * t.kld;
    this.sumDeltaP += t.deltaP;
    const deltaP2 = f32(t.deltaP * t.deltaP);
    this.sumDeltaP2 += deltaP2;
    this.sumDeltaP4 += deltaP2 * deltaP2;
    if (t.isSameTop) this.numSameTop++;
    this.klds.push(f32(t.kld));
    this.deltaPs.push(t.deltaP);
  }

  /** llama.cpp's final statistics (kl_divergence() in tools/perplexity/perplexity.cpp). Needs at least one token. */
  summarize(): DivergenceStatistics {
    const n = this.numTokens;
    if (n === 0) throw new RangeError('no tokens were scored');
    const logPpl = meanAndUncertainty(this.sumNll, this.sumNll2, n);
    const logPplReference = meanAndUncertainty(this.sumNllReference, this.sumNllReference2, n);
    const cov = covariance(this.sumNll, this.sumNllReference, this.sumNllNllReference, n);
    const ppl = Math.exp(logPpl.value);
    const pplReference = Math.exp(logPplReference.value);
    const lnRatio = logPpl.value - logPplReference.value;
    const lnRatioUncertainty = Math.sqrt(Math.max(0, logPpl.uncertainty ** 2 + logPplReference.uncertainty ** 2 - 2 * cov));
    const pplUncertainty = ppl * logPpl.uncertainty;
    const pplReferenceUncertainty = pplReference * logPplReference.uncertainty;
    const pplCov = ppl * pplReference * cov;
    const mse = meanAndUncertainty(this.sumDeltaP2, this.sumDeltaP4, n);
    const rms = Math.sqrt(mse.value);
    const sameTop = this.numSameTop / n;
    const klds = Float32Array.from(this.klds).sort();
    const deltaPs = Float32Array.from(this.deltaPs).sort();
    return {
      numTokens: n,
      ppl: { value: ppl, uncertainty: pplUncertainty },
      pplReference: { value: pplReference, uncertainty: pplReferenceUncertainty },
      pplCorrelation: logPpl.uncertainty > 0 && logPplReference.uncertainty > 0 ? cov / (logPpl.uncertainty * logPplReference.uncertainty) : null,
      lnPplRatio: { value: lnRatio, uncertainty: lnRatioUncertainty },
      pplRatio: { value: Math.exp(lnRatio), uncertainty: Math.exp(lnRatio) * lnRatioUncertainty },
      pplDifference: {
        value: ppl - pplReference,
        uncertainty: Math.sqrt(Math.max(0, pplUncertainty ** 2 + pplReferenceUncertainty ** 2 - 2 * pplCov)),
      },
      kld: { mean: meanAndUncertainty(this.sumKld, this.sumKld2, n), quantiles: quantiles(klds, KLD_QUANTILES) },
      deltaP: {
        mean: meanAndUncertainty(this.sumDeltaP, this.sumDeltaP2, n),
        rms: { value: rms, uncertainty: rms > 0 ? (0.5 / rms) * mse.uncertainty : 0 },
        quantiles: quantiles(deltaPs, DELTA_P_QUANTILES),
      },
      sameTop: { value: sameTop, uncertainty: n > 1 ? Math.sqrt((sameTop * (1 - sameTop)) / (n - 1)) : 0 },
    };
  }
}

/**
 * The mean of n values from their sum and sum of squares, and its standard error
 * sqrt((E[x²] − E[x]²) / (n − 1)); llama.cpp gives 0 for the error with 10 values or fewer.
 */
export function meanAndUncertainty(sum: number, sum2: number, n: number): Estimate {
  const mean = sum / n;
  const variance = sum2 / n - mean * mean;
  return { value: mean, uncertainty: variance > 0 && n > 10 ? Math.sqrt(variance / (n - 1)) : 0 };
}

/** The covariance of the means of a and b: (E[ab] − E[a]E[b]) / (n − 1); llama.cpp gives 0 below 10 values. */
export function covariance(sumA: number, sumB: number, sumAB: number, n: number): number {
  if (n < 10) return 0;
  return (sumAB / n - (sumA / n) * (sumB / n)) / (n - 1);
}

/**
 * llama.cpp's percentile of sorted f32 values: linear interpolation at fraction × (n − 1), in f32;
 * its median is the middle value, or half the sum of the two middle ones.
 */
export function percentile(sorted: Float32Array, fraction: number): number {
  if (fraction <= 0) return sorted[0]!;
  if (fraction >= 1) return sorted[sorted.length - 1]!;
  let p = f32(f32(fraction) * (sorted.length - 1));
  const ip = Math.trunc(p);
  p = f32(p - ip);
  return f32(f32(f32(1 - p) * sorted[ip]!) + f32(p * sorted[Math.min(ip + 1, sorted.length - 1)]!));
}

export function median(sorted: Float32Array): number {
  const n = sorted.length;
  return n % 2 === 0 ? f32(0.5 * f32(sorted[n / 2]! + sorted[n / 2 - 1]!)) : sorted[(n - 1) / 2]!;
}

function quantiles(sorted: Float32Array, which: readonly Quantile[]): Record<string, number> {
  return Object.fromEntries(which.map(([label, fraction]) => [label, label === 'median' ? median(sorted) : percentile(sorted, fraction)]));
}
