/**
 * A seeded mutator over valid GGUF files: it maps where every header field lies (magic, version,
 * counts, metadata keys / types / values / string lengths / array counts, tensor names / n_dims /
 * dims / types / offsets, the data section) and changes one to three of them. The same
 * (base file, seed) always gives the same bytes, so any case replays from its seed.
 */
import { GgufValueType } from '../../src/formats/gguf/index.js';

/** mulberry32: small, fast, seeded; enough for choosing mutations. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---- layout of a valid file -------------------------------------------------------------

interface KvLayout {
  readonly key: string;
  /** offset of the key's u64 length; the key bytes follow */
  readonly start: number;
  readonly keyBytes: number;
  readonly typeOffset: number;
  readonly type: GgufValueType;
  /** scalar: the value bytes; string: its u64 length then bytes; array: item type, count, items */
  readonly valueOffset: number;
  readonly end: number;
  readonly itemType?: GgufValueType;
  readonly count?: number;
}

interface TensorLayout {
  readonly name: string;
  readonly start: number;
  readonly nameBytes: number;
  readonly numDimsOffset: number;
  readonly dimOffsets: readonly number[];
  readonly typeOffset: number;
  readonly offsetOffset: number;
  readonly end: number;
}

export interface GgufLayout {
  readonly bytes: Uint8Array;
  readonly kvCountOffset: number;
  readonly tensorCountOffset: number;
  readonly kvs: readonly KvLayout[];
  readonly tensors: readonly TensorLayout[];
  /** end of the tensor infos */
  readonly headerEnd: number;
  readonly alignment: number;
  /** start of the data section (aligned) */
  readonly dataOffset: number;
}

const SCALAR_BYTES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1, [GgufValueType.INT8]: 1, [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2, [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4, [GgufValueType.INT32]: 4, [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8, [GgufValueType.INT64]: 8, [GgufValueType.FLOAT64]: 8,
};

/** Maps the fields of a valid GGUF file (throws on anything it cannot walk: only for base files). */
export function parseLayout(file: Uint8Array): GgufLayout {
  const bytes = new Uint8Array(file); // a copy, and a plain Uint8Array: a Buffer's slice() is a view
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  let pos = 8;
  const u64 = (): number => { const v = Number(view.getBigUint64(pos, true)); pos += 8; return v; };
  const u32 = (): number => { const v = view.getUint32(pos, true); pos += 4; return v; };
  const str = (): string => { const n = u64(); const s = text.decode(bytes.subarray(pos, pos + n)); pos += n; return s; };
  const skipScalar = (t: GgufValueType): number | string => {
    if (t === GgufValueType.STRING) return str();
    const n = SCALAR_BYTES[t]!;
    const v = n === 8 ? Number(view.getBigUint64(pos, true)) : n === 4 ? view.getUint32(pos, true) : n === 2 ? view.getUint16(pos, true) : bytes[pos]!;
    pos += n;
    return v;
  };
  const tensorCountOffset = pos;
  const numTensors = u64();
  const kvCountOffset = pos;
  const numKv = u64();
  const kvs: KvLayout[] = [];
  let alignment = 32;
  for (let i = 0; i < numKv; i++) {
    const start = pos;
    const key = str();
    const typeOffset = pos;
    const type = u32() as GgufValueType;
    const valueOffset = pos;
    let itemType: GgufValueType | undefined;
    let count: number | undefined;
    if (type === GgufValueType.ARRAY) {
      itemType = u32() as GgufValueType;
      count = u64();
      for (let j = 0; j < count; j++) skipScalar(itemType);
    } else {
      const v = skipScalar(type);
      if (key === 'general.alignment') alignment = Number(v);
    }
    kvs.push({ key, start, keyBytes: typeOffset - start - 8, typeOffset, type, valueOffset, end: pos, itemType, count });
  }
  const tensors: TensorLayout[] = [];
  for (let i = 0; i < numTensors; i++) {
    const start = pos;
    const name = str();
    const numDimsOffset = pos;
    const numDims = u32();
    const dimOffsets: number[] = [];
    for (let d = 0; d < numDims; d++) { dimOffsets.push(pos); pos += 8; }
    const typeOffset = pos;
    pos += 4;
    const offsetOffset = pos;
    pos += 8;
    tensors.push({ name, start, nameBytes: numDimsOffset - start - 8, numDimsOffset, dimOffsets, typeOffset, offsetOffset, end: pos });
  }
  const dataOffset = Math.ceil(pos / alignment) * alignment;
  return { bytes, kvCountOffset, tensorCountOffset, kvs, tensors, headerEnd: pos, alignment, dataOffset };
}

/** Which field byte `offset` belongs to, for a person reading a bit flip's description. */
export function describeOffset(layout: GgufLayout, offset: number): string {
  if (offset < 4) return 'magic';
  if (offset < 8) return 'version';
  if (offset < layout.kvCountOffset) return 'tensor count';
  if (offset < layout.kvCountOffset + 8) return 'metadata count';
  for (const kv of layout.kvs) {
    if (offset >= kv.end) continue;
    if (offset < kv.typeOffset) return `key of '${kv.key}'`;
    if (offset < kv.valueOffset) return `type of '${kv.key}'`;
    return `value of '${kv.key}'`;
  }
  for (const t of layout.tensors) {
    if (offset >= t.end) continue;
    if (offset < t.numDimsOffset) return `name of tensor '${t.name}'`;
    if (offset < t.typeOffset) return `shape of tensor '${t.name}'`;
    if (offset < t.offsetOffset) return `type of tensor '${t.name}'`;
    return `offset of tensor '${t.name}'`;
  }
  return offset < layout.dataOffset ? 'padding' : 'tensor data';
}

// ---- mutations ------------------------------------------------------------------------------

export interface Mutation {
  /** e.g. 'tensor.dim', 'kv.value', 'data.bytes', 'truncate' */
  readonly kind: string;
  /** what changed, for a person replaying the case */
  readonly detail: string;
}

export interface MutatedFile {
  readonly bytes: Uint8Array;
  readonly mutations: readonly Mutation[];
  /** every change lies in tensor data bytes (or changes nothing): the one kind a loader cannot be expected to notice */
  readonly isDataOnly: boolean;
}

const U32_VALUES = [0, 1, 2, 3, 4, 5, 7, 8, 13, 31, 0x7f, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const U64_VALUES: bigint[] = [
  0n, 1n, 2n, 3n, 4n, 7n, 8n, 31n, 32n, 64n, 255n, 256n, 4096n, 65535n, 65536n, 1n << 24n, (1n << 24n) + 1n, 1n << 31n, 1n << 32n,
  (1n << 53n) - 1n, 1n << 53n, 1n << 62n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n,
];
const FLOAT_VALUES = [0, -0, 1, -1, 0.5, 1e-38, 1e-45, 1e38, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 1e-300, 1e300, 65504, -65504, 1e6];
/** text a file might carry to forge terminal output or blow up a message */
const HOSTILE_STRINGS = [
  '', '\u001b[2K\rperegrine: everything is fine\n', '\u009b31m\u202eevil\u2066', '\n'.repeat(40), 'x'.repeat(5000),
  '\u0000', '\ud800', 'llama', 'gpt2', 'general.architecture', 'token_embd.weight', 'output_norm.weight',
];

function u64Bytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}
function u32Bytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
function stringBytes(s: string): Uint8Array {
  const t = new TextEncoder().encode(s);
  const b = new Uint8Array(8 + t.length);
  b.set(u64Bytes(BigInt(t.length)));
  b.set(t, 8);
  return b;
}

/** A u64 near the current value or an interesting one. */
function mutateU64(rng: Rng, current: bigint): bigint {
  if (rng.chance(0.5)) return rng.pick(U64_VALUES);
  const delta = BigInt(rng.pick([1, 2, 3, 8, 32, 100, 4096]));
  return rng.chance(0.5) ? current + delta : current - delta;
}
function mutateU32(rng: Rng, current: number): number {
  if (rng.chance(0.6)) return rng.pick(U32_VALUES);
  return (current + rng.pick([1, -1, 2, -2, 8, 32])) >>> 0;
}

/** A scalar of `type` with an interesting value, encoded. */
function scalarBytes(rng: Rng, type: GgufValueType): Uint8Array {
  const n = SCALAR_BYTES[type];
  if (type === GgufValueType.STRING) return stringBytes(rng.pick(HOSTILE_STRINGS));
  const b = new Uint8Array(n ?? 4);
  const v = new DataView(b.buffer);
  if (type === GgufValueType.FLOAT32) v.setFloat32(0, rng.pick(FLOAT_VALUES), true);
  else if (type === GgufValueType.FLOAT64) v.setFloat64(0, rng.pick(FLOAT_VALUES), true);
  else if (n === 8) v.setBigUint64(0, BigInt.asUintN(64, rng.pick(U64_VALUES)), true);
  else if (n === 4) v.setUint32(0, rng.pick(U32_VALUES), true);
  else if (n === 2) v.setUint16(0, rng.pick(U32_VALUES) & 0xffff, true);
  else b[0] = rng.pick([0, 1, 2, 0x7f, 0x80, 0xff]);
  return b;
}

/** In-place edits keep every offset; a structural edit (splice, truncation) comes last. */
type Edit =
  | { readonly kind: 'set'; readonly writes: readonly { readonly offset: number; readonly bytes: Uint8Array }[] }
  | { readonly kind: 'splice'; readonly start: number; readonly end: number; readonly bytes: Uint8Array; readonly countDelta?: { offset: number; delta: number } }
  | { readonly kind: 'truncate'; readonly length: number };

interface Planned {
  readonly mutation: Mutation;
  readonly edit: Edit;
  readonly isData: boolean;
}

function readU64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true);
}
function readU32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(offset, true);
}

const IN_PLACE_KINDS = [
  'header.magic', 'header.version', 'header.tensorCount', 'header.kvCount',
  'kv.keyLength', 'kv.keyBytes', 'kv.type', 'kv.value', 'kv.stringLength', 'kv.arrayItemType', 'kv.arrayCount', 'kv.arrayItem',
  'tensor.nameLength', 'tensor.nameBytes', 'tensor.numDims', 'tensor.dim', 'tensor.type', 'tensor.offset', 'tensor.offsetSwap',
  'data.bytes', 'data.bytes', 'data.fill', 'bytes.flip', 'bytes.flip',
] as const;
const STRUCTURAL_KINDS = [
  'truncate', 'kv.replaceValue', 'kv.renameKey', 'kv.drop', 'kv.duplicate',
  'tensor.rename', 'tensor.drop', 'tensor.duplicate', 'tensor.reshape',
] as const;

function planInPlace(rng: Rng, layout: GgufLayout, kind: (typeof IN_PLACE_KINDS)[number]): Planned {
  const { bytes, kvs, tensors } = layout;
  const set = (offset: number, b: Uint8Array, detail: string, isData = false): Planned => ({
    mutation: { kind, detail },
    edit: { kind: 'set', writes: [{ offset, bytes: b }] },
    isData,
  });
  const kv = rng.pick(kvs);
  const tensor = rng.pick(tensors);
  switch (kind) {
    case 'header.magic': {
      const i = rng.int(4);
      return set(i, Uint8Array.of(bytes[i]! ^ (1 << rng.int(8))), `magic byte ${i} bit flip`);
    }
    case 'header.version': {
      const v = mutateU32(rng, readU32(bytes, 4));
      return set(4, u32Bytes(v), `version = ${v}`);
    }
    case 'header.tensorCount':
    case 'header.kvCount': {
      const off = kind === 'header.tensorCount' ? layout.tensorCountOffset : layout.kvCountOffset;
      const v = mutateU64(rng, readU64(bytes, off));
      return set(off, u64Bytes(v), `count = ${BigInt.asUintN(64, v)}`);
    }
    case 'kv.keyLength': {
      const v = mutateU64(rng, BigInt(kv.keyBytes));
      return set(kv.start, u64Bytes(v), `key '${kv.key}' length = ${BigInt.asUintN(64, v)}`);
    }
    case 'kv.keyBytes': {
      if (kv.keyBytes === 0) return planInPlace(rng, layout, 'kv.keyLength');
      const i = rng.int(kv.keyBytes);
      const b = rng.pick([0x00, 0x0a, 0x1b, 0x2e, 0x7f, 0x80, 0xc3, 0xff, rng.int(256)]);
      return set(kv.start + 8 + i, Uint8Array.of(b), `key '${kv.key}' byte ${i} = 0x${b.toString(16)}`);
    }
    case 'kv.type': {
      const t = rng.chance(0.7) ? rng.int(14) : rng.pick(U32_VALUES);
      return set(kv.typeOffset, u32Bytes(t), `key '${kv.key}' type ${kv.type} -> ${t}`);
    }
    case 'kv.value': {
      if (kv.type === GgufValueType.ARRAY) return planInPlace(rng, layout, 'kv.arrayItem');
      if (kv.type === GgufValueType.STRING) return planInPlace(rng, layout, 'kv.stringLength');
      const b = scalarBytes(rng, kv.type);
      return set(kv.valueOffset, b, `key '${kv.key}' value bytes = ${Buffer.from(b).toString('hex')}`);
    }
    case 'kv.stringLength': {
      const strings = kvs.filter((k) => k.type === GgufValueType.STRING);
      if (strings.length === 0) return planInPlace(rng, layout, 'kv.type');
      const k = rng.pick(strings);
      const v = mutateU64(rng, readU64(bytes, k.valueOffset));
      return set(k.valueOffset, u64Bytes(v), `key '${k.key}' string length = ${BigInt.asUintN(64, v)}`);
    }
    case 'kv.arrayItemType':
    case 'kv.arrayCount':
    case 'kv.arrayItem': {
      const arrays = kvs.filter((k) => k.type === GgufValueType.ARRAY);
      if (arrays.length === 0) return planInPlace(rng, layout, 'kv.type');
      const k = rng.pick(arrays);
      if (kind === 'kv.arrayItemType') {
        const t = rng.chance(0.8) ? rng.int(14) : rng.pick(U32_VALUES);
        return set(k.valueOffset, u32Bytes(t), `key '${k.key}' item type ${k.itemType} -> ${t}`);
      }
      if (kind === 'kv.arrayCount') {
        const v = mutateU64(rng, BigInt(k.count!));
        return set(k.valueOffset + 4, u64Bytes(v), `key '${k.key}' array count = ${BigInt.asUintN(64, v)}`);
      }
      // an item: for fixed-size items, an interesting value; for strings, a length field
      const first = k.valueOffset + 12;
      const size = SCALAR_BYTES[k.itemType!];
      if (size !== undefined && k.count! > 0) {
        const i = rng.int(k.count!);
        const b = scalarBytes(rng, k.itemType!);
        return set(first + i * size, b, `key '${k.key}' item ${i} = ${Buffer.from(b).toString('hex')}`);
      }
      // a string array: walk to item i and change its length
      let pos = first;
      const i = k.count! > 0 ? rng.int(Math.min(k.count!, 64)) : 0;
      for (let j = 0; j < i; j++) pos += 8 + Number(readU64(bytes, pos));
      if (pos >= k.end) return planInPlace(rng, layout, 'kv.arrayCount');
      const v = mutateU64(rng, readU64(bytes, pos));
      return set(pos, u64Bytes(v), `key '${k.key}' item ${i} string length = ${BigInt.asUintN(64, v)}`);
    }
    case 'tensor.nameLength': {
      const v = mutateU64(rng, BigInt(tensor.nameBytes));
      return set(tensor.start, u64Bytes(v), `tensor '${tensor.name}' name length = ${BigInt.asUintN(64, v)}`);
    }
    case 'tensor.nameBytes': {
      const i = rng.int(tensor.nameBytes);
      const b = rng.pick([0x00, 0x0a, 0x1b, 0x2e, 0x7f, 0x80, 0xc3, 0xff, rng.int(256)]);
      return set(tensor.start + 8 + i, Uint8Array.of(b), `tensor '${tensor.name}' name byte ${i} = 0x${b.toString(16)}`);
    }
    case 'tensor.numDims': {
      const v = mutateU32(rng, tensor.dimOffsets.length);
      return set(tensor.numDimsOffset, u32Bytes(v), `tensor '${tensor.name}' n_dims = ${v}`);
    }
    case 'tensor.dim': {
      const d = rng.int(tensor.dimOffsets.length);
      const off = tensor.dimOffsets[d]!;
      const cur = readU64(bytes, off);
      const v = rng.chance(0.3) ? cur * BigInt(rng.pick([2, 4, 32])) : rng.chance(0.3) ? cur / 2n : mutateU64(rng, cur);
      return set(off, u64Bytes(v), `tensor '${tensor.name}' dim ${d} = ${BigInt.asUintN(64, v)} (was ${cur})`);
    }
    case 'tensor.type': {
      const t = rng.chance(0.7) ? rng.pick([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 26, 28, 30, 34, 39]) : rng.pick(U32_VALUES);
      return set(tensor.typeOffset, u32Bytes(t), `tensor '${tensor.name}' type ${readU32(bytes, tensor.typeOffset)} -> ${t}`);
    }
    case 'tensor.offset': {
      const cur = readU64(bytes, tensor.offsetOffset);
      const other = rng.pick(tensors);
      const v = rng.chance(0.3) ? readU64(bytes, other.offsetOffset) : rng.chance(0.3) ? cur + BigInt(layout.alignment) * BigInt(rng.pick([1, -1, 2, 100])) : mutateU64(rng, cur);
      return set(tensor.offsetOffset, u64Bytes(v), `tensor '${tensor.name}' offset = ${BigInt.asUintN(64, v)} (was ${cur})`);
    }
    case 'tensor.offsetSwap': {
      const other = rng.pick(tensors);
      const writes = [
        { offset: tensor.offsetOffset, bytes: bytes.slice(other.offsetOffset, other.offsetOffset + 8) },
        { offset: other.offsetOffset, bytes: bytes.slice(tensor.offsetOffset, tensor.offsetOffset + 8) },
      ];
      return { mutation: { kind, detail: `tensors '${tensor.name}' and '${other.name}' swap offsets` }, edit: { kind: 'set', writes }, isData: false };
    }
    case 'data.bytes':
    case 'data.fill': {
      const dataBytes = bytes.length - layout.dataOffset;
      if (dataBytes <= 0) return planInPlace(rng, layout, 'bytes.flip');
      const n = kind === 'data.fill' ? 1 + rng.int(256) : 1 + rng.int(8);
      const start = layout.dataOffset + rng.int(Math.max(1, dataBytes - n));
      const len = Math.min(n, bytes.length - start);
      const fill = rng.pick([0x00, 0xff, 0x7f, 0x80]);
      const b = kind === 'data.fill' ? new Uint8Array(len).fill(fill) : Uint8Array.from({ length: len }, () => rng.int(256));
      return set(start, b, `${len} data bytes at ${start} = ${kind === 'data.fill' ? `0x${fill.toString(16)}` : 'random'}`, true);
    }
    case 'bytes.flip': {
      // biased to the header, where the parser works
      const limit = rng.chance(0.8) ? layout.headerEnd : bytes.length;
      const at = rng.int(limit);
      const b = Uint8Array.of(bytes[at]! ^ (1 << rng.int(8)));
      return set(at, b, `bit flip at byte ${at} (${describeOffset(layout, at)})`, at >= layout.dataOffset);
    }
  }
}

function planStructural(rng: Rng, layout: GgufLayout, kind: (typeof STRUCTURAL_KINDS)[number]): Planned {
  const { bytes, kvs, tensors } = layout;
  const splice = (start: number, end: number, b: Uint8Array, detail: string, countDelta?: { offset: number; delta: number }): Planned => ({
    mutation: { kind, detail },
    edit: { kind: 'splice', start, end, bytes: b, countDelta },
    isData: false,
  });
  const kv = rng.pick(kvs);
  const tensor = rng.pick(tensors);
  switch (kind) {
    case 'truncate': {
      const length = rng.chance(0.6) ? rng.int(layout.headerEnd + 1) : rng.int(bytes.length);
      return { mutation: { kind, detail: `truncated to ${length} of ${bytes.length} bytes` }, edit: { kind: 'truncate', length }, isData: false };
    }
    case 'kv.replaceValue': {
      // a well-formed value of another type or an interesting value of its own
      const type = rng.chance(0.5) ? kv.type : rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]) as GgufValueType;
      if (type === GgufValueType.ARRAY) return planStructural(rng, layout, 'kv.renameKey');
      const value = scalarBytes(rng, type);
      return splice(kv.typeOffset, kv.end, Uint8Array.from([...u32Bytes(type), ...value]), `key '${kv.key}' = type ${type} ${Buffer.from(value.subarray(0, 24)).toString('hex')}`);
    }
    case 'kv.renameKey': {
      const name = rng.chance(0.5) ? rng.pick(kvs).key : rng.pick(HOSTILE_STRINGS) + (rng.chance(0.5) ? kv.key : '');
      return splice(kv.start, kv.typeOffset, stringBytes(name), `key '${kv.key}' renamed to ${JSON.stringify(name.slice(0, 60))}`);
    }
    case 'kv.drop':
      return splice(kv.start, kv.end, new Uint8Array(0), `key '${kv.key}' dropped`, { offset: layout.kvCountOffset, delta: -1 });
    case 'kv.duplicate':
      return splice(kv.end, kv.end, bytes.slice(kv.start, kv.end), `key '${kv.key}' written twice`, { offset: layout.kvCountOffset, delta: 1 });
    case 'tensor.rename': {
      const name = rng.chance(0.5) ? rng.pick(tensors).name : rng.pick(HOSTILE_STRINGS) + (rng.chance(0.5) ? tensor.name : '');
      return splice(tensor.start, tensor.numDimsOffset, stringBytes(name), `tensor '${tensor.name}' renamed to ${JSON.stringify(name.slice(0, 60))}`);
    }
    case 'tensor.drop':
      return splice(tensor.start, tensor.end, new Uint8Array(0), `tensor '${tensor.name}' dropped`, { offset: layout.tensorCountOffset, delta: -1 });
    case 'tensor.duplicate':
      return splice(tensor.end, tensor.end, bytes.slice(tensor.start, tensor.end), `tensor '${tensor.name}' listed twice`, { offset: layout.tensorCountOffset, delta: 1 });
    case 'tensor.reshape': {
      // a well-formed dims list of another rank: the element count may or may not still match
      const dims = tensor.dimOffsets.map((o) => readU64(bytes, o));
      const total = dims.reduce((a, b) => a * b, 1n);
      const shapes = [[total], [1n, total], [total, 1n], [...dims].reverse(), [...dims, 1n], [dims[0]!], [...dims, 2n], []];
      const shape = rng.pick(shapes);
      const b = new Uint8Array(4 + 8 * shape.length);
      b.set(u32Bytes(shape.length));
      shape.forEach((d, i) => b.set(u64Bytes(d), 4 + 8 * i));
      return splice(tensor.numDimsOffset, tensor.typeOffset, b, `tensor '${tensor.name}' shape [${dims}] -> [${shape}]`);
    }
  }
}

/** Applies a splice inside the header, re-padding so the data section stays aligned and intact. */
function applySplice(layout: GgufLayout, bytes: Uint8Array, edit: Extract<Edit, { kind: 'splice' }>): Uint8Array {
  const header = Buffer.concat([bytes.subarray(0, edit.start), edit.bytes, bytes.subarray(edit.end, layout.headerEnd)]);
  if (edit.countDelta) {
    const { offset, delta } = edit.countDelta;
    header.writeBigUInt64LE(BigInt.asUintN(64, header.readBigUInt64LE(offset) + BigInt(delta)), offset);
  }
  const dataOffset = Math.ceil(header.length / layout.alignment) * layout.alignment;
  const out = new Uint8Array(dataOffset + (bytes.length - layout.dataOffset));
  out.set(header);
  out.set(bytes.subarray(layout.dataOffset), dataOffset);
  return out;
}

/** One case: 1 to 3 in-place changes, or in-place changes then one structural change. */
export function mutateGguf(layout: GgufLayout, seed: number): MutatedFile {
  const rng = new Rng(seed);
  const numMutations = rng.chance(0.6) ? 1 : 2 + rng.int(2);
  const planned: Planned[] = [];
  for (let i = 0; i < numMutations; i++) {
    const isLast = i === numMutations - 1;
    if (isLast && rng.chance(0.3)) planned.push(planStructural(rng, layout, rng.pick(STRUCTURAL_KINDS)));
    else planned.push(planInPlace(rng, layout, rng.pick(IN_PLACE_KINDS)));
  }
  let bytes: Uint8Array = layout.bytes.slice();
  for (const p of planned) {
    const e = p.edit;
    if (e.kind === 'set') {
      for (const w of e.writes) bytes.set(w.bytes.subarray(0, Math.max(0, bytes.length - w.offset)), w.offset);
    } else if (e.kind === 'truncate') {
      bytes = bytes.slice(0, e.length);
    } else {
      bytes = applySplice(layout, bytes, e);
    }
  }
  // a change that writes the bytes already there (a tensor swapped with itself, a type set to its own) is no change
  const isNoop = (p: Planned): boolean =>
    (p.edit.kind === 'set' && p.edit.writes.every((w) => Buffer.compare(w.bytes, layout.bytes.subarray(w.offset, w.offset + w.bytes.length)) === 0)) ||
    (p.edit.kind === 'splice' && !p.edit.countDelta && Buffer.compare(p.edit.bytes, layout.bytes.subarray(p.edit.start, p.edit.end)) === 0);
  const mutations = planned.map((p) => (isNoop(p) ? { ...p.mutation, detail: `${p.mutation.detail} (no change)` } : p.mutation));
  return { bytes, mutations, isDataOnly: planned.every((p) => p.isData || isNoop(p)) };
}
