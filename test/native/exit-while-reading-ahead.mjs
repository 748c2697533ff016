// A process that ends (returns from its last task, no dispose(), no process.exit) while a pool
// worker reads a weight ahead: the read ahead plan is [small, big], a one-token matmul by `small`
// starts a worker reading the 256 MiB `big`, and the script ends at once. At exit Node frees the
// weights' external ArrayBuffers from its cleanup hooks; the worker must have stopped first.
// Prints "ok" once the matmul ran; a crash at exit shows as a signal or a non-zero status.
import { loadNativeAddon } from '../../dist/kernels/native/native-addon.js';

const loaded = loadNativeAddon();
if (!loaded.ok) throw new Error(loaded.reason);
const { addon } = loaded;
const Q8_0 = 8;
const numCols = 1024;
const rowBytes = (numCols / 32) * 34;
const handle = addon.createContext(2, addon.bestIsa());
if (typeof handle === 'number') throw new Error(`createContext: ${handle}`);
const weight = (numRows) => {
  const buffer = addon.allocateWeightBuffer(numRows * rowBytes);
  if (typeof buffer === 'number') throw new Error(`allocateWeightBuffer: ${buffer}`);
  return new Uint8Array(buffer);
};
const small = weight(64);
const bigRows = Math.floor((256 << 20) / rowBytes);
const big = weight(bigRows);
let status = addon.setReadAheadPlan(handle, [small, big], Int32Array.from([Q8_0, 64, numCols, 0, Q8_0, bigRows, numCols, 0]));
if (status !== 0) throw new Error(`setReadAheadPlan: ${addon.lastError(handle)}`);
status = addon.matmul(handle, new Float32Array(64), small, Q8_0, 64, numCols, new Float32Array(numCols).fill(1), 1, 0);
if (status !== 0) throw new Error(`matmul: ${addon.lastError(handle)}`);
console.log('ok');
