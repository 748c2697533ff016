/**
 * GGUF fuzzing, the long run: `npm run fuzz -- --cases 10000 [--seed N] [--cli-every K]`.
 * Case i has seed N + i; every case runs in-process (readGguf + loadModel + 2 greedy tokens),
 * and every K-th case (default 20; 1 = all) also through `peregrine generate` in a child process,
 * which catches signals and hangs. `npm run fuzz -- --replay SEED` reruns one case both ways and
 * keeps its file. Exits 1 on any crash, hang or bad message (needs `npm run build` for the CLI).
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  describeMutations, loadBaseFiles, makeFuzzDir, runCase, MAX_MESSAGE_BYTES, type CaseResult, type Outcome, justifyAccepted,
} from '../test/fuzz/gguf-fuzz-run.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    'cli-every': { type: 'string', default: '20' },
    'timeout-ms': { type: 'string', default: '20000' },
    replay: { type: 'string' },
  },
});
const int = (s: string, name: string): number => {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} must be a non-negative integer (got '${s}')\n`);
    process.exit(2);
  }
  return n;
};
const timeoutMs = int(values['timeout-ms'], 'timeout-ms');
const dir = makeFuzzDir();
const bases = loadBaseFiles(dir);

function line(r: CaseResult): string {
  return `  seed ${r.seed} (${r.base}, ${r.via}, ${Math.round(r.ms)} ms): ${r.outcome} ${r.code ?? ''} ${JSON.stringify((r.message ?? '').slice(0, 300))}\n    ${describeMutations(r.mutations)}`;
}

if (values.replay !== undefined) {
  const seed = int(values.replay, 'replay');
  for (const via of ['in-process', 'cli'] as const) {
    const r = await runCase(bases, seed, dir, { via, timeoutMs, keepFile: true });
    console.log(line(r));
    console.log(`    file: ${r.path}`);
  }
  process.exit(0);
}

const numCases = int(values.cases, 'cases');
const baseSeed = int(values.seed, 'seed');
const cliEvery = int(values['cli-every'], 'cli-every');
const counts: Record<Outcome, number> = { clean: 0, 'bad-message': 0, crash: 0, hang: 0, accepted: 0 };
const problems: CaseResult[] = [];
const acceptedByKind = new Map<string, { count: number; example: CaseResult }>();
const codes = new Map<string, number>();
let acceptedDataOnly = 0;
const justifiedByReason = new Map<string, number>();
let worst: CaseResult | undefined;
const start = performance.now();

function record(r: CaseResult): void {
  counts[r.outcome]++;
  if (r.code) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
  if (!worst || r.messageLength > worst.messageLength) worst = r;
  if (r.outcome === 'crash' || r.outcome === 'hang' || r.outcome === 'bad-message') problems.push(r);
  if (r.outcome === 'accepted') {
    const reason = r.isDataOnly ? undefined : justifyAccepted(r.mutations);
    if (r.isDataOnly) acceptedDataOnly++;
    else if (reason !== undefined) justifiedByReason.set(reason, (justifiedByReason.get(reason) ?? 0) + 1);
    else {
      const kind = [...new Set(r.mutations.map((m) => m.kind))].sort().join('+');
      const e = acceptedByKind.get(kind);
      if (e) e.count++;
      else acceptedByKind.set(kind, { count: 1, example: r });
    }
  }
}

for (let i = 0; i < numCases; i++) {
  const seed = baseSeed + i;
  record(await runCase(bases, seed, dir, { via: 'in-process', timeoutMs }));
  if (cliEvery > 0 && i % cliEvery === 0) record(await runCase(bases, seed, dir, { via: 'cli', timeoutMs }));
  if ((i + 1) % 500 === 0) process.stderr.write(`fuzz: ${i + 1}/${numCases} cases, ${((performance.now() - start) / 1000).toFixed(0)} s\n`);
}
rmSync(dir, { recursive: true, force: true });

const runs = Object.values(counts).reduce((a, b) => a + b, 0);
console.log(`fuzz: ${numCases} cases from seed ${baseSeed} (${runs} runs, CLI every ${cliEvery || 'never'}), ${((performance.now() - start) / 1000).toFixed(1)} s`);
console.log(`  clean ${counts.clean}, accepted ${counts.accepted}, crash ${counts.crash}, hang ${counts.hang}, bad message ${counts['bad-message']}`);
console.log(`  worst message: ${worst?.messageLength ?? 0} bytes (limit ${MAX_MESSAGE_BYTES})${worst?.messageLength ? ` at seed ${worst.seed}` : ''}`);
console.log(`  error codes: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`);
const numJustified = [...justifiedByReason.values()].reduce((a, b) => a + b, 0);
const numToReview = counts.accepted - acceptedDataOnly - numJustified;
console.log(`  accepted: ${acceptedDataOnly} data-only, ${numJustified} justified otherwise (see justifyAccepted), ${numToReview} to review`);
for (const [reason, count] of [...justifiedByReason].sort((a, b) => b[1] - a[1])) console.log(`    justified: ${reason}: ${count}`);
if (numToReview > 0) console.log('  to review:');
for (const [kind, { count, example }] of [...acceptedByKind].sort((a, b) => b[1].count - a[1].count)) {
  console.log(`    ${kind}: ${count}, e.g. seed ${example.seed}: ${describeMutations(example.mutations)}`);
}
if (problems.length) {
  console.log(`  first crashes / hangs / bad messages (replay with --replay SEED):`);
  for (const r of problems.slice(0, 10)) console.log(line(r));
}
process.exitCode = counts.crash + counts.hang + counts['bad-message'] + numToReview > 0 ? 1 : 0;
