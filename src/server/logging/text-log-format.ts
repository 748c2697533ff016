/** pino's numeric levels, as text-format lines name them */
const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** a value that needs no quotes in a key=value pair */
const BARE = /^[\w.:/@+-]+$/;

/**
 * One pino JSON line as one readable line: `TIME LEVEL msg key=value ...`, values quoted (JSON) when
 * they hold spaces or quotes; an error's stack on the lines after. A line that is not JSON passes as it is.
 */
export function formatLogLine(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
  }
  const { time, level, msg, err, ...fields } = record;
  const levelName = typeof level === 'number' ? (LEVEL_NAMES[level] ?? String(level)) : String(level);
  const parts = [typeof time === 'string' ? time : new Date().toISOString(), levelName.padEnd(5), String(msg ?? '')];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    parts.push(`${key}=${formatValue(value)}`);
  }
  let stack = '';
  if (err && typeof err === 'object') {
    const e = err as { message?: unknown; stack?: unknown };
    if (typeof e.stack === 'string') stack = `\n${e.stack}`;
    else parts.push(`err=${formatValue(e.message)}`);
  }
  return `${parts.join(' ')}${stack}\n`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return BARE.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}
