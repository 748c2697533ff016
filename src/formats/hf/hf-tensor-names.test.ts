import { describe, expect, it } from 'vitest';
import { planHfArchitecture } from './hf-config.js';
import { mapHfTensorName } from './hf-tensor-names.js';

const GEMMA3_TEXT = {
  hidden_size: 256, intermediate_size: 512, num_hidden_layers: 6, num_attention_heads: 4, num_key_value_heads: 2,
  head_dim: 128, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-6, rope_theta: 1e6,
  sliding_window: 32, query_pre_attn_scalar: 128, rope_scaling: { rope_type: 'linear', factor: 8 },
};

describe('Hugging Face tensor names → llama.cpp names', () => {
  it("reads Gemma 3's multimodal checkpoint as its text model: text_config, language_model prefixes, no vision tower", () => {
    const plan = planHfArchitecture({ model_type: 'gemma3', text_config: GEMMA3_TEXT, vision_config: {} }, 'config.json');
    expect(plan.architecture).toBe('gemma3');
    expect(plan.metadata.get('gemma3.rope.scaling.factor')?.value).toBe(8);
    expect(mapHfTensorName('model.language_model.layers.3.self_attn.q_norm.weight', plan)).toEqual({ name: 'blk.3.attn_q_norm.weight', transform: { kind: 'addOne' } });
    expect(mapHfTensorName('language_model.model.embed_tokens.weight', plan)).toEqual({ name: 'token_embd.weight', transform: { kind: 'none' } });
    expect(mapHfTensorName('language_model.model.layers.0.post_attention_layernorm.weight', plan)?.name).toBe('blk.0.post_attention_norm.weight');
    expect(mapHfTensorName('language_model.model.layers.0.pre_feedforward_layernorm.weight', plan)?.name).toBe('blk.0.ffn_norm.weight');
    expect(mapHfTensorName('vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight', plan)).toBeNull();
    expect(mapHfTensorName('multi_modal_projector.mm_input_projection_weight', plan)).toBeNull();
  });

  it("maps llama's post_attention_layernorm to the MLP's pre-norm and permutes q (all heads) and k (KV heads) only", () => {
    const plan = planHfArchitecture({ model_type: 'mistral', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 8, num_key_value_heads: 2, max_position_embeddings: 64 }, 'config.json');
    expect(plan.architecture).toBe('llama');
    expect(mapHfTensorName('model.layers.0.post_attention_layernorm.weight', plan)?.name).toBe('blk.0.ffn_norm.weight');
    expect(mapHfTensorName('model.layers.0.self_attn.q_proj.weight', plan)?.transform).toEqual({ kind: 'permuteHeads', numHeads: 8 });
    expect(mapHfTensorName('model.layers.0.self_attn.k_proj.bias', plan)?.transform).toEqual({ kind: 'permuteHeads', numHeads: 2 });
    expect(mapHfTensorName('model.layers.0.self_attn.v_proj.weight', plan)?.transform).toEqual({ kind: 'none' });
    expect(mapHfTensorName('model.layers.0.self_attn.rotary_emb.inv_freq', plan)).toBeNull();
    expect(mapHfTensorName('model.norm.weight', plan)).toEqual({ name: 'output_norm.weight', transform: { kind: 'none' } });
  });

  it("carries a Mistral config's sliding_window to llama.attention.sliding_window; a null one (Mistral v0.2 and later) gives none", () => {
    const mistral = { model_type: 'mistral', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 8, num_key_value_heads: 2, max_position_embeddings: 64 };
    expect(planHfArchitecture({ ...mistral, sliding_window: 4096 }, 'config.json').metadata.get('llama.attention.sliding_window')?.value).toBe(4096);
    expect(planHfArchitecture({ ...mistral, sliding_window: null }, 'config.json').metadata.has('llama.attention.sliding_window')).toBe(false);
  });
});
