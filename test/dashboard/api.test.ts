import { describe, expect, it } from "vitest";
import { E2eLatencyTracker } from "../../src/dashboard/e2e-latency.js";
import { LatencyWindow } from "../../src/dashboard/latency-window.js";
import { ThroughputHistory } from "../../src/dashboard/throughput-history.js";
import type { OrderEvent } from "../../src/monitor/order-event.js";
import type { StatusSample } from "../../src/status/collect.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { get, startSystem } from "./system-fixture.js";

function post(url: string, body: string, contentType = "application/json") {
  return fetch(url, { method: "POST", headers: { "content-type": contentType }, body });
}

describe("dashboard HTTP API", () => {
  it("serves the page and every asset itself (no CDN), and refuses bad input with one line", async () => {
    const server = await startServer();
    const system = await startSystem(server);

    const page = await get(system, "/");
    expect(page.status).toBe(200);
    const refs = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.filter((r) => /^(https?:)?\/\//.test(r))).toEqual([]);
    for (const ref of refs.filter((r) => r.startsWith("/") && !/^\/(metrics|healthz|readyz)$/.test(r))) {
      const res = await fetch(new URL(ref, system.dashboardUrl));
      expect(res.status, ref).toBe(200);
      expect((await res.arrayBuffer()).byteLength, ref).toBeGreaterThan(100);
    }
    expect(refs).toContain("/vendor/uPlot.iife.min.js");
    expect((await get(system, "/../package.json")).status).toBe(404);

    const publishUrl = new URL("api/publish", system.dashboardUrl).href;
    const tooMany = await post(publishUrl, JSON.stringify({ count: 1_000_000, template: "x" }));
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: string }).error).toMatch(/^bad count: .*; count 1\.\.100000/);
    const badTemplate = await post(publishUrl, JSON.stringify({ count: 1, template: "{{Random 9}}" }));
    expect(badTemplate.status).toBe(400);
    const badInterval = await post(publishUrl, JSON.stringify({ count: 1, template: "x", interval: "soon" }));
    expect(((await badInterval.json()) as { error: string }).error).toMatch(
      /interval "soon" is not a duration/,
    );
    expect((await post(publishUrl, "count=1", "application/x-www-form-urlencoded")).status).toBe(415);

    // 2 MB per order: the job fails naming the server's max_payload, not "is the server up?".
    const big = await post(
      publishUrl,
      JSON.stringify({ count: 3, template: "{{Random 1048576 1048576}}{{Random 1048576 1048576}}" }),
    );
    expect(big.status).toBe(202);
    const { id } = (await big.json()) as { id: number };
    const failed = await waitFor("the 2 MB job to fail", async () => {
      const jobs = (await get(system, "/api/snapshot")).body as {
        publish: { jobs: Array<{ id: number; state: string; error?: string }> };
      };
      const job = jobs.publish.jobs.find((j) => j.id === id);
      return job?.state === "failed" ? job : undefined;
    });
    expect(failed.error).toBe(
      "publish to ORDERS.received failed after 0 orders: the message is 2,097,152 bytes, over the server's max_payload of 1,048,576 bytes; send a smaller message, or raise max_payload in the nats-server config (its default is 1 MB; 8 MB is the most NATS advises)",
    );

    expect((await get(system, "/api/order?no=")).status).toBe(400);
    const unknown = await get(system, "/api/order?no=never-published");
    expect(unknown.status).toBe(200);
    expect(unknown.body).toMatchObject({ orderNo: "never-published", found: false, state: "unknown" });
  });

  it("opens an event stream with everything the page needs first", async () => {
    const server = await startServer();
    const system = await startSystem(server);
    const controller = new AbortController();
    const res = await fetch(new URL("api/events", system.dashboardUrl), { signal: controller.signal });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (
      !text.includes("event: hello\ndata: ") ||
      !text.slice(text.indexOf("event: hello")).includes("\n\n")
    ) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    const data = /event: hello\ndata: (.*)\n\n/.exec(text)?.[1] as string;
    const hello = JSON.parse(data) as {
      snapshot: { stream: string; ready: unknown };
      history: unknown[];
      events: unknown[];
    };
    expect(hello.snapshot.stream).toBe("ORDERS");
    expect(hello.snapshot.ready).toMatchObject({ checks: { connected: true } });
    expect(Array.isArray(hello.history)).toBe(true);
    expect(Array.isArray(hello.events)).toBe(true);
  });
});

describe("dashboard numbers", () => {
  it("latency percentiles cover only the window", () => {
    const w = new LatencyWindow(1_000, 8);
    for (const ms of [1, 2, 3, 4, 100]) w.add(ms, 10_000);
    w.add(5_000, 8_000); // outside the window at t=10s
    expect(w.summary(10_500)).toEqual({ count: 5, p50: 3, p90: 100, p99: 100, max: 100 });
    expect(w.summary(20_000).count).toBe(0);
  });

  it("end-to-end latency pairs received with completed by order number, from stream timestamps", () => {
    const seen: number[] = [];
    const t = new E2eLatencyTracker((ms) => seen.push(ms), 2);
    const ev = (stage: OrderEvent["stage"], orderNo: string, ms: number) =>
      ({ stage, orderNo, time: new Date(ms), seq: 0, subject: "", payload: "", pending: 0 }) as OrderEvent;
    t.onEvent(ev("received", "a", 1_000));
    t.onEvent(ev("received", "b", 1_010));
    t.onEvent(ev("processed", "a", 1_020));
    t.onEvent(ev("completed", "a", 1_050));
    t.onEvent(ev("failed", "b", 1_060));
    t.onEvent(ev("completed", "b", 1_070)); // b was dead-lettered: no latency
    t.onEvent(ev("received", "c", 2_000));
    t.onEvent(ev("received", "d", 2_000));
    t.onEvent(ev("received", "e", 2_000)); // bound of 2: c is forgotten
    t.onEvent(ev("completed", "c", 2_100));
    t.onEvent(ev("completed", "e", 2_300));
    expect(seen).toEqual([50, 300]);
    expect(t.waiting).toBe(1);
  });

  it("throughput is per second between samples, with a gap while no sample can be taken", () => {
    const h = new ThroughputHistory(60_000);
    const sample = (atMs: number, received: number) =>
      ({ atMs, subjects: { received, processed: 0, completed: 0, failed: 0 } }) as unknown as StatusSample;
    expect(h.add(sample(1_000, 0))).toBeUndefined();
    expect(h.add(sample(3_000, 100))?.received).toBe(50);
    expect(h.gap(4_000).received).toBeNull();
    // Orders stored during the outage are averaged over it, not lost.
    expect(h.add(sample(7_000, 400))?.received).toBe(75);
    expect(h.all().map((p) => p.t)).toEqual([3, 4, 7]);
    h.add(sample(70_000, 400));
    expect(h.all().map((p) => p.t)).toEqual([70]);
  });
});
