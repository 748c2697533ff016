import type { NativeBackend } from '../src/kernels/native/native-backend.js';

/**
 * `backend` with every kernel call timed (wall seconds summed into `opSeconds` per op; matmuls
 * per weight shape, e.g. `matmul 2048x8192`), for the benches' per-op profiles. Uploads are not timed.
 */
export function profiledBackend(backend: NativeBackend, opSeconds: Map<string, number>): NativeBackend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'uploadWeight') return value;
      return (...callArgs: unknown[]) => {
        const t = performance.now();
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, callArgs);
        const w = callArgs[1] as { numRows: number; numCols: number };
        const key = prop === 'matmul' || prop === 'matmulSwiglu' || prop === 'matmulGeglu' ? `${String(prop)} ${w.numRows}x${w.numCols}` : String(prop);
        opSeconds.set(key, (opSeconds.get(key) ?? 0) + (performance.now() - t) / 1e3);
        return result;
      };
    },
  });
}
