/**
 * README's performance tables, one pair per kind of CPU (`amx`: an Intel Xeon with AMX; `no-amx`:
 * any other), each naming the CPU and the kernels it was measured with, so a run on one machine
 * never overwrites the other machine's figures.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { probeNativeBackend } from '../src/kernels/native/native-backend.js';

export type CpuKind = 'amx' | 'no-amx';

export interface BenchCpu {
  /** the CPU's model name as the OS reports it (a VM may hide the exact model) */
  readonly model: string;
  /** the native kernels' instruction set (PEREGRINE_ISA caps it), or 'none' without the addon */
  readonly isa: string;
  readonly kind: CpuKind;
}

export function benchCpu(): BenchCpu {
  const model = cpus()[0]?.model.trim() || 'unknown CPU';
  const probe = probeNativeBackend({ threads: 1 });
  const isa = probe.ok ? probe.backend.isa : 'none';
  if (probe.ok) probe.backend.dispose();
  return { model, isa, kind: isa === 'amx' ? 'amx' : 'no-amx' };
}

/** "AMD EPYC, kernels avx2 (PEREGRINE_ISA=avx2)" */
export function describeCpu(cpu: BenchCpu): string {
  const cap = process.env.PEREGRINE_ISA ? ` (PEREGRINE_ISA=${process.env.PEREGRINE_ISA})` : '';
  return `${cpu.model}, kernels ${cpu.isa}${cap}`;
}

/**
 * Replaces README's `<!-- name:start kind -->` … `<!-- name:end kind -->` block with `body`; a kind
 * the README has no block for yet goes right after the last block of that name.
 */
export function updateReadmeBlock(readmePath: string, name: 'bench' | 'serving' | 'mask' | 'parallel' | 'formats', kind: CpuKind, body: string): void {
  const readme = readFileSync(readmePath, 'utf8');
  const start = `<!-- ${name}:start ${kind} -->`;
  const end = `<!-- ${name}:end ${kind} -->`;
  const block = `${start}\n${body}\n${end}`;
  const at = readme.indexOf(start);
  const endAt = readme.indexOf(end);
  if (at >= 0 && endAt > at) {
    writeFileSync(readmePath, readme.slice(0, at) + block + readme.slice(endAt + end.length));
    return;
  }
  const lastEnd = [...readme.matchAll(new RegExp(`<!-- ${name}:end [a-z-]+ -->`, 'g'))].pop();
  if (!lastEnd) throw new Error(`README.md has no <!-- ${name}:start KIND --> block to update`);
  const insertAt = lastEnd.index + lastEnd[0].length;
  writeFileSync(readmePath, `${readme.slice(0, insertAt)}\n\n${block}${readme.slice(insertAt)}`);
}
