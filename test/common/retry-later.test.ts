import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { publishRun } from "../../src/bench/order-publisher.js";
import { publishStored } from "../../src/common/jetstream-publish.js";
import { processorStage } from "../../src/stages/stage.js";
import { StageWorker } from "../../src/stages/stage-worker.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { connectTo, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { testServerAtLeast } from "../helpers/server-version.js";
import { waitFor } from "../helpers/wait.js";

const encoder = new TextEncoder();

// Since 2.11 a stream buffers a bounded number of messages waiting to be stored and answers the
// rest with 429 (JSStreamTooManyRequests), dropping them. A buffer of 5 makes every burst meet it.
// 2.9 and 2.10 have no such limit (and no such setting): nothing to test there.
describe.runIf(testServerAtLeast("2.11.0"))(
  "the stream's 'too many requests' (429) is 'publish it again shortly'",
  () => {
    const tinyBuffer = { jetstreamExtra: "max_buffered_msgs: 5" };

    it("publishStored stores every message of a burst that plain js.publish partly loses", async () => {
      const server = await startServer(tinyBuffer);
      const nc = await connectTo(server);
      const jsm = await withTopology(nc);
      const js = jetstream(nc);
      const burst = (publish: (n: number) => Promise<unknown>) =>
        Promise.allSettled(Array.from({ length: 2_000 }, (_, i) => publish(i)));

      // The control: without retrying, the server refuses part of the burst, so this test can fail.
      const plain = await burst((n) => js.publish("ORDERS.received", String(n), { msgID: `p${n}` }));
      const refused = plain.filter((r) => r.status === "rejected").length;
      expect(refused).toBeGreaterThan(0);

      const stored = await burst((n) =>
        publishStored(js, "ORDERS.processed", encoder.encode(`${n},processed`), { msgID: `s${n}` }),
      );
      expect(stored.filter((r) => r.status === "rejected")).toEqual([]);
      expect((await subjectCounts(jsm))["ORDERS.processed"]).toBe(2_000);
    });

    it("the bench's publisher and a stage worker lose nothing and dead-letter nothing under it", async () => {
      const server = await startServer(tinyBuffer);
      const nc = await connectTo(server);
      const jsm = await withTopology(nc);
      await publishRun(nc, {
        subject: "ORDERS.received",
        first: 1,
        count: 5_000,
        msgIds: true,
        window: 2_000,
        ratePerSec: 0,
      });
      expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(5_000);

      const worker = new StageWorker(nc, processorStage({ ...DEFAULT_TOPOLOGY }), {
        lateRedeliveries: "publish",
        infraRetryMs: 50,
      });
      let retried = 0;
      worker.on("outcome", (o) => {
        if (o.kind === "retried") retried++;
      });
      await worker.start();
      await waitFor(
        "every order processed",
        async () => (await subjectCounts(jsm))["ORDERS.processed"] === 5_000,
        {
          timeoutMs: 120_000,
          intervalMs: 200,
        },
      );
      await waitSettled(jsm, "NEW");
      await worker.stop();
      const counts = await subjectCounts(jsm);
      expect(counts["ORDERS.failed"] ?? 0).toBe(0);
      expect(counts["ORDERS.processed"]).toBe(5_000);
      // The worker met the limit (its outputs were refused and given back), and it cost nothing.
      expect(retried).toBeGreaterThan(0);
      expect(worker.stats().deadLettered).toBe(0);
    });
  },
);
