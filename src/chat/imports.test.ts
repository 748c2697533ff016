import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const CHAT_DIR = new URL('./', import.meta.url);
const IMPORT = /^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm;

describe('the chat layer', () => {
  it('imports neither the engine nor the server: it sees a model through TemplateModel', () => {
    const files = readdirSync(CHAT_DIR).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(files).toContain('chat-template.ts');
    const upward = files.flatMap((f) => [...readFileSync(new URL(f, CHAT_DIR), 'utf8').matchAll(IMPORT)].map((m) => `${f}: ${m[1]}`)).filter((line) => /'?\.\.\/(engine|server|api|runner|cli)\//.test(line));
    expect(upward).toEqual([]);
  });
});
