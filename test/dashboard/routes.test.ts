import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import type { FastifyInstance } from "fastify";
import { describe, expect, it, onTestFinished } from "vitest";
import { buildDashboard } from "../../src/dashboard/app.js";
import { DeadLetterActions } from "../../src/dashboard/dead-letter-actions.js";
import { LiveState } from "../../src/dashboard/live-state.js";
import { PublishJobs } from "../../src/dashboard/publish-jobs.js";
import { SseHub } from "../../src/dashboard/sse.js";
import { lookupOrder } from "../../src/orders/order-lookup.js";
import { ConnectionTracker } from "../../src/runtime/connection-tracker.js";
import { DeadLetterHeader } from "../../src/stages/dead-letter.js";
import { OrderflowMetrics } from "../../src/telemetry/metrics.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { connectTo, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };
const TOKEN = "full-token";
const READONLY = "look-only";
const full = { authorization: `Bearer ${TOKEN}` };
const readonly = { authorization: `Bearer ${READONLY}` };

/** The dashboard app as `up` builds it, on the test's own server, with tokens; never listening. */
async function dashboard(
  nc: NatsConnection,
  { publishForm = true, traceUrl }: { publishForm?: boolean; traceUrl?: string } = {},
): Promise<FastifyInstance> {
  const metrics = new OrderflowMetrics({ processMetrics: false });
  const connections = new ConnectionTracker();
  connections.track("main", nc);
  const publish = publishForm ? new PublishJobs(nc, "ORDERS.received") : undefined;
  const state = new LiveState({
    topology: t,
    connections,
    natsDescription: "test server",
    metrics,
    workers: [],
    publish,
    staleAfterMs: 60_000,
  });
  const app = await buildDashboard({
    state,
    hub: new SseHub(state),
    metrics,
    publish,
    deadLetters: new DeadLetterActions(nc, t, { inboxPrefix: undefined }),
    lookup: (orderNo) => lookupOrder(nc, t, orderNo, { scanLast: 1_000 }),
    security: { token: TOKEN, readonlyToken: READONLY },
    traceUrl,
  });
  onTestFinished(() => app.close());
  return app;
}

async function storeDeadLetter(nc: NatsConnection, orderNo: string): Promise<number> {
  const h = natsHeaders();
  h.set(DeadLetterHeader.Stage, "processor");
  h.set(DeadLetterHeader.Reason, "not-numeric");
  h.set(DeadLetterHeader.Error, "not digits only");
  h.set(DeadLetterHeader.SourceSubject, "ORDERS.received");
  h.set(DeadLetterHeader.OrderNo, orderNo);
  return (await jetstream(nc).publish("ORDERS.failed", orderNo, { headers: h })).seq;
}

const errorOf = (body: string) => (JSON.parse(body) as { error: string }).error;

describe("dashboard routes, by inject() (the app is never listening)", () => {
  it("health and metrics: /healthz and /readyz need no token, /metrics does", async () => {
    const nc = await connectTo(await startServer());
    await withTopology(nc, t);
    const app = await dashboard(nc);

    const health = await app.inject({ url: "/healthz" });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: "ok" });
    const ready = await app.inject({ url: "/readyz" });
    expect([200, 503]).toContain(ready.statusCode);
    expect(typeof ready.json().ready).toBe("boolean");
    expect((await app.inject({ url: "/metrics" })).statusCode).toBe(401);
    const metrics = await app.inject({ url: "/metrics", headers: readonly });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain("orderflow_stage_processed_total");
  });

  it("state, assets and login: the snapshot and page behind the token, a login trading it for a cookie", async () => {
    const nc = await connectTo(await startServer());
    await withTopology(nc, t);
    const app = await dashboard(nc);

    expect((await app.inject({ url: "/api/snapshot" })).statusCode).toBe(401);
    const snapshot = await app.inject({ url: "/api/snapshot", headers: readonly });
    expect(snapshot.statusCode).toBe(200);
    expect(snapshot.json()).toMatchObject({ publish: { enabled: true }, deadLetters: [] });
    const page = await app.inject({ url: "/", headers: { accept: "text/html" } });
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe("/login");
    const shown = await app.inject({ url: "/", headers: full });
    expect(shown.statusCode).toBe(200);
    expect(shown.headers["content-type"]).toContain("text/html");

    const form = { "content-type": "application/x-www-form-urlencoded" };
    const wrong = await app.inject({ method: "POST", url: "/login", headers: form, payload: "token=nope" });
    expect(wrong.statusCode).toBe(401);
    const login = await app.inject({
      method: "POST",
      url: "/login",
      headers: form,
      payload: `token=${TOKEN}`,
    });
    expect(login.statusCode).toBe(303);
    const cookie = String(login.headers["set-cookie"]).split(";")[0] ?? "";
    expect((await app.inject({ url: "/api/snapshot", headers: { cookie } })).statusCode).toBe(200);
  });

  it("order lookup: a timeline for a stored order, a 400 with a hint for a missing, empty or too long number", async () => {
    const nc = await connectTo(await startServer());
    await withTopology(nc, t);
    await jetstream(nc).publish("ORDERS.received", "1001");
    const app = await dashboard(nc);

    const found = await app.inject({ url: "/api/order?no=1001", headers: readonly });
    expect(found.statusCode).toBe(200);
    expect(found.json()).toMatchObject({ orderNo: "1001", found: true, state: "received" });
    for (const query of ["", "?no=", `?no=${"9".repeat(257)}`]) {
      const bad = await app.inject({ url: `/api/order${query}`, headers: readonly });
      expect(bad.statusCode, query).toBe(400);
      expect(errorOf(bad.body), query).toMatch(
        /^bad querystring.*; give an order number of 1 to 256 characters/,
      );
    }
    expect((await app.inject({ url: "/api/order?no=1001" })).statusCode).toBe(401);
  });

  it("order lookup with traces: trace ids from traceparent headers, links from up's --trace-url template", async () => {
    const nc = await connectTo(await startServer());
    await withTopology(nc, t);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const h = natsHeaders();
    h.set("traceparent", `00-${traceId}-00f067aa0ba902b7-01`);
    await jetstream(nc).publish("ORDERS.received", "2001", { headers: h });
    await jetstream(nc).publish("ORDERS.processed", "2001,processed");

    const linked = await dashboard(nc, { traceUrl: "http://jaeger.test:16686/trace/{traceId}" });
    const answer = await linked.inject({ url: "/api/order?no=2001", headers: readonly });
    expect(answer.statusCode).toBe(200);
    const body = answer.json();
    expect(body.entries).toMatchObject([
      { stage: "received", traceId, traceUrl: `http://jaeger.test:16686/trace/${traceId}` },
      { stage: "processed" },
    ]);
    expect(body.entries[1]).not.toHaveProperty("traceId");
    expect(body.entries[1]).not.toHaveProperty("traceUrl");
    expect(body.text).toContain(`trace ${traceId}: http://jaeger.test:16686/trace/${traceId}`);

    // Without a template: the id, no link.
    const plain = (
      await (await dashboard(nc)).inject({ url: "/api/order?no=2001", headers: readonly })
    ).json();
    expect(plain.entries[0]).toMatchObject({ traceId });
    expect(plain.entries[0]).not.toHaveProperty("traceUrl");
    expect(plain.text).not.toContain("http://");
  });

  it("dead letters: list with filters, one by seq, replay only with the full token and a valid selection", async () => {
    const nc = await connectTo(await startServer());
    await withTopology(nc, t);
    const seq = await storeDeadLetter(nc, "A-17");
    const app = await dashboard(nc);

    const list = await app.inject({ url: "/api/dead-letters?stage=processor", headers: readonly });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ total: 1, rows: [{ seq, orderNo: "A-17", reason: "not-numeric" }] });
    const other = await app.inject({ url: "/api/dead-letters?stage=dispatcher", headers: readonly });
    expect(other.json()).toMatchObject({ total: 0 });
    expect((await app.inject({ url: `/api/dead-letters/${seq}`, headers: readonly })).json()).toMatchObject({
      seq,
      headers: { [DeadLetterHeader.Reason]: "not-numeric" },
    });
    expect((await app.inject({ url: "/api/dead-letters/999", headers: readonly })).statusCode).toBe(404);
    const badSeq = await app.inject({ url: "/api/dead-letters/abc", headers: readonly });
    expect(badSeq.statusCode).toBe(400);
    expect(errorOf(badSeq.body)).toMatch(/^bad params seq: must be integer; /);

    const replay = (headers: Record<string, string>, payload: unknown) =>
      app.inject({ method: "POST", url: "/api/dead-letters/replay", headers, payload: payload as object });
    expect((await replay(readonly, { seqs: [seq], dryRun: true })).statusCode).toBe(403);
    const badSeqs = await replay(full, { seqs: ["x"] });
    expect(badSeqs.statusCode).toBe(400);
    expect(errorOf(badSeqs.body)).toMatch(/^bad body seqs\.0: must be integer; send seqs/);
    expect((await replay(full, { seqs: [seq], all: "maybe" })).statusCode).toBe(400);
    const dry = await replay(full, { seqs: [seq], dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ replayed: 1, dryRun: true });
    expect((await replay(full, { filter: { reason: "not-numeric" } })).json()).toMatchObject({ replayed: 1 });
    expect((await replay(full, { seqs: [seq] })).json()).toMatchObject({ replayed: 0, alreadyReplayed: 1 });
  });

  it("publish: a job starts with the full token, bad fields are 400s, a read-only token and a turned-off form 403s", async () => {
    const nc = await connectTo(await startServer());
    await withTopology(nc, t);
    const app = await dashboard(nc);
    const publish = (headers: Record<string, string>, payload: object) =>
      app.inject({ method: "POST", url: "/api/publish", headers, payload });

    const started = await publish(full, { count: 2, template: "5{{Count}}" });
    expect(started.statusCode).toBe(202);
    const { id } = started.json() as { id: number };
    await waitFor("the job to finish", async () => {
      const snap = (await app.inject({ url: "/api/snapshot", headers: full })).json() as {
        publish: { jobs: Array<{ id: number; state: string }> };
      };
      return snap.publish.jobs.find((j) => j.id === id)?.state === "done";
    });
    const tooMany = await publish(full, { count: 0, template: "x" });
    expect(tooMany.statusCode).toBe(400);
    expect(errorOf(tooMany.body)).toMatch(/^bad count: /);
    expect((await publish(readonly, { count: 1, template: "x" })).statusCode).toBe(403);
    const cancel = (path: string) => app.inject({ method: "POST", url: path, headers: full });
    expect((await cancel("/api/publish/abc/cancel")).statusCode).toBe(400);
    expect((await cancel("/api/publish/999/cancel")).statusCode).toBe(404);

    const off = await dashboard(nc, { publishForm: false });
    const refused = await off.inject({
      method: "POST",
      url: "/api/publish",
      headers: full,
      payload: { count: 1, template: "x" },
    });
    expect(refused.statusCode).toBe(403);
  });
});
