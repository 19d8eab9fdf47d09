import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  extractSeedProgram,
  findGo,
  findNatsGo,
  patchSeedConnect,
  readSeed,
  SEED_CONNECT_LITERAL,
  SEED_CONNECT_REPLACEMENT,
} from "../../src/bench/seed-go.js";
import { OrderflowError, SeedMissingError } from "../../src/common/errors.js";
import { connectTo, readSubject, subjectCounts } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { SeedProgram, seedBuild, skipWithoutSeedGo, startSeedWorker } from "../helpers/seed-go.js";
import { seedTopology } from "../helpers/seed-topology.js";
import { waitFor } from "../helpers/wait.js";
import { startWorker } from "../helpers/workers.js";

const N = 2_000;
/** Outside CI, without the seed tutorial beside the repo (a fresh clone) or Go, its tests are skipped. */
const noSeedGo = await skipWithoutSeedGo("test/interop/seed-go.test.ts");
const INSTALL = "apt-get install -y golang-go golang-github-nats-io-go-nats-dev";

/**
 * Order numbers as the seed's `nats pub ORDERS.received "10000{{Count}}"` makes them, with some
 * non-ASCII and punctuated ones mixed in so "byte for byte" covers more than digits.
 */
function orderNumbers(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    if (i % 10 === 3) return `订单-${i}`;
    if (i % 10 === 7) return `ORD/${i}_é`;
    return `10000${i + 1}`;
  });
}

const withSuffix = (orders: string[], suffix: string) => orders.map((o) => `${o},${suffix}`).sort();

async function publishAll(nc: NatsConnection, orders: string[]): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < orders.length; i += 500) {
    await Promise.all(orders.slice(i, i + 500).map((o) => js.publish("ORDERS.received", o)));
  }
}

const _strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Every payload stored under `subject`, sorted (strict UTF-8: equal strings mean equal bytes). */
async function storedPayloads(nc: NatsConnection, subject: string): Promise<string[]> {
  return (await readSubject(nc, subject)).sort();
}

/** Waits until `n` orders are completed and both pull consumers have nothing pending or unacked. */
async function settled(jsm: JetStreamManager, n: number): Promise<Record<string, number>> {
  await waitFor(
    `${n} orders in ORDERS.completed`,
    async () => (await subjectCounts(jsm))["ORDERS.completed"] === n,
    {
      timeoutMs: 45_000,
    },
  );
  for (const consumer of ["NEW", "DISPATCH"]) {
    await waitFor(`${consumer} fully acked`, async () => {
      const ci = await jsm.consumers.info("ORDERS", consumer);
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    });
  }
  return subjectCounts(jsm);
}

async function expectExactlyOnce(nc: NatsConnection, jsm: JetStreamManager, orders: string[]): Promise<void> {
  const counts = await settled(jsm, orders.length);
  expect(counts).toEqual({
    "ORDERS.received": orders.length,
    "ORDERS.processed": orders.length,
    "ORDERS.completed": orders.length,
  });
  expect(await storedPayloads(nc, "ORDERS.processed")).toEqual(withSuffix(orders, "processed"));
  expect(await storedPayloads(nc, "ORDERS.completed")).toEqual(withSuffix(orders, "completed"));
}

/** A server with the topology exactly as the seed's nats CLI commands make it. */
async function seedServer() {
  const server = await startServer();
  await seedTopology(server.url);
  const nc = await connectTo(server);
  const jsm = await jetstreamManager(nc);
  return { server, nc, jsm };
}

describe.skipIf(noSeedGo)("the seed's Go programs, as tests build them", () => {
  it("are the seed's code blocks with only the connect address changed", async () => {
    const seed = await readSeed();
    for (const program of [SeedProgram.Processed, SeedProgram.Completed]) {
      const original = extractSeedProgram(seed, program).split("\n");
      const patched = patchSeedConnect(extractSeedProgram(seed, program), program).split("\n");
      expect(original[0]).toBe("package main");
      const added = patched.filter((l) => !original.includes(l));
      const removed = original.filter((l) => !patched.includes(l));
      expect(removed).toEqual([`\tnc, _ := ${SEED_CONNECT_LITERAL}`]);
      expect(added).toEqual([
        expect.stringMatching(/^\/\/ Built by orderflow from the seed; only change:/),
        '\t"os"',
        `\tnc, _ := ${SEED_CONNECT_REPLACEMENT}`,
      ]);
    }
  });
});

describe("what the seed's Go programs need", () => {
  it("a missing seed tutorial fails with one line naming ORDERFLOW_SEED_FILE", async () => {
    const missing = "/nonexistent/seed.txt";
    const fromEnv = await readSeed({ env: { ORDERFLOW_SEED_FILE: missing } }).catch((e: unknown) => e);
    expect(fromEnv).toBeInstanceOf(SeedMissingError);
    const line = (fromEnv as SeedMissingError).oneLine();
    expect(line).not.toContain("\n");
    expect(line).toContain(missing);
    expect(line).toContain("ORDERFLOW_SEED_FILE");
  });

  it("a missing Go toolchain or nats.go fails with one line naming the packages to install", async () => {
    let goError: unknown;
    try {
      findGo({ PATH: "/nonexistent" }, []);
    } catch (err) {
      goError = err;
    }
    const natsGoError: unknown = await findNatsGo(["/nonexistent"]).catch((err: unknown) => err);
    expect(goError).toBeInstanceOf(OrderflowError);
    expect(natsGoError).toBeInstanceOf(OrderflowError);
    const messages = [goError, natsGoError].map((e) => (e as OrderflowError).oneLine());
    for (const line of messages) {
      expect(line).not.toContain("\n");
      expect(line).toContain(INSTALL);
    }
    expect(messages[0]).toMatch(/Go toolchain/);
    expect(messages[1]).toMatch(/nats\.go/);
  });
});

describe.skipIf(noSeedGo)("orderflow workers and the seed's Go workers on one server", () => {
  beforeAll(async () => {
    const builds = await Promise.all([seedBuild(SeedProgram.Processed), seedBuild(SeedProgram.Completed)]);
    const t = builds[0].toolchain;
    const built = builds.map((b) =>
      b.cached ? `${b.program} cached` : `${b.program} ${Math.round(b.buildMs)} ms`,
    );
    process.stderr.write(
      `seed Go workers: ${t.goVersion}, nats.go ${t.natsGoVersion}; ${built.join(", ")}\n`,
    );
  }, 300_000);

  it(`our processor + the seed's order-completed: exactly ${N} processed and ${N} completed, byte for byte`, async () => {
    const { server, nc, jsm } = await seedServer();
    await startWorker("processor", server.url);
    await startSeedWorker(SeedProgram.Completed, server.url, { jsm, consumer: "DISPATCH" });
    const orders = orderNumbers(N);
    await publishAll(nc, orders);
    await expectExactlyOnce(nc, jsm, orders);
  });

  it(`the seed's order-processed + our dispatcher: exactly ${N} processed and ${N} completed, byte for byte`, async () => {
    const { server, nc, jsm } = await seedServer();
    await startSeedWorker(SeedProgram.Processed, server.url, { jsm, consumer: "NEW" });
    await startWorker("dispatcher", server.url);
    const orders = orderNumbers(N);
    await publishAll(nc, orders);
    await expectExactlyOnce(nc, jsm, orders);
  });

  it("the all-seed pipeline and the all-orderflow pipeline store identical payloads for the same orders", async () => {
    const orders = orderNumbers(N);
    const seed = await seedServer();
    await startSeedWorker(SeedProgram.Processed, seed.server.url, { jsm: seed.jsm, consumer: "NEW" });
    await startSeedWorker(SeedProgram.Completed, seed.server.url, { jsm: seed.jsm, consumer: "DISPATCH" });
    const ours = await seedServer();
    await startWorker("processor", ours.server.url);
    await startWorker("dispatcher", ours.server.url);
    await Promise.all([publishAll(seed.nc, orders), publishAll(ours.nc, orders)]);
    await Promise.all([settled(seed.jsm, N), settled(ours.jsm, N)]);

    for (const subject of ["ORDERS.processed", "ORDERS.completed"]) {
      const fromSeed = await storedPayloads(seed.nc, subject);
      const fromOurs = await storedPayloads(ours.nc, subject);
      expect(fromSeed).toHaveLength(N);
      expect(fromOurs).toEqual(fromSeed);
    }
    expect(await storedPayloads(ours.nc, "ORDERS.completed")).toEqual(withSuffix(orders, "completed"));
  });
});
