import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { durationMs } from "../common/duration.js";
import { parseStartRate } from "../stages/start-gate.js";
import { pipelineProblems, type StageSpec, type StageTuningSpec } from "../topology/pipeline.js";
import { DEFAULT_TOPOLOGY, SEED, type TopologyOptions } from "../topology/spec.js";

/**
 * The pipeline file's shape (docs/pipeline.md), validated with zod. Objects are strict, so a
 * misspelt field is an error naming it rather than a setting silently ignored. Durations take
 * what flags take (`30s`, `1m30s`, or milliseconds as a number); rates `50/s` or `600/m`.
 */

/** A NATS name part: no dots, wildcards, white space or `>`, as stream and consumer names need. */
const NAME = /^[A-Za-z0-9_-]+$/;
/** A stage name: also a metrics label, a service name and `orderflow worker <name>`. */
const STAGE_NAME = /^[a-z][a-z0-9_-]*$/;
/** Words `up --workers` gives a meaning of their own. */
const RESERVED_STAGE_NAMES: readonly string[] = ["indexer", "none"];

const duration = (what: string) =>
  z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
    const n = typeof v === "number" ? v : durationMs(v);
    if (n === undefined || n < 0) {
      ctx.addIssue({
        code: "custom",
        message: `"${v}" is not a duration; write ${what}, e.g. 30s, 250ms or 1m30s`,
      });
      return z.NEVER;
    }
    return n;
  });

const count = (min: number) => z.number().int().min(min);

const rate = z.union([z.string(), z.number().int().positive()]).transform((v, ctx) => {
  const r = parseStartRate(String(v));
  if (!r || r.limit < 1) {
    ctx.addIssue({ code: "custom", message: `"${v}" is not a rate; write e.g. 50/s or 600/m` });
    return z.NEVER;
  }
  return r;
});

const name = (what: string) =>
  z.string().regex(NAME, `${what} may hold only letters, digits, _ and - (no dots, spaces or wildcards)`);

/** `received` or `ORDERS.received`: a step below the stream's subject prefix. */
const subject = z.string().min(1, "a subject is needed, e.g. received or ORDERS.received");

const StageSchema = z.strictObject({
  name: z
    .string()
    .regex(STAGE_NAME, "a stage name is lower case: letters, digits, _ and -, e.g. validator")
    .refine((n) => !RESERVED_STAGE_NAMES.includes(n), {
      message: `${RESERVED_STAGE_NAMES.map((n) => `"${n}"`).join(" and ")} are kept for \`up --workers\`; name the stage otherwise`,
    }),
  consumer: name("a consumer name").optional(),
  input: subject,
  output: subject,
  handler: z.string().min(1).optional(),
  ackWait: duration("the consumer's ack wait").optional(),
  maxAckPending: count(1).optional(),
  batch: count(1).optional(),
  maxInFlight: count(1).optional(),
  attempts: count(1).optional(),
  timeout: duration("the handler timeout").optional(),
  concurrency: count(0).optional(),
  rateLimit: rate.optional(),
});

const StreamSchema = z.strictObject({
  name: name("a stream name").optional(),
  subjectPrefix: name("a subject prefix").optional(),
  replicas: z.number().int().min(1).max(5).optional(),
  duplicateWindow: duration("the duplicate window").optional(),
});

const MonitorSchema = z.strictObject({
  consumer: name("a consumer name").optional(),
  deliverSubject: z
    .string()
    .regex(/^[^\s*>]+$/, "a deliver subject has no spaces or wildcards")
    .optional(),
});

const PipelineFileSchema = z.strictObject({
  stream: StreamSchema.optional(),
  stages: z.array(StageSchema).min(1, "a pipeline needs at least one stage"),
  monitor: MonitorSchema.optional(),
});

/** A duration: text as flags take it (`30s`, `1m30s`, `250ms`) or milliseconds. */
export type DurationText = string | number;

/** One stage of a pipeline file (docs/pipeline.md has each field with its default). */
export interface StageConfig {
  /** Lower case, letters, digits, `_`, `-`: the worker's name, metrics label and service name. */
  name: string;
  /** Its durable pull consumer; default the name in upper case. */
  consumer?: string;
  /** The step it reads: a token (`received`) or a subject of the stream (`ORDERS.received`). */
  input: string;
  /** The step it writes; the next stage's input. */
  output: string;
  /** Handler module, relative to the pipeline file; default the built-in `<orderNo>,<output>`. */
  handler?: string;
  /** The consumer's ack wait; default 30s. */
  ackWait?: DurationText;
  /** The consumer's max ack pending; default 1000. */
  maxAckPending?: number;
  /** Messages per pull request; default 250 (`--batch`). */
  batch?: number;
  /** Most orders one worker holds; default 1000 (`--max-in-flight`). */
  maxInFlight?: number;
  /** Handler failures before a dead letter; default 5 (`--max-attempts`). */
  attempts?: number;
  /** Async handler timeout; default 30s (`--handler-timeout`). */
  timeout?: DurationText;
  /** Most handler calls at once per worker; default 0, no limit but maxInFlight (`--concurrency`). */
  concurrency?: number;
  /** Most handler starts per second or minute per worker (`50/s`, `600/m`); default none (`--rate-limit`). */
  rateLimit?: string | number;
}

/** The stream of a pipeline file; every field defaults to the seed's. */
export interface StreamSettings {
  /** Default `ORDERS`. */
  name?: string;
  /** The stream takes `<subjectPrefix>.*`; default the stream's name. */
  subjectPrefix?: string;
  /** 1, or 3 on a cluster; default 1. */
  replicas?: number;
  /** Default 2m. */
  duplicateWindow?: DurationText;
}

/** The MONITOR push consumer of a pipeline file. */
export interface MonitorSettings {
  /** Default `MONITOR`. */
  consumer?: string;
  /** Default `monitor.<stream>`. */
  deliverSubject?: string;
}

/** What a pipeline file holds, as its author writes it: `export default { … } satisfies PipelineConfig`. */
export interface PipelineConfig {
  stream?: StreamSettings;
  /** In order: each reads what the one before writes. */
  stages: StageConfig[];
  monitor?: MonitorSettings;
}

/**
 * The interfaces above are what users read; the schema is what checks. This does not compile
 * unless each accepts what the other does.
 */
function sameShape(
  config: PipelineConfig,
  input: z.input<typeof PipelineFileSchema>,
): [z.input<typeof PipelineFileSchema>, PipelineConfig] {
  return [config, input];
}
void sameShape;

/** The topology a pipeline file declares, with every default filled in. */
export type DeclaredTopology = Pick<
  TopologyOptions,
  "stream" | "subjectPrefix" | "replicas" | "duplicateWindowMs" | "monitorConsumer" | "monitorSubject"
> & { stages: readonly StageSpec[] };

/** One problem with a pipeline file: where (`stages[2].output`), what, and how to fix it. */
export interface PipelineIssue {
  path: string;
  message: string;
  hint: string;
}

const FIELDS: Readonly<Record<string, readonly string[]>> = {
  "": Object.keys(PipelineFileSchema.shape),
  stream: Object.keys(StreamSchema.shape),
  stage: Object.keys(StageSchema.shape),
  monitor: Object.keys(MonitorSchema.shape),
};

/** The fields of the object at `path`: the file, `stream`, `monitor` or a stage. */
function fieldsAt(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return FIELDS[""] ?? [];
  if (path[0] === "stages") return FIELDS.stage ?? [];
  return FIELDS[String(path[0])] ?? [];
}

const SEE_DOCS = "docs/pipeline.md describes every field";

/** Validates a parsed pipeline file; `dir` is where relative handler paths start. */
export function parsePipelineConfig(
  raw: unknown,
  dir: string,
): { topology: DeclaredTopology } | { issues: PipelineIssue[] } {
  const parsed = PipelineFileSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      issues: parsed.error.issues.map((i) => ({
        path: pathText(i.path),
        message: issueMessage(i),
        hint:
          i.code === "unrecognized_keys" ? `the fields here are ${fieldsAt(i.path).join(", ")}` : SEE_DOCS,
      })),
    };
  }
  const f = parsed.data;
  const prefix = f.stream?.subjectPrefix ?? f.stream?.name ?? DEFAULT_TOPOLOGY.subjectPrefix;
  const issues: PipelineIssue[] = [];
  const step = (v: string, path: string): string => {
    const token = v.startsWith(`${prefix}.`) ? v.slice(prefix.length + 1) : v;
    if (!NAME.test(token)) {
      issues.push({
        path,
        message: `"${v}" is not a step of the stream ${prefix}.*`,
        hint: `write one token (validated) or ${prefix}.<token>`,
      });
    } else if (/^\d+$/.test(token)) {
      // Steps are keys of plain objects in status samples, where integer-like keys come first and
      // would lose the pipeline's order.
      issues.push({
        path,
        message: `"${v}" is all digits`,
        hint: "give the step a name with a letter in it, e.g. step2",
      });
    }
    return token;
  };
  const stages: StageSpec[] = f.stages.map((s, i) => {
    const tuning: StageTuningSpec = {};
    if (s.batch !== undefined) tuning.batch = s.batch;
    if (s.maxInFlight !== undefined) tuning.maxInFlight = s.maxInFlight;
    if (s.attempts !== undefined) tuning.maxAttempts = s.attempts;
    if (s.timeout !== undefined) tuning.handlerTimeoutMs = s.timeout;
    if (s.concurrency !== undefined) tuning.concurrency = s.concurrency;
    if (s.rateLimit !== undefined) tuning.rateLimit = s.rateLimit;
    return Object.freeze({
      name: s.name,
      consumer: s.consumer ?? s.name.toUpperCase().replace(/-/g, "_"),
      input: step(s.input, `stages[${i}].input`),
      output: step(s.output, `stages[${i}].output`),
      ackWaitMs: s.ackWait ?? SEED.ackWaitMs,
      maxAckPending: s.maxAckPending ?? SEED.maxAckPending,
      ...(s.handler === undefined
        ? {}
        : { handler: isAbsolute(s.handler) ? s.handler : resolve(dir, s.handler) }),
      tuning: Object.freeze(tuning),
    });
  });
  if (issues.length > 0) return { issues };
  const monitorConsumer = f.monitor?.consumer ?? DEFAULT_TOPOLOGY.monitorConsumer;
  const chain = pipelineProblems(stages).map((p) => {
    const at = p.indexOf(": ");
    return {
      path: p.slice(0, at),
      message: p.slice(at + 2),
      hint: "stages run in order, each reading what the one before writes",
    };
  });
  if (stages.some((s) => s.consumer === monitorConsumer)) {
    chain.push({
      path: "monitor.consumer",
      message: `"${monitorConsumer}" is also a stage's consumer`,
      hint: "give the monitor a consumer of its own (MONITOR)",
    });
  }
  if (chain.length > 0) return { issues: chain };
  const stream = f.stream?.name ?? DEFAULT_TOPOLOGY.stream;
  return {
    topology: {
      stream,
      subjectPrefix: prefix,
      replicas: f.stream?.replicas ?? DEFAULT_TOPOLOGY.replicas,
      duplicateWindowMs: f.stream?.duplicateWindow ?? DEFAULT_TOPOLOGY.duplicateWindowMs,
      monitorConsumer,
      monitorSubject: f.monitor?.deliverSubject ?? `monitor.${stream}`,
      stages: Object.freeze(stages),
    },
  };
}

function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out === "" ? "(the file)" : out;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  }
  if (issue.code === "invalid_type" && issue.input === undefined) return "is required";
  return issue.message;
}
