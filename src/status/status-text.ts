import { colour, formatNumber, plural, table } from "../common/format.js";
import { subjectOf, type TopologyOptions } from "../topology/spec.js";
import { type ConsumerRates, type StatusReport, VERDICT_TEXT, Verdict } from "./assess.js";
import type { ConsumerSample } from "./collect.js";

const rate = (n: number) => n.toFixed(1);

const VERDICT_COLOUR: Readonly<Record<Verdict, (s: string) => string>> = Object.freeze({
  [Verdict.Healthy]: colour.green,
  [Verdict.FailuresPresent]: colour.red,
  [Verdict.BacklogGrowing]: colour.yellow,
  [Verdict.Idle]: colour.yellow,
  [Verdict.NoWorkers]: colour.red,
});

/** The one screen of `orderflow status`. */
export function statusText(r: StatusReport, t: TopologyOptions, colours: boolean): string {
  const s = r.sample;
  const when = new Date(s.atMs).toLocaleString("sv-SE");
  const span = r.windowMs > 0 ? `rates over the last ${(r.windowMs / 1000).toFixed(1)}s` : "no rates yet";
  // Every subject of the stream, so the rows add up to the total in the heading line.
  const subjects = table(
    ["subject", "messages", "per second"],
    [
      ...Object.entries(s.subjects).map(([st, n]) => [
        subjectOf(t, st),
        formatNumber(n),
        rate(r.rates[st] ?? 0),
      ]),
      ...Object.entries(s.otherSubjects).map(([subject, n]) => [subject, formatNumber(n), ""]),
    ],
  );
  const consumers = table(
    ["consumer", "pending", "ack pending", "redelivered", "waiting pulls", "delivered/s"],
    Object.entries(s.consumers).map(([key, c]) => consumerRow(c, r.consumerRates[key])),
  );
  const paint = colours ? VERDICT_COLOUR[r.verdict] : (x: string) => x;
  const verdict =
    r.findings.length === 0
      ? [`verdict: ${paint(VERDICT_TEXT[Verdict.Healthy])}: ${healthyDetail(r)}`]
      : r.findings.map(
          (f, i) =>
            `${i === 0 ? "verdict:" : "        "} ${(colours ? VERDICT_COLOUR[f.kind] : (x: string) => x)(VERDICT_TEXT[f.kind])}: ${f.message}`,
        );
  return [
    `stream ${s.stream} at ${when} (${span}; ${formatNumber(s.messages)} ${plural(s.messages, "message")}, last seq ${formatNumber(s.lastSeq)})`,
    "",
    subjects,
    "",
    consumers,
    "",
    ...verdict,
  ].join("\n");
}

function consumerRow(c: ConsumerSample, cr: ConsumerRates | undefined): string[] {
  return [
    c.name,
    formatNumber(c.numPending),
    formatNumber(c.numAckPending),
    formatNumber(c.numRedelivered),
    formatNumber(c.numWaiting),
    rate(cr?.deliveredPerSecond ?? 0),
  ];
}

function healthyDetail(r: StatusReport): string {
  const backlog = Object.values(r.sample.consumers).reduce((n, c) => n + c.numPending + c.numAckPending, 0);
  const failures =
    r.sample.replayedDeadLetters > 0
      ? `no failures left (${formatNumber(r.sample.replayedDeadLetters)} dead ${plural(r.sample.replayedDeadLetters, "letter")} replayed)`
      : "no failures";
  return backlog === 0
    ? `all caught up, ${failures}`
    : `${formatNumber(backlog)} ${plural(backlog, "order")} in flight, ${failures}`;
}

/** The JSON document of `orderflow status --json` (one per line with --watch). */
export function statusJson(r: StatusReport): Record<string, unknown> {
  const s = r.sample;
  return {
    at: new Date(s.atMs).toISOString(),
    stream: s.stream,
    windowMs: r.windowMs,
    messages: s.messages,
    lastSeq: s.lastSeq,
    subjects: Object.fromEntries(
      Object.entries(s.subjects).map(([st, n]) => [st, { messages: n, perSecond: r.rates[st] ?? 0 }]),
    ),
    otherSubjects: s.otherSubjects,
    replayedDeadLetters: s.replayedDeadLetters,
    unreplayedDeadLetters: s.unreplayedDeadLetters,
    // The stages in pipeline order, each naming its consumer (the key of `consumers`).
    stages: Object.values(s.consumers).map((c) => ({ name: c.stage ?? c.name, consumer: c.name })),
    consumers: Object.fromEntries(
      Object.entries(s.consumers).map(([key, c]) => [c.name, { ...c, ...r.consumerRates[key] }]),
    ),
    verdict: r.verdict,
    findings: r.findings,
  };
}
