import type { HfArchitecturePlan } from './hf-config.js';

/** How a tensor's bytes change between its safetensors file and the GGUF layout the models read. */
export type HfTensorTransform =
  | { readonly kind: 'none' }
  /** rows of each of numHeads heads reordered from rotate-half to adjacent pairs (llama q and k) */
  | { readonly kind: 'permuteHeads'; readonly numHeads: number }
  /** decoded to f32 and 1 added (Gemma's norms) */
  | { readonly kind: 'addOne' };

export interface HfTensorName {
  /** llama.cpp's name (tensor_mapping.py) */
  readonly name: string;
  readonly transform: HfTensorTransform;
}

const NONE: HfTensorTransform = { kind: 'none' };

/** buffers of the PyTorch module that some checkpoints save; no GGUF has them (the converter drops them) */
const DROPPED = /(^|\.)rotary_emb\.inv_freq$/;

/** Gemma 3's multimodal checkpoints: the language model under a prefix, the vision tower beside it */
const TEXT_PREFIXES: readonly [string, string][] = [
  ['model.language_model.', 'model.'],
  ['language_model.model.', 'model.'],
  ['language_model.lm_head.', 'lm_head.'],
];
const VISION_PREFIXES = ['vision_tower.', 'multi_modal_projector.', 'model.vision_tower.', 'model.multi_modal_projector.'];

/** per-layer module names (after model.layers.N.) → llama.cpp's, for every architecture here */
const LAYER_NAMES: ReadonlyMap<string, string> = new Map([
  ['input_layernorm', 'attn_norm'],
  ['self_attn.q_proj', 'attn_q'],
  ['self_attn.k_proj', 'attn_k'],
  ['self_attn.v_proj', 'attn_v'],
  ['self_attn.o_proj', 'attn_output'],
  ['self_attn.qkv_proj', 'attn_qkv'],
  ['self_attn.q_norm', 'attn_q_norm'],
  ['self_attn.k_norm', 'attn_k_norm'],
  ['mlp.gate_proj', 'ffn_gate'],
  ['mlp.up_proj', 'ffn_up'],
  ['mlp.down_proj', 'ffn_down'],
  // Phi-3's gate and up in one matrix: llama.cpp names it ffn_up
  ['mlp.gate_up_proj', 'ffn_up'],
  ['pre_feedforward_layernorm', 'ffn_norm'],
  ['post_feedforward_layernorm', 'post_ffw_norm'],
]);

/**
 * The GGUF name and conversion of a Hugging Face tensor, by llama.cpp's tensor_mapping.py for the
 * architectures Peregrine runs; `null` for tensors no text model uses (rotary inv_freq buffers, a
 * multimodal checkpoint's vision tower); the HF name unchanged for a tensor it does not know
 * (the weight loader then refuses the model, naming it, as unused).
 */
export function mapHfTensorName(hfName: string, plan: HfArchitecturePlan): HfTensorName | null {
  if (DROPPED.test(hfName) || VISION_PREFIXES.some((p) => hfName.startsWith(p))) return null;
  let name = hfName;
  for (const [from, to] of TEXT_PREFIXES) if (name.startsWith(from)) name = to + name.slice(from.length);
  const isNorm = name.endsWith('norm.weight');
  const transform: HfTensorTransform = plan.hasNormOffset && isNorm ? { kind: 'addOne' } : NONE;
  if (name === 'model.embed_tokens.weight') return { name: 'token_embd.weight', transform };
  if (name === 'model.norm.weight') return { name: 'output_norm.weight', transform };
  if (name === 'lm_head.weight') return { name: 'output.weight', transform };
  const layer = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!layer) return { name: hfName, transform: NONE };
  const [, index, module, kind] = layer as unknown as [string, string, string, string];
  const ggufModule = module === 'post_attention_layernorm' ? (plan.hasPostNorms ? 'post_attention_norm' : 'ffn_norm') : LAYER_NAMES.get(module);
  if (ggufModule === undefined) return { name: hfName, transform: NONE };
  const ggufName = `blk.${index}.${ggufModule}.${kind}`;
  if (plan.permuteQk && (module === 'self_attn.q_proj' || module === 'self_attn.k_proj')) {
    const numHeads = module === 'self_attn.q_proj' ? plan.permuteQk.numHeads : plan.permuteQk.numKvHeads;
    return { name: ggufName, transform: { kind: 'permuteHeads', numHeads } };
  }
  return { name: ggufName, transform };
}
