import { createHash } from 'node:crypto';
import { PAGE_SCRIPT } from './page-script.js';
import { PAGE_STYLE } from './page-style.js';

/**
 * The web page `GET /` serves: one self-contained HTML document (inline style and script, no
 * external resource, so it works offline and ships inside dist/ with no build step of its own).
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Peregrine</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>
<header>
  <h1>Peregrine</h1>
  <span class="model">model: <strong id="modelName">loading…</strong></span>
</header>
<main>
  <section class="chat" aria-label="Chat">
    <div id="messages" role="log" aria-live="polite" aria-label="Conversation"></div>
    <form id="composer" class="composer">
      <label for="prompt" class="visually-hidden">Message</label>
      <textarea id="prompt" rows="2" placeholder="Message (Enter sends, Shift+Enter for a new line)" required></textarea>
      <button id="send" type="submit">Send</button>
      <button id="stop" type="button" class="secondary">Stop</button>
    </form>
  </section>
  <aside>
    <section aria-labelledby="metricsTitle">
      <h2 id="metricsTitle">Server</h2>
      <dl class="metrics" id="metrics">
        <div><dt>Throughput</dt><dd><span id="tps">–</span> <small>tok/s</small></dd><dd><small id="tokensTotal"></small></dd></div>
        <div><dt>TTFT (server mean)</dt><dd id="ttft">–</dd><dd><small id="ttftClient"></small></dd></div>
        <div><dt>Running</dt><dd id="running">–</dd></div>
        <div><dt>Waiting</dt><dd id="waiting">–</dd></div>
        <div><dt>KV cache</dt><dd id="kv">–</dd><div class="meter" aria-hidden="true"><span id="kvMeter"></span></div></div>
      </dl>
      <svg id="spark" class="spark" viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label="tokens per second over time"><polyline id="sparkLine" points=""></polyline></svg>
      <div id="metricsStatus" class="status" aria-live="off"></div>
    </section>
    <details open>
      <summary>Sampling</summary>
      <label class="field" for="system"><span>System prompt</span><textarea id="system" rows="2"></textarea></label>
      <div class="row">
        <label class="field" for="temperature"><span>Temperature</span><input id="temperature" type="number" min="0" max="2" step="0.1" value="0.8" inputmode="decimal"></label>
        <label class="field" for="topP"><span>Top p</span><input id="topP" type="number" min="0" max="1" step="0.05" value="0.95" inputmode="decimal"></label>
        <label class="field" for="maxTokens"><span>Max tokens</span><input id="maxTokens" type="number" min="1" step="1" value="256" inputmode="numeric"></label>
        <label class="field" for="seed"><span>Seed</span><input id="seed" type="number" step="1" placeholder="random" inputmode="numeric"></label>
      </div>
      <button id="clear" type="button" class="secondary">Clear chat</button>
    </details>
    <details>
      <summary>API key</summary>
      <label class="field" for="apiKey"><span>Bearer token (when the server has --api-key; kept in this browser)</span><input id="apiKey" type="password" autocomplete="off"></label>
    </details>
  </aside>
</main>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;

const sha256Source = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The page's Content-Security-Policy: its own inline style and script by hash, requests to this
 * origin only, nothing else (no frames, no forms posted elsewhere, no plugins).
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256Source(PAGE_SCRIPT)}`,
  `style-src ${sha256Source(PAGE_STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
