import { jetstream } from "@nats-io/jetstream";
import { type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { DeadLetterLog } from "../../src/dashboard/dead-letters.js";
import { toOrderEvent } from "../../src/monitor/order-event.js";
import { readDeadLetters } from "../../src/orders/dead-letters.js";
import { readToEnd } from "../../src/orders/read-to-end.js";
import { DeadLetterHeader } from "../../src/stages/dead-letter.js";
import { orderIdKey } from "../../src/stages/payload.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { connectTo, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };
const access = { inboxPrefix: undefined };

/** Stores a dead letter as a stage worker writes one; resolves with its stream sequence. */
async function storeDeadLetter(nc: NatsConnection, orderNo: string, sourceSeq: number): Promise<number> {
  const h = natsHeaders();
  h.set(DeadLetterHeader.Stage, "processor");
  h.set(DeadLetterHeader.Reason, "max-attempts");
  h.set(DeadLetterHeader.Error, "payment service down");
  h.set(DeadLetterHeader.SourceSeq, String(sourceSeq));
  h.set(DeadLetterHeader.SourceSubject, "ORDERS.received");
  h.set(DeadLetterHeader.Deliveries, "5");
  h.set(DeadLetterHeader.OrderNo, orderIdKey(orderNo));
  const ack = await jetstream(nc).publish("ORDERS.failed", orderNo, { headers: h });
  return ack.seq;
}

describe("readToEnd: the one read of a stream or a subject to its end", () => {
  it("reads one subject in order, honours a range and a limit, and ends at once on an empty subject", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc, t);
    const js = jetstream(nc);
    for (let i = 1; i <= 30; i++)
      await js.publish(i % 3 === 0 ? "ORDERS.failed" : "ORDERS.received", `o${i}`);

    const seqs = (o: Parameters<typeof readToEnd>[2]) => {
      const out: number[] = [];
      return readToEnd(nc, t.stream, o, (m) => out.push(m.seq)).then((n) => ({ n, out }));
    };
    const failed = await seqs({ ...access, subject: "ORDERS.failed" });
    expect(failed.out).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    expect(failed.n).toBe(10);
    expect((await seqs({ ...access, fromSeq: 11, toSeq: 14 })).out).toEqual([11, 12, 13, 14]);
    expect((await seqs({ ...access, subject: "ORDERS.failed", fromSeq: 10, limit: 3 })).out).toEqual([
      12, 15, 18,
    ]);
    // Nothing stored there: no reader is even opened, so no idle wait decides the end.
    expect(await seqs({ ...access, subject: "ORDERS.completed" })).toEqual({ n: 0, out: [] });

    // A message stored after the read began is not waited for; the read ends at the last seq it saw.
    const seen: number[] = [];
    await readToEnd(nc, t.stream, { ...access, subject: "ORDERS.received" }, (m) => {
      if (seen.length === 0) void js.publish("ORDERS.received", "late");
      seen.push(m.seq);
    });
    expect(seen.at(-1)).toBe(29);
  });

  it("a throw from the visitor ends the read with that error", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc, t);
    await storeDeadLetter(nc, "1", 1);
    const read = readToEnd(nc, t.stream, { ...access, subject: "ORDERS.failed" }, () => {
      throw new Error("visitor broke");
    });
    await expect(read).rejects.toThrow("visitor broke");
  });
});

describe("one dead-letter row, however the dead letter was read", () => {
  it("the CLI's listing, the dashboard's preload and its live feed give the same row, order number unescaped", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc, t);
    const events: Msg[] = [];
    // The dashboard's feed: a core subscriber of MONITOR's deliver subject, as `orderflow monitor`.
    nc.subscribe("monitor.ORDERS", { callback: (_err, m) => void events.push(m) });
    // A leading space is escaped in the header (%2042) and must come back as the order number.
    const seq = await storeDeadLetter(nc, " 42", 7);

    const [listed] = await readDeadLetters(nc, t, access);
    const preloaded = new DeadLetterLog();
    expect(await preloaded.preload(nc, t, access)).toBe(1);
    await waitFor("the dead letter on the MONITOR feed", () =>
      events.some((m) => m.subject === "ORDERS.failed"),
    );
    const live = new DeadLetterLog();
    for (const m of events) {
      const e = toOrderEvent(m, t.subjectPrefix);
      if (e) live.onEvent(e);
    }

    const expected = {
      seq,
      stage: "processor",
      reason: "max-attempts",
      error: "payment service down",
      orderNo: " 42",
      deliveries: 5,
      sourceSeq: 7,
      sourceSubject: "ORDERS.received",
      payload: " 42",
    };
    expect(listed).toMatchObject({ ...expected, replays: 0, unfinished: undefined });
    expect(preloaded.list()).toEqual([{ ...expected, time: listed?.time }]);
    expect(live.list()).toEqual(preloaded.list());
  });
});
