import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../errors/untrusted-text.js';
import { TRANSPORT_KINDS, type TransportKind } from '../parallel/transport.js';
import type { Measurement } from './measurer.js';
import type { PlanConfig } from './plan-config.js';
import { KV_CACHE_TYPES } from './candidate-space.js';

const positiveInteger = z.int().min(1);

/**
 * `peregrine plan --output FILE`, read back by `peregrine serve --plan FILE`: what serve needs to
 * run the chosen config, and what the planner measured for it (informative; serve ignores it).
 * Unknown keys are refused, so a misspelt setting is not silently dropped.
 */
export const PLAN_FILE_SCHEMA = z.strictObject({
  /** the weight file; a relative path is relative to the plan file's folder */
  model: z.string().min(1),
  tensorParallel: positiveInteger,
  pipelineParallel: positiveInteger,
  parallelTransport: z.enum(TRANSPORT_KINDS as readonly [TransportKind, ...TransportKind[]]),
  /** kernel threads per worker */
  threads: positiveInteger,
  maxNumSeqs: positiveInteger,
  kvCacheType: z.enum(KV_CACHE_TYPES as readonly [(typeof KV_CACHE_TYPES)[number], ...(typeof KV_CACHE_TYPES)[number][]]),
  measured: z.strictObject({ ttftMs: z.number(), tpotMs: z.number(), tokensPerSecond: z.number() }).optional(),
  budget: z.strictObject({ maxTtftMs: z.number().optional(), maxTpotMs: z.number().optional() }).optional(),
});

export type PlanFile = z.output<typeof PLAN_FILE_SCHEMA>;

/** The plan file for a chosen config (the model path made absolute). */
export function toPlanFile(config: PlanConfig, parallelTransport: TransportKind, measured: Measurement, budget: PlanFile['budget']): PlanFile {
  return {
    model: resolve(config.modelPath),
    tensorParallel: config.tensorParallel,
    pipelineParallel: config.pipelineParallel,
    parallelTransport,
    threads: config.threadsPerWorker,
    maxNumSeqs: config.maxNumSeqs,
    kvCacheType: config.kvCacheType,
    measured: { ttftMs: measured.ttftMs, tpotMs: measured.tpotMs, tokensPerSecond: measured.tokensPerSecond },
    budget,
  };
}

export function writePlanFile(path: string, plan: PlanFile): void {
  writeFileSync(path, JSON.stringify(PLAN_FILE_SCHEMA.parse(plan), null, 2) + '\n');
}

/**
 * Reads and checks a plan file; an unreadable file, bad JSON or a bad field is an
 * InvalidRequestError naming `flag`, the file and the field. `model` comes back resolved.
 */
export function readPlanFile(path: string, flag = '--plan'): PlanFile {
  const where = `${flag} ${untrustedPath(path)}`;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code !== undefined ? `cannot be read (${code})` : `is not JSON (${(e as Error).message})`;
    throw new InvalidRequestError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'INVALID_ARGUMENT', `${where}: ${why}`);
  }
  const result = PLAN_FILE_SCHEMA.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.length > 0 ? `'${untrustedText(issue.path.join('.'))}': ` : '';
    const isAbsent = issue.code === 'invalid_type' && issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], raw) === undefined;
    throw new InvalidRequestError('INVALID_ARGUMENT', `${where}: ${key}${isAbsent ? 'is required' : issue.message}`);
  }
  return { ...result.data, model: resolve(dirname(path), result.data.model) };
}
