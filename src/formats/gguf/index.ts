export * from './gguf-value.js';
export * from './gguf-file.js';
export { readGguf, readTensorData, readTensorsInto } from './gguf-reader.js';
export { encodeGgufHeader, writeGguf, type GgufHeader, type GgufTensorHeader, type GgufTensorSpec, type GgufWriteSpec } from './gguf-writer.js';
