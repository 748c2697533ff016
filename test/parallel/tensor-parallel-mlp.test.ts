import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GgmlType, ggmlTypeName } from '../../src/formats/ggml-type.js';
import type { WeightHandle, WeightTensor } from '../../src/kernels/kernel-backend.js';
import { selectBackend } from '../../src/kernels/select-backend.js';
import { DeviceGroup } from '../../src/parallel/device-group.js';
import { shardGatedMlp } from '../../src/parallel/tensor-parallel-mlp.js';
import { TRANSPORT_KINDS } from '../../src/parallel/transport.js';
import { stackRows } from '../../src/parallel/weight-split.js';
import { quantize } from '../../src/quant/index.js';
import { Rng } from '../../src/util/rng.js';
import { maxRelativeError } from '../../src/testing/relative-error.js';

/**
 * A gated MLP split over 2 workers (gate and up by rows, down by columns, one all-reduce) against
 * the same MLP on one backend, over both transports. Each worker runs the backend the parent
 * would select (native where it built) with 1 kernel thread; the single backend runs 2.
 *
 * The split is on block boundaries, so each worker's down matmul quantizes exactly the
 * activation blocks one worker would (Q8_0 blocks of 32 for Q8_0/Q4_0, Q8_K blocks of 256 for
 * Q4_K: checked in src/parallel/weight-split.test.ts); what differs is only the order the block
 * sums are added in: the TP result is within 1e-5 relative of one worker's, and the same bits on both ranks.
 */

const TEST_TIMEOUT_MS = 60_000;
const HIDDEN = 256;
const FFN = 1024;
const WORLD_SIZE = 2;
const TYPES = [GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K];

const single = selectBackend('auto', { threads: 2 });
afterAll(() => (single as Partial<Disposable>)[Symbol.dispose]?.());

let groups: DeviceGroup[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.close()));
  groups = [];
});

function randomWeight(rng: Rng, type: GgmlType, name: string, numRows: number, numCols: number): WeightTensor {
  const values = Float32Array.from({ length: numRows * numCols }, () => rng.gaussian() / Math.sqrt(numCols));
  return { name, type, numRows, numCols, data: quantize(type, values) };
}

interface Mlp {
  readonly gate: WeightTensor;
  readonly up: WeightTensor;
  readonly down: WeightTensor;
}

/** down · (silu(gate · x) ⊙ (up · x)) on the single backend, as GatedMlp runs it (stacked gate-up, then matmulSwiglu) */
function singleMlp(mlp: Mlp, x: Float32Array, numTokens: number): Float32Array {
  const prepare = (w: WeightTensor): WeightHandle => single.uploadWeight(w, 'matmul');
  const gateUp = new Float32Array(numTokens * 2 * FFN);
  single.matmul(gateUp, prepare(stackRows('gate_up', [mlp.gate, mlp.up])), x, numTokens);
  const out = new Float32Array(numTokens * HIDDEN);
  single.matmulSwiglu(out, prepare(mlp.down), gateUp, numTokens);
  return out;
}

describe.each(TRANSPORT_KINDS)('tensor-parallel gated MLP, TP=2 over %s', (transport) => {
  it(
    `gives one backend's result within 1e-5 relative, the same bits on both ranks (${TYPES.map(ggmlTypeName).join(', ')})`,
    async () => {
      const group = await DeviceGroup.start({ worldSize: WORLD_SIZE, transport, threadsPerWorker: 1, peerTimeoutMs: 20_000 });
      groups.push(group);
      expect(group.backendNames).toEqual([single.name, single.name]);
      const rng = new Rng(42);
      for (const type of TYPES) {
        const name = ggmlTypeName(type);
        const mlp: Mlp = {
          gate: randomWeight(rng, type, 'gate', FFN, HIDDEN),
          up: randomWeight(rng, type, 'up', FFN, HIDDEN),
          down: randomWeight(rng, type, 'down', HIDDEN, FFN),
        };
        await group.runAll((rank) => {
          const shard = shardGatedMlp(mlp.gate, mlp.up, mlp.down, rank, WORLD_SIZE);
          return { kind: 'loadWeights', weights: [{ ...shard.gateUp, name: `${name}.gateUp` }, { ...shard.down, name: `${name}.down` }] };
        });
        for (const numTokens of [1, 5]) {
          const x = Float32Array.from({ length: numTokens * HIDDEN }, () => rng.gaussian());
          const expected = singleMlp(mlp, x, numTokens);
          const [r0, r1] = await group.runAll(() => ({ kind: 'mlpForward', gateUp: `${name}.gateUp`, down: `${name}.down`, x, numTokens }));
          expect(r0!.result).toEqual(r1!.result);
          const error = maxRelativeError(r0!.result as Float32Array, expected);
          expect(error, `${name}, ${numTokens} tokens: relative error ${error}`).toBeLessThan(1e-5);
        }
      }
    },
    TEST_TIMEOUT_MS,
  );
});
