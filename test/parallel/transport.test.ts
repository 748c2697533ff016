import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceGroup, type DeviceGroupOptions } from '../../src/parallel/device-group.js';
import { TRANSPORT_KINDS, type TransportKind } from '../../src/parallel/transport.js';
import { TransportError } from '../../src/parallel/transport-error.js';
import { Rng } from '../../src/util/rng.js';

/**
 * The Transport contract, run over both transports with real workers (threads on shared memory,
 * processes on Unix sockets): point to point, the collectives, and failure (a worker killed in the
 * middle of an all-reduce, a peer that never comes). Every test has a timeout and closes its group
 * in afterEach, which kills whatever is left after 2 s.
 */

const TEST_TIMEOUT_MS = 60_000;
/** small rings, so messages larger than a ring stream through it and wrap around */
const RING_BYTES = 4096;

let groups: DeviceGroup[] = [];

afterEach(async () => {
  await Promise.all(groups.map((g) => g.close()));
  groups = [];
});

async function startGroup(transport: TransportKind, options: Partial<DeviceGroupOptions> & { worldSize: number }): Promise<DeviceGroup> {
  // the reference backend: these tests move bytes, no kernels (and loading no addon starts the workers sooner)
  const group = await DeviceGroup.start({ transport, backend: 'reference', ringBytes: RING_BYTES, peerTimeoutMs: 20_000, ...options });
  groups.push(group);
  return group;
}

function randomFloats(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.gaussian() * scale);
}

/** the all-reduce's contract: f32 sums in rank order */
function rankOrderSum(vectors: readonly Float32Array[]): Float32Array {
  return vectors[0]!.map((_, i) => vectors.slice(1).reduce((sum, v) => Math.fround(sum + v[i]!), vectors[0]![i]!));
}

async function expectTransportError(promise: Promise<unknown>, code: TransportError['code']): Promise<TransportError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  expect((err as TransportError).code).toBe(code);
  return err as TransportError;
}

describe.each(TRANSPORT_KINDS)('transport %s', (transport) => {
  it(
    'sends messages in order, larger ones than a ring included, to the rank named, and closes',
    async () => {
      const group = await startGroup(transport, { worldSize: 3 });
      const rng = new Rng(1);
      const small = randomFloats(rng, 3);
      const large = randomFloats(rng, 10_001); // 40 KB through a 4 KB ring, a length that is no multiple of it
      const empty = new Float32Array(0);
      const sending = (async () => {
        for (const data of [small, large, empty, small]) await group.run(0, { kind: 'send', to: 2, data });
      })();
      const received = [];
      for (const n of [3, 10_001, 0, 3]) received.push((await group.run(2, { kind: 'recv', from: 0, numFloats: n })).result);
      await sending;
      expect(received).toEqual([small, large, empty, small]);
      // rank 1 got nothing: a message to it now is the first it reads
      const [, got] = await Promise.all([group.run(2, { kind: 'send', to: 1, data: small }), group.run(1, { kind: 'recv', from: 2, numFloats: 3 })]);
      expect(got.result).toEqual(small);

      // close: every worker exits, the socket directory goes, later commands fail
      const socketDir = (group as unknown as { socketDir: string | undefined }).socketDir;
      await group.close();
      if (socketDir) expect(existsSync(socketDir)).toBe(false);
      await expectTransportError(group.run(0, { kind: 'barrier' }), 'WORKER_FAILED');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'all-reduces to the same bits on every rank (f32 sums in rank order, every time), all-gathers, passes barriers',
    async () => {
      const worldSize = 3;
      const group = await startGroup(transport, { worldSize });
      const rng = new Rng(2);
      for (const n of [1, 2048, 5000]) {
        // large and small terms, so that another order of addition would round differently
        const inputs = Array.from({ length: worldSize }, (_, r) => randomFloats(rng, n, r === 1 ? 1 : 1e7));
        const results = await group.runAll((rank) => ({ kind: 'allReduceSum', data: inputs[rank]!, repeat: 3 }));
        const expected = rankOrderSum(inputs);
        for (const r of results) expect(r.result).toEqual(expected);
        if (n === 5000) {
          const otherOrder = inputs[2]!.map((v, i) => Math.fround(Math.fround(v + inputs[1]![i]!) + inputs[0]![i]!));
          expect(otherOrder).not.toEqual(expected); // the test can tell the orders apart
        }
      }
      const gathered = Array.from({ length: worldSize }, () => randomFloats(rng, 1500));
      const results = await group.runAll((rank) => ({ kind: 'allGather', data: gathered[rank]! }));
      const expected = new Float32Array(worldSize * 1500);
      gathered.forEach((x, r) => expected.set(x, r * 1500));
      for (const r of results) expect(r.result).toEqual(expected);
      await group.runAll(() => ({ kind: 'barrier' }));
      await group.runAll(() => ({ kind: 'barrier' }));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'fails the survivors and the parent, within a bounded time, when a worker is killed in the middle of an all-reduce',
    async () => {
      // ranks 0 and 1 enter an all-reduce that rank 2 has not joined yet; rank 1 dies while it waits
      const group = await startGroup(transport, { worldSize: 3, peerTimeoutMs: 20_000 });
      const data = new Float32Array(20_000).fill(1); // larger than a ring: both are mid-transfer
      const survivor = group.run(0, { kind: 'allReduceSum', data });
      const victim = group.run(1, { kind: 'allReduceSum', data });
      await new Promise((r) => setTimeout(r, 300));
      const killedAt = performance.now();
      group.kill(1);
      // both handled from now on: either may fail first (the survivor's report can beat the exit)
      const [victimError, survivorError] = await Promise.all([expectTransportError(victim, 'WORKER_FAILED'), expectTransportError(survivor, 'PEER_FAILED')]);
      expect(victimError.message).toMatch(/worker 1 (exited|was killed)/);
      expect(survivorError.message).toMatch(/worker 0: .*rank 1/);
      expect(performance.now() - killedAt).toBeLessThan(5_000); // the failure, not the 20 s timeout
      expect(group.failure?.code).toBe('WORKER_FAILED');
      // the group is dead: the idle survivor's next command fails at once
      await expectTransportError(group.run(2, { kind: 'allReduceSum', data }), 'WORKER_FAILED');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'times out a collective whose peer never comes (PEER_TIMEOUT); the group is dead afterwards',
    async () => {
      const group = await startGroup(transport, { worldSize: 2, peerTimeoutMs: 500 });
      const started = performance.now();
      const err = await expectTransportError(group.run(0, { kind: 'allReduceSum', data: new Float32Array(8).fill(1) }), 'PEER_TIMEOUT');
      const waitedMs = performance.now() - started;
      expect(err.message).toMatch(/rank 1/);
      expect(waitedMs).toBeGreaterThanOrEqual(450);
      expect(waitedMs).toBeLessThan(5_000);
      expect(group.failure?.code).toBe('PEER_TIMEOUT');
      await expectTransportError(group.run(1, { kind: 'barrier' }), 'PEER_TIMEOUT');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'kills a worker that does not answer within commandTimeoutMs (WORKER_FAILED)',
    async () => {
      // rank 0 waits on rank 1 far longer than the parent lets a command run: it is wedged as far as the parent can tell
      const group = await startGroup(transport, { worldSize: 2, peerTimeoutMs: 20_000, commandTimeoutMs: 800 });
      const err = await expectTransportError(group.run(0, { kind: 'recv', from: 1, numFloats: 4 }), 'WORKER_FAILED');
      expect(err.message).toMatch(/worker 0 did not answer recv within 800 ms/);
      await expectTransportError(group.run(1, { kind: 'barrier' }), 'WORKER_FAILED');
    },
    TEST_TIMEOUT_MS,
  );
});
