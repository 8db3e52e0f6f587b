/**
 * Structured logs on pino: one JSON object per line on stderr, one line per
 * event: `{"level":"info","time":"<ISO>",...bindings,...fields,"event":"<kind>"}`.
 * A level below the logger's costs one call to a no-op.
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger as Pino } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LOG_LEVELS: ReadonlySet<string> = new Set<LogLevel>(['debug', 'info', 'warn', 'error', 'silent']);

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export function isLogLevel(value: string): value is LogLevel {
  return LOG_LEVELS.has(value);
}

/** Synchronous, as process.stderr is on Linux: the line of a fatal error is out before process.exit. */
const STDERR: DestinationStream = { write: (line) => void process.stderr.write(line) };

/**
 * `write` receives each line without its newline (tests collect them);
 * by default lines go to stderr.
 */
export function createLogger(level: LogLevel, base: LogFields = {}, write?: (line: string) => void): Logger {
  const destination: DestinationStream =
    write === undefined ? STDERR : { write: (line) => write(line.endsWith('\n') ? line.slice(0, -1) : line) };
  const withStack = level === 'debug';
  const plain = (value: unknown): unknown => toPlain(value, withStack, 0);
  const logger = pino(
    {
      level,
      base: plain(base) as LogFields,
      messageKey: 'event',
      timestamp: stdTimeFunctions.isoTime,
      // pino's err serializer would apply to `err` only; errors are made plain wherever they sit, below.
      serializers: {},
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => plain(bindings) as LogFields,
        log: (fields) => plain(fields) as LogFields,
      },
    },
    destination,
  );
  return wrap(logger);
}

const noop = (): void => {};

function wrap(logger: Pino): Logger {
  const at = (level: Exclude<LogLevel, 'silent'>): Logger['info'] => {
    if (!logger.isLevelEnabled(level)) return noop;
    return (event, fields) => (fields === undefined ? logger[level](event) : logger[level](fields, event));
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => wrap(logger.child(fields)),
  };
}

const DEPTH_MAX = 8;

/**
 * Fields as JSON shows them: an Error as its name, message and code (its
 * stack too at debug level), a bigint as its decimal string; plain objects
 * and arrays are walked, anything else is left to JSON.stringify.
 */
function toPlain(value: unknown, withStack: boolean, depth: number): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null || depth >= DEPTH_MAX) return value;
  if (value instanceof Error) {
    const { code } = value as { code?: unknown };
    return {
      name: value.name,
      message: value.message,
      ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
      ...(withStack && value.stack !== undefined ? { stack: value.stack } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((item) => toPlain(item, withStack, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = toPlain(item, withStack, depth + 1);
  return out;
}
