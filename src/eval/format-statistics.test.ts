import { describe, expect, it } from 'vitest';
import { DivergenceAccumulator } from './divergence-statistics.js';
import { formatStatistics } from './format-statistics.js';

describe('formatStatistics', () => {
  it("prints llama.cpp's final sections and labels, in its order, probabilities in %", () => {
    const acc = new DivergenceAccumulator();
    for (let i = 0; i < 20; i++) acc.add({ nll: 1 + (i % 3), nllReference: 1 + (i % 2), kld: i / 1000, deltaP: (i - 10) / 100, isSameTop: i % 4 !== 0 });
    const lines = formatStatistics(acc.summarize()).split('\n');
    const labels = lines.map((l) => l.split(':')[0]!.trimEnd());
    expect(labels).toEqual([
      '====== Perplexity statistics ======', 'Mean PPL(Q)', 'Mean PPL(base)', 'Cor(ln(PPL(Q)), ln(PPL(base)))', 'Mean ln(PPL(Q)/PPL(base))',
      'Mean PPL(Q)/PPL(base)', 'Mean PPL(Q)-PPL(base)', '',
      '====== KL divergence statistics ======', 'Mean    KLD', 'Maximum KLD', '99.9%   KLD', '99.0%   KLD', '95.0%   KLD', '90.0%   KLD',
      'Median  KLD', '10.0%   KLD', ' 5.0%   KLD', ' 1.0%   KLD', ' 0.1%   KLD', 'Minimum KLD', '',
      '====== Token probability statistics ======', 'Mean    Δp', 'Maximum Δp', '99.9%   Δp', '99.0%   Δp', '95.0%   Δp', '90.0%   Δp', '75.0%   Δp',
      'Median  Δp', '25.0%   Δp', '10.0%   Δp', ' 5.0%   Δp', ' 1.0%   Δp', ' 0.1%   Δp', 'Minimum Δp', 'RMS Δp', 'Same top p',
    ]);
    expect(lines).toContain('Maximum KLD:   0.019000');
    expect(lines).toContain('Minimum Δp: -10.000%');
    expect(lines).toContain('Median  Δp: -0.500%');
    expect(lines).toContain('Same top p: 75.000 ± 9.934 %'); // 15 of 20; sqrt(0.75 × 0.25 / 19)
  });
});
