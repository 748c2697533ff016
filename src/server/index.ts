export { createServer, type PeregrineServer, type ServerOptions } from './server.js';
export { shutdownGracefully, type ShutdownOptions, type ShutdownResult } from './graceful-shutdown.js';
export { ChatTemplate, FALLBACK_CHAT_TEMPLATE } from './chat-completions/chat-template.js';
