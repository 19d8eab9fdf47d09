import pino, { type DestinationStream, type Level, type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  /** pino level; default `info` (`debug` adds a line per order). */
  level?: Level | "silent";
  /** Where JSON lines go; default stderr, so stdout stays clean for command output and `--json`. */
  destination?: DestinationStream;
}

/** The one root logger of a process; modules take `logger.child({ stage })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    { level: opts.level ?? "info", base: { pid: process.pid } },
    opts.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

export const silentLogger: Logger = pino({ level: "silent" });
