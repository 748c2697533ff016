import { JsonScanner, type JsonScanListener } from './json-scanner.js';
import { TOOL_CALL_SYNTAX, type ToolCallSyntax, type ToolFamily } from './tool-call-family.js';

/**
 * What a model's output turns into as it is read: content, the start of a call (its name known), and
 * pieces of a call's arguments (the JSON object's text as the model wrote it, whitespace between
 * tokens left out), each call numbered from 0 in order.
 */
export type ToolCallEvent =
  | { readonly type: 'content'; readonly text: string }
  | { readonly type: 'call'; readonly index: number; readonly name: string }
  | { readonly type: 'arguments'; readonly index: number; readonly text: string };

export interface ToolCallStreamOptions {
  /**
   * true: a call starts as soon as its name is read and its arguments follow as they are written
   * (for a call forced by a grammar, which cannot break off except at max_tokens); false: each call
   * is reported once it has closed as a valid call, so broken JSON never becomes a call.
   */
  readonly isLive: boolean;
  /** the family's opening marker the prompt ends with (a forced call); the output starts after it */
  readonly prefix?: string;
}

type Phase =
  | 'start' // nothing but whitespace or a possible marker yet
  | 'text' // content that a marker may still follow (hermes, mistral)
  | 'content' // content to the end
  | 'beforeJson' // after a marker, before the JSON
  | 'json'
  | 'afterJson' // the calls' JSON has closed: whitespace only (hermes: the closing tag, then more blocks)
  | 'blockClose'
  | 'betweenBlocks';

interface OpenCall {
  readonly index: number;
  name: string | undefined;
  nameRaw: string | undefined;
  isStarted: boolean;
  /** argument pieces not yet reported (each push's characters form one piece) */
  readonly pieces: string[];
  hasArguments: boolean;
  capture: 'name' | 'arguments' | undefined;
  key: string | undefined;
  readonly keys: Set<string>;
}

/**
 * An incremental parser of one model output that may hold tool calls, in its family's syntax
 * (tool-call-family.ts): push the text as it arrives, then finish. Text before a possible call is
 * held only while it could still begin one; content is released as soon as it is known to be
 * content. A call must name one of `toolNames` and have a JSON object of arguments (or none: `{}`);
 * anything else (broken JSON, an unknown name, text where a call should go) ends the search: the
 * text not yet reported becomes content, and so does the rest of the output. The events of any
 * split of an output into pieces join to the same content, calls and arguments.
 */
export class ToolCallStream implements JsonScanListener {
  private readonly syntax: ToolCallSyntax;
  private phase: Phase = 'start';
  /** raw text read but not reported: released as content if what it began fails */
  private held = '';
  private scanner: JsonScanner | undefined;
  /** the depth of call objects in the JSON (0: the root is a call); undefined until known */
  private callDepth: number | undefined;
  private call: OpenCall | undefined;
  private numCalls = 0;
  /** generic: whether the root object's `tool_calls` key was read */
  private hasWrapperKey = false;
  private events: ToolCallEvent[] = [];

  constructor(
    family: ToolFamily,
    private readonly toolNames: ReadonlySet<string>,
    private readonly options: ToolCallStreamOptions,
  ) {
    this.syntax = TOOL_CALL_SYNTAX[family];
    if (options.prefix !== undefined && options.prefix.trim() !== '') this.phase = 'beforeJson';
  }

  push(text: string): ToolCallEvent[] {
    this.call?.pieces.push(''); // each push's argument characters form one piece
    for (const ch of text) this.read(ch);
    this.flushLiveArguments();
    return this.takeEvents();
  }

  finish(): ToolCallEvent[] {
    switch (this.phase) {
      case 'start':
      case 'text':
      case 'beforeJson':
        this.fail();
        break;
      case 'json':
        // a live call cut off (max_tokens) stays as it was sent; anything else unfinished is content
        if (!this.call?.isStarted) this.fail();
        break;
      default:
        break;
    }
    this.held = '';
    return this.takeEvents();
  }

  private read(ch: string): void {
    switch (this.phase) {
      case 'content':
        this.emitContent(ch);
        return;
      case 'start':
        return this.readStart(ch);
      case 'text':
        return this.readText(ch);
      case 'beforeJson':
        this.held += ch;
        if (isSpace(ch)) return;
        this.phase = 'json';
        return this.readJson(ch);
      case 'json':
        this.held += ch;
        return this.readJson(ch);
      case 'afterJson':
        this.held += ch;
        if (!isSpace(ch)) this.fail();
        return;
      case 'blockClose':
      case 'betweenBlocks':
        return this.readBetweenBlocks(ch);
    }
  }

  private readStart(ch: string): void {
    this.held += ch;
    const t = this.held.trimStart();
    if (t === '') return;
    const marker = this.syntax.marker;
    if (marker !== undefined && t === marker) {
      this.phase = 'beforeJson';
      return;
    }
    if (marker !== undefined && marker.startsWith(t)) return;
    if (this.syntax.jsonAtStart.includes(t[0]!)) {
      this.phase = 'json';
      for (const c of t) if (this.phase === 'json') this.readJson(c);
      return;
    }
    if (this.syntax.hasContentBefore) {
      const text = this.held;
      this.held = '';
      this.phase = 'text';
      for (const c of text) this.readText(c);
      return;
    }
    this.fail();
  }

  /** content that may be followed by the marker: held is trailing whitespace and a possible marker's start */
  private readText(ch: string): void {
    const marker = this.syntax.marker!;
    this.held += ch;
    const at = this.held.indexOf(marker);
    if (at >= 0) {
      const before = this.held.slice(0, at);
      const content = before.trimEnd();
      this.emitContent(content);
      this.held = this.held.slice(content.length);
      this.phase = 'beforeJson';
      return;
    }
    // keep the longest tail that is whitespace then the start of the marker
    let keep = this.held.length;
    for (let i = 0; i < this.held.length; i++) {
      const tail = this.held.slice(i);
      const t = tail.trimStart();
      if (marker.startsWith(t)) {
        keep = i;
        break;
      }
    }
    this.emitContent(this.held.slice(0, keep));
    this.held = this.held.slice(keep);
  }

  /** hermes: whitespace, the closing tag, whitespace, then another block's opening tag or the end */
  private readBetweenBlocks(ch: string): void {
    this.held += ch;
    const t = this.held.trimStart();
    if (t === '') return;
    const tag = this.phase === 'blockClose' ? this.syntax.closeTag! : this.syntax.marker!;
    if (t === tag) {
      this.held = '';
      if (this.phase === 'blockClose') {
        this.phase = 'betweenBlocks';
      } else {
        this.phase = 'beforeJson';
        this.scanner = undefined;
        this.callDepth = undefined;
      }
      return;
    }
    if (!tag.startsWith(t)) this.fail();
  }

  private readJson(ch: string): void {
    this.scanner ??= new JsonScanner(this);
    if (!this.scanner.push(ch)) return this.fail();
    if (this.phase === 'json' && this.scanner.isComplete) this.endJson();
  }

  private endJson(): void {
    if (this.numCalls === 0 || (this.syntax.isWrapped && !this.hasWrapperKey)) return this.fail();
    this.held = '';
    this.phase = this.syntax.closeTag === undefined ? 'afterJson' : 'blockClose';
  }

  // JsonScanListener: where the calls are in the JSON, and what each holds

  valueStart(depth: number, firstChar: string): void {
    if (this.phase !== 'json') return;
    if (depth === 0) {
      if (this.syntax.isWrapped) {
        if (firstChar !== '{') this.fail();
      } else if (firstChar === '{') this.callDepth = 0;
      else if (firstChar === '[' && this.syntax.allowsArray) this.callDepth = 1;
      else this.fail();
      if (this.callDepth !== 0) return;
    }
    if (this.syntax.isWrapped && depth === 1) {
      // the value of `tool_calls`: an array of calls, or one call
      if (firstChar === '[') return void (this.callDepth = 2);
      if (firstChar !== '{') return this.fail();
      this.callDepth = 1;
    }
    if (depth === this.callDepth) {
      if (firstChar !== '{') return this.fail();
      this.call = { index: this.numCalls, name: undefined, nameRaw: undefined, isStarted: false, pieces: [''], hasArguments: false, capture: undefined, key: undefined, keys: new Set() };
      return;
    }
    const call = this.call;
    if (call === undefined || depth !== this.callDepth! + 1) return;
    if (call.key === 'name') {
      if (firstChar !== '"') return this.fail();
      call.capture = 'name';
      call.nameRaw = '';
    } else if (call.key !== undefined && this.syntax.argumentKeys.includes(call.key)) {
      if (call.hasArguments || firstChar !== '{') return this.fail();
      call.hasArguments = true;
      call.capture = 'arguments';
    }
  }

  key(depth: number, key: string): void {
    if (this.phase !== 'json') return;
    if (this.syntax.isWrapped && depth === 1) {
      if (key !== 'tool_calls' || this.hasWrapperKey) return this.fail();
      this.hasWrapperKey = true;
      return;
    }
    const call = this.call;
    if (call === undefined || depth !== this.callDepth! + 1) return;
    if (call.keys.has(key)) return this.fail();
    call.keys.add(key);
    call.key = key;
  }

  char(ch: string): void {
    const call = this.call;
    if (this.phase !== 'json' || call === undefined) return;
    if (call.capture === 'name') call.nameRaw += ch;
    else if (call.capture === 'arguments') call.pieces[call.pieces.length - 1] += ch;
  }

  valueEnd(depth: number): void {
    const call = this.call;
    if (this.phase !== 'json' || call === undefined) return;
    if (depth === this.callDepth! + 1) {
      if (call.capture === 'name') {
        const name = JSON.parse(call.nameRaw!) as string;
        if (!this.toolNames.has(name)) return this.fail();
        call.name = name;
        if (this.options.isLive) this.startCall(call);
      }
      call.capture = undefined;
      return;
    }
    if (depth !== this.callDepth) return;
    // the call object closed
    if (call.name === undefined) return this.fail();
    if (!call.hasArguments) call.pieces.push('{}');
    this.startCall(call);
    this.flushArguments(call);
    this.call = undefined;
    this.numCalls++;
    this.held = '';
  }

  private startCall(call: OpenCall): void {
    if (call.isStarted) return;
    call.isStarted = true;
    this.events.push({ type: 'call', index: call.index, name: call.name! });
  }

  private flushArguments(call: OpenCall): void {
    for (const text of call.pieces.splice(0)) if (text !== '') this.events.push({ type: 'arguments', index: call.index, text });
  }

  private flushLiveArguments(): void {
    if (this.call?.isStarted) this.flushArguments(this.call);
  }

  /** what was held becomes content, and so does everything after it */
  private fail(): void {
    const call = this.call;
    // a live call already reported stays as it is: only its unreported arguments are dropped
    if (call?.isStarted) call.pieces.splice(0);
    this.call = undefined;
    this.phase = 'content';
    const text = this.held;
    this.held = '';
    this.emitContent(text);
  }

  private emitContent(text: string): void {
    if (text === '') return;
    const last = this.events.at(-1);
    if (last?.type === 'content') this.events[this.events.length - 1] = { type: 'content', text: last.text + text };
    else this.events.push({ type: 'content', text });
  }

  private takeEvents(): ToolCallEvent[] {
    const events = this.events;
    this.events = [];
    return events;
  }
}

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}
