import { randomInt } from "node:crypto";
import { nuid } from "@nats-io/nats-core";
import { UsageError } from "./errors.js";

/**
 * The nats CLI's body templates for `orderflow pub` (and `--msg-id`): `{{Count}}` and friends, so the
 * seed's `nats pub ORDERS.received --count=5 "10000{{Count}}"` works unchanged. A template is parsed
 * once, before anything is published, so a typo fails with one line instead of half a run.
 */

/** What one message's rendering sees. */
export interface TemplateContext {
  /** 1-based number of the message in this run. */
  count: number;
  /** Wall-clock time of this message, ms since the epoch (fractional part kept for UnixNano). */
  nowMs: number;
}

export const TemplateFunction = {
  Count: "Count",
  ID: "ID",
  TimeStamp: "TimeStamp",
  Unix: "Unix",
  UnixNano: "UnixNano",
  Time: "Time",
  Random: "Random",
} as const;
export type TemplateFunction = (typeof TemplateFunction)[keyof typeof TemplateFunction];

/** The usage line printed with every template error and in `--help`. */
export const TEMPLATE_HELP =
  "{{Count}} (1-based message number), {{ID}} (unique id), {{TimeStamp}} (RFC3339), {{Unix}} (seconds), " +
  "{{UnixNano}} (nanoseconds), {{Time}} (3:04PM), {{Random min max}} (random letters, min to max long)";

/** Longest string `{{Random}}` may produce: keeps a typo from building a gigabyte body. */
const RANDOM_MAX_LENGTH = 1024 * 1024;
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

type Part = string | ((ctx: TemplateContext) => string);

export interface Template {
  /** The text as given. */
  readonly source: string;
  /** True when it holds at least one `{{…}}`: a constant body can be encoded once. */
  readonly dynamic: boolean;
  render(ctx: TemplateContext): string;
}

/** Parses a template; `what` names it in errors (`body`, `--msg-id`). */
export function parseTemplate(source: string, what = "body"): Template {
  const parts: Part[] = [];
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf("{{", at);
    if (open < 0) {
      parts.push(source.slice(at));
      break;
    }
    if (open > at) parts.push(source.slice(at, open));
    const close = source.indexOf("}}", open + 2);
    if (close < 0) throw templateError(what, `unclosed "{{" at character ${open + 1}`);
    parts.push(compileAction(source.slice(open + 2, close), what));
    at = close + 2;
  }
  const dynamic = parts.some((p) => typeof p !== "string");
  return {
    source,
    dynamic,
    render: (ctx) => {
      let out = "";
      for (const p of parts) out += typeof p === "string" ? p : p(ctx);
      return out;
    },
  };
}

function templateError(what: string, detail: string): UsageError {
  return new UsageError(`bad template in ${what}: ${detail}`, { hint: `use ${TEMPLATE_HELP}` });
}

function compileAction(inner: string, what: string): (ctx: TemplateContext) => string {
  // The nats CLI accepts both `{{Count}}` and Go's field form `{{.Count}}`.
  const words = inner.trim().replace(/^\./, "").split(/\s+/);
  const [name, ...args] = words;
  const shown = `{{${inner}}}`;
  const noArgs = () => {
    if (args.length > 0) throw templateError(what, `${shown} takes no arguments`);
  };
  switch (name) {
    case TemplateFunction.Count:
      noArgs();
      return (ctx) => String(ctx.count);
    case TemplateFunction.ID:
      noArgs();
      return () => nuid.next();
    case TemplateFunction.TimeStamp:
      noArgs();
      return (ctx) => rfc3339(ctx.nowMs);
    case TemplateFunction.Unix:
      noArgs();
      return (ctx) => String(Math.floor(ctx.nowMs / 1000));
    case TemplateFunction.UnixNano:
      noArgs();
      return (ctx) => unixNano(ctx.nowMs);
    case TemplateFunction.Time:
      noArgs();
      return (ctx) => kitchen(new Date(ctx.nowMs));
    case TemplateFunction.Random:
      return compileRandom(args, shown, what);
    default:
      throw templateError(what, `unknown function ${shown}`);
  }
}

function compileRandom(args: string[], shown: string, what: string): () => string {
  const [a, b] = args.map(Number);
  if (
    args.length !== 2 ||
    a === undefined ||
    b === undefined ||
    !Number.isInteger(a) ||
    !Number.isInteger(b) ||
    a < 0 ||
    b < a ||
    b > RANDOM_MAX_LENGTH
  ) {
    throw templateError(
      what,
      `${shown} needs two whole numbers 0 <= min <= max <= ${RANDOM_MAX_LENGTH}, as in {{Random 5 10}}`,
    );
  }
  return () => {
    const n = randomInt(a, b + 1);
    let s = "";
    for (let i = 0; i < n; i++) s += LETTERS[randomInt(LETTERS.length)];
    return s;
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

function clock(d: Date): string {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Go's time.Kitchen (`3:04PM`), which the nats CLI's {{Time}} prints. */
function kitchen(d: Date): string {
  const h = d.getHours() % 12 || 12;
  return `${h}:${pad(d.getMinutes())}${d.getHours() < 12 ? "AM" : "PM"}`;
}

/** Local time with its offset, as Go's time.RFC3339 prints it (`Z` at UTC). */
export function rfc3339(nowMs: number): string {
  const d = new Date(Math.floor(nowMs));
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const offMin = -d.getTimezoneOffset();
  const zone =
    offMin === 0
      ? "Z"
      : `${offMin > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offMin) / 60))}:${pad(Math.abs(offMin) % 60)}`;
  return `${date}T${clock(d)}${zone}`;
}

/** Nanoseconds since the epoch without losing digits to float rounding. */
function unixNano(nowMs: number): string {
  const whole = Math.floor(nowMs);
  const subMs = Math.floor((nowMs - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(subMs)).toString();
}

/** The current time with sub-millisecond precision, for {@link TemplateContext.nowMs}. */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}
