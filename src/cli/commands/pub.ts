import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import cliProgress from "cli-progress";
import { Command } from "commander";
import { durationFlag } from "../../common/duration.js";
import { InvalidOrderError, UsageError } from "../../common/errors.js";
import { formatNumber } from "../../common/format.js";
import { publishStored } from "../../common/jetstream-publish.js";
import { checkMaxPayload, publishFailure } from "../../common/publish-failure.js";
import { sleepUnlessAborted } from "../../common/sleep.js";
import { parseTemplate, preciseNowMs, TEMPLATE_HELP, type Template } from "../../common/templates.js";
import type { SendSpan, Tracing } from "../../common/tracing.js";
import { parseOrderNo } from "../../stages/payload.js";
import { ServiceName } from "../../telemetry/tracing.js";
import { streamInfo } from "../../topology/read.js";
import { intakeStep, subjectOf } from "../../topology/spec.js";
import { commandContext, commandTracing, intFlag } from "../context.js";

interface PubFlags {
  count: number;
  sleep: number;
  msgId?: string;
  header: string[];
  timeout: number;
}

/** Up to this many messages, each PubAck gets its own line; above it, one summary line. */
export const PUB_LINES_MAX = 100;
/** A progress bar from this many messages on, and only when stdout is a terminal. */
export const PUB_PROGRESS_MIN = 1000;
/** PubAcks awaited at once when publishing without --sleep; the stream still stores them in order. */
const PUB_WINDOW = 256;

export function pubCommand(): Command {
  return new Command("pub")
    .description("publish orders (or any message) to a subject of the stream, through JetStream")
    .argument("<subject>", "subject inside the stream, e.g. ORDERS.received")
    .argument("[body]", "message body; read from stdin when absent (stdin is sent as is, no templates)")
    .option("--count <n>", "publish this many messages", intFlag("count", 1), 1)
    .option("--sleep <duration>", "pause between messages (1s, 250ms)", durationFlag("sleep"), 0)
    .option("--msg-id <template>", "Nats-Msg-Id per message, a template like the body (dedupe within 2m)")
    .option(
      "-H, --header <key:value>",
      "add a header (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option(
      "--timeout <duration>",
      "how long to wait for each PubAck",
      durationFlag("timeout", { min: 1 }),
      5000,
    )
    .addHelpText(
      "after",
      `
Body and --msg-id templates: ${TEMPLATE_HELP}

Examples:
  $ orderflow pub ORDERS.received --count=5 --sleep=1s "10000{{Count}}"   # the seed's test run
  $ orderflow pub ORDERS.received --count 100000 "order-{{ID}}"            # load, with a progress bar
  $ orderflow pub ORDERS.received --msg-id "order-42" order-42             # publish once, even if repeated
  $ seq 1 3 | xargs -I{} orderflow pub ORDERS.received {}
  $ echo -n 100042 | orderflow pub ORDERS.received`,
    )
    .action(async (subject: string, body: string | undefined, flags: PubFlags, cmd: Command) => {
      const ctx = commandContext(cmd, "pub");
      const bodyTemplate = body === undefined ? undefined : parseTemplate(body, "body");
      const msgIdTemplate = flags.msgId === undefined ? undefined : parseTemplate(flags.msgId, "--msg-id");
      const hdrs = parseHeaders(flags.header);
      checkSubjectSyntax(subject);
      const stdinBody = body === undefined ? await readStdin() : undefined;

      const tracing = await commandTracing(ctx, ServiceName.Pub);
      const nc = await ctx.connect();
      try {
        const jsm = await jetstreamManager(nc);
        const si = await streamInfo(jsm, ctx.topology);
        const subjects = si.config.subjects ?? [];
        if (!subjects.some((p) => subjectMatches(p, subject))) {
          throw new UsageError(
            `subject ${subject} is not in stream ${ctx.topology.stream} (its subjects: ${subjects.join(", ") || "none"})`,
            {
              hint: `publish to ${subjectOf(ctx.topology, intakeStep(ctx.topology))}, or another subject of the stream`,
            },
          );
        }
        await publishAll(nc, jetstream(nc), {
          subject,
          stream: ctx.topology.stream,
          count: flags.count,
          sleepMs: flags.sleep,
          timeoutMs: flags.timeout,
          body: bodyTemplate ?? stdinBody ?? new Uint8Array(),
          msgId: msgIdTemplate,
          headers: hdrs,
          signal: ctx.signal,
          tracing,
        });
      } finally {
        await nc.close();
        await tracing?.shutdown();
      }
    });
}

interface PublishRun {
  subject: string;
  stream: string;
  count: number;
  sleepMs: number;
  timeoutMs: number;
  body: Template | Uint8Array;
  msgId: Template | undefined;
  headers: Array<[string, string]>;
  signal: AbortSignal;
  /** When on: each message starts its own trace with a `send` span, its context in the headers. */
  tracing: Tracing | undefined;
}

interface Tally {
  published: number;
  duplicates: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
}

const encoder = new TextEncoder();

async function publishAll(nc: NatsConnection, js: JetStreamClient, run: PublishRun): Promise<void> {
  const tally: Tally = { published: 0, duplicates: 0, bytes: 0, firstSeq: 0, lastSeq: 0 };
  const perLine = run.count <= PUB_LINES_MAX || run.sleepMs > 0;
  const bar =
    !perLine && run.count >= PUB_PROGRESS_MIN && process.stdout.isTTY
      ? new cliProgress.SingleBar(
          { stream: process.stdout, clearOnComplete: true, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(run.count, 0);
  const constantBody =
    run.body instanceof Uint8Array
      ? run.body
      : run.body.dynamic
        ? undefined
        : encoder.encode(run.body.source);

  const publishOne = async (n: number): Promise<void> => {
    const tctx = { count: n, nowMs: preciseNowMs() };
    const data = constantBody ?? encoder.encode((run.body as Template).render(tctx));
    const msgID = run.msgId?.render(tctx);
    const attempt = {
      subject: run.subject,
      bytes: data.length,
      stream: run.stream,
      timeoutMs: run.timeoutMs,
    };
    checkMaxPayload(nc, attempt);
    let h = buildHeaders(run.headers);
    let span: SendSpan | undefined;
    if (run.tracing) {
      h ??= natsHeaders();
      span = run.tracing.send(h, {
        subject: run.subject,
        stream: run.stream,
        msgId: msgID,
        orderNo: orderNoOf(data),
      });
    }
    const ack = await publishStored(
      js,
      run.subject,
      data,
      { msgID, timeout: run.timeoutMs, headers: h },
      { signal: run.signal },
    ).catch((err: unknown) => {
      span?.end(err);
      throw publishFailure(nc, attempt, err);
    });
    span?.end();
    if (ack.duplicate) tally.duplicates++;
    else {
      tally.published++;
      tally.bytes += data.length;
      if (tally.firstSeq === 0 || ack.seq < tally.firstSeq) tally.firstSeq = ack.seq;
      tally.lastSeq = Math.max(tally.lastSeq, ack.seq);
    }
    if (perLine) {
      const line = ack.duplicate
        ? `duplicate of stream sequence ${ack.seq} (Nats-Msg-Id ${JSON.stringify(msgID)}), not stored`
        : `Published ${data.length} bytes to ${run.subject}, stream sequence ${ack.seq}`;
      process.stdout.write(`${clockNow()} ${line}\n`);
    }
    bar?.increment();
  };

  let sent = 0;
  try {
    if (perLine) {
      for (let n = 1; n <= run.count && !run.signal.aborted; n++) {
        await publishOne(n);
        sent = n;
        if (n < run.count && run.sleepMs > 0) await sleepUnlessAborted(run.sleepMs, run.signal);
      }
    } else {
      const inFlight = new Set<Promise<void>>();
      for (let n = 1; n <= run.count && !run.signal.aborted; n++) {
        const p: Promise<void> = publishOne(n).finally(() => inFlight.delete(p));
        inFlight.add(p);
        sent = n;
        if (inFlight.size >= PUB_WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }
  } finally {
    bar?.stop();
  }
  if (!perLine) process.stdout.write(`${summary(run.subject, tally)}\n`);
  if (run.signal.aborted && sent < run.count) {
    process.stdout.write(`stopped after ${formatNumber(sent)} of ${formatNumber(run.count)} messages\n`);
  }
}

/** The order number a span is tagged with; none when the body is not one (pub sends any message). */
function orderNoOf(data: Uint8Array): string | undefined {
  try {
    return parseOrderNo(data);
  } catch (err) {
    if (err instanceof InvalidOrderError) return undefined;
    throw err;
  }
}

function summary(subject: string, t: Tally): string {
  const seqs =
    t.published === 0 ? "" : `, stream sequences ${formatNumber(t.firstSeq)}..${formatNumber(t.lastSeq)}`;
  const dups = t.duplicates > 0 ? `; ${formatNumber(t.duplicates)} duplicates not stored` : "";
  return `Published ${formatNumber(t.published)} messages (${formatNumber(t.bytes)} bytes) to ${subject}${seqs}${dups}`;
}

function clockNow(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function parseHeaders(values: string[]): Array<[string, string]> {
  return values.map((v) => {
    const at = v.indexOf(":");
    const key = at > 0 ? v.slice(0, at).trim() : "";
    if (!key || /[\s:]/.test(key)) {
      throw new UsageError(`bad --header "${v}"`, { hint: 'use --header "Key:value"' });
    }
    return [key, v.slice(at + 1).trim()];
  });
}

function buildHeaders(pairs: Array<[string, string]>): MsgHdrs | undefined {
  if (pairs.length === 0) return undefined;
  const h = natsHeaders();
  for (const [k, v] of pairs) h.append(k, v);
  return h;
}

function checkSubjectSyntax(subject: string): void {
  const tokens = subject.split(".");
  if (tokens.some((t) => t === "" || t === "*" || t === ">" || /\s/.test(t))) {
    throw new UsageError(`cannot publish to "${subject}"`, {
      hint: "give one concrete subject without wildcards, e.g. ORDERS.received",
    });
  }
}

/** NATS subject matching: `*` is one token, a trailing `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== "*" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

async function readStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) {
    throw new UsageError("no message body", {
      hint: 'pass it as an argument (orderflow pub ORDERS.received "100001") or pipe it on stdin',
    });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}
