/**
 * Structured logging: a message plus key/value fields, written as one line to
 * stderr, either human-readable (`text`) or as JSON lines (`json`) for
 * collectors. Every worker builds its own logger from the same configuration.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "info", format: "text" }).child("network");
 * log.info("peer connected", { peer: "12D3KooW...", direction: "outbound" });
 * ```
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = typeof LOG_FORMATS[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `component` (joined with `.` when nested). */
  child(component: string): Logger;
}

export type LoggerOptions = {
  level: LogLevel;
  format: LogFormat;
  component?: string;
  /** Where finished lines go; stderr by default. */
  write?: (line: string) => void;
  now?: () => number;
};

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

const writeStderr = (line: string) => console.error(line);

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? writeStderr;
  const now = options.now ?? Date.now;
  const minimum = LEVEL_RANK[options.level];
  const emit = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (LEVEL_RANK[level] < minimum) return;
    const at = new Date(now()).toISOString();
    write(
      options.format === "json"
        ? formatJson(at, level, options.component, message, fields)
        : formatText(at, level, options.component, message, fields),
    );
  };
  return {
    debug: (message, fields) => emit("debug", message, fields),
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
    child: (component) =>
      createLogger({
        ...options,
        component: options.component ? `${options.component}.${component}` : component,
      }),
  };
}

/** A logger that drops everything, for tests and tools that must stay quiet. */
export const silentLogger: Logger = createLogger({
  level: "error",
  format: "text",
  write: () => {},
});

function formatJson(
  at: string,
  level: LogLevel,
  component: string | undefined,
  message: string,
  fields: LogFields,
): string {
  const record: LogFields = { ts: at, level, ...(component ? { component } : {}), msg: message };
  for (const [key, value] of Object.entries(fields)) {
    if (!(key in record)) record[key] = serialisable(value);
  }
  return JSON.stringify(record);
}

function formatText(
  at: string,
  level: LogLevel,
  component: string | undefined,
  message: string,
  fields: LogFields,
): string {
  const head = `${at} ${level.toUpperCase().padEnd(5)} ${
    component ? `[${component}] ` : ""
  }${message}`;
  const tail = Object.entries(fields)
    .map(([key, value]) => `${key}=${textValue(serialisable(value))}`)
    .join(" ");
  return tail ? `${head} ${tail}` : head;
}

function serialisable(value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  return value;
}

function textValue(value: unknown): string {
  if (typeof value === "string") {
    return /[\s"=]/.test(value) || value === "" ? JSON.stringify(value) : value;
  }
  return JSON.stringify(value) ?? String(value);
}
