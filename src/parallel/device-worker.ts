import { InvalidRequestError } from '../errors/engine-error.js';
import type { KernelBackend, WeightHandle } from '../kernels/kernel-backend.js';
import type { DeviceCommand, DeviceResult } from './device-protocol.js';
import { readModel } from '../formats/read-model.js';
import { createModel } from '../models/registry.js';
import { modelShardAt, ShardedModel } from './sharded-model.js';
import { TensorParallelMlp } from './tensor-parallel-mlp.js';
import type { Transport } from './transport.js';
import { TransportError } from './transport-error.js';

export interface CommandOutcome {
  readonly result: DeviceResult;
  /** the time of each run (DeviceCommand's repeat), in ms, measured here */
  readonly elapsedMs: readonly number[];
}

/**
 * A worker acting as a device: it owns a kernel backend (with its own kernel threads), the weight
 * shards loaded into it and its end of the group's transport, and runs the parent's commands
 * (device-protocol.ts) one at a time. worker-main.ts starts it inside a worker thread or process.
 * Owns the backend and the transport: close() disposes both.
 */
export class DeviceWorker {
  /** prepared weights by name */
  private readonly weights = new Map<string, WeightHandle>();
  private readonly mlps = new Map<string, TensorParallelMlp>();
  private queue: Promise<unknown> = Promise.resolve();
  /** this worker's shard of a whole model (loadModel) */
  private model: ShardedModel | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly backend: KernelBackend,
  ) {}

  get rank(): number {
    return this.transport.rank;
  }

  get backendName(): string {
    return this.backend.name;
  }

  get hasBf16Batches(): boolean {
    return this.backend.hasBf16Batches;
  }

  /**
   * Runs the command after every command given before it. A transport failure closes the
   * transport, so that the peers fail too instead of waiting for their timeout.
   */
  run(command: DeviceCommand): Promise<CommandOutcome> {
    const outcome = this.queue.then(() => this.execute(command)).catch((err: unknown) => {
      // the group is out of step: closing tells the peers at once, rather than at their timeout
      if (err instanceof TransportError) this.transport.close();
      throw err;
    });
    this.queue = outcome.catch(() => undefined);
    return outcome;
  }

  close(): void {
    this.transport.close();
    this.model?.dispose();
    this.model = undefined;
    (this.backend as Partial<Disposable>)[Symbol.dispose]?.();
    this.weights.clear();
    this.mlps.clear();
  }

  private async execute(c: DeviceCommand): Promise<CommandOutcome> {
    switch (c.kind) {
      case 'send':
        return this.timed(1, () => this.transport.send(c.to, c.data));
      case 'recv': {
        const dst = new Float32Array(c.numFloats);
        return this.timed(1, async () => (await this.transport.recv(c.from, dst), dst));
      }
      case 'allReduceSum': {
        const x = new Float32Array(c.data.length);
        return this.timed(c.repeat, async () => (await this.transport.allReduceSum(x), x), () => x.set(c.data));
      }
      case 'allGather': {
        const dst = new Float32Array(c.data.length * this.transport.worldSize);
        return this.timed(1, async () => (await this.transport.allGather(dst, c.data), dst));
      }
      case 'barrier':
        return this.timed(1, () => this.transport.barrier());
      case 'loadWeights':
        for (const w of c.weights) this.weights.set(w.name, this.backend.uploadWeight(w, 'matmul'));
        this.mlps.clear(); // they may hold a replaced weight
        return { result: undefined, elapsedMs: [] };
      case 'mlpForward': {
        const mlp = this.mlp(c.gateUp, c.down);
        const out = new Float32Array(c.numTokens * mlp.hiddenSize);
        return this.timed(c.repeat, async () => (await mlp.forward(out, c.x, c.numTokens), out));
      }
      case 'loadModel': {
        this.model?.dispose();
        this.model = undefined;
        const { tensorParallel, pipelineParallel } = c;
        if (tensorParallel * pipelineParallel !== this.transport.worldSize) {
          throw new InvalidRequestError('INVALID_ARGUMENT', `rank ${this.rank}: a plan of ${tensorParallel} × ${pipelineParallel} workers in a group of ${this.transport.worldSize}`);
        }
        const stage = Math.floor(this.rank / tensorParallel);
        const tpRank = this.rank % tensorParallel;
        const file = readModel(c.path, { tokenizer: c.tokenizer });
        const tpGroup = tensorParallel > 1 ? this.transport.subgroup(Array.from({ length: tensorParallel }, (_, i) => stage * tensorParallel + i)) : this.transport.subgroup([this.rank]);
        const position = { tensorParallel, pipelineParallel, stage, tpRank };
        const model = createModel(file, this.backend, { contextSize: c.contextSize, shard: modelShardAt(position) });
        this.model = new ShardedModel(model, position, this.transport, tpGroup);
        return { result: undefined, elapsedMs: [] };
      }
      case 'allocateKvCache':
        this.loadedModel().allocateKvCache(c);
        return { result: undefined, elapsedMs: [] };
      case 'forward': {
        const model = this.loadedModel();
        return this.timed(1, () => model.forward(c.microBatches));
      }
      case 'close':
        this.close();
        return { result: undefined, elapsedMs: [] };
    }
  }

  private mlp(gateUpName: string, downName: string): TensorParallelMlp {
    const key = `${gateUpName}\n${downName}`;
    let mlp = this.mlps.get(key);
    if (!mlp) {
      mlp = new TensorParallelMlp(this.backend, this.transport, this.weight(gateUpName), this.weight(downName));
      this.mlps.set(key, mlp);
    }
    return mlp;
  }

  private loadedModel(): ShardedModel {
    if (!this.model) throw new InvalidRequestError('INVALID_ARGUMENT', `rank ${this.rank}: no model was loaded`);
    return this.model;
  }

  private weight(name: string): WeightHandle {
    const w = this.weights.get(name);
    if (!w) throw new InvalidRequestError('INVALID_ARGUMENT', `rank ${this.rank}: no weight named ${name} was loaded`);
    return w;
  }

  /** runs `op` `repeat` times (each after `reset`, untimed), timing each run */
  private async timed(repeat = 1, op: () => Promise<DeviceResult | void>, reset?: () => void): Promise<CommandOutcome> {
    if (!Number.isInteger(repeat) || repeat < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `repeat must be a positive integer, got ${repeat}`);
    const elapsedMs: number[] = [];
    let result: DeviceResult | void;
    for (let i = 0; i < repeat; i++) {
      reset?.();
      const start = performance.now();
      result = await op();
      elapsedMs.push(performance.now() - start);
    }
    return { result: result ?? undefined, elapsedMs };
  }
}
