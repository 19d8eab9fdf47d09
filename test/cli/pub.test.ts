import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { connectTo, readSubject, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";

const NO_STACK = /\bat .*\.js:\d+/;

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(NO_STACK);
  return lines[0] as string;
}

describe("orderflow pub", () => {
  it("runs the seed's example: 100001..100005 on ORDERS.received, one second apart", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);

    const res = await runCli([
      "pub",
      "-s",
      server.url,
      "ORDERS.received",
      "--count=5",
      "--sleep=1s",
      "10000{{Count}}",
    ]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split("\n");
    expect(lines).toHaveLength(5);
    lines.forEach((line, i) => {
      expect(line).toMatch(
        new RegExp(`^\\d\\d:\\d\\d:\\d\\d Published 6 bytes to ORDERS.received, stream sequence ${i + 1}$`),
      );
    });

    expect(await readSubject(nc, "ORDERS.received")).toEqual([
      "100001",
      "100002",
      "100003",
      "100004",
      "100005",
    ]);
    // --sleep is honoured: the stream stored them about a second apart (behaviour, not speed).
    const times: number[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      const m = await jsm.streams.getMessage("ORDERS", { seq });
      times.push(m?.time.getTime() ?? Number.NaN);
    }
    for (let i = 1; i < times.length; i++) {
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(900);
    }
  });

  it("prints a summary for large counts and stores every message once, in order", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const res = await runCli(["pub", "-s", server.url, "ORDERS.received", "--count", "3000", "o-{{Count}}"]);
    expect(res.code).toBe(0);
    // Piped stdout: no progress bar, one summary line.
    expect(res.stdout.trim()).toBe(
      "Published 3,000 messages (16,893 bytes) to ORDERS.received, stream sequences 1..3,000",
    );
    const bodies = await readSubject(nc, "ORDERS.received");
    expect(bodies).toEqual(Array.from({ length: 3000 }, (_, i) => `o-${i + 1}`));
    expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(3000);
  });

  it("renders every template function", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const body = "{{Count}}|{{ID}}|{{TimeStamp}}|{{Unix}}|{{UnixNano}}|{{Time}}|{{Random 3 5}}|{{ .Count }}";
    const res = await runCli(["pub", "-s", server.url, "ORDERS.received", "--count", "2", body]);
    expect(res.code).toBe(0);
    const bodies = await readSubject(nc, "ORDERS.received");
    expect(bodies).toHaveLength(2);
    const ids = new Set<string>();
    bodies.forEach((b, i) => {
      const [count, id, ts, unix, unixNano, time, random, count2] = b.split("|");
      expect(count).toBe(String(i + 1));
      expect(count2).toBe(String(i + 1));
      expect(id).toMatch(/^[0-9A-Za-z]{22}$/);
      ids.add(id as string);
      expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
      expect(Math.abs(Number(unix) - Date.now() / 1000)).toBeLessThan(120);
      expect(unixNano).toMatch(/^\d{19}$/);
      expect(unixNano?.startsWith(String(unix))).toBe(true);
      expect(time).toMatch(/^(1[0-2]|[1-9]):[0-5]\d(AM|PM)$/);
      expect(random).toMatch(/^[A-Za-z]{3,5}$/);
    });
    expect(ids.size).toBe(2);
  });

  it("sets Nats-Msg-Id from --msg-id, so a repeated run stores nothing new", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const args = [
      "pub",
      "-s",
      server.url,
      "ORDERS.received",
      "--count",
      "3",
      "--msg-id",
      "order-{{Count}}",
      "{{Count}}",
    ];
    expect((await runCli(args)).code).toBe(0);
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('duplicate of stream sequence 1 (Nats-Msg-Id "order-1"), not stored');
    expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(3);
    const m = await jsm.streams.getMessage("ORDERS", { seq: 2 });
    expect(m?.header.get("Nats-Msg-Id")).toBe("order-2");
  });

  it("reads the body from stdin when it is absent, and adds --header values", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const res = await runCli(["pub", "-s", server.url, "ORDERS.received", "-H", "Trace:abc"], {
      input: "100042",
    });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Published 6 bytes to ORDERS.received, stream sequence 1/);
    const m = await jsm.streams.getMessage("ORDERS", { seq: 1 });
    expect(m?.string()).toBe("100042");
    expect(m?.header.get("Trace")).toBe("abc");
  });

  it("a message over the server's max_payload names the limit and the size, and stores nothing", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const max = nc.info?.max_payload ?? 0;
    expect(max).toBe(1024 * 1024); // nats-server's default, which the message must name

    const twoMb = "x".repeat(2 * 1024 * 1024);
    const fromStdin = await runCli(["pub", "-s", server.url, "ORDERS.received"], { input: twoMb });
    expect(fromStdin.code).toBe(1);
    const line = oneLine(fromStdin.stderr);
    expect(line).toBe(
      "orderflow: publish to ORDERS.received failed: the message is 2,097,152 bytes, over the server's max_payload of 1,048,576 bytes; send a smaller message, or raise max_payload in the nats-server config (its default is 1 MB; 8 MB is the most NATS advises)",
    );
    expect(line).not.toMatch(/server is up|stream exists/);

    const templated = await runCli([
      "pub",
      "-s",
      server.url,
      "ORDERS.received",
      "{{Random 1048576 1048576}}{{Random 1048576 1048576}}",
    ]);
    expect(oneLine(templated.stderr)).toContain(
      "2,097,152 bytes, over the server's max_payload of 1,048,576",
    );

    // A body just under the limit whose Nats-Msg-Id header takes it over.
    const withHeader = await runCli(["pub", "-s", server.url, "ORDERS.received", "--msg-id", "order-1"], {
      input: "x".repeat(max - 4),
    });
    expect(oneLine(withHeader.stderr)).toContain(
      `the message, ${(max - 4).toLocaleString("en-US")} bytes and its headers, is over the server's max_payload of 1,048,576 bytes`,
    );
    expect((await jsm.streams.info("ORDERS")).state.messages).toBe(0);
  });

  it("refuses a subject outside the stream, naming it and the stream's subjects", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const res = await runCli(["pub", "-s", server.url, "ORDER.received", "1"]);
    expect(res.code).toBe(1);
    expect(oneLine(res.stderr)).toBe(
      "orderflow: subject ORDER.received is not in stream ORDERS (its subjects: ORDERS.*); publish to ORDERS.received, or another subject of the stream",
    );
    const wildcard = await runCli(["pub", "-s", server.url, "ORDERS.*", "1"]);
    expect(oneLine(wildcard.stderr)).toMatch(/cannot publish to "ORDERS\.\*"/);
    expect((await jsm.streams.info("ORDERS")).state.messages).toBe(0);
  });

  it("fails in one line on a bad template, a bad duration and a missing stream", async () => {
    const server = await startServer();
    const unknown = await runCli(["pub", "-s", server.url, "ORDERS.received", "{{Cnt}}"]);
    expect(unknown.code).toBe(1);
    expect(oneLine(unknown.stderr)).toMatch(
      /^orderflow: bad template in body: unknown function \{\{Cnt\}\}; use \{\{Count\}\}/,
    );

    const unclosed = await runCli(["pub", "-s", server.url, "ORDERS.received", "a{{Count"]);
    expect(oneLine(unclosed.stderr)).toMatch(/unclosed "\{\{"/);
    const random = await runCli(["pub", "-s", server.url, "ORDERS.received", "{{Random 9 2}}"]);
    expect(oneLine(random.stderr)).toMatch(/\{\{Random 9 2\}\} needs two whole numbers/);
    const msgId = await runCli(["pub", "-s", server.url, "ORDERS.received", "--msg-id", "{{Nope}}", "x"]);
    expect(oneLine(msgId.stderr)).toMatch(/bad template in --msg-id/);

    const sleep = await runCli(["pub", "-s", server.url, "ORDERS.received", "--sleep", "soon", "x"]);
    expect(sleep.code).not.toBe(0);
    expect(oneLine(sleep.stderr)).toBe(
      'orderflow: --sleep: "soon" is not a duration; use a number with a unit, e.g. 1s, 250ms, 1m30s',
    );

    const missing = await runCli(["pub", "-s", server.url, "ORDERS.received", "x"]);
    expect(missing.code).toBe(1);
    expect(oneLine(missing.stderr)).toBe("orderflow: stream ORDERS not found; run `orderflow setup` first");
  });

  it("shows an example in --help", async () => {
    const res = await runCli(["pub", "--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('orderflow pub ORDERS.received --count=5 --sleep=1s "10000{{Count}}"');
    expect(res.stdout).toContain("{{Random min max}}");
  });
});

describe("bad --count", () => {
  it("is a one-line usage error", async () => {
    const res = await runCli(["pub", "ORDERS.received", "--count", "0", "x"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/--count must be a whole number from 1/);
    expect(res.stderr).not.toMatch(NO_STACK);
  });
});
