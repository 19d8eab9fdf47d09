import { describe, expect, it } from "vitest";
import { DeadLetterHeader } from "../../src/stages/dead-letter.js";
import { InvalidReason } from "../../src/stages/payload.js";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import {
  expectCompletedExactlyOnce,
  Fleet,
  type OrderToPublish,
  publishAll,
  readStored,
  redeliveriesOf,
  waitForCount,
  waitForQuiet,
} from "./faults-harness.js";

const N = 10_000;
/** Every 100th order is malformed: 1%. */
const BAD_EVERY = 100;
const encoder = new TextEncoder();

/** The malformed kinds in turn, each made unique by the order's position where the kind allows. */
const MALFORMED: ReadonlyArray<readonly [string, (i: number) => Uint8Array]> = [
  [InvalidReason.Empty, () => new Uint8Array(0)],
  [InvalidReason.ControlChar, (i) => encoder.encode(`${i}\u0001`)],
  [InvalidReason.Comma, (i) => encoder.encode(`${i},x`)],
  [InvalidReason.TooLong, (i) => encoder.encode(String(i).padStart(129, "9"))],
  [InvalidReason.NotUtf8, (i) => new Uint8Array([...encoder.encode(String(i)), 0xff, 0xfe])],
];

describe("fault: malformed orders in the stream", () => {
  it("1% malformed: each dead-lettered exactly once on its first delivery, every good order completed once", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const fleet = new Fleet(server.url);
    await fleet.startBoth();

    const orders: OrderToPublish[] = [];
    const good: string[] = [];
    const bad: Array<{ index: number; reason: string; data: Uint8Array }> = [];
    for (let i = 1; i <= N; i++) {
      if (i % BAD_EVERY === 0) {
        const [reason, make] = MALFORMED[(i / BAD_EVERY) % MALFORMED.length] as (typeof MALFORMED)[number];
        const data = make(i);
        bad.push({ index: orders.length, reason, data });
        orders.push({ data, msgId: `bad-${i}:received` });
      } else {
        good.push(String(i));
        orders.push({ data: String(i), msgId: `${i}:received` });
      }
    }
    const { seqs } = await publishAll(nc, orders);
    await waitForCount(jsm, "ORDERS.failed", bad.length);
    await waitForQuiet(jsm, good.length);
    expect(await fleet.stopAll()).toEqual([0, 0]);

    expect(await subjectCounts(jsm)).toEqual({
      "ORDERS.received": N,
      "ORDERS.processed": N - N / BAD_EVERY,
      "ORDERS.completed": N - N / BAD_EVERY,
      "ORDERS.failed": N / BAD_EVERY,
    });
    await expectCompletedExactlyOnce(nc, good);

    // Each dead letter is one malformed order, seen on its first delivery, with its own reason and
    // original bytes; no source sequence appears twice.
    const letters = await readStored(nc, "ORDERS.failed");
    const bySeq = new Map(letters.map((l) => [Number(l.headers.get(DeadLetterHeader.SourceSeq)), l]));
    expect(bySeq.size).toBe(letters.length);
    expect([...bySeq.keys()].sort((a, b) => a - b)).toEqual(bad.map((b) => seqs[b.index]));
    for (const b of bad) {
      const letter = bySeq.get(seqs[b.index] as number);
      expect({
        reason: letter?.headers.get(DeadLetterHeader.Reason),
        deliveries: letter?.headers.get(DeadLetterHeader.Deliveries),
        stage: letter?.headers.get(DeadLetterHeader.Stage),
        source: letter?.headers.get(DeadLetterHeader.SourceSubject),
        data: [...(letter?.data ?? [])],
      }).toEqual({
        reason: b.reason,
        deliveries: "1",
        stage: "processor",
        source: "ORDERS.received",
        data: [...b.data],
      });
    }
    expect(new Set(bad.map((b) => b.reason)).size).toBe(MALFORMED.length);
    // Nothing was ever delivered twice, and the processor dead-lettered exactly the bad ones.
    expect(await redeliveriesOf(jsm, "NEW", N)).toBe(0);
    expect(await redeliveriesOf(jsm, "DISPATCH", N - N / BAD_EVERY)).toBe(0);
    expect(fleet.redeliveriesLogged()).toBe(0);
    const last = fleet.all
      .find((w) => w.stage === "processor")
      ?.logLines()
      .filter((l) => "deadLettered" in l)
      .at(-1);
    expect(last?.deadLettered).toBe(N / BAD_EVERY);
  });
});
