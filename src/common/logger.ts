import { createRequire } from "node:module";
import pino, { type DestinationStream, type Level, type Logger } from "pino";
import type { PrettyOptions } from "pino-pretty";

export type { Logger };

/** `pretty`: short coloured lines for a person at a terminal; `json`: pino JSON lines for machines. */
export const LogFormat = { Pretty: "pretty", Json: "json" } as const;
export type LogFormat = (typeof LogFormat)[keyof typeof LogFormat];
export const LOG_FORMATS: readonly string[] = ["auto", ...Object.values(LogFormat)];

export interface LoggerOptions {
  /** pino level; default `info` (`debug` adds a line per order). */
  level?: Level | "silent";
  /** Where JSON lines go; default stderr, so stdout stays clean for command output and `--json`. */
  destination?: DestinationStream;
  /**
   * Default {@link defaultLogFormat}: pretty when stderr (where the lines go) is a terminal, JSON
   * when it is piped or redirected. Ignored when `destination` is given (always JSON).
   */
  format?: LogFormat;
}

/** Pretty on a terminal, JSON otherwise: a person reads the one, a log shipper parses the other. */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return stream.isTTY === true ? LogFormat.Pretty : LogFormat.Json;
}

/**
 * Set by the tracing setup when tracing is on: the active span's `trace_id` and `span_id` for a log
 * line (an empty object outside any span). Off, the mixin below returns nothing at once.
 */
let traceFields: (() => object) | undefined;

/** Called once by telemetry/otel-tracing.ts when it starts; lines logged inside a traced order then carry its ids. */
export function setLogTraceFields(fields: (() => object) | undefined): void {
  traceFields = fields;
}

const NO_FIELDS = Object.freeze({});
function traceMixin(): object {
  return traceFields === undefined ? NO_FIELDS : traceFields();
}

/**
 * pino merges a line's own fields into what the mixin returned (Object.assign onto it): with tracing
 * off the line's fields are taken as they are, with no object made or copied per line.
 */
function mergeTraceFields(line: object, fields: object): object {
  return fields === NO_FIELDS ? line : Object.assign(fields, line);
}

const TRACE_MIXIN = { mixin: traceMixin, mixinMergeStrategy: mergeTraceFields };

/** The one root logger of a process; modules take `logger.child({ stage })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? "info";
  if (opts.destination) return pino({ level, base: { pid: process.pid }, ...TRACE_MIXIN }, opts.destination);
  if ((opts.format ?? defaultLogFormat()) === LogFormat.Json) {
    return pino(
      { level, base: { pid: process.pid }, ...TRACE_MIXIN },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  return pino(
    {
      level,
      base: null,
      ...TRACE_MIXIN,
      // A person wants what went wrong, not a stack: --debug prints stacks of command errors.
      serializers: { err: (e: unknown) => (e instanceof Error ? e.message : String(e)) },
    },
    prettyStream(),
  );
}

/** Bindings that name the part of the process a line comes from, most specific first. */
const PART_KEYS = ["stage", "part", "connection", "cmd"] as const;
/** Fields a person does not need on every line (the part is shown in front of the message). */
const HIDDEN = new Set<string>([...PART_KEYS, "consumer", "pid", "hostname", "err", "level", "time", "msg"]);
/**
 * Bindings a part's every line carries for the JSON reader, shown to a person only on its start line
 * (`processor started handler=./pricing.ts`): once is enough on a terminal.
 */
const ON_START_ONLY = new Set<string>(["handler"]);

/**
 * pino-pretty, in this process and synchronous (a worker transport would be one more thread, and
 * lines written just before exit could be lost): `12:04:05.123 INFO processor: processor started
 * batch=250 maxInFlight=1000`. Loaded only when used, so piped workers do not pay for it.
 */
function prettyStream(): DestinationStream {
  const require = createRequire(import.meta.url);
  const pretty = require("pino-pretty") as (opts: PrettyOptions) => DestinationStream;
  // Colour only for a terminal (a forced `--log-format pretty` into a file stays plain), as NO_COLOR asks.
  const colour = process.stderr.isTTY === true && !process.env.NO_COLOR;
  return pretty({
    destination: 2,
    sync: true,
    colorize: colour,
    translateTime: "SYS:HH:MM:ss.l",
    hideObject: true,
    ignore: "pid,hostname",
    customColors: "trace:gray,debug:blue,info:green,warn:yellow,error:red,fatal:bgRed,message:reset",
    messageFormat: (log, messageKey, _level, { colors }) => {
      const part = PART_KEYS.map((k) => log[k]).find((v) => typeof v === "string");
      const err = log.err === undefined ? "" : `: ${colors.red(String(log.err))}`;
      const fields = Object.entries(log)
        .filter(([k]) => !HIDDEN.has(k) && k !== messageKey)
        .filter(([k]) => !ON_START_ONLY.has(k) || String(log[messageKey] ?? "").endsWith(" started"))
        .map(([k, v]) => colors.gray(`${k}=${fieldText(v)}`));
      const head = part ? `${colors.bold(String(part))}: ` : "";
      return [`${head}${String(log[messageKey] ?? "")}${err}`, ...fields].join(" ");
    },
  });
}

function fieldText(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v;
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

export const silentLogger: Logger = pino({ level: "silent" });
