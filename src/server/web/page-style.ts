/** The web page's stylesheet (inlined into page.ts's HTML; its hash goes into the CSP). Light and dark follow the system. */
export const PAGE_STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #ffffff; --text: #1b1f24; --muted: #5b6470; --border: #d8dde3;
  --accent: #2456d6; --accent-text: #ffffff; --user: #e8eefc; --assistant: #ffffff; --danger: #b3261e;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 15px;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #111418; --panel: #1a1e24; --text: #e6e9ed; --muted: #9aa4b0; --border: #2c333c;
    --accent: #6f9bff; --accent-text: #0b1020; --user: #1e2a44; --assistant: #1a1e24; --danger: #ff8a80; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 12px; padding: 10px 16px; border-bottom: 1px solid var(--border); background: var(--panel); }
header h1 { font-size: 17px; margin: 0; }
header .model { color: var(--muted); font-size: 13px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
header .model strong { color: var(--text); font-weight: 600; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 16px; padding: 16px; max-width: 1200px; margin: 0 auto; }
section.chat { display: flex; flex-direction: column; min-height: calc(100vh - 90px); background: var(--panel); border: 1px solid var(--border); border-radius: 10px; }
#messages { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 10px; }
#messages:empty::before { content: "Send a message to start a chat."; color: var(--muted); margin: auto; }
.message { max-width: 88%; padding: 9px 12px; border-radius: 10px; border: 1px solid var(--border); white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.45; }
.message.user { align-self: flex-end; background: var(--user); }
.message.assistant { align-self: flex-start; background: var(--assistant); }
.message.error { align-self: stretch; color: var(--danger); border-color: var(--danger); }
.message .role { display: block; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin-bottom: 3px; }
.message.streaming .text::after { content: "\\25CF"; color: var(--accent); margin-left: 3px; animation: blink 1s steps(2) infinite; }
.message .stats { display: block; font-size: 11px; color: var(--muted); margin-top: 5px; }
@keyframes blink { 50% { opacity: 0; } }
form.composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--border); }
form.composer textarea { flex: 1; resize: vertical; min-height: 44px; max-height: 40vh; }
textarea, input { font: inherit; color: var(--text); background: var(--bg); border: 1px solid var(--border); border-radius: 7px; padding: 7px 9px; width: 100%; }
textarea:focus, input:focus, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
button { font: inherit; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-text); border-radius: 7px; padding: 7px 14px; cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: .45; cursor: default; }
aside { display: flex; flex-direction: column; gap: 16px; }
aside section, aside details { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 12px 14px; }
aside h2, aside summary { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 8px; }
aside summary { cursor: pointer; margin: 0; }
aside details[open] summary { margin-bottom: 8px; }
dl.metrics { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; margin: 0; }
dl.metrics div { min-width: 0; }
dl.metrics dt { font-size: 12px; color: var(--muted); }
dl.metrics dd { margin: 0; font-size: 21px; font-variant-numeric: tabular-nums; font-weight: 600; }
dl.metrics dd small { font-size: 12px; font-weight: 400; color: var(--muted); }
.meter { height: 6px; border-radius: 3px; background: var(--border); overflow: hidden; margin-top: 4px; }
.meter span { display: block; height: 100%; width: 0; background: var(--accent); transition: width .3s; }
svg.spark { width: 100%; height: 40px; margin-top: 10px; display: block; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.status { font-size: 12px; color: var(--muted); margin-top: 8px; min-height: 1em; }
.status.bad { color: var(--danger); }
.field { display: block; margin-bottom: 9px; }
.field span { display: block; font-size: 12px; color: var(--muted); margin-bottom: 3px; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
/* narrow: one column of metrics, chat, then settings (the aside's sections become grid items) */
@media (max-width: 760px) { main { grid-template-columns: 1fr; padding: 10px; } aside { display: contents; } aside > section { order: -1; } aside > details { order: 1; } }
@media (max-width: 760px) { section.chat { min-height: 60vh; } }
`;
