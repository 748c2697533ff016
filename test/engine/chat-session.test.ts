import { afterAll, describe, expect, it } from 'vitest';
import { ChatTemplate, FALLBACK_CHAT_TEMPLATE, loadModel } from '../../src/api/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';

// stories260K has no chat template: sessions use the server's fallback ("User:" / "Assistant:")
const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256 });
afterAll(() => model.dispose());

const GREEDY = { temperature: 0, maxTokens: 16 } as const;
/** a template that shows every turn, to check what a session renders */
const MARKED = '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}';

describe('ChatSession (model.chat)', () => {
  it("answers with what the engine generates for the history rendered by the model's template", async () => {
    const session = model.chat({ systemPrompt: 'You tell stories.' });
    expect(session.chatTemplate.source).toBe(FALLBACK_CHAT_TEMPLATE);
    const answer = await session.prompt('Tell me about a cat', GREEDY);
    const rendered = 'You tell stories.\n\nUser: Tell me about a cat\nAssistant:';
    expect(session.chatTemplate.render([{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me about a cat' }])).toBe(rendered);
    const expected = await model.complete(rendered, { ...GREEDY, parseSpecial: true, stop: ['\nUser:'] });
    expect(answer).toBe(expected.text);
    expect(answer.length).toBeGreaterThan(0);
    expect(session.history).toEqual([
      { role: 'system', content: 'You tell stories.' },
      { role: 'user', content: 'Tell me about a cat' },
      { role: 'assistant', content: answer },
    ]);
  });

  it('keeps the history: the second prompt is rendered after the first turn; onTextChunk streams the answer', async () => {
    const chatTemplate = ChatTemplate.fromSource(MARKED, model.tokenizer);
    const session = model.chat({ chatTemplate });
    const first = await session.prompt('Hi', GREEDY);
    const chunks: string[] = [];
    const second = await session.prompt('Go on', { ...GREEDY, onTextChunk: (text) => chunks.push(text) });
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join('')).toBe(second);
    const expected = await model.complete(`<user>Hi<assistant>${first}<user>Go on<assistant>`, { ...GREEDY, parseSpecial: true });
    expect(second).toBe(expected.text);
    expect(session.history.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    session.reset();
    expect(session.history).toEqual([]);
  });

  it('runs prompts of one session one after another, in call order', async () => {
    const session = model.chat({ chatTemplate: ChatTemplate.fromSource(MARKED, model.tokenizer) });
    const [a, b] = await Promise.all([session.prompt('One', GREEDY), session.prompt('Two', GREEDY)]);
    expect(session.history).toEqual([
      { role: 'user', content: 'One' },
      { role: 'assistant', content: a },
      { role: 'user', content: 'Two' },
      { role: 'assistant', content: b },
    ]);
  });

  it('an aborted or failed prompt rejects and leaves the history as it was', async () => {
    const session = model.chat({ systemPrompt: 'S' });
    const controller = new AbortController();
    controller.abort(new Error('user cancelled'));
    await expect(session.prompt('Hi', { ...GREEDY, signal: controller.signal })).rejects.toThrow('user cancelled');
    await expect(session.prompt('word '.repeat(300), GREEDY)).rejects.toMatchObject({ code: 'PROMPT_TOO_LONG' });
    expect(session.history).toEqual([{ role: 'system', content: 'S' }]);
    expect(await session.prompt('Hi', GREEDY)).toBeTypeOf('string'); // still usable
  });
});
