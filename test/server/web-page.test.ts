import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { loadTestEngine, startTestServer, type TestServer } from './helpers.js';

const API_KEY = 'web-page-test-key';

let engine: ServingEngine;
let t: TestServer;

beforeAll(async () => {
  engine = await loadTestEngine();
  t = await startTestServer(engine, API_KEY);
});
afterAll(async () => {
  await t.close();
  await engine.shutdown();
});

/** The CSP's `'sha256-…'` source for an inline element's text. */
const hashSource = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe('GET /', () => {
  it('serves the page as HTML without an API key, while /v1/* still needs one', async () => {
    const res = await fetch(`${t.baseUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(html));
    expect(html).toMatch(/^<!doctype html>/);
    for (const id of ['messages', 'prompt', 'send', 'stop', 'temperature', 'topP', 'maxTokens', 'seed', 'system', 'apiKey', 'tps', 'ttft', 'running', 'waiting', 'kv']) {
      expect(html, id).toContain(`id="${id}"`);
    }
    // the page calls the API itself, with the key its user enters
    expect(html).toContain('/v1/chat/completions');
    expect(html).toContain('/metrics');
    expect((await fetch(`${t.baseUrl}/v1/models`)).status).toBe(401);
    expect((await fetch(`${t.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(200);
  });

  it('loads nothing from elsewhere: every form input has a label, and no src or href leaves the page', async () => {
    const html = await (await fetch(`${t.baseUrl}/`)).text();
    expect(html).not.toMatch(/\b(src|href)="(?!data:)/);
    expect(html).not.toMatch(/https?:\/\//);
    const ids = [...html.matchAll(/<(?:input|textarea)[^>]*\bid="(\w+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThanOrEqual(7);
    for (const id of ids) expect(html, id).toContain(`for="${id}"`);
  });

  it('has a CSP that allows exactly its own inline style and script, and connections to its origin', async () => {
    const res = await fetch(`${t.baseUrl}/`);
    const html = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(' ')[0], d.split(' ').slice(1)] as const));
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toEqual([hashSource(scripts[0]!)]);
    expect(directives.get('style-src')).toEqual([hashSource(styles[0]!)]);
    expect(directives.get('connect-src')).toEqual(["'self'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
  });

  it('answers HEAD with the same headers and no body', async () => {
    const get = await fetch(`${t.baseUrl}/`);
    await get.arrayBuffer();
    const head = await fetch(`${t.baseUrl}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
    expect(head.headers.get('content-security-policy')).toBe(get.headers.get('content-security-policy'));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('takes no other method', async () => {
    const res = await fetch(`${t.baseUrl}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});
