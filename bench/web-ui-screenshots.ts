/**
 * `npm run screenshots`: the README's pictures of the web page at `/`, taken in headless Chromium
 * (see test/server/chromium.ts) against the server in-process on the bundled stories260K model.
 * - docs/web-ui.png (1100×720): a reply mid-stream (the page's network throttled so the stream is
 *   slow enough to catch; its /metrics polls are not), while two other clients generate, so the metrics panel shows load;
 * - docs/web-ui-narrow.png (390×844): the same page on a phone-sized screen.
 * Needs chromium (PEREGRINE_CHROMIUM names another binary).
 *
 *   npm run screenshots -- [--out docs]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Browser, findChromium, type Page } from '../test/server/chromium.js';
import { loadTestEngine, MODEL_NAME, startTestServer } from '../test/server/helpers.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs' } } });
const chromium = findChromium();
if (!chromium) {
  console.error('screenshots: no chromium on PATH (apt-get install chromium, or set PEREGRINE_CHROMIUM)');
  process.exit(1);
}

const engine = await loadTestEngine();
const server = await startTestServer(engine);
const browser = await Browser.launch(chromium);
let isLoadRunning = true;

/** A client that asks for stories back to back until the screenshots are taken. */
async function backgroundClient(): Promise<void> {
  while (isLoadRunning) {
    await fetch(`${server.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 300 }),
    }).then((r) => r.text());
  }
}

async function save(page: Page, name: string): Promise<void> {
  const png = await page.screenshot();
  writeFileSync(join(values.out!, name), png);
  console.log(`${join(values.out!, name)}: ${png.length} bytes`);
}

try {
  mkdirSync(values.out!, { recursive: true });
  const page = await browser.newPage();
  await page.setViewport(1100, 720);
  await page.goto(`${server.baseUrl}/`);
  await page.waitFor(`document.getElementById("modelName").textContent === ${JSON.stringify(MODEL_NAME)}`);
  const send = (prompt: string) => page.evaluate(`document.getElementById("prompt").value = ${JSON.stringify(prompt)}; document.getElementById("composer").requestSubmit();`);
  await page.evaluate('document.getElementById("system").value = "You are a storyteller."; document.getElementById("seed").value = "7"; document.getElementById("maxTokens").value = "120";');

  await send('Once upon a time there was a fox');
  await page.waitFor('document.body.dataset.state === "idle" && document.querySelector(".message.assistant .stats")');
  const load = [backgroundClient(), backgroundClient()];
  await page.throttle(`${server.baseUrl}/v1/chat/completions`, 3000);
  await send('What did the fox find in the forest?');
  await page.waitFor('document.body.dataset.state === "streaming" && document.querySelector(".message.assistant:last-of-type .text").textContent.length > 120', 60_000);
  await page.waitFor('Number(document.getElementById("tps").textContent) > 0', 10_000);
  await save(page, 'web-ui.png');

  await page.setViewport(390, 844);
  await page.evaluate('window.scrollTo(0, 0)');
  await save(page, 'web-ui-narrow.png');
  isLoadRunning = false;
  await page.evaluate('document.getElementById("stop").click()');
  await Promise.all(load);
} finally {
  isLoadRunning = false;
  await browser.close();
  await server.close();
  await engine.shutdown();
}
