/**
 * The web page's script (inlined into page.ts's HTML; its hash goes into the CSP): plain browser
 * JavaScript, no framework. It chats over /v1/chat/completions (SSE), reads the model id from
 * /v1/models, and polls /metrics into the live panel. Kept as String.raw so its backslashes reach
 * the browser as written; it uses no backticks.
 */
export const PAGE_SCRIPT = String.raw`
"use strict";
const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const SETTINGS = ["apiKey", "system", "temperature", "topP", "maxTokens", "seed"];
/** the conversation's turns; "Clear chat" starts a new array, so a reply still ending adds nothing to it */
let history = [];
let controller = null;
let modelId = null;

for (const name of SETTINGS) {
  const input = $(name);
  const saved = localStorage.getItem("peregrine." + name);
  if (saved !== null) input.value = saved;
  input.addEventListener("change", () => localStorage.setItem("peregrine." + name, input.value));
}
$("apiKey").addEventListener("change", () => { loadModel(); pollMetrics(); });

function authHeaders() {
  const key = $("apiKey").value.trim();
  return key ? { authorization: "Bearer " + key } : {};
}

async function errorText(res) {
  try { const body = await res.json(); if (body && body.error && body.error.message) return res.status + ": " + body.error.message; } catch (e) {}
  return "HTTP " + res.status;
}

async function loadModel() {
  try {
    const res = await fetch("/v1/models", { headers: authHeaders() });
    if (!res.ok) throw new Error(await errorText(res));
    const body = await res.json();
    modelId = body.data[0].id;
    $("modelName").textContent = modelId;
  } catch (err) {
    modelId = null;
    $("modelName").textContent = "unavailable (" + err.message + ")";
  }
}

function addMessage(role, text) {
  const el = document.createElement("div");
  el.className = "message " + role;
  const label = document.createElement("span");
  label.className = "role";
  label.textContent = role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  el.append(label, body);
  $("messages").append(el);
  el.scrollIntoView({ block: "end" });
  return el;
}

function numberField(id, parse) {
  const text = $(id).value.trim();
  if (text === "") return undefined;
  const value = parse(text);
  if (!Number.isFinite(value)) throw new Error($(id).labels[0].textContent.trim() + " is not a number");
  return value;
}

function requestBody() {
  const system = $("system").value.trim();
  const body = {
    model: modelId || undefined,
    messages: (system ? [{ role: "system", content: system }] : []).concat(history),
    stream: true,
    stream_options: { include_usage: true },
  };
  const temperature = numberField("temperature", Number);
  const topP = numberField("topP", Number);
  const maxTokens = numberField("maxTokens", (t) => parseInt(t, 10));
  const seed = numberField("seed", (t) => parseInt(t, 10));
  if (temperature !== undefined) body.temperature = temperature;
  if (topP !== undefined) body.top_p = topP;
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  if (seed !== undefined) body.seed = seed;
  return body;
}

/** Yields each SSE event's data from a fetch response. */
async function* sseData(res) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (data) yield data;
    }
  }
}

function setBusy(isBusy) {
  document.body.dataset.state = isBusy ? "streaming" : "idle";
  $("send").disabled = isBusy;
  $("stop").disabled = !isBusy;
}

async function send(prompt) {
  const turns = history;
  let body;
  try {
    turns.push({ role: "user", content: prompt });
    body = requestBody();
  } catch (err) {
    turns.pop();
    addMessage("error", err.message);
    return;
  }
  addMessage("user", prompt);
  const el = addMessage("assistant", "");
  const textEl = el.querySelector(".text");
  el.classList.add("streaming");
  setBusy(true);
  controller = new AbortController();
  const startedAt = performance.now();
  let firstAt = null;
  let text = "";
  let usage = null;
  let finish = null;
  let failed = false;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: Object.assign({ "content-type": "application/json" }, authHeaders()),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!res.ok) throw new Error(await errorText(res));
    for await (const data of sseData(res)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finish = choice.finish_reason;
      const piece = choice.delta && choice.delta.content;
      if (piece) {
        if (firstAt === null) {
          firstAt = performance.now();
          showClientTtft(firstAt - startedAt);
        }
        text += piece;
        textEl.textContent = text;
        el.scrollIntoView({ block: "end" });
      }
    }
  } catch (err) {
    if (err.name === "AbortError") finish = "stopped";
    else { failed = true; addMessage("error", err.message); }
  } finally {
    controller = null;
    el.classList.remove("streaming");
    setBusy(false);
  }
  // a failed turn with no reply leaves the conversation as it was; a stopped one keeps what came
  if (failed && text === "") turns.pop();
  else turns.push({ role: "assistant", content: text });
  const stats = document.createElement("span");
  stats.className = "stats";
  const parts = [];
  if (firstAt !== null) parts.push("TTFT " + Math.round(firstAt - startedAt) + " ms");
  if (usage && firstAt !== null && usage.completion_tokens > 1) {
    const seconds = (performance.now() - firstAt) / 1000;
    parts.push(usage.completion_tokens + " tokens, " + ((usage.completion_tokens - 1) / seconds).toFixed(1) + " tok/s");
  }
  if (finish) parts.push(finish);
  stats.textContent = parts.join(" \u00b7 ");
  el.append(stats);
}

function showClientTtft(ms) {
  $("ttftClient").textContent = "last reply: " + Math.round(ms) + " ms";
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const prompt = $("prompt").value.trim();
  if (!prompt || controller) return;
  $("prompt").value = "";
  send(prompt);
});
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("clear").addEventListener("click", () => {
  if (controller) controller.abort();
  history = [];
  $("messages").replaceChildren();
});

/** Sums each metric's samples over its labels: Prometheus text format to a Map of name to value. */
function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    if (match[2] && /le="/.test(match[2])) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) values.set(match[1], (values.get(match[1]) || 0) + value);
  }
  return values;
}

let previous = null;
const rates = [];
let numPolls = 0;

function show(id, text) { $(id).textContent = text; }

async function pollMetrics() {
  try {
    const res = await fetch("/metrics", { cache: "no-store" });
    if (!res.ok) throw new Error(await errorText(res));
    const now = performance.now();
    const m = parseMetrics(await res.text());
    const get = (name) => m.get("vllm:" + name) || 0;
    const sample = { at: now, tokens: get("generation_tokens_total"), ttftSum: get("time_to_first_token_seconds_sum"), ttftCount: get("time_to_first_token_seconds_count") };
    show("running", String(get("num_requests_running")));
    show("waiting", String(get("num_requests_waiting")));
    const kv = get("kv_cache_usage_perc") * 100;
    show("kv", kv.toFixed(1) + "%");
    $("kvMeter").style.width = Math.min(100, kv) + "%";
    show("tokensTotal", sample.tokens + " generated");
    if (previous) {
      const rate = Math.max(0, sample.tokens - previous.tokens) / ((now - previous.at) / 1000);
      show("tps", rate.toFixed(1));
      rates.push(rate);
      if (rates.length > 60) rates.shift();
      drawSpark();
      const newCount = sample.ttftCount - previous.ttftCount;
      if (newCount > 0) show("ttft", Math.round(((sample.ttftSum - previous.ttftSum) / newCount) * 1000) + " ms");
    }
    if ($("ttft").textContent === "\u2013" && sample.ttftCount > 0) show("ttft", Math.round((sample.ttftSum / sample.ttftCount) * 1000) + " ms");
    previous = sample;
    numPolls += 1;
    document.body.dataset.metricsPolls = String(numPolls);
    $("metricsStatus").textContent = "updated " + new Date().toLocaleTimeString();
    $("metricsStatus").classList.remove("bad");
  } catch (err) {
    $("metricsStatus").textContent = "metrics unavailable: " + err.message;
    $("metricsStatus").classList.add("bad");
  }
}

function drawSpark() {
  const max = Math.max(1, ...rates);
  // the newest sample at the right edge, one slot per poll, the last 60 polls
  const points = rates.map((r, i) => (100 - ((rates.length - 1 - i) * 100) / 59).toFixed(1) + "," + (38 - (r / max) * 36).toFixed(1)).join(" ");
  $("sparkLine").setAttribute("points", points);
  $("spark").setAttribute("aria-label", "tokens per second, last " + rates.length + " s, peak " + max.toFixed(1));
}

setBusy(false);
loadModel();
pollMetrics();
setInterval(pollMetrics, POLL_MS);
`;
