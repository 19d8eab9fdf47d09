/// <reference lib="dom" />
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { chromiumMissing, launchBrowser } from "./browser.js";
import { startSystem } from "./system-fixture.js";

const FULL = "full-token-0123456789";
const READ = "read-token-9876543210";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain HTTP request with the headers we choose (fetch would not let us set Host). */
function http(
  base: string,
  path: string,
  {
    method = "GET",
    headers = {},
    body,
  }: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const publishBody = JSON.stringify({ count: 1, template: "sec-{{Count}}", interval: "0" });
const json = { "content-type": "application/json" };

describe("a dashboard safe to expose", () => {
  it("needs a token everywhere but the probes, and a read-only token cannot publish", async () => {
    const server = await startServer();
    const system = await startSystem(server, { dashboardToken: FULL, dashboardReadonlyToken: READ });
    const base = system.dashboardUrl;

    expect((await http(base, "/healthz")).status).toBe(200);
    expect([200, 503]).toContain((await http(base, "/readyz")).status);
    for (const path of ["/metrics", "/api/snapshot", "/app.js"]) {
      const anon = await http(base, path);
      expect(anon.status, path).toBe(401);
      expect(anon.headers["www-authenticate"]).toBe('Bearer realm="orderflow"');
      expect((await http(base, path, { headers: bearer("wrong") })).status, path).toBe(401);
    }
    // A browser asking for the page is sent to the login page.
    const page = await http(base, "/", { headers: { accept: "text/html" } });
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe("/login");

    const metrics = await http(base, "/metrics", { headers: bearer(READ) });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain("orderflow_stream_messages");

    const refused = await http(base, "/api/publish", {
      method: "POST",
      headers: { ...bearer(READ), ...json },
      body: publishBody,
    });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error).toBe("this token is read-only: it cannot publish or replay");

    const accepted = await http(base, "/api/publish", {
      method: "POST",
      headers: { ...bearer(FULL), ...json },
      body: publishBody,
    });
    expect(accepted.status).toBe(202);
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await expect
      .poll(async () => (await subjectCounts(jsm))["ORDERS.received"] ?? 0, { timeout: 10_000 })
      .toBe(1);

    // The login form: a wrong token is refused, a right one gets an HttpOnly, SameSite=Strict cookie.
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const bad = await http(base, "/login", { method: "POST", headers: form, body: "token=nope" });
    expect(bad.status).toBe(401);
    expect(bad.headers["set-cookie"]).toBeUndefined();
    const good = await http(base, "/login", {
      method: "POST",
      headers: form,
      body: `token=${encodeURIComponent(READ)}`,
    });
    expect(good.status).toBe(303);
    const cookie = String(good.headers["set-cookie"]);
    expect(cookie).toMatch(/^orderflow_session=[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(READ);
    const session = { cookie: cookie.split(";")[0] as string };
    expect((await http(base, "/api/snapshot", { headers: session })).status).toBe(200);
    expect(
      (
        await http(base, "/api/publish", {
          method: "POST",
          headers: { ...session, ...json },
          body: publishBody,
        })
      ).status,
    ).toBe(403);
  });

  it("refuses a rebinding Host, allows listed names, and sends the security headers", async () => {
    const server = await startServer();
    const system = await startSystem(server, { allowedHosts: ["orders.example.com"] });
    const base = system.dashboardUrl;
    const rebound = await http(base, "/api/snapshot", { headers: { host: "attacker.example:8080" } });
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body).error).toMatch(/^host "attacker.example:8080" is not allowed/);
    expect(
      (
        await http(base, "/api/publish", {
          method: "POST",
          headers: { host: "evil.test", ...json },
          body: publishBody,
        })
      ).status,
    ).toBe(421);
    expect((await http(base, "/api/snapshot", { headers: { host: "orders.example.com:9000" } })).status).toBe(
      200,
    );
    expect((await http(base, "/api/snapshot", { headers: { host: "localhost" } })).status).toBe(200);

    const page = await http(base, "/");
    expect(page.status).toBe(200);
    expect(page.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(page.headers["x-frame-options"]).toBe("DENY");
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    // Another site's page posting to the dashboard.
    const cross = await http(base, "/api/publish", {
      method: "POST",
      headers: { origin: "http://evil.test", ...json },
      body: publishBody,
    });
    expect(cross.status).toBe(403);
  });

  it("`up --host` off loopback without a token refuses to start in one line", async () => {
    const res = await runCli([
      "up",
      "--host",
      "0.0.0.0",
      "--managed-server",
      "never",
      "-s",
      "nats://127.0.0.1:1",
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe(
      "orderflow: refusing to serve the dashboard on 0.0.0.0 without a token; set --dashboard-token (ORDERFLOW_DASHBOARD_TOKEN), or pass --dashboard-auth none to serve it open on purpose",
    );
  });

  it.skipIf(chromiumMissing() !== undefined && process.env.CI !== "true")(
    "in Chromium: logs in once, keeps the session, and a read-only login cannot publish",
    async () => {
      const server = await startServer();
      const system = await startSystem(server, { dashboardToken: FULL, dashboardReadonlyToken: READ });
      const browser = await launchBrowser();
      const violations: string[] = [];
      const page = await browser.newPage();
      page.on("console", (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      await page.goto(system.dashboardUrl);
      expect(new URL(page.url()).pathname).toBe("/login");
      await page.fill("#token", "wrong");
      await page.click("#login");
      await page.waitForSelector("p.error");
      await page.fill("#token", READ);
      await page.click("#login");
      await page.waitForSelector('#conn[data-state="connected"]');
      const cookies = await browser.cookies();
      expect(cookies).toEqual([
        expect.objectContaining({ name: "orderflow_session", httpOnly: true, sameSite: "Strict" }),
      ]);
      expect(await page.evaluate(() => document.cookie)).toBe("");

      await page.fill("#pub-count", "1");
      await page.click("#pub-submit");
      await page.waitForSelector("#pub-error:not([hidden])");
      expect(await page.textContent("#pub-error")).toBe(
        "this token is read-only: it cannot publish or replay",
      );

      // A reload keeps the session: no second login.
      await page.reload();
      await page.waitForSelector('#conn[data-state="connected"]');
      expect(new URL(page.url()).pathname).toBe("/");
      expect(violations).toEqual([]);
    },
  );
});
