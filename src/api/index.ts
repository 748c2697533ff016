/** Peregrine's public API. Everything a user imports comes from here. */
export { loadModel, LoadedModel, LoadedModel as Model, type CompletionResult } from '../engine/loaded-model.js';
export type { LoadModelOptions } from '../engine/model.js';
export type { KvCacheType } from '../kernels/kernel-backend.js';
export type { MatmulPrecision } from '../kernels/native/native-backend.js';
export { ChatSession, type ChatSessionOptions, type ChatPromptOptions, type ChatModel, type ChatToolOptions } from '../engine/chat-session.js';
export { ChatTemplate, FALLBACK_CHAT_TEMPLATE, type ChatMessage } from '../chat/chat-template.js';
export type { EmbeddingOptions, EmbeddingResult, PoolingType } from '../engine/embedding-options.js';
export { createServingEngine, AsyncEngine, type ServingEngineOptions } from '../engine/async-engine.js';
export type { ServingEngine, ServingStats } from '../engine/serving-engine.js';
export type { BackendChoice } from '../kernels/select-backend.js';
export type { GenerationOptions, GenerationChunk, FinishReason } from '../engine/generation-options.js';
export type { SamplingParams } from '../sampling/sampling-params.js';
export type { Tokenizer } from '../tokenizer/tokenizer.js';
export type { ModelInfo } from '../models/model-info.js';
export {
  EngineError,
  InvalidRequestError,
  CapacityError,
  ModelLoadError,
  EngineDeadError,
  type ErrorCode,
} from '../errors/engine-error.js';
export { readGguf, writeGguf, gguf, GgufValueType } from '../formats/gguf/index.js';
export { GgmlType } from '../formats/ggml-type.js';
export { quantizeModelFile, type QuantizeModelOptions, type QuantizeModelReport, type QuantizedTensorReport } from '../quant/quantize-model.js';
export { quantFormats, type QuantFormat } from '../quant/quant-format.js';
export { createServer, type PeregrineServer, type ServerOptions } from '../server/server.js';
export { createLogger, type Logger, type LoggerOptions, type LogFormat, type LogLevel } from '../server/logging/logger.js';
export { shutdownGracefully, type ShutdownOptions, type ShutdownResult } from '../server/graceful-shutdown.js';
// structured output and tool calling (issue 21)
export { chat, type ChatOptions, type ChatResult, type ChatTool } from './chat.js';
export type { ChatToolCall } from '../chat/chat-template.js';
export type { ResponseFormat, ConstraintOptions } from '../engine/constraint-options.js';
export { createConstraintCompiler, type ConstraintSpec, type ConstraintCompiler, type CompiledConstraint, type TokenConstraint } from '../grammar/index.js';
