import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { loadModel } from '../../src/engine/loaded-model.js';
import type { Model } from '../../src/engine/model.js';
import { ChatTemplate, FALLBACK_CHAT_TEMPLATE } from '../../src/chat/chat-template.js';
import { InvalidRequestError } from '../../src/errors/engine-error.js';

const CHATML =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' and loop.index0 % 2 == 1 %}{{ raise_exception('roles must alternate') }}{% endif %}" +
  "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

let model: Model;
beforeAll(async () => {
  model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 64, threads: 1 });
});

describe('ChatTemplate', () => {
  it('stories260K has no template: the fallback renders plain turns', () => {
    const template = ChatTemplate.forModel(model);
    expect(template.isFallback).toBe(true);
    expect(template.source).toBe(FALLBACK_CHAT_TEMPLATE);
    const text = template.render([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'A story?' },
    ]);
    expect(text).toBe('Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: A story?\nAssistant:');
  });

  it('a Jinja template gets bos_token and add_generation_prompt; the leading BOS is left to the tokenizer', () => {
    const template = ChatTemplate.fromSource(CHATML, model.tokenizer);
    expect(model.tokenizer.addBos).toBe(true);
    expect(template.render([{ role: 'user', content: 'Hi' }])).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(template.render([{ role: 'user', content: 'Hi' }], false)).toBe('<|im_start|>user\nHi<|im_end|>\n');
  });

  it("a template's raise_exception is the caller's error, naming the messages", () => {
    const template = ChatTemplate.fromSource(CHATML, model.tokenizer);
    const render = () => template.render([{ role: 'assistant', content: 'a' }, { role: 'user', content: 'b' }]);
    expect(render).toThrow(InvalidRequestError);
    expect(render).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGES', param: 'messages', message: expect.stringMatching(/roles must alternate/) }));
  });
});
