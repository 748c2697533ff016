/**
 * The native row quantizers (native/quantize.cc) for `peregrine quantize`: the same bytes as the
 * TypeScript codecs in src/quant/ (the reference; native-quantize.test.ts compares them), 4–20×
 * less CPU time (Q4_K about 8×). Without a loadable addon, or for a type the addon does not quantize, nativeQuantizeRows
 * answers undefined and the caller uses the TypeScript codec.
 */
import { ggmlByteSize, ggmlTypeName, ggmlTypeTraits, type GgmlType } from '../../formats/ggml-type.js';
import { loadNativeAddon, nativeStatusName, NativeStatus, type NativeAddon } from './native-addon.js';

/** this thread's addon: loaded on first use (undefined: not yet tried; null: none loads) */
let addon: NativeAddon | null | undefined;

/**
 * `src` (rows of numCols values) in `type`, as codecFor(type).quantize writes it, or with
 * `importance` ([numCols]) as importanceQuantizer(type) does; undefined where the addon cannot.
 */
export function nativeQuantizeRows(type: GgmlType, src: Float32Array, numCols: number, importance?: Float32Array): Uint8Array | undefined {
  if (addon === undefined) {
    const loaded = loadNativeAddon();
    addon = loaded.ok ? loaded.addon : null;
  }
  const blockSize = ggmlTypeTraits(type)?.blockSize;
  if (!addon || !blockSize || numCols % blockSize !== 0 || src.length % numCols !== 0) return undefined; // the codec's own checks then speak
  const out = new Uint8Array(ggmlByteSize(type, src.length));
  const status = addon.quantizeRows(type, src, numCols, importance ?? null, out);
  if (status === NativeStatus.UNSUPPORTED_TYPE) return undefined;
  if (status !== NativeStatus.OK) {
    throw new Error(`invariant failed: native quantizeRows(${ggmlTypeName(type)}, ${src.length} values, rows of ${numCols}) returned ${nativeStatusName(status)}`);
  }
  return out;
}
