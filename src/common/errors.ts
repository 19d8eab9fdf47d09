/**
 * One catalogue of orderflow's error codes. Every error we raise is an OrderflowError with a code,
 * a one-line message meant for an operator, an optional hint (how to fix it) and the cause.
 */
export const ErrorCode = {
  Usage: "USAGE",
  ServerUnreachable: "SERVER_UNREACHABLE",
  JetStreamDisabled: "JETSTREAM_DISABLED",
  Permission: "PERMISSION",
  StreamMissing: "STREAM_MISSING",
  TopologyUnupdatable: "TOPOLOGY_UNUPDATABLE",
  Topology: "TOPOLOGY",
  PipelineChange: "PIPELINE_CHANGE",
  InvalidOrder: "INVALID_ORDER",
  Publish: "PUBLISH",
  PayloadTooLarge: "PAYLOAD_TOO_LARGE",
  ServerBinaryMissing: "SERVER_BINARY_MISSING",
  ServerStart: "SERVER_START",
  SeedMissing: "SEED_MISSING",
  NatsContext: "NATS_CONTEXT",
  HandlerModule: "HANDLER_MODULE",
  HandlerTimeout: "HANDLER_TIMEOUT",
  LateRedelivery: "LATE_REDELIVERY",
  IndexStore: "INDEX_STORE",
  Bench: "BENCH",
  TracingConfig: "TRACING_CONFIG",
  PipelineFile: "PIPELINE_FILE",
  Internal: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface OrderflowErrorOptions {
  /** How the operator can fix it; printed after the message. */
  hint?: string;
  cause?: unknown;
}

export class OrderflowError extends Error {
  override name = "OrderflowError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: OrderflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  /** The one line an operator sees: message, then the hint. */
  oneLine(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message;
  }
}

/** A bad flag, argument or template: the user's input, not the system, is wrong. */
export class UsageError extends OrderflowError {
  override name = "UsageError";
  constructor(message: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.Usage, message, options);
  }
}

export class ConnectionError extends OrderflowError {
  override name = "ConnectionError";
  readonly servers: readonly string[];
  constructor(servers: readonly string[], reason: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.ServerUnreachable, `cannot connect to NATS at ${servers.join(",")}: ${reason}`, options);
    this.servers = servers;
  }
}

export class PermissionError extends OrderflowError {
  override name = "PermissionError";
  readonly subject: string | undefined;
  constructor(message: string, options: OrderflowErrorOptions & { subject?: string } = {}) {
    super(ErrorCode.Permission, message, options);
    this.subject = options.subject;
  }
}

export class StreamMissingError extends OrderflowError {
  override name = "StreamMissingError";
  readonly stream: string;
  constructor(stream: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.StreamMissing, `stream ${stream} not found`, {
      hint: "run `orderflow setup` first",
      ...options,
    });
    this.stream = stream;
  }
}

/** A field of an existing stream or consumer that the server will not change in place. */
export class UnupdatableFieldError extends OrderflowError {
  override name = "UnupdatableFieldError";
  readonly object: string;
  readonly fields: readonly string[];
  constructor(
    object: string,
    fields: readonly string[],
    detail: string,
    options: OrderflowErrorOptions = {},
  ) {
    super(
      ErrorCode.TopologyUnupdatable,
      `${object}: cannot change ${fields.join(", ")} in place (${detail})`,
      {
        hint: `delete ${object} (its data goes with it) and run \`orderflow setup\` again, or keep the existing value`,
        ...options,
      },
    );
    this.object = object;
    this.fields = fields;
  }
}

export class TopologyError extends OrderflowError {
  override name = "TopologyError";
  constructor(message: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.Topology, message, options);
  }
}

/** A consumer of the topology is not there: the stage behind it cannot run. */
export class ConsumerMissingError extends TopologyError {
  override name = "ConsumerMissingError";
  readonly stream: string;
  readonly consumer: string;
  constructor(stream: string, consumer: string, options: OrderflowErrorOptions = {}) {
    super(`consumer ${stream} > ${consumer} not found`, { hint: "run `orderflow setup` first", ...options });
    this.stream = stream;
    this.consumer = consumer;
  }
}

/**
 * `setup` will not change a running pipeline now: re-pointing a consumer whose workers still pull or
 * hold orders, or deleting an undeclared consumer with orders no declared stage will read, would
 * lose or duplicate orders (docs/pipeline-changes.md).
 */
export class PipelineChangeRefusedError extends OrderflowError {
  override name = "PipelineChangeRefusedError";
  readonly object: string;
  constructor(object: string, reason: string, hint: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.PipelineChange, `${object}: ${reason}`, { hint, ...options });
    this.object = object;
  }
}

/**
 * Thrown by a stage handler for an order that can never be processed, however often it is retried:
 * the worker dead-letters it at once instead of retrying.
 */
export class InvalidOrderError extends OrderflowError {
  override name = "InvalidOrderError";
  /** A short machine-readable reason, e.g. `empty`, `not-utf8`, `control-char`, `too-long`. */
  readonly reason: string;
  constructor(reason: string, message: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.InvalidOrder, message, options);
    this.reason = reason;
  }
}

export class PublishError extends OrderflowError {
  override name = "PublishError";
  readonly subject: string;
  /**
   * The stream said "try again shortly" (429 over its ingest buffer, 10158 a duplicate still being
   * stored; nats-server 2.11+): publish the same message again, it is neither lost nor bad.
   */
  readonly retryLater: boolean;
  constructor(
    subject: string,
    message: string,
    options: OrderflowErrorOptions & {
      code?: typeof ErrorCode.Publish | typeof ErrorCode.PayloadTooLarge;
      retryLater?: boolean;
    } = {},
  ) {
    super(options.code ?? ErrorCode.Publish, `publish to ${subject} failed: ${message}`, options);
    this.subject = subject;
    this.retryLater = options.retryLater ?? false;
  }
}

/** A message larger than the server's max_payload: the server would refuse it, so none is sent. */
export class PayloadTooLargeError extends PublishError {
  override name = "PayloadTooLargeError";
  readonly bytes: number;
  readonly maxPayload: number;
  constructor(
    subject: string,
    bytes: number,
    maxPayload: number,
    options: OrderflowErrorOptions & { withHeaders?: boolean } = {},
  ) {
    super(
      subject,
      options.withHeaders
        ? `the message, ${bytes.toLocaleString("en-US")} bytes and its headers, is over the server's max_payload of ${maxPayload.toLocaleString("en-US")} bytes`
        : `the message is ${bytes.toLocaleString("en-US")} bytes, over the server's max_payload of ${maxPayload.toLocaleString("en-US")} bytes`,
      {
        code: ErrorCode.PayloadTooLarge,
        hint: "send a smaller message, or raise max_payload in the nats-server config (its default is 1 MB; 8 MB is the most NATS advises)",
        ...options,
      },
    );
    this.bytes = bytes;
    this.maxPayload = maxPayload;
  }
}

export class ServerBinaryMissingError extends OrderflowError {
  override name = "ServerBinaryMissingError";
  constructor(tried: readonly string[]) {
    super(ErrorCode.ServerBinaryMissing, `nats-server not found (looked at ${tried.join(", ")})`, {
      hint: "install it (`apt-get install -y nats-server`, `brew install nats-server`) or set NATS_SERVER_BIN, or start one with `docker compose up -d`",
    });
  }
}

/** Where neither package manager can be used: what to do instead, as one line. */
export const MANUAL_INSTALL_HINT =
  "install nats-server (`sudo apt-get install -y nats-server` on Debian/Ubuntu, `brew install nats-server` on macOS, " +
  "or a release from https://github.com/nats-io/nats-server/releases) and set NATS_SERVER_BIN if it is not on PATH, " +
  "or run one with `docker compose up -d` (docker-compose.yml) and then `npm start` again";

/** `up` needed a nats-server, found none, and could not (or might not) install one. */
export class NatsInstallError extends OrderflowError {
  override name = "NatsInstallError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.ServerBinaryMissing, message, { hint: MANUAL_INSTALL_HINT, ...options });
  }
}

/** A nats CLI context (ADR-21) that is missing, unreadable or not valid; `file` names it. */
export class NatsContextError extends OrderflowError {
  override name = "NatsContextError";
  readonly file: string;
  constructor(file: string, message: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.NatsContext, message, options);
    this.file = file;
  }
}

/**
 * The seed tutorial (whose Go programs the interop tests and `bench --compare-seed` build) is not
 * where it was looked for. It lives beside the repo only on the team's machines and in CI.
 */
export class SeedMissingError extends OrderflowError {
  override name = "SeedMissingError";
  readonly file: string;
  constructor(file: string, fromEnv: boolean, reason: string, options: OrderflowErrorOptions = {}) {
    super(
      ErrorCode.SeedMissing,
      fromEnv
        ? `cannot read the seed tutorial at ${file} (from ORDERFLOW_SEED_FILE): ${reason}`
        : `the seed tutorial is not at ${file}: ${reason}`,
      {
        hint: "set ORDERFLOW_SEED_FILE to the seed tutorial's path (shared/seed/000_735682c9d9478ddd.txt)",
        ...options,
      },
    );
    this.file = file;
  }
}

/**
 * A pipeline file (`--config`, ORDERFLOW_CONFIG, or orderflow.config.* in the working directory)
 * that is missing, does not parse, or declares something that is not a pipeline. The message names
 * the file and the field; the hint says how to fix it.
 */
export class PipelineFileError extends OrderflowError {
  override name = "PipelineFileError";
  readonly file: string;
  /** The field at fault (`stages[2].output`), when one is. */
  readonly field: string | undefined;
  constructor(file: string, field: string | undefined, problem: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.PipelineFile, field ? `${file}: ${field}: ${problem}` : `${file}: ${problem}`, options);
    this.file = file;
    this.field = field;
  }
}

/** A `--handler` module that is missing, does not load, or exports nothing a stage can run. */
export class HandlerModuleError extends OrderflowError {
  override name = "HandlerModuleError";
  readonly file: string;
  constructor(file: string, problem: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.HandlerModule, `handler module ${file}: ${problem}`, options);
    this.file = file;
  }
}

/** A handler that did not settle within `--handler-timeout`: retried, then dead-lettered as `timeout`. */
export class HandlerTimeoutError extends OrderflowError {
  override name = "HandlerTimeoutError";
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(ErrorCode.HandlerTimeout, `the handler did not finish within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A stage set to verify redeliveries past the stream's duplicate window (`lateRedeliveries:
 * verify`) with no order index to verify them against. Rather than hold such an order forever, the
 * worker refuses: at start when no index answers, or at the first late redelivery it meets.
 */
export class LateRedeliveryError extends OrderflowError {
  override name = "LateRedeliveryError";
  readonly stage: string;
  constructor(stage: string, problem: string, options: OrderflowErrorOptions = {}) {
    super(
      ErrorCode.LateRedelivery,
      `${stage} cannot verify redeliveries past the duplicate window: ${problem}`,
      {
        hint: "start `orderflow indexer` (or `orderflow up`), or choose lateRedeliveries publish (`--late-redeliveries publish`) to accept a possible second output",
        ...options,
      },
    );
    this.stage = stage;
  }
}

/**
 * A long-running part whose stop() could not finish cleanly (a drain refused, a consumer not
 * deleted): what is left over expires on the server by itself, but the operator should know.
 */
export class StopError extends OrderflowError {
  override name = "StopError";
  readonly part: string;
  constructor(part: string, problem: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.Internal, `${part} did not stop cleanly: ${problem}`, {
      hint: "what it left on the server (a subscription, an ephemeral consumer) expires by itself; if it recurs, check the server with `orderflow info`",
      ...options,
    });
    this.part = part;
  }
}

/** Start() called twice on one instance: a bug in the caller, not the operator's doing. */
export class AlreadyStartedError extends OrderflowError {
  override name = "AlreadyStartedError";
  constructor(part: string) {
    super(ErrorCode.Internal, `${part} already started`);
  }
}

/** A stage name on the command line that is none of the pipeline's: the input is wrong, not the topology. */
export class UnknownStageError extends UsageError {
  override name = "UnknownStageError";
  readonly stage: string;
  constructor(
    stage: string,
    known: readonly string[],
    pipelineFile?: string,
    options: OrderflowErrorOptions = {},
  ) {
    // Without a pipeline file, the seed's wording as it always was ("use processor or dispatcher").
    super(`unknown stage "${stage}"${pipelineFile ? ` in ${pipelineFile}` : ""}`, {
      hint: `use ${pipelineFile ? known.join(", ") : known.join(" or ")}`,
      ...options,
    });
    this.stage = stage;
  }
}

/** The benchmark did not see every order complete in time: workers stopped, stalled or are too slow. */
export class BenchIncompleteError extends OrderflowError {
  override name = "BenchIncompleteError";
  readonly completed: number;
  readonly expected: number;
  readonly timeoutMs: number;
  constructor(completed: number, expected: number, timeoutMs: number, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.Bench, `only ${completed} of ${expected} orders completed within ${timeoutMs / 1000} s`, {
      hint: "a worker may have exited or stalled, or the machine is too busy for this many orders; try fewer --orders, or check the server with `orderflow status`",
      ...options,
    });
    this.completed = completed;
    this.expected = expected;
    this.timeoutMs = timeoutMs;
  }
}

/** The benchmark was stopped (Ctrl-C, SIGTERM) before it finished; its figures would be partial. */
export class BenchInterruptedError extends OrderflowError {
  override name = "BenchInterruptedError";
  constructor() {
    super(ErrorCode.Bench, "benchmark interrupted", {
      hint: "nothing was written; run it again to get figures",
    });
  }
}

/** A callback of the benchmark's (the latency phase's completion hook) threw; the run cannot be trusted. */
export class BenchCallbackError extends OrderflowError {
  override name = "BenchCallbackError";
  constructor(what: string, cause: unknown) {
    super(ErrorCode.Internal, `${what} failed: ${errorMessage(cause)}`, { cause });
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The order index's directory cannot be opened: in use by another process, unwritable, corrupt. */
export class IndexStoreError extends OrderflowError {
  override name = "IndexStoreError";
  readonly dir: string;
  constructor(dir: string, reason: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.IndexStore, `cannot open the order index in ${dir}: ${reason}`, options);
    this.dir = dir;
  }
}

/** The OpenTelemetry environment asks for something orderflow's tracing cannot do (an exporter, a protocol, a sampler). */
export class TracingConfigError extends OrderflowError {
  override name = "TracingConfigError";
  readonly variable: string;
  constructor(variable: string, value: string, supported: string, options: OrderflowErrorOptions = {}) {
    super(ErrorCode.TracingConfig, `${variable}=${value} is not supported`, {
      hint: `use ${supported} (see docs/tracing.md)`,
      ...options,
    });
    this.variable = variable;
  }
}
