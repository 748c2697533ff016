import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/**
 * Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
 * messages, each ended by a NUL byte, on file descriptors 3 (to the browser) and 4 (from it)), so no
 * WebSocket client or puppeteer is needed. Test and screenshot tooling only.
 */

const NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The browser binary: PEREGRINE_CHROMIUM, else the first of NAMES on PATH; undefined when there is none. */
export function findChromium(): string | undefined {
  const fromEnv = process.env.PEREGRINE_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of NAMES) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

interface Pending {
  resolve(result: any): void;
  reject(err: Error): void;
  method: string;
}

/** Something the page logged or threw (console errors, uncaught exceptions, CSP violations). */
export interface PageProblem {
  readonly kind: string;
  readonly text: string;
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((msg: any) => void)[] = [];
  private exitError: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly toBrowser: Writable,
    private readonly profileDir: string,
  ) {
    let buffer = Buffer.alloc(0);
    (child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      let end: number;
      while ((end = buffer.indexOf(0)) >= 0) {
        const msg = JSON.parse(buffer.subarray(0, end).toString('utf8'));
        buffer = buffer.subarray(end + 1);
        this.dispatch(msg);
      }
    });
    child.once('exit', (code, signal) => {
      this.exitError = new Error(`chromium exited (code ${code}, signal ${signal})`);
      for (const p of this.pending.values()) p.reject(this.exitError);
      this.pending.clear();
    });
  }

  static async launch(binary: string): Promise<Browser> {
    const profileDir = mkdtempSync(join(tmpdir(), 'peregrine-chromium-'));
    const child = spawn(
      binary,
      [
        '--headless',
        '--remote-debugging-pipe',
        '--no-sandbox', // root in containers and CI; the page is our own, on localhost
        '--disable-gpu',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-extensions',
        '--disable-background-networking',
        '--disable-dev-shm-usage',
        `--user-data-dir=${profileDir}`,
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const browser = new Browser(child, child.stdio[3] as Writable, profileDir);
    try {
      await browser.send('Browser.getVersion');
    } catch (err) {
      await browser.close();
      throw new Error(`chromium did not start: ${(err as Error).message}\n${stderr}`);
    }
    return browser;
  }

  /** One protocol command (on a page's session when sessionId is set); its result. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  onEvent(listener: (msg: any) => void): void {
    this.listeners.push(listener);
  }

  async newPage(): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await page.start();
    return page;
  }

  /** Stops the browser (Browser.close, so it ends its own child processes; SIGKILL after 5 s) and removes its profile. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.send('Browser.close').catch(() => {}); // the pipe closes as it exits
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.profileDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }

  private dispatch(msg: any): void {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
      return;
    }
    for (const l of this.listeners) l(msg);
  }
}

export class Page {
  /** console errors, uncaught exceptions and browser log errors (CSP violations among them) */
  readonly problems: PageProblem[] = [];

  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
  ) {
    browser.onEvent((msg) => {
      if (msg.sessionId !== sessionId) return;
      if (msg.method === 'Runtime.exceptionThrown') {
        const d = msg.params.exceptionDetails;
        this.problems.push({ kind: 'exception', text: d.exception?.description ?? d.text });
      } else if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error') {
        this.problems.push({ kind: 'console', text: msg.params.args.map((a: any) => a.value ?? a.description).join(' ') });
      } else if (msg.method === 'Log.entryAdded' && msg.params.entry.level === 'error') {
        this.problems.push({ kind: `log:${msg.params.entry.source}`, text: msg.params.entry.text });
      }
    });
  }

  async start(): Promise<void> {
    await Promise.all(['Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable'].map((m) => this.send(m)));
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    return this.browser.send(method, params, this.sessionId);
  }

  async setViewport(width: number, height: number): Promise<void> {
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: width < 600 });
  }

  /** Navigates and waits for the document to finish loading. */
  async goto(url: string): Promise<void> {
    await this.send('Page.navigate', { url });
    await this.waitFor('document.readyState === "complete" && location.href !== "about:blank"');
  }

  /** The value of a page expression (promises awaited); throws what the page threw. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (exceptionDetails) throw new Error(`page threw: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value as T;
  }

  /** Polls a page expression until it is truthy; returns its value, or throws after timeoutMs. */
  async waitFor<T = unknown>(expression: string, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.evaluate<T>(expression);
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expression}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Slows the responses of requests whose URL matches `urlPattern` (URLPattern syntax) to
   * `bytesPerSecond`, leaving other requests alone; undefined lifts it. Needs Network.enable.
   */
  async throttle(urlPattern: string | undefined, bytesPerSecond = 0): Promise<void> {
    const rules = urlPattern === undefined ? [] : [{ urlPattern, latency: 0, downloadThroughput: bytesPerSecond, uploadThroughput: -1 }];
    await this.send('Network.emulateNetworkConditionsByRule', { offline: false, matchedNetworkConditions: rules });
  }

  async screenshot(): Promise<Buffer> {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png' });
    return Buffer.from(data, 'base64');
  }
}
