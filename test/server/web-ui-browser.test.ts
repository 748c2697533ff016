import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { Browser, findChromium, type Page } from './chromium.js';
import { loadTestEngine, MODEL_NAME, postJson, startTestServer, type TestServer } from './helpers.js';

/**
 * The web page at `/` driven in headless Chromium (Debian's `chromium`; PEREGRINE_CHROMIUM names
 * another binary). Skips when there is none. Network throttling (DevTools) slows the SSE stream so
 * the test sees a reply grow, and can stop one mid-stream.
 */
const CHROMIUM = findChromium();
if (!CHROMIUM) console.warn('test/server/web-ui-browser.test.ts skipped: no chromium on PATH (apt-get install chromium, or set PEREGRINE_CHROMIUM)');

const API_KEY = 'browser-test-key';
const SYSTEM = 'You tell short stories.';

let engine: ServingEngine;
let t: TestServer;
let browser: Browser;
let page: Page;

const text = (selector: string) => page.evaluate<string>(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? ""`);
const lastReply = () => text('.message.assistant:last-of-type .text');
const setField = (id: string, value: string) =>
  page.evaluate(`{ const el = document.getElementById(${JSON.stringify(id)}); el.value = ${JSON.stringify(value)}; el.dispatchEvent(new Event("change")); }`);
const sendPrompt = (prompt: string) => page.evaluate(`document.getElementById("prompt").value = ${JSON.stringify(prompt)}; document.getElementById("composer").requestSubmit();`);
/** slows the chat stream only (the page's /metrics polls go on at full speed) */
const throttle = (bytesPerSecond: number | undefined) => page.throttle(bytesPerSecond === undefined ? undefined : `${t.baseUrl}/v1/chat/completions`, bytesPerSecond);

async function serverMetric(name: string): Promise<number> {
  const body = await (await fetch(`${t.baseUrl}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`));
  return Number(line?.split(' ').at(-1));
}

async function greedyReply(messages: { role: string; content: string }[], maxTokens: number): Promise<string> {
  const r = await postJson(`${t.baseUrl}/v1/chat/completions`, { model: MODEL_NAME, messages, temperature: 0, max_tokens: maxTokens }, { authorization: `Bearer ${API_KEY}` });
  expect(r.status).toBe(200);
  return r.body.choices[0].message.content;
}

describe.skipIf(!CHROMIUM)('the web page in headless Chromium', () => {
  beforeAll(async () => {
    engine = await loadTestEngine();
    t = await startTestServer(engine, API_KEY);
    browser = await Browser.launch(CHROMIUM!);
    page = await browser.newPage();
    await page.setViewport(1100, 720);
    await page.goto(`${t.baseUrl}/`);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await engine?.shutdown();
  });

  it('loads without the API key, shows the 401 from /v1/models, and names the model once the key is entered', async () => {
    expect(await page.waitFor<string>('document.getElementById("modelName").textContent.startsWith("unavailable") && document.getElementById("modelName").textContent')).toMatch(
      /401.*API key/,
    );
    await setField('apiKey', API_KEY);
    await page.waitFor(`document.getElementById("modelName").textContent === ${JSON.stringify(MODEL_NAME)}`);
    expect(await page.evaluate('localStorage.getItem("peregrine.apiKey")')).toBe(API_KEY);
  });

  it('streams a reply that grows in place, sent with the system prompt and sampling controls', async () => {
    await setField('system', SYSTEM);
    await setField('temperature', '0');
    await setField('maxTokens', '40');
    await throttle(4000);
    await sendPrompt('Once upon a time');
    await page.waitFor('document.body.dataset.state === "streaming"');
    const lengths: number[] = [];
    while ((await page.evaluate('document.body.dataset.state')) === 'streaming') {
      lengths.push((await lastReply()).length);
      await new Promise((r) => setTimeout(r, 100));
    }
    const growing = [...new Set(lengths.filter((n) => n > 0))];
    expect(growing.length, `reply lengths seen while streaming: ${lengths.join(',')}`).toBeGreaterThanOrEqual(3);
    expect(growing).toEqual([...growing].sort((a, b) => a - b));

    const expected = await greedyReply(
      [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'Once upon a time' },
      ],
      40,
    );
    expect(await lastReply()).toBe(expected);
    expect(await text('.message.assistant:last-of-type .stats')).toMatch(/^TTFT \d+ ms · 40 tokens, [\d.]+ tok\/s · length$/);
  });

  it('sends the whole history on the next turn', async () => {
    const first = await lastReply();
    await throttle(undefined);
    await sendPrompt('The end');
    await page.waitFor('document.body.dataset.state === "idle" && document.querySelectorAll(".message.assistant").length === 2');
    const expected = await greedyReply(
      [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'Once upon a time' },
        { role: 'assistant', content: first },
        { role: 'user', content: 'The end' },
      ],
      40,
    );
    expect(await lastReply()).toBe(expected);
  });

  it('shows the server metrics: the generated-token total, a throughput peak, TTFT, running, waiting, KV cache', async () => {
    const total = await serverMetric('vllm:generation_tokens_total');
    expect(total).toBeGreaterThanOrEqual(80);
    await page.waitFor(`document.getElementById("tokensTotal").textContent === "${total} generated"`, 5000);
    expect(await text('#running')).toBe(String(await serverMetric('vllm:num_requests_running')));
    expect(await text('#waiting')).toBe('0');
    expect(await text('#kv')).toMatch(/^\d+\.\d%$/);
    expect(await text('#ttft')).toMatch(/^\d+ ms$/);
    expect(await text('#ttftClient')).toMatch(/^last reply: \d+ ms$/);
    const peak = Number(/peak ([\d.]+)/.exec(await page.evaluate<string>('document.getElementById("spark").getAttribute("aria-label")'))?.[1]);
    expect(peak).toBeGreaterThan(0);
    const polls = Number(await page.evaluate('document.body.dataset.metricsPolls'));
    await page.waitFor(`Number(document.body.dataset.metricsPolls) > ${polls}`, 5000);
  });

  it('the stop button aborts a reply mid-stream, and no request is left running', async () => {
    await page.evaluate('document.getElementById("clear").click()');
    expect(await page.evaluate('document.querySelectorAll("#messages .message").length')).toBe(0);
    await setField('maxTokens', '300');
    await setField('temperature', '0.8');
    await throttle(4000);
    await sendPrompt('Tell me a long story');
    await page.waitFor(`document.body.dataset.state === "streaming" && document.querySelector(".message.assistant:last-of-type .text").textContent.length > 0`, 30_000);
    expect(await page.evaluate('document.getElementById("stop").disabled')).toBe(false);
    await page.evaluate('document.getElementById("stop").click()');
    await page.waitFor('document.body.dataset.state === "idle"');
    expect(await text('.message.assistant:last-of-type .stats')).toMatch(/· stopped$/);
    expect(await page.evaluate('document.getElementById("stop").disabled')).toBe(true);
    await throttle(undefined);
    await page.waitFor('document.getElementById("running").textContent === "0"', 5000);
    expect(await serverMetric('vllm:num_requests_running')).toBe(0);
  });

  it('"Clear chat" mid-stream stops the reply and starts a new conversation', async () => {
    await throttle(4000);
    await sendPrompt('Tell me another story');
    await page.waitFor(`document.body.dataset.state === "streaming" && document.querySelector(".message.assistant:last-of-type .text").textContent.length > 0`, 30_000);
    await page.evaluate('document.getElementById("clear").click()');
    await page.waitFor('document.body.dataset.state === "idle"');
    expect(await page.evaluate('document.querySelectorAll("#messages .message").length')).toBe(0);
    await throttle(undefined);
    await setField('temperature', '0');
    await setField('maxTokens', '40');
    await sendPrompt('Once upon a time');
    await page.waitFor('document.body.dataset.state === "idle" && document.querySelector(".message.assistant .stats")');
    // the same reply as the first test's: the cleared turns were not sent
    const expected = await greedyReply(
      [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'Once upon a time' },
      ],
      40,
    );
    expect(await lastReply()).toBe(expected);
  });

  it('fits a narrow screen in one column without sideways scrolling', async () => {
    await page.setViewport(390, 844);
    const layout = await page.evaluate<{ scrollWidth: number; sendRight: number; metricsTop: number; chatTop: number; settingsTop: number }>(`(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      sendRight: document.getElementById("send").getBoundingClientRect().right,
      metricsTop: document.getElementById("metrics").getBoundingClientRect().top,
      chatTop: document.querySelector("section.chat").getBoundingClientRect().top,
      settingsTop: document.querySelector("details").getBoundingClientRect().top,
    }))()`);
    expect(layout.scrollWidth).toBeLessThanOrEqual(390);
    expect(layout.sendRight).toBeLessThanOrEqual(390);
    // one column: metrics, then the chat, then the settings
    expect(layout.metricsTop).toBeLessThan(layout.chatTop);
    expect(layout.chatTop).toBeLessThan(layout.settingsTop);
  });

  it('ran without script errors or CSP violations', () => {
    // failed requests (the 401 before the key was entered) are the browser's network log, not the page's errors
    expect(page.problems.filter((p) => p.kind !== 'log:network')).toEqual([]);
  });
});
