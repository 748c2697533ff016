export { createServer, type PeregrineServer, type ServerOptions } from './server.js';
export { createLogger, type Logger, type LoggerOptions, type LogFormat, type LogLevel } from './logging/logger.js';
export { shutdownGracefully, type ShutdownOptions, type ShutdownResult } from './graceful-shutdown.js';
export { ChatTemplate, FALLBACK_CHAT_TEMPLATE } from '../chat/chat-template.js';
