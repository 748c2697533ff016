import { pino, type DestinationStream, type Logger } from 'pino';
import { formatLogLine } from './text-log-format.js';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  /** default 'info' */
  readonly level?: LogLevel;
  /** 'text': one readable line per record (text-log-format.ts); 'json': pino's JSON lines. Default 'text' */
  readonly format?: LogFormat;
  /** where lines go (default stderr) */
  readonly destination?: { write(text: string): unknown };
}

/**
 * The server's logger: pino, writing synchronously to `destination` either its own JSON lines or,
 * for 'text', each line turned into one readable line by formatLogLine (no pino-pretty, no worker
 * thread). Records carry `msg`, `level` and the fields passed with them (request_id, route, ...).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const format = options.format ?? 'text';
  const stream: DestinationStream =
    format === 'json' ? { write: (line: string) => void destination.write(line) } : { write: (line: string) => void destination.write(formatLogLine(line)) };
  return pino({ level: options.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

/** A logger that drops everything (library use and tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
