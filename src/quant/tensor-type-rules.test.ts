import { describe, expect, it } from 'vitest';
import { GgmlType, ggmlTypeName } from '../formats/ggml-type.js';
import { resolveQuantFormat } from './index.js';
import { allowsQuantization, compileKeepPatterns, llamaTensorOrder, planTensorTypes, type TensorTypeInput } from './tensor-type-rules.js';

/** A Llama-shaped tensor list: numLayers blocks of dim × dim attention and dim × 4dim FFN, F16 matrices, F32 norms. */
function llamaTensors(numLayers: number, dim: number, { isTied = false } = {}): TensorTypeInput[] {
  const t: TensorTypeInput[] = [
    { name: 'token_embd.weight', shape: [dim, 1000], type: GgmlType.F16 },
    { name: 'output_norm.weight', shape: [dim], type: GgmlType.F32 },
  ];
  if (!isTied) t.push({ name: 'output.weight', shape: [dim, 1000], type: GgmlType.F16 });
  for (let i = 0; i < numLayers; i++) {
    for (const m of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up']) t.push({ name: `blk.${i}.${m}.weight`, shape: [dim, dim], type: GgmlType.F16 });
    t.push({ name: `blk.${i}.ffn_down.weight`, shape: [4 * dim, dim], type: GgmlType.F16 });
    t.push({ name: `blk.${i}.attn_norm.weight`, shape: [dim], type: GgmlType.F32 });
    t.push({ name: `blk.${i}.ffn_norm.weight`, shape: [dim, 1], type: GgmlType.F32 });
  }
  return t;
}

const MODEL = { architecture: 'llama', numLayers: 32, numExperts: 0, numHeads: 32, numKvHeads: 8 };

function typesOf(format: string, tensors = llamaTensors(32, 256), model = MODEL): Record<string, string> {
  return Object.fromEntries(planTensorTypes(model, tensors, resolveQuantFormat(format)).map((p) => [p.name, ggmlTypeName(p.type)]));
}

function layersWith(types: Record<string, string>, matrix: string, type: string): number[] {
  return Array.from({ length: 32 }, (_, i) => i).filter((i) => types[`blk.${i}.${matrix}.weight`] === type);
}

describe("llama-quantize's tensor types", () => {
  it('never quantizes 1-D tensors (trailing 1s do not count), norms, routers or non-weights', () => {
    expect(allowsQuantization('blk.0.attn_q.weight', [256, 256])).toBe(true);
    expect(allowsQuantization('blk.0.ffn_up_exps.weight', [256, 512, 8])).toBe(true);
    expect(allowsQuantization('blk.0.attn_norm.weight', [256, 1])).toBe(false);
    expect(allowsQuantization('blk.0.attn_q_norm.weight', [64, 64])).toBe(false);
    expect(allowsQuantization('blk.0.ffn_gate_inp.weight', [256, 8])).toBe(false);
    expect(allowsQuantization('blk.0.attn_q.bias', [256, 256])).toBe(false);
    expect(allowsQuantization('position_embd.weight', [256, 512])).toBe(false);
    expect(allowsQuantization('rope_freqs.weight', [32])).toBe(false);
  });

  it('Q4_K (= Q4_K_M): Q6_K for output and for attn_v and ffn_down in the layers use_more_bits picks', () => {
    const types = typesOf('Q4_K');
    // llama.cpp's Q4_K_M files of 32-layer models: the first and last quarter-ish, and every third layer between
    const moreBits = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    expect(layersWith(types, 'attn_v', 'Q6_K')).toEqual(moreBits);
    expect(layersWith(types, 'ffn_down', 'Q6_K')).toEqual(moreBits);
    expect(layersWith(types, 'attn_q', 'Q4_K')).toHaveLength(32);
    expect(types['output.weight']).toBe('Q6_K');
    expect(types['token_embd.weight']).toBe('Q4_K');
    expect(types['output_norm.weight']).toBe('F32');
    expect(types['blk.5.ffn_norm.weight']).toBe('F32');
  });

  it('Q4_K_S: Q5_K for the first 4 attn_v and the ffn_down of the first 1/8 of the layers', () => {
    const types = typesOf('Q4_K_S');
    expect(layersWith(types, 'attn_v', 'Q5_K')).toEqual([0, 1, 2, 3]);
    expect(layersWith(types, 'ffn_down', 'Q5_K')).toEqual([0, 1, 2, 3]);
    expect(types['output.weight']).toBe('Q6_K');
  });

  it('Q8_0 keeps the output in Q8_0; Q4_0 and Q6_K give it Q6_K; tied token embeddings follow the output rule', () => {
    expect(typesOf('Q8_0')['output.weight']).toBe('Q8_0');
    expect(typesOf('Q4_0')['output.weight']).toBe('Q6_K');
    expect(typesOf('Q4_0')['token_embd.weight']).toBe('Q4_0');
    const tied = typesOf('Q4_0', llamaTensors(32, 256, { isTied: true }));
    expect(tied['token_embd.weight']).toBe('Q6_K');
    expect(typesOf('Q6_K')['blk.7.attn_v.weight']).toBe('Q6_K');
  });

  it('MXFP4: every matrix MXFP4, output and token embeddings Q8_0', () => {
    const types = typesOf('MXFP4');
    expect(new Set(Object.entries(types).filter(([n]) => n.startsWith('blk.') && !n.includes('norm')).map(([, t]) => t))).toEqual(new Set(['MXFP4']));
    expect([types['output.weight'], types['token_embd.weight']]).toEqual(['Q8_0', 'Q8_0']);
  });

  it('falls back where the row length does not fit the block: Q4_K→Q5_0, Q6_K→Q8_0, else F16; the output to Q8_0', () => {
    const tensors = llamaTensors(2, 96); // rows of 96 and 384: multiples of 32, not of 256
    const model = { ...MODEL, numLayers: 2 };
    expect(typesOf('Q4_K', tensors, model)['blk.0.attn_q.weight']).toBe('Q5_0');
    expect(typesOf('Q6_K', tensors, model)['blk.0.attn_q.weight']).toBe('Q8_0');
    expect(typesOf('Q4_K', tensors, model)['output.weight']).toBe('Q8_0');
    const odd = llamaTensors(2, 72); // 72: not a multiple of 32 either
    expect(typesOf('Q4_K', odd, model)['blk.0.attn_q.weight']).toBe('F16');
    expect(typesOf('Q8_0', odd, model)['blk.0.attn_q.weight']).toBe('F16');
    expect(typesOf('MXFP4', odd, model)['blk.0.attn_q.weight']).toBe('F16');
    const plan = planTensorTypes(model, odd, resolveQuantFormat('Q4_0'));
    expect(plan.find((p) => p.name === 'blk.0.attn_q.weight')?.reason).toBe('fallback');
  });

  it('F16/BF16/F32 formats convert every quantizable matrix and nothing else', () => {
    const types = typesOf('BF16');
    expect(types['output.weight']).toBe('BF16');
    expect(types['blk.0.ffn_down.weight']).toBe('BF16');
    expect(types['blk.0.attn_norm.weight']).toBe('F32');
  });

  it('keep patterns leave tensors in their input type', () => {
    const plan = planTensorTypes(MODEL, llamaTensors(32, 256), resolveQuantFormat('Q4_0'), compileKeepPatterns(['^output\\.', 'blk\\.1\\.attn']));
    const byName = new Map(plan.map((p) => [p.name, p]));
    expect(byName.get('output.weight')).toEqual({ name: 'output.weight', type: GgmlType.F16, reason: 'kept' });
    expect(byName.get('blk.1.attn_q.weight')?.reason).toBe('kept');
    expect(byName.get('blk.10.attn_q.weight')?.type).toBe(GgmlType.Q4_0);
    expect(() => compileKeepPatterns(['['])).toThrow(/not a valid regular expression/);
  });

  it("visits tensors in llama.cpp's order: non-layer tensors, then by layer number, then by name", () => {
    const names = llamaTensorOrder(llamaTensors(12, 64)).map((t) => t.name);
    expect(names.slice(0, 4)).toEqual(['output.weight', 'output_norm.weight', 'token_embd.weight', 'blk.0.attn_k.weight']);
    expect(names.indexOf('blk.2.attn_k.weight')).toBeLessThan(names.indexOf('blk.10.attn_k.weight'));
  });

  it('names formats as llama-quantize does, case-insensitively, and refuses others', () => {
    expect(resolveQuantFormat('q4_k')).toMatchObject({ name: 'Q4_K', fileType: 15, defaultType: GgmlType.Q4_K });
    expect(resolveQuantFormat('Q4_K_S').fileType).toBe(14);
    expect(resolveQuantFormat('MXFP4').fileType).toBe(38);
    expect(() => resolveQuantFormat('Q8_K')).toThrow(/unknown quantization format 'Q8_K'/);
    expect(() => resolveQuantFormat('Q5_0')).toThrow(/unknown quantization format/);
  });
});
